"""What real acquisitions do to an image, and what the default model makes of it.

Real nuclei cases of ``real_data.py`` with a few artefacts added (hot pixels, a hot
column, a bright debris blob, a float image far from 0, uneven illumination, noise),
the shipped default model (object size auto) against Otsu's threshold (gaussian sigma
1), foreground Dice against each case's reference, side by side with the clean image.
Prints one table; nothing is asserted. Another version of the package on PYTHONPATH
gives its table to compare (the commands in docs/benchmarks.md).

    python benchmarks/acquisition_artefacts.py            # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import real_data
from scipy import ndimage
from skimage.filters import threshold_otsu

CASES = ("dsb2018-2d", "bbbc007-a9p7d-auto", "ndev-scratch-assay-auto", "cells3d-nuclei-3d")


def _uint16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 65535).astype(np.uint16)


def _hot_pixels(img: np.ndarray) -> np.ndarray:
    out = img.astype(np.uint16)
    out[np.random.default_rng(0).random(img.shape) < 0.001] = 65535
    return out


def _hot_column(img: np.ndarray) -> np.ndarray:
    out = img.astype(np.uint16)
    out[..., img.shape[-1] // 3] = 65535
    return out


def _debris(img: np.ndarray) -> np.ndarray:
    """A disk a sixth of the plane across, ten times the 99th percentile."""
    out = img.astype(np.float64)
    y, x = np.mgrid[: img.shape[-2], : img.shape[-1]]
    h, w = img.shape[-2:]
    disk = (y - h // 4) ** 2 + (x - w // 4) ** 2 <= (min(h, w) // 12) ** 2
    out[..., disk] = 10 * np.percentile(img, 99)
    return _uint16(out)


def _far_from_zero(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) + np.float32(1e7)


def _vignette(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[-2:]
    y, x = np.mgrid[:h, :w].astype(np.float64)
    r = np.hypot((y - (h - 1) / 2) / ((h - 1) / 2), (x - (w - 1) / 2) / ((w - 1) / 2))
    return _uint16(img.astype(np.float64) * (1 - 0.6 * (r / np.sqrt(2)) ** 2))


def _noise(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, (1, 99))
    rng = np.random.default_rng(0)
    return _uint16(img.astype(np.float64) + 200 + rng.normal(0, 0.4 * (hi - lo), img.shape))


ARTEFACTS = {
    "clean": lambda img: img,
    "0.1% hot pixels (65535)": _hot_pixels,
    "one hot column": _hot_column,
    "debris blob (10x)": _debris,
    "float32, 1e7 + image": _far_from_zero,
    "vignetting to 40%": _vignette,
    "heavy noise": _noise,
}


def _dice(found: np.ndarray, truth: np.ndarray) -> float:
    found, truth = found > 0, truth > 0
    total = found.sum() + truth.sum()
    return float(2 * (found & truth).sum() / total) if total else 1.0


def _otsu(img: np.ndarray) -> np.ndarray:
    smooth = ndimage.gaussian_filter(np.asarray(img, np.float64), 1.0)
    return smooth > threshold_otsu(smooth)


def _ours(img: np.ndarray, model: str) -> tuple[np.ndarray | None, str]:
    from napari_unetseg import api

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = api.drain(api.predict_iter(img, model))
    except Exception as exc:  # noqa: BLE001 - what a user would see, printed
        return None, f"{type(exc).__name__}: {str(exc)[:60]}"
    size = result.stats.get("object_size") or {}
    return result.labels, str(size.get("image_diameter", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    args = parser.parse_args()
    import napari_unetseg

    print(f"napari-unetseg from {napari_unetseg.__file__}")
    print("| case | artefact | ours (size px) | Otsu |")
    print("|---|---|---|---|")
    started = time.perf_counter()
    for name in args.cases:
        loaded = real_data.load_case(name)
        image, truth = loaded.image, loaded.reference > 0
        if image.ndim == 3:  # the planes with nuclei, as the stack
            image, truth = image[20:52], truth[20:52]
        model = "nuclei-3d" if image.ndim == 3 else "nuclei-2d"
        for what, make in ARTEFACTS.items():
            damaged = make(image)
            labels, size = _ours(damaged, model)
            ours = (
                "failed: " + size if labels is None else f"{_dice(labels, truth):.3f} ({size[:5]})"
            )
            print(f"| {name} | {what} | {ours} | {_dice(_otsu(damaged), truth):.3f} |", flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
