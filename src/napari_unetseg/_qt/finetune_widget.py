"""The "Fine-tune" dock widget: paint a few labels, train a U-Net on them, live.

The flagship workflow: pick an image, click "New scribble layer", paint a few strokes of
background (label 1) and objects (label 2), press Train and watch the loss and the
validation Dice; the trained model joins the model registry at once (the Segment widget
lists it), can be saved to a file, and training can continue after more painting.

The widget only gathers layers and settings. The work is
:func:`napari_unetseg.api.train_iter` in a worker thread, through
:class:`~napari_unetseg._qt._worker.JobRunner`; layers are touched only in the progress
and result callbacks (GUI thread). The worker trains on a snapshot of the labels, so the
user can keep painting while it runs (the next "Continue training" uses the new strokes).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..core.bundle import finetuned_name
from ..core.training.labels import label_counts, problem_with
from ._common import (
    LayerComboBox,
    ModelComboBox,
    layer_data,
    notify_error,
    notify_info,
    output_layer,
    output_name,
    spatial_geometry,
    user_message,
)
from ._worker import JobRunner

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

    from ..core.bundle import ModelBundle
    from ..core.training import TrainProgress

#: "Start from" entry that trains a new network instead of fine-tuning one.
SCRATCH = "New model (from scratch)"
#: Shipped models preferred as the starting point, per image dimensionality.
DEFAULT_START = {2: "nuclei-2d", 3: "nuclei-3d"}
PREVIEW_SUFFIX = "preview"

#: Scribble values, their names and colours (docs/architecture.md: 0 not painted, 1 background, 2.. classes).
BACKGROUND, OBJECT = 1, 2
SCRIBBLE_NAMES = {0: "not painted", BACKGROUND: "background", OBJECT: "object"}
#: Colours chosen to stand out on grayscale / fluorescence images and from each other.
PALETTE = {
    1: (0.25, 0.55, 1.0, 1.0),  # blue: background
    2: (1.0, 0.6, 0.0, 1.0),  # orange: object
    3: (0.9, 0.2, 0.9, 1.0),  # magenta
    4: (0.2, 0.85, 0.3, 1.0),  # green
    5: (1.0, 0.95, 0.2, 1.0),  # yellow
    6: (0.6, 0.35, 0.15, 1.0),  # brown
}
PREVIEW_COLORS = {1: (0.2, 1.0, 0.45, 1.0), 2: (0.9, 0.2, 0.9, 1.0), 3: (1.0, 0.95, 0.2, 1.0)}
#: Metadata key marking a Labels layer made by "New scribble layer".
SCRIBBLE_KEY = "napari-unetseg scribbles"

#: Architectures offered for a new model (Advanced > "New model size"); None = the
#: engine's default (:data:`napari_unetseg.core.training.NEW_MODEL`).
MODEL_SIZES: dict[str, dict[str, int] | None] = {
    "standard": None,
    "small (faster on a CPU)": {"depth": 3, "base_channels": 8},
    "tiny (quick experiments)": {"depth": 2, "base_channels": 4},
}
#: Largest preview region per spatial axis (the preview runs inside the training loop).
PREVIEW_EDGE = {2: (512, 512), 3: (32, 192, 192)}
#: Weight of each new loss in the plotted moving average (one step's loss is noisy).
LOSS_SMOOTHING = 0.15
#: Plot redraws at most this often (seconds): progress may arrive ten times a second,
#: and a redraw takes the GUI thread tens of milliseconds.
PLOT_INTERVAL_S = 0.5
#: Pixel counts wait this long after the last paint event (milliseconds).
COUNT_DELAY_MS = 150


# -- the worker side ------------------------------------------------------------------------
@dataclass
class TrainRequest:
    """Everything the worker needs: arrays and plain values, no Qt or napari objects.

    The fields are :func:`napari_unetseg.api.train_iter`'s arguments, by name.
    """

    image: Any
    labels: Any  # a snapshot: painting during training does not change what is trained on
    model: Any = None  # None (new model), a registry name or a ModelBundle
    label_mode: str = "sparse"
    steps: int | None = None
    time_limit: float | None = 60.0
    learning_rate: float | None = None
    patch_size: int | None = None
    batch_size: int | None = None
    val_fraction: float = 0.1
    augment: bool = True
    device: str = "auto"
    seed: int = 0
    spatial_dims: int | None = None
    model_config: dict[str, Any] | None = None
    channel_axis: int | None = None
    preview_image: Any = None
    preview_every: int = 0
    scale: tuple[float, ...] | None = None  # the layer's pixel size (object size, 3D grids)
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class TrainResult:
    """What the worker hands back: the model and its prediction of the preview region."""

    bundle: ModelBundle
    preview: np.ndarray | None = None


def finetune_job(req: TrainRequest) -> Generator[TrainProgress, None, TrainResult]:
    """The worker side of a training run (a shipped model file is loaded here too).

    Yields the engine's ``TrainProgress`` records and returns the trained bundle (the
    best one so far when ``req.stop`` was set) with, when a preview was asked for, that
    model's labels for the preview region: the last live preview came from whatever
    weights were current then, the final one shows the model the user gets.
    """
    from .. import api

    kwargs = {f.name: getattr(req, f.name) for f in fields(req)}
    bundle = yield from api.train_iter(kwargs.pop("image"), kwargs.pop("labels"), **kwargs)
    preview = None
    if req.preview_image is not None and bundle.history.get("steps"):
        preview = np.asarray(api.predict(req.preview_image, bundle, device=req.device))
    return TrainResult(bundle, preview)


# -- warm-up ---------------------------------------------------------------------------------
#: Set once the training machinery is imported (see :func:`warm_up`).
WARMED_UP = threading.Event()
_warm_up_lock = threading.Lock()
_warm_up_thread: threading.Thread | None = None


def _import_training() -> None:
    try:
        import torch._dynamo  # noqa: F401 - what the first torch optimizer imports

        from .. import api  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - only a head start: Train imports them anyway
        pass
    finally:
        WARMED_UP.set()


def warm_up() -> threading.Event:
    """Import the training machinery in a background thread, once per process.

    The first torch optimizer of a process imports ``torch._dynamo``: seconds of work,
    with stretches that hold the GIL. Done when the widget opens (while the user paints)
    rather than when Train is pressed, the first run starts at once. Returns
    :data:`WARMED_UP`.
    """
    global _warm_up_thread
    with _warm_up_lock:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(
                target=_import_training, name="unetseg-warm-up", daemon=True
            )
            _warm_up_thread.start()
    return WARMED_UP


# -- small helpers ---------------------------------------------------------------------------
def image_shape(layer: Image) -> tuple[int, ...]:
    """The pixel grid of an image layer: its shape without the RGB(A) axis."""
    shape = tuple(layer_data(layer).shape)
    return shape[:-1] if layer.rgb else shape


def scribble_names(layer: Labels) -> dict[int, str]:
    """Names of the label values: the layer's ``name`` feature, else the defaults."""
    names = dict(SCRIBBLE_NAMES)
    features = layer.features
    if "name" in features and "index" in features:
        for value, name in zip(features["index"], features["name"], strict=False):
            names[int(value)] = str(name)
    return names


