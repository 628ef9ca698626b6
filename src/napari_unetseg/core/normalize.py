"""Input normalization (robust percentiles) and axis handling.

The same :class:`Normalizer` is used for training and inference, and its parameters are
stored in the model file, so a model always sees its inputs the way it was trained.
Statistics are computed once per image from a bounded, strided subsample (never by
loading a large array whole), then applied block by block.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .guards import NonFiniteWarning, check_image_dtype, finite_policy

DEFAULT_NORMALIZATION: dict[str, Any] = {
    "mode": "percentile",
    "low": 1.0,
    "high": 99.8,
    "per_channel": True,
}


#: The least and most a percentile-scaled value may reach (its low percentile at 0, its
#: high one at 1): a hot pixel of 65535 in an image of nuclei below 240 came to the
#: network at about 300 and swamped its neighbourhood (0.1% of such pixels: Dice 0.93
#: -> 0.33; a hot column: 0.65). At 3 they were 0.90 and 0.92, and four real 2D cases
#: unchanged to three decimals (robustness bash; clip 2: the same, clip 5: 0.82). The
#: least for a model that swaps dark and bright, whose hot pixels come out far below 0
#: (-357: Dice 0.50; review).
PERCENTILE_CLIP = (-2.0, 3.0)

#: Most values read to estimate the percentiles of one image.
MAX_STAT_SAMPLES = 2_000_000


@dataclass(frozen=True)
class Layout:
    """How the axes of an input array map onto a model.

    ``spatial_axes`` are the last ``spatial_dims`` non-channel axes; any other
    non-channel axes are ``leading_axes`` (time, or Z for a 2D model) and are processed
    one plane/volume at a time. Outputs have the input's shape without the channel axis.
    """

    shape: tuple[int, ...]
    channel_axis: int | None
    spatial_axes: tuple[int, ...]
    leading_axes: tuple[int, ...]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[a] for a in self.spatial_axes)

    @property
    def leading_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[a] for a in self.leading_axes)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(s for a, s in enumerate(self.shape) if a != self.channel_axis)

    @property
    def n_channels(self) -> int:
        return 1 if self.channel_axis is None else self.shape[self.channel_axis]

    def index(self, lead: tuple[int, ...], spatial: tuple[slice, ...]) -> tuple:
        """Index into the input for one leading position and a spatial block."""
        idx: list[Any] = [slice(None)] * len(self.shape)
        for a, i in zip(self.leading_axes, lead):
            idx[a] = i
        for a, s in zip(self.spatial_axes, spatial):
            idx[a] = s
        return tuple(idx)

    def to_channels_first(self, block: np.ndarray) -> np.ndarray:
        """Reorder a block read with :meth:`index` to (C, *spatial)."""
        if self.channel_axis is None:
            return block[None]
        # Leading axes were indexed away; the channel axis keeps its order among the rest.
        remaining = [a for a in range(len(self.shape)) if a not in self.leading_axes]
        return np.moveaxis(block, remaining.index(self.channel_axis), 0)


def checked_axis(channel_axis: Any, shape: tuple[int, ...]) -> int:
    """``channel_axis`` as an axis of ``shape`` (negative counts from the end), or one
    sentence: not a whole number, or no such axis."""
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise ValueError(f"channel_axis must be a whole number, not {channel_axis!r}.")
    if not -len(shape) <= channel_axis < len(shape):
        raise ValueError(f"channel_axis {channel_axis} is out of range for shape {shape}.")
    return int(channel_axis) % len(shape)


def resolve_layout(
    shape: tuple[int, ...],
    spatial_dims: int,
    in_channels: int = 1,
    channel_axis: int | None = None,
) -> Layout:
    """Decide which axes are channels, spatial and leading for a model.

    Without ``channel_axis``, a model with ``in_channels > 1`` takes the last axis when
    it has that size and is RGB(A)-like (3 or 4), else the first axis, else the last.

    Raises
    ------
    ValueError
        With one sentence saying what is wrong with the shape.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if channel_axis is not None:
        channel_axis = checked_axis(channel_axis, shape)
        if shape[channel_axis] != in_channels:
            choose = " (choose one with channel=N)" if in_channels == 1 else ""
            raise ValueError(
                f"The image has {shape[channel_axis]} channels on axis {channel_axis} but the "
                f"model expects {in_channels}{choose}."
            )
    elif in_channels > 1:
        if ndim and shape[-1] == in_channels and in_channels in (3, 4):
            channel_axis = ndim - 1
        elif ndim and shape[0] == in_channels:
            channel_axis = 0
        elif ndim and shape[-1] == in_channels:
            channel_axis = ndim - 1
        else:
            raise ValueError(
                f"The model expects {in_channels} input channels but no axis of the image "
                f"shape {shape} has that size."
            )
    rest = [a for a in range(ndim) if a != channel_axis]
    if len(rest) < spatial_dims:
        raise ValueError(
            f"A {spatial_dims}D model needs at least {spatial_dims} spatial axes, but the "
            f"image of shape {shape} has {len(rest)}."
        )
    if any(shape[a] < 1 for a in rest):
        raise ValueError(f"The image of shape {shape} is empty.")
    return Layout(shape, channel_axis, tuple(rest[-spatial_dims:]), tuple(rest[:-spatial_dims]))


