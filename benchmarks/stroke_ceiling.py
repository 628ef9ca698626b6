"""What the painted part can tell: ceilings for scribble training on tissue (issue #14).

Scribble training is scored on the unpainted part of a case (``bench_accuracy.py``). On
the brain volumes neither the random forest nor the plugin's forest teacher and its
U-Net students get far above the forest. This script asks how much better anything
could do, and why the strokes do not get there. Per case and scribble draw it prints,
Dice on the unpainted part:

- the baseline random forest and the plugin's forest teacher, from the strokes (as in
  ``bench_accuracy.py``);
- **an intensity band fitted on the painted part's reference**: the interval of raw
  intensities that best matches the reference on the whole painted part, applied to the
  unpainted part. It uses the truth of the painted part, not only strokes;
- **the same band fitted on the unpainted part itself** (an oracle: it reads the answer);
- **a random forest fitted on the reference of every painted plane** (all pixels of the
  planes the strokes lie on, up to 200,000 of them, baseline features): what the forest
  gets when the user paints those planes completely;
- with ``--unet-seconds``, a new model (``api.train``) trained for that long on the same
  completely painted planes;
- where the strokes' background pixels lie: the share at the image's lowest value (the
  empty surroundings) and the intensity gap between the background strokes and the
  object strokes, next to the reference objects' intensities in the unpainted part.

With ``--dark-strokes`` the background also gets two strokes per painted plane through
dark tissue (below the plane's Otsu threshold and above a quarter of it, away from the
objects like every background stroke): the strokes a user adds on the cerebrospinal
fluid once the first result shows it labelled as grey matter.

    OMP_NUM_THREADS=2 python benchmarks/stroke_ceiling.py \\
        --cases mni152-gm-3d mni152-wm-3d mni152-gm-2d mni152-wm-2d --seeds 0 1
    OMP_NUM_THREADS=2 python benchmarks/stroke_ceiling.py --cases mni152-gm-3d \\
        mni152-wm-3d --seeds 0 --unet-seconds 180

Prints what it measured, one JSON line per case and draw (also appended to ``--log``);
nothing is asserted.
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
from skimage.filters import threshold_otsu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_accuracy as bench  # noqa: E402
import real_data  # noqa: E402

from napari_unetseg import api  # noqa: E402

#: Pixels of the completely painted planes that the dense forest is fitted on.
DENSE_PIXELS = 200_000


def best_band(values: np.ndarray, truth: np.ndarray, bins: int = 256) -> tuple[float, tuple]:
    """The intensity interval ``(low, high]`` whose pixels best match ``truth`` (Dice).

    Thresholds are searched on ``bins`` quantiles of ``values``.

    Returns
    -------
    (dice, (low, high))
    """
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, values, side="left"), 0, len(edges) - 1)
    total = np.bincount(index, minlength=len(edges)).astype(np.float64)
    hits = np.bincount(index, weights=truth.astype(np.float64), minlength=len(edges))
    total_c, hits_c = (
        np.concatenate([[0], np.cumsum(total)]),
        np.concatenate([[0], np.cumsum(hits)]),
    )
    # a band is bins i+1 .. j (values in (edges[i], edges[j]])
    i, j = np.triu_indices(len(edges), k=1)
    tp = hits_c[j + 1] - hits_c[i + 1]
    predicted = total_c[j + 1] - total_c[i + 1]
    dice = 2 * tp / np.maximum(predicted + truth.sum(), 1)
    best = int(np.argmax(dice))
    return float(dice[best]), (float(edges[i[best]]), float(edges[j[best]]))


def band_dice(image, truth, fit_where, score_where) -> float:
    """Dice on ``score_where`` of the best intensity band fitted on ``fit_where``."""
    _, (low, high) = best_band(image[fit_where], truth[fit_where])
    return bench.foreground_scores((image > low) & (image <= high), truth, score_where)["dice"]


def add_dark_strokes(loaded: real_data.Loaded, scribbles: np.ndarray, seed: int) -> np.ndarray:
    """Two more background strokes per painted plane through dark tissue (see above)."""
    rng = np.random.default_rng(1000 + seed)
    out = scribbles.copy()
    if out.ndim == 2:
        planes = [
            (out, loaded.image, loaded.reference, bench.painted_region(loaded.case, out.shape))
        ]
    else:
        planes = [
            (out[z], loaded.image[z], loaded.reference[z], np.ones(out.shape[1:], bool))
            for z in np.unique(np.nonzero(out)[0])
        ]
    for plane, image, reference, region in planes:
        threshold = threshold_otsu(image)
        allowed = (
            region & (ndi.distance_transform_edt(reference <= 0) >= 2) & (image > threshold / 4)
        )
        dark = np.argwhere(allowed & (image < threshold))
        for _ in range(2 if len(dark) else 0):
            start = dark[rng.integers(len(dark))]
            walk = bench._walk(allowed, (int(start[0]), int(start[1])), 40, rng)
            bench._paint(plane, walk, allowed, 1)
    return out


def completely_painted(loaded: real_data.Loaded, scribbles: np.ndarray) -> np.ndarray:
    """The reference on the planes the strokes lie on (the painted part in 2D), as
    scribbles (1 background, 2 object, 0 elsewhere); at most :data:`DENSE_PIXELS` of
    them, drawn at random."""
    truth = loaded.foreground
    if truth.ndim == 2:
        planes = np.asarray(bench.painted_region(loaded.case, truth.shape))
    else:
        planes = np.zeros(truth.shape, bool)
        planes[np.unique(np.nonzero(scribbles)[0])] = True
    keep = np.random.default_rng(0).random(truth.shape) < DENSE_PIXELS / max(planes.sum(), 1)
    return np.where(planes & keep, truth.astype(np.uint8) + 1, 0).astype(np.uint8)


def where_strokes_lie(image, scribbles, truth, scored) -> dict[str, Any]:
    """Background strokes at the image's lowest value, and the intensity ranges."""
    background, objects = image[scribbles == 1], image[scribbles == 2]
    inside = background[background > image.min()]
    return {
        "background strokes at the lowest value": round(
            float(np.mean(background == image.min())), 3
        ),
        "background strokes inside (1/99 %)": np.percentile(inside, [1, 99]).round(1).tolist()
        if inside.size
        else None,
        "object strokes (1/99 %)": np.percentile(objects, [1, 99]).round(1).tolist(),
        "reference objects, unpainted part (1/99 %)": np.percentile(image[scored & truth], [1, 99])
        .round(1)
        .tolist(),
    }


