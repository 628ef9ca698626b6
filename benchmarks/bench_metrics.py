"""Metrics building blocks: numpy morphology (kept) vs scipy.ndimage, side by side.

``core/metrics`` uses ``scipy.ndimage`` for connected components and the distance
transform, but keeps its own binary erosion (cross) and dilation (box) built from
shifted array views, because those are much faster on boolean masks; clDice's skeleton
runs them until the mask is gone. This script checks that both give identical results
and prints the median CPU time of each (process time: steadier than the wall clock on a
shared machine).

Run ``python benchmarks/bench_metrics.py`` (about a minute); figures are recorded in
docs/benchmarks.md ("Metrics").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from napari_unetseg.core.metrics.morphology import dilate_box, erode_cross
from napari_unetseg.core.metrics.surface import soft_skeleton


def cpu_seconds(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def skeleton_with(erode: Callable, dilate: Callable, mask: np.ndarray) -> np.ndarray:
    """:func:`soft_skeleton`'s loop with other erosion / dilation functions."""
    x, skel = mask, np.zeros_like(mask)
    while x.any():
        eroded = erode(x)
        skel |= x & ~dilate(eroded)
        x = eroded
    return skel


def blobs(shape: tuple[int, ...], sigma: float, seed: int = 0) -> np.ndarray:
    """Smooth random blobs covering 30 % of the image."""
    field = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return field > np.percentile(field, 70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="timed runs per function")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, load average {os.getloadavg()}")
    print("| case | operation | numpy (ours) | scipy.ndimage | scipy / numpy |")
    print("|---|---|---|---|---|")
    for name, shape, sigma in (("2D 1024²", (1024, 1024), 3), ("3D 64×256²", (64, 256, 256), 2)):
        mask = blobs(shape, sigma)
        box = np.ones((3,) * mask.ndim, bool)

        def erode_ndi(m: np.ndarray) -> np.ndarray:
            return ndi.binary_erosion(m, border_value=0)

        def dilate_ndi(m: np.ndarray, box: np.ndarray = box) -> np.ndarray:
            return ndi.binary_dilation(m, structure=box)

        def skeleton_ndi(m: np.ndarray) -> np.ndarray:
            return skeleton_with(erode_ndi, dilate_ndi, m)

        rows = (
            ("erosion (cross)", erode_cross, erode_ndi, args.reps),
            ("dilation (box)", dilate_box, dilate_ndi, args.reps),
            ("clDice skeleton", soft_skeleton, skeleton_ndi, max(3, args.reps // 3)),
        )
        for label, ours, theirs, reps in rows:
            if not np.array_equal(ours(mask), theirs(mask)):
                raise SystemExit(f"{name} {label}: results differ")
            a = cpu_seconds(lambda f=ours, m=mask: f(m), reps)
            b = cpu_seconds(lambda f=theirs, m=mask: f(m), reps)
            print(f"| {name} | {label} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {b / a:.1f}x |")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
