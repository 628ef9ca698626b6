"""Reusable Qt pieces for the plugin's widgets (Segment, Fine-tune, Validate).

- :class:`LayerComboBox`: picks a layer of given types; follows the viewer's layer list
  live (added, removed, renamed, reordered layers) and keeps the user's choice.
- the model picker is :class:`napari_unetseg._qt.model_combo.ModelComboBox`.
- :func:`notify_error` / :func:`notify_info` / :func:`user_message`: one clear sentence
  in a napari notification instead of a traceback.
- :func:`output_layer`: add or update an output layer ``"<image> [suffix]"`` with the
  input's scale / translate / units, so re-running replaces instead of piling up.

Long-running work goes through :class:`napari_unetseg._qt._worker.JobRunner`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QWidget,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer


#: Exceptions whose message is already a sentence for people (our errors raise these).
_PLAIN_ERRORS = (ValueError, FileNotFoundError, PermissionError, MemoryError, KeyError)


# -- notifications ------------------------------------------------------------------------
def user_message(exc: BaseException) -> str:
    """One readable sentence for an exception (its first line; the type for odd ones)."""
    from ..core.files import os_error_sentence

    said = os_error_sentence(exc)  # the system's "[Errno 30] Read-only file system: ..."
    if said is not None:
        return said
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    if isinstance(exc, MemoryError) and not text:
        text = "Not enough memory; try a smaller tile size or batch size."
    # our own errors of other types (ClusterError is an OSError) say so by name
    ours = type(exc).__module__.startswith("napari_unetseg")
    if not (isinstance(exc, _PLAIN_ERRORS) or ours) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def qt_deleted(exc: RuntimeError) -> bool:
    """Whether ``exc`` says the object's C++ side is gone (Qt deleted it while its Python
    object lives on); the message reads so in PyQt and PySide alike."""
    return "deleted" in str(exc)


def is_deleted(obj: Any) -> bool:
    """Whether Qt deleted ``obj``'s C++ side while its Python object lives on (then any
    use of it, a signal's ``emit`` among them, may crash the process)."""
    try:
        from qtpy import sip
    except ImportError:  # PySide
        from qtpy import shiboken

        return not shiboken.isValid(obj)
    return bool(sip.isdeleted(obj))


def notify_error(error: BaseException | str, context: str = "") -> None:
    """Show an error as a napari notification (one sentence, no traceback).

    ``context`` prefixes the message, e.g. ``"Segmentation failed"``.
    """
    from napari.utils.notifications import show_error

    text = error if isinstance(error, str) else user_message(error)
    show_error(f"{context}: {text}" if context else text)


def write_csv(
    parent: QWidget, write: Callable[[Path], Any], title: str, default: str, path: Any = None
) -> Path | None:
    """Write a table as CSV with ``write(path)``: the path asked for in a save dialog
    (``title``, ``default`` name) when ``path`` is None, ``.csv`` added when missing.

    Returns the written path, or None when cancelled or after an error notification.
    """
    if path is None:
        path, _ = QFileDialog.getSaveFileName(
            parent, title, default, "CSV files (*.csv);;All files (*)"
        )
        if not path:
            return None
    path = Path(path)
    if path.suffix.lower() != ".csv":
        path = path.with_name(path.name + ".csv")
    try:
        write(path)
    except OSError as exc:
        notify_error(exc, "Could not write the CSV file")
        return None
    return path


def notify_info(message: str) -> None:
    """Show an information notification."""
    from napari.utils.notifications import show_info

    show_info(message)


# -- layer picker -------------------------------------------------------------------------
#: Characters a combo box shows at the least when it shrinks (its list shows them whole).
MIN_COMBO_CHARACTERS = 10


