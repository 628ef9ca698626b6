"""The tile grid: where tiles start, how big they are, how they are weighted and padded."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..bundle import ModelBundle

BLENDS = ("gaussian", "constant")


def tile_starts(size: int, tile: int, overlap: float) -> list[int]:
    """Start positions of tiles along one axis.

    ``n = ceil((size - tile) / (tile * (1 - overlap))) + 1`` tiles, spread evenly so the
    first starts at 0 and the last ends at ``size``. An axis no longer than the tile
    gets one tile at 0 (the image is padded to the tile).
    """
    if size <= tile:
        return [0]
    stride = tile * (1.0 - overlap)
    n = math.ceil((size - tile) / stride) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def tile_grid(
    shape: tuple[int, ...], tile: tuple[int, ...], overlap: float
) -> list[tuple[int, ...]]:
    """All tile start corners, in row-major order (first axis slowest)."""
    return list(itertools.product(*(tile_starts(s, t, overlap) for s, t in zip(shape, tile))))


def gaussian_weights(
    tile: tuple[int, ...], sigma_scale: float = 1.0 / 8, min_weight: float = 1e-3
) -> np.ndarray:
    """Separable gaussian window with sigma = ``tile * sigma_scale``, peak 1.

    The minimum is clamped to ``min_weight`` so border pixels that only one tile covers
    (image edges) still get a well-defined, non-zero weight.
    """
    w = np.ones((), dtype=np.float64)
    for t in tile:
        x = np.arange(t, dtype=np.float64) - (t - 1) / 2.0
        g = np.exp(-0.5 * (x / max(t * sigma_scale, 1e-6)) ** 2)
        w = np.multiply.outer(w, g)
    w /= w.max()
    return np.maximum(w, min_weight).astype(np.float32)


def blend_weights(tile: tuple[int, ...], blend: str) -> np.ndarray:
    """The per-pixel weight of a tile's output: ``'gaussian'`` or ``'constant'`` (ones)."""
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}.")
    return gaussian_weights(tile) if blend == "gaussian" else np.ones(tile, np.float32)


def resolve_tile_size(
    tile_size: int | tuple[int, ...] | None,
    spatial_shape: tuple[int, ...],
    bundle: ModelBundle,
) -> tuple[int, ...]:
    """Tile edge per axis: a size the model accepts, no larger than needed.

    Each requested size is rounded up to the next size the network accepts
    (:meth:`ModelBundle.fit_tile`: a multiple of our U-Net's divisor, or a foreign
    network's minimum plus a multiple of its step); an axis shorter than the tile gets
    the smallest accepted size that covers it.
    """
    nd = bundle.spatial_dims
    if tile_size is None:
        tile_size = bundle.tile_size
    one = np.ndim(tile_size) == 0  # 64, or 64.0 ("'float' object is not iterable")
    try:
        sizes = (tile_size,) * nd if one else tuple(tile_size)
        whole = all(float(t) == int(t) >= 1 and not isinstance(t, bool) for t in sizes)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or len(sizes) != nd:
        raise ValueError(
            f"tile_size must be a positive int or {nd} positive ints, got {tile_size!r}."
        )
    sizes = tuple(int(t) for t in sizes)
    wanted, covering = bundle.fit_tile(sizes), bundle.fit_tile(spatial_shape)
    return tuple(min(t, s) for t, s in zip(wanted, covering))


def halo_overlap(overlap: float, tile: tuple[int, ...], halo: tuple[int, ...]) -> float:
    """The overlap to use: at least twice the halo, so every pixel has a trusted tile."""
    if not any(halo):
        return overlap
    return max(float(overlap), *(min(0.95, 2 * h / t + 1e-6) for h, t in zip(halo, tile)))


def halo_weights(
    weights: np.ndarray, halo: tuple[int, ...], min_weight: float = 1e-6
) -> np.ndarray:
    """``weights`` with the ``halo`` border of each axis set to ``min_weight``.

    A network with a halo computes unreliable values there; with tiles overlapping by at
    least twice the halo (:func:`halo_overlap`) another tile covers those pixels with
    full weight, except at the image border, where the tiny weight still yields the only
    value there is.
    """
    if not any(halo):
        return weights
    w = weights.copy()
    for axis, h in enumerate(halo):
        if h:
            edge = [slice(None)] * w.ndim
            for part in (slice(0, h), slice(-h, None)):
                edge[axis] = part
                w[tuple(edge)] = min_weight
    return w


def pad_end(block: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    """Pad the trailing spatial axes of a (C, *spatial) block at their end to ``target``."""
    pads = [(0, 0)] + [(0, t - s) for s, t in zip(block.shape[1:], target)]
    if not any(p[1] for p in pads):
        return block
    # Reflection needs two pixels along the axis; a 1-pixel-thin axis repeats its edge.
    mode = "reflect" if all(s > 1 for s, (_, p) in zip(block.shape[1:], pads[1:]) if p) else "edge"
    return np.pad(block, pads, mode=mode)
