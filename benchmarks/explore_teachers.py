"""Which random forest makes the best teacher for scribble training (issue #14)?

A new model trained on sparse scribbles learns from a random forest's dense answer
(``napari_unetseg.forest``). This script fits forest variants on the scribbles of the
``bench_accuracy.py`` cases (the same strokes, the same scoring on the unpainted part)
and prints each variant's Dice alone, for one or more draws of the scribbles; with
``--unet-seconds`` it also trains the U-Net (``api.train``, a new model) with the
``--teachers`` given: "shipped" (the plugin's own teacher as ``api.train`` uses it:
features up to sigma 4), "wide" (the same with the baseline's features, up to sigma 16),
the balanced baseline forest, "confident" (the baseline's
labels only where its P(object) is at most 0.2 or at least 0.8, the band between left
unpainted) and, also with ``--soft``, soft targets: labels drawn afresh from the
baseline forest's probabilities at every patch read. Since 2026-12-02 every U-Net
trained on a forest's labels trains without intensity augmentation, as ``api.train``
does; the earlier lines of the log were trained with it. Every result is appended to
``--log`` as one JSON line.

    OMP_NUM_THREADS=1 python benchmarks/explore_teachers.py \
        --cases mni152-gm-2d mni152-gm-3d dsb2018-2d stardist-synthetic-3d --seeds 0 1
    OMP_NUM_THREADS=2 python benchmarks/explore_teachers.py --cases mni152-gm-2d \
        --seeds 0 1 --unet-seconds 90 --no-forests
    OMP_NUM_THREADS=2 python benchmarks/explore_teachers.py --cases mni152-gm-2d \
        --seeds 0 1 --unet-seconds 90 --no-forests --teachers confident
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_accuracy as bench  # noqa: E402
import real_data  # noqa: E402

from napari_unetseg import api, forest  # noqa: E402

#: The baseline's forest (as in scikit-image's example) and its features.
BASE, WIDE = bench.FOREST, bench.FEATURES


def baseline_features(image: np.ndarray) -> np.ndarray:
    """The benchmark baseline's features, float32."""
    return bench.baseline_features(image).astype(np.float32, copy=False)


def _fit(features: np.ndarray, scribbles: np.ndarray, make: Callable[[], Any]) -> np.ndarray:
    """P(object) of every pixel from a classifier fitted on the painted ones."""
    painted = scribbles > 0
    clf = make()
    clf.fit(features[painted], scribbles[painted])
    flat = features.reshape(-1, features.shape[-1])
    return clf.predict_proba(flat)[:, 1].reshape(scribbles.shape)


