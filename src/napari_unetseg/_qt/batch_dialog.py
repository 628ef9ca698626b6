"""The Segment widget's "Apply to folder..." dialog: the batch engine with a table.

All the work is :func:`napari_unetseg.batch.segment_files_iter` in a worker thread
(:class:`~napari_unetseg._qt._worker.JobRunner`: a progress bar in napari's activity
dock reading "file k of n", tiles included; Cancel stops between tiles and keeps the
files already finished). The settings are the Segment widget's at the moment Run is
pressed. Bad input (an empty folder, an output folder that cannot be written, an output
that would overwrite an input, earlier results when replacing is off) is one
notification and nothing is written; a file that fails is listed with its reason in the
table while the others are segmented. The table saves as CSV.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._builders import status_label
from ._common import notify_error, notify_info, write_csv
from ._worker import JobRunner

if TYPE_CHECKING:
    from ..batch import BatchProgress, BatchReport, FileResult, SegmentSettings

HEADERS = ("File", "Objects", "Foreground %", "Seconds", "Result")


class BatchDialog(QDialog):
    """Segment every image of a folder (or chosen files) with the Segment widget's settings.

    Parameters
    ----------
    settings : callable
        Returns the current :class:`~napari_unetseg.batch.SegmentSettings` (read when
        Run is pressed, so the batch uses what the widget shows then).
    parent : QWidget, optional
    """

    def __init__(
        self, settings: Callable[[], SegmentSettings], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Segment a folder")
        self._settings = settings
        self._files: list[str] = []
        self.rows: list[FileResult] = []
        self._ended = False

        self.input_edit = QLineEdit(self)
        self.input_edit.setPlaceholderText("folder of images (TIFF, OME-Zarr, NIfTI, PNG, JPEG)")
        self.input_edit.setToolTip(
            "Every TIFF, OME-Zarr, NIfTI, PNG, JPEG and BMP image in this folder (earlier "
            "*_labels results are skipped)."
        )
        self.input_edit.textEdited.connect(self._forget_files)
        folder_button = QPushButton("Folder...", self)
        folder_button.setToolTip("Choose the folder of images to segment.")
        folder_button.clicked.connect(self._choose_folder)
        files_button = QPushButton("Files...", self)
        files_button.setToolTip("Choose image files to segment (one folder or several).")
        files_button.clicked.connect(self._choose_files)
        inputs = QHBoxLayout()
        inputs.addWidget(self.input_edit, 1)
        inputs.addWidget(folder_button)
        inputs.addWidget(files_button)

        self.output_edit = QLineEdit(self)
        self.output_edit.setPlaceholderText("beside each image")
        self.output_edit.setToolTip(
            "Folder for <image>_labels.tif files (.nii.gz for NIfTI images), created when "
            "missing; empty: beside each image."
        )
        output_button = QPushButton("Choose...", self)
        output_button.setToolTip("Choose the folder the labels are written to.")
        output_button.clicked.connect(self._choose_output)
        outputs = QHBoxLayout()
        outputs.addWidget(self.output_edit, 1)
        outputs.addWidget(output_button)
        self.replace_check = QCheckBox("Replace earlier results", self)
        self.replace_check.setToolTip(
            "Allow overwriting existing *_labels files (never an input image)."
        )

        self.series_check = QCheckBox("Every image series of multi-position TIFFs", self)
        self.series_check.setToolTip(
            "Segment each image series of a TIFF that holds several (positions, wells) into "
            "<image>_series<N>_labels.tif; off: the first series of each file."
        )

        form = QFormLayout()
        form.addRow("Images", inputs)
        form.addRow("Labels to", outputs)
        form.addRow("", self.replace_check)
        form.addRow("", self.series_check)

        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Segment the files with the Segment widget's current settings.")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip(
            "Stop after the current batch of tiles; finished files stay."
        )
        self.runner = JobRunner(self.run_button, self.cancel_button, self)
        self.run_button.clicked.connect(self.run)
        self.save_button = QPushButton("Save table as CSV...", self)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save_csv())
        buttons = QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        # Enter in a field runs the batch: "Folder...", a dialog's first button, was its
        # default and opened the folder chooser (accessibility bug bash)
        for b in (
            folder_button,
            files_button,
            output_button,
            self.cancel_button,
            self.save_button,
        ):
            b.setAutoDefault(False)
        self.run_button.setDefault(True)

        # a 250-character file name in "Segmenting NAME..." widened the dialog to 1500 px
        self.status = status_label(self)
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move in it
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names: "LLL...LL.tif"
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)  # elided, not wide
        header.resizeSection(0, 200)
        header.setStretchLastSection(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self.resize(640, 420)

    # -- public API (also used by the tests) ----------------------------------------------
    def set_inputs(self, paths: str | os.PathLike | list[str | os.PathLike]) -> None:
        """A folder, or a list of files (and folders)."""
        if isinstance(paths, str | os.PathLike):
            self._files = []
            self.input_edit.setText(os.fspath(paths))
        else:
            self._files = [os.fspath(p) for p in paths]
            self.input_edit.setText("; ".join(Path(p).name for p in self._files))

    def set_output(self, folder: str | os.PathLike | None) -> None:
        """The output folder (None: beside each image)."""
        self.output_edit.setText("" if folder is None else os.fspath(folder))

    def run(self) -> Any:
        """Check the batch and start it; returns the worker (None when it did not start)."""
        from .. import batch

        if self.runner.busy:
            return None
        inputs = self._files or (
            [self.input_edit.text().strip()] if self.input_edit.text().strip() else []
        )
        output = self.output_edit.text().strip() or None
        try:
            if not inputs:
                raise batch.BatchError("Choose a folder or files to segment first.")
            settings = self._settings()
            settings.check()
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always", UserWarning)
                plan = batch.plan_batch(
                    inputs,
                    output,
                    overwrite=self.replace_check.isChecked(),
                    series="all" if self.series_check.isChecked() else 0,
                    replace_option='tick "Replace earlier results"',
                    foreign_option="",  # the dialog never replaces them
                )
        except (ValueError, OSError) as exc:
            notify_error(exc)
            self._show_rows([])  # the last run's rows would pass for this one's
            self.status.setText(f"Not started: {exc}")
            return None
        for warning in said:  # sub-folders left out: said before the run
            notify_info(str(warning.message))
        self._show_rows([])
        self._ended = False
        unit = "image" if any(entry.series for entry in plan) else "file"
        self.status.setText(f"Segmenting {len(plan)} {unit}{'s' * (len(plan) != 1)}...")
        return self.runner.start(
            batch.segment_files_iter,
            plan,
            settings,
            description=f"Segmenting {len(plan)} files",
            progress=lambda rec: rec.overall,
            on_progress=self._on_progress,
            on_result=self._on_result,
            on_error=lambda exc: self._finish("Failed; see the notification."),
            on_cancel=lambda: self._finish("Cancelled; the files finished so far are kept."),
            error_context="Batch segmentation failed",
        )

    def cancel(self) -> None:
        """Stop at the next batch of tiles (finished files stay written)."""
        self.runner.cancel()

    @property
    def report(self) -> BatchReport:
        """The files finished so far (all of them once the run ended)."""
        from ..batch import BatchReport

        return BatchReport(list(self.rows))

    def save_csv(self, path: str | os.PathLike | None = None) -> Path | None:
        """Save the summary table as CSV (asks for a file when ``path`` is None)."""
        if not self.rows:
            return None
        path = write_csv(
            self, self.report.to_csv, "Save the summary as CSV", "segmentation summary.csv", path
        )
        if path is not None:
            self.status.setText(f"{self.status.text()} Saved {path}.")
        return path

    # -- internals ----------------------------------------------------------------------
    def _on_progress(self, record: BatchProgress) -> None:
        if self._ended:  # a record queued before the result, delivered after it
            return
        if record.finished is None:
            self.status.setText(f"Segmenting {record.describe()}...")
        else:  # one row more (rebuilding the table lost the user's selection each file)
            self.rows.append(record.finished)
            self._add_row(record.finished)
            self.save_button.setEnabled(True)
            if not self.table.selectedItems():  # follow the newest, unless one is chosen
                self.table.scrollToBottom()
        # Last: napari's bar may process pending events (even the result) as it updates.
        worker = self.runner.worker
        if worker is not None and getattr(worker, "pbar", None) is not None:
            worker.pbar.set_description(f"Segmenting {record.describe()}")

    def _show_rows(self, rows: list[FileResult]) -> None:
        self.rows = list(rows)
        self.table.setRowCount(0)
        for row in self.rows:
            self._add_row(row)
        self.save_button.setEnabled(bool(self.rows))

    def _add_row(self, row: FileResult) -> None:
        i = self.table.rowCount()
        self.table.insertRow(i)
        fg = "" if row.foreground is None else f"{row.foreground:.1f}"
        result = Path(row.output).name if row.ok else f"failed: {row.error}"
        cells = (
            row.name,
            "" if row.objects is None else str(row.objects),
            fg,
            f"{row.seconds:.2f}",
            result,
        )
        for j, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(row.input if j == 0 else (row.error or row.output or ""))
            self.table.setItem(i, j, item)

    def _on_result(self, report: BatchReport) -> None:
        if [r.input for r in report.results] != [r.input for r in self.rows]:
            self._show_rows(report.results)
        self.rows = list(report.results)
        failed = report.failed
        lines = [report.summary()]
        for row in failed:  # the reason names the file when it came from reading it
            name = Path(row.input).name
            lines.append(row.error if name in (row.error or "") else f"{row.name}: {row.error}")
        self._finish("\n".join(lines))

    def _finish(self, text: str) -> None:
        self._ended = True
        self.status.setText(text)
        self.save_button.setEnabled(bool(self.rows))
        if not self.isVisible():  # closed while it ran: said where the user is
            from napari.utils.notifications import show_info, show_warning

            failed = any(not row.ok for row in self.rows)
            (show_warning if failed else show_info)(f"Segment a folder: {text}")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to segment")
        if folder:
            self.set_inputs(folder)

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Images to segment",
            "",
            "Images (*.tif *.tiff *.nii *.nii.gz *.png *.jpg *.jpeg *.bmp);;All files (*)",
        )
        if files:
            self.set_inputs(files)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the labels")
        if folder:
            self.set_output(folder)

    def _forget_files(self, *_: Any) -> None:
        self._files = []
