"""The Validate widget's metrics table: sortable, copyable as tab-separated text."""

from __future__ import annotations

import math
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QFont, QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAction,
    QApplication,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..core.metrics.columns import heading
from ..core.metrics.report import cell_text, plain_value

#: The rows a results table always shows whole (more scroll inside it): the classes and
#: the three summary rows of a few classes.
ROWS_SHOWN = 8
#: The least height of the table (px), with no rows yet.
TABLE_MIN_HEIGHT = 120

#: What each result column means (headings: ``core.metrics.columns.heading``).
TIPS: dict[str, str] = {
    "class": "Class id, then the means over classes.",
    "dice": "2 TP / (2 TP + FP + FN): overlap, 1 is perfect.",
    "iou": "TP / (TP + FP + FN), the Jaccard index.",
    "sensitivity": "TP / (TP + FN): share of the class found (recall).",
    "specificity": "TN / (TN + FP): share of the rest left alone.",
    "precision": "TP / (TP + FP): share of predictions that are right.",
    "accuracy": "(TP + TN) / all scored pixels.",
    "hd95": "95% Hausdorff distance between the outlines (larger of both directions), "
    "in the layer's units.",
    "assd": "Average symmetric surface distance, in the layer's units.",
    "cldice": "Centerline Dice: overlap of skeletons, for thin structures.",
    "obj_n_gt": "Objects in the ground truth (connected components or ids).",
    "obj_n_pred": "Objects in the prediction.",
    "obj_tp": "Predicted objects matched one-to-one at IoU >= threshold.",
    "obj_fp": "Predicted objects without a match.",
    "obj_fn": "Ground-truth objects without a match.",
    "obj_precision": "Matched / predicted objects.",
    "obj_recall": "Matched / ground-truth objects.",
    "obj_f1": "2 TP / (2 TP + FP + FN) over objects.",
    "obj_mean_iou": "Mean IoU of the matched object pairs.",
    "obj_pq": "Panoptic quality: matched IoU sum / (TP + FP/2 + FN/2).",
    "obj_split": "Ground-truth objects cut into two or more predicted ones.",
    "obj_merged": "Predicted objects covering two or more ground-truth ones.",
    "tp": "True-positive pixels.",
    "fp": "False-positive pixels.",
    "fn": "False-negative pixels.",
    "tn": "True-negative pixels.",
}


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers, n/a last), not its text."""

    def __init__(self, key: str, value: Any, summary: bool = False) -> None:
        super().__init__(cell_text(key, value))
        self.value = value
        self.summary = summary  # a mean / micro row: below the classes in either order
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
            if self.summary != other.summary:  # sorted in with the classes (bug bash)
                table = self.tableWidget()
                order = table.horizontalHeader().sortIndicatorOrder() if table else None
                descending = order == Qt.SortOrder.DescendingOrder
                return other.summary != descending
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
        # Tab leaves the table (it went cell by cell over 26 columns), arrows move in it
        self.setTabKeyNavigation(False)
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
            header = QTableWidgetItem(heading(key, unit))
            header.setToolTip(TIPS.get(key, ""))
            self.setHorizontalHeaderItem(j, header)
        emphasis = QFont()
        emphasis.setItalic(True)
        for i, row in enumerate(rows):
            summary = not str(row["class"])[:1].isdigit()
            for j, key in enumerate(keys):
                item = _Item(key, row.get(key), summary)
                if summary:
                    item.setFont(emphasis)
                self.setItem(i, j, item)
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        # As tall as its rows (a few), so the plot below gets the rest of the dock.
        self.resizeRowsToContents()
        rows_height = sum(self.rowHeight(i) for i in range(self.rowCount()))
        full = (
            rows_height
            + self.horizontalHeader().sizeHint().height()
            + self.horizontalScrollBar().sizeHint().height()
            + 2 * self.frameWidth()
            + 2
        )
        self.setMaximumHeight(full)
        # ... and at least as tall as its first rows: the plot under it took the space, and
        # the table was a box of five rows with scroll bars of its own inside the dock's
        # (UI bash); the dock scrolls instead
        first = sum(self.rowHeight(i) for i in range(min(self.rowCount(), ROWS_SHOWN)))
        self.setMinimumHeight(max(TABLE_MIN_HEIGHT, full - rows_height + first))

    def value(self, row: int, key: str) -> Any:
        """The value (not the text) shown in ``row`` (visual order) of column ``key``."""
        item = self.item(row, self.keys.index(key))
        return None if item is None else item.value

    def tsv(self, everything: bool = False) -> str:
        """The selected cells (or all) as tab-separated text with a header line."""
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
