"""Dark objects on a bright background: the shipped models with and without ``invert``.

Every real nuclei case of ``benchmarks/real_data.py`` (2D and 3D), and its dark-on-bright
version (the image subtracted from its largest value, in its own dtype: what a grey
brightfield or phase image of the same nuclei looks like to the model). Side by side,
scored on the whole image against the case's reference foreground (Dice):

- the default model (``nuclei-2d`` for planes, ``nuclei-3d`` for stacks, auto object
  size) on the original, on the dark version as it is, and on the dark version with
  ``invert=True``;
- whether auto's object-size line named dark objects (the hint to use invert) on the
  original (it must not) and on the dark version (it should);
- Otsu's threshold (Gaussian sigma 1) of the original, and of the dark version taking the
  pixels *below* it (the baseline told the polarity).

    OMP_NUM_THREADS=2 python benchmarks/polarity.py [--cases dsb2018-2d ...] [--json out.json]

Not a test: nothing is asserted. The data are fetched into the benchmark cache as
``bench_accuracy.py`` fetches them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import real_data
from bench_accuracy import DEFAULT_MODEL, foreground_scores, otsu_foreground

from napari_unetseg import api

HINT = "dark objects on a bright background"


def dark_version(image: np.ndarray) -> np.ndarray:
    """The image subtracted from its largest value, in its own dtype."""
    top = image.max()
    return (top - image).astype(image.dtype)


def run(image: np.ndarray, model: str, invert: bool) -> tuple[np.ndarray, bool, float]:
    """Foreground, whether the size line named dark objects, and the seconds taken."""
    start = time.perf_counter()
    result = api.drain(api.predict_iter(image, model, invert=invert))
    said = (result.stats.get("object_size") or {}).get("message") or ""
    return np.asarray(result.labels) > 0, HINT in said, time.perf_counter() - start


def one_case(name: str) -> dict[str, Any]:
    loaded = real_data.load_case(name)
    image, truth = loaded.image, loaded.reference > 0
    model = DEFAULT_MODEL[loaded.case.dims]
    dark = dark_version(image)
    original, hint_original, seconds = run(image, model, False)
    as_is, hint_dark, _ = run(dark, model, False)
    swapped, _, swapped_seconds = run(dark, model, True)
    otsu = otsu_foreground(image)
    otsu_dark = ~otsu_foreground(dark)  # told the polarity: the pixels below the threshold

    def dice(mask: np.ndarray) -> float:
        return foreground_scores(mask, truth)["dice"]

    return {
        "case": name,
        "reference_type": loaded.case.reference_type,
        "dims": loaded.case.dims,
        "shape": list(image.shape),
        "dtype": str(image.dtype),
        "model": model,
        "dice_original": dice(original),
        "dice_dark": dice(as_is),
        "dice_dark_invert": dice(swapped),
        "dice_otsu": dice(otsu),
        "dice_otsu_dark_below": dice(otsu_dark),
        "hint_on_original": hint_original,
        "hint_on_dark": hint_dark,
        "seconds_original": seconds,
        "seconds_dark_invert": swapped_seconds,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | dims | dtype | model | original | dark as is | dark, invert | Otsu "
        "| dark, Otsu below | hint: original / dark |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = "" if r["reference_type"] == "manual" else f" ({r['reference_type']} ref)"
        hints = (
            f"{'yes' if r['hint_on_original'] else 'no'} / {'yes' if r['hint_on_dark'] else 'no'}"
        )
        lines.append(
            f"| {r['case']}{ref} | {r['dims']}D | {r['dtype']} | {r['model']} "
            f"| {r['dice_original']:.3f} | {r['dice_dark']:.3f} | {r['dice_dark_invert']:.3f} "
            f"| {r['dice_otsu']:.3f} | {r['dice_otsu_dark_below']:.3f} | {hints} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    nuclei = sorted(n for n, c in real_data.EVAL_CASES.items() if c.kind == "nuclei")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=nuclei, default=nuclei)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases:
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows.append(one_case(name))
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
