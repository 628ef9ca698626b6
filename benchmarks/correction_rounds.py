"""Paint where it is wrong, then train further: a second round of strokes (issue #14).

The Fine-tune widget ends a run with "paint where it is wrong, then Continue training".
This script measures that loop on the ``bench_accuracy.py`` cases, Dice on the unpainted
part:

1. **Round 1**: the benchmark's strokes (draw ``--seed``); a new model (``api.train``,
   ``--first`` seconds) and the baseline random forest from them.
2. **Corrections**, as a user adds them after looking at the result on the planes they
   painted (in 2D: the painted part): on each such plane, a stroke through each of the
   ``--per-plane`` largest regions where the new model is wrong, painted with the class
   the reference gives there.
3. **Round 2**, from all the strokes:
   - the random forest fitted again;
   - the round-1 model trained further for ``--second`` seconds, as "Continue training"
     does (``api.train(model=...)``, teacher "auto": the forest fitted again on all the
     strokes labels every pixel, since a forest taught the model);
   - the same with ``teacher="none"`` (what "Continue training" did before: fine-tuning
     on the strokes alone, keeping the model's answers on unpainted pixels);
   - a new model trained on all the strokes for ``--first`` seconds.

    OMP_NUM_THREADS=2 python benchmarks/correction_rounds.py \\
        --cases mni152-gm-3d mni152-wm-3d mni152-gm-2d mni152-wm-2d dsb2018-2d
    OMP_NUM_THREADS=2 python benchmarks/correction_rounds.py --cases mni152-gm-3d \\
        --dims 3 --first 180 --second 120

One JSON line per case and draw, printed and appended to ``--log``; nothing is asserted.
Training runs on a time budget, so the figures depend on the machine's speed and load.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_accuracy as bench  # noqa: E402
import real_data  # noqa: E402

from napari_unetseg import api  # noqa: E402


def strokes_through(
    where: np.ndarray,
    truth: np.ndarray,
    planes: list[int] | None,
    rng: np.random.Generator,
    per_plane: int = 3,
    one_class: bool = False,
) -> np.ndarray:
    """Strokes through the largest regions of ``where`` on the painted planes (``planes``:
    their indices along axis 0; None for a 2D image, whose ``where`` is already limited to
    the painted part), each with the reference's class at its start; with ``one_class``
    kept to that class's pixels of the region. 1 background, 2 object, 0 elsewhere."""
    out = np.zeros(truth.shape, np.uint8)
    views = [(out, where, truth)] if planes is None else [
        (out[z], where[z], truth[z]) for z in planes
    ]  # fmt: skip
    for painted, mask, reference in views:
        regions, count = ndi.label(mask)
        if not count:
            continue
        sizes = ndi.sum_labels(np.ones(regions.shape), regions, range(1, count + 1))
        for index in np.argsort(sizes)[::-1][:per_plane]:
            region = regions == index + 1
            if region.sum() < 4:
                break
            pixels = np.argwhere(region)
            start = tuple(int(v) for v in pixels[rng.integers(len(pixels))])
            allowed = region & (reference == reference[start]) if one_class else region
            stroke = bench._walk(allowed, start, 30, rng)
            bench._paint(painted, stroke, allowed, 2 if reference[start] else 1)
    return out


def corrections(
    prediction: np.ndarray,
    truth: np.ndarray,
    planes: list[int] | None,
    rng: np.random.Generator,
    per_plane: int = 3,
) -> np.ndarray:
    """Strokes through the largest wrong regions of the painted planes (``prediction`` and
    ``truth`` already limited to the painted part in 2D): :func:`strokes_through`."""
    return strokes_through(prediction != truth, truth, planes, rng, per_plane)


def measure(case: str, seed: int, dims: int, first: float, second: float) -> dict[str, Any]:
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    painted = np.asarray(bench.painted_region(loaded.case, image.shape))
    strokes = bench.make_scribbles(loaded, seed=seed)
    options: dict[str, Any] = {"label_mode": "sparse", "seed": 0}
    if image.ndim == 3:
        options["spatial_dims"] = dims

    def dice(prediction: np.ndarray) -> float:
        return round(bench.foreground_scores(prediction, truth, ~painted)["dice"], 4)

    def predicted(model: Any) -> np.ndarray:
        return bench.predict_foreground(loaded.image, model, {})

    row: dict[str, Any] = {"case": case, "seed": seed, "dims": dims if image.ndim == 3 else 2,
                           "first s": first, "second s": second}  # fmt: skip
    model = api.train(loaded.image, strokes, time_limit=first, **options)
    before = predicted(model)
    row["round 1: forest"] = dice(bench.forest_foreground(image, strokes))
    row["round 1: new model"] = dice(before)
    planes = None if image.ndim == 2 else [int(z) for z in np.unique(np.nonzero(strokes)[0])]
    added = corrections(before & painted, truth & painted, planes, np.random.default_rng(seed))
    both = np.where(added > 0, added, strokes).astype(np.uint8)
    row["corrections (background, object px)"] = [int((added == k).sum()) for k in (1, 2)]
    row["round 2: forest"] = dice(bench.forest_foreground(image, both))
    further = api.train(loaded.image, both, model=model, time_limit=second, **options)
    row["round 2: trained further (auto: forest again)"] = dice(predicted(further))
    alone = api.train(loaded.image, both, model=model, time_limit=second, teacher="none",
                      **options)  # fmt: skip
    row["round 2: trained further on the strokes alone (before)"] = dice(predicted(alone))
    fresh = api.train(loaded.image, both, time_limit=first, **options)
    row["round 2: new model on all strokes"] = dice(predicted(fresh))
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["mni152-gm-3d", "mni152-gm-2d"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--dims", type=int, default=2, help="new models on 3D cases: 2 or 3")
    parser.add_argument("--first", type=float, default=90.0, help="round-1 budget (s)")
    parser.add_argument("--second", type=float, default=60.0, help="training further (s)")
    parser.add_argument("--log", default=str(HERE / "results" / "correction-rounds.jsonl"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for case in args.cases:
        for seed in args.seeds:
            line = json.dumps(measure(case, seed, args.dims, args.first, args.second))
            print(line, flush=True)
            with open(args.log, "a") as log:
                log.write(line + "\n")


if __name__ == "__main__":
    main()