def _context(features: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Auto-context: the features plus the probabilities, raw and smoothed (sigma 1-8)."""
    extra = [p] + [ndi.gaussian_filter(p, s) for s in (1, 2, 4, 8)]
    return np.concatenate([features, np.stack(extra, -1).astype(np.float32)], -1)


def variants(image: np.ndarray, scribbles: np.ndarray) -> dict[str, np.ndarray]:
    """Foreground of each forest variant."""
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    def rf(**kw: Any) -> Callable[[], Any]:
        return lambda: RandomForestClassifier(**{**BASE, **kw})

    def extra() -> Any:
        return ExtraTreesClassifier(n_estimators=200, n_jobs=1, random_state=0)

    feats = baseline_features(image)
    p0 = _fit(feats, scribbles, rf())
    wide = multiscale_basic_features(image, sigma_min=0.5, sigma_max=32).astype(np.float32)
    return {
        "baseline (50 trees, depth 10)": p0 > 0.5,
        "features up to sigma 4 (the shipped teacher's)": _fit(
            forest.features(image), scribbles, rf()
        )
        > 0.5,
        "class weights balanced": _fit(feats, scribbles, rf(class_weight="balanced")) > 0.5,
        "200 trees, no depth limit": _fit(feats, scribbles, rf(n_estimators=200, max_depth=None))
        > 0.5,
        "extremely randomized trees, 200": _fit(feats, scribbles, extra) > 0.5,
        "features up to sigma 32": _fit(wide, scribbles, rf()) > 0.5,
        "probabilities smoothed (sigma 1)": ndi.gaussian_filter(p0, 1) > 0.5,
        "auto-context": _fit(_context(feats, p0), scribbles, rf()) > 0.5,
    }


class Sampled:
    """Labels drawn afresh from P(object) at every read (soft targets in expectation);
    painted pixels keep their class. Training reads its patches through ``[]``."""

    def __init__(self, p: np.ndarray, painted: np.ndarray, seed: int) -> None:
        self.p, self.painted = p, painted
        self.rng = np.random.default_rng(seed)
        self.shape, self.ndim, self.dtype = painted.shape, painted.ndim, np.dtype(np.uint8)

    def __getitem__(self, key: Any) -> np.ndarray:
        p, painted = self.p[key], self.painted[key]
        draw = np.where(self.rng.random(p.shape) < p, 2, 1).astype(np.uint8)
        return np.where(painted > 0, painted, draw)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype)


def _baseline_p(images: list[Any], labels: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The first image's scribbles and the baseline forest's P(object) fitted on them."""
    from sklearn.ensemble import RandomForestClassifier

    painted = np.asarray(labels[0])
    p = _fit(baseline_features(images[0]), painted, lambda: RandomForestClassifier(**BASE))
    return painted, p


def _soft_targets(images: list[Any], labels: list[Any], **kw: Any) -> tuple[list[Any], str]:
    """Stands in for ``forest.dense_targets``: the baseline forest's probabilities."""
    painted, p = _baseline_p(images, labels)
    return [Sampled(p.astype(np.float32), painted, kw.get("seed", 0))], "soft forest targets"


#: Teacher "confident": the forest's labels are kept where its P(object) is at most
#: 1 - CONFIDENT or at least CONFIDENT; the pixels in between stay unpainted.
CONFIDENT = 0.8


def _confident_targets(images: list[Any], labels: list[Any], **kw: Any) -> tuple[list[Any], str]:
    """Stands in for ``forest.dense_targets``: only the baseline forest's confident labels."""
    painted, p = _baseline_p(images, labels)
    guess = np.select([p >= CONFIDENT, p <= 1 - CONFIDENT], [2, 1], 0)
    return [np.where(painted > 0, painted, guess).astype(painted.dtype)], "confident labels"


def unet(image: np.ndarray, scribbles: np.ndarray, seconds: float, teacher: str) -> Any:
    """A new model trained on the scribbles with a forest teacher: "shipped" (as
    ``api.train`` does), "wide" (the shipped one with the baseline's features),
    "balanced" (class weights, the baseline's features), "soft" (labels drawn from the
    baseline's probabilities) or "confident" (the baseline's labels where it is sure,
    nothing elsewhere)."""
    saved, dense, feats = dict(forest.FOREST), forest.dense_targets, dict(forest.FEATURES)
    if teacher in ("wide", "balanced"):
        forest.FEATURES = dict(WIDE)
    if teacher == "balanced":
        forest.FOREST = {**saved, "class_weight": "balanced"}
    elif teacher == "soft":
        forest.dense_targets = _soft_targets
    elif teacher == "confident":
        forest.dense_targets = _confident_targets
    try:
        return api.train(image, scribbles, label_mode="sparse", time_limit=seconds, seed=0)
    finally:
        forest.FOREST, forest.dense_targets, forest.FEATURES = saved, dense, feats


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["mni152-gm-2d", "mni152-gm-3d"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="scribble draws")
    p.add_argument("--unet-seconds", type=float, default=0.0, help="also train the U-Net")
    p.add_argument("--no-forests", action="store_true", help="skip the forest table")
    p.add_argument("--soft", action="store_true", help="with --unet-seconds: soft targets too")
    p.add_argument(
        "--teachers",
        nargs="+",
        default=["shipped", "wide"],
        choices=["shipped", "wide", "balanced", "soft", "confident"],
        help="with --unet-seconds",
    )
    p.add_argument("--log", default=str(HERE / "results" / "explore_teachers.jsonl"))
    args = p.parse_args(argv)
    with open(args.log, "a") as log:
        for name in args.cases:
            loaded = real_data.load_case(name)
            image, truth = loaded.image.astype(np.float32), loaded.foreground
            scored = ~bench.painted_region(loaded.case, image.shape)
            for seed in args.seeds:
                scribbles = bench.make_scribbles(loaded, seed=seed)
                rows: dict[str, dict[str, Any]] = {}
                if not args.no_forests:
                    for label, fg in variants(image, scribbles).items():
                        rows[f"forest: {label}"] = bench.foreground_scores(fg, truth, scored)
                teachers = args.teachers + (["soft"] if args.soft else [])
                for teacher in teachers if args.unet_seconds else ():
                    t0 = time.perf_counter()
                    model = unet(loaded.image, scribbles, args.unet_seconds, teacher)
                    fg = bench.predict_foreground(loaded.image, model, {})
                    score = bench.foreground_scores(fg, truth, scored)
                    score["steps"] = model.history.get("steps")
                    score["seconds"] = time.perf_counter() - t0
                    rows[f"U-Net, {args.unet_seconds:g} s, teacher: {teacher} forest"] = score
                for label, score in rows.items():
                    print(
                        f"{name} scribbles s{seed} | {label:48s} | Dice {score['dice']:.3f} "
                        f"sens {score['sensitivity']:.3f} prec {score['precision']:.3f}",
                        flush=True,
                    )
                    line = {"case": name, "scribble_seed": seed, "variant": label, **score}
                    log.write(json.dumps(line, default=float) + "\n")


if __name__ == "__main__":
    main()
