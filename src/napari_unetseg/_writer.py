"""napari writer: a Labels layer -> compressed OME-TIFF with the layer's pixel size, a
NIfTI label image (``.nii`` / ``.nii.gz``) on the affine of the NIfTI image it was made on,
or OME-Zarr labels (``.zarr``).

The file reads back through our reader as a Labels layer with the same ``scale`` (and
units), because :func:`napari_unetseg._io.write_labels` names its OME channel "labels"
(a NIfTI file gets the label intent, an OME-Zarr store the ``image-label`` metadata).
Saving to an OME-Zarr *image* (the ``.zarr`` folder a layer was opened from) adds the
labels under its ``labels/`` group, named after the layer, where napari and other
OME-Zarr viewers show them over the image (:func:`napari_unetseg._zarr_save.save_labels`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import _io
from .provenance import as_saved


class LabelsNotWritten(RuntimeError):
    """Labels the writer refuses (one sentence). Not a ``ValueError``: napari takes a
    ``ValueError`` from a writer for "this plugin cannot write that" and tells the user
    so ("not a valid writer") instead of the reason."""


def write_labels(path: str | os.PathLike, data: Any, meta: dict[str, Any]) -> list[str]:
    """Save one Labels layer (npe2 single-layer writer): :func:`save_labels`, whose
    refusals are raised as :class:`LabelsNotWritten` so that napari shows them."""
    try:
        return save_labels(path, data, meta)
    except ValueError as exc:
        raise LabelsNotWritten(str(exc)) from exc


def save_labels(path: str | os.PathLike, data: Any, meta: dict[str, Any]) -> list[str]:
    """Save one Labels layer as a TIFF, NIfTI or OME-Zarr.

    Parameters
    ----------
    path : str or path
        Target file; ``.tif`` is appended when it has no TIFF, NIfTI or zarr extension.
        An existing file is replaced atomically (only once the new one is complete); an
        existing OME-Zarr image gets the labels under its ``labels/`` group.
    data : array-like
        The layer's data (numpy, or dask/zarr written plane by plane or chunk by chunk;
        of a multiscale layer, the full-resolution level).
    meta : dict
        The layer's attributes; ``scale`` and the reader's ``metadata['axes'/'units']``
        (when they still match the data; else napari's ``axis_labels`` when they name
        the axes t, z, y, x) become the file's axes and pixel size, and
        ``metadata['unetseg']`` (how the Segment widget made the labels, see
        :mod:`napari_unetseg.provenance`) is stored with them.

    Returns
    -------
    list of str
        The written path (for an OME-Zarr image, its new ``labels/NAME`` group).
    """
    if meta.get("multiscale") or isinstance(data, list | tuple):
        data = data[0]
    path = Path(path).expanduser()  # napari passes "~/x.tif" on as typed
    zarr_out = _io.is_zarr_path(path)
    if not zarr_out and not path.name.lower().endswith((".tif", ".tiff", *_io.NIFTI_SUFFIXES)):
        path = path.with_name(path.name + ".tif")
    store = next((p for p in path.parents if p.name.lower().endswith(".zarr")), None)
    if not zarr_out and store is not None:  # a TIFF among a store's arrays (interop bug bash)
        raise ValueError(
            f"{str(path)!r} lies inside the OME-Zarr store {str(store)!r}: save the layer "
            f"'as OME-Zarr' to {str(store)!r} to add it to the store's labels/ group, or "
            "save the file elsewhere."
        )
    ndim = len(data.shape)
    extra = meta.get("metadata") or {}
    axes = extra.get("axes")
    units = extra.get("units")
    if not isinstance(axes, str) or len(axes) != ndim:
        axes = _named(meta.get("axis_labels"), ndim)
    if units is not None and len(units) != ndim:
        units = None
    if units is None and meta.get("units") is not None:
        units = _unit_names(meta["units"], ndim)
    if axes is None:  # a time axis napari knows by its unit alone (seconds)
        axes = _timed_axes(units, ndim)
    _say_transform_left_out(meta, path)
    # a flip (a negative scale) is said above; the files take sizes (our OME-Zarr reader
    # refused the -0.5 it was given)
    scale = tuple(abs(float(s)) for s in meta.get("scale", (1.0,) * ndim))
    provenance = extra.get("unetseg") if isinstance(extra.get("unetseg"), dict) else None
    provenance = as_saved(provenance, extra, data)  # "edited" where painted since
    if zarr_out:
        from . import _zarr_save

        translate = meta.get("translate")
        written_to = _zarr_save.save_labels(
            path,
            data,
            axes=axes,
            scale=scale,
            units=units,
            translate=None if translate is None else tuple(float(t) for t in translate),
            provenance=provenance,
            name=meta.get("name"),
        )
        return [written_to]
    if "nifti_affine" not in extra and path.name.lower().endswith(_io.NIFTI_SUFFIXES):
        extra = {**extra, **_nifti_image_under(data.shape, scale, meta.get("translate"), path)}
    affine = extra.get("nifti_affine")
    translate = meta.get("translate")
    written = _io.write_labels(
        path,
        data,
        scale=scale,
        axes=axes,
        units=units,
        provenance=provenance,
        affine=affine,
        translate=None if translate is None else tuple(float(t) for t in translate),
        forms=extra.get("nifti_forms"),
    )
    return [str(written)]


def _nifti_image_under(
    shape: tuple[int, ...], scale: tuple[float, ...], translate: Any, path: Path
) -> dict:
    """The NIfTI affine (and qform / sform) of the image a labels layer lies on in the
    current viewer, for labels made by napari itself ("New labels layer", which copies
    no metadata): the layers read from a NIfTI file of the same shape, pixel size and
    place. Such labels were saved on their voxel sizes alone, mirrored and shifted in
    other viewers (NIfTI bug bash). Two such images that disagree (a baseline and a
    follow-up scan) are refused: nothing tells which the labels belong to; none at all
    (the image closed first) is said, and the voxel sizes alone are saved."""
    import sys
    import warnings

    import numpy as np

    napari = sys.modules.get("napari")  # not loaded: no viewer (a script's save)
    viewer = napari.current_viewer() if napari is not None else None
    if viewer is None:
        return {}
    where = np.zeros(len(shape)) if translate is None else np.asarray(translate, float)
    found: dict[str, dict] = {}
    for layer in viewer.layers:
        meta = layer.metadata or {}
        if "nifti_affine" not in meta or tuple(layer.data.shape) != tuple(shape):
            continue
        if np.allclose(layer.scale, scale) and np.allclose(layer.translate, where):
            found[layer.name] = {k: meta[k] for k in ("nifti_affine", "nifti_forms") if k in meta}
    if not found:
        warnings.warn(
            f"{path.name}: no NIfTI image of the labels' grid is open, so they are saved on "
            "their voxel sizes alone (no orientation or origin): open the image they belong "
            "to and save again to keep its orientation and origin.",
            UserWarning,
            stacklevel=3,
        )
        return {}
    first = next(iter(found.values()))
    if any(not np.allclose(f["nifti_affine"], first["nifti_affine"]) for f in found.values()):
        names = ", ".join(repr(n) for n in found)
        raise ValueError(
            f"{path.name}: the labels lie on NIfTI images of one grid but different "
            f"orientations or origins ({names}); close those they do not belong to and save "
            "again."
        )
    return first


def _named(axis_labels: Any, ndim: int) -> str | None:
    """Axes from napari's axis labels when they name them (``t``, ``z``, ``y``, ``x``):
    labels made on a time series are saved as one; None for napari's numbered defaults."""
    if axis_labels is None or len(axis_labels) != ndim:
        return None
    axes = "".join(str(a) for a in axis_labels).upper()
    if len(axes) != ndim or not set(axes) <= set("TZYX") or len(set(axes)) != ndim:
        return None
    return axes if axes.endswith("YX") else None


