"""Can a rule without the reference place the border better than the forest teacher?

A new model trained from scribbles copies its forest teacher's border (the threshold
matched to the teacher's labels, docs/benchmarks.md), so it beats the forest only where
the teacher does. The teacher's probabilities rank the pixels well: on every brain case
some threshold other than 0.5 scores 0.01-0.05 higher. This script asks whether a rule
that sees only the image, the strokes and the probabilities finds that threshold. For
each case and scribble draw it fits the teacher (``napari_unetseg.forest``'s features
and forest, on all painted pixels) and scores, on the unpainted part:

- ``0.5``: the teacher's own labels (what the student is matched to);
- ``balanced``: the same forest with class weights balanced (the painted classes'
  proportions are not the image's);
- ``edge``: the threshold whose border layers (one pixel inside, one outside) have the
  largest mean gradient magnitude (Gaussian, sigma 1): the border on the strongest edge;
- ``half-max``: the threshold whose border intensity lies midway between the rings two
  pixels inside and outside (the border at half maximum of the transition);
- ``best``: the best threshold by the reference, which no user has (the headroom).

    OMP_NUM_THREADS=2 python benchmarks/border_rules.py --seeds 0 1 2

Prints what it measured; nothing is asserted (about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import warnings

import bench_accuracy as bench
import numpy as np
import real_data
from scipy import ndimage as ndi

from napari_unetseg import forest as forest_module

CASES = (
    "mni152-gm-2d", "mni152-wm-2d", "mni152-gm-3d", "mni152-wm-3d", "dsb2018-2d",
    "stardist-synthetic-3d",
)  # fmt: skip
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def teacher_probability(feats: np.ndarray, scribbles: np.ndarray, **options: object) -> np.ndarray:
    """The teacher forest's object probability (class 2) at every pixel."""
    from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

    painted = scribbles > 0
    forest = RandomForestClassifier(**forest_module.FOREST, random_state=0, **options)
    forest.fit(feats[painted], scribbles[painted])
    flat = feats.reshape(-1, feats.shape[-1])
    return forest.predict_proba(flat)[:, list(forest.classes_).index(2)].reshape(scribbles.shape)


def _layers(mask: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels at ``distance`` inside and outside the border of ``mask``."""
    inner = ndi.binary_erosion(mask, iterations=distance - 1) if distance > 1 else mask
    outer = ndi.binary_dilation(mask, iterations=distance)
    return inner & ~ndi.binary_erosion(inner), outer & ~(
        ndi.binary_dilation(mask, iterations=distance - 1) if distance > 1 else mask
    )


def edge_strength(gradient: np.ndarray, mask: np.ndarray) -> float:
    inside, outside = _layers(mask, 1)
    if not inside.any() or not outside.any():
        return -np.inf
    return 0.5 * (gradient[inside].mean() + gradient[outside].mean())


def half_max_gap(image: np.ndarray, mask: np.ndarray) -> float:
    """|border intensity - midpoint of the rings two pixels inside and outside|."""
    border = _layers(mask, 1)
    rings = _layers(mask, 2)
    if not all(part.any() for part in (*border, *rings)):
        return np.inf
    mid_border = 0.5 * (image[border[0]].mean() + image[border[1]].mean())
    mid_rings = 0.5 * (image[rings[0]].mean() + image[rings[1]].mean())
    return abs(mid_border - mid_rings)


def run(case: str, seeds: list[int]) -> list[dict]:
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    scored = ~bench.painted_region(loaded.case, image.shape)
    feats = forest_module.features(image)
    gradient = ndi.gaussian_gradient_magnitude(image, 1.0)
    rows = []
    for seed in seeds:
        scribbles = bench.make_scribbles(loaded, seed=seed)
        p = teacher_probability(feats, scribbles)
        masks = [p > t for t in THRESHOLDS]
        dice = np.array([bench.foreground_scores(m, truth, scored)["dice"] for m in masks])
        edge = int(np.argmax([edge_strength(gradient, m) for m in masks]))
        half = int(np.argmin([half_max_gap(image, m) for m in masks]))
        balanced = teacher_probability(feats, scribbles, class_weight="balanced") > 0.5
        at_half = bench.foreground_scores(p > 0.5, truth, scored)["dice"]
        row = {
            "case": case,
            "seed": seed,
            "0.5": round(at_half, 4),
            "balanced": round(bench.foreground_scores(balanced, truth, scored)["dice"], 4),
            "edge": [float(THRESHOLDS[edge]), round(float(dice[edge]), 4)],
            "half-max": [float(THRESHOLDS[half]), round(float(dice[half]), 4)],
            "best": [float(THRESHOLDS[dice.argmax()]), round(float(dice.max()), 4)],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", nargs="+", default=list(CASES), choices=sorted(real_data.EVAL_CASES)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="scribble draws")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = [row for case in args.cases for row in run(case, args.seeds)]
    print(
        "\n| case (draw) | teacher (0.5) | balanced | edge: t, Dice | half-max: t, Dice | best: t, Dice |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r['0.5']:.3f}", f"{r['balanced']:.3f}"]
        cells += [f"{r[k][0]:.2f}, {r[k][1]:.3f}" for k in ("edge", "half-max", "best")]
        print(f"| {r['case']} (s{r['seed']}) | " + " | ".join(cells) + " |")
    for key in ("balanced", "edge", "half-max", "best"):
        diffs = [(r[key] if key == "balanced" else r[key][1]) - r["0.5"] for r in rows]
        better = sum(d > 0.001 for d in diffs)
        print(
            f"{key}: mean {np.mean(diffs):+.3f} against the teacher, better on {better} of {len(rows)}"
        )


if __name__ == "__main__":
    main()
