"""The "Validate" dock widget: score a prediction layer against a ground-truth layer.

The widget gathers two Labels layers and the settings; the work is
:func:`napari_unetseg.api.evaluate_iter` in a worker thread (through
:class:`~napari_unetseg._qt._worker.JobRunner`). Results are shown as a sortable,
copyable table (one row per class, then the means), a summary line, a per-slice Dice
plot for 3D data and an error overlay layer ``"<prediction> [errors]"`` (false positives
and false negatives in two colours) that a re-run updates in place.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QFont, QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAction,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._builders import scroll_page
from ._common import LayerComboBox, layer_data, notify_error, output_layer, spatial_geometry
from ._plots import PlotCanvas
from ._worker import JobRunner

if TYPE_CHECKING:
    import napari
    from napari.layers import Labels

    from ..core.metrics import EvaluationResult

ERRORS_SUFFIX = "errors"

#: Overlay values (see ``core.metrics.error_map``): name and colour. Magenta and cyan
#: stay distinct for red-green colour-blind eyes and on dark images.
ERROR_KINDS = {
    1: ("false positive", "#ff3dff"),
    2: ("false negative", "#00e5ff"),
    3: ("wrong class", "#ffd600"),
}

MODES = {
    "dense": (
        "Dense masks",
        "Ground truth: 0 = background, k = class k. Instance labels (one id per object) "
        "against a binary prediction are scored as one class, objects taken from the ids.",
    ),
    "sparse": (
        "Sparse scribbles",
        "Ground truth: 0 = not painted (ignored), 1 = background, k + 1 = class k, as "
        "painted for Fine-tune. Only painted pixels are scored; no object scores.",
    ),
}

#: Choices of the "Instances in" combo: text and ``instances`` argument of evaluate.
INSTANCE_CHOICES = (
    ("auto-detect", "auto"),
    ("neither (labels are classes)", "none"),
    ("ground truth", "ground_truth"),
    ("prediction", "prediction"),
    ("both", "both"),
)

#: Table headers and tooltips for the result columns (keys of ``EvaluationResult.rows``).
HEADERS: dict[str, tuple[str, str]] = {
    "class": ("Class", "Class id, then the means over classes."),
    "dice": ("Dice", "2 TP / (2 TP + FP + FN): overlap, 1 is perfect."),
    "iou": ("IoU", "TP / (TP + FP + FN), the Jaccard index."),
    "sensitivity": ("Sensitivity", "TP / (TP + FN): share of the class found (recall)."),
    "specificity": ("Specificity", "TN / (TN + FP): share of the rest left alone."),
    "precision": ("Precision", "TP / (TP + FP): share of predictions that are right."),
    "accuracy": ("Accuracy", "(TP + TN) / all scored pixels."),
    "hd95": (
        "HD95",
        "95% Hausdorff distance between the outlines (larger of both "
        "directions), in the layer's units.",
    ),
    "assd": ("ASSD", "Average symmetric surface distance, in the layer's units."),
    "cldice": ("clDice", "Centerline Dice: overlap of skeletons, for thin structures."),
    "obj_n_gt": ("GT objects", "Objects in the ground truth (connected components or ids)."),
    "obj_n_pred": ("Pred objects", "Objects in the prediction."),
    "obj_tp": ("Obj TP", "Predicted objects matched one-to-one at IoU >= threshold."),
    "obj_fp": ("Obj FP", "Predicted objects without a match."),
    "obj_fn": ("Obj FN", "Ground-truth objects without a match."),
    "obj_precision": ("Obj precision", "Matched / predicted objects."),
    "obj_recall": ("Obj recall", "Matched / ground-truth objects."),
    "obj_f1": ("Obj F1", "2 TP / (2 TP + FP + FN) over objects."),
    "obj_mean_iou": ("Matched IoU", "Mean IoU of the matched object pairs."),
    "obj_pq": ("PQ", "Panoptic quality: matched IoU sum / (TP + FP/2 + FN/2)."),
    "obj_split": ("Split", "Ground-truth objects cut into two or more predicted ones."),
    "obj_merged": ("Merged", "Predicted objects covering two or more ground-truth ones."),
    "tp": ("TP", "True-positive pixels."),
    "fp": ("FP", "False-positive pixels."),
    "fn": ("FN", "False-negative pixels."),
    "tn": ("TN", "True-negative pixels."),
}
_DISTANCES = ("hd95", "assd")


def parse_classes(text: str) -> list[int] | None:
    """``"1, 3-5"`` -> ``[1, 3, 4, 5]``; empty or ``"all"`` -> None.

    Raises
    ------
    ValueError
        For anything else, with one sentence saying what is expected.
    """
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    out: set[int] = set()
    try:
        for part in text.replace(";", ",").replace(" ", ",").split(","):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            first, last = int(lo), int(hi) if sep else int(lo)
            if first < 0 or last < first:
                raise ValueError(part)
            out.update(range(first, last + 1))
    except ValueError:
        raise ValueError(
            f"Classes {text!r} are not understood: give ids like '1, 2' or '1-3', or 'all'."
        ) from None
    return sorted(out)


def _cell_text(key: str, value: Any) -> str:
    from ..core.metrics import format_value

    return value if isinstance(value, str) else format_value(value, 2 if key in _DISTANCES else 3)


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers, n/a last), not its text."""

    def __init__(self, key: str, value: Any) -> None:
        super().__init__(_cell_text(key, value))
        self.value = value
        if isinstance(value, str):
            self.sort_key: tuple = (0, 0.0, value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            self.sort_key = (1, 0.0, "")
        else:
            self.sort_key = (0, float(value), "")
        if not isinstance(value, str):
            self.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _Item):
            return self.sort_key < other.sort_key
        return super().__lt__(other)


