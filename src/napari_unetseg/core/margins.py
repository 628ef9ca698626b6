"""A frame of one value around an image: padding of a stitched mosaic, of a registered
or resliced volume, of an image padded to a multiple of a tile.

A U-Net reads the step from such a frame into the image as an edge: ``nuclei-2d`` marked
43 % of a 16-pixel band along the inside of a zero frame on a synthetic nuclei image
(Dice 0.98 -> 0.83), and the frame shifts the normalization's low percentile. Prediction
therefore runs on the part inside the frame (:func:`find_frame`) and the frame itself is
background; :class:`Window` lets an output array (numpy, memmap, zarr) take the inside's
result in place.

Only whole slabs at the image's edges count (rows, columns, planes of one value across
every channel and leading axis), all of the same finite value (NaN and Inf have their
own policy, ``guards.finite_policy``), and only where that value is rare
inside (:data:`MAX_INSIDE_SHARE`): a skull-stripped brain's zero background reaching the
edge of its box is no step into the image, and predicting inside it only moved the tiles
(MNI grey matter, 3D: Dice 0.859 -> 0.855).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .normalize import strided_sample

#: Slabs read at once while walking in from an edge.
SLABS_PER_READ = 16
#: A frame is left out only while its value holds less than this share of the inside
#: (as sampled): the normalization's low percentile (1 %) then lies above it, so the frame
#: is a step down from the image's own darkest level.
MAX_INSIDE_SHARE = 0.01


def frame_message(value: float, widths: Any) -> str:
    """The sentence saying a frame of ``value`` (``widths`` per spatial axis, before and
    after the inside) was left out."""
    edges = sorted({w for pair in widths for w in pair if w})
    wide = f"{edges[0]} px" if len(edges) == 1 else f"{edges[0]}-{edges[-1]} px"
    return (
        f"A frame of value {value:g} ({wide} wide) around the image was left out "
        "of the prediction and labelled background."
    )


@dataclass(frozen=True)
class Frame:
    """The part of an image inside a frame of one ``value``.

    ``inner``: the index of the inside over the image's axes (channel and leading axes
    whole); ``out_inner``: the same over the output's axes (no channel axis);
    ``widths``: per spatial axis, the frame's width before and after the inside.
    """

    inner: tuple[slice, ...]
    out_inner: tuple[slice, ...]
    value: float
    widths: tuple[tuple[int, int], ...]

    def message(self) -> str:
        return frame_message(self.value, self.widths)

    def margins(self, shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
        """Indices over an output of ``shape`` that cover the frame (each slab once)."""
        parts = []
        first = len(shape) - len(self.widths)
        for k, (before, after) in enumerate(self.widths):
            a = first + k  # the axes before it inside the frame, those after it whole
            rest = (slice(None),) * (len(shape) - a - 1)
            for lo, hi in ((0, before), (shape[a] - after, shape[a])):
                if hi > lo:
                    parts.append(self.out_inner[:a] + (slice(lo, hi),) + rest)
        return parts


#: The most pixels read from one side of one axis while looking for a frame.
MAX_FRAME_READ = 256_000_000


def _slab_values(image: Any, axis: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per slab ``lo..hi-1`` along ``axis``: its smallest and largest value."""
    index = (slice(None),) * axis + (slice(lo, hi),)
    block = np.moveaxis(np.asarray(image[index]), axis, 0).reshape(hi - lo, -1)
    return block.min(axis=1), block.max(axis=1)


