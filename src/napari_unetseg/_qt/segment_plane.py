"""Segment's "Current plane only": which plane the viewer shows, whether it shows one of
the chosen layer, what the plane is called, and how a plane's result joins the
full-size outputs. Functions of the viewer and the layer, used by
:class:`~napari_unetseg._qt.segment_widget.SegmentWidget`."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import image_shape, named_axes, output_name
from .placement import world_matrix

if TYPE_CHECKING:
    import napari
    from napari.layers import Image


def plane_view_problem(viewer: napari.Viewer, layer: Image) -> str | None:
    """Why the viewer does not show the plane "Current plane only" would segment
    (the last two axes at the sliders' position), or None when it does."""
    dims = viewer.dims
    shown = (dims.ndim - 2, dims.ndim - 1)
    if dims.ndisplay == 2 and set(dims.displayed) == set(shown):
        return _oblique_problem(layer) or _outside_problem(viewer, layer)
    labels = [str(label) for label in dims.axis_labels]
    named = all(label.isalpha() for label in labels)  # napari's default: -3, -2, -1
    plane = (
        "-".join(labels[a] for a in shown) + " plane" if named else "plane of the last two axes"
    )
    if dims.ndisplay != 2:
        view = "a 3D view"
    elif named:
        view = "-".join(labels[a] for a in dims.displayed) + " planes"
    else:
        view = "planes of other axes (transposed)"
    return (
        f"'Current plane only' segments a {plane} at the sliders' position, but the "
        f"viewer shows {view}: switch to the 2D view of those axes, or untick it to "
        "segment the whole stack."
    )


def _oblique_problem(layer: Image) -> str | None:
    """``layer`` rotated or sheared out of the plane napari shows (a Z axis turned
    towards Y): napari draws a plane of it askew, and the data plane under the sliders
    was not the one drawn (transforms bug bash)."""
    k = layer.ndim - 2
    matrix = world_matrix(layer, layer.ndim)[: layer.ndim, : layer.ndim]
    tol = 1e-6 * np.abs(matrix).max()
    if k <= 0 or (np.abs(matrix[:k, k:]).max() <= tol and np.abs(matrix[k:, :k]).max() <= tol):
        return None
    return (
        f"{layer.name!r} is rotated or sheared out of the plane the viewer shows, so no "
        "plane of its data is the one drawn: untick 'Current plane only' to segment the "
        "whole stack."
    )


def _outside_problem(viewer: napari.Viewer, layer: Image) -> str | None:
    """The sliders past the ends of ``layer`` (a stack placed further along Z than
    another layer): its nearest plane was segmented and named as the one shown."""
    point = layer.world_to_data(viewer.dims.point[-layer.ndim :])
    shape = layer.data.shape[: layer.ndim]
    if all(-0.5 <= p < s - 0.5 for p, s in zip(point[:-2], shape, strict=False)):
        return None
    return (
        f"The sliders are outside {layer.name!r}, which this plane does not show: move "
        "them onto it, or untick 'Current plane only' to segment the whole stack."
    )


def plane_words(viewer: napari.Viewer, layer: Image, plane: tuple[int, ...]) -> str:
    """A plane's index for people: "z 7", "t 2, z 3", or "plane 7" where the axes
    have napari's default (numbered) labels."""
    axes = named_axes(viewer, layer)
    if axes:
        return ", ".join(f"{label} {i}" for label, i in zip(axes.lower(), plane))
    return "plane " + ", ".join(map(str, plane))


def current_position(viewer: napari.Viewer, layer: Image) -> tuple[int, ...]:
    """The data index of the plane shown in the viewer, clipped to the layer."""
    point = layer.world_to_data(viewer.dims.point[-layer.ndim :])
    shape = layer.data.shape[: layer.ndim]
    return tuple(int(np.clip(round(p), 0, s - 1)) for p, s in zip(point, shape, strict=True))


def into_full(
    viewer: napari.Viewer, layer: Image, suffix: str, plane_data: Any, plane: tuple[int, ...]
) -> Any:
    """Put a one-plane result into the full-size output: the existing one, whose other
    planes stay (widened when the plane's values need a larger type, e.g. the object
    ids of split touching objects after plain labels), or a new one, a compressed zarr
    array in memory where the stack's result would take more than
    :data:`~.segment_job.LAZY_OUTPUT_BYTES` (a plane of 8000 planes of 2048 x 2048
    allocated 31 GiB before it was shown; multiscale bash). The widget gives the plane
    another output's name where the existing one cannot take it
    (:func:`cannot_take_plane`)."""
    from .segment_job import display_levels

    plane_data = plane_data[0] if isinstance(plane_data, list) else plane_data  # a pyramid
    full_shape = image_shape(layer)
    name = output_name(layer, suffix)
    existing = _plane_target(viewer.layers[name]) if name in viewer.layers else None
    if existing is not None and tuple(existing.shape) == full_shape:
        if cannot_take_plane(existing, full_shape, plane_data.dtype) is not None:
            raise ValueError(f"{name!r} cannot take the plane's result.")  # (the widget's)
        full = existing
        if not np.can_cast(plane_data.dtype, existing.dtype):  # in memory (checked above)
            full = existing.astype(np.promote_types(existing.dtype, plane_data.dtype))
    else:
        full = _new_full(full_shape, plane_data.dtype)
    _write_plane(full, plane, plane_data)
    shown = display_levels(full)
    if isinstance(shown, list):  # levels napari reads from ``full``: the next plane's too
        first = shown[0]
        _BEHIND[id(first)] = (weakref.ref(first), full)
        weakref.finalize(first, _BEHIND.pop, id(first), None)
    return shown


#: The full-size array behind each plane output shown as levels (dask views of it), by
#: the id of their first level (dask arrays are not hashable): a second plane is written
#: there (review: it went to "[unet 2]").
_BEHIND: dict[int, tuple[weakref.ref, Any]] = {}


def _plane_target(output: Any) -> Any:
    """The data a plane's result is written into for an ``output`` layer: its data, or
    the full-size array behind the levels :func:`into_full` gave it."""
    data = output.data
    if not output.multiscale:
        return data
    first, full = _BEHIND.get(id(data[0]), (None, None))
    return full if first is not None and first() is data[0] else data


def cannot_take_plane(data: Any, full_shape: tuple[int, ...], dtype: Any) -> str | None:
    """Why an output's ``data`` cannot take a plane's result of ``dtype`` in place (its
    other planes would be lost: a whole-stack result stored lazily was replaced by
    zeros but for the plane; multiscale bash), or None. Data of another shape is
    replaced, as before."""
    import zarr

    if tuple(data.shape) != full_shape or isinstance(data, np.ndarray):
        return None
    if isinstance(data, zarr.Array) and not data.read_only and np.can_cast(dtype, data.dtype):
        return None
    return "is stored out of memory where this plane's result cannot be added"


def plane_keeps(
    keeps: Callable[[Any], str | None], layer: Image, plane_data: Any
) -> Callable[[Any], str | None]:
    """``keeps`` (why an output layer is kept, or None), for a plane's result: also
    kept where the layer cannot take the plane (:func:`cannot_take_plane`)."""
    dtype = (plane_data[0] if isinstance(plane_data, list) else plane_data).dtype
    full_shape = image_shape(layer)
    return lambda out: keeps(out) or cannot_take_plane(_plane_target(out), full_shape, dtype)


def _new_full(shape: tuple[int, ...], dtype: Any) -> Any:
    """Zeros of the stack's shape: in memory, or (past LAZY_OUTPUT_BYTES) a compressed
    zarr array in memory, one chunk per plane tile, so only the plane's chunks hold data."""
    from .segment_job import LAZY_OUTPUT_BYTES, lazy_output

    if int(np.prod(shape)) * np.dtype(dtype).itemsize <= LAZY_OUTPUT_BYTES:
        return np.zeros(shape, dtype)
    return lazy_output(shape, dtype)


#: Bytes of a plane's result copied at a time into an output (a lazy result's plane can
#: be larger than memory allows at once).
_COPY_BYTES = 1 << 26


def _write_plane(full: Any, plane: tuple[int, ...], data: Any) -> None:
    """``full[plane] = data``, in slabs along ``data``'s first axis where it is lazy."""
    if isinstance(data, np.ndarray):
        full[plane] = data
        return
    slab = max(1, _COPY_BYTES // max(1, int(np.prod(data.shape[1:])) * data.dtype.itemsize))
    for i in range(0, data.shape[0], slab):
        full[plane + (slice(i, i + slab),)] = np.asarray(data[i : i + slab])


def plane_note(object_size: Any, measured: tuple[str, float] | None) -> str:
    """The copied command's note for a run on the current plane only: the command's
    labels of that plane may differ a little, as it scales intensities by the whole
    stack's (21 of 16,384 pixels once; reproducibility bash)."""
    note = "the command segments every plane, not only the current one"
    stack = (
        " Its labels of this plane may differ from the run's by a few pixels: it scales "
        "the intensities by the whole stack's, a run here by the plane's."
    )
    if measured is not None:
        return f"{note}, with the object size the last run measured on {measured[0]} alone.{stack}"
    if str(object_size).lower() == "auto":
        return (
            f"{note}, and measures the object size on the whole stack (a run here measures "
            f"it on the plane alone: run once first, or give --object-size, to match it).{stack}"
        )
    return f"{note}.{stack}"
