"""The "Segment" dock widget: run a U-Net over an image layer, tile by tile.

The widget only gathers settings and layers; the work is
:func:`napari_unetseg.api.predict_iter` (plus
:func:`napari_unetseg.postprocess.split_touching`) in a worker thread, through
:class:`~napari_unetseg._qt._worker.JobRunner`. Outputs are layers named after the image
(``"<image> [unet]"``, ``"[probability]"``, ``"[uncertainty]"``) with its scale and
translate; running again updates them in place.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ._common import (
    LayerComboBox,
    ModelComboBox,
    layer_data,
    output_layer,
    output_name,
)
from ._worker import JobRunner

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

    from ..batch import SegmentSettings

#: Output sizes (bytes of labels) above which a lazily written zarr array is used.
LAZY_OUTPUT_BYTES = 1 << 30

LABELS_SUFFIX = "unet"
PROBABILITY_SUFFIX = "probability"
UNCERTAINTY_SUFFIX = "uncertainty"


@dataclass
class SegmentRequest:
    """Everything the worker needs: plain values and the layer's array, no Qt objects.

    ``options`` are keyword arguments of :func:`napari_unetseg.api.predict_iter`
    (``tile_size``, ``overlap``, ``batch_size``, ``device``, ``precision``, ``tta``,
    ``return_probabilities``, ``return_uncertainty``).
    """

    image: Any
    model: str
    channel_axis: int | None = None
    position: tuple[int, ...] | None = None  # current data index: "current plane only"
    split: bool = False  # touching objects split apart (needs options["scale"])
    options: dict[str, Any] = field(default_factory=dict)
    #: The OME-Zarr store the layer was read from: a result too big for memory is written
    #: block by block under its labels/ group and shown lazily from there.
    store: str | None = None


@dataclass
class SegmentResult:
    """What the worker hands back to the GUI thread."""

    labels: Any
    probabilities: Any = None
    uncertainty: Any = None
    plane: tuple[int, ...] | None = None  # leading index of a one-plane result
    summary: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


def segment_job(req: SegmentRequest) -> Generator[Any, None, SegmentResult]:
    """The worker side of a Segment run: load the model, predict, optionally split.

    Yields the engine's ``TileProgress`` records; returns a :class:`SegmentResult`.
    """
    from .. import api

    bundle = api.load_model(req.model)
    image = req.image
    channel_axis = req.channel_axis
    plane = None
    n_lead = image.ndim - (channel_axis is not None) - bundle.spatial_dims
    if req.position is not None and n_lead > 0:
        plane = tuple(req.position[:n_lead])
        image = image[plane]
        if channel_axis is not None:
            channel_axis = image.ndim - 1  # only RGB(A) layers have one: the last axis
    out_shape = tuple(s for a, s in enumerate(image.shape) if a != channel_axis)
    if plane is None and _is_big(image, out_shape) and _into_store(req, image):
        return (yield from _segment_into_store(req, bundle))
    out = _lazy_output(out_shape) if _is_big(image, out_shape) else None
    split = req.split and out is None  # a lazily written result is too large to split
    result = yield from api.segment_iter(
        image, bundle, split_touching=split, out=out, channel_axis=channel_axis, **req.options
    )
    stats = dict(result.stats)
    stats["provenance"] = _provenance(req, bundle, split)
    summary = _summary(result.labels, split, stats)
    if req.split and not split:
        summary += " Touching objects were not split: the result is too large for memory."
    return SegmentResult(
        result.labels, result.probabilities, result.uncertainty, plane, summary, stats
    )


def _into_store(req: SegmentRequest, image: Any) -> bool:
    """Whether the result can go into the layer's own OME-Zarr store: the layer is that
    store's full-resolution image and only labels are asked for."""
    if req.store is None or req.split:
        return False
    if req.options.get("return_probabilities") or req.options.get("return_uncertainty"):
        return False
    from .._zarr import read_ome_zarr

    return tuple(read_ome_zarr(req.store).data.shape) == tuple(image.shape)