def _generic_class_name(name: str) -> bool:
    """Placeholder names: ours for scribbles and the engine's for new models."""
    return name in ("object", "foreground") or name.startswith("class ")


def merged_class_names(model_names: list[str], scribble: dict[int, str]) -> list[str]:
    """Class names for a model trained on scribbles whose values are named ``scribble``.

    The user's names win, except the placeholder "object", which does not replace a real
    name the model already has ("nucleus"). Duplicates keep the model's names.
    """
    merged = []
    for c, theirs in enumerate(model_names):
        mine = scribble.get(c + 1)
        keep = mine is None or (_generic_class_name(mine) and not _generic_class_name(theirs))
        merged.append(theirs if keep else mine)
    return merged if len(set(merged)) == len(merged) else list(model_names)


def _colour(rgba: tuple[float, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgba[:3]))


def _labels_colormap(colors: dict[int, tuple[float, ...]]) -> Any:
    from napari.utils.colormaps import DirectLabelColormap

    color_dict: dict[int | None, Any] = {0: (0, 0, 0, 0), None: (0.8, 0.8, 0.8, 1.0)}
    color_dict.update(colors)
    return DirectLabelColormap(color_dict=color_dict)


# -- the live curve --------------------------------------------------------------------------
class _Curve:
    """The plotted history of one or more training runs (steps continue across runs)."""

    def __init__(self) -> None:
        self.offset = 0
        self.loss_step: list[int] = []
        self.loss: list[float] = []
        self.smooth: list[float] = []  # exponential moving average of the loss
        self.dice_step: list[int] = []
        self.dice: list[float] = []
        self.runs: list[int] = []  # first step of each continued run (drawn as a line)

    def clear(self) -> None:
        self.__init__()

    def start_run(self, continued: bool) -> None:
        if not continued:
            self.clear()
            return
        self.offset = max(self.loss_step + self.dice_step, default=0)
        self.runs.append(self.offset)

    def add(self, record: TrainProgress) -> bool:
        """Take a progress record; True if it added a point."""
        added = False
        if record.loss is not None and record.step > 0:
            self.loss_step.append(self.offset + record.step)
            self.loss.append(float(record.loss))
            last = self.smooth[-1] if self.smooth else self.loss[-1]
            self.smooth.append(last + LOSS_SMOOTHING * (self.loss[-1] - last))
            added = True
        if record.val_dice is not None:
            self.dice_step.append(self.offset + record.step)
            self.dice.append(float(record.val_dice))
            added = True
        return added


