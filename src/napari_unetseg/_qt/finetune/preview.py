"""The live preview: what the model in training predicts for the region in view.

The region is chosen in the GUI thread when Train is pressed (:func:`preview_region`),
the worker predicts it every few steps, and :class:`Preview` writes each prediction
into the ``"<image> [preview]"`` Labels layer, drawn as outlines above the image. The
final model's unsure band in that region (:func:`~napari_unetseg.core.inference.unsure_band`)
goes into a ``"<image> [unsure]"`` layer, filled in yellow: where the next strokes tell the
model most.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common import (
    OUTPUT_MARK,
    at_next_turn,
    features_held,
    image_shape,
    keep_theirs,
    output_layer,
    output_name,
    real_layer,
)
from .label_policy import PREVIEW_COLORS, UNSURE_COLOUR
from .paint_panel import labels_colormap

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

PREVIEW_SUFFIX = "preview"
UNSURE_SUFFIX = "unsure"
#: Above this share of the region unsure, the model has not learnt enough yet for the band
#: to say where to paint: the layer is made but hidden, and the sentence says so.
UNSURE_MOST = 0.5
#: How each layer is drawn: (colours, opacity, contour width; 0 fills the regions).
_STYLES = {
    PREVIEW_SUFFIX: (PREVIEW_COLORS, 0.9, 2),  # outlines: the image, so the misses, stay visible
    UNSURE_SUFFIX: ({1: UNSURE_COLOUR}, 0.7, 0),
}
#: Preview and unsure layers the user painted on since a run wrote them (shared by every
#: Fine-tune widget): the next run keeps them under another name instead of emptying them
#: (strokes painted there were lost; lifecycle bug bash).
_PAINTED: weakref.WeakSet[Labels] = weakref.WeakSet()
_WATCHED: weakref.WeakSet[Labels] = weakref.WeakSet()  # those whose paint is heard
#: The name a painted preview is kept under: not one of our overlays, so Fine-tune and
#: Validate offer it as labels.
KEPT_SUFFIX = "painted"
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
        viewer.dims.events.ndisplay.connect(self._outline_in_2d, position="first")
        self._filled = False  # the preview filled for a 3D view (not by the user)
        #: (image layer, region index) of the running preview, or None.
        self.target: tuple[Image, tuple] | None = None
        #: Layers made but not yet in the viewer (they join at the next turn), by suffix.
        self._pending: dict[str, Labels] = {}
        #: The run's own layers, by suffix: they follow the image when it is renamed.
        self._layers: dict[str, Labels] = {}
        self.image: Image | None = None  # the run's image
        self._data: Any = None  # its data when the run started
        #: The names painted layers were kept under at the last start (see :meth:`start`),
        #: and during the run (painted while it wrote them).
        self.kept: list[str] = []
        self.kept_during: list[str] = []
        #: Layers of the preview's names that a run did not make, kept under other names
        self.theirs: list[str] = []

    def _outline_in_2d(self, _event: Any = None) -> None:
        """The preview outlined in a 2D view, filled in 3D (see :meth:`layer`); a
        contour the user chose is left as it is (review)."""
        layer = self._layers.get(PREVIEW_SUFFIX)
        if layer is None or layer not in self.viewer.layers:
            return
        outline = _STYLES[PREVIEW_SUFFIX][2]
        if self.viewer.dims.ndisplay == 2:  # once the layer shows a plane (set before, it
            # was drawn in 3D with a contour: napari's warning again)
            if self._filled:
                at_next_turn(lambda: self._outline(layer, outline))
            self._filled = False
        elif layer.contour == outline:  # before the layer is drawn in 3D
            layer.contour = 0
            self._filled = True

    def _outline(self, layer: Labels, outline: int) -> None:
        if layer in self.viewer.layers and layer.contour == 0 and self.viewer.dims.ndisplay == 2:
            layer.contour = outline

    def finish(self) -> None:
        """The run ended: where its image has left the viewer, its preview and unsure
        layers go too (they were left behind, outlines of an image no longer there)."""
        viewer, image = self.viewer, self.image
        if image is None or image in viewer.layers:
            return
        for layer in self._layers.values():
            if layer in viewer.layers:
                viewer.layers.remove(layer)
        self._layers = {}

    def start(self, image: Image, region: tuple | None) -> None:
        """A run on ``image`` starts, previewing ``region`` (None: no preview). The image's
        preview and unsure layers are emptied: an earlier model's outlines (on other
        planes, or in a run without preview) would pass for this one's. One the user
        painted on is kept, renamed ``"<image> [preview] painted"`` (:attr:`kept`), and
        the run makes a new one."""
        self._layers = {}
        self.image, self._data = image, real_layer(image).data
        self.target = None if region is None else (image, region)
        self.kept, self.kept_during = [], []
        theirs = (keep_theirs(self.viewer, image, s) for s in _STYLES) if region else ()
        self.theirs = [name for name in theirs if name]
        for suffix in (PREVIEW_SUFFIX, UNSURE_SUFFIX):
            name = output_name(image, suffix)
            layer = self.viewer.layers[name] if name in self.viewer.layers else None
            if layer is None or not isinstance(layer.data, np.ndarray):
                continue
            if (layer.metadata or {}).get(OUTPUT_MARK) != suffix:
                continue  # the user's (kept above when a preview is drawn): untouched
            if real_layer(layer) in _PAINTED:
                self.kept.append(self._keep(layer))
                continue
            self._layers[suffix] = _watched(layer)  # this run's: it follows a renaming
            _empty(layer)
            if suffix == PREVIEW_SUFFIX and region is not None:
                layer.visible = True  # (Segment hides it under labels made since)

    def _keep(self, layer: Labels) -> str:
        """A preview or unsure layer the user painted on is theirs now: renamed
        ``"<name> painted"`` (napari numbers a name already taken), no longer written;
        returns the new name."""
        layer.name = f"{layer.name} {KEPT_SUFFIX}"
        _PAINTED.discard(real_layer(layer))
        self._layers = {k: v for k, v in self._layers.items() if v is not real_layer(layer)}
        return layer.name

    @property
    def replaced(self) -> bool:
        """Whether the run's image got other data since the run started (its preview is
        of the data it had: drawn over the new data, it misled; undo bash)."""
        image = self.image
        return (
            image is not None
            and image in self.viewer.layers
            and (real_layer(image).data is not self._data)
        )

    def drop(self) -> None:
        """Empty this run's preview and unsure layers (their outlines are of other data)
        and draw no more."""
        for layer in self._layers.values():
            _empty(layer)
        self.target = None

    def show(self, preview: np.ndarray) -> None:
        """Write a prediction of the target region into the preview layer."""
        self._write(PREVIEW_SUFFIX, preview)

    def show_unsure(self, unsure: np.ndarray, visible: bool = True) -> None:
        """Write the final model's unsure band of the target region into its layer."""
        layer = self._write(UNSURE_SUFFIX, unsure)
        if layer is not None:
            layer.visible = bool(visible)

    def _write(self, suffix: str, values: np.ndarray) -> Labels | None:
        if self.target is None:
            return None
        image, region = self.target
        if image not in self.viewer.layers:
            return None
        if self.replaced:
            self.drop()
            return None
        layer = self.layer(image, suffix)
        if layer is not None and real_layer(layer) in _PAINTED:
            # painted during the run: the strokes were overwritten by the next preview
            self.kept_during.append(self._keep(layer))
            layer = self.layer(image, suffix)
        if layer is None:
            return None
        layer.data[region] = values
        if layer in self.viewer.layers:  # a layer still to join shows its data then
            redraw(layer, region)
        return layer

    def layer(self, image: Image, suffix: str = PREVIEW_SUFFIX) -> Labels | None:
        """The ``"<image> [suffix]"`` layer, made (empty) when missing or mismatched.

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
        name = output_name(image, suffix)
        shape = image_shape(image)
        ours = self._layers.get(suffix)
        if ours is not None and ours in viewer.layers and _fits(ours, shape):
            if ours.name != name:  # the image was renamed during the run: follow it
                ours.name = name
            return ours
        existing = viewer.layers[name] if name in viewer.layers else None
        if isinstance(existing, Labels) and _fits(existing, shape):
            self._layers[suffix] = _watched(existing)
            return existing
        pending = self._pending.get(suffix)
        if pending is not None and pending.name == name and tuple(pending.data.shape) == shape:
            return pending
        active = viewer.layers.selection.active
        colors, opacity, contour = _STYLES[suffix]
        layer = output_layer(
            viewer,
            image,
            suffix,
            np.zeros(shape, np.uint8),
            next_turn=existing is None,
            colormap=labels_colormap(colors),
            opacity=opacity,
        )
        # outlines in 2D; a 3D view fills the regions in (napari draws no contour there,
        # and warned "Contours are not displayed" at each redraw: ecosystem bash)
        layer.contour = contour if viewer.dims.ndisplay == 2 else 0
        if suffix == PREVIEW_SUFFIX:
            self._filled = viewer.dims.ndisplay != 2
        self._layers[suffix] = _watched(layer)
        if layer in viewer.layers:
            self._place(layer, image, active)
        else:
            self._pending[suffix] = layer
            at_next_turn(lambda: self._place(layer, image, active))
        return layer

    def _place(self, layer: Labels, image: Image, active: Any) -> None:
        """Just above its image (the unsure band above the preview's outlines, which would
        hide it), under the scribbles, which stay selected for painting."""
        viewer = self.viewer
        for suffix, pending in list(self._pending.items()):
            if pending is layer:
                del self._pending[suffix]
        if layer not in viewer.layers or image not in viewer.layers:
            return
        below = image
        preview = output_name(image, PREVIEW_SUFFIX)
        if layer.name == output_name(image, UNSURE_SUFFIX) and preview in viewer.layers:
            below = viewer.layers[preview]
        viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(below) + 1)
        if active is not None and active in viewer.layers:
            with features_held(active):  # the scribbles (3D: an error, or an abort)
                viewer.layers.selection.active = active


def unsure_text(unsure: np.ndarray | None) -> str:
    """The sentence about the final model's unsure band in the region in view ("" when
    there is none)."""
    if unsure is None or not unsure.any():
        return ""
    share = float(unsure.mean())
    if share > UNSURE_MOST:
        return (
            f" It is still unsure on {share:.0%} of that region (the hidden '[{UNSURE_SUFFIX}]' "
            "layer): give it more time (Continue training) before painting more."
        )
    return (
        f" It is unsure on the yellow '[{UNSURE_SUFFIX}]' parts ({share:.0%} of that region): "
        "a stroke through them, of the class you see there, tells it most."
    )


def _watched(layer: Labels) -> Labels:
    """The layer behind ``layer``, a paint on which marks it as the user's (once)."""
    layer = real_layer(layer)
    if layer not in _WATCHED:
        layer.events.paint.connect(_on_paint)
        _WATCHED.add(layer)
    return layer


