"""The "Segment" dock widget: run a U-Net over an image layer, tile by tile.

The widget only gathers settings and layers; the work is
:func:`~napari_unetseg._qt.segment_job.segment_job` (prediction, and touching objects
split apart on request: :func:`napari_unetseg.api.segment_iter`) in a worker thread,
through :class:`~napari_unetseg._qt._worker.JobRunner`. Outputs are layers named after
the image (``"<image> [unet]"``, ``"[probability]"``, ``"[uncertainty]"``) with its
scale and translate; running again updates them in place, except a labels output the
user has painted on: that one is kept as it is, and the new labels go to
``"<image> [unet 2]"`` (then ``[unet 3]``, ...).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QFormLayout, QLineEdit, QVBoxLayout, QWidget

from .._units import known_spacing, time_axis
from . import _builders as ui
from ._common import (
    OUTPUT_MARK,
    LayerComboBox,
    at_next_turn,
    guessed_axes,
    is_deleted,
    layer_data,
    layer_key,
    named_axes,
    not_derived,
    notify_error,
    notify_info,
    nuclear_channel,
    on_affine,
    output_layer,
    output_name,
    real_layer,
)
from ._worker import JobRunner, default_progress
from .model_combo import ModelComboBox
from .segment_checks import run_problem
from .segment_job import (
    LABELS_SUFFIX,
    PROBABILITY_SUFFIX,
    UNCERTAINTY_SUFFIX,
    SegmentRequest,
    SegmentResult,
    segment_job,
)
from .segment_plane import current_position, into_full, plane_keeps, plane_note, plane_words
from .written import WRITTEN, reference

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

    from ..batch import SegmentSettings


#: How the status line starts when Run was refused (cleared when the choice changes).
REFUSED = "Not segmented: "


class SegmentWidget(ui.DockWidget):
    """Segment an image layer with a U-Net (napari dock widget "Segment")."""

    MIN_WIDTH = 300

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.batch_dialog: Any = None
        self._model_chosen_by_user = False
        self._picking = False  # True while the widget itself selects a model
        self._default_reason = ""
        self._fill_model = ""  # the model whose fill-holes setting the box shows
        self._split_default = False  # that model's split setting (a tick as it: None)
        self._split_clicked = False  # the tick clicked since: asked for, as it is
        self._model_inverts = False  # whether that model swaps dark and bright
        self._result_said: tuple[Any, str] | None = None  # the last result's image, size line
        self._advice = (False, False)  # the last result: the model unsure, dark objects

        layout = QVBoxLayout(ui.scroll_page(self))
        layout.addLayout(self._build_inputs())
        for check in (self.invert_check, self.fill_check, self.split_check, self.plane_check):
            layout.addWidget(check)
        self.advanced = ui.collapsible(self, "Advanced settings", self._build_advanced())
        layout.addWidget(self.advanced)
        layout.addLayout(self._build_actions())
        layout.addWidget(self.status)
        layout.addWidget(self.finetune_button)
        layout.addWidget(self.swap_button)
        layout.addStretch(1)

        self.image_combo.layerChanged.connect(self._pick_default_model)
        self.image_combo.layerChanged.connect(self._update_state)
        self.model_combo.modelChanged.connect(self._on_model_changed)
        self.model_combo.listChanged.connect(self._pick_default_model)
        self.model_combo.listChanged.connect(self._update_state)  # a model read anew
        self.runner.finished.connect(self._update_state)
        # the image of the run going on (weakly: a closed image is freed; leak test)
        self._running: weakref.ref | None = None
        self.viewer.layers.events.removed.connect(self._stop_if_closed)
        # axes named t or z after the image was chosen (a movie labelled t kept nuclei-3d,
        # whose run was then refused): the default model follows, as Fine-tune's does
        self.viewer.dims.events.axis_labels.connect(self._on_axis_labels)
        self._pick_default_model()
        self._update_state()

    def _build_inputs(self) -> QFormLayout:
        """The image, the model, the object size and the four run options."""
        from napari.layers import Image

        rows = ui.Form()
        self.image_combo = rows.add(
            "Image",
            LayerComboBox(
                self.viewer, Image, predicate=not_derived, parent=self, prefer=nuclear_channel
            ),
        )
        self.image_combo.setToolTip("The image to segment. The list follows the layer list.")
        self.model_combo = rows.add("Model", ModelComboBox(self))
        self.model_combo.setToolTip(
            "Shipped models, models trained or loaded in this session, or a model file."
        )
        self.model_info = rows.add("", ui.hint_label(self))
        self.colour_combo = rows.add("Colour", ui.combo_box(
            self, [("auto", None), ("red", 0), ("green", 1), ("blue", 2)],
            "A colour image for a one-channel model. auto: a grey one as it is, stained "
            "brightfield by its hematoxylin, fluorescence by the mean of red, green and "
            "blue. Choose the nuclear stain's colour (blue for DAPI) to segment it alone.",
        ))  # fmt: skip
        self._inputs = rows  # the colour row shows for colour images only
        self.size_spin = rows.add("Object size", ui.SizeSpinBox(
            self, 4096.0,
            tip="Typical object diameter in pixels. The image is resampled so its objects "
            "have the size the model was trained for, then the labels come back on the "
            "image's grid. auto: measured from the image (the result line says what it found). "
            "off (one step below auto): the image's own scale, as it is.",
        ))  # fmt: skip
        self.size_info = rows.add("", ui.hint_label(self))
        # Below the form, outside the fold: the four options of a run.
        self.invert_check = ui.check_box(
            self,
            "Dark objects on a bright background",
            "Swap dark and bright before the model sees the image: the shipped nuclei models "
            "find bright objects, so dark nuclei (a grey brightfield or phase image) need "
            "this. Stained colour images are read by their hematoxylin without it.",
        )
        self.fill_check = ui.check_box(
            self,
            "Fill holes inside objects",
            "Fill background enclosed by an object (e.g. dark nucleoli), plane by plane; "
            "with an object size, background larger than four objects (a lumen ringed by "
            "cells) stays open.",
        )
        self.split_check = ui.check_box(
            self,
            "Split touching objects",
            "Separate touching objects into individual labels (distance-transform "
            "watershed); otherwise every pixel of a class gets the same label. Ticked "
            "for models of separate objects (the shipped nuclei models).",
        )
        self.plane_check = ui.check_box(
            self,
            "Current plane only (quick preview)",
            "For a stack and a 2D model: segment only the plane shown in the viewer.",
        )
        return rows

    def _build_advanced(self) -> QFormLayout:
        """Tiles, device, precision and the extra outputs (folded away)."""
        from ..core.devices import PRECISIONS, available_devices

        rows = ui.Form()
        # fmt: off
        self.tile_spin = rows.add("Tile size", ui.spin_box(
            self, 0, 2048, step=32, auto=True,
            tip="Tile edge in pixels (auto: the model's own tile size).",
        ))
        self.overlap_spin = rows.add("Overlap", ui.spin_box(
            self, 0.0, 0.75, 0.25, step=0.05, decimals=2,
            tip="Fraction of a tile shared with its neighbours.",
        ))
        self.batch_spin = rows.add("Batch size", ui.spin_box(
            self, 0, 256, auto=True, tip="Tiles per batch (auto: from the free memory)."
        ))
        self.device_combo = rows.add("Device", ui.combo_box(
            self, ["auto", *available_devices()], "auto: the GPU when there is one, else the CPU."
        ))
        self.precision_combo = rows.add("Precision", ui.combo_box(
            self, list(PRECISIONS),
            "auto: bf16/fp16 on a GPU or a CPU with native bf16 once a quick check shows "
            "the model's labels agree with fp32; else fp32.",
        ))
        self.tta_check = rows.span(ui.check_box(
            self, "Test-time augmentation (flips)",
            "Average over flipped copies: smoother, 4-8x slower.",
        ))
        self.prob_check = rows.span(ui.check_box(
            self, "Probability map",
            "Also add the foreground probability (1 - p(background)) as an image layer; "
            "for a model of several classes, each class's probability as a layer of its "
            "own (unetseg predict IMAGE --probabilities maps.tif --class-probabilities "
            "writes them to a file).",
        ))
        self.unc_check = rows.span(ui.check_box(
            self, "Uncertainty map",
            "Disagreement between the flipped predictions, per pixel (turns on test-time "
            "augmentation).",
        ))
        # fmt: on
        self.unc_check.toggled.connect(self._on_uncertainty_toggled)
        self.split_check.clicked.connect(lambda *_: setattr(self, "_split_clicked", True))
        self.scheduler_edit = rows.add("Dask cluster", QLineEdit(self))
        self.scheduler_edit.setPlaceholderText("none: run here (e.g. tcp://host:8786)")
        self.scheduler_edit.setClearButtonEnabled(True)
        self.scheduler_edit.setToolTip(
            "Address of a dask.distributed scheduler. For an image opened from an OME-Zarr "
            "store that its workers can read: the blocks run there and the labels are "
            "written into the store's labels/ group, then shown from it."
        )
        return rows

    def _build_actions(self) -> QVBoxLayout:
        """Run / Cancel, Apply to folder / Copy as command; the status line."""
        self.run_button = ui.button(
            self, "Run", "Segment the chosen image with the chosen model.", self.run
        )
        self.cancel_button = ui.button(
            self, "Cancel", "Stop after the current batch of tiles; adds no layer."
        )
        self.runner = JobRunner(self.run_button, self.cancel_button, self)
        self.folder_button = ui.button(
            self,
            "Apply to folder...",
            "Segment every image of a folder (or chosen files) with these settings.",
            self.apply_to_folder,
        )
        self.command_button = ui.button(
            self,
            "Copy as command",
            "The unetseg command line (and Python code) that repeats this run.",
            self.copy_command,
        )
        self.status = ui.status_label(self)
        # Shown with the "model is unsure" hint: sets up the Fine-tune widget for it.
        self.finetune_button = ui.button(
            self,
            "Fine-tune on this image...",
            "Open Fine-tune with this image and model, and a new layer to paint a few "
            "dots of objects and background on.",
            self.fine_tune_here,
        )
        self.finetune_button.setVisible(False)
        # Shown with the dark-objects hint: the run again with dark and bright swapped
        # (the better action there than painting; polarity bash).
        self.swap_button = ui.button(
            self,
            "",
            "Tick (or untick) 'Dark objects on a bright background' and segment this image again.",
            self.segment_swapped,
        )
        self.swap_button.setVisible(False)
        # the image, model and dark-objects setting of the last run (Fine-tune's start)
        self._last_run: tuple[weakref.ref[Image], str, bool] | None = None
        self._last_data: Callable[[], Any] = lambda: None  # the data that run segmented
        # (layer, model, plane, diameter px) of the last run on one plane with auto size
        self._plane_size: tuple[weakref.ref[Any], str, tuple[int, ...], float] | None = None
        actions = QVBoxLayout()
        actions.addLayout(ui.row(self.run_button, self.cancel_button))
        actions.addLayout(ui.row(self.folder_button, self.command_button))
        return actions

    # -- public API (also used by the tests) --------------------------------------------
    def run(self) -> Any:
        """Start segmenting the chosen image; returns the worker (None if not started)."""
        if self.runner.busy:
            return None
        layer = self.image_combo.layer()
        model = self.model_combo.model_name()
        if layer is None or not model:
            return None
        problem = self.problem(layer)
        if problem:
            notify_error(problem)
            # in the dock too: its line still showed the last image's result (ecosystem
            # bash), as Validate's says "Not evaluated: ..."
            self.status.setText(f"{REFUSED}{problem}")
            self.swap_button.setVisible(False)
            self.finetune_button.setVisible(False)
            return None
        request = self._request(layer, model)
        shape = tuple(request.image.shape)
        # the data segmented: new data of the same shape is another image
        data = real_layer(layer).data
        where = f" on the dask cluster at {request.scheduler}" if request.scheduler else ""
        started = f"Segmenting {layer.name!r}{where}..."
        self.status.setText(started)
        self.swap_button.setVisible(False)  # (the last result's again once this one ends)
        self.finetune_button.setVisible(False)
        self._running = weakref.ref(layer)
        ticked = self.split_check.isChecked()  # (None in the request: the model's, ticked)
        return self.runner.start(
            segment_job,
            request,
            description=f"Segmenting {layer.name}",
            on_progress=lambda record: self._progress(started, record, ticked),
            on_result=lambda result: self._show_result(layer, result, shape, model, data),
            on_error=lambda exc: self.status.setText("Failed; see the notification."),
            on_cancel=lambda: (
                self.status.setText("Cancelled; no layer was changed.")
                if layer in self.viewer.layers
                else self._say_closed("The image was closed; its run was stopped.")
            ),
            error_context="Segmentation failed",
        )

    def _say_closed(self, words: str) -> None:
        """The status of a run whose image was closed, kept (its last result's line,
        forgotten next, wiped it; bash)."""
        self._result_said = None
        self._show_advice()
        self.status.setText(words)

    def _stop_if_closed(self, *_: Any) -> None:
        """A run whose image was closed stops at its next batch of tiles (it went on to
        its end, seconds of CPU, and its result was then dropped; GUI bash)."""
        if self._running is None or not self.runner.busy:  # (a folder's run goes on)
            return
        layer = self._running()
        if layer is None or layer not in self.viewer.layers:
            self._running = None
            self.runner.cancel()

    def _progress(self, started: str, record: Any, split: bool = False) -> None:
        """The share done on the status line too: a 100-frame movie said "Segmenting
        'big'..." for minutes, the bar being in napari's activity dock (time-lapse bash);
        with the stage after the prediction (a block run's split, numbering, pyramid),
        which counts again from 0 (review)."""
        counts = default_progress(record)
        if counts is None or not counts[1]:
            return
        done = 100 * counts[0] // counts[1]
        stage = _STAGE_WORDS.get(getattr(record, "stage", None))
        text = f"{started} {stage} {done} %" if stage else f"{started} {done} %"
        if stage is None and split and done == 100:  # a run in memory splits after it
            text += "; finishing..."  # (not split when too large: "splitting" said; review)
        if self.status.text() != text:
            self.status.setText(text)

    def problem(self, layer: Image) -> str | None:
        """Why Run would refuse ``layer`` with the chosen model and settings, or None."""
        plane_only = self.plane_check.isChecked() and self.plane_check.isEnabled()
        model = self.model_combo.model_name()
        gone = self.model_combo.unavailable()
        if gone is not None:
            return gone
        return run_problem(self.viewer, layer, model, self.model_combo.spatial_dims(), plane_only)

    def _suggest(self, unsure: bool = False, dark: bool = False, inverted: bool = False) -> None:
        """The button under the last result: segment again with dark and bright swapped
        where the image shows dark objects only (a model of bright ones then marks the
        background), else Fine-tune where the model was unsure (see :meth:`_show_advice`)."""
        word = "bright" if inverted else "dark"
        # short: a button does not wrap, and the longer words widened the dock (UI bash)
        self.swap_button.setText(f"Segment again with {word} objects")
        self._advice = (unsure, dark)
        self._show_advice()

    def _last_image(self) -> Image | None:
        """The image of the last run while it is open and holds the data that run
        segmented (given other data, the swap ran inverted on bright nuclei; review)."""
        image = None if self._last_run is None else self._last_run[0]()
        if image is None or image not in self.viewer.layers:
            return None
        return image if real_layer(image).data is self._last_data() else None

    def _show_advice(self) -> None:
        """The last result's button, while its image is the chosen one and no run goes on
        (it stayed under another image, and ran the old one; review)."""
        image = self._last_image()
        chosen = self.image_combo.layer()
        here = (
            image is not None
            and chosen is not None
            and real_layer(chosen) is image
            and not self.runner.busy
        )
        unsure, dark = self._advice
        self.swap_button.setVisible(here and dark)
        self.finetune_button.setVisible(here and unsure and not dark)

    def segment_swapped(self) -> Any:
        """Segment the last segmented image again with the other setting of "Dark objects
        on a bright background" than its run had; returns the worker (None if not
        started)."""
        image = self._last_image()
        if image is None or self.runner.busy:
            self._show_advice()
            return None
        try:  # the model of that run, whatever the box shows by now
            self.model_combo.set_model_name(self._last_run[1])
        except KeyError:  # no longer listed: said, as Fine-tune on this image says it
            notify_info(f"Model {self._last_run[1]!r} is no longer listed; choose a model.")
            return None
        self.image_combo.set_layer(image)
        self.invert_check.setChecked(not self._last_run[2])
        return self.run()

    def fine_tune_here(self) -> Any:
        """Open the Fine-tune widget on the last segmented image, starting from the model
        that segmented it, with a new scribble layer selected for painting.

        Returns the Fine-tune widget (None when the image has been closed since)."""
        image = None if self._last_run is None else self._last_run[0]()
        if image is None or image not in self.viewer.layers:
            self.finetune_button.setVisible(False)
            return None
        model = self._last_run[1]
        _, widget = self.viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
        if widget.paint_more(model):  # the model it trained on this image: its strokes
            return widget
        widget.image_combo.set_layer(image)
        try:
            widget.start_combo.set_model_name(model)
        except KeyError:  # removed since (a saved model's file deleted): the box's own
            notify_info(f"Model {model!r} is no longer listed; choose where to start from.")
        # the image's dark objects, swapped for the model: trained so too
        widget.settings.invert_check.setChecked(self._last_run[2])
        ready = widget.labels_combo.layer()  # an unpainted one from a click before
        if (
            ready is not None
            and ready.name.startswith(f"{image.name} scribbles")
            and not np.asarray(ready.data).any()
        ):
            self.viewer.layers.selection.active = ready
            ready.mode = "paint"
        else:
            widget.new_scribble_layer()
        return widget

    def enter_button(self) -> Any:
        return self.run_button

    def cancel(self) -> None:
        """Stop the running segmentation at the next batch."""
        self.runner.cancel()

    def settings(self) -> SegmentSettings:
        """The chosen model and every setting, as plain values (runs, batches, commands)."""
        from ..batch import SegmentSettings

        return SegmentSettings(
            model=self.model_combo.model_name() or None,
            object_size=self.size_spin.setting(),
            fill_holes=self.fill_check.isChecked(),
            # the tick as the model says: None, so that a result too large to split in
            # memory is left as classes, said, as the API and CLI do (it was split: 3 to
            # 15 GB for a stack of 100 to 500 M voxels; review)
            # (clicked: asked for, so a large one is split too: it could not be; split bash)
            split_touching=(
                None
                if not self._split_clicked and self.split_check.isChecked() == self._split_default
                else self.split_check.isChecked()
            ),
            tile_size=self.tile_spin.value() or None,
            overlap=self.overlap_spin.value(),
            batch_size=self.batch_spin.value() or None,
            device=self.device_combo.currentText(),
            precision=self.precision_combo.currentText(),
            tta=self.tta_check.isChecked(),
            invert=self.invert_check.isChecked(),
            channel=self._colour(),
        )

    def _colour(self) -> int | None:
        """The colour chosen for a colour image and a one-channel model (None: auto)."""
        layer = self.image_combo.layer()
        if layer is None or not layer.rgb or self.model_combo.in_channels() != 1:
            return None
        return self.colour_combo.currentData()

    def _folder_settings(self) -> SegmentSettings:
        """:meth:`settings` for a folder: a model the user did not choose (picked for the
        layer on show) is left to each file, as the command line does (a folder of planes
        got the Z stack's nuclei-3d and 11 of 12 files failed)."""
        from dataclasses import replace

        settings = self.settings()
        return settings if self._model_chosen_by_user else replace(settings, model=None)

    def apply_to_folder(self) -> Any:
        """Open the "Segment a folder" dialog (see :mod:`._qt.batch_dialog`); returns it."""
        from .batch_dialog import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self._folder_settings, self)
        self.batch_dialog.show()
        self.batch_dialog.raise_()
        return self.batch_dialog

    def copy_command(self, folder: str | None = None) -> Any:
        """Show (and copy) the command that segments the chosen image like Run does.

        A layer or model that lives only in the session is saved first, into ``folder``
        (asked for when None). Returns the dialog, or None.
        """
        from ..batch import output_paths
        from ..commands import predict_command
        from .reproduce import show_command

        layer = self.image_combo.layer()
        if layer is None or not self.model_combo.model_name():
            return None

        def build(files: Any) -> Any:
            settings = self.settings()
            settings.model = files.model(settings.model)
            store = files.store(layer)
            if store is not None:  # the OME-Zarr store itself, one channel of it maybe
                image, settings.channel = Path(store[0]), store[1]
            else:  # a TIFF (series N of one that holds several), or a copy of the layer
                named, settings.series = files.image(layer, named_axes(self.viewer, layer))
                image = Path(named)
            # <name>_labels.tif, <name>_series<N>_labels.tif, or .nii.gz
            [output] = output_paths([image], None, series=settings.series)
            if store is not None and self._into_its_store(layer):
                output = image  # as Run does: under the store's labels/ group
            plane_only = self.plane_check.isChecked() and self.plane_check.isEnabled()
            measured = self._measured_on_plane(layer, settings) if plane_only else None
            if measured is not None:  # the stack's own measure would differ from the plane's
                settings.object_size = round(measured[1], 3)
            reproduction = predict_command([image], output, settings)
            if plane_only:
                reproduction.notes.append(plane_note(settings.object_size, measured))
            if self.prob_check.isChecked() or self.unc_check.isChecked():
                several = self.model_combo.n_classes() > 2
                maps = " --class-probabilities" if several else ""
                reproduction.notes.append(
                    f"add --probabilities PATH.tif{maps} for the probability "
                    f"map{'s of the classes' if several else ''}; the uncertainty map is "
                    "made in napari only."
                )
            if self.scheduler_edit.text().strip():
                reproduction.notes.append(
                    f"on the cluster: --scheduler {self.scheduler_edit.text().strip()} "
                    "--output LABELS.ome.zarr, with the image as an OME-Zarr store."
                )
            return reproduction

        return show_command(self, build, folder)

    # -- internals ----------------------------------------------------------------------
    def _into_its_store(self, layer: Image) -> bool:
        """Whether Run writes this layer's labels into its OME-Zarr store (too big for
        memory, or on a dask cluster) rather than into a layer."""
        from .segment_job import _is_big

        data = layer_data(layer)
        shape = tuple(data.shape[:-1]) if layer.rgb else tuple(data.shape)
        return bool(self.scheduler_edit.text().strip()) or _is_big(data, shape)

    def _request(self, layer: Image, model: str) -> SegmentRequest:
        data = layer_data(layer)
        position = None
        if self.plane_check.isChecked() and self.plane_check.isEnabled():
            position = current_position(self.viewer, layer)
        settings = self.settings()
        source = getattr(layer.source, "path", None)
        store = str(source) if source and str(source).rstrip("/").endswith(".zarr") else None
        return SegmentRequest(
            store=store,
            scheduler=self.scheduler_edit.text().strip() or None,
            channel=layer.metadata.get("channel"),
            series=layer.metadata.get("series"),
            image=data,
            model=model,
            channel_axis=(data.ndim - 1) if layer.rgb else None,
            position=position,
            split=settings.split_touching,
            time_axis=time_axis(named_axes(self.viewer, layer)),
            threads=_threads_now(),
            options={
                **settings.predict_options(),
                # napari's default scale (all 1, no unit) is no pixel size: a stack's
                # Z step is then measured from its objects.
                "scale": known_spacing(layer.scale, getattr(layer, "units", None)),
                "channel": settings.channel,  # a colour of a colour image, or None
                "return_probabilities": self.prob_check.isChecked(),
                "return_uncertainty": self.unc_check.isChecked(),
            },
        )

    def _measured_on_plane(self, layer: Image, settings: Any) -> tuple[str, float] | None:
        """Where and what object size the last run of this model measured on a plane of
        ``layer`` (settings on auto), for the command to pass as ``--object-size``."""
        last = self._plane_size
        if last is None or str(settings.object_size).lower() != "auto":
            return None
        image, model, plane, size = last
        if image() is not real_layer(layer) or model != self.model_combo.model_name():
            return None
        return plane_words(self.viewer, layer, plane), size

    def _show_result(
        self,
        layer: Image,
        result: SegmentResult,
        shape: tuple[int, ...],
        model: str,
        data: Any = None,
    ) -> None:
        if layer not in self.viewer.layers:  # the image was closed during the run
            self._say_closed("The image was closed; its result was dropped.")
            return
        replaced = data is not None and real_layer(layer).data is not data
        if tuple(layer_data(layer).shape) != shape or replaced:
            # (bug bash: new data of the same shape got the old data's labels)
            self.status.setText(
                f"{layer.name!r} got other data during the run; its result was dropped."
            )
            return
        # Half-transparent labels, so the image stays visible under them.
        labels_suffix, kept = self._free_suffix(
            layer, LABELS_SUFFIX, self._keeps(WRITTEN.keeps, layer, result, result.labels)
        )
        # The maps first, so the labels lie on top of them; half-transparent, so neither
        # washes the image out (added at full opacity over the labels, they hid both).
        # A layer of a map's name that Segment did not write is kept (a map saved and
        # opened again, another plugin's: its data were replaced without a word).
        outputs = []
        for base, prob in _probability_maps(result):
            kw = {"colormap": "magma", "contrast_limits": (0.0, 1.0), "blending": "additive"}
            keeps = self._keeps(WRITTEN.keeps_map, layer, result, prob)
            suffix, said = self._free_suffix(layer, base, keeps)
            outputs.append((suffix, prob, "image", kw))
            kept += said
        if result.uncertainty is not None:
            kw = {"colormap": "viridis", "blending": "additive"}
            keeps = self._keeps(WRITTEN.keeps_map, layer, result, result.uncertainty)
            suffix, said = self._free_suffix(layer, UNCERTAINTY_SUFFIX, keeps)
            outputs.append((suffix, result.uncertainty, "image", kw))
            kept += said
        for *_, kw in outputs:
            kw["opacity"] = 0.6
        outputs.append((labels_suffix, result.labels, "labels", {"opacity": 0.5}))
        made = {}
        for suffix, data, kind, kwargs in outputs:
            if result.plane is not None:
                data = into_full(self.viewer, layer, suffix, data, result.plane)
            # A new layer joins the viewer at the next turn of the event loop (each its
            # own turn): napari's adding is the longest stall of a run.
            made[suffix] = output_layer(
                self.viewer, layer, suffix, data, kind, next_turn=True, **kwargs
            )
        labels_layer = made[labels_suffix]
        self._hide_fine_tune_overlays(layer)
        for suffix, *_ in outputs[:-1]:
            WRITTEN.wrote_map(made[suffix])
        # napari's status bar names the class under the cursor ("class: white matter")
        names = result.class_names or []
        labels_layer.features = {"index": list(range(len(names))), "class": names}
        _colour(labels_layer, bool(names))
        WRITTEN.wrote(labels_layer)  # the model's labels (again): replaced by a next run
        provenance = dict(result.stats.get("provenance") or {})
        source = getattr(layer.source, "path", None)
        if provenance and source:
            provenance["input"] = Path(source).name
        # The napari writer saves this with the labels (see napari_unetseg.provenance),
        # on the NIfTI image's affine when the image is one.
        on = on_affine(layer)
        if result.stored:  # where they live: a command names them instead of a copy
            on["zarr_labels"] = result.stored
        kept_meta = {k: v for k, v in labels_layer.metadata.items() if k != "zarr_labels"}
        from ..provenance import CHECKSUM_KEY

        # what the model wrote: a save after painting says the labels were edited (the
        # checksum WRITTEN took: a second pass over the labels took 0.1 s a 244 MB; bash)
        on[CHECKSUM_KEY] = WRITTEN.checksum(labels_layer)
        labels_layer.metadata = {**kept_meta, "unetseg": provenance, **on}
        maps = [made[suffix] for suffix, *_ in outputs[:-1]]
        at_next_turn(lambda: self._select(labels_layer, maps))  # after the adding
        where = (
            "" if result.plane is None else f" ({plane_words(self.viewer, layer, result.plane)})"
        )
        unsure = self._unsure_hint(layer, model, result)
        size = result.stats.get("object_size") or {}
        # a nuclei model's one object half the image across (a brain MR "segmented" as
        # one object): with the result, not only in the grey size line (medical bash)
        advice = size.get("advice")
        hint = "".join(f"\n{said}" for said in (advice, unsure) if said)
        self.status.setText(f"{layer.name}{where}: {result.summary}{kept}{hint}")
        at_next_turn(lambda: ui.reveal(self.status))  # below the fold in a short window
        # the model that made these labels, whatever the box shows by now
        # (held weakly, as the plane's object size: a deleted image is freed; leaks bash)
        inverted = bool((provenance.get("settings") or {}).get("invert"))
        self._last_run = (weakref.ref(real_layer(layer)), model, inverted)
        self._last_data = reference(real_layer(layer).data)
        self._suggest(bool(unsure), bool(size.get("dark_objects")), inverted)
        measured = result.plane is not None and size.get("image_diameter") is not None
        self._plane_size = (
            (weakref.ref(real_layer(layer)), model, result.plane, float(size["image_diameter"]))
            if measured
            else None
        )
        # What was done to the input before prediction: grey from RGB, the object size;
        # shown while this image is the chosen one (see _update_state).
        message = size.get("message") or ""
        if advice:  # said with the result above
            message = message.replace(f" {advice}", "")
        said = " ".join(filter(None, [result.stats.get("input"), message]))
        self._result_said = (layer, said)
        self.size_info.setText(said)

    def _unsure_hint(self, layer: Image, model: str, result: SegmentResult) -> str | None:
        """The hint when the model was unsure of what it marked (more strokes and Continue
        training for the newest model trained on this image, the one Fine-tune continues:
        an older one was promised a Continue that trained the newest; review), with the
        Fine-tune button's words to match."""
        confidence = result.stats.get("confidence") or {}
        unsure = confidence.get("message")
        here = self._trained_here(layer)[-1:] == [model]
        if unsure and here:
            from ..core.inference.blending import unsure_text

            unsure = unsure_text(confidence["sure_share"], trained_here=True)
        self.finetune_button.setText(
            "Continue training on this image..." if here else "Fine-tune on this image..."
        )
        return unsure

    def _hide_fine_tune_overlays(self, layer: Image) -> None:
        """Fine-tune's preview and unsure layers of ``layer`` hidden under new labels:
        an earlier model's outlines, cut straight at the previewed region's edge, lay
        over this run's labels and were read as theirs (journey bash). Hidden, not
        removed: the eye in the layer list shows them; the next training shows its own."""
        from .finetune.preview import PREVIEW_SUFFIX, UNSURE_SUFFIX

        for suffix in (PREVIEW_SUFFIX, UNSURE_SUFFIX):
            name = output_name(layer, suffix)
            if name in self.viewer.layers:
                overlay = self.viewer.layers[name]
                if (overlay.metadata or {}).get(OUTPUT_MARK) == suffix:
                    overlay.visible = False

    def _select(self, layer: Labels, maps: list[Any] = ()) -> None:
        """The labels active, and above the maps of their run: a second run's new maps
        were added on top of the labels it replaced in place, and hid them."""
        layers = self.viewer.layers
        if layer not in layers:
            return
        under = [layers.index(m) for m in maps if m in layers]
        at = layers.index(layer)
        if under and max(under) > at:
            layers.move(at, max(under) + 1)
        layers.selection.active = layer

    @staticmethod
    def _keeps(
        keeps: Callable[[Any], str | None], layer: Image, result: SegmentResult, data: Any
    ) -> Callable[[Any], str | None]:
        """Why an output layer is kept, for this result (a plane's also where the layer
        cannot take it: :func:`~.segment_plane.plane_keeps`)."""
        return keeps if result.plane is None else plane_keeps(keeps, layer, data)

    def _free_suffix(
        self, layer: Image, base: str, keeps: Callable[[Any], str | None]
    ) -> tuple[str, str]:
        """The suffix of an output for ``layer`` (``base``, or ``base 2``, ... when the
        layers of those names are to be kept, ``keeps`` saying why: the user's painting,
        or a layer this plugin did not write) and a sentence saying so."""
        suffix, n, reason = base, 1, None
        while (name := output_name(layer, suffix)) in self.viewer.layers:
            why = keeps(self.viewer.layers[name])
            if why is None:
                break
            reason = reason or why
            n += 1
            suffix = f"{base} {n}"
        if n == 1:
            return suffix, ""
        kept = output_name(layer, base if n == 2 else f"{base} {n - 1}")
        return suffix, (
            f" {kept!r} {reason}, so it was kept; these "
            f"{'labels are' if base == LABELS_SUFFIX else 'values are'} in "
            f"{output_name(layer, suffix)!r}."
        )

    def _on_uncertainty_toggled(self, on: bool) -> None:
        # The uncertainty is the spread over the flipped predictions: it needs TTA.
        if on:
            self.tta_check.setChecked(True)
        self.tta_check.setEnabled(not on)

    def _on_model_changed(self, name: str) -> None:
        if not self._picking:
            self._model_chosen_by_user = True
            self._default_reason = ""
        if name != self._fill_model:  # the same model chosen again keeps the user's tick
            try:
                bundle = self.model_combo.bundle()
                self.fill_check.setChecked(bool(bundle.fill_holes))
                self.split_check.setChecked(bool(bundle.split_touching))
                self._split_default = bool(bundle.split_touching)
                self._split_clicked = False
                self._fill_model = name
                # a tick follows the image (nuclei-2d to nuclei-3d keeps it) unless a
                # model trained with dark and bright swapped comes or goes
                if bundle.invert != self._model_inverts:
                    self.invert_check.setChecked(bundle.invert)
                self._model_inverts = bundle.invert
            except Exception:  # noqa: BLE001 - an unreadable model is described in place
                pass
        self._update_state()

    def _on_axis_labels(self, *_: Any) -> None:
        if not is_deleted(self):  # napari's events outlive a closed dock
            self._pick_default_model()
            self._update_state()

    def _trained_here(self, layer: Image) -> list[str]:
        """The models trained on ``layer`` in this session, oldest first."""
        from ..core.registry import REGISTRY

        return REGISTRY.trained_on(layer_key(layer))

    def _pick_default_model(self, *_: Any) -> None:
        """Until the user picks a model: the newest model trained on this image in this
        session, else the shipped model that fits the image."""
        layer = self.image_combo.layer()
        if layer is None or self._model_chosen_by_user:
            return
        from ..api import default_model

        trained = self._trained_here(layer)
        if trained:
            name, why = trained[-1], f"it was trained on '{layer.name}' in this session"
        else:
            shape = tuple(layer_data(layer).shape)
            # napari's default axis labels are numbers: they say nothing about Z or T.
            axes = named_axes(self.viewer, layer)  # of the layer's axes, colour left out
            if axes is not None and layer.rgb:
                axes += "C"
            channel = len(shape) - 1 if layer.rgb else None
            if axes is not None and "C" in axes and not layer.rgb:  # labels c: channels
                channel = axes.index("C")
            name, why = default_model(shape, axes, channel)
            if channel is not None and not layer.rgb:  # Run refuses it: said here first
                why += (
                    f"; its axis {channel} holds channels (labelled c): add each channel as "
                    "its own layer to segment one"
                )
            if name == "nuclei-3d" and "T" not in (axes or "") and guessed_axes(layer):
                why += (
                    "; its file does not name its axes: if the first is time, choose "
                    "nuclei-2d, which segments each time point"
                )
        self._picking = True
        try:
            self.model_combo.set_model_name(name)
            self._default_reason = f"Chosen because {why}."
            self._on_model_changed(name)
        except KeyError:  # not listed (e.g. a trimmed registry): keep the current one
            pass
        finally:
            self._picking = False

    def _update_state(self, *_: Any) -> None:
        layer = self.image_combo.layer()
        if self.status.text().startswith(REFUSED):  # said of the choice just changed
            self.status.setText("")
        self._forget_other_results(layer)
        self._show_advice()
        model = self.model_combo.model_name()
        info = (
            self.model_combo.describe() if model else "No model is available: load a model file."
        )
        if self._default_reason and model:
            info = f"{info}. {self._default_reason}"
        self.model_info.setText(info)
        # a 3D model always reads the whole stack
        dims = self.model_combo.spatial_dims() if model and layer is not None else None
        stack = layer is not None and layer.ndim >= 3
        colour = layer is not None and layer.rgb and self.model_combo.in_channels() == 1
        self._inputs.setRowVisible(self.colour_combo, bool(model and colour))
        self.plane_check.setEnabled(stack and dims == 2)
        self.plane_check.setToolTip(
            "A 3D model segments the whole stack."
            if stack and dims == 3
            else "For a stack and a 2D model: segment only the plane shown in the viewer."
        )
        ready = layer is not None and bool(model) and not self.runner.busy
        self.run_button.setEnabled(ready)
        self.command_button.setEnabled(layer is not None and bool(model))
        if layer is None:
            self.run_button.setToolTip("Open an image first.")
        else:
            self.run_button.setToolTip("Segment the chosen image with the chosen model.")

    def _forget_other_results(self, layer: Image | None) -> None:
        """The size line describes the chosen image's last result only, and the status a
        result of an image still open (both kept describing a removed image)."""
        if self._result_said is None or self.runner.busy:
            return
        shown, said = self._result_said
        if shown not in self.viewer.layers:
            self._result_said = None
            self.status.setText("")
        same = layer is not None and self._result_said is not None
        self.size_info.setText(said if same and real_layer(layer) is real_layer(shown) else "")


