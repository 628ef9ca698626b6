"""The result of an evaluation: per-class scores, summaries, objects; rows, dict, CSV, frame."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from . import report
from .columns import COLUMNS, COUNT_COLUMNS, OBJECT_METRICS, SHAPE_METRICS, VOXEL_METRICS

#: The scores of each slice's rows (:meth:`EvaluationResult.slice_rows`), after the
#: slice's index and its class: of the slice's voxels alone.
SLICE_METRICS = ("dice", "iou", "sensitivity", "precision", "tp", "fp", "fn")

#: Row titles of the summaries, in :meth:`EvaluationResult.rows` order.
_SUMMARY_TITLES = {
    "macro": "mean (all classes)",
    "macro_foreground": "mean (foreground)",
    "micro_foreground": "micro (foreground)",
}


@dataclass
class EvaluationResult:
    """Scores of a prediction against ground truth.

    Attributes
    ----------
    classes : dict
        Class id -> {dice, iou, sensitivity, specificity, precision, accuracy, hd95,
        assd, cldice, tp, fp, fn, tn}. Distances are in physical units (``spacing``);
        shape metrics are NaN for background and when not computed.
    summary : dict
        ``macro`` (mean over all scored classes), ``macro_foreground`` (without class
        0) and ``micro_foreground`` (metrics of the counts summed over foreground
        classes). Means skip NaN entries.
    objects : dict
        Foreground class id -> object scores (see :class:`~.objects.ObjectScores`).
    per_slice_dice : dict or None
        For 3D inputs: foreground class id -> Dice of each slice along the first axis.
    per_slice : dict or None
        For 3D inputs: foreground class id -> {metric of :data:`SLICE_METRICS` -> one value
        per slice along the first axis} (:meth:`slice_rows`, :meth:`slices_to_csv`).
    errors : ndarray or None
        The error overlay (see :func:`~.counting.error_map`) when requested.
    time_axis : int or None
        The axis whose time points were scored on their own (objects, distances); its
        step is no length (:attr:`space_spacing` leaves it out, :meth:`to_dict` gives
        None there).
    class_names : dict or None
        Class id -> name, shown as "2 (grey matter)" by :meth:`rows`, :meth:`table`,
        :meth:`to_csv` ... where they are given no ``names`` of their own.
    """

    mode: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    iou_threshold: float
    classes: dict[int, dict[str, float]]
    summary: dict[str, dict[str, float]]
    objects: dict[int, dict[str, float]]
    per_slice_dice: dict[int, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)
    unit: str | None = None
    errors: np.ndarray | None = field(default=None, repr=False)
    time_axis: int | None = None
    per_slice: dict[int, dict[str, np.ndarray]] | None = field(default=None, repr=False)
    class_names: dict[int, str] | None = None

    def __repr__(self) -> str:
        # the dataclass's ran to 1.5-3 kB of nested dicts in a notebook (API bug bash)
        return f"EvaluationResult({self.mode}, shape {self.shape}: {self.summary_line()})"

    @property
    def space_spacing(self) -> tuple[float, ...]:
        """The spacing of the axes distances are measured along (all but time's)."""
        return tuple(s for i, s in enumerate(self.spacing) if i != self.time_axis)

    @property
    def foreground(self) -> list[int]:
        return [c for c in self.classes if c != 0]

    def rows(self, names: dict[int, str] | None = None) -> list[dict[str, Any]]:
        """One flat dict per class, then the summary rows, keyed by :data:`COLUMNS`;
        ``names``: class id -> name, shown as "2 (grey matter)"."""
        out = []
        names = self.class_names if names is None else names
        for cid, values in self.classes.items():
            row: dict[str, Any] = {"class": _class_title(cid, names)}
            row.update({k: values.get(k, math.nan) for k in VOXEL_METRICS + SHAPE_METRICS})
            obj = self.objects.get(cid, {})
            row.update({f"obj_{m}": obj.get(m, math.nan) for m in OBJECT_METRICS})
            row.update({k: values.get(k) for k in COUNT_COLUMNS})
            out.append(row)
        for key, title in _SUMMARY_TITLES.items():
            values = self.summary.get(key, {})
            row = {"class": title}
            row.update({c: values.get(c, math.nan) for c in COLUMNS[1:] if c not in COUNT_COLUMNS})
            row.update({k: values.get(k) for k in COUNT_COLUMNS})
            out.append(row)
        return out

    @property
    def slice_column(self) -> str:
        """The first column of :meth:`slice_rows`: ``time_point`` where the first axis
        is a series' time, else ``slice``."""
        return "time_point" if self.time_axis == 0 else "slice"

    def slice_rows(self, names: dict[int, str] | None = None) -> list[dict[str, Any]]:
        """One row per slice along the first axis (per time point of a series) and
        foreground class, keyed by :attr:`slice_column`, ``class`` and
        :data:`SLICE_METRICS`: the scores of that slice's voxels alone (objects and
        distances are measured once, over all). A time series' table and CSV had only
        the pooled rows (time-lapse bash). Empty for planes."""
        out: list[dict[str, Any]] = []
        names = self.class_names if names is None else names
        per = self.per_slice or {}
        n = max((len(v["dice"]) for v in per.values()), default=0)
        for i in range(n):
            for cid, values in per.items():
                row: dict[str, Any] = {self.slice_column: i, "class": _class_title(cid, names)}
                for key in SLICE_METRICS:
                    v = values[key][i]
                    row[key] = int(v) if key in COUNT_COLUMNS else float(v)
                out.append(row)
        return out

    def slices_to_csv(self, path: str | os.PathLike, names: dict[int, str] | None = None) -> None:
        """Write :meth:`slice_rows` as CSV (NaN as "n/a", an empty slice's Dice say),
        atomically."""
        keys = [self.slice_column, "class", *SLICE_METRICS]

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(keys)
                for row in self.slice_rows(names):
                    writer.writerow([report.plain_value(row[k]) for k in keys])

        atomic_write(path, write)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python result; class ids become strings (JSON object keys)."""
        return {
            "mode": self.mode,
            "shape": list(self.shape),
            "spacing": [None if i == self.time_axis else s for i, s in enumerate(self.spacing)],
            "unit": self.unit,
            "iou_threshold": self.iou_threshold,
            "classes": {str(k): dict(v) for k, v in self.classes.items()},
            "summary": {k: dict(v) for k, v in self.summary.items()},
            "objects": {str(k): dict(v) for k, v in self.objects.items()},
            "per_slice_dice": None
            if self.per_slice_dice is None
            else {str(k): v.tolist() for k, v in self.per_slice_dice.items()},
            "notes": list(self.notes),
            "time_axis": self.time_axis,
            "class_names": None
            if self.class_names is None
            else {str(k): v for k, v in self.class_names.items()},
            "per_slice": None
            if self.per_slice is None
            else {
                str(k): {m: v.tolist() for m, v in values.items()}
                for k, values in self.per_slice.items()
            },
        }

    def to_json_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` ready for ``json.dumps``: NaN as None (null), an infinite
        distance as the string ``"inf"`` (a class on one side only), numbers otherwise."""
        return report.json_safe(self.to_dict())

    def to_csv(self, path: str | os.PathLike, names: dict[int, str] | None = None) -> None:
        """Write :meth:`rows` as CSV (NaN as "n/a"), atomically: an existing file is
        replaced only once the new one is complete. ``names``: as :meth:`rows`. A last
        column, ``distance_unit``, says what HD95 and ASSD are measured in (``px``
        without a pixel size, ``scale units`` for a spacing without a unit): two files in
        µm and pixels read alike (Validate bug bash)."""
        unit = report.distance_unit(self)

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow([*COLUMNS, "distance_unit"])
                for row in self.rows(names):
                    writer.writerow([*(report.plain_value(row[c]) for c in COLUMNS), unit])

        atomic_write(path, write)

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is optional: ImportError without it)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the test env
            raise ImportError("to_dataframe() needs pandas; use rows() or to_dict().") from exc
        return pd.DataFrame(self.rows(), columns=list(COLUMNS))

    def summary_line(self) -> str:
        """One sentence with the headline numbers."""
        return report.summary_line(self)

    def table(self, names: dict[int, str] | None = None) -> str:
        """A readable fixed-width table of the main columns, the summary and notes;
        ``names`` as :meth:`rows`."""
        return report.table(self, names)


def _class_title(cid: int, names: dict[int, str] | None) -> str:
    """A class's title in the tables: "0 (background)", "2", or "2 (grey matter)"."""
    names = names or {}
    if cid in names:
        return f"{cid} ({names[cid]})"
    return "0 (background)" if cid == 0 else str(cid)