def measure(case: str, seed: int, dark: bool, unet_seconds: float) -> dict[str, Any]:
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    painted = np.asarray(bench.painted_region(loaded.case, image.shape))
    scored = ~painted
    scribbles = bench.make_scribbles(loaded, seed=seed)
    if dark:
        scribbles = add_dark_strokes(loaded, scribbles, seed)
    dense = completely_painted(loaded, scribbles)

    def dice(prediction: np.ndarray) -> float:
        return round(bench.foreground_scores(prediction, truth, scored)["dice"], 4)

    row: dict[str, Any] = {"case": case, "seed": seed, "dark strokes": dark}
    row["forest"] = dice(bench.forest_foreground(image, scribbles))
    row["teacher"] = dice(bench.teacher_foreground(image, scribbles))
    row["band fitted on the painted part"] = round(band_dice(image, truth, painted, scored), 4)
    row["band fitted on the unpainted part (oracle)"] = round(
        band_dice(image, truth, scored, scored), 4
    )
    row["forest on completely painted planes"] = dice(bench.forest_foreground(image, dense))
    if unet_seconds:
        model = api.train(
            loaded.image, dense, label_mode="sparse", time_limit=unet_seconds, seed=0
        )
        row[f"new model on completely painted planes, {unet_seconds:g} s"] = dice(
            bench.predict_foreground(loaded.image, model, {})
        )
    row.update(where_strokes_lie(image, scribbles, truth, scored))
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["mni152-gm-3d", "mni152-wm-3d"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--dark-strokes", action="store_true")
    parser.add_argument("--unet-seconds", type=float, default=0.0)
    parser.add_argument("--log", default=str(HERE / "results" / "stroke-ceiling.jsonl"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for case in args.cases:
        for seed in args.seeds:
            row = measure(case, seed, args.dark_strokes, args.unet_seconds)
            line = json.dumps(row)
            print(line, flush=True)
            with open(args.log, "a") as log:
                log.write(line + "\n")


if __name__ == "__main__":
    main()