def one_channel(image: Any, channel_axis: int | None, channel: int) -> Any:
    """Channel ``channel`` of ``image`` along ``channel_axis``, as a slice (lazy for zarr
    and dask arrays).

    Raises
    ------
    ValueError
        Without a channel axis, or for a channel the image does not have (one sentence).
    """
    shape = tuple(np.shape(image))
    if channel_axis is None:
        raise ValueError("channel= needs channel_axis=, the axis that holds the channels.")
    axis = checked_axis(channel_axis, shape)
    n = shape[axis]
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
        raise ValueError(f"channel must be a whole number from 0 to {n - 1}, not {channel!r}.")
    if not 0 <= channel < n:
        raise ValueError(
            f"The image has {n} channels on axis {axis} (0 to {n - 1}), so there is no "
            f"channel {channel}."
        )
    return image[(slice(None),) * axis + (int(channel),)]


def image_axis(
    axis: int | None, ndim: int, channel_axis: int | None, spatial: int | None = None
) -> int | None:
    """The image's axis of the labels' ``axis`` (the image without its channel axis, of
    ``ndim`` dimensions with it), or None. ``spatial``: the model's spatial axes, the
    labels' last ones, which time cannot be (time_axis=2 of a (3, Y, X) stack measured
    the object size on one "frame" and resampled the stack by it)."""
    if axis is None:
        return None
    n = ndim - (channel_axis is not None)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -n <= axis < n:
        raise ValueError(f"time_axis {axis!r} is not an axis of the labels ({n} axes).")
    a = int(axis) % n
    if spatial is not None and a >= n - spatial:
        raise ValueError(
            f"time_axis {axis!r} is one of the {spatial} spatial axes of the model (the "
            f"last {spatial} of the labels' {n}); time is an axis before them."
        )
    if channel_axis is not None and channel_axis % ndim <= a:
        a += 1
    return a


def rgb_axis(
    shape: tuple[int, ...], channel_axis: int | None, labels_shape: tuple[int, ...] | None = None
) -> tuple[int | None, str]:
    """The channel axis of an image given without one that napari would show as RGB(A),
    or that holds one channel.

    An array read from a PNG or JPEG (``imageio``, ``skimage.io``) is (Y, X, 3) or
    (Y, X, 4); without a channel axis it would be taken as a stack of 3-pixel-wide planes.
    Like napari, an image of three or more axes whose last one holds 3 or 4 values is read
    as colour, here only when the two axes before it are a plane (16 pixels or more each)
    and, where labels are given, when they cover the image without that axis. A last axis
    of 1 value after such a plane (a grey image as Keras and imageio pipelines hold it,
    (Y, X, 1)) is its one channel: it was read as a stack of 1-pixel-wide planes.

    Returns
    -------
    channel_axis, message
        The last axis and one sentence saying so, or ``channel_axis`` and "" when it was
        given or the image does not look like colour or one channel.
    """
    shape = tuple(shape)
    if (
        channel_axis is not None
        or len(shape) < 3
        or shape[-1] not in (1, 3, 4)
        or min(shape[-3:-1]) < 16
        or (labels_shape is not None and tuple(labels_shape) != shape[:-1])
    ):
        return channel_axis, ""
    if shape[-1] == 1:
        return len(shape) - 1, "The image's last axis (1 value) was read as its one channel."
    colour = "RGB" if shape[-1] == 3 else "RGBA"
    return len(shape) - 1, (
        f"The image's last axis ({shape[-1]} values) was read as {colour} colour, as napari "
        "reads it."
    )


#: What :func:`grey_for_model` says of a stained brightfield image it takes by its
#: hematoxylin channel (nuclei bright already: ``invert`` leaves it so).
HEMATOXYLIN_NOTE = (
    "The RGB image has a bright background, as a stained brightfield image (H&E, IHC) "
    "has: its hematoxylin channel (colour deconvolution; nuclei bright) is used for this "
    "one-channel model."
)