def shrinkable(combo: QComboBox, characters: int = MIN_COMBO_CHARACTERS) -> QComboBox:
    """``combo`` allowed to be narrower than its longest text (cut beyond ``characters``),
    so that a long entry does not widen its dock: a model's or layer's long name, "tiny
    (quick experiments)" (Fine-tune's dock was 405 px, the image beside it squeezed to
    nothing in a small window; GUI bash)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)
    return combo


class LayerComboBox(QComboBox):
    """A combo box of the viewer's layers of some types, following the layer list live.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers are listed (top layer first, as in the layer list).
    layer_types : type or tuple of types
        E.g. ``napari.layers.Image`` or ``(Image, Labels)``.
    predicate : callable, optional
        Extra filter, e.g. ``lambda layer: layer.ndim >= 2``.
    allow_none : str, optional
        Text of a first "no layer" entry (e.g. ``"(none)"``); omitted by default.

    Signals
    -------
    layerChanged(object)
        The selected layer (or None) after the user or the viewer changed it.
    """

    layerChanged = Signal(object)

    def __init__(
        self,
        viewer: napari.Viewer,
        layer_types: type | tuple[type, ...],
        predicate: Callable[[Layer], bool] | None = None,
        allow_none: str | None = None,
        parent: QWidget | None = None,
        prefer: Callable[[Layer], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._types = layer_types if isinstance(layer_types, tuple) else (layer_types,)
        self._predicate = predicate
        #: which layer to choose first when none is chosen (else the top one)
        self._prefer = prefer
        self._allow_none = allow_none
        self._layers: list[Layer] = []
        shrinkable(self, 12)
        # long names lose their middle, not their end ("…_gt" told apart from "…_img")
        self.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        events = viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved, events.reordered):
            emitter.connect(self.refresh)
        self.currentIndexChanged.connect(self._emit_changed)
        self.refresh()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        """The current layer's name elided in the middle, as napari's layer list does."""
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            self,
        )
        option.currentText = self.fontMetrics().elidedText(
            option.currentText, Qt.TextElideMode.ElideMiddle, field.width()
        )
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def layer(self) -> Layer | None:
        """The selected layer, or None."""
        i = self.currentIndex() - (1 if self._allow_none else 0)
        return self._layers[i] if 0 <= i < len(self._layers) else None

    def set_layer(self, layer: Layer | None) -> None:
        """Select ``layer`` (must be listed), or the "none" entry."""
        if layer is None:
            self.setCurrentIndex(0 if self._allow_none else -1)
            return
        self.setCurrentIndex(self._layers.index(layer) + (1 if self._allow_none else 0))

    def layers(self) -> list[Layer]:
        """The listed layers, in the combo's order."""
        return list(self._layers)

    def refresh(self, event: Any = None) -> None:
        """Re-list the layers, keeping the current choice when it still exists."""
        current = self.layer()
        for layer in self._layers:
            layer.events.name.disconnect(self.refresh)
        self._layers = [
            layer
            for layer in reversed(self._viewer.layers)  # top of the layer list first
            if isinstance(layer, self._types)
            and (self._predicate is None or self._predicate(layer))
        ]
        for layer in self._layers:
            layer.events.name.connect(self.refresh)
        self.blockSignals(True)
        self.clear()
        if self._allow_none:
            self.addItem(self._allow_none)
        for layer in self._layers:
            self.addItem(layer.name)
        if current in self._layers:
            self.set_layer(current)
        elif self._layers and not self._allow_none:
            liked = [la for la in self._layers if self._prefer is not None and self._prefer(la)]
            self.set_layer(liked[0] if liked else self._layers[0])
        self.blockSignals(False)
        if self.layer() is not current:
            self._emit_changed()

    def _emit_changed(self, *_: Any) -> None:
        self.layerChanged.emit(self.layer())


#: Channel names of DNA stains (the channel a nuclei model reads).
_NUCLEAR = re.compile(r"dapi|hoechst|nucle|h2b|draq|sir.?dna|\bdna\b|\bnuc\b", re.IGNORECASE)


