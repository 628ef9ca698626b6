"""Write docs/reliability.md from the bad-input matrix (tests/reliability/).

Runs the matrix's tests (each case is a test marked ``reliability``), collects the
outcome of every case (refused cleanly / handled / crashed / data lost) and writes the
table, the totals and the policies. The largest event-loop stalls come from
``benchmarks/results/responsiveness.json`` when ``benchmarks/bench_responsiveness.py``
has written it.

Usage::

    python scripts/make_reliability_doc.py            # runs the tests, writes the doc
    python scripts/make_reliability_doc.py --check    # exit 1 when the doc is stale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
STALLS = ROOT / "benchmarks" / "results" / "responsiveness.json"
ORDER = ["images", "labels", "models", "files", "gui"]
OUTCOMES = ["refused cleanly", "handled", "crashed", "data lost", "not run"]

POLICY = """\
## What a refusal looks like

- **CLI**: one line on stderr, `unetseg: error: <sentence>`, and exit status 1 (notes
  such as the model chosen may precede it; no traceback). Warnings are one line each,
  `unetseg: warning: <sentence>`.
- **API**: a `ValueError` (bad values, shapes, labels, files: `FileNotFoundError`,
  `ModelFileError`, `TiffReadError` are `ValueError`s or `OSError`s) or a
  `MemoryGuardError` (a `MemoryError`) whose message is one sentence.
- **Widgets**: one napari notification; layers stay as they were.
- **napari's reader** never raises: a file it cannot read gives one warning and no layer.
- **Files**: every output (labels, probabilities, model files, CSV) is written under a
  temporary name and renamed over the target only when complete, so an existing file is
  either the old one or the complete new one. A refused or failed run leaves existing
  files byte for byte as they were and no temporary file behind (each case checks).
  An existing output of a successful run is replaced.

## NaN and Inf

Images may hold NaN or infinite values (masked acquisitions, stitched mosaics, ratios):

- they are **left out of the normalization statistics** (the percentiles), **filled
  from their nearest finite pixels** for the network, and **labelled background** in the
  result;
- this is **never silent**: a `NonFiniteWarning` says what share of the sampled values is
  non-finite (a napari warning notification in the widgets, one `unetseg: warning:` line
  in the CLI). For images over 2 million pixels the check reads an evenly strided sample,
  so isolated NaN pixels may go unreported; they are still handled as above;
- an image **without a single finite value** is refused (there is nothing to segment or
  learn from);
