"""Object size: measure it, and rescale images to the size a model was trained for.

A U-Net sees a fixed field of view, so it works best when objects have the size it was
trained on. A model file records that size (:data:`ObjectSize` in ``bundle.object_size``);
prediction measures the objects of the new image, resamples the image so its objects
match, predicts, and brings the result back to the image grid exactly.

**Diameter** here is always the *inscribed* in-plane diameter in pixels of the last
(X) axis (where Y pixels are of another size, distances along Y count in X pixels): twice the largest in-plane distance from an object's inside to its outside.
For a disk of radius r it is 2r; for an ellipse, twice its short semi-axis. It is
measured in the (Y, X) plane only, so Z sampling and the dim caps of nuclei in a stack
do not bias it; the Z factor comes from the pixel size (``spacing``). It is robust to
touching objects (two merged disks keep the radius of one) and cheap: one Otsu mask, one
distance transform.

Functions
---------
- :func:`diameters_of_mask` / :func:`size_from_labels`: sizes of given objects.
- :func:`estimate_object_size`: sizes of the bright objects of an image (Otsu mask).
- :func:`scale_factors`: per-axis resampling factors from an image to a model's grid.
- :func:`resample`: float32 linear (or nearest) resampling to an exact shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage

from .guards import finite_policy
from .holes import holes_filled, plane_cross
from .normalize import (
    despeckled,
    fill_nearest,
    hematoxylin,
    looks_brightfield,
    strided_sample,
    working_dtype,
)

#: Largest number of voxels the estimator reads; bigger images are strided in Y/X.
MAX_ESTIMATE_VOXELS = 2**23
#: Resampling factors are kept within these bounds (memory and sanity).
MIN_FACTOR, MAX_FACTOR = 1.0 / 16.0, 4.0
#: Factors this close to 1 are treated as 1 (no resampling, no interpolation blur).
FACTOR_TOLERANCE = 0.1
#: Contrast (object minus background mean, in background standard deviations of the
#: smoothed image) below which an image is considered to hold no objects.
MIN_CONTRAST = 3.0
#: Why :func:`estimate_object_size` found no objects in an image of some contrast.
NO_BRIGHT_OBJECTS = "no distinct bright objects were found"
#: An object of at most this many discs of its own (inscribed) diameter is compact: a
#: round object or a small clump, not a web (:attr:`SizeEstimate.compact`).
COMPACT_AREAS = 4.0
#: Objects whose depth (in planes) the Z step is measured from, at least.
MIN_Z_OBJECTS = 3


@dataclass
class SizeEstimate:
    """A measured object size.

    Attributes
    ----------
    diameter : float or None
        Median inscribed diameter in X pixels; None when no objects were found.
    n_objects : int
        How many objects were measured.
    reason : str
        One sentence on how it was measured, or why it could not be.
    z_step : float or None
        For a stack: the Z step in X pixels that makes its objects as deep as they are
        wide (see :func:`z_step_of_mask`); None for a plane or too few whole objects.
    compact : float
        The share of the measured objects' area in compact ones (at most
        :data:`COMPACT_AREAS` discs of their own diameter; in a stack, on its middle
        plane): round objects and small clumps, not a web between them.
    cover : float or None
        The share of the image above the threshold (None where none was taken).
    planes : tuple or None
        The strided copy measured and its Y/X stride, for a second measure of the same
        image (``estimate_object_size(..., planes=)``) without reading it again.
    """

    diameter: float | None
    n_objects: int
    reason: str
    z_step: float | None = None
    compact: float = 1.0
    cover: float | None = None
    planes: tuple[np.ndarray, int] | None = field(default=None, repr=False, compare=False)
    time_point: int | None = None
    #: The dark objects' measure of the same planes where one was made already (a series'
    #: middle frame without bright objects), for the caller's look for them (review).
    dark_estimate: SizeEstimate | None = field(default=None, repr=False, compare=False)


def _unit_spacing(spacing: Any, ndim: int) -> np.ndarray:
    """Spacing relative to the last axis (X = 1); ones when unknown."""
    if spacing is None:
        return np.ones(ndim)
    s = np.asarray(spacing, dtype=float).reshape(-1)[-ndim:]
    if s.size < ndim:
        s = np.concatenate([np.ones(ndim - s.size), s])
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        return np.ones(ndim)
    return s / s[-1]


@dataclass
class _Objects:
    """The connected objects of a mask: labels, and per object (index 0: background) its
    largest in-plane distance to the outside and its number of pixels."""

    labels: np.ndarray
    radius: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, y_ratio: float = 1.0) -> _Objects:
        """``y_ratio``: the Y pixel's size in X pixels (distances are in X pixels)."""
        lab, n = ndimage.label(mask)
        dist = _in_plane_distance(mask, y_ratio)
        # Each object's largest distance (a scatter-max over its pixels only: much faster
        # than ndimage.maximum's sort of the whole image).
        radius = np.zeros(n + 1)
        np.maximum.at(radius, lab[mask], dist[mask])
        sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
        return cls(lab, radius, sizes)


