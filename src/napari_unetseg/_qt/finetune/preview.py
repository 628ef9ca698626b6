"""The live preview: what the model in training predicts for the region in view.

The region is chosen in the GUI thread when Train is pressed (:func:`preview_region`),
the worker predicts it every few steps, and :class:`Preview` writes each prediction
into the ``"<image> [preview]"`` Labels layer, drawn as outlines above the image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._common import at_next_turn, image_shape, output_layer, output_name
from .label_policy import PREVIEW_COLORS
from .paint_panel import labels_colormap

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

PREVIEW_SUFFIX = "preview"
#: Largest preview region per spatial axis (the preview runs inside the training loop).
PREVIEW_EDGE = {2: (512, 512), 3: (32, 192, 192)}


def preview_region(viewer: napari.Viewer, image: Image, dims: int) -> tuple:
    """Index of the region in view: the current plane(s), at most PREVIEW_EDGE wide.

    Leading axes (Z for a 2D model, time) get the current position; the model's
    spatial axes get a window centred on the middle of the view.
    """
    shape = image_shape(image)
    world = list(viewer.dims.point)
    displayed = list(viewer.dims.displayed)
    camera = getattr(viewer, "scene", viewer).camera  # napari < 0.9: viewer.camera
    for axis, c in zip(displayed, camera.center[-len(displayed) :], strict=True):
        world[axis] = c
    point = image.world_to_data(world[-len(shape) :])
    dims = min(dims, len(shape))
    edges = PREVIEW_EDGE[dims]
    index: list[Any] = []
    for axis, (p, n) in enumerate(zip(point, shape, strict=True)):
        centre = int(np.clip(round(p), 0, n - 1))
        k = axis - (len(shape) - dims)
        if k < 0:
            index.append(centre)
            continue
        edge = min(n, edges[k])
        start = int(np.clip(centre - edge // 2, 0, n - edge))
        index.append(slice(start, start + edge))
    return tuple(index)


class Preview:
    """The preview layer of one viewer and the region a run previews (``target``)."""

    def __init__(self, viewer: napari.Viewer) -> None:
        self.viewer = viewer
        #: (image layer, region index) of the running preview, or None.
        self.target: tuple[Image, tuple] | None = None
        #: A preview layer made but not yet in the viewer (it joins at the next turn).
        self._pending: Labels | None = None

    def show(self, preview: np.ndarray) -> None:
        """Write a prediction of the target region into the preview layer."""
        if self.target is None:
            return
        image, region = self.target
        if image not in self.viewer.layers:
            return
        layer = self.layer(image)
        if layer is None:
            return
        layer.data[region] = preview
        if layer in self.viewer.layers:  # a layer still to join shows its data then
            layer.refresh()

    def layer(self, image: Image) -> Labels | None:
        """The ``"<image> [preview]"`` layer, made (empty) when missing or mismatched.

        Made at the first preview, not when Train is pressed: adding a Labels layer
        keeps the GUI thread busy for 100-150 ms, and right after the press the job's
        setup (loading the model, measuring objects) holds the interpreter in long
        stretches, which made the same add take 230-700 ms. By the first preview the job
        runs the network, which lets the GUI thread run. A new layer joins the viewer a
        turn later (``output_layer(next_turn=True)``), apart from the progress bar and
        the curve that the same preview record updates. None when the image has left
        the viewer.
        """
        from napari.layers import Labels

        viewer = self.viewer
        if image not in viewer.layers:
            return None
        name = output_name(image, PREVIEW_SUFFIX)
        existing = viewer.layers[name] if name in viewer.layers else None
        shape = image_shape(image)
        if (
            isinstance(existing, Labels)
            and tuple(existing.data.shape) == shape
            and isinstance(existing.data, np.ndarray)
        ):
            return existing
        pending = self._pending
        if pending is not None and pending.name == name and tuple(pending.data.shape) == shape:
            return pending
        active = viewer.layers.selection.active
        layer = output_layer(
            viewer,
            image,
            PREVIEW_SUFFIX,
            np.zeros(shape, np.uint8),
            next_turn=existing is None,
            colormap=labels_colormap(PREVIEW_COLORS),
            opacity=0.9,
        )
        layer.contour = 2  # outlines: the image, and so the misses, stay visible
        if layer in viewer.layers:
            self._place(layer, image, active)
        else:
            self._pending = layer
            at_next_turn(lambda: self._place(layer, image, active))
        return layer

    def _place(self, layer: Labels, image: Image, active: Any) -> None:
        """Just above its image, under the scribbles, which stay selected for painting."""
        viewer = self.viewer
        if self._pending is layer:
            self._pending = None
        if layer not in viewer.layers or image not in viewer.layers:
            return
        viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(image) + 1)
        if active is not None and active in viewer.layers:
            viewer.layers.selection.active = active