def _on_paint(event: Any) -> None:
    _PAINTED.add(real_layer(event.source))


def _fits(layer: Labels, shape: tuple[int, ...]) -> bool:
    """Whether a preview layer can take a preview of an image of ``shape`` (in memory)."""
    return tuple(layer.data.shape) == shape and isinstance(layer.data, np.ndarray)


def _empty(layer: Labels) -> None:
    """Set the labels of ``layer`` (in memory) to 0 where they are not, redrawing that
    box alone."""
    box = _nonzero_box(layer.data)
    if box is not None:
        layer.data[box] = 0
        redraw(layer, box)


def _nonzero_box(data: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every non-zero value of ``data``, or None."""
    box = []
    for axis in range(data.ndim):
        hit = np.flatnonzero(data.any(axis=tuple(a for a in range(data.ndim) if a != axis)))
        if not hit.size:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def redraw(layer: Labels, region: tuple) -> None:
    """Show ``region`` of ``layer``'s data (in memory), written in place: napari's
    partial refresh of that region, as its own painting does, where the layer is drawn
    from a slice of its data; else a whole refresh. A whole refresh recomputed the
    outlines of the whole image at every preview: 12-15 s a preview at 20000 x 20000,
    1.6 s at 8000 x 8000, for a 512 x 512 region (GUI-thread bash)."""
    layer = real_layer(layer)  # napari's private parts, not through a plugin's proxy
    shape = layer.data.shape
    region = tuple(region) + (slice(None),) * (len(shape) - len(region))
    box = tuple(
        slice(*r.indices(n)[:2]) if isinstance(r, slice) else slice(int(r), int(r) + 1)
        for r, n in zip(region, shape, strict=True)
    )
    try:  # napari's own partial refresh (private; a whole refresh where it changes)
        if not layer._slicing_state.loaded or not layer.visible:
            raise AttributeError("not drawn")
        if layer.contour == 0:  # the colours drawn are kept per pixel: these change
            shown = tuple(box[axis] for axis in layer._slice_input.displayed)
            image = layer._slice.image
            image.view[shown] = layer.colormap._data_to_texture(image.raw[shown])
        layer._accumulate_updated_slice(box)
        layer._partial_labels_refresh()
    except Exception:  # noqa: BLE001 - another napari: the whole refresh is always right
        layer.refresh()
