"""Writing TIFF / OME-TIFF label and image files with their pixel size, atomically.

The file is written under a temporary name in the same folder and renamed over the
target only when complete, so an existing file is never left half-overwritten;
:func:`napari_unetseg._io.read_image` reads the pixel size back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ._units import _CM_PER_UNIT, _SPATIAL, TIME_UNITS, _unit
from .core.files import atomic_write
from .core.guards import dtype_of

#: Key prefix of our provenance entries in the OME map annotation (the reader looks for it).
PROVENANCE_PREFIX = "unetseg:"


# -- writing --------------------------------------------------------------------------
def write_labels(
    path: str | os.PathLike,
    labels: Any,
    scale: tuple[float, ...] | None = None,
    axes: str | None = None,
    units: tuple[str, ...] | None = None,
    provenance: dict[str, Any] | None = None,
    affine: Any = None,
    translate: tuple[float, ...] | None = None,
    forms: dict[str, Any] | None = None,
) -> Path:
    """Write a label image as a compressed OME-TIFF, atomically (a ``.nii`` /
    ``.nii.gz`` path: a NIfTI label image on ``affine``, see
    :func:`napari_unetseg._nifti.write_nifti`).

    Labels are stored as the smallest of uint8 / uint16 / uint32 that holds them, and the
    OME channel is named "labels" so :func:`read_image` (and napari through our reader)
    opens the file as labels again, whatever its name.

    Parameters
    ----------
    path : str or path
        Output file; its folder is created when missing. An existing file is replaced
        only once the new one is completely written.
    labels : array-like
        Non-negative integer labels (numpy, dask, zarr; large non-numpy arrays are
        written plane by plane, never loaded whole).
    scale : tuple of float, optional
        Pixel size per axis, stored as OME ``PhysicalSize`` and TIFF resolution tags.
    axes : str, optional
        Axis letters (default ``YX`` / ``ZYX`` / ``TZYX`` by dimensionality, ``Q`` for
        the leading axes beyond five). Axes that OME-XML cannot describe (more than one
        unknown ``Q`` axis, say) give a plain compressed TIFF that keeps the shape and
        axes in its description, without pixel sizes or provenance: the labels are never
        lost to their metadata.
    units : tuple of str, optional
        Unit per axis (default µm for every spatial axis when any of them has a size
        other than 1, so a Z step of 1 beside X and Y of 0.32 is 1 µm, and (3, 1, 1) keeps
        its ratio; else pixels).
    provenance : dict, optional
        How the labels were made (see :mod:`napari_unetseg.provenance`): stored as an
        OME map annotation (keys ``unetseg:<key>``, JSON values) that
        :func:`read_image` returns as ``provenance``.
    affine : 4 x 4 array-like, optional
        For a NIfTI path: the image's voxel-to-world matrix (``ImageData.affine`` of a
        NIfTI input). Not used for TIFF.
    forms : dict, optional
        For a NIfTI path: the image's qform and sform with their codes
        (``ImageData.nifti_forms``), written as they are. Not used for TIFF.
    translate : tuple of float, optional
        Where the image's first pixel lies (napari's ``translate``, in ``scale``'s units),
        stored as the map annotation ``unetseg:translate`` that :func:`read_image` returns
        as ``translate`` (a NIfTI file has its affine instead).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        For negative, fractional or too large label values, or a mismatched axes/scale.
    """
    from ._nifti import NIFTI_SUFFIXES, write_nifti

    if os.fspath(path).lower().endswith(NIFTI_SUFFIXES):
        return write_nifti(
            path,
            labels,
            scale,
            affine,
            provenance,
            units,
            axes=axes,
            translate=translate,
            forms=forms,
        )
    dtype = _label_dtype(labels)
    return _write(
        path, labels, dtype, scale, axes, units, ["labels"], provenance, translate=translate
    )


def write_image(
    path: str | os.PathLike,
    image: Any,
    scale: tuple[float, ...] | None = None,
    axes: str | None = None,
    units: tuple[str, ...] | None = None,
    translate: tuple[float, ...] | None = None,
    provenance: dict[str, Any] | None = None,
    affine: Any = None,
    forms: dict[str, Any] | None = None,
    channel_names: list[str] | None = None,
) -> Path:
    """Write an intensity image (e.g. a probability map) as a compressed OME-TIFF.

    Same as :func:`write_labels` but the data type is kept (float64 becomes float32,
    enough for intensities and half the size) and ``axes`` may include ``C``/``S``.
    ``provenance`` marks a probability map as ours (a batch replaces only those);
    ``channel_names`` name the OME channels of a ``C`` axis (a class's map each). A
    ``.nii`` / ``.nii.gz`` path gets a float32 NIfTI image on ``affine`` / ``forms``
    (:func:`napari_unetseg._nifti.write_nifti`).
    """
    from ._nifti import NIFTI_SUFFIXES, write_nifti

    if os.fspath(path).lower().endswith(NIFTI_SUFFIXES):
        return write_nifti(
            path, image, scale, affine, provenance, units, axes, translate, forms, labels=False
        )
    dtype = dtype_of(image)
    if dtype == np.float64:
        dtype = np.dtype(np.float32)
    return _write(
        path, image, dtype, scale, axes, units, channel_names, provenance, translate=translate
    )


def _label_dtype(labels: Any, file_type: str = "TIFF") -> np.dtype:
    """The smallest unsigned integer type that holds ``labels`` (checked plane by plane):
    up to uint32 for TIFF and NIfTI (what viewers of those files read), uint64 for
    OME-Zarr (``file_type`` "OME-Zarr")."""
    dtype = dtype_of(labels)
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    # Small unsigned types are kept as they are; so are uint32 lazy arrays, whose maximum
    # would cost a full extra pass over the data.
    lazy = not isinstance(labels, np.ndarray)
    if dtype.kind == "u" and (dtype.itemsize <= 2 or (lazy and dtype.itemsize == 4)):
        return dtype
    lo, hi, fractional = 0, 0, False
    for plane in _planes(labels, 2):
        if plane.size:
            lo, hi = min(lo, plane.min()), max(hi, plane.max())
            fractional = fractional or (dtype.kind == "f" and bool(np.any(plane % 1)))
    if dtype.kind not in "iuf" or fractional:
        raise ValueError(f"Labels must be whole numbers; got data of type {dtype}.")
    if lo < 0:
        raise ValueError(f"Labels must be non-negative; the smallest value is {lo}.")
    candidates = [np.uint8, np.uint16, np.uint32] + [np.uint64] * (file_type == "OME-Zarr")
    for candidate in candidates:
        if hi <= np.iinfo(candidate).max:
            return np.dtype(candidate)
    raise ValueError(
        f"Labels above 2**32 - 1 (the largest is {hi}) cannot be written to {file_type}; "
        "save them as OME-Zarr (.ome.zarr), which holds 64-bit labels."
    )


def _planes(data: Any, page_ndim: int) -> Iterator[np.ndarray]:
    """The array's 2D pages (3D with trailing RGB samples), read one at a time."""
    shape = tuple(data.shape)
    if len(shape) <= page_ndim:
        yield np.asarray(data)
        return
    for idx in np.ndindex(*shape[:-page_ndim]):
        yield np.asarray(data[idx])


def _default_axes(ndim: int) -> str:
    defaults = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TZCYX"}
    if ndim < 2:
        raise ValueError(f"Cannot write a {ndim}-dimensional image to TIFF (2 axes or more).")
    return defaults.get(ndim, "Q" * (ndim - 2) + "YX")


def _timed(axes: str, units: tuple[str, ...] | None) -> str:
    """Default axes where one axis's unit is a time unit: that axis is T (a time series
    saved without axis names is TYX, not a Z stack whose pixels measure seconds)."""
    if units is None or len(units) != len(axes) or "T" in axes:
        return axes
    timed = [i for i, u in enumerate(units) if _unit(u) in TIME_UNITS]
    if len(timed) != 1 or axes[timed[0]] not in "ZQ":
        return axes
    return axes[: timed[0]] + "T" + axes[timed[0] + 1 :]


def _ome_holds(shape: tuple[int, ...], axes: str, dtype: np.dtype, page_ndim: int) -> bool:
    """Whether OME-XML can describe an image of these axes (tifffile's own rules: at most
    one of each letter, ending in YX or YXS, ...); a 6D stack of unknown axes cannot."""
    pages = int(np.prod(shape[:-page_ndim], dtype=np.int64))
    y, x = shape[-page_ndim], shape[-page_ndim + 1]
    stored = (pages, 1, 1, y, x, shape[-1] if page_ndim == 3 else 1)
    try:
        tifffile.OmeXml().addimage(np.dtype(dtype), tuple(shape), stored, axes=axes)
    except tifffile.OmeXmlError:
        return False
    return True


def _write(
    path: str | os.PathLike,
    data: Any,
    dtype: np.dtype,
    scale: tuple[float, ...] | None,
    axes: str | None,
    units: tuple[str, ...] | None,
    names: list[str] | None,
    provenance: dict[str, Any] | None = None,
    translate: tuple[float, ...] | None = None,
) -> Path:
    path = Path(path)
    ndim = len(data.shape)
    axes = (axes or _timed(_default_axes(ndim), units)).upper()
    if len(axes) != ndim:
        raise ValueError(f"axes {axes!r} do not match the data's {ndim} dimensions.")
    if scale is not None and len(scale) != ndim:
        raise ValueError(f"scale {tuple(scale)} does not match the data's {ndim} dimensions.")
    metadata: dict[str, Any] = {"axes": axes}
    resolution = _physical_metadata(metadata, axes, scale, units)
    if names:
        metadata["Channel"] = {"Name": names}
    annotations = dict(provenance or {})
    if translate is not None and len(translate) == ndim and any(translate):
        annotations["translate"] = [float(t) for t in translate]
    if annotations:
        metadata["MapAnnotation"] = {
            f"{PROVENANCE_PREFIX}{k}": json.dumps(v) if isinstance(v, dict | list) else _text(v)
            for k, v in annotations.items()
            if v is not None
        }
    page_ndim = 3 if axes.endswith("S") else 2
    ome = _ome_holds(tuple(data.shape), axes, dtype, page_ndim)
    kwargs: dict[str, Any] = dict(
        ome=ome,
        compression="zlib",
        photometric="rgb" if page_ndim == 3 else "minisblack",
        # axes OME cannot describe: a plain TIFF whose description keeps shape and axes
        metadata=metadata if ome else {"axes": axes},
    )
    if resolution is not None:
        kwargs.update(resolution=resolution, resolutionunit="CENTIMETER")
    if isinstance(data, np.ndarray):
        payload: Any = data.astype(dtype, copy=False)
    else:  # dask / zarr: stream pages so a large array is never loaded whole
        payload = (p.astype(dtype, copy=False) for p in _planes(data, page_ndim))
        kwargs.update(shape=tuple(data.shape), dtype=dtype)
    return atomic_write(path, lambda fh: tifffile.imwrite(fh, payload, **kwargs))


def _text(value: Any) -> str:
    """``value`` as text the OME-XML can hold: a file name of bytes that are not UTF-8
    ("caf\\xe9.tif" from an old share: surrogates in Python) is written with the bytes
    spelt out; they failed the write ("surrogates not allowed"; locale bug bash)."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _physical_metadata(
    metadata: dict[str, Any],
    axes: str,
    scale: tuple[float, ...] | None,
    units: tuple[str, ...] | None,
) -> tuple[float, float] | None:
    """Add OME PhysicalSize entries; return (X, Y) pixels per cm for the resolution tags."""
    if scale is None:
        return None
    per_cm: dict[str, float] = {}
    # without units, a scale with any size other than 1 is in µm on every spatial axis:
    # a Z step of 1 beside 0.32 µm pixels was written as "1 pixel", and (3, 1, 1) as 3 µm
    # beside pixels, both read back as no size at all (docs bash; reviews)
    physical = any(float(s) != 1.0 for s, a in zip(scale, axes) if a in _SPATIAL)
    for i, ax in enumerate(axes):
        if ax == "T" and units is not None and _unit(units[i]) in TIME_UNITS:
            metadata["TimeIncrement"] = float(scale[i])  # the time between frames
            metadata["TimeIncrementUnit"] = _unit(units[i])
        if ax not in _SPATIAL:
            continue
        size = float(scale[i])
        unit = _unit(units[i]) if units is not None else ("µm" if physical else "pixel")
        if unit == "pixel" or size <= 0:
            continue
        metadata[f"PhysicalSize{ax}"] = size
        metadata[f"PhysicalSize{ax}Unit"] = unit
        if unit in _CM_PER_UNIT:
            per_cm[ax] = 1.0 / (size * _CM_PER_UNIT[unit])
    # a TIFF rational holds 32-bit numbers: a pixel of 0.5 pm (2e10 per cm) failed the
    # write ("max_denominator should be at least 1"); its OME size above still says it
    fits = all(_RATIONAL[0] <= per_cm.get(ax, 0.0) <= _RATIONAL[1] for ax in "XY")
    return (per_cm["X"], per_cm["Y"]) if fits else None


#: Pixels per centimetre that TIFF resolution tags (32-bit rationals) can hold.
_RATIONAL = (1.0 / (2**32 - 1), float(2**32 - 1))
