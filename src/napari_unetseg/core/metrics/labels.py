"""Reading and checking label arrays: one slab at a time, integers only, matching shapes.

Label conventions (docs/architecture.md): **dense** ground truth has 0 = background and
k = class k. **Sparse** ground truth (painted scribbles) has 0 = unlabeled (not scored),
1 = background and k + 1 = class k; prediction label k is compared with scribble k + 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..guards import check_id_range

#: Voxels read per chunk while counting (about 32 MiB of int64 codes).
CHUNK_VOXELS = 1 << 22

MODES = ("dense", "sparse")


def shape_of(array: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.shape(array))


def chunk_rows(shape: tuple[int, ...], voxels: int | None = None) -> int:
    """Rows (along the first axis) of a slab of about ``voxels`` (default ``CHUNK_VOXELS``)."""
    voxels = CHUNK_VOXELS if voxels is None else voxels
    per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
    return max(1, voxels // max(per_row, 1))


def chunks(shape: tuple[int, ...], rows: int | None = None) -> list[slice]:
    """Slabs of ``rows`` rows (default :func:`chunk_rows`) covering the first axis."""
    rows = chunk_rows(shape) if rows is None else rows
    return [slice(i, min(i + rows, shape[0])) for i in range(0, shape[0], rows)]


def read_labels(array: Any, index: Any, name: str) -> np.ndarray:
    """One chunk of a label array as int64, checked to hold non-negative integers."""
    chunk = np.asarray(array[index])
    if chunk.dtype == bool:
        return chunk.astype(np.int64)
    if not np.issubdtype(chunk.dtype, np.integer):
        if not np.issubdtype(chunk.dtype, np.floating):
            raise ValueError(f"The {name} must hold integer labels, not {chunk.dtype} values.")
        if not np.isfinite(chunk).all():
            raise ValueError(
                f"The {name} holds NaN or infinite values; labels must be whole numbers "
                "(0 for background)."
            )
        check_id_range(chunk, name)
        as_int = chunk.astype(np.int64)
        if not np.array_equal(as_int, chunk):
            raise ValueError(
                f"The {name} must hold integer labels; it has fractional values "
                "(is it a probability map instead of labels?)."
            )
        chunk = as_int
    check_id_range(chunk, name)
    chunk = chunk.astype(np.int64, copy=False)
    if chunk.size and chunk.min() < 0:
        raise ValueError(f"The {name} has negative labels; labels must be 0 or positive.")
    return chunk


def check_pair(prediction: Any, ground_truth: Any, mode: str) -> None:
    """The mode is known and both arrays have one shape (one sentence otherwise)."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'dense' or 'sparse', got {mode!r}.")
    ps, gs = shape_of(prediction), shape_of(ground_truth)
    if not ps:
        raise ValueError("Label arrays need at least one axis; got a single value.")
    if ps != gs:
        raise ValueError(
            f"The prediction {ps} and the ground truth {gs} have different shapes; "
            "they must match voxel for voxel."
        )


def check_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Physical voxel size per axis, checked (default 1 along every axis)."""
    if spacing is None:
        return (1.0,) * ndim
    try:
        values = tuple(float(s) for s in np.ravel(spacing))
    except (TypeError, ValueError):  # float()'s "could not convert string to float"
        raise ValueError(
            f"spacing values must be positive numbers, one per axis, got {spacing!r}."
        ) from None
    if len(values) != ndim:
        raise ValueError(
            f"spacing needs one value per axis ({ndim}), got {len(values)}: {values}."
        )
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing values must be positive numbers, got {values}.")
    return values


def _class_id(value: Any) -> bool:
    """Whether ``value`` is a whole number (2, np.uint8(2), 2.0; not True or "2")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return float(value).is_integer()


def parse_class_names(names: Any) -> dict[int, str] | None:
    """Class names as class id -> name: a sequence names ids 0, 1, ... (a model's
    ``class_names``), a mapping names the ids it has; None stays None."""
    if names is None:
        return None
    if isinstance(names, str):  # one name would name the background, class 0 (review)
        raise ValueError(
            f"class_names takes names by class id, not one name {names!r}: a list for ids "
            f"0, 1, ... (e.g. ['background', {names!r}]) or a dict such as {{1: {names!r}}}."
        )
    pairs = list(names.items()) if isinstance(names, Mapping) else list(enumerate(names))
    if not all(_class_id(c) and int(c) >= 0 and isinstance(n, str) for c, n in pairs):
        raise ValueError(
            "class_names are names (text) by class id: a list for ids 0, 1, 2 ... (e.g. "
            f"['background', 'nucleus']) or a dict such as {{1: 'nucleus'}}, got {names!r}."
        )
    return {int(c): n for c, n in pairs}


def parse_classes(classes: Iterable[int] | None) -> list[int] | None:
    """Class ids, sorted and unique; None stays None (every class present)."""
    if classes is None:
        return None
    one = isinstance(classes, (numbers.Number, np.generic, str)) or (
        isinstance(classes, np.ndarray) and classes.ndim == 0
    )  # classes=1: that class (a set, a generator, dict keys: their ids)
    values = [getattr(classes, "item", lambda: classes)()] if one else list(classes)
    if not all(_class_id(c) for c in values):
        raise ValueError(
            f"Class ids are whole numbers (the labels' values, e.g. [1, 2]), got {classes!r}."
        )
    out = sorted({int(c) for c in values})
    if any(c < 0 for c in out):
        raise ValueError(f"Class ids are 0 or positive, got {out}.")
    return out
