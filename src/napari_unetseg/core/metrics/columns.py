"""Names of the scores: one list for the result rows, the table, the CSV and the widget."""

from __future__ import annotations

VOXEL_METRICS = ("dice", "iou", "sensitivity", "specificity", "precision", "accuracy")
SHAPE_METRICS = ("hd95", "assd", "cldice")
OBJECT_METRICS = (
    "n_gt",
    "n_pred",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "mean_iou",
    "pq",
    "split",
    "merged",
)
#: Object metrics that are counts: summed, not averaged, and printed as integers.
OBJECT_COUNT_METRICS = ("n_gt", "n_pred", "tp", "fp", "fn", "split", "merged")
#: The voxel confusion counts of a class (the last columns).
COUNT_COLUMNS = ("tp", "fp", "fn", "tn")
#: Columns of :meth:`EvaluationResult.rows` (the table, CSV and data frame), in order.
COLUMNS = (
    ("class",)
    + VOXEL_METRICS
    + SHAPE_METRICS
    + tuple(f"obj_{m}" for m in OBJECT_METRICS)
    + COUNT_COLUMNS
)
