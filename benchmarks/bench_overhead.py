"""Time spent around the network in a default run: object size, resampling, the rest.

Two parts, on synthetic-nuclei images grown to the sizes given (mirrored tiles of one
512 x 512 plane or 64 x 256 x 256 stack, uint16):

1. Linear resampling side by side: ``core.scale.resample`` (torch's interpolation to
   enlarge, no Gaussian below sigma 0.15, the copy filtered in place) against the recipe
   it replaced (a Gaussian on every shrunk axis, then ``ndimage.zoom``), for the image
   shrunk by the factor a 26 px object needs for the 20 px model (0.78) and by half, and
   the probabilities enlarged back; the largest difference between the two outputs.
2. One ``api.predict`` with the shipped default model and every default, its steps
   timed by wrapping them: ``estimate_object_size``, the two ``resample`` calls, the
   tiled network (``predict_tiled``), and the rest.

Timings are wall-clock seconds of one run each on a shared machine (no asserts).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_overhead.py --threads 2
    python benchmarks/bench_overhead.py --sizes 2048x2048 100x512x512
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from napari_unetseg.core.synthetic import synthetic_nuclei  # noqa: E402

SIZES = ("2048x2048", "8192x8192", "60x256x256", "100x512x512")


def grown(shape: tuple[int, ...]) -> np.ndarray:
    """Synthetic nuclei (uint16) mirrored to ``shape``: no seam a model would see."""
    plane = len(shape) == 2  # nuclei about 26 px across: shrunk for the 20 px models
    tile, _ = synthetic_nuclei((512, 512) if plane else (64, 256, 256), seed=1, radius=(11, 15))
    img = np.asarray(tile, np.uint16)  # (uint16 already)
    for axis, n in enumerate(shape):
        reps = -(-n // img.shape[axis])
        img = np.concatenate(
            [img if i % 2 == 0 else np.flip(img, axis) for i in range(reps)], axis
        )
    return np.ascontiguousarray(img[tuple(slice(0, n) for n in shape)])


def replaced(array: np.ndarray, shape: tuple[int, ...], antialias: bool) -> np.ndarray:
    """The linear resampling before 2026-12-07: a Gaussian on every shrunk axis, then
    ``ndimage.zoom`` (the exact-shape trimming left out: the shapes here divide)."""
    src = array.astype(np.float32)
    zoom = [t / s for t, s in zip(shape, array.shape)]
    if antialias:
        sigma = [max(0.0, (1.0 / z - 1.0) / 2.0) if z < 1 else 0.0 for z in zoom]
        if any(sigma):
            src = ndimage.gaussian_filter(src, sigma)
    return ndimage.zoom(src, zoom, order=1, mode="nearest", grid_mode=True, output=np.float32)


def timed(f, *args, **kwargs):
    t0 = time.perf_counter()
    out = f(*args, **kwargs)
    return out, time.perf_counter() - t0


def resampling(shape: tuple[int, ...]) -> None:
    from napari_unetseg.core.scale import resample

    img = grown(shape)
    for factor in (0.78, 0.5):
        small = tuple(shape[:-2]) + tuple(max(1, round(n * factor)) for n in shape[-2:])
        ours, t_ours = timed(resample, img, small, order=1)
        old, t_old = timed(replaced, img, small, True)
        diff = float(np.abs(ours - old).max()) / float(img.max())
        print(f"  shrink x{factor}: ours {t_ours:.2f} s, before {t_old:.2f} s "
              f"({t_old / t_ours:.1f} x); largest difference {diff:.1e} of the range")  # fmt: skip
        prob = np.random.default_rng(0).random(small, dtype=np.float32)
        up, t_up = timed(resample, prob, shape, order=1, antialias=False)
        before, t_before = timed(replaced, prob, shape, False)
        flips = float(((up > 0.5) != (before > 0.5)).mean())
        print(f"  enlarge x{1 / factor:.2f}: ours {t_up:.2f} s, before {t_before:.2f} s "
              f"({t_before / t_up:.1f} x); largest difference "
              f"{float(np.abs(up - before).max()):.1e}, labels flipped {flips:.1e}")  # fmt: skip


def steps(shape: tuple[int, ...]) -> None:
    """One default ``api.predict``, its steps timed."""
    from napari_unetseg import api
    from napari_unetseg.core import scale, sizing
    from napari_unetseg.core.inference import predict as engine

    spent: dict[str, float] = {}

    def wrap(module, name, label, generator=False):
        original = getattr(module, name)

        if generator:

            @functools.wraps(original)
            def run(*a, **k):
                t0 = time.perf_counter()
                try:
                    return (yield from original(*a, **k))
                finally:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        else:

            @functools.wraps(original)
            def run(*a, **k):
                t0 = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

        setattr(module, name, run)
        return module, name, original

    img = grown(shape)
    model = "nuclei-2d" if len(shape) == 2 else "nuclei-3d"
    api.predict(img[..., :64, :64], model)  # warm: the model read, torch started
    patched = [
        wrap(sizing, "estimate_object_size", "object size"),
        wrap(sizing, "resample", "resampling"),
        wrap(sizing, "predict_tiled", "network", generator=True),
    ]
    try:
        _, total = timed(api.predict, img, model)
    finally:
        for module, name, original in patched:
            setattr(module, name, original)
    rest = total - sum(spent.values())
    parts = ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in spent.items())
    print(f"  api.predict {model}: {total:.2f} s: {parts}, the rest {rest:.2f} s")
    del scale, engine  # (imported to be sure the names wrapped are the ones used)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    for spec in args.sizes:
        shape = tuple(int(n) for n in spec.split("x"))
        print(f"{spec} (uint16):")
        resampling(shape)
        steps(shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