def grey_for_model(
    image: Any, channel_axis: int | None, in_channels: int, keep_colour: bool = False
) -> tuple[Any, int | None, str]:
    """An RGB(A) image given to a one-channel model: as one grey channel, and why.

    Photos and PNG/JPEG exports of fluorescence images are often RGB, grey ones with three
    equal channels. For a model with one input channel, an image whose channel axis is
    the last one and holds 3 (RGB) or 4 (RGBA) values becomes: its first channel when R,
    G and B are equal (checked on a strided sample); its hematoxylin channel when it looks
    like stained brightfield (:func:`looks_brightfield`: H&E or IHC, dark nuclei on a
    bright background, which a model of bright nuclei would read inverted); else the
    mean of R, G and B (alpha left out). Both are computed by :func:`per_pixel`. With
    ``keep_colour``, a coloured image comes back unchanged: a new model learns from its
    colours. Anything else comes back unchanged (``resolve_layout`` then says what does
    not fit).

    Returns
    -------
    image, channel_axis, message
        The image to predict on, its channel axis (None once grey), and one sentence
        for the status line ("" when nothing changed).
    """
    shape = tuple(np.shape(image))
    last = channel_axis is not None and bool(shape) and channel_axis % len(shape) == len(shape) - 1
    if in_channels == 3 and last and shape[-1] == 4:
        # an RGBA picture for a colour model (refused: "4 channels but the model expects
        # 3"; PNG exports and screenshots are RGBA; RGB bug bash)
        return image[..., :3], channel_axis, "The RGBA image's alpha channel was left out."
    if in_channels != 1 or not last or shape[-1] not in (3, 4):
        return image, channel_axis, ""
    red, green, blue = (strided_sample(image[..., c]) for c in range(3))
    if np.array_equal(red, green) and np.array_equal(red, blue):
        return image[..., 0], None, "The RGB image is grey (R = G = B): one channel is used."
    if keep_colour:  # a new model learns the colours, not the alpha (it had 4 inputs)
        if shape[-1] == 4:
            return image[..., :3], channel_axis, "The RGBA image's alpha channel was left out."
        return image, channel_axis, ""
    rgb = image[..., :3]
    if looks_brightfield(np.stack([red, green, blue], axis=-1)):
        return hematoxylin(rgb), None, HEMATOXYLIN_NOTE
    grey = per_pixel(rgb, _mean_block)
    return (
        grey,
        None,
        (
            "The RGB image was converted to grey (the mean of R, G and B) for this "
            "one-channel model."
        ),
    )


#: A colour image is taken as stained brightfield when, relative to its brightest grey
#: value (99.9th percentile of the mean of R, G and B): its median grey value is at least
#: this share ...
BRIGHTFIELD_MEDIAN = 0.45
#: ... its darkest (1st percentile) at least this share: light passes everywhere, so
#: nothing is black ...
BRIGHTFIELD_DARKEST = 0.1
#: ... and the median of each pixel's weakest colour at least this share: the background
#: is near white, not one bright colour (a fluorescence export in one or two colours has
#: a weakest colour near 0 even with a large camera offset). H&E (stardist's example):
#: 0.57 / 0.24 / 0.43; IHC (scikit-image's): 0.62 / 0.26 / 0.53; fluorescence exports
#: (ndev-sampledata's neocortex and neuron) fail the first two: 0.29 / 0.05, 0.10 / 0.06.
BRIGHTFIELD_WEAKEST = 0.25


def looks_brightfield(rgb_sample: np.ndarray) -> bool:
    """Whether colour samples (..., 3) look like a stained brightfield image: a bright,
    near-white background with dark, coloured objects, where fluorescence has bright
    objects on a dark background (see :data:`BRIGHTFIELD_MEDIAN`)."""
    rgb = np.asarray(rgb_sample, np.float64).reshape(-1, 3)
    rgb = rgb[np.isfinite(rgb).all(axis=1)]
    if rgb.size == 0:
        return False
    darkest, median, brightest = np.percentile(rgb.mean(axis=1), [1, 50, 99.9])
    return bool(
        brightest > 0
        and median >= BRIGHTFIELD_MEDIAN * brightest
        and darkest >= BRIGHTFIELD_DARKEST * brightest
        and np.median(rgb.min(axis=1)) >= BRIGHTFIELD_WEAKEST * brightest
    )


#: Pixels of RGB converted at once by :func:`per_pixel` (a few times this in float32).
COLOUR_BLOCK = 4_000_000


def per_pixel(rgb: Any, convert: Any, *args: Any) -> Any:
    """``convert(block, *args)`` of an RGB image (``(..., 3)``) into one float32 value per
    pixel: a dask array stays lazy (block by block); anything else (numpy, memmap, zarr)
    is read and converted :data:`COLOUR_BLOCK` pixels at a time into one float32 array,
    so a whole-slide image never holds more than that in float copies."""
    if hasattr(rgb, "map_blocks"):  # dask
        whole = rgb.rechunk({rgb.ndim - 1: -1})
        return whole.map_blocks(convert, *args, drop_axis=rgb.ndim - 1, dtype=np.float32)
    out = np.empty(tuple(rgb.shape)[:-1], np.float32)
    return _in_blocks(rgb, out, convert, *args)


