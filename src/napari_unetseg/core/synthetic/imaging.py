"""Small numpy image tools of the synthetic generator: gaussian blur, smooth random fields.

numpy only on purpose (not ``scipy.ndimage``): the generator's images, and so the shipped
default models trained on them (scripts/train_default_models.py), must stay identical for
a given seed, and scipy's filters round differently.
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalized 1D gaussian kernel (radius 3 sigma)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float | tuple[float, ...]) -> np.ndarray:
    """Separable gaussian blur (reflect boundary) of a float array, numpy only.

    Parameters
    ----------
    image : ndarray
        Any number of dimensions.
    sigma : float or tuple of float
        Standard deviation per axis (0 leaves an axis untouched).
    """
    out = np.asarray(image, dtype=np.float32)
    sigmas = (sigma,) * out.ndim if np.isscalar(sigma) else tuple(sigma)
    for axis, s in enumerate(sigmas):
        if s <= 0.05 or out.shape[axis] < 2:
            continue
        k = gaussian_kernel(float(s))
        r = len(k) // 2
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        # 'symmetric' works for axes shorter than the kernel; 'reflect' would not.
        padded = np.pad(out, pad, mode="symmetric" if out.shape[axis] <= r else "reflect")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * np.take(padded, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def resize_linear(small: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of a small field up to ``shape``."""
    out = small.astype(np.float32)
    for axis, n in enumerate(shape):
        m = out.shape[axis]
        if m == n:
            continue
        pos = np.linspace(0, m - 1, n, dtype=np.float32)
        lo = np.clip(np.floor(pos).astype(int), 0, max(m - 2, 0))
        hi = np.minimum(lo + 1, m - 1)
        frac = (pos - lo).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], cells: int) -> np.ndarray:
    """A smooth random field (zero mean, unit std) with about ``cells`` bumps per axis."""
    small = rng.standard_normal(tuple(max(2, min(cells + 1, s)) for s in shape))
    field = resize_linear(small, shape)
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def blur_large(image: np.ndarray, sigma: float) -> np.ndarray:
    """An approximate wide gaussian blur: block-average, blur small, interpolate back."""
    factor = max(1, int(sigma // 3))
    if factor == 1:
        return gaussian_blur(image, sigma)
    crop = tuple(slice(0, (s // factor) * factor) for s in image.shape)
    part = image[crop]
    if part.size == 0:
        return np.full_like(image, image.mean())
    small = part.reshape([v for s in part.shape for v in (s // factor, factor)]).mean(
        axis=tuple(range(1, 2 * image.ndim, 2))
    )
    return resize_linear(gaussian_blur(small, sigma / factor), image.shape)
