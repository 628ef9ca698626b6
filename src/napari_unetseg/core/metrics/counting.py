"""Confusion counts, chunk by chunk, and the error overlay written in the same pass.

TP, FP, FN and TN per class are accumulated slab by slab along the first axis with
``np.bincount``, so a memmap / zarr / dask volume larger than memory is read one slab at
a time and never loaded whole. Dice, IoU, sensitivity, specificity, precision and
accuracy follow from the counts (:func:`ratio_metrics`). A ratio whose denominator is
zero is NaN, never an error.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..progress import drain
from .instances import PairReading, choose_reading
from .labels import check_pair, chunk_rows, chunks, read_labels, shape_of

#: Bins of one per-slice bincount (rows x labels): bounds the counting memory.
MAX_BINS = 1 << 22

#: Error-overlay values written by :func:`error_map`.
FALSE_POSITIVE, FALSE_NEGATIVE, WRONG_CLASS = 1, 2, 3


def ratio(num: Any, den: Any) -> Any:
    """num / den, NaN where den == 0 (never a division warning)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out if out.ndim else float(out)


@dataclass
class VoxelCounts:
    """Per-class voxel counts, per slice along the first axis.

    ``pred[z, k]``, ``gt[z, k]`` and ``tp[z, k]`` count, in slice ``z``, the scored voxels
    predicted as class ``k``, labeled ``k`` in the ground truth, and both. ``scored[z]`` is
    the number of scored voxels (all of them in dense mode, the labeled ones in sparse).
    """

    pred: np.ndarray
    gt: np.ndarray
    tp: np.ndarray
    scored: np.ndarray

    @property
    def n_labels(self) -> int:
        return self.tp.shape[-1]

    def totals(self, classes: Sequence[int]) -> dict[str, np.ndarray]:
        """TP, FP, FN, TN (int64 arrays aligned with ``classes``) over the whole volume."""
        return _confusion(
            self.pred.sum(0), self.gt.sum(0), self.tp.sum(0), int(self.scored.sum()), classes
        )

    def per_slice(self, classes: Sequence[int]) -> dict[str, np.ndarray]:
        """TP, FP, FN, TN of shape (slices, len(classes))."""
        return _confusion(self.pred, self.gt, self.tp, self.scored[:, None], classes)

    def add(self, rows: slice, counts: tuple[np.ndarray, ...]) -> None:
        """Add one chunk's (pred, gt, tp, scored) counts to ``rows``."""
        for total, part in zip((self.pred, self.gt, self.tp, self.scored), counts):
            total[rows] += part


def _confusion(
    pred: np.ndarray, gt: np.ndarray, tp: np.ndarray, scored: Any, classes: Sequence[int]
) -> dict[str, np.ndarray]:
    idx = np.asarray(list(classes), dtype=np.int64)
    width = pred.shape[-1]
    # Classes beyond the largest label seen have no voxels at all.
    inside = idx < width
    safe = np.where(inside, idx, 0)

    def take(a: np.ndarray) -> np.ndarray:
        return np.where(inside, a[..., safe], 0)

    t, p, g = take(tp), take(pred), take(gt)
    fp, fn = p - t, g - t
    return {"tp": t, "fp": fp, "fn": fn, "tn": scored - t - fp - fn}