class FinetuneWidget(QWidget):
    """Train or fine-tune a U-Net on labels painted in napari (dock widget "Fine-tune").

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari when the widget is opened from the Plugins menu.
    """

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from napari.layers import Image, Labels

        from ..core.devices import available_devices

        self.viewer = napari_viewer
        #: The last trained model and its registry name (None before the first run).
        self.trained: ModelBundle | None = None
        self.trained_name = ""
        self.curve = _Curve()
        self._request: TrainRequest | None = None
        self._run_done = False
        self._preview_target: tuple[Image, tuple] | None = None
        self._runs = 0
        self._last_draw = 0.0
        self._start_touched = False
        self._info_cache: dict[str, str] = {}
        self._watched: Labels | None = None

        # -- 1. paint ---------------------------------------------------------------------
        self.image_combo = LayerComboBox(napari_viewer, Image, parent=self)
        self.image_combo.setToolTip("The image to learn from. The list follows the layer list.")
        self.labels_combo = LayerComboBox(
            napari_viewer,
            Labels,
            predicate=lambda layer: not layer.name.endswith(f" [{PREVIEW_SUFFIX}]"),
            parent=self,
        )
        self.labels_combo.setToolTip("The labels painted over the image (same size as the image).")
        self.new_button = QPushButton("New scribble layer", self)
        self.new_button.setToolTip(
            "Add an empty labels layer over the image, ready to paint: label 1 = "
            "background, label 2 = object."
        )
        self.new_button.clicked.connect(self.new_scribble_layer)

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
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.scribble_radio)
        mode_row.addWidget(self.dense_radio)
        mode_row.addStretch(1)
        self.mode_help = self._gray_label()

        self.paint_bg_button = QPushButton(self)
        self.paint_obj_button = QPushButton(self)
        for button, value in ((self.paint_bg_button, BACKGROUND), (self.paint_obj_button, OBJECT)):
            button.setStyleSheet(f"border-left: 6px solid {_colour(PALETTE[value])};")
            button.clicked.connect(lambda _=False, v=value: self.paint(v))
        self._name_paint_buttons(SCRIBBLE_NAMES)
        paint_row = QHBoxLayout()
        paint_row.addWidget(self.paint_bg_button)
        paint_row.addWidget(self.paint_obj_button)
        self.counts_label = QLabel(self)
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)

        paint_form = QFormLayout()
        paint_form.addRow("Image", self.image_combo)
        paint_form.addRow("Labels", self.labels_combo)
        paint_form.addRow("", self.new_button)
        paint_form.addRow("Label mode", mode_row)

        # -- 2. train -------------------------------------------------------------------
        self.start_combo = ModelComboBox(self, leading_items=[SCRATCH])
        self.start_combo.setToolTip(
            "Fine-tune a shipped model, a model trained or loaded in this session, or a "
            "model file; or train a new model from scratch."
        )
        self.start_combo.activated.connect(self._on_start_activated)
        self.start_info = self._gray_label()
        self.dims_combo = QComboBox(self)
        self.dims_combo.addItem("2D, on the painted planes (faster)", 2)
        self.dims_combo.addItem("3D", 3)
        self.dims_combo.setToolTip(
            "For a stack: a 2D model learns from each painted plane; a 3D model learns "
            "from the volume around the strokes (slower)."
        )
        self.budget_spin = QSpinBox(self)
        self.budget_spin.setRange(1, 1_000_000)
        self.budget_spin.setValue(60)
        self.budget_unit = QComboBox(self)
        self.budget_unit.addItems(["seconds", "steps"])
        self.budget_unit.setToolTip("Train for this long, or for this many optimizer steps.")
        self._budget = {"seconds": 60, "steps": 300}
        self.budget_unit.currentTextChanged.connect(self._on_budget_unit)
        budget_row = QHBoxLayout()
        budget_row.addWidget(self.budget_spin, 1)
        budget_row.addWidget(self.budget_unit)
        self.preview_check = QCheckBox("Live preview every", self)
        self.preview_check.setChecked(True)
        self.preview_check.setToolTip(
            "Show what the model predicts, while it trains, for the part of the image in "
            f"view, in a '[{PREVIEW_SUFFIX}]' layer: paint where it is wrong."
        )
        self.preview_spin = QSpinBox(self)
        self.preview_spin.setRange(1, 10_000)
        self.preview_spin.setValue(25)
        self.preview_spin.setSuffix(" steps")
        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_check)
        preview_row.addWidget(self.preview_spin, 1)

        train_form = QFormLayout()
        train_form.addRow("Start from", self.start_combo)
        train_form.addRow("", self.start_info)
        train_form.addRow("New model", self.dims_combo)
        train_form.addRow("Budget", budget_row)
        train_form.addRow(preview_row)
        self._train_form = train_form

        # -- advanced, folded away ------------------------------------------------------
        self.lr_spin = QDoubleSpinBox(self)
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.0, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setSpecialValueText("auto")
        self.lr_spin.setToolTip(
            "Peak learning rate (auto: 2e-3 for a new model, 1e-4 to fine-tune)."
        )
        self.patch_spin = QSpinBox(self)
        self.patch_spin.setRange(0, 1024)
        self.patch_spin.setSingleStep(16)
        self.patch_spin.setSpecialValueText("auto")
        self.patch_spin.setToolTip(
            "Patch edge in pixels (auto: 128 in 2D on a CPU, more on a GPU)."
        )
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setRange(0, 256)
        self.batch_spin.setSpecialValueText("auto")
        self.batch_spin.setToolTip("Patches per step (auto: from the device).")
        self.val_spin = QDoubleSpinBox(self)
        self.val_spin.setRange(0.0, 0.5)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setValue(0.1)
        self.val_spin.setToolTip(
            "Share of the painted pixels held out, as whole regions, to measure the "
            "validation Dice (0: no validation)."
        )
        self.augment_check = QCheckBox("Augmentation (flips, rotations, intensity, noise)", self)
        self.augment_check.setChecked(True)
        self.device_combo = QComboBox(self)
        self.device_combo.addItems(["auto", *available_devices()])
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU.")
        self.size_combo = QComboBox(self)
        self.size_combo.addItems(list(MODEL_SIZES))
        self.size_combo.setToolTip("Size of a new model (fine-tuning keeps the model's size).")
        advanced = QFormLayout()
        advanced.addRow("Learning rate", self.lr_spin)
        advanced.addRow("Patch size", self.patch_spin)
        advanced.addRow("Batch size", self.batch_spin)
        advanced.addRow("Validation share", self.val_spin)
        advanced.addRow(self.augment_check)
        advanced.addRow("Device", self.device_combo)
        advanced.addRow("New model size", self.size_combo)
        advanced_box = QWidget(self)
        advanced_box.setLayout(advanced)
        self.advanced = QCollapsible("Advanced settings", self)
        self.advanced.addWidget(advanced_box)

        # -- run / stop, plot, result ---------------------------------------------------
        self.train_button = QPushButton("Train", self)
        self.train_button.setToolTip("Train on the painted labels (the viewer stays usable).")
        self.train_button.clicked.connect(self.train)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop now and keep the best model so far.")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.runner = JobRunner(self.train_button, None, self)
        self.runner.started.connect(lambda: self.stop_button.setEnabled(True))
        self.runner.finished.connect(self._on_finished)
        train_row = QHBoxLayout()
        train_row.addWidget(self.train_button)
        train_row.addWidget(self.stop_button)
        self.plot = _CurvePlot(self, napari_viewer)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.continue_button = QPushButton("Continue training", self)
        self.continue_button.setToolTip(
            "Train the model just trained further, with the labels as they are now."
        )
        self.continue_button.clicked.connect(self.continue_training)
        self.save_button = QPushButton("Save model...", self)
        self.save_button.setToolTip("Write the trained model to a .pt file.")
        self.save_button.clicked.connect(self.save_model)
        result_row = QHBoxLayout()
        result_row.addWidget(self.continue_button)
        result_row.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self._header("1. Paint"))
        layout.addLayout(paint_form)
        layout.addWidget(self.mode_help)
        layout.addLayout(paint_row)
        layout.addWidget(self.counts_label)
        layout.addWidget(self._header("2. Train"))
        layout.addLayout(train_form)
        layout.addWidget(self.advanced)
        layout.addLayout(train_row)
        layout.addWidget(self.plot.widget)
        layout.addWidget(self.status)
        layout.addWidget(self._header("3. Use the model"))
        layout.addLayout(result_row)
        layout.addStretch(1)

        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self.update_counts)
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)

        self.image_combo.layerChanged.connect(self._on_image_changed)
        self.labels_combo.layerChanged.connect(self._on_labels_changed)
        self.scribble_radio.toggled.connect(self._on_mode_changed)
        self.start_combo.modelChanged.connect(self._update_state)
        self._choose_default_start()
        self._on_labels_changed(self.labels_combo.layer())
        warm_up()
        self._update_state()

    # -- public API (also used by the tests) --------------------------------------------
    @property
    def label_mode(self) -> str:
        """``'sparse'`` (scribbles) or ``'dense'`` (complete masks)."""
        return "sparse" if self.scribble_radio.isChecked() else "dense"

    def new_scribble_layer(self) -> Labels | None:
        """Add an empty scribble layer over the image, selected, with the object brush."""
        image = self.image_combo.layer()
        if image is None:
            notify_error("Open an image first: scribbles are painted over an image.")
            return None
        names = self._start_class_names()
        layer = self.viewer.add_labels(
            np.zeros(image_shape(image), np.uint8),
            name=f"{image.name} scribbles",
            features={"index": list(names), "name": list(names.values())},
            colormap=_labels_colormap(PALETTE),
            metadata={SCRIBBLE_KEY: True},
            **spatial_geometry(image),
        )
        # A brush about 2 % of the image: visible strokes, still thinner than most objects.
        layer.brush_size = int(np.clip(round(min(image_shape(image)[-2:]) / 50), 2, 40))
        self.labels_combo.set_layer(layer)
        self.scribble_radio.setChecked(True)
        self.paint(OBJECT)
        return layer

    def _start_class_names(self) -> dict[int, str]:
        """Scribble value names: the start model's class names where it has real ones.

        Fine-tuning a nuclei model, label 2 is "nucleus" rather than "object".
        """
        names = dict(SCRIBBLE_NAMES)
        name = self.start_combo.model_name()
        if name and name != SCRATCH:
            try:
                classes = self.start_combo.bundle().class_names
            except Exception:  # noqa: BLE001 - an unreadable model keeps the defaults
                classes = []
            for c, class_name in enumerate(classes[1:], start=1):
                if not _generic_class_name(class_name):
                    names[c + 1] = class_name
        return names

    def _name_paint_buttons(self, names: dict[int, str]) -> None:
        for button, value in ((self.paint_bg_button, BACKGROUND), (self.paint_obj_button, OBJECT)):
            name = names.get(value, SCRIBBLE_NAMES[value])
            button.setText(f"Paint {name} ({value})")
            button.setToolTip(
                f"Select the labels layer and its paint brush with label {value} ({name})."
            )

    def paint(self, value: int) -> None:
        """Select the labels layer, its paint brush and label ``value``."""
        layer = self.labels_combo.layer()
        if layer is None:
            notify_error("Pick a labels layer first, or click 'New scribble layer'.")
            return
        self.viewer.layers.selection.active = layer
        layer.selected_label = value
        layer.mode = "paint"

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
        if self._request is not None:
            self._request.stop.set()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping: keeping the best model so far...")

    def save_model(self, path: str | None = None) -> Path | None:
        """Write the trained model to a file (asks where, and before overwriting)."""
        if self.trained is None:
            notify_error("There is no trained model to save yet: press Train first.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Save the trained model",
                f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self.trained_name)}.pt",
                "U-Net models (*.pt)",
            )  # Qt's save dialog asks before replacing an existing file
            if not path:
                return None
            if not path.lower().endswith(".pt"):
                path += ".pt"
                if Path(path).exists() and not self._confirm_overwrite(path):
                    return None
        try:
            written = self.trained.save(path)  # atomic: a temporary file, then a rename
        except OSError as exc:
            notify_error(f"Could not save the model to {path}: {exc.strerror or exc}.")
            return None
        self.status.setText(f"Saved {self.trained_name!r} to {written}.")
        notify_info(f"Saved the model to {written}")
        return written

    # -- starting a run -----------------------------------------------------------------
    def _start(self, continued: bool) -> Any:
        if self.runner.busy:
            return None
        image, labels = self.image_combo.layer(), self.labels_combo.layer()
        problem = self._problem(image, labels)
        if problem:
            notify_error(f"Cannot train: {problem}")
            self.status.setText(problem[0].upper() + problem[1:])
            return None
        assert image is not None and labels is not None
        req = self._make_request(image, labels, continued)
        if self._preview_target is not None:
            self._preview_layer(image)
        self._request = req
        self._run_done = False
        self.destroyed.connect(req.stop.set)  # closing napari ends the run promptly
        self._runs += 1
        self.curve.start_run(continued)
        self.plot.update(self.curve)
        self.status.setText("Preparing the training data...")
        self._update_state()
        return self.runner.start(
            finetune_job,
            req,
            description=f"Training on {labels.name}",
            progress=lambda record: (round(1000 * record.fraction), 1000),
            on_progress=lambda record: self._on_progress(record),
            on_result=lambda result: self._on_result(image, labels, result),
            on_error=lambda exc: self.status.setText(f"Training failed: {user_message(exc)}"),
            error_context="Training failed",
        )

    def _problem(self, image: Image | None, labels: Labels | None) -> str | None:
        """Why training cannot start now, in one sentence (None when it can)."""
        if image is None:
            return "open an image first."
        if labels is None:
            return "pick a labels layer, or click 'New scribble layer' and paint."
        shape = image_shape(image)
        if tuple(labels.data.shape) != shape:
            return (
                f"the labels layer {labels.name!r} has shape {tuple(labels.data.shape)} but the "
                f"image {image.name!r} has {shape}; paint on a layer made for this image "
                "('New scribble layer')."
            )
        # Counted afresh: the displayed counts may wait for the end of a stroke.
        return problem_with(label_counts(labels.data), self.label_mode, labels.name)

    def _make_request(self, image: Image, labels: Labels, continued: bool) -> TrainRequest:
        data = layer_data(image)
        unit = self.budget_unit.currentText()
        scratch = not continued and self.start_combo.model_name() == SCRATCH
        if continued:
            model: Any = self.trained
        elif scratch:
            model = None
        else:
            model = self.start_combo.model_name()
        dims = self._model_dims(model, image)
        req = TrainRequest(
            image=data,
            labels=np.array(labels.data, copy=True),  # painting may go on meanwhile
            model=model,
            label_mode=self.label_mode,
            steps=self.budget_spin.value() if unit == "steps" else None,
            time_limit=float(self.budget_spin.value()) if unit == "seconds" else None,
            learning_rate=self.lr_spin.value() or None,
            patch_size=self.patch_spin.value() or None,
            batch_size=self.batch_spin.value() or None,
            val_fraction=self.val_spin.value(),
            augment=self.augment_check.isChecked(),
            device=self.device_combo.currentText(),
            seed=self._runs,
            spatial_dims=dims if scratch else None,
            model_config=MODEL_SIZES[self.size_combo.currentText()] if scratch else None,
            channel_axis=(data.ndim - 1) if image.rgb else None,
            scale=tuple(float(v) for v in image.scale),
        )
        self._preview_target = None
        if self.preview_check.isChecked() and dims is not None:
            region = self._preview_region(image, dims)
            index = region + ((slice(None),) if image.rgb else ())
            req.preview_image = data[index]
            req.preview_every = self.preview_spin.value()
            self._preview_target = (image, region)
        return req

    def _model_dims(self, model: Any, image: Image) -> int | None:
        """Spatial dims of the model a run trains (None if it cannot be told)."""
        if model is None:
            return self.dims_combo.currentData() if len(image_shape(image)) >= 3 else 2
        if not isinstance(model, str):
            return model.spatial_dims
        try:
            return self.start_combo.bundle().spatial_dims
        except Exception:  # noqa: BLE001 - the worker reports an unreadable model
            return None

    def _preview_region(self, image: Image, dims: int) -> tuple:
        """Index of the region in view: the current plane(s), at most PREVIEW_EDGE wide.

        Leading axes (Z for a 2D model, time) get the current position; the model's
        spatial axes get a window centred on the middle of the view.
        """
        shape = image_shape(image)
        world = list(self.viewer.dims.point)
        displayed = list(self.viewer.dims.displayed)
        camera = getattr(self.viewer, "scene", self.viewer).camera  # napari < 0.9: viewer.camera
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

    # -- progress and results ------------------------------------------------------------
    def _on_progress(self, record: TrainProgress) -> None:
        if self._run_done:  # napari may deliver the last records after the result
            return
        if record.message:
            self.status.setText(record.message)
        elif record.step:
            self.status.setText(self._progress_text(record))
        if self.curve.add(record):
            self._schedule_draw()
        if record.preview is not None:
            self._show_preview(record.preview)

    @staticmethod
    def _progress_text(record: TrainProgress) -> str:
        parts = [f"Step {record.step}"]
        if record.loss is not None:
            parts.append(f"loss {record.loss:.3f}")
        if record.best_val_dice is not None:
            parts.append(f"best validation Dice {record.best_val_dice:.3f}")
        budget = (
            f"{record.elapsed:.0f} / {record.time_limit:.0f} s"
            if record.time_limit
            else f"{record.step} / {record.total_steps} steps"
        )
        return " · ".join(parts) + f" ({budget})"

    def _show_preview(self, preview: np.ndarray) -> None:
        if self._preview_target is None:
            return
        image, region = self._preview_target
        if image not in self.viewer.layers:
            return
        layer = self._preview_layer(image)
        layer.data[region] = preview
        layer.refresh()

    def _preview_layer(self, image: Image) -> Labels:
        """The ``"<image> [preview]"`` layer, made (empty) when missing or mismatched.

        Made when Train is pressed rather than at the first preview: adding a layer
        takes the GUI a moment, better spent before the run than during it.
        """
        from napari.layers import Labels

        name = output_name(image, PREVIEW_SUFFIX)
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
        shape = image_shape(image)
        if (
            existing is not None
            and isinstance(existing, Labels)
            and tuple(existing.data.shape) == shape
            and isinstance(existing.data, np.ndarray)
        ):
            return existing
        active = self.viewer.layers.selection.active
        layer = output_layer(
            self.viewer,
            image,
            PREVIEW_SUFFIX,
            np.zeros(shape, np.uint8),
            colormap=_labels_colormap(PREVIEW_COLORS),
            opacity=0.9,
        )
        layer.contour = 2  # outlines: the image, and so the misses, stay visible
        # Just above its image, under the scribbles, which stay selected for painting.
        self.viewer.layers.move(
            self.viewer.layers.index(layer), self.viewer.layers.index(image) + 1
        )
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active
        return layer

    def _on_result(self, image: Image, labels: Labels, result: TrainResult) -> None:
        self._run_done = True
        bundle = result.bundle
        if not bundle.history.get("steps"):
            self.status.setText("Stopped before the first training step: no model was made.")
            return
        if result.preview is not None:
            self._show_preview(result.preview)
        if self.label_mode == "sparse":
            bundle.class_names = merged_class_names(bundle.class_names, scribble_names(labels))
        start = self._request.model if self._request is not None else None
        if start is None:
            base = bundle.name
        else:
            base = finetuned_name(start if isinstance(start, str) else start.name)
        from ..core.registry import REGISTRY

        self.trained = bundle
        self.trained_name = REGISTRY.register(bundle, base)
        history = bundle.history
        dice = history.get("best_val_dice")
        score = (
            f"best validation Dice {dice:.2f} at step {history.get('best_step')}"
            if dice is not None
            else "no validation (paint in more places to get a score)"
        )
        how = "stopped early" if history.get("stopped_early") else "done"
        text = (
            f"Training {how}: {self.trained_name!r} ({history.get('steps')} steps in "
            f"{history.get('duration_s', 0):.0f} s, {score}). It is in the Segment "
            "widget's model list; save it to keep it."
        )
        if self._preview_target is not None:
            text += (
                f" The green '[{PREVIEW_SUFFIX}]' layer shows what it predicts in the region "
                "you looked at: paint where it is wrong, then Continue training."
            )
        self.status.setText(text)
        notify_info(f"Trained model {self.trained_name!r} is ready ({score}).")
        self._draw()

    def _on_finished(self) -> None:
        self._request = None
        self.stop_button.setEnabled(False)
        self._draw()
        self._update_state()

    # -- plot ---------------------------------------------------------------------------
    def _schedule_draw(self) -> None:
        wait = PLOT_INTERVAL_S - (time.perf_counter() - self._last_draw)
        if wait <= 0:
            self._draw()
        elif not self._draw_timer.isActive():
            self._draw_timer.start(int(1000 * wait))

    def _draw(self) -> None:
        self._last_draw = time.perf_counter()
        self.plot.update(self.curve)

    # -- labels: counts and mode -----------------------------------------------------------
    def _on_labels_changed(self, layer: Labels | None) -> None:
        if self._watched is not None:
            for emitter in self._label_events(self._watched):
                emitter.disconnect(self._schedule_count)
        self._watched = layer
        self._name_paint_buttons(SCRIBBLE_NAMES if layer is None else scribble_names(layer))
        if layer is not None:
            for emitter in self._label_events(layer):
                emitter.connect(self._schedule_count)
            guessed = self._guess_mode(layer)
            if guessed == "sparse":
                self.scribble_radio.setChecked(True)
            elif guessed == "dense":
                self.dense_radio.setChecked(True)
        self._on_mode_changed()  # the help names this layer's labels; counts it
        self._update_state()

    @staticmethod
    def _label_events(layer: Labels) -> list[Any]:
        # paint: a finished stroke or fill; data: a new array; set_data: undo/redo refresh.
        return [layer.events.paint, layer.events.data, layer.events.set_data]

    @staticmethod
    def _guess_mode(layer: Labels) -> str | None:
        """Scribbles for our scribble layers, dense for ground truth / masks, else keep."""
        if layer.metadata.get(SCRIBBLE_KEY):
            return "sparse"
        name = layer.name.lower()
        if any(word in name for word in ("ground truth", "groundtruth", "mask", "[unet]")):
            return "dense"
        if "scribble" in name:
            return "sparse"
        return None

    def _schedule_count(self, event: Any = None) -> None:
        self._count_timer.start()

    def update_counts(self) -> None:
        """Refresh the painted-pixel counts (and the readiness sentence)."""
        layer = self.labels_combo.layer()
        if layer is None:
            self.counts_label.setText("<i>No labels layer: click 'New scribble layer'.</i>")
            return
        counts = label_counts(layer.data)
        if counts is None:
            self.counts_label.setText("<i>Labels are counted when training starts.</i>")
            return
        problem = problem_with(counts, self.label_mode, layer.name)
        if self.label_mode == "sparse":
            names = scribble_names(layer)
            parts = [
                f"<span style='color:{_colour(PALETTE.get(v, (0.8, 0.8, 0.8)))}'>&#9632;</span>"
                f" {names.get(v, f'class {v - 1}')}: {n:,} px"
                for v, n in sorted(counts.items())
                if v > 0
            ]
            values = [v for v in counts if v > 0]
            if len(values) > 4 and max(values) > 9:
                problem = (problem or "") + (
                    " These look like complete masks (many label values): choose 'Dense masks'?"
                )
        else:
            objects = sum(n for v, n in counts.items() if v > 0)
            n_ids = sum(1 for v in counts if v > 0)
            parts = [
                f"background: {counts.get(0, 0):,} px",
                f"objects: {objects:,} px ({n_ids} label value{'s' * (n_ids != 1)})",
            ]
        text = "Painted: " + (" &nbsp; ".join(parts) if parts else "nothing yet")
        if problem:
            text += f"<br><span style='color:#e0a030'>{problem.strip()}</span>"
        self.counts_label.setText(text)

    def _on_mode_changed(self, *_: Any) -> None:
        sparse = self.label_mode == "sparse"
        layer = self.labels_combo.layer()
        names = SCRIBBLE_NAMES if layer is None else scribble_names(layer)
        self.mode_help.setText(
            f"Paint a few strokes: 1 = {names[BACKGROUND]}, 2 = {names[OBJECT]} (3, 4... = "
            "more classes); unpainted pixels (0) are ignored."
            if sparse
            else "Complete masks: 0 = background, any other value = object; every pixel counts."
        )
        self.paint_bg_button.setVisible(sparse)
        self.paint_obj_button.setVisible(sparse)
        self.update_counts()

    # -- start model, state ---------------------------------------------------------------
    def _on_image_changed(self, layer: Image | None) -> None:
        if not self._start_touched:
            self._choose_default_start()
        self._update_state()

    def _on_start_activated(self, *_: Any) -> None:
        self._start_touched = True

    def _choose_default_start(self) -> None:
        """The shipped model for the image's dimensionality, else a new model."""
        image = self.image_combo.layer()
        ndim = 3 if image is not None and len(image_shape(image)) >= 3 else 2
        for name in (DEFAULT_START[ndim], DEFAULT_START[2], SCRATCH):
            if self.start_combo.findText(name) >= 0:
                self.start_combo.set_model_name(name)
                return

    def _on_budget_unit(self, unit: str) -> None:
        other = "steps" if unit == "seconds" else "seconds"
        self._budget[other] = self.budget_spin.value()
        self.budget_spin.setValue(self._budget[unit])

    def _update_state(self, *_: Any) -> None:
        image = self.image_combo.layer()
        name = self.start_combo.model_name()
        scratch = name == SCRATCH
        stack = image is not None and len(image_shape(image)) >= 3
        for widget in (self.dims_combo, self._train_form.labelForField(self.dims_combo)):
            widget.setVisible(scratch and stack)  # QFormLayout.setRowVisible needs Qt 6.4
        self.size_combo.setEnabled(scratch)
        self.start_info.setText(self._describe(name, stack))
        busy = self.runner.busy
        self.train_button.setEnabled(not busy and image is not None)
        self.new_button.setEnabled(image is not None)
        has_model = self.trained is not None
        self.continue_button.setEnabled(has_model and not busy)
        self.save_button.setEnabled(has_model and not busy)

    def _describe(self, name: str, stack: bool) -> str:
        if name == SCRATCH:
            return "A new U-Net that learns only from your labels (paint generously)."
        if not name:
            return ""
        if name not in self._info_cache:
            try:
                bundle = self.start_combo.bundle()
            except Exception as exc:  # noqa: BLE001 - shown in place of the description
                return f"Cannot read this model: {exc}"
            self._info_cache[name] = bundle.summary()
        info = self._info_cache[name]
        if stack and info.startswith("2D"):
            info += " (trains on the painted planes)"
        elif not stack and info.startswith("3D"):
            info += " (needs a 3D stack; this image is 2D)"
        return info

    # -- small UI helpers ----------------------------------------------------------------
    def _gray_label(self) -> QLabel:
        label = QLabel(self)
        label.setWordWrap(True)
        label.setStyleSheet("color: gray;")
        return label

    def _header(self, text: str) -> QLabel:
        label = QLabel(f"<b>{text}</b>", self)
        label.setContentsMargins(0, 6, 0, 0)
        return label

    def _confirm_overwrite(self, path: str) -> bool:
        answer = QMessageBox.question(self, "Replace file?", f"{path} already exists. Replace it?")
        return answer == QMessageBox.StandardButton.Yes

    def sizeHint(self) -> Any:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), 320))
        return hint