def _edge_agrees(image: Any, axis: int, index: int, value: Any) -> bool:
    """Whether a few points of slab ``index`` (its corners and middles) hold one finite
    value (``value`` where given): an edge of varying pixels is told at once, without
    reading the slab, which for a lazily read volume is a band of chunks through it."""
    others = [range(int(n)) for a, n in enumerate(image.shape) if a != axis]
    picks = [sorted({0, len(r) // 2, len(r) - 1}) for r in others]
    seen = []
    for point in itertools.product(*picks):
        full = point[:axis] + (index,) + point[axis:]
        seen.append(np.asarray(image[full]).item())
        first = seen[0] if value is None else value
        if not np.isfinite(seen[-1]) or seen[-1] != first:
            return False
    return True


def _width(image: Any, axis: int, stop: int, from_end: bool, value: Any) -> tuple[int, Any]:
    """How many slabs from one edge of ``axis`` hold one value (``value``, or the first
    slab's when None), up to ``stop`` slabs; and that value."""
    n = int(image.shape[axis])
    if stop and not _edge_agrees(image, axis, n - 1 if from_end else 0, value):
        return 0, value
    width = 0
    # a frame is looked for in at most MAX_FRAME_READ pixels a side: a 1 TB image of one
    # value was read whole (7 minutes) before the memory guard refused it; a wider frame
    # is then not left out (predicted with the image, as images without a frame are)
    per_slab = max(1, math.prod(int(d) for a, d in enumerate(image.shape) if a != axis))
    stop = min(stop, max(1, MAX_FRAME_READ // per_slab))
    while width < stop:
        count = min(SLABS_PER_READ, stop - width)
        lo, hi = (n - width - count, n - width) if from_end else (width, width + count)
        low, high = _slab_values(image, axis, lo, hi)
        if from_end:
            low, high = low[::-1], high[::-1]
        for a, b in zip(low, high, strict=True):
            if a != b or not np.isfinite(a) or (value is not None and a != value):
                return width, value
            value = a
            width += 1
    return width, value


def find_frame(
    image: Any, spatial_axes: tuple[int, ...], channel_axis: int | None = None
) -> Frame | None:
    """The inside of a frame of one value along ``spatial_axes`` (the last axes of the
    output, after ``channel_axis`` is taken out), or None where the image has none (or is
    of one value throughout: nothing would be left)."""
    shape = tuple(int(s) for s in image.shape)
    if not spatial_axes or math.prod(shape) == 0:
        return None
    value = None
    widths = []
    for axis in spatial_axes:
        before, value = _width(image, axis, shape[axis], False, value)
        if before == shape[axis]:
            return None  # one value everywhere
        after, value = _width(image, axis, shape[axis] - before, True, value)
        widths.append((before, after))
    if not any(w for pair in widths for w in pair):
        return None
    inner = [slice(None)] * len(shape)
    for axis, (before, after) in zip(spatial_axes, widths, strict=True):
        inner[axis] = slice(before, shape[axis] - after)
    sample = strided_sample(window(image, tuple(inner)))
    if np.count_nonzero(sample == value) >= MAX_INSIDE_SHARE * sample.size:
        return None  # the image's own background has the frame's value: no step
    if sample.size and np.all(sample == sample.flat[0]):
        # one object of one value on the frame's (a bright square on black): the object
        # and its background, not an image in a frame (it was predicted alone, unmarked)
        return None
    out_inner = tuple(s for a, s in enumerate(inner) if a != channel_axis)
    return Frame(tuple(inner), out_inner, float(value), tuple(widths))


class Window:
    """A part of a larger array, read and written through its index (an output array
    that is not numpy, whose slices would be copies)."""

    def __init__(self, target: Any, index: tuple[slice, ...]) -> None:
        self.target, self.index = target, index
        self.shape = tuple(
            len(range(*s.indices(n))) for s, n in zip(index, target.shape, strict=True)
        )
        self.dtype = target.dtype
        self.ndim = len(self.shape)

    def _inside(self, idx: Any) -> tuple[slice | int, ...]:
        idx = idx if isinstance(idx, tuple) else (idx,)
        if Ellipsis in idx:  # as many whole axes as the other entries leave
            at = idx.index(Ellipsis)
            idx = idx[:at] + (slice(None),) * (self.ndim - len(idx) + 1) + idx[at + 1 :]
        idx = idx + (slice(None),) * (self.ndim - len(idx))
        out: list[slice | int] = []
        for sl, outer, n in zip(idx, self.index, self.shape, strict=True):
            start = outer.start or 0
            if isinstance(sl, slice):
                a, b, step = sl.indices(n)
                out.append(slice(start + a, start + b, step))
            else:
                out.append(start + (int(sl) % n))
        return tuple(out)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return np.asarray(self.target[self._inside(idx)])

    def __setitem__(self, idx: Any, values: Any) -> None:
        self.target[self._inside(idx)] = values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype)


def window(target: Any, index: tuple[slice, ...]) -> Any:
    """``target[index]`` without a copy: a numpy view, a dask array's slice (both lazy),
    else a :class:`Window` (a zarr array's slice would read it all, and not write back)."""
    lazy = isinstance(target, np.ndarray) or type(target).__module__.startswith("dask")
    return target[index] if lazy else Window(target, index)
