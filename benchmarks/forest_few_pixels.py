"""How many painted pixels of a class the forest teacher needs to help a new model.

A class painted with one to a few pixels (a dot with a one-pixel brush) made the forest
label it almost nowhere (train bug bash, 2026-12-06). This trains a new 2D model from
background strokes and k one-pixel dots in k nuclei (at their deepest point), with the
forest teacher and without it (``teacher="none"``), and prints the Dice of each against
the truth, side by side. ``_api_train.FOREST_MIN_PIXELS`` follows from it.

    OMP_NUM_THREADS=2 python benchmarks/forest_few_pixels.py [--seeds 0 1] [--steps 30]
    OMP_NUM_THREADS=2 python benchmarks/forest_few_pixels.py --case dsb2018-2d --seeds 0

``--case`` takes a real 2D case of ``benchmarks/real_data.py`` instead of the synthetic
images (its objects: the reference's instances, or its connected parts); ``--seeds``
then draws which objects get the dots.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from scipy import ndimage

from napari_unetseg import api
from napari_unetseg.core.synthetic import synthetic_nuclei


def _images(case: str | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image and its objects (instance labels): synthetic nuclei, or a real case."""
    if case is None:
        return synthetic_nuclei((256, 256), seed=seed)
    from real_data import load_case

    loaded = load_case(case)
    truth = loaded.reference
    if truth.max() <= 1:  # a mask: its connected parts
        truth = ndimage.label(truth > 0)[0]
    return loaded.image.astype(np.float32), truth


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pixels", type=int, nargs="+", default=[1, 2, 3, 5, 10])
    parser.add_argument("--case", help="a real 2D case of benchmarks/real_data.py")
    args = parser.parse_args()
    print(f"threads {os.environ.get('OMP_NUM_THREADS', 'default')}, steps {args.steps}, "
          f"images {args.case or 'synthetic'}")  # fmt: skip
    print("seed  dots  forest  strokes-alone  difference")
    for seed in args.seeds:
        image, truth = _images(args.case, seed)
        strokes = np.zeros(truth.shape, np.uint8)
        h, w = truth.shape
        strokes[2, w // 16 : w * 27 // 32] = strokes[h // 2, 2 : w * 101 // 128] = 1  # two lines
        strokes[(truth > 0) & (strokes == 1)] = 0  # (where they cross no nucleus)
        ids = [i for i in np.unique(truth) if i]
        np.random.default_rng(seed).shuffle(ids)
        for k in args.pixels:
            dots = strokes.copy()
            for i in ids[:k]:
                depth = ndimage.distance_transform_edt(truth == i)
                dots[np.unravel_index(np.argmax(depth), depth.shape)] = 2
            scores = []
            for teacher in ("forest", "none"):  # the forest asked for: used at any count
                model = api.train(image, dots, steps=args.steps, seed=seed, teacher=teacher)
                scores.append(_dice(api.predict(image, model) > 0, truth > 0))
            print(f"{seed:4d}  {k:4d}  {scores[0]:6.3f}  {scores[1]:13.3f}  {scores[0] - scores[1]:+10.3f}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