- **complex** images are refused (magnitude, phase or real part is the user's choice),
  as is anything that is not numbers (text, objects).

Labels must be whole, non-negative numbers: fractional, NaN and negative labels are refused
(they were once silently truncated).

Training itself can meet non-finite numbers: in bf16 an optimizer step's gradients
sometimes overflow (a new 3D model on a brain volume with 16 x 64 x 64 patches: 76 of 652
steps). Taking such a step once turned every weight into NaN, silently: the run went on
and returned the weights of step 2. Such a step is now **skipped** (the weights stay as
they were; `history["skipped_steps"]` counts them), as PyTorch's GradScaler does for fp16,
and 20 of them in a row **stop the run in one sentence** ("Training diverged: ... try a
smaller learning rate (Fine-tune's advanced settings, --learning-rate, learning_rate=)",
with full precision named for a run in reduced precision; `unetseg train` prints it as
an error).

## Limits and the memory guard

- **Classes.** Scribbles may ask for at most 65 output classes (background and 64 classes,
  label values up to 65; `core/training/labels.py: MAX_SCRIBBLE_CLASSES`); dense labels
  with an explicit class count at most 1,024 (`core/guards.py: MAX_CLASSES`). A larger label value is a stray stroke or an instance
  mask: it is refused before anything is sized by it (a stray 60000 used to build a
  59,999-class model until the operating system killed the process). Dense labels without
  a class count are read as instance masks of one foreground class.
- **Memory.** Before allocating, training estimates a step (feature maps of the U-Net per
  level x patch voxels x batch, classes x patch voxels for the output, weights with Adam's
  moments), prediction the image-sized outputs plus the blending buffers and one batch of
  tiles, evaluation the volumes, masks, components and boundaries it loads with
  objects. A run whose estimate exceeds the available memory (`MemAvailable`; a GPU's own
  out-of-memory handling halves the batch instead) is refused in one sentence naming both
  figures and what to change. The training estimate is 1.2 to 1.9 times the measured peak
  growth on the CPU, a margin rather than a refusal of runs that fit; the evaluation
  estimate 1.3 to 2.9 times (2026-12-05: two uint8 label images of 4 to 67 million
  pixels, 2D and 3D; it was 0.4 times with objects, and boundary distances now use a k-d
  tree of the boundary voxels instead of image-sized distance maps, 49 -> 28 bytes a
  pixel).
"""


def run_matrix() -> list[dict]:
    """Run tests/reliability and return the recorded outcome of every case."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "outcomes.json"
        env = {
            **os.environ,
            "UNETSEG_RELIABILITY_JSON": str(target),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        env.setdefault("QT_API", "pyqt6")
        env.setdefault("OMP_NUM_THREADS", "1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability"]
        cmd.append("--deselect=tests/reliability/test_reliability_doc.py")
        subprocess.run(cmd, cwd=ROOT, env=env, check=False)
        if not target.exists():  # the tests could not even be collected
            raise SystemExit("The matrix did not run (see the pytest output above).")
        return json.loads(target.read_text())


def _stall_rows() -> list[str]:
    if not STALLS.exists():
        return ["Not measured yet: run `python benchmarks/bench_responsiveness.py`."]
    data = json.loads(STALLS.read_text())
    quiet = data.get("quiet_after_ms", {})
    rows = [
        "| activity | largest stall (ms) | target | then, quiet (ms) |",
        "|---|---|---|---|",
    ]
    for name, ms in data["stalls_ms"].items():
        after = f"{quiet[name]:.0f}" if name in quiet else "-"
        rows.append(f"| {name} | {ms:.0f} | < 200 ms | {after} |")
    rows.append("")
    if quiet:
        rows.append(
            '"Then, quiet": the largest stall in the 2.5 s after the activity, with no input: '
            "the full garbage collection that jobs hold back runs there, once mouse and "
            "keyboard have rested 1.5 s."
        )
        rows.append("")
    rows.append(f"Measured {data['when']} on {data['machine']}, load average {data['load']}")
    rows.append(f"(`{data['command']}`; see docs/benchmarks.md).")
    return rows


def render(rows: list[dict]) -> str:
    rows = sorted(
        rows,
        key=lambda r: (
            ORDER.index(r["id"].split("/")[0]) if r["id"].split("/")[0] in ORDER else 99,
            r["id"],
        ),
    )
    counts = Counter(r["outcome"] for r in rows)
    refusals = sum(r["refused"] for r in rows)
    out = [
        "# Reliability: bad input",
        "",
        "<!-- Generated by scripts/make_reliability_doc.py from tests/reliability/; do not edit. -->",
        "",
        "Every case below is a test in `tests/reliability/` (the case id is its `reliability`",
        "mark). `python scripts/make_reliability_doc.py` runs them and rewrites this page.",
        "",
        "## Summary",
        "",
        "| cases tried | refusals expected | refused cleanly | handled (accepted, correct) | crashed | data lost |",
        "|---|---|---|---|---|---|",
        f"| {len(rows)} | {refusals} | {counts['refused cleanly']} | {counts['handled']} | "
        f"{counts['crashed']} | {counts['data lost']} |",
        "",
        "Targets: 0 crashed, 0 data lost. *Crashed* means the case's test failed in any other",
        "way than data loss (a traceback, several lines, exit status 0, a wrong result).",
        "",
        "## Largest event-loop stall",
        "",
        *_stall_rows(),
        "",
        POLICY,
        "## The matrix",
        "",
        "| id | surface | input | expected | outcome |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        outcome = r["outcome"] + (f" ({r['detail']})" if r.get("detail") else "")
        cells = [f"`{r['id']}`", r["surface"], r["input"], r["expected"], outcome]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the doc is stale")
    args = parser.parse_args(argv)
    text = render(run_matrix())
    if args.check:
        stale = not DOC.exists() or DOC.read_text() != text
        print("docs/reliability.md is " + ("stale" if stale else "up to date"))
        return int(stale)
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
