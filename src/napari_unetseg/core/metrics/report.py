"""Scores as text: table cells, full-precision values, JSON-safe values, the summary table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .columns import DISTANCE_COLUMNS, OBJECT_COUNT_METRICS, SHAPE_METRICS, heading

if TYPE_CHECKING:
    from .result import EvaluationResult

#: Columns of the readable table (headings: :func:`~.columns.heading`).
_TABLE_COLUMNS = (
    "class", "dice", "iou", "sensitivity", "specificity", "precision", "hd95", "assd",
    "cldice", "obj_f1", "obj_pq", "obj_split", "obj_merged",
)  # fmt: skip


def format_value(value: Any, digits: int = 3) -> str:
    """A table cell: integers as is, floats with ``digits`` decimals, NaN as "n/a"."""
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def cell_text(key: str, value: Any) -> str:
    """The text of column ``key``'s cell: scores with 3 decimals, distances with 2 or,
    below 1, 3 significant digits (0.004 µm read "0.00", as a perfect boundary does)."""
    if isinstance(value, str):
        return value
    if key in DISTANCE_COLUMNS:
        return format_distance(value)
    return format_value(value, 3)


def format_distance(value: Any) -> str:
    """A distance: 2 decimals, or 3 significant digits below 1 (never "0.00" but for 0)."""
    if value is None or isinstance(value, (int, np.integer)):
        return format_value(value)
    value = float(value)
    if math.isfinite(value) and 0 < abs(value) < 1:
        # 0.500 beside 4.00, not 0.5; 0.004 as it is
        return f"{value:.3f}" if abs(value) >= 0.1 else f"{value:.3g}"
    return format_value(value, 2)


def plain_value(value: Any) -> str:
    """A value as text at full precision (CSV, clipboard): NaN as "n/a", None as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return repr(value)  # full precision; inf -> "inf"


def json_safe(value: Any) -> Any:
    """NaN -> None and inf -> "inf" (JSON has neither; a class missed on one side has an
    infinite distance, not an absent one), numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return value


def summary_line(result: EvaluationResult) -> str:
    """One sentence with the headline numbers."""
    fg = result.summary.get("macro_foreground", {})
    # the classes the mean counts: one in neither file has no Dice (--classes 1 5 said
    # "mean of 2 classes" of class 1 alone; classes bash)
    scored = [c for c in result.foreground if not math.isnan(result.classes[c]["dice"])]
    absent = [str(c) for c in result.foreground if c not in scored]
    parts = [f"Dice {format_value(fg.get('dice'))}, IoU {format_value(fg.get('iou'))}"]
    said = [f"mean of {len(scored)} classes"] if len(scored) > 1 else []
    if absent:
        which = f"class {absent[0]} is" if len(absent) == 1 else f"classes {', '.join(absent)} are"
        said.append(f"{which} in neither the prediction nor the ground truth")
    if not result.foreground:  # "Dice n/a, IoU n/a." of classes 0 alone (Validate bash)
        said.extend(_background_alone(result.classes.get(0, {})))
    if said:
        parts[0] += f" ({'; '.join(said)})"
    if result.objects:
        total = {k: sum(int(o[k]) for o in result.objects.values()) for k in OBJECT_COUNT_METRICS}
        detail = f"{total['tp']} of {total['n_gt']} matched, {total['n_pred']} predicted"
        # Where Dice misleads: a few pixels can merge or split many objects.
        for key in ("merged", "split"):
            if total[key]:
                detail += f", {total[key]} {key}"
        if len(result.objects) > 1:  # the F1 is the classes' mean, the counts their sum:
            # "F1 0.584 (4 of 4 matched, 521 predicted)" did not add up (Validate bash)
            detail = f"mean of {len(result.objects)} classes; in all {detail}"
        parts.append(f"objects F1 {format_value(fg.get('obj_f1'))} ({detail})")
    if not math.isnan(fg.get("hd95", math.nan)):
        unit = distance_unit(result)
        parts.append(f"HD95 {format_distance(fg.get('hd95'))} {unit}")
    return "; ".join(parts) + "."


def _background_alone(background: dict[str, float]) -> list[str]:
    """Why a run without object classes has no Dice: both sides empty, or only class 0
    asked for (its own scores are the table's first row); nothing where nothing at all
    was scored (empty scribbles: a note says so; "its own Dice is n/a" was no reason)."""
    dice = background.get("dice", math.nan)
    if math.isnan(dice):
        return []
    if dice == 1.0 and math.isnan(background.get("specificity", 0.0)):
        return ["neither the prediction nor the ground truth holds an object"]
    return [f"only class 0, the background, was scored: its own Dice is {format_value(dice)}"]


#: The unit of distances measured with a spacing given without its unit, (2, 1, 1) say.
SCALE_UNITS = "scale units"


def distance_unit(result: EvaluationResult) -> str:
    """The unit of the boundary distances: the pixel size's, "px" without a pixel size
    (spacing 1 along every axis but time's; "HD95 4.67" did not say it was pixels),
    :data:`SCALE_UNITS` for a spacing given without its unit (the heading said nothing,
    and the CSV said "px" for distances measured in steps of 2 along Z)."""
    if result.unit:
        return result.unit
    return "px" if all(float(s) == 1.0 for s in result.space_spacing) else SCALE_UNITS


def computed_columns(result: EvaluationResult, keys: Sequence[str]) -> list[str]:
    """``keys`` without the object and boundary columns when the run computed none
    (scribbles, ``objects=False``): columns of "n/a" only."""
    if result.objects or any(not math.isnan(v["hd95"]) for v in result.classes.values()):
        return list(keys)
    return [c for c in keys if c not in SHAPE_METRICS and not c.startswith("obj_")]


def table(result: EvaluationResult, names: dict[int, str] | None = None) -> str:
    """A readable fixed-width table of the main columns, the summary and notes;
    ``names``: class id -> name (as :meth:`EvaluationResult.rows`)."""
    keys = computed_columns(result, _TABLE_COLUMNS)
    cells = [[heading(key, distance_unit(result)) for key in keys]]
    for row in result.rows(names):
        cells.append([cell_text(key, row[key]) for key in keys])
    widths = [max(len(r[i]) for r in cells) for i in range(len(keys))]
    lines = []
    for i, r in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(summary_line(result))
    lines.extend(result.notes)
    return "\n".join(lines)
