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
#: Distances between outlines, in the spacing's unit (2 decimals; other scores 3).
DISTANCE_COLUMNS = ("hd95", "assd")
#: Column headings for people, one set for the CLI's table and the Validate widget's.
TITLES = {
    "class": "Class",
    "dice": "Dice",
    "iou": "IoU",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "precision": "Precision",
    "accuracy": "Accuracy",
    "hd95": "HD95",
    "assd": "ASSD",
    "cldice": "clDice",
    "obj_n_gt": "GT objects",
    "obj_n_pred": "Pred objects",
    "obj_tp": "Obj TP",
    "obj_fp": "Obj FP",
    "obj_fn": "Obj FN",
    "obj_precision": "Obj precision",
    "obj_recall": "Obj recall",
    "obj_f1": "Obj F1",
    "obj_mean_iou": "Matched IoU",
    "obj_pq": "PQ",
    "obj_split": "Split",
    "obj_merged": "Merged",
    "tp": "TP",
    "fp": "FP",
    "fn": "FN",
    "tn": "TN",
}


def heading(key: str, unit: str | None = None) -> str:
    """The heading of column ``key``; distances name their unit: ``"HD95 (µm)"``."""
    title = TITLES.get(key, key)
    return f"{title} ({unit})" if unit and key in DISTANCE_COLUMNS else title


#: Columns of :meth:`EvaluationResult.rows` (the table, CSV and data frame), in order.
COLUMNS = (
    ("class",)
    + VOXEL_METRICS
    + SHAPE_METRICS
    + tuple(f"obj_{m}" for m in OBJECT_METRICS)
    + COUNT_COLUMNS
)
