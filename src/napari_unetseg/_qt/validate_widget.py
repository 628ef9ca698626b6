"""The "Validate" dock widget: score a prediction layer against a ground-truth layer.

The widget gathers two Labels layers and the settings; the work is
:func:`~napari_unetseg._qt.validate_job.evaluate_job` (:func:`napari_unetseg.api.evaluate_iter`)
in a worker thread, through :class:`~napari_unetseg._qt._worker.JobRunner`. Results are
shown as a sortable, copyable table (:mod:`~napari_unetseg._qt.validate_table`; one row
per class, then the means), a summary line, a per-slice Dice plot for 3D data and an
error overlay layer ``"<prediction> [errors]"`` (false positives and false negatives in
two colours) that a re-run updates in place.
"""

from __future__ import annotations

import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .._io import common_unit
from .._units import one_length_unit, time_axis
from ..core.metrics.report import distance_unit
from . import _builders as ui
from ._common import (
    LayerComboBox,
    LayerEdits,
    keep_theirs,
    layer_data,
    named_axes,
    not_derived,
    notify_error,
    output_layer,
    output_name,
    real_layer,
    segmentation_of_ours,
    spatial_geometry,
    write_csv,
)
from ._plots import PlotCanvas
from ._worker import JobRunner
from .finetune.label_policy import SCRIBBLE_KEY
from .placement import placement_problem
from .validate_job import (
    ERROR_KINDS,
    ERRORS_SUFFIX,
    INSTANCE_CHOICES,
    MODES,
    columns,
    evaluate_job,
    parse_classes,
    shared_unit,
    spacing_note,
    split_note,
    swapped_note,
    value_names,
)
from .validate_table import TABLE_MIN_HEIGHT, ResultTable

if TYPE_CHECKING:
    import napari
    from napari.layers import Labels

    from ..core.metrics import EvaluationResult


#: Classes drawn one curve each in the per-slice plot; more are drawn as their mean.
MAX_CURVES = 6

#: Why Evaluate is off while both boxes hold one layer.
SAME_LAYER = "Prediction and ground truth are the same layer: choose two layers."
#: ... and where only one Labels layer is open.
ONE_LAYER = (
    "Only one Labels layer is open: open or add the other one (the prediction or the "
    "ground truth) to compare them."
)


def _dot_size(dice: np.ndarray) -> float:
    """Points of a per-slice curve: larger where a scored slice has no scored neighbour
    (a line joins neighbours only; a slice of scribbles alone was a 3-pixel dot)."""
    scored = ~np.isnan(dice)
    padded = np.r_[False, scored, False]
    alone = scored & ~padded[:-2] & ~padded[2:]
    return 6.0 if alone.any() else 2.5