class _CurvePlot:
    """The live curve: training loss (raw, faint, and smoothed) and validation Dice.

    A :class:`~napari_unetseg._qt._plots.PlotCanvas` (napari's theme colours; only the
    lines' data change on update, so a redraw costs the GUI thread little).
    """

    def __init__(self, parent: QWidget, viewer: napari.Viewer) -> None:
        from ._plots import PALETTE, PlotCanvas

        self.widget = PlotCanvas(parent, viewer=viewer, xlabel="step", height=180)
        self.widget.setToolTip(
            "Training loss (lower is better; faint: each step, bold: smoothed) and "
            "validation Dice on held-out painted regions (higher is better, 1 = perfect)."
        )
        self._loss_color, self._dice_color = PALETTE[0], PALETTE[1]
        self._run_lines: list[Any] = []
        self.n_points = 0

    def update(self, curve: _Curve) -> None:
        """Show ``curve`` (drawn when the event loop is next idle)."""
        plot = self.widget
        for line in self._run_lines[len(curve.runs) :]:
            line.remove()
        del self._run_lines[len(curve.runs) :]
        if not curve.loss and not curve.dice:
            plot.clear()
            plot.legend(False)
            self.n_points = 0
            return
        # Names starting with "_" stay out of the legend (matplotlib's convention).
        plot.set_line("_loss", curve.loss_step, curve.loss, color=self._loss_color, alpha=0.3)
        plot.set_line("training loss", curve.loss_step, curve.smooth, color=self._loss_color)
        plot.set_line(
            "validation Dice",
            curve.dice_step,
            curve.dice,
            color=self._dice_color,
            marker="o",
            ms=3,
        )
        for x in curve.runs[len(self._run_lines) :]:  # where "Continue training" began
            self._run_lines.append(plot.axes.axvline(x, color="gray", ls=":", lw=1))
        plot.rescale(ylim=(0.0, max([1.02, *curve.loss]) * 1.03))
        if plot.axes.get_legend() is None:
            plot.legend()
        self.n_points = len(curve.loss) + len(curve.dice)
