"""Fine-tuning with the strokes kept whole when the image shrinks to the model's object
size (``core.scale.resample_strokes``, 2026-12-05) against the nearest sampling before it,
on the scribble benchmark's cases: the same ``scribble_draws.py`` run with the former
resampling put back (``nearest``) or as shipped (``strokes``).

    OMP_NUM_THREADS=2 python benchmarks/stroke_resampling.py nearest \\
        --cases cells3d-nuclei-3d dsb2018-2d --seeds 0 --json ab-nearest.jsonl
    OMP_NUM_THREADS=2 python benchmarks/stroke_resampling.py strokes \\
        --cases cells3d-nuclei-3d dsb2018-2d --seeds 0 --json ab-strokes.jsonl

Run the two one after the other on an idle machine: training is bounded by time.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np

from napari_unetseg.core import scale, sizing

HERE = Path(__file__).resolve().parent


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("nearest", "strokes"):
        sys.exit("usage: stroke_resampling.py nearest|strokes [scribble_draws.py options]")
    if sys.argv[1] == "nearest":  # the resampling before 2026-12-05
        sizing.resample_strokes = lambda lab, shape: scale.resample(
            np.asarray(lab), shape, order=0
        )
    sys.path.insert(0, str(HERE))
    sys.argv = ["scribble_draws.py", *sys.argv[2:]]
    runpy.run_path(str(HERE / "scribble_draws.py"), run_name="__main__")


if __name__ == "__main__":
    main()
