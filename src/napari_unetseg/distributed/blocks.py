"""The blocks of a run: where each reads (with its halo or the whole image's tiles),
the normalized view it reads through, and the cropped output it writes into."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Plan:
    """Blocks of the output: one leading position x a column of the spatial axes.

    The first spatial axis (Z in 3D, Y in 2D) is never split: the engine streams it band
    by band, so a block's memory does not depend on its length. The other spatial axes
    are cut every ``block`` pixels (chunk borders of the output, so no two blocks write
    the same chunk). ``starts`` is the whole image's tile grid: a block predicts the
    tiles of that grid that overlap it (its halo is those tiles' reach), so every pixel
    is blended from the same tiles as in a single-process run. With resampling
    (``starts`` None) a block reads ``halo`` extra pixels and tiles them itself.

    ``inside``: per spatial axis, the part of the image inside a frame of one value
    (:mod:`napari_unetseg.core.margins`; None: all of it). Blocks read and write only
    there, and the tile grid is the inside's, as a single-process run predicts the
    inside alone; the frame is never written (the store's fill value, background).
    """

    out_shape: tuple[int, ...]
    n_lead: int
    block: tuple[int, ...]
    tile: tuple[int, ...]
    starts: list[list[int]] | None
    halo: tuple[int, ...]
    inside: tuple[tuple[int, int], ...] | None = None

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """Where blocks read and write, per spatial axis (the inside of a frame)."""
        return self.inside or tuple((0, s) for s in self.spatial)

    def writes(self, index: tuple[int, ...]) -> bool:
        """Whether block ``index`` has pixels inside the frame (others lie in the frame:
        nothing to predict)."""
        cell = index[self.n_lead :]
        return all(
            max(i * b, lo) < min((i + 1) * b, hi)
            for i, b, (lo, hi) in zip(cell, self.block, self.bounds)
        )

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.out_shape[self.n_lead :]

    @property
    def grid(self) -> tuple[int, ...]:
        lead = self.out_shape[: self.n_lead]
        return lead + tuple(math.ceil(s / b) for s, b in zip(self.spatial, self.block))

    @property
    def chunks(self) -> tuple[int, ...]:
        first = min(self.spatial[0], 64 if len(self.spatial) == 3 else 1024)
        rest = tuple(min(b, s) for b, s in zip(self.block[1:], self.spatial[1:]))
        return (1,) * self.n_lead + (first,) + rest

    def boxes(self) -> list[tuple[int, ...]]:
        return list(np.ndindex(*self.grid))

    def by_cost(self, indices: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """``indices`` with the most expensive blocks first (the tiles they run, or the
        pixels they read): handed out in this order, the last blocks to start are the
        cheap ones, so no worker is left with a long block while the others idle."""

        def cost(index: tuple[int, ...]) -> int:
            job = self.job(index)
            if job["tile_starts"] is not None:
                return math.prod(len(starts) for starts in job["tile_starts"])
            return math.prod(e - a for a, e in job["read"])

        return sorted(indices, key=cost, reverse=True)

    def job(self, index: tuple[int, ...]) -> dict[str, Any]:
        """Where block ``index`` reads, which tiles it runs, and where it writes."""
        lead, cell = index[: self.n_lead], index[self.n_lead :]
        core = [
            (max(i * b, lo), min((i + 1) * b, hi))
            for i, b, (lo, hi) in zip(cell, self.block, self.bounds)
        ]
        read, rel = [], []
        for axis, ((a, e), (lo, hi)) in enumerate(zip(core, self.bounds)):
            if self.starts is None:
                h = self.halo[axis]
                read.append((max(lo, a - h), min(hi, e + h)))
                continue
            t = self.tile[axis]
            mine = [p for p in self.starts[axis] if p < e and p + t > a]
            r0, r1 = min(mine), min(hi, max(mine) + t)
            read.append((r0, r1))
            rel.append([p - r0 for p in mine])
        return {
            "index": tuple(int(i) for i in index),
            "lead": tuple(int(i) for i in lead),
            "read": read,
            "tile_starts": rel if self.starts is not None else None,
            "crop": [(a - r0, e - r0) for (a, e), (r0, _) in zip(core, read)],
            "core": core,
        }


class _Normalized:
    """A lazy view of the input that reads normalized float32 (the whole image's
    statistics), so each block is normalized exactly as a single-process run would."""

    def __init__(self, view: Any, normalizer: Any, channel_axis: int | None) -> None:
        self.view, self.normalizer, self.channel_axis = view, normalizer, channel_axis
        self.shape, self.ndim, self.dtype = (
            tuple(view.shape),
            len(view.shape),
            np.dtype(np.float32),
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[(slice(None),) * self.ndim]  # a resampled block reads all of it
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = idx if isinstance(idx, tuple) else (idx,)
        block = np.asarray(self.view[idx])
        if self.channel_axis is None:
            return self.normalizer(block[None])[0]
        full = idx + (slice(None),) * (self.ndim - len(idx))
        pos = sum(1 for i in full[: self.channel_axis] if not isinstance(i, (int, np.integer)))
        return np.moveaxis(self.normalizer(np.moveaxis(block, pos, 0)), 0, pos)


#: Values of a block's input read at once by :func:`unfinite_mask`.
MASK_CHUNK = 1 << 22


def unfinite_mask(view: Any, channel_axis: int | None) -> np.ndarray | None:
    """Where a block's input (``view``, its read region) is NaN or infinite in any
    channel, or None where it is finite (integer images always are). Read a band of the
    first axis at a time: a block streamed from a lazy input is never held whole (only
    the mask, a byte a pixel)."""
    if np.dtype(view.dtype).kind not in "fc":
        return None
    shape = tuple(view.shape)
    first = 1 if channel_axis == 0 else 0  # bands along a spatial axis
    rows = max(1, MASK_CHUNK // max(1, math.prod(shape) // max(1, shape[first])))
    parts = []
    for r0 in range(0, shape[first], rows):
        index = (slice(None),) * first + (slice(r0, r0 + rows),)
        bad = ~np.isfinite(np.asarray(view[index]))
        parts.append(bad.any(axis=channel_axis) if channel_axis is not None else bad)
    mask = np.concatenate(parts, axis=0)  # the bands' axis, the channels taken out
    return mask if mask.any() else None


class _CroppedOut:
    """The labels "array" of a block: keeps the core's pixels of each written band and
    writes them straight into the store (halo pixels are dropped). ``bad``: where the
    block's input is NaN / Inf (:func:`unfinite_mask`), written as 0, as a whole-image
    run labels such pixels background."""

    def __init__(
        self,
        level0: Any,
        job: dict[str, Any],
        shape: tuple[int, ...],
        fill: bool,
        check: Any = None,
        bad: np.ndarray | None = None,
        largest_hole: int | None = None,
    ) -> None:
        self.level0, self.job, self.shape, self.fill = level0, job, shape, fill
        self.largest_hole = largest_hole  # holes of more pixels stay open
        self.dtype = level0.dtype
        #: called before each write: raises where the block's run was replaced
        self.check = check
        self.bad = bad

    def __setitem__(self, idx: Any, values: np.ndarray) -> None:
        from ..core.holes import fill_holes

        idx = () if idx is Ellipsis else (idx if isinstance(idx, tuple) else (idx,))
        idx = idx + (slice(None),) * (len(self.shape) - len(idx))
        values = np.asarray(values)
        if self.fill:  # 3D bands hold whole Y/X planes of the block: fill them here
            values = fill_holes(values.copy(), self.largest_hole)
        if self.bad is not None:
            values = np.where(self.bad[idx], 0, values).astype(values.dtype, copy=False)
        take, put = [], []
        for sl, n, (c0, c1), (g0, _) in zip(idx, self.shape, self.job["crop"], self.job["core"]):
            a, b, _ = sl.indices(n)
            lo, hi = max(a, c0), min(b, c1)
            if hi <= lo:
                return
            take.append(slice(lo - a, hi - a))
            put.append(slice(g0 + lo - c0, g0 + hi - c0))
        lead = tuple(slice(i, i + 1) for i in self.job["lead"])
        part = values[tuple(take)]
        if self.check is not None:
            self.check()
        self.level0[lead + tuple(put)] = part.reshape((1,) * len(lead) + part.shape)
