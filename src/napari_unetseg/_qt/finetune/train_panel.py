"""Section "2. Train" of the Fine-tune widget: start model, budget, preview, advanced
settings, and the Train / Stop buttons."""

from __future__ import annotations

import re
from typing import Any

from qtpy.QtGui import QValidator
from qtpy.QtWidgets import QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from .. import _builders as ui
from ..model_combo import ModelComboBox
from .label_policy import SCRIBBLE_NAMES, start_class_names

#: "Start from" entry that trains a new network instead of fine-tuning one.
SCRATCH = "New model (from scratch)"
#: Shipped models preferred as the starting point, per image dimensionality.
DEFAULT_START = {2: "nuclei-2d", 3: "nuclei-3d"}
#: Architectures offered for a new model (Advanced > "New model size"); None = the
#: engine's default (:data:`napari_unetseg.core.training.NEW_MODEL`).
MODEL_SIZES: dict[str, dict[str, int] | None] = {
    "standard": None,
    "small (faster on a CPU)": {"depth": 3, "base_channels": 8},
    "tiny (quick experiments)": {"depth": 2, "base_channels": 4},
}


#: Units a budget may be typed in: (unit of the Budget box, factor to it).
BUDGET_UNITS = {
    "s": ("seconds", 1), "sec": ("seconds", 1), "second": ("seconds", 1),
    "seconds": ("seconds", 1), "m": ("seconds", 60), "min": ("seconds", 60),
    "mins": ("seconds", 60), "minute": ("seconds", 60), "minutes": ("seconds", 60),
    "h": ("seconds", 3600), "hour": ("seconds", 3600), "hours": ("seconds", 3600),
    "step": ("steps", 1), "steps": ("steps", 1),
}  # fmt: skip
_BUDGET_TEXT = re.compile(r"^\s*(\d*(?:[.,]\d*)?)\s*([a-zA-Z]*)\s*$")
_THOUSANDS = re.compile(r"^\d{1,3}[.,]\d{3}$")  # steps are whole: a thousands separator


class BudgetSpinBox(QSpinBox):
    """The budget, typed with a unit if wished ("2 min", "90 s", "300 steps"): the number
    in the box's unit, and :attr:`typed_unit` the unit it belongs to (the panel switches
    its unit box to it). A typed "2 min" was 2 seconds (the letters were dropped)."""

    typed_unit: str | None = None

    def _parse(self, text: str) -> tuple[float, str | None] | None:
        found = _BUDGET_TEXT.match(text)
        if not found or not found.group(1).strip(".,"):
            return None
        word = found.group(2).lower()
        if word and word not in BUDGET_UNITS:
            return None
        unit, factor = BUDGET_UNITS[word] if word else (None, 1)
        number = found.group(1)
        if unit == "steps" and _THOUSANDS.match(number):  # "1.000 steps", "1,000 steps"
            number = number.replace(".", "").replace(",", "")  # were 1 step (locale bug bash)
        return float(number.replace(",", ".")) * factor, unit

    def validate(self, text: str, pos: int) -> Any:
        parsed = self._parse(text)
        if parsed is not None and self.minimum() <= parsed[0] <= self.maximum():
            return (QValidator.State.Acceptable, text, pos)
        partial = _BUDGET_TEXT.match(text) and any(
            u.startswith((_BUDGET_TEXT.match(text).group(2) or "").lower()) for u in BUDGET_UNITS
        )
        return (QValidator.State.Intermediate if partial else QValidator.State.Invalid, text, pos)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt's name
        parsed = self._parse(text)
        if parsed is None:
            return self.value()
        self.typed_unit = parsed[1]
        return int(round(parsed[0]))