class ValidateWidget(ui.DockWidget):
    """Compare a prediction with ground truth (napari dock widget "Validate")."""

    MIN_WIDTH = 340

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.result: EvaluationResult | None = None
        #: The error overlay made for each prediction layer (it follows a renamed layer)
        self._overlays: weakref.WeakKeyDictionary[Labels, Labels] = weakref.WeakKeyDictionary()
        self._hidden: weakref.WeakSet[Labels] = weakref.WeakSet()  # by a failed run
        # held weakly (a deleted prediction is freed; leaks bug bash), its name kept
        self._pred_ref: weakref.ref[Labels] | None = None
        self._scored: list[tuple[weakref.ref[Labels], str]] = []  # the layers on show
        self._pred_said = "prediction"
        self._names: dict[int, str] = {}  # class id -> name, from the layers' features

        layout = QVBoxLayout(ui.scroll_page(self))
        layout.addLayout(self._build_inputs())
        layout.addLayout(self._build_actions())
        self._build_results()
        for part, stretch in (
            (self.summary, 0), (self.legend, 0), (self.table, 4), (self.plot, 4),
            (self.export_button, 0),
        ):  # fmt: skip
            layout.addWidget(part, stretch)
        # the room the table (as tall as its rows) and a hidden plot leave goes below,
        # not between the controls (a 100 px gap under the summary and the legend)
        layout.addStretch(1)

        self.mode_combo.currentIndexChanged.connect(self._update_state)
        self._mode_by_user = False  # the mode follows the ground truth until then
        self.mode_combo.activated.connect(self._mode_chosen)
        self.pred_combo.layerChanged.connect(self._update_state)
        self.gt_combo.layerChanged.connect(self._mode_for_truth)
        self.gt_combo.layerChanged.connect(self._update_state)
        self.runner.finished.connect(self._update_state)
        self._edits: LayerEdits | None = None  # what the user did to the layers meanwhile
        self.runner.finished.connect(self._stop_watching)
        napari_viewer.dims.events.current_step.connect(self._update_marker)
        # while both boxes hold one layer and the user has not picked, a new layer sorts
        # the two boxes again (a ground truth opened after segmenting)
        self._user_chose = False
        for combo in (self.pred_combo, self.gt_combo):
            combo.activated.connect(self._chose)
        napari_viewer.layers.events.inserted.connect(self._layer_added)
        self._pick_defaults()
        self._mode_for_truth()
        self._update_state()

    def _build_inputs(self) -> QFormLayout:
        """The two layers, how to read them, and what to score."""
        from napari.layers import Labels

        rows = ui.Form()
        self.pred_combo = rows.add(
            "Prediction", LayerComboBox(self.viewer, Labels, predicate=not_derived, parent=self)
        )
        self.pred_combo.setToolTip("The segmentation to score. The list follows the layers.")
        self.gt_combo = rows.add(
            "Ground truth", LayerComboBox(self.viewer, Labels, predicate=not_derived, parent=self)
        )
        self.gt_combo.setToolTip("The reference labels, same shape as the prediction.")
        # fmt: off
        self.mode_combo = rows.add("Labels are", ui.combo_box(
            self, [(title, key) for key, (title, _) in MODES.items()],
            "What the ground truth holds: every pixel labelled, or strokes with 0 as "
            "'not painted' (scored where painted only); each entry says more.",
        ))
        for index, (_, tip) in enumerate(MODES.values()):
            self.mode_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode_hint = rows.add("", ui.hint_label(self))
        self.classes_edit = rows.add("Classes", QLineEdit(self))
        self.classes_edit.setPlaceholderText("all (or e.g. 1, 3-4)")
        self.classes_edit.setToolTip("Class ids to score; empty = every class present.")
        self.instances_combo = rows.add("Instances in", ui.combo_box(
            self, INSTANCE_CHOICES,
            "Which layer holds instance labels (one id per object, e.g. from 'Split "
            "touching objects'): scored as one foreground class, objects from the ids. "
            "Auto-detect: a binary layer against many labels, or many ids that disagree.",
        ))
        self.threshold_spin = rows.add("Object IoU ≥", ui.spin_box(
            self, 0.05, 1.0, 0.5, step=0.05, decimals=2,
            tip="A predicted object matches a ground-truth object when their IoU is at "
            "least this (0.5: the usual matching, one to one where IoU is above 0.5).",
        ))
        self.objects_check = rows.add("", ui.check_box(
            self, "Objects, HD95 and clDice",
            "Object matching, boundary distances and centerline Dice per class. They need "
            "both volumes in memory; without them huge volumes are scored slab by slab.",
            checked=True,
        ))
        # fmt: on
        return rows

    def _build_actions(self) -> QHBoxLayout:
        """Evaluate, Cancel and Copy as command."""
        self.run_button = ui.button(
            self, "Evaluate", "Score the prediction against the ground truth.", self.run
        )
        self.cancel_button = ui.button(self, "Cancel", "Stop the evaluation; no layer is changed.")
        self.runner = JobRunner(self.run_button, self.cancel_button, self)
        self.command_button = ui.button(
            self,
            "Copy as command",
            "The unetseg command line (and Python code) that repeats this evaluation.",
            self.copy_command,
        )
        return ui.row(self.run_button, self.cancel_button, self.command_button)

    def _build_results(self) -> None:
        """The summary, the overlay's legend, the table, the per-slice plot, Export."""
        self.summary = ui.status_label(self, "Choose two Labels layers and press Evaluate.")
        self.legend = QLabel(self)
        self.legend.setWordWrap(True)  # a narrow dock wraps it rather than widening
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setText(
            "Error overlay: "
            + " ".join(
                # on the canvas' black, where the overlay is seen (yellow and cyan on
                # the light theme's panel had a contrast of 1.2)
                f"<span style='color:{color}; background-color:#000000'>&nbsp;■&nbsp;</span>"
                f" {name}"
                for name, color in ERROR_KINDS.values()
            )
        )
        self.legend.setVisible(False)
        for label in (self.summary, self.legend):  # their lines only: the table takes the
            # rest (2D results left a gap of 100 px under each, the table at its minimum)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.table = ResultTable(self)
        self.table.setMinimumHeight(TABLE_MIN_HEIGHT)
        self.plot = PlotCanvas(
            self, viewer=self.viewer, xlabel="slice", ylabel="Dice", title="Dice per slice"
        )
        self.plot.setVisible(False)
        self.plot.on_click(self._go_to_slice)
        self.export_button = ui.button(
            self, "Export CSV...", "Save the table as a CSV file.", self.export_csv
        )
        self.export_button.setEnabled(False)

    # -- public API (also used by the tests) -------------------------------------------------
    def mode(self) -> str:
        """``'dense'`` or ``'sparse'``."""
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        """Choose ``'dense'`` or ``'sparse'`` (as the user does: kept from then on)."""
        self._mode_chosen()
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def _mode_chosen(self, *_: Any) -> None:
        self._mode_by_user = True

    def _mode_for_truth(self, *_: Any) -> None:
        """Scribbles as the ground truth are scored as scribbles until the user picks a
        mode: a Fine-tune scribble layer, chosen after Segment, was scored as complete
        masks (Dice 0.045 where sparse gives 1.000; labels bash)."""
        from .finetune.label_policy import guess_mode

        gt = self.gt_combo.layer()
        if not self._mode_by_user and gt is not None:
            mode = "sparse" if guess_mode(gt) == "sparse" else "dense"
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
        except ValueError as exc:  # the earlier run's table would pass for this one's
            notify_error(exc)
            self._clear_results(f"Not evaluated: {exc}")
            return None
        problem = placement_problem(pred, gt)
        if problem is not None:
            notify_error(problem)
            self._clear_results(f"Not evaluated: {problem}")
            return None
        pred_spacing, spacing = shared_unit(self._spacing(pred), self._spacing(gt))
        notes = [
            spacing_note(pred_spacing, spacing, options.get("time_axis")),
            swapped_note(pred, gt),
        ]
        self.summary.setText(f"Evaluating {pred.name!r} against {gt.name!r}...")
        data = (real_layer(pred).data, real_layer(gt).data)  # other data set: not shown
        self._stop_watching()
        self._edits = LayerEdits((pred, gt))  # painted on or moved: said with the scores
        return self.runner.start(
            evaluate_job,
            _snapshot(pred),  # painting may go on during the run: score what was there
            _snapshot(gt),
            description="Validating",
            # the stage in the dock too: a large volume's 20 s read "Evaluating ..." alone,
            # the progress in napari's activity dock only (Validate bash)
            on_progress=lambda rec: self.summary.setText(
                f"Evaluating {pred.name!r} against {gt.name!r}: {rec.stage} ({rec.done} %)..."
            ),
            on_result=lambda result: self._show(pred, gt, result, *filter(None, notes), data=data),
            on_error=lambda exc: self._clear_results("Failed; see the notification."),
            on_cancel=lambda: self._clear_results("Cancelled."),
            error_context="Validation failed",
            **options,
            return_errors=True,
            unit=spacing[1],
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
            "time_axis": self._time_axis(ground_truth),
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

        def build(files: Any) -> Any:
            # saved with the axes napari names (a t, y, x series was saved as a Z stack:
            # the command's --time-axis said it, the files did not; Validate bash)
            named = [files.layer(lay, axes=named_axes(self.viewer, lay)) for lay in (pred, gt)]
            return evaluate_command(*named, **self.options(gt))

        return show_command(self, build, folder)

    def enter_button(self) -> Any:
        return self.run_button

    def cancel(self) -> None:
        """Stop a running evaluation (nothing is changed)."""
        self.runner.cancel()

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        """Write the results as CSV (asks for a file when ``path`` is None)."""
        if self.result is None:
            return None
        default = str(Path.home() / f"{self._pred_name()} metrics.csv")
        # the same columns from run to run for scripts that read them; the class column
        # names the classes as the table does (it named only the background)
        names = self._names

        result = self.result
        slices: list[Path] = []

        def to_csv(where: Any) -> None:
            result.to_csv(where, names)
            if result.per_slice:  # a stack's or a series' scores of each slice, beside it
                words = "time point" if result.slice_column == "time_point" else "slice"
                beside = Path(where).with_name(f"{Path(where).stem} per {words}.csv")
                result.slices_to_csv(beside, names)
                slices.append(beside)

        path = write_csv(self, to_csv, "Export metrics as CSV", default, path)
        if path is not None:
            also = f", and the scores of each slice to {slices[0].name!r}" if slices else ""
            if slices and result.slice_column == "time_point":
                also = f", and the scores of each time point to {slices[0].name!r}"
            self.summary.setText(f"{self._summary_text()}\nSaved {path}{also}.")
        return path

    # -- internals ---------------------------------------------------------------------------
    def _chose(self, *_: Any) -> None:
        self._user_chose = True

    def _layer_added(self, *_: Any) -> None:
        if not self._user_chose and self.pred_combo.layer() is self.gt_combo.layer():
            self._pick_defaults()

    def _pick_defaults(self) -> None:
        """Two different layers when there are two: the prediction is the top
        segmentation of ours (``[unet]``) or else the top layer not of strokes; the
        ground truth the top other layer that is not an output of ours, a complete one
        before scribbles (Fine-tune's "New scribble layer", on top, was taken over "nuclei
        2D ground truth": Dice on the user's own strokes; GUI bash)."""
        layers = self.pred_combo.layers()  # our overlays and maps are not listed
        if len(layers) < 2:
            return
        # named as Segment's labels first, then by their record (renamed, reopened)
        named = [layer for layer in layers if segmentation_of_ours(layer, by_record=False)]
        ours = named or [layer for layer in layers if segmentation_of_ours(layer)]
        # strokes are never the prediction: a scribble layer on top was scored as one
        # against another tool's masks (Dice 0.012; Validate bash)
        not_strokes = [layer for layer in layers if SCRIBBLE_KEY not in (layer.metadata or {})]
        pred = ours[0] if ours else (not_strokes or layers)[0]
        others = [layer for layer in layers if layer is not pred]
        truths = [layer for layer in others if not segmentation_of_ours(layer)]
        truths.sort(key=lambda layer: SCRIBBLE_KEY in (layer.metadata or {}))  # (stable)
        self.pred_combo.set_layer(pred)
        self.gt_combo.set_layer((truths or others)[0])

    def _spacing(self, layer: Labels) -> tuple[tuple[float, ...], str | None]:
        geometry = spatial_geometry(layer)
        scale, units = one_length_unit(geometry["scale"], geometry.get("units"))
        # a flipped axis (negative scale) is as long: "spacing values must be positive"
        return tuple(abs(s) for s in scale), common_unit(units)

    @property
    def _pred_layer(self) -> Labels | None:
        """The prediction layer of the shown scores (None: none, or deleted since)."""
        return None if self._pred_ref is None else self._pred_ref()

    def _pred_name(self) -> str:
        layer = self._pred_layer
        return layer.name if layer is not None else self._pred_said

    def _summary_text(self) -> str:
        if self.result is None:
            return ""
        return "\n".join([self.result.summary_line(), *self.result.notes])

    def _clear_results(self, said: str) -> None:
        """No results on show (a run failed, was cancelled or refused): the table, plot
        and export of an earlier run would pass for this one's."""
        self.result = None
        self.table.show_rows([], [], None)
        self.plot.clear()
        self.plot.setVisible(False)
        self.export_button.setEnabled(False)
        # an earlier run's error overlay stayed on show over a failed one's layers (a
        # comparison with another ground truth; movies bash): hidden, not deleted
        hidden = [o for o in self._overlays.values() if o in self.viewer.layers and o.visible]
        for overlay in hidden:
            overlay.visible = False
            self._hidden.add(overlay)  # shown again by the next run that succeeds
        self.legend.setVisible(False)
        if hidden:
            said += (
                f" The earlier run's error overlay ({hidden[0].name!r}) is hidden: it shows "
                "that run, not this one."
            )
        self.summary.setText(said)

    def _stop_watching(self) -> None:
        if self._edits is not None:
            self._edits.close()
            self._edits = None

    def _time_axis(self, layer: Labels) -> int | None:
        """The axis napari's axis labels name time (t), where objects and distances are
        measured in each time point on its own; None without one."""
        return time_axis(named_axes(self.viewer, layer))

    def _show(
        self, pred: Labels, gt: Labels, result: EvaluationResult, *notes: str, data: Any = None
    ) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        gone = [layer.name for layer in (pred, gt) if layer not in self.viewer.layers]
        if gone:  # the table would stand for layers that are no longer there
            self._clear_results(f"Not shown: {gone[0]!r} was removed during the run.")
            return
        layers = (pred, gt)
        other = [lay.name for lay, d in zip(layers, data or ()) if real_layer(lay).data is not d]
        if other:  # scores and an error overlay of data no longer shown (lifecycle bug bash)
            self._clear_results(f"Not shown: {other[0]!r} got other data during the run.")
            return
        result.notes.extend(notes)  # the pixel sizes used when the layers disagree
        result.notes.extend(filter(None, [split_note(pred, result)]))
        edited = [] if self._edits is None else self._edits.edited
        if edited:
            named = " and ".join(repr(layer.name) for layer in edited)
            result.notes.append(
                f"{named} changed during the run (painted on or moved): these scores are of "
                "the labels as they were when Evaluate was pressed; press it again for "
                "the labels now."
            )
        self.result, self._pred_ref = result, weakref.ref(real_layer(pred))
        self._pred_said = pred.name
        self._scored = [(weakref.ref(real_layer(lay)), lay.name) for lay in (pred, gt)]
        if self.mode() == "dense":
            self._names = value_names(gt, pred)
        else:  # scribble value k + 1 paints class k (rows read bare ids; classes bug bash)
            painted = {v - 1: n for v, n in value_names(gt).items() if v >= 2}
            self._names = {**painted, **value_names(pred)}
        rows = result.rows(self._names)  # "2 (grey matter)" where the layers name them
        self.table.show_rows(rows, columns(result), distance_unit(result))
        self.summary.setText(self._summary_text())
        self.export_button.setEnabled(True)
        self._plot_slices(result)
        if result.errors is None or pred not in self.viewer.layers:
            return
        colors = {None: "transparent", 0: "transparent"}
        colors.update({k: color for k, (_, color) in ERROR_KINDS.items()})
        names = ["", *(name for name, _ in ERROR_KINDS.values())]
        kept = keep_theirs(self.viewer, pred, ERRORS_SUFFIX)  # not overwritten (bash)
        if kept is not None:
            self.summary.setText(
                f"{self.summary.text()}\nA layer named as the error overlay was kept, as {kept!r}."
            )
        # the overlay follows its prediction when renamed (a second one stayed behind)
        earlier = self._overlays.get(real_layer(pred))
        name = output_name(pred, ERRORS_SUFFIX)
        if earlier is not None and earlier in self.viewer.layers and earlier.name != name:
            if name not in self.viewer.layers:
                earlier.name = name
        overlay = output_layer(
            self.viewer,
            pred,
            ERRORS_SUFFIX,
            result.errors,
            "labels",
            next_turn=True,
            keep_selection=True,  # the user paints on, not into the overlay
            colormap=DirectLabelColormap(color_dict=colors),
            features={"index": list(range(len(names))), "error": names},
            opacity=0.8,
            blending="translucent_no_depth",
        )
        self._overlays[real_layer(pred)] = real_layer(overlay)
        if real_layer(overlay) in self._hidden:  # hidden by a failed run, not the user
            self._hidden.discard(real_layer(overlay))
            overlay.visible = True
        self.legend.setVisible(True)

    def _plot_slices(self, result: EvaluationResult) -> None:
        from matplotlib.ticker import MaxNLocator

        self.plot.clear()
        curves = {  # a class absent on both sides has no curve (an empty plot was shown)
            self._names.get(cid, f"class {cid}"): dice
            for cid, dice in (result.per_slice_dice or {}).items()
            if not np.isnan(dice).all()
        }
        if not curves:
            self.plot.setVisible(False)
            return
        # the scores are per index of the first axis: a slice of a Z stack, a time
        # point of a (T, Z, Y, X) series
        axis = self._first_axis_words()
        title = f"Dice per {axis}"
        if len(curves) > MAX_CURVES:  # a legend of 31 classes hid the plot: their mean
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # slices without any class
                mean = np.nanmean(np.stack(list(curves.values())), axis=0)
            title = f"Dice per {axis}, mean of {len(curves)} classes"
            curves = {f"mean of {len(curves)} classes": mean}
        self.plot.set_labels(xlabel=axis, title=title)
        for name, dice in curves.items():
            self.plot.set_line(name, np.arange(len(dice)), dice, marker="o", ms=_dot_size(dice))
        self.plot.axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # no slice 1.5
        self.plot.rescale(ylim=(0, 1.02))
        # every slice, those without the classes too: the range was the scored slices
        # only (one painted slice: 19 to 21 of 40), and the viewer's slice off the plot
        n = len(next(iter(curves.values())))
        self.plot.axes.set_xlim(-0.5, max(n - 0.5, 1.5))
        self.plot.legend(len(curves) > 1, below=True)
        self.plot.setVisible(True)
        self._update_marker()

    def _first_axis_words(self) -> str:
        """What one index of the scored layers' first axis is: "slice" (Z, or a 3D
        layer's unnamed first axis), "time point" (T), else the axis' own label."""
        found = self._slice_axis()
        if found is None:
            return "slice"
        layer, _ = found
        axes = named_axes(self.viewer, layer)
        label = axes[0] if axes else str(self.viewer.dims.axis_labels[found[1]])
        if label.lower() in ("z", "t"):
            return {"z": "slice", "t": "time point"}[label.lower()]
        if label.isalpha():
            return label
        return "slice" if layer.ndim == 3 else "index of the first axis"

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
        self._show_slices_of(axis)
        self.viewer.dims.set_point(axis, world)

    def _show_slices_of(self, axis: int) -> None:
        """A slider for ``axis``: a click on the plot asks for one of its slices, which a
        3D view, or a 2D view across that axis (transposed), did not show (the click
        moved a point nobody saw)."""
        dims = self.viewer.dims
        if axis not in dims.displayed:
            return
        if dims.ndisplay == 3:
            dims.ndisplay = 2
        if axis in dims.displayed:  # the axis is one of the two shown: it goes before them
            order = [a for a in dims.order if a != axis]
            order.insert(len(order) - 2, axis)
            dims.order = tuple(order)

    def _update_state(self, *_: Any) -> None:
        self.mode_hint.setText(MODES[self.mode()][1])
        pred, gt = self.pred_combo.layer(), self.gt_combo.layer()
        same = pred is not None and pred is gt
        ready = pred is not None and gt is not None and not same and not self.runner.busy
        self.run_button.setEnabled(ready)
        self.command_button.setEnabled(pred is not None and gt is not None and not same)
        missing = "Open two Labels layers (prediction and ground truth) first."
        if same:
            one = len(self.pred_combo.layers()) < 2  # (it said "only one" of two; bash)
            masks = self._masks_as_images() if one else []
            said = SAME_LAYER
            if masks:
                said = (
                    f"Only one Labels layer is open; {masks[0]!r} is an image layer of whole "
                    "numbers: if it is the ground truth (a mask), right-click it in the layer "
                    "list and choose Convert to Labels."
                )
            elif one:  # "choose two" with one to choose from
                said = ONE_LAYER
            self.run_button.setToolTip(said)
            if self._say_closed():
                return
            shown = self.summary.text()
            if shown.startswith("Not shown:"):
                # why the last run has no table (a layer removed during it) stays first
                said = shown if said in shown else f"{shown} {said}"
            self.summary.setText(said)
            return
        if self.summary.text() == SAME_LAYER or self.summary.text().startswith("Only one Labels"):
            self.summary.setText("Choose two Labels layers and press Evaluate.")
        masks = [] if pred is not None and gt is not None else self._masks_as_images()
        if masks:  # a mask file (PNG, TIFF) that napari opened as an image
            missing += (
                f" {masks[0]!r} is an image layer of whole numbers: if it is a mask, "
                "right-click it in the layer list and choose Convert to Labels."
            )
        self.run_button.setToolTip(
            "Score the prediction against the ground truth."
            if pred is not None and gt is not None
            else missing
        )
        if not ready and self.summary.text().startswith(("Choose two Labels", "Open two")):
            self.summary.setText(
                missing if masks else "Choose two Labels layers and press Evaluate."
            )
        self._say_closed()

    def _say_closed(self) -> bool:
        """Under the scores on show, say that a layer they are of was closed since (the
        summary said "Only one Labels layer is open" over them; viewer bug bash): the
        table and its export keep the scores of the layers as they were. Whether it did."""
        if self.result is None:
            return False
        layers = self.viewer.layers
        closed = [
            name for ref, name in self._scored if (lay := ref()) is None or lay not in layers
        ]
        if closed:
            self.summary.setText(
                f"{self._summary_text()}\n{closed[0]!r} was closed since: these scores are "
                "of it as it was when Evaluate was pressed."
            )
        return bool(closed)

    def _masks_as_images(self) -> list[str]:
        """Names of image layers holding whole numbers (masks opened as images)."""
        from napari.layers import Image

        def few_values(layer: Image) -> bool:  # a multiscale layer's smallest level
            data = layer.data[-1] if layer.multiscale else layer.data
            return len(np.unique(_middle_block(data))) <= 256

        return [
            layer.name
            for layer in self.viewer.layers
            if isinstance(layer, Image)
            and not getattr(layer, "rgb", False)
            and getattr(layer.data, "dtype", np.dtype(float)).kind in "biu"
            and layer.data.dtype.itemsize <= 2
            and few_values(layer)
        ]


#: The edge of the block of a plane :func:`_middle_block` reads.
SAMPLE_EDGE = 512


def _middle_block(data: Any) -> np.ndarray:
    """At most :data:`SAMPLE_EDGE` x SAMPLE_EDGE pixels from the middle of the first
    plane: a look at an image's values that reads a chunk or a few (every 8th pixel of
    the whole plane read all 400 chunks of a 20000 x 20000 lazy image, in the GUI thread,
    at every change of the layer list; multiscale bash)."""
    cut = tuple(
        slice(max(0, n // 2 - SAMPLE_EDGE // 2), n // 2 + SAMPLE_EDGE // 2)
        for n in data.shape[-2:]
    )
    return np.asarray(data[(0,) * (data.ndim - 2) + cut])  # one index: zarr reads eagerly


__all__ = ["ResultTable", "ValidateWidget", "parse_classes"]


#: In-memory labels up to this size are copied for a run (a larger copy could run the
#: machine out of memory; those are read as they are, as lazy ones are).
SNAPSHOT_BYTES = 1 << 30


def _snapshot(layer: Labels) -> Any:
    """The layer's labels as they are now: an in-memory array is copied, so painting
    during the run does not mix two versions in one table (a lazy one is read as is)."""
    data = layer_data(layer)
    small = isinstance(data, np.ndarray) and data.nbytes <= SNAPSHOT_BYTES
    return data.copy() if small else data