def _chunk_counts(
    p: np.ndarray, g: np.ndarray, scored_mask: np.ndarray | None, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """bincount of (row, label) codes for one chunk of shape (rows, ...)."""
    rows = p.shape[0]
    p2 = p.reshape(rows, -1)
    g2 = g.reshape(rows, -1)
    offsets = (np.arange(rows, dtype=np.int64) * width)[:, None]
    pc = p2 + offsets
    gc = g2 + offsets
    hit = p2 == g2
    if scored_mask is not None:
        m2 = scored_mask.reshape(rows, -1)
        pc, gc, tpc = pc[m2], gc[m2], pc[m2 & hit]
        scored = m2.sum(1)
    else:
        tpc = pc[hit]
        scored = np.full(rows, p2.shape[1], dtype=np.int64)
    n = rows * width
    return (
        np.bincount(pc.ravel(), minlength=n).reshape(rows, width),
        np.bincount(gc.ravel(), minlength=n).reshape(rows, width),
        np.bincount(tpc.ravel(), minlength=n).reshape(rows, width),
        scored.astype(np.int64),
    )


def count_voxels(
    prediction: Any,
    ground_truth: Any,
    reading: PairReading,
    errors: np.ndarray | None = None,
    error_classes: Sequence[int] | None = None,
) -> Generator[tuple[int, int], None, VoxelCounts]:
    """Count chunk by chunk, yielding (chunks done, chunks total); returns the counts.

    With ``errors`` (a uint8 array of the volume's shape) the error overlay is written
    in the same pass, so each chunk is read once.
    """
    shape = shape_of(prediction)
    width = reading.width
    rows = chunk_rows(shape)
    if reading.per_slice:  # keep one per-slice bincount within MAX_BINS bins
        rows = min(rows, max(1, MAX_BINS // width))
    slabs = chunks(shape, rows)
    n_rows = shape[0] if reading.per_slice else 1
    counts = VoxelCounts(
        *(np.zeros((n_rows, width), np.int64) for _ in range(3)), scored=np.zeros(n_rows, np.int64)
    )
    for i, sl in enumerate(slabs):
        p_raw = read_labels(prediction, sl, "prediction")
        g_raw = read_labels(ground_truth, sl, "ground truth")
        p, g, scored = reading.class_ids(p_raw, g_raw)
        if reading.per_slice:
            counts.add(sl, _chunk_counts(p, g, scored, width))
        else:
            one_row = None if scored is None else scored.reshape(1, -1)
            part = _chunk_counts(p.reshape(1, -1), g.reshape(1, -1), one_row, width)
            counts.add(slice(0, 1), part)
        if errors is not None:
            errors[sl] = _error_chunk(p, g, scored, error_classes)
        yield i + 1, len(slabs)
    return counts


def confusion_counts(
    prediction: Any,
    ground_truth: Any,
    classes: Sequence[int] | None = None,
    *,
    mode: str = "dense",
) -> dict[str, np.ndarray]:
    """Per-class TP, FP, FN and TN, counted chunk by chunk along the first axis.

    Parameters
    ----------
    prediction, ground_truth : array-like
        Integer label arrays of one shape (numpy, memmap, zarr, dask). They are read one
        slab of about ``CHUNK_VOXELS`` voxels at a time, never whole.
    classes : sequence of int, optional
        Class ids to count (default: 0 up to the largest label present, at most
        ``MAX_CLASSES``).
    mode : {'dense', 'sparse'}
        How to read the ground truth (see :mod:`.labels`).

    Returns
    -------
    dict
        ``classes`` and ``tp``, ``fp``, ``fn``, ``tn`` as int64 arrays aligned with it.
    """
    check_pair(prediction, ground_truth, mode)
    reading = choose_reading(prediction, ground_truth, mode, "none", classes)
    counts = drain(count_voxels(prediction, ground_truth, reading))
    if classes is None:
        classes = list(range(counts.n_labels))
    return {"classes": np.asarray(list(classes), dtype=np.int64), **counts.totals(classes)}


def ratio_metrics(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, Any]:
    """Dice, IoU, sensitivity, specificity, precision and accuracy from counts.

    Works elementwise on arrays; a zero denominator gives NaN, never an error.
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    return {
        "dice": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "accuracy": ratio(tp + tn, tp + fp + fn + tn),
    }


# -- error overlay ----------------------------------------------------------------------------
def _error_chunk(
    p: np.ndarray, g: np.ndarray, scored: np.ndarray | None, classes: Sequence[int] | None
) -> np.ndarray:
    wrong = p != g
    if scored is not None:
        wrong &= scored
    if classes is None:
        p_in, g_in = p > 0, g > 0
    else:
        fg = np.asarray([c for c in classes if c != 0], dtype=np.int64)
        p_in, g_in = np.isin(p, fg), np.isin(g, fg)
    fp = wrong & p_in
    fn = wrong & g_in
    out = np.zeros(p.shape, dtype=np.uint8)
    out[fp] = FALSE_POSITIVE
    out[fn] = FALSE_NEGATIVE
    out[fp & fn] = WRONG_CLASS
    return out


def error_map(
    prediction: Any,
    ground_truth: Any,
    *,
    mode: str = "dense",
    classes: Sequence[int] | None = None,
    instances: str = "auto",
) -> np.ndarray:
    """Where the prediction is wrong: an overlay for a Labels layer.

    Values: 0 = correct (or not scored), 1 = false positive (predicted foreground where
    the ground truth is background), 2 = false negative (ground-truth foreground the
    prediction missed), 3 = wrong class (foreground in both, different classes: a false
    positive of one class and a false negative of another; only with several classes).
    ``classes`` limits the overlay to those foreground classes.
    """
    check_pair(prediction, ground_truth, mode)
    reading = choose_reading(prediction, ground_truth, mode, instances, classes)
    out = np.zeros(shape_of(prediction), dtype=np.uint8)
    drain(count_voxels(prediction, ground_truth, reading, out, classes))
    return out