class TrainPanel(QWidget):
    """What to train from and for how long; :meth:`options` turns it into run settings."""

    def __init__(self, preview_suffix: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_touched = False  # the user chose a start model: no more defaults
        self.default_reason = ""  # why the default start is a new model, if it is
        self._taught: dict[str, bool] = {}  # per start model name: did a forest teach it
        self._inverts: dict[str, bool] = {}  # and does it swap dark and bright
        self._ranged: dict[str, bool] = {}  # and does it keep a fixed intensity range
        self._start_inverted = False
        rows = self._form = ui.Form()
        self.start_combo = rows.add("Start from", ModelComboBox(self, leading_items=[SCRATCH]))
        self.start_combo.setToolTip(
            "Fine-tune a shipped model, a model trained or loaded in this session, or a "
            "model file; or train a new model from scratch."
        )
        self.start_combo.activated.connect(self._on_start_activated)
        self.start_info = rows.add("", ui.hint_label(self))
        self.invert_check = rows.span(ui.check_box(
            self, "Dark objects on a bright background",
            "Swap dark and bright before training, as Segment's box does before predicting; "
            "the model keeps the setting, so it predicts with them swapped. The shipped "
            "nuclei models know bright objects: fine-tune them on dark nuclei with this on.",
        ))  # fmt: skip
        self.start_combo.modelChanged.connect(self._follow_start_invert)
        self.dims_combo = rows.add("New model", ui.combo_box(
            self, [("2D, plane by plane (faster)", 2), ("3D", 3)],
            "For a stack: a 2D model learns plane by plane (every plane when a random "
            "forest first labels what you did not paint, else the painted planes); a 3D "
            "model learns from the volume: slower, and better for thin structures in a "
            "fine, isotropic volume (an MR brain at 1 mm) when given a few minutes.",
        ))  # fmt: skip
        self.budget_spin = BudgetSpinBox(self)
        self.budget_spin.setRange(1, 1_000_000)
        self.budget_spin.setValue(60)
        self.budget_spin.setToolTip(
            "How long to train: seconds or optimizer steps, as the box beside says; a unit "
            "may be typed (2 min, 90 s, 300 steps)."
        )
        self.budget_spin.editingFinished.connect(self._on_budget_typed)
        self.budget_unit = ui.combo_box(
            self, ["seconds", "steps"], "Train for this long, or for this many optimizer steps."
        )
        rows.add("Budget", ui.row((self.budget_spin, 1), self.budget_unit))
        self._budget = {"seconds": 60, "steps": 300}
        self.budget_unit.currentTextChanged.connect(self._on_budget_unit)
        self.preview_check = ui.check_box(
            self,
            "Live preview every",
            "Show what the model predicts, while it trains, for the part of the image in "
            f"view, in a '[{preview_suffix}]' layer: paint where it is wrong.",
            checked=True,
        )
        self.preview_spin = ui.spin_box(
            self, 1, 10_000, 25, suffix=" steps",
            tip="How often the live preview is redrawn (each redraw costs a prediction of "
            "the part in view).",
        )  # fmt: skip
        self.preview_spin.setAccessibleName("Live preview every (steps)")  # no row label
        rows.span(ui.row(self.preview_check, (self.preview_spin, 1)))
        self.advanced = ui.collapsible(self, "Advanced settings", self._advanced_form())
        self.train_button = ui.button(
            self, "Train", "Train on the painted labels (the viewer stays usable)."
        )
        self.stop_button = ui.button(
            self,
            "Stop",
            "Stop now and keep the model so far: the best one, or for a new 2D model "
            "the mean of its recent weights.",
        )
        self.stop_button.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(rows)
        layout.addWidget(self.advanced)
        layout.addLayout(ui.row(self.train_button, self.stop_button))

    def _advanced_form(self) -> QFormLayout:
        from ...core.devices import available_devices

        rows = ui.Form()
        # fmt: off
        self.lr_spin = rows.add("Learning rate", ui.spin_box(
            self, 0.0, 1.0, step=1e-4, decimals=5, auto=True,
            tip="Peak learning rate (auto: 2e-3 for a new model, 1e-4 to fine-tune).",
        ))
        self.patch_spin = rows.add("Patch size", ui.spin_box(
            self, 0, 1024, step=16, auto=True,
            tip="Patch edge in pixels (auto: 128 in 2D on a CPU, more on a GPU).",
        ))
        self.batch_spin = rows.add("Batch size", ui.spin_box(
            self, 0, 256, auto=True, tip="Patches per step (auto: from the device)."
        ))
        self.val_spin = rows.add("Validation share", ui.spin_box(
            self, 0.0, 0.5, 0.1, step=0.05, decimals=2,
            tip="Share of the painted pixels held out, as whole regions, to measure the "
            "validation Dice (0: no validation).",
        ))
        self.augment_check = rows.span(ui.check_box(
            self, "Augmentation", checked=True,
            tip="Random flips, rotations, intensity changes and noise on each training "
            "patch, so the model does not learn the painted image by heart.",
        ))
        self.teacher_check = rows.span(ui.check_box(
            self, "Forest teacher for scribbles", checked=True,
            tip="A random forest fitted on the strokes first labels every unpainted pixel, "
            "and the new U-Net learns from that picture (ilastik's features; usually far "
            "better than the strokes alone), for new models and the models it taught. "
            "Off: the U-Net learns from the strokes only. "
            "Continue training a model it taught fits it again on all the strokes, so "
            "that corrections reach every pixel that looks alike, and so does a model "
            "it taught picked in \"Start from\"; fine-tuning another model (a shipped "
            "one) never uses it.",
        ))
        self.device_combo = rows.add("Device", ui.combo_box(
            self, ["auto", *available_devices()], "auto: the GPU when there is one, else the CPU."
        ))
        self.size_combo = rows.add("New model size", ui.combo_box(
            self, list(MODEL_SIZES), "Size of a new model (fine-tuning keeps the model's size)."
        ))
        # fmt: on
        self.range_edit = rows.add("Intensity range", QLineEdit(self))
        self.range_edit.setPlaceholderText("each image's own (e.g. -1024 3000 for CT)")
        self.range_edit.setToolTip(
            "A new model's fixed intensity range, two numbers, LOW HIGH: for calibrated "
            "values such as a CT in Hounsfield units (-1024 3000, or a window such as "
            "-160 240). LOW becomes 0 and HIGH 1, clipped, for every image alike, and the "
            "model keeps it. Empty: each image's 1st / 99.8th percentiles, which depend on "
            "what else the image holds (a scan's field of view). Fine-tuning keeps the "
            "model's own."
        )
        return rows

    # -- public API -----------------------------------------------------------------------
    def scratch(self) -> bool:
        """Whether "Start from" is a new model."""
        return self.start_combo.model_name() == SCRATCH

    def start_taught(self) -> bool:
        """Whether a random forest taught the "Start from" model (cached per name)."""
        from ...forest import taught

        return self._start_fact(self._taught, taught)

    def start_inverts(self) -> bool:
        """Whether the "Start from" model swaps dark and bright (cached per name)."""
        return self._start_fact(self._inverts, lambda bundle: bundle.invert)

    def _start_fact(self, cache: dict[str, bool], read: Any) -> bool:
        """``read(bundle)`` of the "Start from" model, cached per name; False for a new
        model, or one that cannot be read (the start line says why)."""
        name = self.start_combo.model_name()
        if not name or name == SCRATCH:
            return False
        if name not in cache:
            try:
                cache[name] = bool(read(self.start_combo.bundle()))
            except Exception:  # noqa: BLE001 - the start line says why it cannot be read
                return False
        return cache[name]

    def _follow_start_invert(self, *_: Any) -> None:
        """The dark-objects tick follows a start model trained with dark and bright
        swapped (and back), as Segment's follows its model; between two others it stays."""
        inverts = self.start_inverts()
        if inverts != self._start_inverted:
            self.invert_check.setChecked(inverts)
        self._start_inverted = inverts

    def teacher_applies(self) -> bool:
        """Whether the forest teacher checkbox decides anything for "Start from"."""
        return self.scratch() or self.start_taught()

    def options(self, scratch: bool, dims: int | None, taught: bool = False) -> dict[str, Any]:
        """:class:`~napari_unetseg._qt.finetune.job.TrainRequest` fields set here.

        ``taught``: the model trained further is one a random forest taught, so the forest
        teacher checkbox decides for it too.
        """
        unit = self.budget_unit.currentText()
        return {
            "steps": self.budget_spin.value() if unit == "steps" else None,
            "time_limit": float(self.budget_spin.value()) if unit == "seconds" else None,
            "learning_rate": self.lr_spin.value() or None,
            "patch_size": self.patch_spin.value() or None,
            "batch_size": self.batch_spin.value() or None,
            "val_fraction": self.val_spin.value(),
            "augment": self.augment_check.isChecked(),
            "device": self.device_combo.currentText(),
            "spatial_dims": dims if scratch else None,
            "model_config": MODEL_SIZES[self.size_combo.currentText()] if scratch else None,
            "teacher": (
                "none" if (scratch or taught) and not self.teacher_check.isChecked() else "auto"
            ),
            "invert": self.invert_check.isChecked(),
            "intensity_range": self.intensity_range() if scratch else None,
        }

    def range_problem(self) -> str | None:
        """Why the typed intensity range cannot be a new model's, in words of the box, or
        None (no new model, nothing typed, or a range)."""
        from ...core.intensity import fixed_range
        from ...core.intensity import intensity_range_of as fixed_of

        dark = self.invert_check.isChecked()
        value = self.intensity_range() if self.scratch() else None
        if value is None:
            if dark and self._start_fact(self._ranged, lambda b: fixed_of(b.normalization)):
                return (
                    "the start model keeps a fixed intensity range, of the image's own "
                    "values: untick 'Dark objects on a bright background'."
                )
            return None
        try:
            fixed_range(value)
        except ValueError:
            return (
                f"the intensity range {self.range_edit.text().strip()!r} is not two numbers, "
                "LOW HIGH, low below high (e.g. -1024 3000): correct it in Advanced settings, "
                "or empty it to use each image's own."
            )
        if dark:  # (said after the run had started, in the API's words; review)
            return (
                "a fixed intensity range is of the image's own values, so it does not go "
                "with 'Dark objects on a bright background': untick one of them."
            )
        return None

    def intensity_range(self) -> Any:
        """The typed fixed range: two numbers (spaces, commas or "to" between them), None
        when empty, else the text as typed (the run refuses it in one sentence)."""
        text = self.range_edit.text().strip()
        if not text:
            return None
        parts = [p for p in re.split(r"[\s,;]+|\bto\b", text) if p]
        try:
            return tuple(float(p) for p in parts)
        except ValueError:
            return text

    def start_dims(self, stack: bool) -> int | None:
        """Spatial dims of the model "Start from" trains (None if it cannot be told)."""
        if self.scratch():
            return self.dims_combo.currentData() if stack else 2
        # From the cached one-line summary ("2D model, ..."): loading a shipped model
        # file on every Train press would stall the GUI.
        info = self.start_combo.describe()
        if info[:2] in ("2D", "3D"):
            return int(info[0])
        try:
            return self.start_combo.bundle().spatial_dims
        except Exception:  # noqa: BLE001 - the worker reports an unreadable model
            return None

    def start_class_names(self) -> dict[int, str]:
        """Scribble value names: the start model's class names where it has real ones."""
        if not self.start_combo.model_name() or self.scratch():
            return dict(SCRIBBLE_NAMES)
        try:
            return start_class_names(self.start_combo.bundle().class_names)
        except Exception:  # noqa: BLE001 - an unreadable model keeps the defaults
            return dict(SCRIBBLE_NAMES)

    def choose_default_start(self, stack: bool, object_classes: int = 1) -> None:
        """The shipped model for the image's dimensionality, else a new model; a new model
        too when more than one class is painted besides the background: the shipped models
        know one (nuclei), and fine-tuned into three or four classes they did far worse
        than a new model (docs/benchmarks.md, "Several classes at once")."""
        names = (DEFAULT_START[3 if stack else 2], DEFAULT_START[2], SCRATCH)
        self.default_reason = ""
        if object_classes > 1:
            names = (SCRATCH,)
            self.default_reason = (
                " Chosen because more than one class is painted besides the background: "
                "the shipped models know one (nuclei)."
            )
        for name in names:
            if self.start_combo.findText(name) >= 0:
                self.start_combo.set_model_name(name)
                return

    def update_for(self, stack: bool) -> None:
        """Show the rows that apply to the image (a stack, or a plane)."""
        scratch = self.scratch()
        for widget in (self.dims_combo, self._form.labelForField(self.dims_combo)):
            widget.setVisible(scratch and stack)  # QFormLayout.setRowVisible needs Qt 6.4
        self.size_combo.setEnabled(scratch)
        self.range_edit.setEnabled(scratch)
        self.teacher_check.setEnabled(self.teacher_applies())
        self.start_info.setText(self.describe(self.start_combo.model_name(), stack))

    def describe(self, name: str, stack: bool) -> str:
        """The start model in one line, with what it means for this image."""
        if name == SCRATCH:
            why = "" if self.start_touched else self.default_reason
            if self.teacher_check.isChecked():
                return (
                    "A new U-Net that learns from your labels; from scribbles, through a "
                    "random forest that first labels the unpainted pixels (Advanced "
                    f"settings).{why}"
                )
            return f"A new U-Net that learns only from your labels (paint generously).{why}"
        if not name:
            return ""
        info = self.start_combo.describe()
        if self.start_taught():
            info += (
                " (a random forest taught it: it labels your strokes again)"
                if self.teacher_check.isChecked()
                else " (a random forest taught it; now from your strokes alone)"
            )
        if stack and info.startswith("2D"):
            info += " (trains on the painted planes)"
        elif not stack and info.startswith("3D"):
            info += " (needs a 3D stack; this image is 2D)"
        return info

    # -- internals ------------------------------------------------------------------------
    def _on_start_activated(self, *_: Any) -> None:
        self.start_touched = True

    def _on_budget_typed(self) -> None:
        """A unit typed with the budget ("2 min" with the box on steps): the unit box
        follows, the typed amount kept."""
        unit, self.budget_spin.typed_unit = self.budget_spin.typed_unit, None
        if unit is not None and unit != self.budget_unit.currentText():
            value = self.budget_spin.value()
            self.budget_unit.setCurrentText(unit)
            self.budget_spin.setValue(value)

    def _on_budget_unit(self, unit: str) -> None:
        other = "steps" if unit == "seconds" else "seconds"
        self._budget[other] = self.budget_spin.value()
        self.budget_spin.setValue(self._budget[unit])
