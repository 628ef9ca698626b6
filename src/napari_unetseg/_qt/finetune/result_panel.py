"""Section "3. Use the model" of the Fine-tune widget: continue training, save."""

from __future__ import annotations

import re
from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from .._builders import button, row


class ResultPanel(QWidget):
    """The buttons that act on the trained model; the widget connects their ``clicked``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.continue_button = button(
            self,
            "Continue training",
            "Train the model just trained further, with the labels as they are now.",
        )
        self.save_button = button(self, "Save model...", "Write the trained model to a .pt file.")
        self.command_button = button(
            self,
            "Copy as command",
            "The unetseg command line (and Python code) that repeats the last training run "
            "(before the first: the run Train would start).",
        )
        self.buttons = row(self.continue_button, self.save_button, self.command_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.buttons)

    def set_state(self, has_model: bool, busy: bool) -> None:
        """The buttons work once a model is trained, and not while training."""
        for btn in (self.continue_button, self.save_button):
            btn.setEnabled(has_model and not busy)

    def ask_save_path(self, model_name: str) -> str | None:
        """A ``.pt`` path from a save dialog (None when cancelled or not to overwrite)."""
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save the trained model",
            f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model_name)}.pt",
            "U-Net models (*.pt)",
        )  # Qt's save dialog asks before replacing an existing file
        if not path:
            return None
        if not path.lower().endswith(".pt"):
            path += ".pt"  # a name the dialog did not check: ask here
            if Path(path).exists() and not self._confirm_overwrite(path):
                return None
        return path

    def _confirm_overwrite(self, path: str) -> bool:
        answer = QMessageBox.question(self, "Replace file?", f"{path} already exists. Replace it?")
        return answer == QMessageBox.StandardButton.Yes