def _in_blocks(image: Any, out: np.ndarray, convert: Any, *args: Any) -> np.ndarray:
    """``out`` filled with ``convert(block, *args)`` of blocks of ``image``'s first axis,
    about :data:`COLOUR_BLOCK` of ``out``'s pixels at a time."""
    if out.ndim == 0:
        out[()] = convert(np.asarray(image), *args)
        return out
    rows = max(1, COLOUR_BLOCK // max(1, math.prod(out.shape[1:])))
    for start in range(0, out.shape[0] if out.size else 0, rows):
        out[start : start + rows] = convert(np.asarray(image[start : start + rows]), *args)
    return out


def inverted(image: Any) -> Any:
    """``image`` with dark and bright swapped, for a model of bright objects shown dark
    ones on a bright background (``invert``; Cellpose's "invert"): an unsigned integer
    becomes its type's largest value minus itself, a boolean its negation, a float or a
    signed integer its negative (a signed one in a float of its precision: -(-128) is no
    int8). A dask array stays lazy; anything else (numpy, memmap, zarr) is read and
    inverted :data:`COLOUR_BLOCK` pixels at a time into one array of its size."""
    dtype = np.dtype(image.dtype)
    kind = dtype.kind
    out_dtype = dtype if kind in "buf" else np.dtype(working_dtype(dtype))
    if hasattr(image, "map_blocks"):  # dask
        return image.map_blocks(_invert_block, dtype=out_dtype)
    return _in_blocks(image, np.empty(tuple(image.shape), out_dtype), _invert_block)


def unswapped(value: float, dtype: Any) -> float:
    """The value an image had where :func:`inverted` of it (of ``dtype``) holds ``value``:
    the swap is its own inverse (a frame of 0 is said as 0, not 65535 or -0)."""
    return float(_invert_block(np.asarray([value], dtype))[0])


def _invert_block(block: np.ndarray) -> np.ndarray:
    kind = block.dtype.kind
    if kind == "b":
        return ~block
    if kind == "u":
        return block.dtype.type(np.iinfo(block.dtype).max) - block
    if kind == "f":
        return np.negative(block)
    return np.negative(block.astype(working_dtype(block.dtype)))


def _mean_block(rgb: np.ndarray) -> np.ndarray:
    return rgb.mean(axis=-1, dtype=np.float32)


def _hematoxylin_block(rgb: np.ndarray, white: float) -> np.ndarray:
    from skimage.color import rgb2hed

    scaled = np.asarray(rgb, np.float32) / np.float32(white)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(rgb2hed(np.clip(scaled, 0, 1))[..., 0], dtype=np.float32)


def hematoxylin(rgb: Any) -> Any:
    """The hematoxylin channel of a stained brightfield RGB image (``(..., 3)``), float32,
    nuclei bright: scikit-image's colour deconvolution (``skimage.color.rgb2hed``,
    Ruifrok and Johnston's stain vectors) of intensities over the white level (the dtype's
    maximum; for floats 1, or the largest value of a strided sample when above 1), in
    blocks (:func:`per_pixel`: the conversion is per pixel)."""
    dtype = np.dtype(rgb.dtype)
    if np.issubdtype(dtype, np.integer):
        white = float(np.iinfo(dtype).max)
    else:
        sample = strided_sample(rgb)
        finite = sample[np.isfinite(sample)]
        white = max(float(finite.max()) if finite.size else 0.0, 1.0)
    return per_pixel(rgb, _hematoxylin_block, white)


def grey_inputs(
    images: Any,
    preview_image: Any,
    channel_axis: int | None,
    in_channels: int,
    keep_colour: bool = False,
    notes: list[str] | None = None,
) -> tuple[Any, Any, int | None, str]:
    """Training images (one or a list) and the preview image as grey for a one-channel
    model when they are RGB(A) (:func:`grey_for_model`; ``keep_colour``: only when they
    are grey, R = G = B, as for a new model); returns them, the channel axis left and one
    sentence ("" when nothing changed). ``notes``, a list, receives each image's own
    sentence, then the preview image's (a stained one is not swapped by ``invert``)."""
    listed = isinstance(images, (list, tuple))
    converted = [
        grey_for_model(img, channel_axis, in_channels, keep_colour)
        for img in (images if listed else [images])
    ]
    if notes is not None:
        notes[:] = [""] * (len(converted) + 1)
    if not converted or not all(c[2] for c in converted):  # none, or not all of them
        return images, preview_image, channel_axis, ""
    if notes is not None:
        notes[: len(converted)] = [c[2] for c in converted]
    if preview_image is not None:
        preview_image, _, said = grey_for_model(
            preview_image, channel_axis, in_channels, keep_colour
        )
        if notes is not None:
            notes[-1] = said
    grey = [c[0] for c in converted]
    notes = {c[2] for c in converted}
    note = (
        notes.pop()
        if len(notes) == 1
        else "The RGB images were taken as grey for this one-channel model."
    )
    # None once grey; an RGBA image that only lost its alpha keeps its colour axis
    return (grey if listed else grey[0]), preview_image, converted[0][1], note


#: A pixel this many times farther above its 3 x 3 neighbourhood's median than the 99th
#: percentile of such differences is a hot pixel (or a hot line): measured at that median.
SPECKLE_FACTOR = 4.0


def despeckled(arr: np.ndarray) -> np.ndarray:
    """``arr`` with its hot pixels and one-pixel lines at their plane neighbourhood's
    median: 0.1% of a nuclei image's pixels at 65535 (its nuclei below 240) were the
    objects measured, smoothed into blobs (5.7 px for 27), and one hot column the same
    (robustness bash). An object of 3 pixels or more is near its neighbourhood's median;
    its edges differ by the image's contrast, which sets the 99th percentile."""
    from scipy import ndimage

    med = ndimage.median_filter(arr, size=(1,) * (arr.ndim - 2) + (3, 3), mode="nearest")
    above = arr - med
    limit = SPECKLE_FACTOR * float(np.percentile(above, 99))
    hot = above > max(limit, 0.0)
    if limit <= 0 or not hot.any():
        return arr
    return np.where(hot, med, arr)


def strided_sample(image: Any, max_samples: int = MAX_STAT_SAMPLES) -> np.ndarray:
    """Read an evenly strided subset of ``image`` of at most about ``max_samples`` values.

    Works on any array-like that supports basic slicing (numpy, memmap, zarr, dask)
    and reads only the sampled positions.
    """
    shape = tuple(image.shape)
    total = math.prod(shape)
    if total <= max_samples:
        return np.asarray(image)
    step = math.ceil((total / max_samples) ** (1.0 / len(shape)))
    # Axes shorter than the step keep stride 1 so thin axes (channels) stay whole.
    idx = tuple(slice(None, None, step if s > step else 1) for s in shape)
    return np.asarray(image[idx])


def single_value(image: Any, chunk: int = MAX_STAT_SAMPLES) -> float | None:
    """The value every finite pixel of ``image`` holds, or None where two differ.

    A strided sample tells most images apart at once; an image whose sample holds one
    value is then read whole, ``chunk`` values at a time along its first axis (a few
    bright beads the sample missed make it an image of two values).
    """
    sample = np.asarray(strided_sample(image))
    values = sample[np.isfinite(sample)] if sample.dtype.kind in "fc" else sample.ravel()
    if values.size == 0 or values.min() != values.max():
        return None
    value = values.flat[0]
    shape = tuple(image.shape)
    rows = max(1, chunk // max(1, math.prod(shape[1:]))) if shape else 1
    for start in range(0, shape[0] if shape else 1, rows):
        block = np.asarray(image[start : start + rows] if shape else image)
        if block.dtype.kind in "fc":
            block = block[np.isfinite(block)]
        if block.size and (block.min() != value or block.max() != value):
            return None
    return float(value)


def working_dtype(dtype: np.dtype) -> type:
    """float64 for float64 (and wider) images and for 32- and 64-bit integers, whose
    values float32 may overflow or round away (its 24 bits of precision: a signal of
    0..1000 on an offset of 2**31 was rounded to a few steps, and one on 2**40 to one
    value); float32 for everything else (8- and 16-bit integers, float16 / float32)."""
    wide_float = dtype.kind == "f" and dtype.itemsize >= 8
    wide_int = dtype.kind in "iu" and dtype.itemsize >= 4
    return np.float64 if wide_float or wide_int else np.float32


class Normalizer:
    """Percentile normalization with statistics fixed for one image.

    ``(x - lo) / (hi - lo)`` per channel, where ``lo``/``hi`` are the ``low``/``high``
    percentiles of the image (of each channel when ``per_channel``). Values are clipped
    only far beyond them, at :data:`PERCENTILE_CLIP` (-2 and 3), so saturated regions
    keep their ordering and hot pixels do not swamp their neighbourhood. NaN / Inf values are left out of
    the percentiles and become 0 (the background level) when normalized; an image with
    no finite value is refused (:func:`~napari_unetseg.core.guards.finite_policy`).
    """

    def __init__(
        self, lo: np.ndarray, hi: np.ndarray, clip: tuple[float | None, float | None] | None = None
    ) -> None:
        lo64 = np.asarray(lo, dtype=np.float64).reshape(-1)
        span = np.asarray(hi, dtype=np.float64).reshape(-1) - lo64
        # A constant image maps to 0. "Constant" is relative to the values' magnitude (a
        # span of 1e-15 is an image of values near 1e-15, rounding noise near 1), so that
        # images in any unit are scaled alike.
        # A span below 0 swaps dark and bright (a package's scale_linear by a negative
        # gain): it was taken for a constant, and the input passed unscaled.
        magnitude = np.maximum(np.abs(lo64), np.abs(lo64 + span))
        width = np.abs(span)
        varies = (width > 1e-12 * magnitude) & (width > 1e-300)
        scale64 = np.where(varies, 1.0 / np.where(varies, span, 1.0), 1.0)
        with np.errstate(over="ignore"):  # beyond float32: Inf, and the float64 path runs
            self.lo, self.scale = lo64.astype(np.float32), scale64.astype(np.float32)
        #: float64 statistics, used where float32 would overflow or round the image away
        #: (float64 images, e.g. values of 1e300 or a span of 1e-20).
        self.lo64, self.scale64 = lo64, scale64
        #: Optional (min, max) bounds applied after scaling (imported preprocessing).
        self.clip = clip
        #: Statistics that leave values as they are (a model that takes normalized input),
        #: and statistics that keep finite values finite: both save passes over each block.
        self.identity = bool(np.all(lo64 == 0.0) and np.all(scale64 == 1.0))
        self.finite = bool(np.isfinite(self.lo).all() and np.isfinite(self.scale).all())
        #: No channel's statistics span a range: the image may hold a single value
        #: (:func:`single_value` tells; a few bright pixels beyond the percentiles do too).
        self.flat = not bool(np.any(varies))

    def at(self, lead: tuple[int, ...]) -> Normalizer:
        """The statistics for the plane / volume at leading index ``lead``: these, for
        every one (a series' time points have their own: :class:`TimeNormalizers`)."""
        return self

    @classmethod
    def from_image(
        cls,
        image: Any,
        layout: Layout,
        params: dict[str, Any] | None = None,
        max_samples: int = MAX_STAT_SAMPLES,
    ) -> Normalizer:
        p = {**DEFAULT_NORMALIZATION, **(params or {})}
        check_image_dtype(image.dtype)
        if p["mode"] == "none":
            c = layout.n_channels
            return cls(np.zeros(c), np.ones(c))
        if p["mode"] not in ("percentile", "ops"):
            raise ValueError(f"Unknown normalization mode {p['mode']!r}.")
        raw = strided_sample(image, max_samples)
        finite_policy(raw)  # the NaN / Inf policy (docs/reliability.md): refuse or warn
        sample = raw.astype(working_dtype(raw.dtype), copy=False)
        if layout.channel_axis is not None:
            sample = np.moveaxis(sample, layout.channel_axis, 0).reshape(
                sample.shape[layout.channel_axis], -1
            )
        else:
            sample = sample.reshape(1, -1)
        if p["mode"] == "ops":
            return _from_ops(sample, p["ops"])
        if not p["per_channel"]:
            sample = sample.reshape(1, -1)
        finite = [row[np.isfinite(row)] for row in sample]
        lo = [np.percentile(r, p["low"]) if r.size else 0.0 for r in finite]
        hi = [np.percentile(r, p["high"]) if r.size else 1.0 for r in finite]
        if raw.shape == tuple(image.shape) and (p["per_channel"] or layout.n_channels == 1):
            hi = [
                _past_hot_top(raw, layout, k, r, lo[k], hi[k], p["high"])
                for k, r in enumerate(finite)
            ]
        return cls(np.array(lo), np.array(hi), clip=PERCENTILE_CLIP)

    def statistics(self) -> tuple[list[float], list[float], Any]:
        """``(lo, hi, clip)``, plain values that make this normalizer again
        (``Normalizer(*statistics)``) in another process: a block run's workers (with
        the low and high values only, a fixed range's clip was lost there)."""
        hi = self.lo64 + np.where(self.scale64 != 0, 1.0 / self.scale64, 1.0)
        clip = None if self.clip is None else list(self.clip)
        return self.lo64.tolist(), hi.tolist(), clip

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Normalize a channels-first block ``(C, *spatial)`` to float32."""
        block = np.asarray(block)
        shape = (-1,) + (1,) * (block.ndim - 1)
        if not self.identity and (working_dtype(block.dtype) == np.float64 or not self.finite):
            lo, scale = self.lo64, self.scale64
            wide = (block - lo.reshape(shape)) * scale.reshape(shape)
            with np.errstate(over="ignore"):  # an outlier beyond float32: Inf, then 0 below
                out = wide.astype(np.float32)
        else:
            out = block.astype(np.float32)  # always a copy: scaled in place below
            if not self.identity:
                out -= self.lo.reshape(shape) if self.lo.size > 1 else self.lo[0]
                out *= self.scale.reshape(shape) if self.scale.size > 1 else self.scale[0]
        # Integers scaled by finite statistics stay finite; only floats can hold NaN / Inf.
        if block.dtype.kind not in "biu" or not self.finite:
            finite = np.isfinite(out)
            if not finite.all():
                fill_nearest(out, finite)
        if self.clip is not None:
            np.clip(out, self.clip[0], self.clip[1], out=out)
        return out


#: The top percentiles' jump that marks hot pixels (:func:`_past_hot_top`): the high
#: percentile this many low-to-99th spans above the 99th.
HOT_TOP_JUMP = 10.0


def _past_hot_top(
    raw: np.ndarray, layout: Layout, k: int, values: np.ndarray, lo: Any, hi: Any, high: float
) -> Any:
    """Channel ``k``'s high percentile past hot pixels or a hot column, where they are
    more than the top ``100 - high`` % of the pixels and make it: a hot column of 450
    px in a 450 x 450 image was the 99.8th percentile itself, and every nucleus came to
    the network near 0 (Dice 0.12; robustness review). Only where the top jumps far above
    the 99th percentile, and on a whole image (a strided sample thins small objects,
    which the 3 x 3 median would take for specks); bright objects of 3 pixels or more
    (sparse beads) stay the high percentile. ``values``: its finite values; ``lo`` and
    ``hi``: their low and high percentiles. The jump is told by counts, not a third
    percentile (one on every normalization cost the test suite a tenth)."""
    # the 99th percentile below the bound <=> under 1 % of the values at or above it;
    # above the low percentile <=> over 1 % above it
    bound = (float(hi) + HOT_TOP_JUMP * float(lo)) / (1.0 + HOT_TOP_JUMP)
    share = 0.01 * values.size
    if np.count_nonzero(values >= bound) >= share or np.count_nonzero(values > lo) <= share:
        return hi
    plane = raw if layout.channel_axis is None else np.moveaxis(raw, layout.channel_axis, 0)[k]
    pixels = np.asarray(plane, np.float64)
    finite = np.isfinite(pixels)
    if pixels.ndim < 2 or not finite.any():
        return hi
    cleaned = despeckled(np.where(finite, pixels, float(lo)))
    return float(np.percentile(cleaned[finite], high))


class TimeNormalizers:
    """One :class:`Normalizer` per time point of a series: each time point is normalized
    as an image of its own, so a frame's labels do not depend on the others. With one
    set of statistics for the whole series, frames that photobleaching dimmed to 40 %
    of the first were segmented at Dice 0.39 (0.04 at 25 %) where each alone gave 0.98,
    and a frame's labels changed when another frame was brighter (time series bashes,
    2026-12-06). ``position``: the time axis's place among the layout's leading axes."""

    def __init__(self, normalizers: list[Normalizer], position: int, whole: Normalizer) -> None:
        self.normalizers, self.position = list(normalizers), int(position)
        #: the whole series' statistics (a time point without finite values takes them)
        self.whole = whole
        self.flat = all(n.flat for n in self.normalizers)

    def at(self, lead: tuple[int, ...]) -> Normalizer:
        """The statistics of the time point of leading index ``lead``."""
        return self.normalizers[lead[self.position]]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        raise TypeError("A series' statistics depend on the time point: use .at(lead).")

    @classmethod
    def from_series(
        cls,
        image: Any,
        layout: Layout,
        frame_layout: Layout,
        time_axis: int,
        params: dict[str, Any] | None = None,
    ) -> TimeNormalizers:
        """The statistics of each time point of ``image`` (``time_axis``, one of the
        layout's leading axes; ``frame_layout``: the layout of one time point kept as a
        length-1 axis). The whole series' NaN / Inf policy applies first (one warning,
        or the refusal of a series without finite values); a time point without finite
        values takes the whole series' statistics."""
        from .margins import window

        whole = Normalizer.from_image(image, layout, params)
        n = int(image.shape[time_axis])
        # each time point's sample a share of the budget, a 16th of it at least (a
        # thousand frames of 2 M samples each took minutes of percentiles)
        budget = max(MAX_STAT_SAMPLES // max(n, 1), MAX_STAT_SAMPLES // 16)
        frames = []
        for t in range(n):
            index = tuple(
                slice(t, t + 1) if a == time_axis else slice(None) for a in range(len(image.shape))
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonFiniteWarning)  # said once, above
                try:
                    frames.append(
                        Normalizer.from_image(window(image, index), frame_layout, params, budget)
                    )
                except ValueError:  # no finite value in this time point
                    frames.append(whole)
        return cls(frames, layout.leading_axes.index(time_axis), whole)


#: A resampled image whose percentile span is this many times its original's takes the
#: original's statistics (:func:`of_resampled`); hot pixels widen it a hundredfold.
WIDER_SPAN = 1.1


def of_resampled(
    resampled: Normalizer | TimeNormalizers, original: Normalizer | TimeNormalizers
) -> Normalizer | TimeNormalizers:
    """The statistics to scale a resampled image by, per channel and per time point: its
    own, unless resampling widened its percentile span, where a few hot pixels were
    spread over more than the top (or, swapped, the bottom) percentiles (0.1% at 65535:
    the 99.8th percentile went from 230 to 11,000, and every nucleus came to the network
    near 0: Dice 0.93 -> 0.003); then the original's. Shrunk, a noisy image's spread
    narrows, and its own fit it (Dice 0.87 where the original's gave 0.84; robustness
    bash). Chosen for each frame of a series and each channel: a hot frame or channel
    set the others' (review)."""
    if isinstance(resampled, TimeNormalizers) and isinstance(original, TimeNormalizers):
        pairs = zip(resampled.normalizers, original.normalizers, strict=True)
        frames = [of_resampled(new, old) for new, old in pairs]
        whole = of_resampled(resampled.whole, original.whole)
        return TimeNormalizers(frames, resampled.position, whole)  # type: ignore[arg-type]
    if isinstance(resampled, TimeNormalizers) or isinstance(original, TimeNormalizers):
        return original  # (not made by this package: one layout is a series, one not)
    lo_new, hi_new, clip = resampled.statistics()
    lo_old, hi_old, _ = original.statistics()
    if len(lo_new) != len(lo_old):
        return resampled
    wider = [
        abs(hn - ln) > WIDER_SPAN * abs(ho - lo)
        for ln, hn, lo, ho in zip(lo_new, hi_new, lo_old, hi_old, strict=True)
    ]
    if not any(wider):
        return resampled
    if all(wider):
        return original
    lo = [old if w else new for w, new, old in zip(wider, lo_new, lo_old, strict=True)]
    hi = [old if w else new for w, new, old in zip(wider, hi_new, hi_old, strict=True)]
    return Normalizer(np.asarray(lo), np.asarray(hi), clip=None if clip is None else tuple(clip))


def fill_nearest(out: np.ndarray, finite: np.ndarray) -> None:
    """NaN / Inf pixels of a block ``(K, *spatial)`` (channels, or any leading axes made
    one) take the value of the nearest finite pixel of their ``K`` (0 where one has
    none), in place: filled with one value (the low
    percentile's), a NaN region outside the anatomy was a dark box whose edge the model
    marked (a NIfTI with NaN around a brain: 1956 false positives, 54 with a fill at the
    background; NIfTI bug bash). The edge of a NaN region then reads as an image border
    does to the model: the values carry on."""
    from scipy import ndimage

    for c in range(out.shape[0]):
        bad = ~finite[c]
        if not bad.any():
            continue
        if bad.all():
            out[c] = 0.0
            continue
        nearest = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        out[c] = out[c][tuple(nearest)]


#: Operations of the ``"ops"`` normalization mode (bioimage.io preprocessing, in order).
OPS = (
    "scale_range",
    "zero_mean_unit_variance",
    "fixed_zero_mean_unit_variance",
    "scale_linear",
    "clip",
)


def _per_channel(value: Any, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    return np.broadcast_to(arr, (n,)).copy() if arr.size in (1, n) else arr[:n]


def _from_ops(sample: np.ndarray, ops: list[dict[str, Any]]) -> Normalizer:
    """A :class:`Normalizer` equal to a chain of affine operations and a final clip.

    ``sample``: ``(C, N)`` values of the image. Each operation's statistics are taken on
    the sample as transformed by the operations before it, per channel when
    ``per_channel`` (bioimage.io: the channel axis is not among the reduced axes),
    else over all channels. Only ``clip`` may end the chain (it is not affine).
    """
    n = sample.shape[0]
    finite = np.where(np.isfinite(sample), sample, np.nan).astype(np.float64)
    gain, offset = np.ones(n), np.zeros(n)
    clip = None
    for i, op in enumerate(ops):
        kind = op["op"]
        if clip is not None:
            raise ValueError(f"Preprocessing {kind!r} after 'clip' is not supported.")
        y = finite * gain[:, None] + offset[:, None]
        rows = y if op.get("per_channel", True) else y.reshape(1, -1)
        if kind == "scale_range":
            lo = np.nanpercentile(rows, op["low"], axis=1)
            hi = np.nanpercentile(rows, op["high"], axis=1)
            sub, div = lo, hi - lo + op.get("eps", 1e-6)
        elif kind == "zero_mean_unit_variance":
            sub, div = np.nanmean(rows, axis=1), np.nanstd(rows, axis=1) + op.get("eps", 1e-6)
        elif kind == "fixed_zero_mean_unit_variance":
            sub = _per_channel(op["mean"], n)
            div = _per_channel(op["std"], n) + op.get("eps", 1e-6)
        elif kind == "scale_linear":
            sub = -_per_channel(op["offset"], n) / _per_channel(op["gain"], n)
            div = 1.0 / _per_channel(op["gain"], n)
        elif kind == "clip":
            clip = (op.get("min"), op.get("max"))
            continue
        else:
            raise ValueError(f"Unknown preprocessing operation {kind!r} (step {i + 1}).")
        sub = np.nan_to_num(_per_channel(sub, n))
        div = _per_channel(div, n)
        gain, offset = gain / div, (offset - sub) / div
    lo = -offset / gain
    return Normalizer(lo, lo + 1.0 / gain, clip=clip)