def diameters_of_mask(
    mask: np.ndarray,
    exclude_border: bool = True,
    return_sizes: bool = False,
    objects: _Objects | None = None,
    spacing: Any = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Inscribed in-plane diameters (X pixels) of the connected objects of a mask.

    Parameters
    ----------
    mask : ndarray of bool
        (Y, X) or (Z, Y, X); objects are its connected components (face connectivity).
    exclude_border : bool
        Leave out objects cut by the Y/X border of the image when at least three others
        remain (a cut object looks smaller or larger than it is).

    return_sizes : bool
        Also return each object's number of pixels.
    objects : optional
        The mask's objects when already measured (``_Objects.of(mask)``).
    spacing : sequence of float, optional
        The pixel size per axis (any unit); only Y's relative to X's is used, so
        objects on non-square pixels are measured in X pixels.

    Returns
    -------
    ndarray
        One diameter per object (may be empty), and the sizes with ``return_sizes``.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return (np.zeros(0), np.zeros(0)) if return_sizes else np.zeros(0)
    objects = _Objects.of(mask, y_ratio(spacing)) if objects is None else objects
    lab = objects.labels
    radius, sizes = objects.radius[1:], objects.sizes[1:]
    if exclude_border:
        border = np.zeros(mask.shape, bool)
        border[..., 0, :] = border[..., -1, :] = True
        border[..., :, 0] = border[..., :, -1] = True
        cut = np.unique(lab[border & mask])
        keep = ~np.isin(np.arange(1, radius.size + 1), cut)
        if keep.sum() >= 3:
            radius, sizes = radius[keep], sizes[keep]
    return (2.0 * radius, sizes) if return_sizes else 2.0 * radius


def _in_plane_distance(mask: np.ndarray, y_ratio: float = 1.0) -> np.ndarray:
    """Distance (in X pixels; a Y pixel is ``y_ratio`` of them) of each pixel of ``mask``
    to the nearest outside pixel of its own Y/X plane (a plane without any outside
    pixel: as if the plane's border were outside)."""
    planes = mask.reshape((-1,) + mask.shape[-2:])
    out = np.zeros(planes.shape, np.float64)
    sampling = (y_ratio, 1.0)
    for i, plane in enumerate(planes):
        if plane.all():
            plane = np.pad(plane, 1, constant_values=False)
            out[i] = ndimage.distance_transform_edt(plane, sampling)[1:-1, 1:-1]
        elif plane.any():
            out[i] = ndimage.distance_transform_edt(plane, sampling)
    return out.reshape(mask.shape)


def y_ratio(spacing: Any) -> float:
    """The Y pixel's size in X pixels from a pixel size per axis (Y, X last); 1 when it
    is not known. Objects on non-square pixels were measured in Y pixels and used as X
    pixels: 10 px for 20, the image enlarged twice too much (object-size bug bash)."""
    if spacing is None:
        return 1.0
    s = np.asarray(spacing, dtype=float).reshape(-1)
    if s.size < 2 or not np.all(np.isfinite(s[-2:])) or np.any(s[-2:] <= 0):
        return 1.0
    return float(s[-2] / s[-1])


def size_from_labels(labels: Any, spacing: Any = None) -> SizeEstimate:
    """Area-weighted median inscribed diameter (X pixels) of the objects of a label image.

    Instance labels (touching objects with different ids) are separated by a one-pixel
    seam first, so touching objects are measured one by one. ``spacing``: the pixel
    size per axis, if known (see :func:`diameters_of_mask`).
    """
    lab = np.asarray(labels)
    if lab.size == 0 or not np.any(lab > 0):
        return SizeEstimate(None, 0, "the labels hold no objects")
    fg = lab > 0
    seam = np.zeros_like(fg)
    for axis in (-1, -2):
        a = np.swapaxes(lab, axis, -1)
        s = np.swapaxes(seam, axis, -1)
        diff = (a[..., 1:] != a[..., :-1]) & (a[..., 1:] > 0) & (a[..., :-1] > 0)
        s[..., 1:] |= diff
    d, area = diameters_of_mask(fg & ~seam, return_sizes=True, spacing=spacing)
    keep = d >= 2.0
    if not keep.any():
        return SizeEstimate(None, 0, "the labelled objects are too small to measure")
    n = int(keep.sum())
    return SizeEstimate(
        weighted_median(d[keep], area[keep]), n, f"area-weighted median of {n} labelled objects"
    )


def _plane_stack(
    image: Any, channel_axis: int | None, time_axis: int | None = None, time_point: Any = None
) -> tuple[np.ndarray, int]:
    """A float32 (Z, Y, X) or (Y, X) copy of the image for measuring, and its Y/X stride.

    Channels become one (the mean of the percentile-normalized channels); axes before
    the last three, and the ``time_axis`` (of ``image``), are sampled at their middle
    (the time axis at ``time_point`` when given); Y/X are strided so the copy holds at
    most :data:`MAX_ESTIMATE_VOXELS`.
    """
    shape = tuple(image.shape)
    c = channel_axis % len(shape) if channel_axis is not None else None
    t = time_axis % len(shape) if time_axis is not None else None
    axes = [a for a in range(len(shape)) if a not in (c, t)]
    keep = axes[-3:]
    spatial = [shape[a] for a in keep]
    step = max(1, math.ceil(math.sqrt(math.prod(spatial) / MAX_ESTIMATE_VOXELS)))
    idx: list[Any] = [slice(None)] * len(shape)
    for a in [*axes, *([] if t is None else [t])]:
        if a not in keep:
            idx[a] = shape[a] // 2
    if t is not None and time_point is not None:
        idx[t] = int(time_point)
    for a in keep[-2:]:
        idx[a] = slice(None, None, step)
    raw = np.asarray(image[tuple(idx)])
    arr = raw.astype(working_dtype(raw.dtype), copy=False)
    if c is not None and shape[c] in (3, 4):
        rgb = np.moveaxis(raw, sum(1 for a in range(c) if not isinstance(idx[a], int)), -1)
        if looks_brightfield(np.stack([strided_sample(rgb[..., k]) for k in range(3)], -1)):
            # stained brightfield: nuclei dark on white, so measured on the hematoxylin
            # channel as a one-channel model sees them (a colour model measured the gaps
            # between nuclei, 6 px for 15-25; RGB bug bash)
            return np.asarray(hematoxylin(rgb[..., :3]), np.float32), step
    if c is not None:
        arr = np.moveaxis(arr, sum(1 for a in range(c) if not isinstance(idx[a], int)), 0)
        flat = arr.reshape(arr.shape[0], -1)
        lo = np.nanpercentile(flat, 1, axis=1)
        span = np.nanpercentile(flat, 99.8, axis=1) - lo
        span = np.where(span > 0, span, 1.0)
        bshape = (-1,) + (1,) * (arr.ndim - 1)
        arr = ((arr - lo.reshape(bshape)) / span.reshape(bshape)).mean(0)
    elif arr.dtype == np.float64 or _far_from_one(arr):
        # scaled first, as float32 may overflow or round it away (float64), and smoothing
        # overflows at 1e34 or loses 1e-30 to underflow (float32 images in any unit;
        # array bug bash: no objects found at 1e20 or 1e-30 times an image)
        arr = arr.astype(np.float64)
        finite = arr[np.isfinite(arr)]
        if finite.size:
            lo, hi = np.percentile(finite, [1, 99.8])
            arr = (arr - lo) / (hi - lo if hi > lo else 1.0)
    with np.errstate(over="ignore"):  # outliers beyond float32 become Inf, left out below
        return arr.astype(np.float32), step


def _far_from_one(arr: np.ndarray) -> bool:
    """Whether a float32 image's values lie where its smoothing and statistics lose them:
    magnitudes beyond 1e15 (squares overflow) or a range below 1e-15 (underflow)."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return False
    sample = strided_sample(arr)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return False
    top = float(np.max(np.abs(finite)))
    return top > 1e15 or 0 < float(finite.max() - finite.min()) < 1e-15


def estimate_object_size(
    image: Any,
    channel_axis: int | None = None,
    time_axis: int | None = None,
    spacing: Any = None,
    dark: bool = False,
    planes: tuple[np.ndarray, int] | None = None,
) -> SizeEstimate:
    """Estimate the median inscribed diameter (X pixels) of the bright objects of an image.

    Smooths the image (sigma 1 px in Y/X), thresholds it with Otsu's method, fills holes,
    drops specks, and measures the objects with :func:`diameters_of_mask`. Z stacks are
    measured in 3D (objects are 3D components, their diameter the widest plane's).

    Parameters
    ----------
    image : array-like
        Any array with the spatial axes last (a channel axis allowed); numpy, zarr, dask.
        Large images are read strided; the last three non-channel axes are measured.
    channel_axis : int, optional
        The channel axis, if any.
    time_axis : int, optional
        The axis of time points (of ``image``): its middle time point is measured. A
        (T, Y, X) series was measured as a volume, and nuclei that moved between frames
        were cut into slivers: 5.7 px for 27 px (fine-tune bug bash).
    spacing : sequence of float, optional
        The pixel size per spatial axis (any unit): with Y pixels of another size than
        X pixels, objects are measured (and smoothed) in X pixels.
    dark : bool
        Measure the dark objects on a bright background instead (the image inverted).
    planes : tuple, optional
        :attr:`SizeEstimate.planes` of an earlier measure of this image (with the same
        ``channel_axis`` and ``time_axis``): not read again (a lazy image was read twice
        to look for dark objects; review).

    With a ``time_axis``, a middle time point without objects (an empty or out-of-focus
    frame) gives way to a few others, the first that shows objects measured
    (:attr:`SizeEstimate.time_point`): an empty middle frame gave a whole movie of 2,300
    nuclei the model's own size (time-lapse bash).

    Returns
    -------
    SizeEstimate
        ``diameter`` None when the image shows no objects (no contrast, or nothing left
        after the cleanup), with the reason.
    """
    n = 1 if time_axis is None else int(image.shape[time_axis])
    if planes is not None or n < 2:
        planes = planes or _plane_stack(image, channel_axis, time_axis)
        return replace(_estimate_planes(*planes, spacing, dark), planes=planes)
    first = None
    for t in _time_points_to_measure(n):
        stack = _plane_stack(image, channel_axis, time_axis, t)
        est = replace(_estimate_planes(*stack, spacing, dark), planes=stack, time_point=t)
        if est.diameter is not None:
            return est
        if first is None:
            first = est  # none shows objects: the middle one's answer
            if not dark:
                darker = replace(_estimate_planes(*stack, spacing, True), planes=stack)
                first = replace(est, dark_estimate=darker)
                if darker.diameter is not None:
                    # dark objects on a bright background: the middle one's, for the
                    # caller's look for them (other frames' specks were measured; review)
                    return first
    return first


#: Time points measured at most when the earlier ones show no objects.
MAX_TIME_POINTS = 5


def _time_points_to_measure(n: int) -> list[int]:
    """The middle time point of ``n``, then a few spread over the series."""
    points = [n // 2, n // 4, (3 * n) // 4, 0, n - 1]
    return list(dict.fromkeys(points))[:MAX_TIME_POINTS]


def _estimate_planes(arr: np.ndarray, step: int, spacing: Any, dark: bool) -> SizeEstimate:
    """:func:`estimate_object_size` of its strided copy (not written to)."""
    if dark:
        arr = -arr
    finite = np.isfinite(arr)
    if not finite.any():
        return SizeEstimate(None, 0, "the image has no finite pixels")
    # In float64 from the darkest value: a float32 image of 1e7 + its contrast had no 256
    # distinct bins for Otsu's threshold, and numpy refused (robustness bash).
    arr = np.asarray(arr, np.float64) - float(arr[finite].min())
    if not finite.all():
        arr = np.where(finite, arr, _background_level(arr[finite]))
    arr = despeckled(arr)
    ry = y_ratio(spacing)
    est = _past_bright_few(arr, _two_passes(arr, ry), ry)
    if est.diameter is None:
        return est
    z_step = None if est.z_step is None else est.z_step * step
    return replace(est, diameter=est.diameter * step, z_step=z_step)


def _two_passes(arr: np.ndarray, ry: float) -> SizeEstimate:
    """A fine smoothing finds the objects, a second one at a tenth of their size merges
    texture (nucleoli, chromatin spots) into whole objects."""
    first = _measure(arr, 1.0, ry)
    if first.diameter is None or first.diameter < 20:
        return first
    est = _measure(arr, first.diameter / 10.0, ry)
    return first if est.diameter is None else est


#: Objects found at most to look past them for dimmer ones (:func:`_past_bright_few`),
#: the dimmer ones needed at least, and how many times brighter the few must be.
FEW_OBJECTS, MANY_OBJECTS, MUCH_BRIGHTER = 2, 10, 3.0


def _past_bright_few(arr: np.ndarray, est: SizeEstimate, ry: float) -> SizeEstimate:
    """The objects dimmer than one or two very bright ones, where many are found: one
    debris blob ten times as bright as a real image's nuclei (2 % of its pixels, more
    than the 99th percentile's share) was "the one object above Otsu's threshold", 86 px
    for 27, and the image was shrunk 0.3 times (Dice 0.93 -> 0.63; 0.89 -> 0.20 on
    another; robustness bash). One bright object among dimmer specks it is not."""
    if est.diameter is None or est.n_objects > FEW_OBJECTS:
        return est
    smooth, mask = _otsu_mask(arr, 1.0, ry)
    if not mask.any() or mask.all():
        return est
    background = float(np.median(smooth[~mask]))
    rest = np.where(ndimage.binary_dilation(mask, iterations=2), background, arr)
    again = _two_passes(rest, ry)
    if again.diameter is None or again.n_objects < MANY_OBJECTS:
        return est
    smooth_rest, dimmer = _otsu_mask(rest, 1.0, ry)
    if not dimmer.any() or dimmer.all():
        return est
    bright = float(np.median(smooth[mask])) - background
    dim = float(np.median(smooth_rest[dimmer])) - background
    noise = float(np.std(smooth_rest[~dimmer]))
    # dimmer objects, not noise the lower threshold let through (887 specks beside one
    # nucleus and a few puncta), and as much of the image as the few (two nuclei of 80
    # px beside 30 small dim ones are the objects; review)
    if dim < MIN_CONTRAST * noise or dimmer.sum() < mask.sum():
        return est
    if bright < MUCH_BRIGHTER * dim:
        return est
    few = "one much brighter object" if est.n_objects == 1 else "two much brighter objects"
    return replace(again, reason=f"{again.reason}, {few} left out")


def _background_level(values: np.ndarray) -> float:
    """The value NaN / Inf pixels are measured at: background (the policy: their labels
    are 0), the median of the finite values below their Otsu threshold (of the negated
    values, for dark objects: the bright background's). The median of all made a masked
    MR volume's outside a bright background around dark ventricles, said to be dark
    objects to invert for (medical bash); the darkest value, or the 1st percentile, set
    the NaN apart from the rest beside a few dead pixels, and the whole image was one
    object (reviews)."""
    from skimage.filters import threshold_otsu

    if float(values.max()) <= float(values.min()):
        return float(values.min())
    return float(np.median(values[values <= threshold_otsu(values)]))


def _otsu_mask(arr: np.ndarray, sigma_px: float, ry: float) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed image and its pixels above Otsu's threshold (none of a constant one)."""
    from skimage.filters import threshold_otsu

    smooth = ndimage.gaussian_filter(arr, (0.0,) * (arr.ndim - 2) + (sigma_px / ry, sigma_px))
    if float(smooth.max() - smooth.min()) <= 0:
        return smooth, np.zeros(smooth.shape, bool)
    # Otsu's threshold of the intensities up to their 99th percentile: a few very bright
    # objects (mitotic nuclei, debris) would otherwise take the threshold for themselves
    # and be the only objects measured (a real nuclei image: 5 objects, 51 px, where 40
    # objects give 71 px and its nuclei are about 75 px across)
    # (raveled: scikit-image warns that a volume whose last axis has 3 or 4 planes
    # "looks like that of an RGB image", which reached the user; NIfTI bug bash)
    return smooth, smooth > threshold_otsu(np.minimum(smooth, np.percentile(smooth, 99)).ravel())


def _measure(arr: np.ndarray, sigma_px: float, ry: float = 1.0) -> SizeEstimate:
    """One pass of :func:`estimate_object_size` at a given in-plane smoothing (X pixels;
    ``ry``: the Y pixel's size in X pixels)."""
    smooth, mask = _otsu_mask(arr, sigma_px, ry)
    if not mask.any() and float(smooth.max() - smooth.min()) <= 0:
        return SizeEstimate(None, 0, "the image is constant")
    cover = float(mask.mean())
    fg, bg = smooth[mask], smooth[~mask]
    if fg.size == 0 or bg.size == 0:
        return SizeEstimate(None, 0, "the image has no contrast")
    contrast = (float(fg.mean()) - float(bg.mean())) / max(float(bg.std()), 1e-12)
    if contrast < MIN_CONTRAST or mask.mean() > 0.7:
        return SizeEstimate(None, 0, NO_BRIGHT_OBJECTS)
    filled = holes_filled(mask)
    # a bright frame (a saturated border around a registered image) holds the whole
    # image as its "hole": filled, it was the one object (1004 px; the image shrunk
    # 16 times); unfilled, the frame is an object cut by the border, left out
    mask = filled if filled.mean() <= 0.7 else mask
    return _objects_of(mask, ry, cover)


def _objects_of(mask: np.ndarray, ry: float, cover: float) -> SizeEstimate:
    """The measure of the objects of an Otsu mask (opened, then measured)."""
    mask = ndimage.binary_opening(mask, structure=plane_cross(mask.ndim))
    objects = _Objects.of(mask, ry)
    d, area = diameters_of_mask(mask, return_sizes=True, objects=objects)
    keep = d >= 3.0
    if not keep.any():
        return SizeEstimate(None, 0, "no objects of at least 3 pixels were found")
    diameter = weighted_median(d[keep], area[keep])
    n = int(keep.sum())
    how = "the one object" if n == 1 else f"area-weighted median of {n} objects"
    z_step = z_step_of_mask(mask, objects) if mask.ndim == 3 else None
    compact = _compact_share(mask, ry, objects if mask.ndim == 2 else None)
    return SizeEstimate(diameter, n, f"{how} above Otsu's threshold", z_step, compact, cover)


def _compact_share(mask: np.ndarray, ry: float, objects: _Objects | None = None) -> float:
    """:attr:`SizeEstimate.compact` of a mask (a stack's middle plane); ``objects``: a
    plane's objects when already measured."""
    plane = mask if mask.ndim == 2 else mask[mask.shape[0] // 2]
    objects = _Objects.of(plane, ry) if objects is None else objects
    d, area = 2.0 * objects.radius[1:], objects.sizes[1:] * ry  # in X pixels
    measured = d >= 3.0
    if not measured.any():
        return 1.0
    compact = area <= COMPACT_AREAS * math.pi / 4.0 * d**2
    return float(area[measured & compact].sum() / area[measured].sum())


def z_step_of_mask(mask: np.ndarray, objects: _Objects | None = None) -> float | None:
    """The Z step (in X pixels) at which the objects of a stack are as deep as they are wide.

    For each object (3D component) not cut by the top or bottom of the stack (nor by its
    Y/X border, when enough others remain), its inscribed in-plane diameter divided by
    the number of planes it spans;
    the area-weighted median of these ratios. Round objects imaged with a Z step of
    ``s`` pixels span about ``diameter / s`` planes, so this is ``s``; the axial blur of
    a microscope lengthens them in Z, so it reads low (synthetic stacks: about 0.8 of the
    true step). None with fewer than :data:`MIN_Z_OBJECTS` whole objects. ``objects``:
    the mask's objects when already measured.
    """
    objects = _Objects.of(np.asarray(mask, bool)) if objects is None else objects
    radius, area = objects.radius, objects.sizes
    whole, inside = [], []  # (ratio, area): objects not cut in Z / not cut at all
    for i, box in enumerate(ndimage.find_objects(objects.labels), 1):
        if box is None or radius[i] < 1.5:
            continue
        if box[0].start == 0 or box[0].stop == mask.shape[0]:
            continue  # cut by the top or bottom of the stack: its depth is not its own
        item = (2.0 * radius[i] / (box[0].stop - box[0].start), area[i])
        whole.append(item)
        if all(0 < b.start and b.stop < size for b, size in zip(box[1:], mask.shape[1:])):
            inside.append(item)
    # Objects cut at the Y/X border look narrower; leave them out when enough remain.
    use = inside if len(inside) >= MIN_Z_OBJECTS else whole
    if len(use) < MIN_Z_OBJECTS:
        return None
    ratios, weights = np.asarray(use).T
    return weighted_median(ratios, weights)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the total weight lies."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


def scale_factors(
    image_diameter: float,
    model_diameter: float,
    spatial_dims: int,
    spacing: Any = None,
    model_spacing: Any = None,
    shrink_exponent: float = 1.0,
) -> tuple[float, ...]:
    """Per-axis resampling factors (new size / old size) from an image to a model's grid.

    Parameters
    ----------
    image_diameter : float
        The image's object diameter in X pixels.
    model_diameter : float
        The diameter the model was trained for, in its X pixels.
    spatial_dims : int
        2 or 3 (the model's).
    spacing : sequence of float, optional
        The image's pixel size per spatial axis (any unit; only ratios matter).
    model_spacing : sequence of float, optional
        The relative pixel size of the model's training grid (``(1, 1, 1)`` for an
        isotropic 3D model; ``(2, 1, 1)`` for one trained on a stack with a Z step of
        twice the pixel size).
    shrink_exponent : float
        How far objects larger than the model's are shrunk: the in-plane factor is
        ``(model_diameter / image_diameter) ** shrink_exponent`` when that is below 1
        (1: all the way to the model's size; smaller: less, so large objects keep more
        pixels across their outlines). Objects smaller than the model's are always
        enlarged all the way.

    Returns
    -------
    tuple of float
        One factor per spatial axis, clipped to [:data:`MIN_FACTOR`, :data:`MAX_FACTOR`];
        factors within :data:`FACTOR_TOLERANCE` of 1 become exactly 1.
    """
    if not image_diameter or image_diameter <= 0 or not model_diameter or model_diameter <= 0:
        raise ValueError("Object sizes must be positive numbers.")
    s = _unit_spacing(spacing, spatial_dims)
    m = _unit_spacing(model_spacing, spatial_dims)
    if not 0 < shrink_exponent <= 1:
        raise ValueError(f"shrink_exponent must be in (0, 1], got {shrink_exponent!r}.")
    xy = model_diameter / image_diameter
    if xy < 1:
        xy = xy**shrink_exponent
    factors = []
    for axis in range(spatial_dims):
        f = xy * s[axis] / m[axis]
        f = min(max(f, MIN_FACTOR), MAX_FACTOR)
        factors.append(1.0 if abs(f - 1.0) <= FACTOR_TOLERANCE else float(f))
    return tuple(factors)


def scaled_shape(shape: tuple[int, ...], factors: tuple[float, ...]) -> tuple[int, ...]:
    """The shape of the last ``len(factors)`` axes of ``shape`` after resampling."""
    n = len(factors)
    lead = tuple(shape[: len(shape) - n])
    return lead + tuple(max(1, int(round(s * f))) for s, f in zip(shape[-n:], factors))


def checked_scale(scale: Any, dims: int) -> list[float] | None:
    """A pixel size per axis as floats (napari's negative sizes, flipped axes, as their
    sizes), or one sentence: not numbers, fewer values than the model's spatial axes, a
    size of 0 or not finite. The last values go with the image's last axes (a layer's
    scale may name more axes than the plane or volume given)."""
    if scale is None:
        return None
    try:
        values = [abs(float(v)) for v in scale]
    except (TypeError, ValueError):
        raise ValueError(
            f"scale must be a pixel size per axis (numbers), got {scale!r}."
        ) from None
    if len(values) < dims:
        raise ValueError(
            f"scale must give a pixel size for each of the image's last {dims} axes, got "
            f"{len(values)} value(s)."
        )
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"scale must hold positive, finite pixel sizes, got {scale!r}.")
    return values


def resample(
    array: Any,
    shape: tuple[int, ...],
    order: int = 1,
    antialias: bool = True,
    channel_axis: int | None = None,
) -> np.ndarray:
    """Resample an array to exactly ``shape`` (its trailing axes; leading axes kept).

    Linear (``order=1``) in float32 (float64 for float64 input) with a gaussian pre-filter on shrinking axes
    (``antialias``), or nearest (``order=0``) in the array's dtype, for labels.
    ``shape`` may name fewer axes than the array: they are its last axes, and a
    ``channel_axis`` is left untouched.
    """
    arr = np.asarray(array)
    moved = channel_axis is not None
    if moved:
        arr = np.moveaxis(arr, channel_axis, 0)
    n = len(shape)
    zoom = [1.0] * (arr.ndim - n) + [t / s for t, s in zip(shape, arr.shape[-n:])]
    target = tuple(arr.shape[: arr.ndim - n]) + tuple(shape)
    if order == 0:
        # Nearest: index arithmetic, exact and dtype-preserving.
        idx = [
            np.minimum(((np.arange(t) + 0.5) * s / t).astype(np.intp), s - 1)
            for s, t in zip(arr.shape, target)
        ]
        out = arr[np.ix_(*idx)]
    else:
        # float64 images stay float64 (float32 may overflow or round their values away)
        src = _finite(arr.astype(working_dtype(arr.dtype), copy=False), arr, n)
        if antialias:
            sigma = [
                s if s >= NEGLIGIBLE_SIGMA else 0.0
                for s in ((1.0 / z - 1.0) / 2.0 if z < 1 else 0.0 for z in zoom)
            ]
            if any(sigma):  # in place on a copy of the user's array (one copy less)
                own = src is not arr and not np.may_share_memory(src, arr)
                src = ndimage.gaussian_filter(src, sigma, output=src if own else None)
        out = _zoom_linear(src, zoom, n)
        if out.shape != target:  # zoom rounds; guarantee the exact shape
            out = out[tuple(slice(0, t) for t in target)]
            pad = [(0, t - o) for o, t in zip(out.shape, target)]
            if any(p[1] for p in pad):
                out = np.pad(out, pad, mode="edge")
    if moved:
        out = np.moveaxis(out, 0, channel_axis)
    return out


#: A Gaussian pre-filter this narrow (a shrink by less than 1.3 x) moves no pixel by a
#: billionth of the image's range: it is left out (1.6 s of a 8192 x 8192 run for
#: nothing; overhead bash).
NEGLIGIBLE_SIGMA = 0.15

#: Up to this many spatial axes torch's interpolation enlarges an array (bilinear and
#: trilinear; its pixel mapping is ``ndimage.zoom``'s with ``grid_mode=True``).
TORCH_ZOOM_DIMS = 3


def _zoom_linear(src: np.ndarray, zoom: list[float], n: int) -> np.ndarray:
    """``src`` zoomed linearly by ``zoom`` (the pixel centres mapped, edges repeated):
    torch's interpolation where no axis shrinks and the array is float32 (5-7 x faster
    than ``ndimage.zoom``: a 100 x 512 x 512 map in 0.28 s instead of 1.3 s; overhead
    bash), else ``ndimage.zoom``. Their values agree to 1e-6 up to a few thousand pixels
    a side; torch's sampling points drift from zoom's by up to 5e-4 px at 8192 px (a
    real map enlarged to 8192 x 8192: 269 of 67 million labels differ)."""
    lead = src.ndim - n
    if (
        src.dtype != np.float32
        or not 1 <= n <= TORCH_ZOOM_DIMS
        or any(z < 1 for z in zoom)
        or any(z != 1 for z in zoom[:lead])
        or not src.size
    ):
        return ndimage.zoom(src, zoom, order=1, mode="nearest", grid_mode=True, output=src.dtype)
    import torch

    spatial = src.shape[lead:]
    size = tuple(round(s * z) for s, z in zip(spatial, zoom[lead:], strict=True))
    mode = ("linear", "bilinear", "trilinear")[n - 1]
    # (torch warns of a read-only array, a memory-mapped file's; review)
    flat = torch.from_numpy(np.require(src, requirements=("C", "W")).reshape((-1, 1, *spatial)))
    with torch.no_grad():
        grown = torch.nn.functional.interpolate(flat, size=size, mode=mode, align_corners=False)
    return grown.numpy().reshape(src.shape[:lead] + size)


def _finite(src: np.ndarray, original: np.ndarray, n: int) -> np.ndarray:
    """``src`` with its NaN / Inf pixels set to the nearest finite pixel's value along its
    last ``n`` (spatial) axes, as the normalization fills them, so that interpolation
    does not spread them (3 % of NaN pixels became 11 % after a 2x linear resample, and
    the labels around them background) and their edge is no step the model marks (the
    lowest finite value made a dark box of them). ``original`` is never written to."""
    if src.dtype.kind != "f" or original.dtype.kind not in "fc":  # (whole numbers: finite)
        return src
    bad = ~np.isfinite(src)
    if not bad.any():
        return src
    finite_policy(src)  # warns as normalization does (or refuses all-NaN images)
    if src is original or np.may_share_memory(src, original):
        src = src.copy()
    src = np.ascontiguousarray(src)  # the reshape below is a view of it
    spatial = src.shape[src.ndim - n :]
    fill_nearest(src.reshape((-1, *spatial)), ~bad.reshape((-1, *spatial)))
    return src


def resample_strokes(labels: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest resampling of sparse labels (0 unpainted) to ``shape`` that keeps every
    stroke: a painted pixel that nearest sampling skips (a 1-pixel line, strokes in one
    plane of a stack shrunk in Z) is written into the output pixel its centre falls in,
    where that pixel is still unpainted. A pixel nearest sampling kept is not written
    again (a quarter of the kept pixels were, one pixel over: strokes thickened and
    counted 457 pixels where 196 were kept; training fuzz bash)."""
    arr = np.asarray(labels)
    out = resample(arr, shape, order=0)
    # ``shape`` names the last axes (a 2D model's planes of a stack): leading ones stay
    target = tuple(arr.shape[: arr.ndim - len(shape)]) + tuple(shape)
    if all(t >= s for s, t in zip(arr.shape, target)):
        return out  # nothing shrinks: nearest sampling keeps every pixel
    painted = np.nonzero(arr)
    kept = np.ones(len(painted[0]), bool)
    for c, s, t in zip(painted, arr.shape, target):
        sampled = np.zeros(s, bool)  # the source indices resample's nearest reads
        sampled[np.minimum(((np.arange(t) + 0.5) * s / t).astype(np.intp), s - 1)] = True
        kept &= sampled[c]
    lost = tuple(c[~kept] for c in painted)
    cells = tuple(
        np.minimum(((2 * c + 1) * t) // (2 * s), t - 1).astype(np.intp)
        for c, s, t in zip(lost, arr.shape, target)
    )
    free = out[cells] == 0
    out[tuple(c[free] for c in cells)] = arr[lost][free]
    return out