def nuclear_channel(layer: Layer) -> bool:
    """Whether ``layer`` is the DNA-stain channel of a file (named DAPI, Hoechst, ...):
    Segment chooses it first (it chose the top channel, mCherry, and ran on it; RGB bug
    bash)."""
    meta = layer.metadata or {}
    return "channel" in meta and bool(_NUCLEAR.search(str(layer.name).rsplit("[", 1)[-1]))


# -- output layers ------------------------------------------------------------------------
def layer_data(layer: Layer) -> Any:
    """The full-resolution array of a layer (level 0 of a multiscale one)."""
    return layer.data[0] if layer.multiscale else layer.data


def image_shape(layer: Layer) -> tuple[int, ...]:
    """The pixel grid of an image layer: its level-0 shape without the RGB(A) axis."""
    shape = tuple(layer_data(layer).shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def named_axes(viewer: Any, layer: Layer) -> str | None:
    """A layer's axes as their labels name them (``TYX``): the layer's own axis labels
    (our reader sets them from the file), else the viewer's where the viewer has the
    layer's axes only (labels the user typed on the sliders); None where they are
    napari's numbered defaults (-3, -2, -1), which say nothing of time or Z. The viewer's
    labels alone named a time series' axes Z Y X once a TZYX layer was open beside it,
    and a stack's axes T Y X beside a TYX layer: napari fills the viewer's labels from
    other layers' too, so they count only where no other layer's own labels are them."""
    ndim = len(image_shape(layer)) if hasattr(layer, "rgb") else layer.ndim
    me = real_layer(layer)
    shown = [str(a) for a in viewer.dims.axis_labels]
    borrowed = any(
        (theirs := _named(getattr(other, "axis_labels", None), other.ndim)) is not None
        and _named(shown, len(theirs)) == theirs
        for other in viewer.layers
        if real_layer(other) is not me
    )
    for labels, fits in (
        (getattr(layer, "axis_labels", None), True),
        (viewer.dims.axis_labels, viewer.dims.ndim == ndim and not borrowed),
    ):
        names = _named(labels, ndim)
        if fits and names is not None:
            return names
    return None


def guessed_axes(layer: Layer) -> bool:
    """Whether the layer's file did not name its axes (our reader's record of a plain
    multi-page TIFF, read as a Z stack)."""
    return bool((getattr(layer, "metadata", None) or {}).get("axes_guessed"))


def _named(labels: Any, ndim: int) -> str | None:
    """The last ``ndim`` axis labels as letters (``TYX``), or None where any is not one
    letter (napari's numbered defaults)."""
    names = [str(a) for a in (labels or ())][-ndim:]
    if len(names) == ndim and all(len(a) == 1 and a.isalpha() for a in names):
        return "".join(names).upper()
    return None


def output_name(source: Layer, suffix: str) -> str:
    """``"<source name> [suffix]"``, the name an output layer of ``source`` gets."""
    return f"{source.name} [{suffix}]"


#: Suffixes of the output layers that are maps or overlays, never an image to segment or
#: train on, nor labels to score: the probability and uncertainty maps (Segment), the
#: error overlay (Validate), the preview and the unsure band (Fine-tune).
DERIVED_SUFFIXES = ("probability", "uncertainty", "errors", "preview", "unsure")
_SEGMENTATION = re.compile(r" \[unet( \d+)?\]$")


#: The metadata key marking the layers :func:`output_layer` made, with their suffix.
OUTPUT_MARK = "napari-unetseg output"


def derived(layer: Layer) -> bool:
    """Whether ``layer`` is one of our maps or overlays (:data:`DERIVED_SUFFIXES`): named
    so and made by us (a user's own image named "scan [probability]" was left out of
    every image list; undo bug bash)."""
    suffix = getattr(layer, "metadata", {}).get(OUTPUT_MARK)
    if not isinstance(suffix, str) or not layer.name.endswith(f" [{suffix}]"):
        return False
    # "probability 2": a map written beside a layer of its name that was kept
    return re.sub(r" \d+$", "", suffix) in DERIVED_SUFFIXES


def keep_theirs(viewer: napari.Viewer, source: Layer, suffix: str) -> str | None:
    """Rename a layer of the output's name that this plugin did not make for it (its
    :data:`OUTPUT_MARK` is not ``suffix``: the user's own, a saved output opened again)
    to ``"<name> kept"``, so that the output does not replace its data (a user's
    "[errors]" and "[preview]" layers were overwritten without a word; labels bash).
    Returns the name it is kept under, or None."""
    name = output_name(source, suffix)
    if name not in viewer.layers:
        return None
    layer = viewer.layers[name]
    if (layer.metadata or {}).get(OUTPUT_MARK) == suffix:
        return None
    layer.name = f"{name} kept"  # (napari numbers a name already taken)
    return layer.name


def not_derived(layer: Layer) -> bool:
    """A layer filter for the image and label choices: not one of our maps or overlays."""
    return not derived(layer)


def segmentation_of_ours(layer: Layer, by_record: bool = True) -> bool:
    """Whether ``layer`` holds the Segment widget's labels: named as them (``[unet]``,
    ``[unet 2]``, ...) or (``by_record``) carrying their record, renamed or saved and
    opened again, and not painted on since (napari's Duplicate Layer copies the record:
    a corrected copy is a ground truth; review)."""
    if _SEGMENTATION.search(layer.name) is not None:
        return True
    meta = getattr(layer, "metadata", None) or {}
    made = meta.get("unetseg")
    if not by_record or not isinstance(made, dict) or not made.get("model"):
        return False
    if made.get("edited"):  # painted, saved and opened again (review)
        return False
    from ..provenance import CHECKSUM_KEY, labels_checksum

    # (lazy or large labels are not read: 2.3 s of a dask layer's chunks at every layer
    # added; review) they count as ours, as an unknown edit is kept by a save
    written = meta.get(CHECKSUM_KEY)
    now = None if written is None else labels_checksum(real_layer(layer).data, lazy=False)
    return now is None or now == written


class LayerEdits:
    """Which of some layers were painted on or moved (scale, translate, affine, ...)
    while a run used them as they were: Validate showed the scores of the labels at
    Evaluate's press as the scores of what the layers showed (undo bug bash). Strokes
    are heard as they come; the placement is compared with the start's (napari says
    "scale" for a scale set to the value it had; review bash). :meth:`close` stops
    listening (the layers' events would keep this object and its layers)."""

    EVENTS = ("paint", "labels_update")

    def __init__(self, layers: Iterable[Layer]) -> None:
        self._painted: list[Any] = []
        self._placed = {
            id(real_layer(layer)): (real_layer(layer), _placement(layer)) for layer in layers
        }
        self._hooks: list[tuple[Any, Callable[..., None]]] = []
        for real, _ in self._placed.values():

            def hook(event: Any, real: Any = real) -> None:
                if real not in self._painted:
                    self._painted.append(real)

            for name in self.EVENTS:
                emitter = getattr(real.events, name, None)
                if emitter is not None:
                    emitter.connect(hook)
                    self._hooks.append((emitter, hook))

    @property
    def edited(self) -> list[Any]:
        """The layers painted on or placed elsewhere since the start."""
        moved = [real for real, start in self._placed.values() if _placement(real) != start]
        return [
            real for real, _ in self._placed.values() if real in self._painted or real in moved
        ]

    def close(self) -> None:
        for emitter, hook in self._hooks:
            emitter.disconnect(hook)
        self._hooks = []


def _placement(layer: Layer) -> tuple:
    """Where a layer lies in the world: its scale, translate and affine, as numbers."""
    real = real_layer(layer)
    return (
        tuple(np.round(np.asarray(real.scale, float), 12)),
        tuple(np.round(np.asarray(real.translate, float), 12)),
        tuple(np.round(np.asarray(real.affine.affine_matrix, float), 12).ravel()),
    )


def real_layer(layer: Any) -> Any:
    """The layer behind napari's ``PublicOnlyProxy``: a plugin's viewer hands out a new
    proxy at each access, so a weak reference to one dies at once (a record of layers
    must hold the layers themselves)."""
    return getattr(layer, "__wrapped__", layer)


def layer_key(layer: Layer) -> str:
    """Who a layer is, whatever its name (the registry's "trained on" record): keyed by
    name, an image of the same name in a second viewer was offered a model trained on
    another image, and a renamed image lost its own."""
    return f"layer {id(real_layer(layer))}"


def on_affine(image: Layer) -> dict[str, Any]:
    """The metadata that puts a layer made over ``image`` on its NIfTI affine when saved
    as NIfTI (``nifti_affine`` and the qform / sform ``nifti_forms``; empty for other
    images)."""
    meta = image.metadata or {}
    return {key: meta[key] for key in ("nifti_affine", "nifti_forms") if key in meta}


def spatial_geometry(source: Layer) -> dict[str, Any]:
    """``scale``, ``translate`` (and ``units``, ``axis_labels`` where napari has them) of a
    layer, and its ``rotate``, ``shear`` and extra ``affine`` where they are not the
    identity (set by a reader or by hand: outputs must land on the image)."""
    geometry: dict[str, Any] = {
        "scale": tuple(source.scale),
        "translate": tuple(source.translate),
    }
    for key, value in (
        ("rotate", np.asarray(source.rotate)),
        ("shear", np.asarray(source.shear)),
        ("affine", np.asarray(source.affine.affine_matrix)),
    ):
        identity = np.eye(len(value)) if value.ndim == 2 else np.zeros_like(value)
        if not np.allclose(value, identity):
            geometry[key] = value
    units = getattr(source, "units", None)
    if units is not None:
        geometry["units"] = tuple(units)
    axis_labels = getattr(source, "axis_labels", None)  # t / z from our reader, kept
    if axis_labels is not None:
        geometry["axis_labels"] = tuple(axis_labels)
    return geometry


#: Milliseconds between two long steps in the GUI thread: one frame at 60 Hz and more,
#: so a repaint, a click and timers already due get their turn in between.
BREATHER_MS = 20


def at_next_turn(callback: Callable[[], None]) -> None:
    """Call ``callback`` from the event loop after a :data:`BREATHER_MS` pause.

    Not at once (a 0 ms timer): Qt runs those before the timers already due and the
    viewer would not get its turn in between. Callbacks given here run in the order they
    were given.
    """
    QTimer.singleShot(BREATHER_MS, callback)


def _forget_edits(layer: Layer) -> None:
    """Empty a Labels layer's undo / redo history once its data is a new result: napari
    keeps it when data is replaced, and Ctrl-Shift-Z then stamped a stroke undone before a
    re-run onto the new labels (napari clears it itself only when a layer stops being
    editable; without the method, in a later napari, the history stays as it was)."""
    reset = getattr(real_layer(layer), "_reset_history", None)  # the proxy hides it
    if callable(reset):
        reset()


def _identities(ndim: int) -> dict[str, Any]:
    """No rotation, shear nor extra affine, for ``ndim`` axes (:func:`spatial_geometry`
    leaves those out: an output rotated with its image kept the rotation after the image
    was set back upright; transforms bug bash)."""
    return {
        "rotate": np.eye(ndim),
        "shear": np.zeros(ndim * (ndim - 1) // 2),
        "affine": np.eye(ndim + 1),
    }


def _differs(layer: Layer, key: str, value: Any) -> bool:
    """Whether ``layer``'s ``key`` (scale, translate, rotate, shear, affine, units, axis
    labels) is not ``value``: setting it anyway redrew the whole layer, six redraws of
    a re-run's output where one was needed (1.5 s at 8000 x 8000; GUI-thread bash)."""
    current = getattr(layer, key, None)
    if key == "affine":
        current = current.affine_matrix
    if key in ("units", "axis_labels"):
        return current is None or tuple(current) != tuple(value)
    current, value = np.asarray(current, float), np.asarray(value, float)
    return current.shape != value.shape or not np.array_equal(current, value)


@contextlib.contextmanager
def features_held(layer: Any) -> Iterator[None]:
    """A Labels layer without its features while it is added or made active: napari 0.9
    reads the status of a new active Labels layer with features along the cursor's view,
    which in 3D is None until the mouse moves over the canvas ("len() of unsized object",
    blank layer controls, the wrong layer left active for painting; 3D and ecosystem
    bashes). Its features join once it is in."""
    from napari.layers import Labels

    # Labels only: emptied features drop a Points or Shapes layer's colours by feature
    # for good (review)
    features = getattr(layer, "features", None) if isinstance(layer, Labels) else None
    held = features is not None and len(features.columns) > 0
    if held:
        layer.features = {}
    try:
        yield
    finally:
        if held:
            layer.features = features


def output_layer(
    viewer: napari.Viewer,
    source: Layer,
    suffix: str,
    data: Any,
    layer_type: str = "labels",
    next_turn: bool = False,
    keep_selection: bool = False,
    **kwargs: Any,
) -> Layer:
    """Add ``"<source> [suffix]"`` or, when it exists, replace its data in place.

    ``keep_selection``: a new layer does not become the active one (an overlay the user
    should not paint into by accident, as napari's adding would make it).

    ``data`` may be a list of levels, largest first: a multiscale layer.

    The output gets the source's scale / translate / units; an existing output keeps its
    place in the layer list and the user's display settings (colours, opacity).
    ``next_turn`` builds a new layer now and adds it to the viewer at the next turn of
    the event loop: napari's adding alone holds the GUI thread 80-250 ms (vispy nodes,
    tool overlays, layer controls), so the caller's own work and the adding stall the
    viewer one after the other instead of at once.
    """
    import napari.layers

    name = output_name(source, suffix)
    geometry = spatial_geometry(source)
    levels = isinstance(data, list)  # a pyramid: a multiscale layer
    ndim = len((data[0] if levels else data).shape)
    existing = viewer.layers[name] if name in viewer.layers else None
    kind = getattr(napari.layers, layer_type.capitalize())
    same = isinstance(existing, kind) and existing.ndim == ndim
    if same and existing.multiscale == levels:
        existing.data = data
        existing.metadata[OUTPUT_MARK] = suffix
        _forget_edits(existing)
        for key, value in {**_identities(ndim), **geometry}.items():
            if _differs(existing, key, value):  # each set redraws the whole layer (bash)
                setattr(existing, key, value)  # a rotation since undone is undone here too
        if "contrast_limits" in kwargs:
            existing.contrast_limits = kwargs["contrast_limits"]
        return existing
    layer = kind(data, name=name, **geometry, **kwargs)
    layer.metadata[OUTPUT_MARK] = suffix

    def add() -> None:
        active = viewer.layers.selection.active
        with features_held(layer):
            viewer.add_layer(layer)
        if keep_selection and active is not None and active in viewer.layers:
            with features_held(active):
                viewer.layers.selection.active = active

    if existing is not None:  # same name but another kind/shape: replace it in its place
        index = viewer.layers.index(existing)
        viewer.layers.remove(existing)
        add()
        viewer.layers.move(viewer.layers.index(layer), index)
        return layer
    if not next_turn:
        add()
        return layer

    def add_later() -> None:  # unless the source went away in between
        if source in viewer.layers and name not in viewer.layers:
            add()

    at_next_turn(add_later)
    return layer