class ResultTable(QTableWidget):
    """The metrics table: sortable by clicking a header; Ctrl+C copies tab-separated text
    (the selected cells, or everything when nothing is selected) with full precision."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys: list[str] = []
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy = QAction("Copy (tab-separated)", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)  # shown in the menu; see keyPressEvent
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(lambda: self.copy())
        copy_all = QAction("Copy whole table", self)
        copy_all.triggered.connect(lambda: self.copy(everything=True))
        self.addAction(copy)
        self.addAction(copy_all)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        # Ctrl+C (Cmd+C) handled here, not only by the action: napari's own shortcuts
        # must not see it, and it works whenever the table has the key focus.
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
            event.accept()
            return
        super().keyPressEvent(event)

    def show_rows(self, rows: list[dict[str, Any]], keys: list[str], unit: str | None) -> None:
        """Fill the table with ``rows`` (dicts) in columns ``keys``."""
        self.setSortingEnabled(False)
        self.clear()
        self.keys = list(keys)
        self.setColumnCount(len(keys))
        self.setRowCount(len(rows))
        for j, key in enumerate(keys):
            title, tip = HEADERS.get(key, (key, ""))
            if key in _DISTANCES and unit:
                title = f"{title} ({unit})"
            header = QTableWidgetItem(title)
            header.setToolTip(tip)
            self.setHorizontalHeaderItem(j, header)
        emphasis = QFont()
        emphasis.setItalic(True)
        for i, row in enumerate(rows):
            summary = not str(row["class"])[:1].isdigit()
            for j, key in enumerate(keys):
                item = _Item(key, row.get(key))
                if summary:
                    item.setFont(emphasis)
                self.setItem(i, j, item)
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        # As tall as its rows (a few), so the plot below gets the rest of the dock.
        self.resizeRowsToContents()
        rows_height = sum(self.rowHeight(i) for i in range(self.rowCount()))
        self.setMaximumHeight(
            rows_height
            + self.horizontalHeader().sizeHint().height()
            + self.horizontalScrollBar().sizeHint().height()
            + 2 * self.frameWidth()
            + 2
        )

    def value(self, row: int, key: str) -> Any:
        """The value (not the text) shown in ``row`` (visual order) of column ``key``."""
        item = self.item(row, self.keys.index(key))
        return None if item is None else item.value

    def tsv(self, everything: bool = False) -> str:
        """The selected cells (or all) as tab-separated text with a header line."""
        from ..core.metrics import plain_value

        ranges = [] if everything else self.selectedRanges()
        if ranges:
            rows = sorted({r for rg in ranges for r in range(rg.topRow(), rg.bottomRow() + 1)})
            cols = sorted(
                {c for rg in ranges for c in range(rg.leftColumn(), rg.rightColumn() + 1)}
            )
        else:
            rows, cols = list(range(self.rowCount())), list(range(self.columnCount()))
        lines = ["\t".join(self.horizontalHeaderItem(c).text() for c in cols)]
        for r in rows:
            cells = []
            for c in cols:
                item = self.item(r, c)
                cells.append("" if item is None else plain_value(item.value))
            lines.append("\t".join(cells))
        return "\n".join(lines)

    def copy(self, everything: bool = False) -> None:
        """Put :meth:`tsv` on the clipboard (pastes into a spreadsheet)."""
        QApplication.clipboard().setText(self.tsv(everything))


class ValidateWidget(QWidget):
    """Compare a prediction with ground truth (napari dock widget "Validate").

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Labels

        self.viewer = napari_viewer
        self.result: EvaluationResult | None = None
        self._pred_layer: Labels | None = None

        # -- inputs ----------------------------------------------------------------------
        self.pred_combo = LayerComboBox(napari_viewer, Labels, parent=self)
        self.pred_combo.setToolTip("The segmentation to score. The list follows the layers.")
        self.gt_combo = LayerComboBox(napari_viewer, Labels, parent=self)
        self.gt_combo.setToolTip("The reference labels, same shape as the prediction.")
        self.mode_combo = QComboBox(self)
        for key, (title, tip) in MODES.items():
            self.mode_combo.addItem(title, key)
            self.mode_combo.setItemData(
                self.mode_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.mode_hint = QLabel(self)
        self.mode_hint.setWordWrap(True)
        self.mode_hint.setStyleSheet("color: gray;")
        self.classes_edit = QLineEdit(self)
        self.classes_edit.setPlaceholderText("all (or e.g. 1, 3-4)")
        self.classes_edit.setToolTip("Class ids to score; empty = every class present.")
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.05, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setValue(0.5)
        self.threshold_spin.setToolTip(
            "A predicted object matches a ground-truth object when their IoU is at least "
            "this (0.5: the usual, unique matching)."
        )
        self.instances_combo = QComboBox(self)
        for text, key in INSTANCE_CHOICES:
            self.instances_combo.addItem(text, key)
        self.instances_combo.setToolTip(
            "Which layer holds instance labels (one id per object, e.g. from 'Split "
            "touching objects'): scored as one foreground class, objects from the ids. "
            "Auto-detect: a binary layer against many labels, or many ids that disagree."
        )
        self.objects_check = QCheckBox("Objects, HD95 and clDice", self)
        self.objects_check.setChecked(True)
        self.objects_check.setToolTip(
            "Object matching, boundary distances and centerline Dice per class. They need "
            "both volumes in memory; without them huge volumes are scored slab by slab."
        )

        form = QFormLayout()
        form.addRow("Prediction", self.pred_combo)
        form.addRow("Ground truth", self.gt_combo)
        form.addRow("Labels are", self.mode_combo)
        form.addRow("", self.mode_hint)
        form.addRow("Classes", self.classes_edit)
        form.addRow("Instances in", self.instances_combo)
        form.addRow("Object IoU ≥", self.threshold_spin)
        form.addRow("", self.objects_check)

        # -- run / cancel ----------------------------------------------------------------
        self.run_button = QPushButton("Evaluate", self)
        self.run_button.setToolTip("Score the prediction against the ground truth.")
        self.cancel_button = QPushButton("Cancel", self)
        self.runner = JobRunner(self.run_button, self.cancel_button, self)
        self.run_button.clicked.connect(self.run)
        self.command_button = QPushButton("Copy as command", self)
        self.command_button.setToolTip(
            "The unetseg command line (and Python code) that repeats this evaluation."
        )
        self.command_button.clicked.connect(lambda: self.copy_command())
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.command_button)

        # -- results ---------------------------------------------------------------------
        self.summary = QLabel("Choose two Labels layers and press Evaluate.", self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setText(
            "Error overlay: "
            + " ".join(
                f"<span style='color:{color}'>■</span> {name}"
                for name, color in ERROR_KINDS.values()
            )
        )
        self.legend.setVisible(False)
        self.table = ResultTable(self)
        self.table.setMinimumHeight(120)
        self.plot = PlotCanvas(
            self, viewer=napari_viewer, xlabel="slice", ylabel="Dice", title="Dice per slice"
        )
        self.plot.setVisible(False)
        self.plot.on_click(self._go_to_slice)
        self.export_button = QPushButton("Export CSV...", self)
        self.export_button.setToolTip("Save the table as a CSV file.")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(lambda: self.export_csv())

        layout = QVBoxLayout(scroll_page(self))
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.legend)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.export_button)

        self.mode_combo.currentIndexChanged.connect(self._update_state)
        self.pred_combo.layerChanged.connect(self._update_state)
        self.gt_combo.layerChanged.connect(self._update_state)
        self.runner.finished.connect(self._update_state)
        napari_viewer.dims.events.current_step.connect(self._update_marker)
        self._pick_defaults()
        self._update_state()

    # -- public API (also used by the tests) -------------------------------------------------
    def mode(self) -> str:
        """``'dense'`` or ``'sparse'``."""
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        """Choose ``'dense'`` or ``'sparse'``."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def run(self) -> Any:
        """Start the evaluation; returns the worker (None when it did not start)."""
        if self.runner.busy:
            return None
        pred, gt = self.pred_combo.layer(), self.gt_combo.layer()
        if pred is None or gt is None:
            return None
        try:
            options = self.options(gt)
        except ValueError as exc:
            notify_error(exc)
            return None
        _, unit = self._spacing(gt)
        self.summary.setText(f"Evaluating {pred.name!r} against {gt.name!r}...")
        return self.runner.start(
            _evaluate_job,
            layer_data(pred),
            layer_data(gt),
            description="Validating",
            on_result=lambda result: self._show(pred, result),
            on_error=lambda exc: self.summary.setText("Failed; see the notification."),
            on_cancel=lambda: self.summary.setText("Cancelled."),
            error_context="Validation failed",
            **options,
            return_errors=True,
            unit=unit,
        )

    def options(self, ground_truth: Labels) -> dict[str, Any]:
        """The scoring settings, as :func:`napari_unetseg.api.evaluate` arguments.

        Raises ``ValueError`` (one sentence) for an unreadable class list.
        """
        return {
            "mode": self.mode(),
            "spacing": self._spacing(ground_truth)[0],
            "objects": self.objects_check.isChecked(),
            "classes": parse_classes(self.classes_edit.text()),
            "iou_threshold": self.threshold_spin.value(),
            "instances": str(self.instances_combo.currentData()),
        }

    def copy_command(self, folder: str | None = None) -> Any:
        """Show (and copy) the command that scores the chosen layers like Evaluate does.

        Layers that live only in the session are saved first, into ``folder`` (asked for
        when None). Returns the dialog, or None.
        """
        from ..commands import evaluate_command
        from .reproduce import show_command

        pred, gt = self.pred_combo.layer(), self.gt_combo.layer()
        if pred is None or gt is None:
            return None
        return show_command(
            self,
            lambda files: evaluate_command(files.layer(pred), files.layer(gt), **self.options(gt)),
            folder,
        )

    def cancel(self) -> None:
        """Stop a running evaluation (nothing is changed)."""
        self.runner.cancel()

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        """Write the results as CSV (asks for a file when ``path`` is None)."""
        if self.result is None:
            return None
        if path is None:
            default = str(Path.home() / f"{self._pred_name()} metrics.csv")
            path, _ = QFileDialog.getSaveFileName(
                self, "Export metrics as CSV", default, "CSV files (*.csv);;All files (*)"
            )
            if not path:
                return None
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_name(path.name + ".csv")
        try:
            self.result.to_csv(path)
        except OSError as exc:
            notify_error(exc, "Could not write the CSV file")
            return None
        self.summary.setText(f"{self._summary_text()}\nSaved {path}.")
        return path

    # -- internals ---------------------------------------------------------------------------
    def _pick_defaults(self) -> None:
        """Start with two different layers when there are two (prediction on top)."""
        layers = self.pred_combo.layers()
        if len(layers) >= 2 and self.gt_combo.layer() is self.pred_combo.layer():
            self.gt_combo.set_layer(layers[1])

    def _spacing(self, layer: Labels) -> tuple[tuple[float, ...], str | None]:
        from .._io import common_unit

        geometry = spatial_geometry(layer)
        return tuple(float(s) for s in geometry["scale"]), common_unit(geometry.get("units"))

    def _pred_name(self) -> str:
        return self._pred_layer.name if self._pred_layer is not None else "prediction"

    def _summary_text(self) -> str:
        if self.result is None:
            return ""
        return "\n".join([self.result.summary_line(), *self.result.notes])

    def _show(self, pred: Labels, result: EvaluationResult) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        self.result, self._pred_layer = result, pred
        self.table.show_rows(result.rows(), _columns(result), result.unit)
        self.summary.setText(self._summary_text())
        self.export_button.setEnabled(True)
        self._plot_slices(result)
        if result.errors is None or pred not in self.viewer.layers:
            return
        colors = {None: "transparent", 0: "transparent"}
        colors.update({k: color for k, (_, color) in ERROR_KINDS.items()})
        names = ["", *(name for name, _ in ERROR_KINDS.values())]
        output_layer(
            self.viewer,
            pred,
            ERRORS_SUFFIX,
            result.errors,
            "labels",
            colormap=DirectLabelColormap(color_dict=colors),
            features={"index": list(range(len(names))), "error": names},
            opacity=0.8,
            blending="translucent_no_depth",
        )
        self.legend.setVisible(True)

    def _plot_slices(self, result: EvaluationResult) -> None:
        self.plot.clear()
        if not result.per_slice_dice:
            self.plot.setVisible(False)
            return
        for cid, dice in result.per_slice_dice.items():
            self.plot.set_line(f"class {cid}", np.arange(len(dice)), dice, marker=".", ms=3)
        self.plot.rescale(ylim=(0, 1.02))
        self.plot.legend(len(result.per_slice_dice) > 1)
        self.plot.setVisible(True)
        self._update_marker()

    def _slice_axis(self) -> tuple[Labels, int] | None:
        """The prediction layer and the viewer axis of its first (slice) axis."""
        layer = self._pred_layer
        if layer is None or layer not in self.viewer.layers or layer.ndim < 3:
            return None
        return layer, self.viewer.dims.ndim - layer.ndim

    def _update_marker(self, event: Any = None) -> None:
        found = self._slice_axis()
        if found is None or self.plot.isHidden():
            return
        layer, axis = found
        z = layer.world_to_data(self.viewer.dims.point[-layer.ndim :])[0]
        self.plot.set_marker(float(round(z)))

    def _go_to_slice(self, x: float, _y: float) -> None:
        """Clicking the per-slice plot shows that slice in the viewer."""
        found = self._slice_axis()
        if found is None:
            return
        layer, axis = found
        z = int(np.clip(round(x), 0, layer.data.shape[0] - 1))
        world = layer.data_to_world([z] + [0] * (layer.ndim - 1))[0]
        self.viewer.dims.set_point(axis, world)

    def _update_state(self, *_: Any) -> None:
        self.mode_hint.setText(MODES[self.mode()][1])
        pred, gt = self.pred_combo.layer(), self.gt_combo.layer()
        ready = pred is not None and gt is not None and not self.runner.busy
        self.run_button.setEnabled(ready)
        self.run_button.setToolTip(
            "Score the prediction against the ground truth."
            if pred is not None and gt is not None
            else "Open two Labels layers (prediction and ground truth) first."
        )

    def sizeHint(self) -> Any:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), 340))
        return hint


#: The table's column order: the scores people look at first come first (the dock is
#: narrow), then the rest of :data:`~napari_unetseg.core.metrics.COLUMNS`.
FIRST_COLUMNS = ("class", "dice", "iou", "obj_f1", "hd95", "cldice", "obj_pq", "assd")


def _columns(result: EvaluationResult) -> list[str]:
    """Columns worth showing, most telling first; without the object / distance ones
    when the run did not compute them."""
    from ..core.metrics import COLUMNS, SHAPE_METRICS

    keys = [*FIRST_COLUMNS, *(c for c in COLUMNS if c not in FIRST_COLUMNS)]
    if result.objects or any(not math.isnan(v["hd95"]) for v in result.classes.values()):
        return keys
    return [c for c in keys if c not in SHAPE_METRICS and not c.startswith("obj_")]


def _evaluate_job(prediction: Any, ground_truth: Any, **options: Any) -> Any:
    """The worker's job (a generator): :func:`napari_unetseg.api.evaluate_iter`."""
    from .. import api

    return (yield from api.evaluate_iter(prediction, ground_truth, **options))


__all__ = ["ResultTable", "ValidateWidget", "parse_classes"]