#: What a block run's stages after the prediction do, on the status line.
_STAGE_WORDS = {
    "split": "splitting touching objects",
    "number": "numbering the objects",
    "pyramid": "writing the smaller levels",
}


def _probability_maps(result: SegmentResult) -> list[tuple[str, Any]]:
    """The probability layers of a result, by suffix: the foreground's map, or a
    several-class model's map of each object class ("probability grey matter")."""
    maps = result.probabilities
    if maps is None:
        return []
    labels = result.labels[0] if isinstance(result.labels, list) else result.labels
    if len(np.shape(maps)) == len(np.shape(labels)):  # (a pyramid's level 0)
        return [(PROBABILITY_SUFFIX, maps)]
    names = list(result.class_names or [])
    names += [f"class {k}" for k in range(len(names), len(maps))]
    return [(f"{PROBABILITY_SUFFIX} {names[k]}", maps[k]) for k in range(1, len(maps))]


def _threads_now() -> int:
    """torch's thread count in this (the viewer's) thread, for the run's worker."""
    import torch  # loaded already, with the model picker's registry

    return torch.get_num_threads()


#: The colours Segment gave each labels output (a fingerprint): a re-run recolours a
#: layer only while it still has them (the user's own colours were replaced).
_COLOURED: weakref.WeakKeyDictionary[Any, tuple] = weakref.WeakKeyDictionary()