def _segment_into_store(req: SegmentRequest, bundle: Any) -> Generator[Any, None, SegmentResult]:
    """Predict block by block into ``<store>/labels/<model>`` (napari_unetseg.distributed)
    and hand back the written labels as a lazy array."""
    from .. import distributed as dist
    from .._zarr import LabelsStore, read_ome_zarr
    from ..batch import SegmentSettings

    source = read_ome_zarr(req.store)
    target, _ = LabelsStore.target(req.store, source, bundle.name)
    if LabelsStore.exists(target):  # replace only what an earlier run made
        LabelsStore(target).info  # noqa: B018 - raises for a group unetseg did not write
    known = SegmentSettings().predict_options()
    options = {k: v for k, v in req.options.items() if k in known}
    done = yield from dist.predict_blocks_iter(
        req.store, bundle, req.store, image=source, overwrite=True, **options
    )
    labels = read_ome_zarr(done.output).data
    stats = dict(done.stats)
    stats["provenance"] = _provenance(req, bundle, False)
    summary = (
        f"Written block by block to {done.output} ({stats['blocks']} blocks, "
        f"{stats['seconds']:.1f} s); shown from there."
    )
    return SegmentResult(labels, summary=summary, stats=stats)


def _provenance(req: SegmentRequest, bundle: Any, split: bool) -> dict[str, Any]:
    """How the labels are made (saved with them by the napari writer)."""
    from ..batch import SegmentSettings
    from ..provenance import labels_provenance, model_reference

    used = SegmentSettings.from_dict({**req.options, "model": bundle.name, "split_touching": split})
    return labels_provenance(model_reference(req.model, bundle), used.to_dict())


def _is_big(image: Any, out_shape: tuple[int, ...]) -> bool:
    return not isinstance(image, np.ndarray) and int(np.prod(out_shape)) > LAZY_OUTPUT_BYTES


def _lazy_output(shape: tuple[int, ...]) -> Any:
    """An in-memory, compressed zarr array for huge label outputs (mostly zeros)."""
    import zarr

    chunks = tuple(
        min(s, c) for s, c in zip(shape, (1,) * (len(shape) - 2) + (1024, 1024), strict=True)
    )
    return zarr.zeros(shape=shape, chunks=chunks, dtype=np.uint8)


def _summary(labels: Any, instances: bool, stats: dict[str, Any]) -> str:
    timing = f"{stats.get('seconds', 0):.1f} s on {stats.get('device', '?')}"
    if instances:
        return f"{int(np.max(labels))} objects ({timing})."
    if isinstance(labels, np.ndarray):
        fraction = float(np.count_nonzero(labels)) / max(labels.size, 1)
        return f"Foreground: {100 * fraction:.1f} % of the pixels ({timing})."
    return f"Done ({timing})."


