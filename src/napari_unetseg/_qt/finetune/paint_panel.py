"""Section "1. Paint" of the Fine-tune widget: image, labels, label mode, pixel counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import QButtonGroup, QLabel, QRadioButton, QVBoxLayout, QWidget

from ...core.training.labels import label_counts, problem_with
from .. import _builders as ui
from .._common import LayerComboBox, not_derived, notify_error
from .._plots import warning_colour
from .label_policy import (
    BACKGROUND,
    OBJECT,
    SCRIBBLE_NAMES,
    colour,
    counts_html,
    guess_mode,
    mode_help,
    scribble_colour,
    scribble_names,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Labels

#: Pixel counts wait this long after the last paint event (milliseconds).
COUNT_DELAY_MS = 150


def labels_colormap(colors: dict[int, tuple[float, ...]]) -> Any:
    """A napari colormap: transparent 0, ``colors`` for their values, gray for others."""
    from napari.utils.colormaps import DirectLabelColormap

    from ..._colours import label_colours

    return DirectLabelColormap(color_dict=label_colours(colors))


class PaintPanel(QWidget):
    """The image, its labels layer and how to read them; counts what is painted.

    Signals
    -------
    changed()
        The labels layer changed (the image combo has its own ``layerChanged``).
    counted(dict)
        The painted pixels were counted anew: ``{label value: pixels}``.
    """

    changed = Signal()
    counted = Signal(object)

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None):
        super().__init__(parent)
        from napari.layers import Image, Labels

        self.viewer = viewer
        self._watched: Labels | None = None
        # the warning's colour is the theme's: a switch to the light theme left the dark
        # one's orange, hard to read (UI bash)
        viewer.events.theme.connect(self._on_theme)
        rows = ui.Form()
        self.image_combo = rows.add(
            "Image", LayerComboBox(viewer, Image, predicate=not_derived, parent=self)
        )
        self.image_combo.setToolTip("The image to learn from. The list follows the layer list.")
        # fmt: off
        # not our preview, unsure band or Validate's error overlay: nothing to learn from
        self.labels_combo = rows.add("Labels", LayerComboBox(
            viewer, Labels, predicate=not_derived, parent=self
        ))
        self.labels_combo.setToolTip("The labels painted over the image (same size as the image).")
        self.new_button = rows.add("", ui.button(
            self, "New scribble layer",
            "Add an empty labels layer over the image, ready to paint: label 1 = "
            "background, label 2 = object.",
        ))
        # fmt: on
        self._build_mode_choice()
        rows.add("Label mode", ui.row(self.scribble_radio, self.dense_radio, stretch_end=True))
        self.mode_help = ui.hint_label(self)
        self.paint_bg_button = ui.button(self, "", slot=lambda: self.paint(BACKGROUND))
        self.paint_obj_button = ui.button(self, "", slot=lambda: self.paint(OBJECT))
        for btn, value in ((self.paint_bg_button, BACKGROUND), (self.paint_obj_button, OBJECT)):
            btn.setStyleSheet(f"border-left: 6px solid {colour(scribble_colour(value))};")
        self.name_paint_buttons(SCRIBBLE_NAMES)
        self.paint_new_button = ui.button(
            self,
            "New class",
            "Paint one more class: selects the next label value not painted yet (3, 4, ...). "
            "Each class is counted below with the value it is painted with; click a class's "
            "square there to paint it again.",
            slot=self.paint_new_class,
        )
        # wrapped: a long layer name quoted there widened the dock until the canvas was a
        # 25-pixel strip at 1024 pixels (accessibility bug bash)
        self.counts_label = ui.wrapped(QLabel(self))
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        # a class in the counts, clicked: its brush
        self.counts_label.linkActivated.connect(lambda value: self.paint(int(value)))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(rows)
        layout.addWidget(self.mode_help)
        # two rows: side by side the three kept the dock wide (GUI bash)
        layout.addLayout(ui.row(self.paint_bg_button, self.paint_obj_button))
        layout.addLayout(ui.row(self.paint_new_button, stretch_end=True))
        layout.addWidget(self.counts_label)

        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self.update_counts)
        self.labels_combo.layerChanged.connect(self._on_labels_changed)
        self.scribble_radio.toggled.connect(self._on_mode_changed)
        self._on_labels_changed(self.labels_combo.layer())

    def _build_mode_choice(self) -> None:
        self.scribble_radio = QRadioButton("Scribbles", self)
        self.scribble_radio.setToolTip(
            "A few painted strokes: 1 = background, 2 = object (3, 4, ... = more classes), "
            "0 = not painted (ignored)."
        )
        self.dense_radio = QRadioButton("Dense masks", self)
        self.dense_radio.setToolTip(
            "Complete ground truth: 0 = background, every other value = object (instance "
            "masks count as one object class)."
        )
        self.scribble_radio.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.scribble_radio)
        self._mode_group.addButton(self.dense_radio)

    # -- public API -----------------------------------------------------------------------
    @property
    def label_mode(self) -> str:
        """``'sparse'`` (scribbles) or ``'dense'`` (complete masks)."""
        return "sparse" if self.scribble_radio.isChecked() else "dense"

    def names(self) -> dict[int, str]:
        """Names of the label values of the chosen labels layer."""
        layer = self.labels_combo.layer()
        return SCRIBBLE_NAMES if layer is None else scribble_names(layer)

    def paint(self, value: int) -> None:
        """Select the labels layer, its paint brush and label ``value``."""
        layer = self.labels_combo.layer()
        if layer is None:
            notify_error("Pick a labels layer first, or click 'New scribble layer'.")
            return
        self.viewer.layers.selection.active = layer
        layer.selected_label = value
        layer.mode = "paint"

    def next_class_value(self) -> int:
        """The label value of one more class: above every value painted (and above the
        object's), or above the brush's value where the labels are too large to count."""
        layer = self.labels_combo.layer()
        counts = None if layer is None else label_counts(layer.data)
        if counts is None:
            highest = layer.selected_label if layer is not None else OBJECT
        else:
            highest = max((v for v, n in counts.items() if n > 0), default=OBJECT)
        return max(highest, OBJECT) + 1

    def paint_new_class(self) -> None:
        """Select the labels layer's paint brush with :meth:`next_class_value`."""
        self.paint(self.next_class_value())

    def name_paint_buttons(self, names: dict[int, str]) -> None:
        """Name the paint buttons, and the help line, with the values' names."""
        self.mode_help.setText(mode_help(self.label_mode, names))
        for btn, value in ((self.paint_bg_button, BACKGROUND), (self.paint_obj_button, OBJECT)):
            name = names.get(value, SCRIBBLE_NAMES[value])
            btn.setText(f"Paint {name} ({value})")
            btn.setToolTip(
                f"Select the labels layer and its paint brush with label {value} ({name})."
            )

    def update_counts(self) -> None:
        """Refresh the painted-pixel counts (and the readiness sentence), and the buttons'
        names: the layer's own names of its values may have changed."""
        self.name_paint_buttons(self.names())
        layer = self.labels_combo.layer()
        if layer is None:
            self.counts_label.setText("<i>No labels layer: click 'New scribble layer'.</i>")
            return
        counts = label_counts(layer.data)
        if counts is None:
            self.counts_label.setText("<i>Labels are counted when training starts.</i>")
            return
        problem = problem_with(counts, self.label_mode, layer.name)
        warning = warning_colour(self.viewer.theme)
        html = counts_html(counts, self.label_mode, self.names(), problem, warning)
        self.counts_label.setText(html)
        self.counted.emit(counts)

    # -- internals ------------------------------------------------------------------------
    def _on_theme(self, _event: Any = None) -> None:
        try:
            self.update_counts()
        except RuntimeError:  # the dock was closed: its Qt objects are gone
            self.viewer.events.theme.disconnect(self._on_theme)

    def _on_labels_changed(self, layer: Labels | None) -> None:
        if self._watched is not None:
            for emitter in _label_events(self._watched):
                emitter.disconnect(self._schedule_count)
        self._watched = layer
        if layer is not None:
            for emitter in _label_events(layer):
                emitter.connect(self._schedule_count)
            guessed = guess_mode(layer)
            if guessed == "sparse":
                self.scribble_radio.setChecked(True)
            elif guessed == "dense":
                self.dense_radio.setChecked(True)
        self._on_mode_changed()  # counts the layer and names its values on the buttons
        self.changed.emit()

    def _schedule_count(self, event: Any = None) -> None:
        self._count_timer.start()

    def _on_mode_changed(self, *_: Any) -> None:
        sparse = self.label_mode == "sparse"
        self.paint_bg_button.setVisible(sparse)
        self.paint_obj_button.setVisible(sparse)
        self.paint_new_button.setVisible(sparse)
        self.update_counts()


def _label_events(layer: Labels) -> list[Any]:
    # paint: a finished stroke or fill; data: a new array; set_data: undo/redo refresh;
    # features: the values' names (a script or another plugin names the classes)
    return [layer.events.paint, layer.events.data, layer.events.set_data, layer.events.features]