def write_labels_nifti(path: str | os.PathLike, data: Any, meta: dict[str, Any]) -> list[str]:
    """:func:`write_labels` to NIfTI: a name without a NIfTI extension gets ``.nii.gz``
    (the writer the save dialog's "labels as NIfTI" entry names)."""
    return write_labels(_with_suffix(path, _io.NIFTI_SUFFIXES, ".nii.gz"), data, meta)


def write_labels_zarr(path: str | os.PathLike, data: Any, meta: dict[str, Any]) -> list[str]:
    """:func:`write_labels` to OME-Zarr: a name without ``.zarr`` gets ``.ome.zarr`` (the
    writer the save dialog's "labels as OME-Zarr" entry names)."""
    return write_labels(_with_suffix(path, (".zarr",), ".ome.zarr"), data, meta)


def _timed_axes(units: Any, ndim: int) -> str | None:
    """``TYX`` / ``TZYX`` for labels whose first axis has a time unit (the TIFF writer
    saw it; NIfTI wrote a 5 s step as 5 µm of depth, OME-Zarr a space axis in
    seconds: write-back bash); None otherwise."""
    from ._units import TIME_UNITS, _unit

    if units is None or ndim not in (3, 4) or _unit(str(units[0])) not in TIME_UNITS:
        return None
    return "T" + "ZYX"[-(ndim - 1) :]


def _say_transform_left_out(meta: dict[str, Any], path: Path) -> None:
    """Warn that a layer's rotation, shear or affine is not saved (the files keep a
    pixel size and an origin): the labels were placed elsewhere on reopening, without a
    word (write-back bash)."""
    import warnings

    import numpy as np

    ndim = len(meta.get("scale") or ())
    turned = [
        name
        for name, value, plain in (
            ("rotation", meta.get("rotate"), np.eye(ndim)),
            ("shear", meta.get("shear"), np.zeros(ndim * (ndim - 1) // 2)),
            ("affine", meta.get("affine"), np.eye(ndim + 1)),
        )
        if value is not None
        and np.shape(value) == np.shape(plain)
        and not np.allclose(value, plain)
    ]
    if any(float(s) < 0 for s in meta.get("scale") or ()):
        turned.append("flip (a negative scale)")
    if turned:
        warnings.warn(
            f"{path.name}: the layer's {' and '.join(turned)} is not saved (the file keeps "
            "its pixel size and origin only), so the labels reopen without it.",
            UserWarning,
            stacklevel=3,
        )


def _with_suffix(path: str | os.PathLike, suffixes: tuple[str, ...], default: str) -> str:
    text = os.fspath(path).rstrip("/\\")
    return text if text.lower().endswith(suffixes) else text + default


def _unit_names(units: Any, ndim: int) -> tuple[str, ...] | None:
    """napari's pint units as short names ('µm'), or None when they say nothing."""
    names = tuple(_io.unit_name(u) for u in units)
    if len(names) != ndim or all(n in ("pixel", "px", "") for n in names):
        return None
    return names
