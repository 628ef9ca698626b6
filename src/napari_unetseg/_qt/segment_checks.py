"""Segment's checks before a run starts: what would make the run fail or give labels that
do not fit the layer, said in one sentence before any work (each of these once failed
only inside the job, or not at all). Functions of the viewer, the layer and the chosen
model, used by :class:`~napari_unetseg._qt.segment_widget.SegmentWidget`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import layer_data, named_axes
from .segment_plane import plane_view_problem

if TYPE_CHECKING:
    import napari
    from napari.layers import Image


def run_problem(
    viewer: napari.Viewer, layer: Image, model: str, dims: int | None, plane_only: bool
) -> str | None:
    """Why Run would not segment ``layer`` with ``model`` (``dims``: its spatial
    dimensions, None when its file is unreadable, said when it runs), or None."""
    first = (
        plane_view_problem(viewer, layer)
        if plane_only
        else time_problem(viewer, layer, model, dims)
    )
    return (
        first
        # the plane on show is one channel: segmenting it is right (review)
        or (None if plane_only else channel_problem(viewer, layer))
        or colour_problem(layer)
        or dims_problem(layer, model, dims)
    )


def channel_problem(viewer: napari.Viewer, layer: Image) -> str | None:
    """A layer whose axis labels name a channel axis (c): Segment would read its
    channels as planes (a two-channel layer was segmented as two planes, or as the Z of
    a 3D model, without a word; series bash). The plugin's reader gives each channel
    its own layer; the same is asked of a layer added otherwise."""
    axes = named_axes(viewer, layer)
    if axes is None or "C" not in axes or layer.rgb:
        return None
    at = axes.index("C")
    return (
        f"{layer.name!r} has its channels on axis {at} (labelled c), which Segment would "
        f"read as planes: add each channel as its own layer (viewer.add_image(data, "
        f"channel_axis={at})) and segment the nuclear stain's."
    )


def time_problem(viewer: napari.Viewer, layer: Image, model: str, dims: int | None) -> str | None:
    """A 3D model would take a time axis for Z: the axes of the layer, as napari's
    axis labels name them (t), refused as the command line refuses a TYX file."""
    from ..batch import time_for_z

    axes = named_axes(viewer, layer)
    if axes is None:
        return None  # napari's numbered defaults say nothing of time
    return time_for_z(model, dims or 2, axes, repr(layer.name))


def dims_problem(layer: Image, model: str, dims: int | None) -> str | None:
    """A 3D model for a plane, said before the job starts (it failed once running)."""
    axes = layer_data(layer).ndim - bool(layer.rgb)
    if dims is None or axes >= dims:
        return None
    return (
        f"Model {model!r} segments Z stacks, and {layer.name!r} is a plane: choose a "
        "2D model (e.g. nuclei-2d)."
    )


def colour_problem(layer: Image) -> str | None:
    """A layer napari shows as a stack whose last axis the engine would read as colour
    or one channel (1, 3 or 4 values after a plane of 16 pixels or more; napari guesses
    colour from 31): its labels would not fit the layer. None for anything else."""
    from ..api import rgb_axis

    shape = tuple(layer_data(layer).shape)
    if layer.rgb or rgb_axis(shape, None)[0] is None:
        return None
    size = " x ".join(map(str, shape))
    if shape[-1] == 1:
        return (
            f"{layer.name!r} ({size}) holds one channel on its last axis, but napari shows "
            f"it as a stack of {shape[-3]} planes: add it without that axis (data[..., 0]) "
            "to segment it."
        )
    return (
        f"{layer.name!r} ({size}) looks like a colour image but napari shows it as a stack "
        f"of {shape[-3]} planes: open it as colour (viewer.add_image(data, rgb=True)) to "
        "segment it."
    )
