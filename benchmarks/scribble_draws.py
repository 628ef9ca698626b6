"""New models from scribbles on several scribble draws: the spread the benchmark's one
draw does not show.

For each case, draw (``--seeds``) and model dimensionality, paints the benchmark's
scribbles of that draw, trains a new model on them as ``api.train`` does by default
(forest teacher, 90 s in 2D / 180 s in 3D) and scores it on the unpainted part, next to
the random forest of ``bench_accuracy.py`` and the teacher alone; also the student's
agreement with its teacher, the weights it kept and its matched threshold.

    OMP_NUM_THREADS=2 python benchmarks/scribble_draws.py --seeds 1 2 \\
        --json benchmarks/results/scribble-draws.jsonl

Appends one JSON line per run to ``--json`` (runs already there are skipped, so an
interrupted run resumes). Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import bench_accuracy as bench
from student_vs_teacher import train_with_teacher

#: The cases that train a new model from scribbles (tissue), and their model dims.
CASES = {
    "mni152-gm-2d": (2,),
    "mni152-wm-2d": (2,),
    "mni152-gm-3d": (3, 2),
    "mni152-wm-3d": (3, 2),
}
SECONDS = {2: 90.0, 3: 180.0}


def one_run(case: str, seed: int, dims: int) -> dict:
    """Train and score one new model; the row as a dict."""
    loaded, image, truth, scored, teacher, model = train_with_teacher(
        case, seed, time_limit=SECONDS[dims], spatial_dims=dims
    )
    scribbles = bench.make_scribbles(loaded, seed=seed)
    ours = bench.predict_foreground(loaded.image, model, {})
    scores = bench.foreground_scores(ours, truth, scored)
    forest = bench.foreground_scores(bench.forest_foreground(image, scribbles), truth, scored)
    h = model.history
    return {
        "case": case,
        "seed": seed,
        "dims": dims,
        "dice": round(scores["dice"], 4),
        "sensitivity": round(scores["sensitivity"], 4),
        "precision": round(scores["precision"], 4),
        "forest": round(forest["dice"], 4),
        "teacher": round(bench.foreground_scores(teacher, truth, scored)["dice"], 4),
        "agreement": round(bench.foreground_scores(ours, teacher, scored)["dice"], 4),
        "steps": h["steps"],
        "weights": h["weights"],
        "threshold": h.get("threshold"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="scribble draws")
    parser.add_argument("--json", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    done = set()
    if args.json.exists():
        for line in args.json.read_text().splitlines():
            row = json.loads(line)
            done.add((row["case"], row["seed"], row["dims"]))
    print("| case | draw | model | ours | forest | teacher | agreement | threshold | weights |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for case in args.cases:
            for dims in CASES[case]:
                if (case, seed, dims) in done:
                    continue
                row = one_run(case, seed, dims)
                with args.json.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                t = (row["threshold"] or {}).get("threshold", 0.5)
                print(
                    f"| {case} | s{seed} | {dims}D | {row['dice']:.3f} | {row['forest']:.3f} | "
                    f"{row['teacher']:.3f} | {row['agreement']:.3f} | {t:.2f} | "
                    f"{row['weights']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
