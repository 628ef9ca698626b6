"""Section "3. Use the model" of the Fine-tune widget: continue training, save, export."""

from __future__ import annotations

import re
from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from .. import _builders as ui


class ResultPanel(QWidget):
    """The buttons that act on the trained model; the widget connects their ``clicked``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.continue_button = ui.button(
            self,
            "Continue training",
            "Train the model just trained further, with the labels as they are now.",
        )
        self.save_button = ui.button(
            self,
            "Save model...",
            "Write the trained model to a .pt file. Saved in the folder the dialog opens "
            "on (your saved models), it is in the model lists of every later session.",
        )
        self.export_button = ui.button(
            self,
            "Export for bioimage.io...",
            "Write the trained model as a bioimage.io model package (.zip) for ilastik, "
            "deepImageJ and the BioImage Model Zoo; its test tensors come from the training image.",
        )
        self.command_button = ui.button(
            self,
            "Copy as command",
            "The unetseg command line (and Python code) that repeats the last training run "
            "(before the first: the run Train would start).",
        )
        # Two rows of two: four buttons in one row would make the dock too wide to share.
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(ui.row(self.continue_button, self.save_button))
        layout.addLayout(ui.row(self.export_button, self.command_button))

    def set_state(self, has_model: bool, busy: bool) -> None:
        """The buttons work once a model is trained, and not while training."""
        for btn in (self.continue_button, self.save_button, self.export_button):
            btn.setEnabled(has_model and not busy)

    def ask_save_path(self, model_name: str, folder: Path | None = None) -> str | None:
        """A ``.pt`` path from a save dialog opened on ``folder`` (the saved models), the
        model's name suggested (None when cancelled or not to overwrite)."""
        from ...core.registry import safe_model_name

        try:
            stem = safe_model_name(model_name)
        except ValueError:
            stem = "model"
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                stem = str(folder / stem)
            except OSError:  # not writable: the dialog opens where it would have
                pass
        return self._ask_path("Save the trained model", stem, ".pt", "U-Net models (*.pt)")

    def ask_export_path(self, model_name: str) -> str | None:
        """A ``.zip`` path for a bioimage.io package (None when cancelled)."""
        return self._ask_path(
            "Export the trained model for bioimage.io",
            model_name,
            ".zip",
            "bioimage.io model packages (*.zip)",
        )

    def _ask_path(self, title: str, suggested: str, suffix: str, filters: str) -> str | None:
        """``suggested``: a file name (made safe here) or a full path without suffix."""
        if not Path(suggested).is_absolute():
            suggested = re.sub(r"[^A-Za-z0-9._-]+", "_", suggested)
        path, _ = QFileDialog.getSaveFileName(
            self, title, f"{suggested}{suffix}", filters
        )  # Qt's save dialog asks before replacing an existing file
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix  # a name the dialog did not check: ask here
            if Path(path).exists() and not self._confirm_overwrite(path):
                return None
        return path

    def _confirm_overwrite(self, path: str) -> bool:
        answer = QMessageBox.question(self, "Replace file?", f"{path} already exists. Replace it?")
        return answer == QMessageBox.StandardButton.Yes