class SegmentWidget(QWidget):
    """Segment an image layer with a U-Net (napari dock widget "Segment").

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image

        from ..core.devices import PRECISIONS, available_devices

        self.viewer = napari_viewer
        self._model_info_cache: dict[str, str] = {}

        # -- main settings --------------------------------------------------------------
        self.image_combo = LayerComboBox(napari_viewer, Image, parent=self)
        self.image_combo.setToolTip("The image to segment. The list follows the layer list.")
        self.model_combo = ModelComboBox(self)
        self.model_combo.setToolTip(
            "Shipped models, models trained or loaded in this session, or a model file."
        )
        self.model_info = QLabel(self)
        self.model_info.setWordWrap(True)
        self.model_info.setStyleSheet("color: gray;")
        self.split_check = QCheckBox("Split touching objects", self)
        self.split_check.setToolTip(
            "Separate touching objects into individual labels (distance-transform "
            "watershed); otherwise every pixel of a class gets the same label."
        )
        self.size_spin = QDoubleSpinBox(self)
        self.size_spin.setRange(0.0, 4096.0)
        self.size_spin.setDecimals(1)
        self.size_spin.setSingleStep(1.0)
        self.size_spin.setSuffix(" px")
        self.size_spin.setSpecialValueText("auto")
        self.size_spin.setToolTip(
            "Typical object diameter in pixels. The image is resampled so its objects have "
            "the size the model was trained for, then the labels come back on the image's "
            "grid. auto: measured from the image (the result line says what it found)."
        )
        self.size_info = QLabel(self)
        self.size_info.setWordWrap(True)
        self.size_info.setStyleSheet("color: gray;")
        self.fill_check = QCheckBox("Fill holes inside objects", self)
        self.fill_check.setToolTip(
            "Fill background enclosed by an object (e.g. dark nucleoli), plane by plane."
        )
        self.plane_check = QCheckBox("Current plane only (quick preview)", self)
        self.plane_check.setToolTip(
            "For a stack and a 2D model: segment only the plane shown in the viewer."
        )

        form = QFormLayout()
        form.addRow("Image", self.image_combo)
        form.addRow("Model", self.model_combo)
        form.addRow("", self.model_info)
        form.addRow("Object size", self.size_spin)
        form.addRow("", self.size_info)

        # -- advanced settings, folded away ---------------------------------------------
        self.tile_spin = QSpinBox(self)
        self.tile_spin.setRange(0, 2048)
        self.tile_spin.setSingleStep(32)
        self.tile_spin.setSpecialValueText("auto")
        self.tile_spin.setToolTip("Tile edge in pixels (auto: the model's own tile size).")
        self.overlap_spin = QDoubleSpinBox(self)
        self.overlap_spin.setRange(0.0, 0.75)
        self.overlap_spin.setSingleStep(0.05)
        self.overlap_spin.setValue(0.25)
        self.overlap_spin.setToolTip("Fraction of a tile shared with its neighbours.")
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setRange(0, 256)
        self.batch_spin.setSpecialValueText("auto")
        self.batch_spin.setToolTip("Tiles per batch (auto: from the free memory).")
        self.device_combo = QComboBox(self)
        self.device_combo.addItems(["auto", *available_devices()])
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU.")
        self.precision_combo = QComboBox(self)
        self.precision_combo.addItems(list(PRECISIONS))
        self.precision_combo.setToolTip(
            "auto: bf16/fp16 on a GPU or a CPU with native bf16 once a quick check shows "
            "the model's labels agree with fp32; else fp32."
        )
        self.tta_check = QCheckBox("Test-time augmentation (flips)", self)
        self.tta_check.setToolTip("Average over flipped copies: smoother, 4-8x slower.")
        self.prob_check = QCheckBox("Probability map", self)
        self.prob_check.setToolTip("Also add the foreground probability as an image layer.")
        self.unc_check = QCheckBox("Uncertainty map (uses test-time augmentation)", self)
        self.unc_check.setToolTip("Disagreement between the flipped predictions, per pixel.")
        self.unc_check.toggled.connect(self._on_uncertainty_toggled)

        advanced = QFormLayout()
        advanced.addRow("Tile size", self.tile_spin)
        advanced.addRow("Overlap", self.overlap_spin)
        advanced.addRow("Batch size", self.batch_spin)
        advanced.addRow("Device", self.device_combo)
        advanced.addRow("Precision", self.precision_combo)
        advanced.addRow(self.tta_check)
        advanced.addRow(self.prob_check)
        advanced.addRow(self.unc_check)
        advanced_box = QWidget(self)
        advanced_box.setLayout(advanced)
        self.advanced = QCollapsible("Advanced settings", self)
        self.advanced.addWidget(advanced_box)

        # -- run / cancel ---------------------------------------------------------------
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Segment the chosen image with the chosen model.")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop after the current batch of tiles; adds no layer.")
        self.runner = JobRunner(self.run_button, self.cancel_button, self)
        self.run_button.clicked.connect(self.run)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.folder_button = QPushButton("Apply to folder...", self)
        self.folder_button.setToolTip(
            "Segment every image of a folder (or chosen files) with these settings."
        )
        self.folder_button.clicked.connect(lambda: self.apply_to_folder())
        self.command_button = QPushButton("Copy as command", self)
        self.command_button.setToolTip(
            "The unetseg command line (and Python code) that repeats this run."
        )
        self.command_button.clicked.connect(lambda: self.copy_command())
        self.batch_dialog: Any = None
        more = QHBoxLayout()
        more.addWidget(self.folder_button)
        more.addWidget(self.command_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.fill_check)
        layout.addWidget(self.split_check)
        layout.addWidget(self.plane_check)
        layout.addWidget(self.advanced)
        layout.addLayout(buttons)
        layout.addLayout(more)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._model_chosen_by_user = False
        self._picking = False  # True while the widget itself selects a model
        self._default_reason = ""
        self.image_combo.layerChanged.connect(self._pick_default_model)
        self.image_combo.layerChanged.connect(self._update_state)
        self.model_combo.modelChanged.connect(self._on_model_changed)
        self.runner.finished.connect(self._update_state)
        self._pick_default_model()
        self._update_state()

    # -- public API (also used by the tests) --------------------------------------------
    def run(self) -> Any:
        """Start segmenting the chosen image; returns the worker (None if not started)."""
        if self.runner.busy:
            return None
        layer = self.image_combo.layer()
        model = self.model_combo.model_name()
        if layer is None or not model:
            return None
        request = self._request(layer, model)
        self.status.setText(f"Segmenting {layer.name!r}...")
        return self.runner.start(
            segment_job,
            request,
            description=f"Segmenting {layer.name}",
            on_result=lambda result: self._show_result(layer, result),
            on_error=lambda exc: self.status.setText("Failed; see the notification."),
            on_cancel=lambda: self.status.setText("Cancelled; no layer was changed."),
            error_context="Segmentation failed",
        )

    def cancel(self) -> None:
        """Stop the running segmentation at the next batch."""
        self.runner.cancel()

    def settings(self) -> SegmentSettings:
        """The chosen model and every setting, as plain values (runs, batches, commands)."""
        from ..batch import SegmentSettings

        return SegmentSettings(
            model=self.model_combo.model_name() or None,
            object_size=self.size_spin.value() or "auto",
            fill_holes=self.fill_check.isChecked(),
            split_touching=self.split_check.isChecked(),
            tile_size=self.tile_spin.value() or None,
            overlap=self.overlap_spin.value(),
            batch_size=self.batch_spin.value() or None,
            device=self.device_combo.currentText(),
            precision=self.precision_combo.currentText(),
            tta=self.tta_check.isChecked(),
        )

    def apply_to_folder(self) -> Any:
        """Open the "Segment a folder" dialog (see :mod:`._qt.batch_dialog`); returns it."""
        from .batch_dialog import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self.settings, self)
        self.batch_dialog.show()
        self.batch_dialog.raise_()
        return self.batch_dialog

    def copy_command(self, folder: str | None = None) -> Any:
        """Show (and copy) the command that segments the chosen image like Run does.

        A layer or model that lives only in the session is saved first, into ``folder``
        (asked for when None). Returns the dialog, or None.
        """
        from .._io import image_name
        from ..commands import predict_command
        from .reproduce import show_command

        layer = self.image_combo.layer()
        if layer is None or not self.model_combo.model_name():
            return None

        def build(files: Any) -> Any:
            settings = self.settings()
            settings.model = files.model(settings.model)
            image = Path(files.layer(layer))
            output = image.with_name(f"{image_name(image)}_labels.tif")
            reproduction = predict_command([image], output, settings)
            if self.plane_check.isChecked() and self.plane_check.isEnabled():
                reproduction.notes.append("the command segments every plane, not only the current one.")
            if self.prob_check.isChecked() or self.unc_check.isChecked():
                reproduction.notes.append(
                    "add --probabilities PATH for the probability map; the uncertainty map "
                    "is made in napari only."
                )
            return reproduction

        return show_command(self, build, folder)

    # -- internals ----------------------------------------------------------------------
    def _request(self, layer: Image, model: str) -> SegmentRequest:
        data = layer_data(layer)
        position = None
        if self.plane_check.isChecked() and self.plane_check.isEnabled():
            position = self._current_position(layer)
        settings = self.settings()
        source = getattr(layer.source, "path", None)
        store = str(source) if source and str(source).rstrip("/").endswith(".zarr") else None
        return SegmentRequest(
            store=store,
            image=data,
            model=model,
            channel_axis=(data.ndim - 1) if layer.rgb else None,
            position=position,
            split=settings.split_touching,
            options={
                **settings.predict_options(),
                "scale": tuple(float(s) for s in layer.scale),
                "return_probabilities": self.prob_check.isChecked(),
                "return_uncertainty": self.unc_check.isChecked(),
            },
        )

    def _current_position(self, layer: Image) -> tuple[int, ...]:
        """The data index of the plane shown in the viewer, clipped to the layer."""
        point = layer.world_to_data(self.viewer.dims.point[-layer.ndim :])
        shape = layer.data.shape[: layer.ndim]
        return tuple(int(np.clip(round(p), 0, s - 1)) for p, s in zip(point, shape, strict=True))

    def _show_result(self, layer: Image, result: SegmentResult) -> None:
        if layer not in self.viewer.layers:  # the image was closed during the run
            self.status.setText("The image was closed; its result was dropped.")
            return
        # Half-transparent labels, so the image stays visible under them.
        outputs = [(LABELS_SUFFIX, result.labels, "labels", {"opacity": 0.5})]
        if result.probabilities is not None:
            kw = {"colormap": "magma", "contrast_limits": (0.0, 1.0), "blending": "additive"}
            outputs.append((PROBABILITY_SUFFIX, result.probabilities, "image", kw))
        if result.uncertainty is not None:
            kw = {"colormap": "viridis", "blending": "additive"}
            outputs.append((UNCERTAINTY_SUFFIX, result.uncertainty, "image", kw))
        for suffix, data, kind, kwargs in outputs:
            if result.plane is not None:
                data = self._into_full(layer, suffix, data, result.plane)
            output_layer(self.viewer, layer, suffix, data, kind, **kwargs)
        labels_layer = self.viewer.layers[output_name(layer, LABELS_SUFFIX)]
        provenance = dict(result.stats.get("provenance") or {})
        source = getattr(layer.source, "path", None)
        if provenance and source:
            provenance["input"] = Path(source).name
        # The napari writer saves this with the labels (see napari_unetseg.provenance).
        labels_layer.metadata = {**labels_layer.metadata, "unetseg": provenance}
        self.viewer.layers.selection.active = labels_layer
        where = "" if result.plane is None else f" (plane {result.plane})"
        self.status.setText(f"{layer.name}{where}: {result.summary}")
        size = result.stats.get("object_size") or {}
        self.size_info.setText(size.get("message", ""))

    def _into_full(
        self, layer: Image, suffix: str, plane_data: Any, plane: tuple[int, ...]
    ) -> Any:
        """Put a one-plane result into the full-size output (the existing one if it fits)."""
        full_shape = tuple(layer.data.shape[: layer.ndim])
        name = output_name(layer, suffix)
        existing = self.viewer.layers[name].data if name in self.viewer.layers else None
        plane_data = np.asarray(plane_data)
        if (
            isinstance(existing, np.ndarray)
            and existing.shape == full_shape
            and np.can_cast(plane_data.dtype, existing.dtype)
        ):
            full = existing
        else:
            full = np.zeros(full_shape, plane_data.dtype)
        full[plane] = plane_data
        return full

    def _on_uncertainty_toggled(self, on: bool) -> None:
        # The uncertainty is the spread over the flipped predictions: it needs TTA.
        if on:
            self.tta_check.setChecked(True)
        self.tta_check.setEnabled(not on)

    def _on_model_changed(self, name: str) -> None:
        if not self._picking:
            self._model_chosen_by_user = True
            self._default_reason = ""
        try:
            self.fill_check.setChecked(bool(self.model_combo.bundle().fill_holes))
        except Exception:  # noqa: BLE001 - an unreadable model is described in place
            pass
        self._update_state()

    def _pick_default_model(self, *_: Any) -> None:
        """Choose the shipped model that fits the image, until the user picks one."""
        layer = self.image_combo.layer()
        if layer is None or self._model_chosen_by_user:
            return
        from ..api import default_model

        shape = tuple(layer_data(layer).shape)
        axes = "".join(str(a)[-1].upper() for a in self.viewer.dims.axis_labels[-len(shape):])
        # napari's default axis labels are numbers: they say nothing about Z or T.
        axes = axes if axes.isalpha() else None
        name, why = default_model(shape, axes, len(shape) - 1 if layer.rgb else None)
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
        model = self.model_combo.model_name()
        info = self._describe(model) if model else "No model is available: load a model file."
        if self._default_reason and model:
            info = f"{info}. {self._default_reason}"
        self.model_info.setText(info)
        spatial = None if layer is None else layer.ndim
        self.plane_check.setEnabled(spatial is not None and spatial >= 3)
        ready = layer is not None and bool(model) and not self.runner.busy
        self.run_button.setEnabled(ready)
        if layer is None:
            self.run_button.setToolTip("Open an image first.")
        else:
            self.run_button.setToolTip("Segment the chosen image with the chosen model.")

    def _describe(self, name: str) -> str:
        """A one-line description of a model (cached; loading a shipped file is quick)."""
        if name not in self._model_info_cache:
            try:
                bundle = self.model_combo.bundle()
            except Exception as exc:  # noqa: BLE001 - shown in place of the description
                return f"Cannot read this model: {exc}"
            self._model_info_cache[name] = bundle.summary()
        return self._model_info_cache[name]

    def sizeHint(self) -> Any:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), 300))
        return hint


__all__ = ["SegmentRequest", "SegmentResult", "SegmentWidget", "segment_job"]