def _colour(layer: Labels, classes: bool) -> None:
    """Classes (not object ids) each in the colour of the strokes that paint them;
    object ids in napari's cycling colours, also after a run of classes (split touching
    objects kept the 31 class colours: 101 of 132 objects were drawn in one grey; labels
    bash). Colours the user set since the last run are kept."""
    from napari.utils.colormaps import label_colormap

    from .finetune.label_policy import PREVIEW_COLORS
    from .finetune.paint_panel import labels_colormap

    before = _COLOURED.get(layer)
    if before is not None and _fingerprint(layer.colormap) != before:
        return  # recoloured by the user
    if classes:
        layer.colormap = labels_colormap(PREVIEW_COLORS)
    elif before is not None:  # our class colours of an earlier run
        layer.colormap = label_colormap(49)  # napari's own for a new Labels layer
    _COLOURED[layer] = _fingerprint(layer.colormap)


def _fingerprint(colormap: Any) -> tuple:
    """What a labels colormap shows, comparable (napari's colormaps compare arrays)."""
    colours = getattr(colormap, "color_dict", None)
    if colours is not None:
        return tuple(
            (key, tuple(np.round(np.asarray(value, float), 4))) for key, value in colours.items()
        )
    return (type(colormap).__name__, getattr(colormap, "seed", None))


__all__ = ["SegmentRequest", "SegmentResult", "SegmentWidget", "segment_job"]
