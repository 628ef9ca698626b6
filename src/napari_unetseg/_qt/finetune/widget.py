"""The "Fine-tune" dock widget: paint a few labels, train a U-Net on them, live.

The flagship workflow: pick an image, click "New scribble layer", paint a few strokes of
background (label 1) and objects (label 2), press Train and watch the loss and the
validation Dice; the trained model joins the model registry at once (the Segment widget
lists it), can be saved to a file, and training can continue after more painting.

The widget is three panels (:mod:`.paint_panel`, :mod:`.train_panel`,
:mod:`.result_panel`), the live curve (:mod:`.curve`, :mod:`.plot`) and the preview
(:mod:`.preview`). The work is :func:`~.job.finetune_job` in a worker thread, through
:class:`~napari_unetseg._qt._worker.JobRunner`; layers are touched only in the progress
and result callbacks (GUI thread). The worker trains on a snapshot of the labels, so the
user can keep painting while it runs (the next "Continue training" uses the new strokes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..._units import common_unit, known_spacing, one_length_unit, time_axis
from ...core.bundle import finetuned_name
from ...core.training.labels import label_counts, problem_with
from .. import _builders as ui
from .._common import (
    at_next_turn,
    features_held,
    image_shape,
    layer_data,
    layer_key,
    named_axes,
    notify_error,
    notify_info,
    on_affine,
    spatial_geometry,
    user_message,
)
from .._worker import JobRunner
from ..placement import placement_problem
from ..written import unedited_output
from .curve import Curve
from .job import (
    TrainRequest,
    TrainResult,
    export_job,
    finetune_job,
    progress_text,
    result_text,
)
from .label_policy import (
    OBJECT,
    SCRIBBLE_COLORS,
    SCRIBBLE_KEY,
    dense_class_names,
    follow_start,
    merged_class_names,
    new_model_class_names,
    scribble_names,
)
from .paint_panel import PaintPanel, labels_colormap
from .plot import CurvePlot
from .preview import (
    PREVIEW_SUFFIX,
    UNSURE_MOST,
    Preview,
    preview_region,
    unsure_text,
)
from .result_panel import ResultPanel
from .train_panel import SCRATCH, TrainPanel
from .warmup import warm_up

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

    from ...core.bundle import ModelBundle
    from ...core.training import TrainProgress

#: Plot redraws at most this often (seconds): progress may arrive ten times a second,
#: and a redraw takes the GUI thread tens of milliseconds.
PLOT_INTERVAL_S = 0.5

#: Controls of the panels that are also the widget's attributes (tests, scripts and
#: the other widgets' habits: ``widget.image_combo``, ``widget.budget_spin``, ...).
_SHORTCUTS = {
    "paint_panel": (
        "image_combo", "labels_combo", "new_button", "scribble_radio", "dense_radio",
        "mode_help", "paint_bg_button", "paint_obj_button", "paint_new_button",
        "counts_label",
    ),
    "settings": (
        "start_combo", "start_info", "dims_combo", "budget_spin", "budget_unit",
        "preview_check", "preview_spin", "advanced", "lr_spin", "patch_spin", "batch_spin",
        "val_spin", "augment_check", "teacher_check", "device_combo", "size_combo",
        "range_edit",
        "train_button",
        "stop_button",
    ),
    "result_panel": ("continue_button", "save_button", "export_button", "command_button"),
}  # fmt: skip


#: TrainRequest fields that a ``unetseg train`` command repeats as they are.
_COMMAND_FIELDS = (
    "label_mode", "steps", "time_limit", "learning_rate", "patch_size", "batch_size",
    "val_fraction", "augment", "device", "seed", "spatial_dims", "model_config", "teacher",
    "class_names", "threads", "invert", "intensity_range",
)  # fmt: skip


class FinetuneWidget(ui.DockWidget):
    """Train or fine-tune a U-Net on labels painted in napari (dock widget "Fine-tune")."""

    MIN_WIDTH = 320

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        #: The last trained model and its registry name (None before the first run).
        self.trained: ModelBundle | None = None
        self.trained_name = ""
        self.curve = Curve()
        self.preview = Preview(napari_viewer)
        self._request: TrainRequest | None = None
        self._request_layers: tuple[Image, Labels] | None = None  # those of self._request
        #: The request, image and labels of the last run that made a model.
        self._last_run: tuple[TrainRequest, Image, Labels] | None = None
        self._run_done = False
        self._stepped = False  # a training step was reported in this run
        self._runs = 0
        self._last_draw = 0.0
        #: Who each labels layer trained with (layer keys, so no layer is kept alive):
        #: strokes of a layer added by hand, trained on one image, were taken for those of
        #: another image of the same shape, chosen later (viewer bug bash)
        self._trained_with: dict[str, str] = {}
        self._strokes_at_start = 0  # id() of the labels' array a run started from

        self.paint_panel = PaintPanel(napari_viewer, self)
        self.settings = TrainPanel(PREVIEW_SUFFIX, self)
        self.result_panel = ResultPanel(self)
        for panel, names in _SHORTCUTS.items():
            for name in names:
                setattr(self, name, getattr(getattr(self, panel), name))
        self.plot = CurvePlot(self, napari_viewer)
        self.status = ui.status_label(self)
        self.runner = JobRunner(self.train_button, None, self, stop_button=self.stop_button)
        # The dock closed mid-run: stop as the Stop button does, so the best model so far
        # still reaches the session's models; an export asked for is finished.
        self.runner.on_closed = self.stop
        self.export_runner = JobRunner(self.export_button, None, self)
        self.export_runner.on_closed = lambda: None
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)

        layout = QVBoxLayout(ui.scroll_page(self))
        for part in (
            ui.header(self, "1. Paint"), self.paint_panel,
            ui.header(self, "2. Train"), self.settings, self.plot.widget, self.status,
            ui.header(self, "3. Use the model"), self.result_panel,
        ):  # fmt: skip
            layout.addWidget(part)
        layout.addStretch(1)
        self._object_classes = 1  # classes painted besides the background
        self.settings.choose_default_start(self._stack())
        self._start_names = self.settings.start_class_names()  # what the start calls 1, 2
        self._connect()
        self.paint_panel.update_counts()  # a layer painted before: its classes count
        warm_up()
        self._update_state()

    def _connect(self) -> None:
        self.new_button.clicked.connect(lambda *_: self.new_scribble_layer())
        self.train_button.clicked.connect(lambda *_: self.train())
        self.stop_button.clicked.connect(lambda *_: self.stop())
        self.continue_button.clicked.connect(lambda *_: self.continue_training())
        self.save_button.clicked.connect(lambda *_: self.save_model())
        self.export_button.clicked.connect(lambda *_: self.export_bioimageio())
        self.command_button.clicked.connect(lambda *_: self.copy_command())
        # busy from here: Continue / Save / Export wait for the run (they were enabled,
        # checked before the run had started)
        self.runner.started.connect(self._update_state)
        self.runner.started.connect(lambda: self.stop_button.setEnabled(True))
        self.runner.finished.connect(self._on_finished)
        self.export_runner.started.connect(self._update_state)
        self.export_runner.finished.connect(self._update_state)
        self.image_combo.layerChanged.connect(self._on_image_changed)
        self.paint_panel.changed.connect(self._update_state)
        self.paint_panel.counted.connect(self._on_counted)
        self.start_combo.modelChanged.connect(self._on_start_changed)
        self.start_combo.modelChanged.connect(self._update_state)
        self.start_combo.listChanged.connect(self._update_state)  # a model read anew
        self.teacher_check.toggled.connect(self._update_state)  # the start line says it

    # -- public API (also used by the tests) --------------------------------------------
    @property
    def label_mode(self) -> str:
        """``'sparse'`` (scribbles) or ``'dense'`` (complete masks)."""
        return self.paint_panel.label_mode

    def paint(self, value: int) -> None:
        """Select the labels layer, its paint brush and label ``value``."""
        self.paint_panel.paint(value)

    def paint_more(self, model: str) -> bool:
        """Set up more strokes for Continue training when ``model`` is the one trained
        here last and its image and labels are still open (Segment's button under an
        unsure result of a model trained on its image: it opened a fine-tuning from it
        with a new, empty layer; journey bash). False, changing nothing, otherwise."""
        if self.trained is None or self.trained_name != model or self._last_run is None:
            return False
        _, image, labels = self._last_run
        if image not in self.viewer.layers or labels not in self.viewer.layers:
            return False
        self.image_combo.set_layer(image)
        self.labels_combo.set_layer(labels)
        if self.label_mode == "sparse":
            self.paint(OBJECT)
        else:
            self.viewer.layers.selection.active = labels
            labels.mode = "paint"
        self.status.setText(
            f"Paint a few more strokes in {labels.name!r} where {model!r} is unsure, then "
            "press Continue training."
        )
        return True

    def update_counts(self) -> None:
        """Refresh the painted-pixel counts (and the readiness sentence)."""
        self.paint_panel.update_counts()

    def new_scribble_layer(self) -> Labels | None:
        """Add an empty scribble layer over the image, selected, with the object brush."""
        image = self.image_combo.layer()
        if image is None:
            notify_error("Open an image first: scribbles are painted over an image.")
            return None
        from napari.layers import Labels

        names = self.settings.start_class_names()
        shape = image_shape(image)
        layer = Labels(
            np.zeros(shape, np.uint8),
            name=f"{image.name} scribbles",
            features={"index": list(names), "name": list(names.values())},
            colormap=labels_colormap(SCRIBBLE_COLORS),
            # saved as NIfTI, scribbles of a NIfTI image lie on its affine as labels do
            metadata={SCRIBBLE_KEY: True, **on_affine(image)},
            **spatial_geometry(image),
        )
        with features_held(layer):  # (in 3D: an error, and the layer not set to paint)
            self.viewer.add_layer(layer)
        # A brush about 2 % of the image: visible strokes, still thinner than most objects.
        layer.brush_size = int(np.clip(round(min(shape[-2:]) / 50), 2, 40))
        self.labels_combo.set_layer(layer)
        self.scribble_radio.setChecked(True)
        self.paint(OBJECT)
        return layer

    def enter_button(self) -> Any:
        return self.train_button

    def train(self) -> Any:
        """Train (or fine-tune) on the painted labels; returns the worker (or None)."""
        return self._start(continued=False)

    def continue_training(self) -> Any:
        """Train the last trained model further on the labels as they are now."""
        if self.trained is None:
            notify_error("Train a model first; then you can continue training it.")
            return None
        return self._start(continued=True)

    def stop(self) -> None:
        """Stop training at the next step; the best model so far is kept."""
        # not once the result is in: a click then replaced its line for good (bash)
        if self._request is not None and not self._run_done:
            self._request.stop.set()
            self.runner.stopping(self.stop_button)
            self.stop_button.setEnabled(False)
            self.status.setText(
                "Stopping: keeping the best model so far..."
                if self._stepped
                else "Stopping: if no training step has been taken yet, no model will be made..."
            )

    def save_model(self, path: str | None = None) -> Path | None:
        """Write the trained model to a file (asks where, and before overwriting).

        The dialog opens on the saved-models folder: a model saved there is listed by
        its file's name in every later session (and in this one's lists at once).
        """
        from ...core.registry import REGISTRY, save_listed

        folder = REGISTRY.saved_dir
        path = self._target(
            path, "save", lambda name: self.result_panel.ask_save_path(name, folder)
        )
        if path is None:
            return None
        problem = _saved_name_problem(Path(path), folder, self.trained)
        if problem is not None:
            self.status.setText(f"Not saved: {problem}")
            notify_error(problem)
            return None
        listed = folder is not None and _same_dir(Path(path).parent, folder)
        try:  # atomic: a temporary file, then a rename
            written = save_listed(self.trained, Path(path)) if listed else self.trained.save(path)
        except OSError as exc:
            why = str(exc.strerror or exc).rstrip(".")
            self.status.setText(f"Not saved: could not write {path} ({why}).")
            notify_error(f"Could not save the model to {path}: {why}.")
            return None
        later = ""
        if folder is not None and _same_dir(written.parent, folder):
            REGISTRY.changed()
            if written.stem in REGISTRY.saved():
                later = f" Later sessions list it as {written.stem!r}."
        self.status.setText(f"Saved {self.trained_name!r} to {written}.{later}")
        notify_info(f"Saved the model to {written}")
        return written

    def _target(self, path: str | None, verb: str, ask: Any) -> str | None:
        """Where to write the trained model: ``path``, else asked with ``ask(name)``."""
        if self.trained is None:
            notify_error(f"There is no trained model to {verb} yet: press Train first.")
            return None
        return path if path is not None else ask(self.trained_name)

    def export_bioimageio(self, path: str | None = None) -> Any:
        """Write the trained model as a bioimage.io package (asks where when ``path`` is None).

        The test tensors come from the middle of the last training image, the pixel size
        from the model's record and the unit from that image layer. The export runs in a
        worker thread (it runs the model on its test image and checks the package);
        returns that worker, or None. The status line says where the package went.
        """
        if self.export_runner.busy or self.runner.busy:
            return None
        path = self._target(path, "export", self.result_panel.ask_export_path)
        if path is None:
            return None
        options: dict[str, Any] = {"overwrite": True}  # the save dialog asked first
        if self._last_run is not None:
            req, image, _ = self._last_run
            options.update(test_image=req.image, channel_axis=req.channel_axis)
            if req.unit:  # the unit of the pixel size the model recorded (review: the
                options["unit"] = req.unit  # layer's last axis's, nm beside sizes in µm)
        name = self.trained_name
        self.status.setText(f"Exporting {name!r} for bioimage.io...")
        return self.export_runner.start(
            export_job,
            self.trained,
            path,
            options,
            description=f"Exporting {name} for bioimage.io",
            on_result=lambda written: self._on_exported(name, written),
            on_error=lambda exc: self.status.setText(f"Export failed: {user_message(exc)}"),
            error_context="Could not export the model",
        )

    def _on_exported(self, name: str, written: Path) -> None:
        self.status.setText(f"Exported {name!r} to {written}.")
        notify_info(f"Exported the model for bioimage.io to {written}")

    def copy_command(self, folder: str | None = None) -> Any:
        """Show (and copy) the command that repeats the last training run (before the
        first one: the run Train would start now).

        The painted labels (as trained on), and a model or image that lives only in the
        session, are saved first into ``folder`` (asked for when None). Returns the
        dialog, or None.
        """
        from ...commands import PRECISION_NAMES, train_command
        from ..reproduce import show_command

        if self._last_run is not None:
            req, image, labels = self._last_run
        else:
            image, labels = self.image_combo.layer(), self.labels_combo.layer()
            problem = self._problem(image, labels)
            if problem:
                notify_error(f"No command: {problem}")
                return None
            req = self._make_request(image, labels, False)  # seed: the next run's
            self.preview.target = None  # no run: nothing to preview

        def build(files: Any) -> Any:
            model = req.model
            if model is not None:
                bundle = None if isinstance(model, str) else model
                model = files.model(bundle.name if bundle else model, bundle)
            lab = Path(files.layer(labels, req.labels))
            options = {f: getattr(req, f) for f in _COMMAND_FIELDS}
            if self._last_run is not None and self.trained is not None:
                # the names the run's model got, merged with the scribbles' after it
                # (the command named them "class 1", ...; classes bug bash)
                options["class_names"] = list(self.trained.class_names)
                # the run's arithmetic: "auto" is fp32 on a CPU without bf16, and the
                # command gave other weights there (reproducibility bash)
                ran = self.trained.history.get("precision")
                options["precision"] = PRECISION_NAMES.get(ran, "auto")
            store = files.store(image)  # an OME-Zarr store is named, not copied
            named, series = (store[0], 0) if store else files.image(image)
            return train_command(
                named,
                lab,
                lab.with_name("trained-by-command.pt"),
                model=model,
                channel=store[1] if store else None,
                series=series,
                **options,
            )

        return show_command(self, build, folder)

    # -- starting a run -----------------------------------------------------------------
    def _start(self, continued: bool) -> Any:
        if self.runner.busy or self.export_runner.busy:
            return None
        image, labels = self.image_combo.layer(), self.labels_combo.layer()
        problem = self._problem(image, labels, continued)
        if problem:
            notify_error(f"Cannot train: {problem}")
            self.status.setText(problem[0].upper() + problem[1:])
            return None
        assert image is not None and labels is not None
        req = self._make_request(image, labels, continued)
        self._trained_with[layer_key(labels)] = layer_key(image)
        self._strokes_at_start = id(layer_data(labels))  # (painting keeps the array)
        # the image's preview of an earlier run is emptied
        self.preview.start(image, self.preview.target[1] if self.preview.target else None)
        self._request, self._request_layers = req, (image, labels)
        self._run_done = False
        self._stepped = False  # a training step was reported in this run
        self._runs += 1
        self.curve.start_run(continued)
        self.plot.update(self.curve)
        self.status.setText("Preparing the training data...")
        note = _scale_note(image, labels)
        if self.preview.kept:  # strokes on the last preview: kept, not emptied
            kept = " and ".join(repr(name) for name in self.preview.kept)
            note = f"{note or ''} Your painting on the preview was kept as {kept}.".strip()
        if self.preview.theirs:  # a layer of the preview's name that no run made
            kept = " and ".join(repr(name) for name in self.preview.theirs)
            note = f"{note or ''} A layer named as the preview was kept, as {kept}.".strip()
        if note:  # trained pixel for pixel all the same (a file without pixel size)
            notify_info(note)
            self.status.setText(f"Preparing the training data... {note}")
        self._update_state()
        # the curve and this line, below Train in a short window, came into view only
        # when the user scrolled (GUI bash)
        at_next_turn(lambda: ui.reveal(self.status))
        return self.runner.start(
            finetune_job,
            req,
            description=f"Training on {labels.name}",
            progress=lambda record: (round(1000 * record.fraction), 1000),
            on_progress=self._on_progress,
            on_result=lambda result: self._on_result(labels, result),
            on_error=lambda exc: self.status.setText(f"Training failed: {user_message(exc)}"),
            error_context="Training failed",
        )

    def _problem(
        self, image: Image | None, labels: Labels | None, continued: bool = False
    ) -> str | None:
        """Why training cannot start now, in one sentence (None when it can); with
        ``continued``, of the model trained last (Continue trained a 3D model on a time
        series, taking time for Z, that Train refused; fine-tune bug bash)."""
        if image is None:
            return "open an image first."
        if labels is None:
            return "pick a labels layer, or click 'New scribble layer' and paint."
        shape = image_shape(image)
        painted = layer_data(labels)  # of a multiscale layer, the full resolution
        if tuple(painted.shape) != shape:
            return (
                f"the labels layer {labels.name!r} has shape {tuple(painted.shape)} but the "
                f"image {image.name!r} has {shape}; paint on a layer made for this image "
                "('New scribble layer')."
            )
        placed = placement_problem(labels, image, "training")  # strokes over other pixels
        if placed is not None:
            return placed[0].lower() + placed[1:]
        other = self._painted_for(labels, image)
        if other is not None:  # trained on B's pixels without a word (labels bash)
            name, verb, anyway = other
            return (
                f"{labels.name!r} was {verb} {name!r}, not on {image.name!r}: click 'New "
                f"scribble layer' to paint on {image.name!r}, choose {name!r} to train on "
                f"it, or {anyway} to train it on this image anyway."
            )
        axes = named_axes(self.viewer, image)
        going_on = continued and self.trained is not None
        gone = None if going_on else self.start_combo.unavailable()
        if gone is not None:
            return gone[0].lower() + gone[1:]
        fixed = None if continued else self.settings.range_problem()
        if fixed is not None:
            return fixed
        dims = self.trained.spatial_dims if going_on else self.settings.start_dims(self._stack())
        if dims is not None and len(shape) < dims:  # a 3D start model failed running
            name = self.trained_name if going_on else self.start_combo.model_name()
            other = "train a new model on it" if going_on else "start from a 2D model"
            return (
                f"model {name!r} is a {dims}D model and {image.name!r} has {len(shape)} "
                f"spatial axes: {other}."
            )
        if axes is not None and dims is not None:
            from ...batch import time_for_z

            name = self.trained_name if going_on else self.start_combo.model_name()
            said = time_for_z(name or "the new model", dims, axes, repr(image.name))
            if said is not None:
                return said[0].lower() + said[1:]
        # the model trained on: the one trained here when continuing (Continue trained on
        # its own unedited labels to "best validation Dice 0.98"; rounds bash)
        trained_on = None if continued or self.settings.scratch() else self.start_combo
        model = self.trained_name if going_on else trained_on and trained_on.model_name()
        weights = (lambda: self.trained) if going_on else trained_on and trained_on.bundle
        own = unedited_output(labels, model or None, weights or None)
        if own is not None:
            return own
        # Counted afresh: the displayed counts may wait for the end of a stroke.
        return problem_with(label_counts(painted), self.label_mode, labels.name)

    def _make_request(self, image: Image, labels: Labels, continued: bool) -> TrainRequest:
        data = layer_data(image)
        scratch = not continued and self.settings.scratch()
        if continued:
            model: Any = self.trained
            dims: int | None = self.trained.spatial_dims
            from ...forest import taught as forest_taught

            taught = forest_taught(self.trained)
        else:
            model = None if scratch else self.start_combo.model_name()
            dims = self.settings.start_dims(self._stack())
            taught = not scratch and self.settings.start_taught()
        req = TrainRequest(
            image=data,
            labels=np.array(layer_data(labels), copy=True),  # painting may go on meanwhile
            model=model,
            label_mode=self.label_mode,
            seed=self._runs,
            channel_axis=(data.ndim - 1) if image.rgb else None,
            scale=known_spacing(image.scale, getattr(image, "units", None)),
            # in the one unit known_spacing gives lengths in (Z in µm, Y/X in nm: µm)
            unit=common_unit(one_length_unit(image.scale, getattr(image, "units", None))[1]),
            # a movie's objects are measured in one frame (across time: a fifth of them)
            time_axis=time_axis(named_axes(self.viewer, image)),
            **self.settings.options(scratch, dims, taught),
        )
        if model is None and self.label_mode == "sparse":
            req.class_names = new_model_class_names(req.labels, scribble_names(labels))
        elif model is None:  # complete masks whose values the layer names: one class each
            req.class_names = dense_class_names(req.labels, labels)
        import torch  # loaded already, with core.bundle

        req.threads = torch.get_num_threads()
        self.preview.target = None
        if self.preview_check.isChecked() and dims is not None:
            region = preview_region(self.viewer, image, dims)
            req.preview_image = data[region + ((slice(None),) if image.rgb else ())]
            req.preview_every = self.preview_spin.value()
            self.preview.target = (image, region)
        return req

    # -- progress and results ------------------------------------------------------------
    def _on_progress(self, record: TrainProgress) -> None:
        if self.curve.add(record):
            self._schedule_draw()
        if self._run_done:  # a record delivered after the result: the curve only
            return
        self._stepped = self._stepped or record.step > 0
        if record.message:
            self.status.setText(record.message)
        elif record.step:
            self.status.setText(progress_text(record))
        if record.advice and not record.message:  # under the step line to the end
            self.status.setText(
                f"{self.status.text()}\n{record.advice} To train one, press Stop and choose "
                f"{SCRATCH!r} under Start from."
            )
        if record.preview is not None:
            self.preview.show(record.preview)

    def _on_result(self, labels: Labels, result: TrainResult) -> None:
        self._run_done = True
        self.stop_button.setEnabled(False)  # nothing left to stop (enabled until the end)
        bundle = result.bundle
        if not bundle.history.get("steps"):
            self.status.setText("Stopped before the first training step: no model was made.")
            return
        if result.preview is not None:
            self.preview.show(result.preview)
        if result.unsure is not None:
            self.preview.show_unsure(result.unsure, bool(result.unsure.mean() <= UNSURE_MOST))
        if self.label_mode == "sparse":
            bundle.class_names = merged_class_names(bundle.class_names, scribble_names(labels))
        start = self._request.model if self._request is not None else None
        base = bundle.name if start is None else finetuned_name(getattr(start, "name", start))
        from ...core.registry import REGISTRY

        self.trained = bundle
        image = self._request_layers[0] if self._request_layers is not None else None
        trained_on = None if image is None else layer_key(image)
        self.trained_name = REGISTRY.register(bundle, base, trained_on=trained_on)
        if self._request is not None and self._request_layers is not None:
            self._last_run = (self._request, *self._request_layers)
        text, note = result_text(bundle, self.trained_name)
        if self.preview.replaced and self.preview.image is not None:
            self.preview.drop()  # drawn over the new data, its outlines misled
            text += (
                f" {self.preview.image.name!r} got other data during the run, so no preview "
                "was drawn (the model learnt from the earlier data)."
            )
        closed = labels not in self.viewer.layers  # (the result said nothing; bash)
        if closed:
            text += (
                f" {labels.name!r} was closed during the run: the model learnt from its "
                "strokes as they were when it started."
            )
        elif id(layer_data(labels)) != self._strokes_at_start:
            text += (  # (a run ended as usual, Continue then refused; viewer bug bash)
                f" {labels.name!r} got other data during the run: the model learnt from "
                "its strokes as they were when it started."
            )
        if self.preview.kept_during:  # the next preview overwrote those strokes
            kept = " and ".join(repr(name) for name in self.preview.kept_during)
            text += f" Your painting on the preview during the run is kept as {kept}."
        if self.preview.target is not None and self.preview.target[0] not in self.viewer.layers:
            text += " Its image was closed during the run, so no preview was drawn."
        elif self.preview.target is not None:
            text += (
                f" The '[{PREVIEW_SUFFIX}]' layer {self._previewed()}, each class in the "
                "colour of its strokes: paint where it is wrong, then Continue training."
                if not closed
                else f" The '[{PREVIEW_SUFFIX}]' layer {self._previewed()}; to train on "
                "further, paint a new scribble layer."
            )
            text += unsure_text(result.unsure)
        self.status.setText(text)
        notify_info(note)
        self._draw()
        # the long result line pushed Continue / Save / Export out of the dock's view
        at_next_turn(lambda: ui.reveal(self.result_panel))

    def _previewed(self) -> str:
        """What the preview layer shows, in words: the region looked at, or (a 2D model
        in a view of other planes: a transposed or 3D view) the Y-X plane previewed,
        which the user does not see (3D bash); outlines in 2D, filled regions in 3D."""
        from ..segment_plane import current_position, plane_view_problem, plane_words

        image, region = self.preview.target
        verb = "outlines" if self.viewer.dims.ndisplay == 2 else "fills in"
        plane = tuple(i for i in region if not isinstance(i, slice))
        flat = len(plane) == len(region) - 2  # a 2D model's region: a Y-X plane
        if flat and plane and plane_view_problem(self.viewer, image) is not None:
            where = plane_words(self.viewer, image, plane)
            return f"{verb} what it predicts on the Y-X plane at {where} (the view shows others)"
        now = current_position(self.viewer, image)
        if any(now[k] != i for k, i in enumerate(region) if not isinstance(i, slice)):
            # the view moved to another frame during the run: the preview stayed where
            # it was, unsaid (movies bash)
            where = plane_words(self.viewer, image, plane)
            return (
                f"{verb} what it predicts at {where}, where the view was when the run "
                "started (it shows another now)"
            )
        # the plane's Y and X cut to the preview's largest region (an RGB image's too;
        # a 3D model's planes around the view's are its region, not a cut: review)
        cut = any(
            (s.stop or n) - (s.start or 0) < n
            for s, n in zip(region[-2:], image_shape(image)[-2:], strict=True)
        )
        if cut:
            return (  # (its small patch in a view of a whole 1024 x 1024 plane; big bash)
                f"{verb} what it predicts in the middle of the region you looked at, a "
                "preview's largest part of the image (Segment gives the whole image)"
            )
        return f"{verb} what it predicts in the region you looked at"

    def _on_finished(self) -> None:
        self._request = None
        self.preview.finish()
        self.stop_button.setEnabled(False)
        self._draw(final=True)
        self._update_state()

    # -- plot ---------------------------------------------------------------------------
    def _schedule_draw(self) -> None:
        wait = PLOT_INTERVAL_S - (time.perf_counter() - self._last_draw)
        if wait <= 0:
            self._draw()
        elif not self._draw_timer.isActive():
            self._draw_timer.start(int(1000 * wait))

    def _draw(self, final: bool = False) -> None:
        """Draw the curve now; ``final`` (the run ended): its x axis fits the steps."""
        self._draw_timer.stop()
        self._last_draw = time.perf_counter()
        self.plot.update(self.curve, final=final)

    # -- state ---------------------------------------------------------------------------
    def _stack(self) -> bool:
        """Whether the image is a Z stack (a 3D model's), not a plane or a time series of
        planes (napari's axis labels saying t), as the Segment widget's default tells."""
        from ...api import default_model

        image = self.image_combo.layer()
        if image is None or len(image_shape(image)) < 3:
            return False
        axes = named_axes(self.viewer, image)
        return default_model(image_shape(image), axes)[0] == "nuclei-3d"

    def _on_image_changed(self, layer: Image | None) -> None:
        self._labels_for(layer)
        if not self.settings.start_touched:
            self.settings.choose_default_start(self._stack(), self._object_classes)
        self._update_state()

    def _painted_for(self, labels: Labels, image: Image) -> tuple[str, str, str] | None:
        """Another open image that ``labels`` belong to: its name, how (painted on: the
        scribble layer 'New scribble layer' named after it; trained with: the image an
        earlier run here paired them with), and how to train them on ``image`` anyway;
        or None."""
        from napari.layers import Image

        images = [lay for lay in self.viewer.layers if isinstance(lay, Image) and lay is not image]
        trained_with = self._trained_with.get(layer_key(labels))
        for layer in images:
            if (
                labels.metadata.get(SCRIBBLE_KEY)
                and labels.name.startswith(f"{layer.name} scribbles")
                and not labels.name.startswith(f"{image.name} scribbles")
            ):
                return layer.name, "painted on", "rename the layer"
        for layer in images:
            if trained_with == layer_key(layer) and layer_key(image) != trained_with:
                return layer.name, "trained with", "duplicate the layer (Duplicate Layer)"
        return None

    def _labels_for(self, image: Image | None) -> None:
        """Labels that fit the image chosen: its own scribble layer when it has one (an
        image of the same shape kept the previous image's scribbles, and Train paired
        them with it without a word; fine-tune bug bash); else the labels chosen when they
        have its shape (the previous image's scribbles of another shape were refused), or
        another labels layer of its shape."""
        if image is None:
            return
        current = self.labels_combo.layer()
        shape = image_shape(image)
        fitting = [lay for lay in self.labels_combo.layers() if layer_data(lay).shape == shape]
        own = [lay for lay in fitting if lay.name.startswith(f"{image.name} scribbles")]
        fits = current is not None and tuple(layer_data(current).shape) == shape
        if fits and (not own or current.name in {lay.name for lay in own}):
            return
        if own or fitting:
            self.labels_combo.set_layer((own or fitting)[0])

    def _on_start_changed(self, *_: Any) -> None:
        """Our scribble layer's value names that the old start model gave follow the new
        one (a layer made while "Start from" was nuclei-2d calls label 2 "nucleus")."""
        before, self._start_names = self._start_names, self.settings.start_class_names()
        layer = self.labels_combo.layer()
        if layer is None or not layer.metadata.get(SCRIBBLE_KEY):
            return
        names = follow_start(scribble_names(layer), before, self._start_names)
        if names is not None:
            layer.features = {"index": list(names), "name": list(names.values())}
            self.paint_panel.update_counts()  # the buttons take the names from the layer

    def _on_counted(self, counts: dict[int, int]) -> None:
        """Painting a second object class makes a new model the default start."""
        sparse = self.label_mode == "sparse"
        classes = sum(1 for v, n in counts.items() if v >= OBJECT and n > 0) if sparse else 1
        classes = max(classes, 1)  # nothing painted yet: the default stays
        if (classes > 1) == (self._object_classes > 1):  # no reason for another start
            self._object_classes = classes
            return
        self._object_classes = classes
        if not self.settings.start_touched:
            self.settings.choose_default_start(self._stack(), classes)
            self._update_state()

    def _drop_forgotten(self) -> None:
        """Let go of the trained model once a chooser forgot it ("Forget", to free its
        memory: this widget held it until the next run; review); Save, Export and
        Continue then wait for a new run."""
        from ...core.registry import REGISTRY

        if self.trained is None or not REGISTRY.was_forgotten(self.trained_name):
            return
        self.trained = None
        self.status.setText(
            f"{self.trained_name!r} was forgotten: train again to save, export or continue."
        )

    def _update_state(self, *_: Any) -> None:
        if not (self.runner.busy or self.export_runner.busy):  # (those use the model)
            self._drop_forgotten()
        image = self.image_combo.layer()
        self.settings.update_for(self._stack())
        busy = self.runner.busy or self.export_runner.busy  # the export uses the model
        self.train_button.setEnabled(not busy and image is not None)
        self.new_button.setEnabled(image is not None)
        self.result_panel.set_state(self.trained is not None, busy)


def _scale_note(image: Image, labels: Labels) -> str | None:
    """A sentence where the labels' pixel size is not the image's: napari then shows them
    apart (painted elsewhere than over the pixels they label), but training pairs them
    pixel for pixel, as labels read from a file without pixel size need. None otherwise."""
    ours, theirs = (np.asarray(layer.scale, float)[-labels.ndim :] for layer in (image, labels))
    if ours.shape == theirs.shape and np.allclose(ours, theirs, rtol=1e-6):
        return None
    size = " x ".join
    return (
        f"{labels.name!r} has pixel size {size(f'{v:g}' for v in theirs)} and {image.name!r} "
        f"{size(f'{v:g}' for v in ours)}: napari shows them apart, but training pairs them "
        "pixel for pixel (give the labels the image's scale if they were painted elsewhere)."
    )


def _saved_name_problem(path: Path, folder: Path | None, bundle: Any = None) -> str | None:
    """Why a model file in the saved-models folder would not be listed by its name (a
    shipped model's name hides it; ``a b?.pt`` is no name; another model of this session
    holds the name, which would then mean two models), or None."""
    from ...core.registry import REGISTRY

    if folder is None or not _same_dir(path.parent, folder):
        return None
    try:
        REGISTRY.saving_path(path.name, bundle)
    except ValueError as exc:
        return str(exc)
    return None


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
