"""Segmentation metrics: voxel, object, boundary and centerline scores, 2D and 3D.

numpy only (the ``core`` rule: no scipy / scikit-image), so the building blocks are
implemented here and tested against scipy / scikit-learn:

- **Confusion counts** (TP, FP, FN, TN per class) are accumulated chunk by chunk along
  the first axis with ``np.bincount``, so a memmap / zarr / dask volume larger than
  memory is read one slab at a time and never loaded whole. Dice, IoU, sensitivity,
  specificity, precision and accuracy follow from the counts.
- **Connected components** (:func:`label_components`): runs of foreground along the last
  axis are the nodes; runs touching across the other axes are joined by a vectorized
  union-find (hook the larger root onto the smaller, then pointer jumping), which takes
  O(log n) rounds. Labels come out numbered in raster order, identical to
  ``scipy.ndimage.label``.
- **Distance transform** (:func:`distance_transform`): the exact separable Euclidean
  transform (Felzenszwalb & Huttenlocher's lower envelope of parabolas), run on all
  lines of an axis at once, with per-axis spacing. It is exact (unlike chamfer or
  propagation schemes) and linear in the number of voxels (unlike all-pairs distances
  between boundary point sets, which are quadratic in the boundary size).
- **Skeleton for clDice** (:func:`soft_skeleton`): the binary limit of the soft skeleton
  of the clDice paper (Shit et al., CVPR 2021): iterated cross-shaped min pooling and
  box max pooling, run until the mask is eroded away instead of for a fixed count. It
  works alike in 2D and 3D; unlike a topology-preserving thinning it may be broken
  where a structure is thick, which clDice tolerates (it scores overlap of skeletons
  with masks, not skeleton connectivity).

Empty classes never raise: a ratio whose denominator is zero is NaN (shown "n/a"), e.g.
Dice and IoU of a class absent from both prediction and ground truth. A class present
in only one of them scores 0 (Dice, IoU) and its boundary distances are infinite.

Label conventions (docs/architecture.md): **dense** ground truth has 0 = background and k = class
k. **Sparse** ground truth (painted scribbles) has 0 = unlabeled (not scored),
1 = background and k + 1 = class k; prediction label k is compared with scribble k + 1.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write
from .progress import drain

__all__ = [
    "COLUMNS",
    "EvaluationProgress",
    "EvaluationResult",
    "ObjectScores",
    "boundary",
    "cldice",
    "confusion_counts",
    "distance_transform",
    "error_map",
    "evaluate",
    "evaluate_iter",
    "format_value",
    "label_components",
    "match_objects",
    "plain_value",
    "ratio_metrics",
    "soft_skeleton",
    "surface_distances",
]

#: Voxels read per chunk while counting (about 32 MiB of int64 codes).
CHUNK_VOXELS = 1 << 22

#: Bins of one per-slice bincount (rows x labels): bounds the counting memory.
_MAX_BINS = 1 << 22

#: More class ids than this are refused unless the classes are listed: they are
#: instance labels (one id per object) that need ``instances=...``.
MAX_CLASSES = 1024

#: ``instances='auto'`` reads two non-binary label sets as instances only when both have
#: more labels than this (and their ids disagree): few labels are classes.
MIN_INSTANCES = 5

#: Error-overlay values written by :func:`error_map`.
FALSE_POSITIVE, FALSE_NEGATIVE, WRONG_CLASS = 1, 2, 3

MODES = ("dense", "sparse")
INSTANCE_MODES = ("auto", "none", "ground_truth", "prediction", "both")

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
COUNTS = ("tp", "fp", "fn", "tn")
#: Columns of :meth:`EvaluationResult.rows` (the table, CSV and data frame), in order.
COLUMNS = (
    ("class",) + VOXEL_METRICS + SHAPE_METRICS + tuple(f"obj_{m}" for m in OBJECT_METRICS) + COUNTS
)
# Object metrics that are counts: summed, not averaged, and printed as integers.
_OBJECT_COUNTS = ("n_gt", "n_pred", "tp", "fp", "fn", "split", "merged")


# -- small helpers --------------------------------------------------------------------------
def _ratio(num: Any, den: Any) -> Any:
    """num / den, NaN where den == 0 (never a division warning)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out if out.ndim else float(out)


def _shape_of(array: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.shape(array))


def _chunk_rows(shape: tuple[int, ...], voxels: int | None = None) -> int:
    voxels = CHUNK_VOXELS if voxels is None else voxels
    per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
    return max(1, voxels // max(per_row, 1))


def _iter_chunks(shape: tuple[int, ...], voxels: int | None = None) -> list[slice]:
    rows = _chunk_rows(shape, voxels)
    return [slice(i, min(i + rows, shape[0])) for i in range(0, shape[0], rows)]


def _read_labels(array: Any, index: Any, name: str) -> np.ndarray:
    """One chunk of a label array as int64, checked to hold non-negative integers."""
    chunk = np.asarray(array[index])
    if chunk.dtype == bool:
        return chunk.astype(np.int64)
    if not np.issubdtype(chunk.dtype, np.integer):
        if not np.issubdtype(chunk.dtype, np.floating):
            raise ValueError(f"The {name} must hold integer labels, not {chunk.dtype} values.")
        as_int = chunk.astype(np.int64)
        if not np.array_equal(as_int, chunk):
            raise ValueError(
                f"The {name} must hold integer labels; it has fractional values "
                "(is it a probability map instead of labels?)."
            )
        chunk = as_int
    chunk = chunk.astype(np.int64, copy=False)
    if chunk.size and chunk.min() < 0:
        raise ValueError(f"The {name} has negative labels; labels must be 0 or positive.")
    return chunk


def _pad_to(a: np.ndarray, width: int) -> np.ndarray:
    """Pad the last axis of a count array with zeros up to ``width``."""
    if a.shape[-1] >= width:
        return a
    pad = [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])]
    return np.pad(a, pad)


# -- confusion counts -------------------------------------------------------------------------
@dataclass
class Counts:
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


@dataclass(frozen=True)
class _Plan:
    """How to read a (prediction, ground truth) pair, decided by :func:`_plan`.

    ``binarize``: sides holding instance labels, counted as one foreground class.
    ``width``: class ids 0..width-1 are counted; larger labels (only possible when the
    caller listed the classes) share the last bin, which is never reported.
    ``per_slice``: keep counts per slice along the first axis (3D and more).
    """

    mode: str
    binarize: tuple[bool, bool]
    width: int
    per_slice: bool
    note: str | None = None


def _prepare_pair(
    p: np.ndarray, g: np.ndarray, plan: _Plan
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Map a raw (prediction, ground truth) chunk to comparable class ids.

    Returns the prediction, the ground truth in class ids, and the scored-voxel mask
    (None in dense mode: every voxel is scored).
    """
    if plan.binarize[0]:
        p = (p > 0).astype(np.int64)
    if plan.binarize[1]:
        g = (g > 0).astype(np.int64)
    scored = None
    if plan.mode == "sparse":
        scored = g > 0
        g = np.where(scored, g - 1, 0)
    top = plan.width - 1
    return np.minimum(p, top, out=p), np.minimum(g, top, out=g), scored


def _iter_counts(
    prediction: Any,
    ground_truth: Any,
    plan: _Plan,
    errors: np.ndarray | None = None,
    error_classes: Sequence[int] | None = None,
) -> Generator[tuple[int, int], None, Counts]:
    """Count chunk by chunk, yielding (chunks done, chunks total); returns :class:`Counts`.

    With ``errors`` (a uint8 array of the volume's shape) the error overlay is written
    in the same pass, so each chunk is read once.
    """
    shape = _shape_of(prediction)
    width = plan.width
    rows = _chunk_rows(shape)
    if plan.per_slice:  # keep one per-slice bincount within _MAX_BINS bins
        rows = min(rows, max(1, _MAX_BINS // width))
    chunks = [slice(i, min(i + rows, shape[0])) for i in range(0, shape[0], rows)]
    n_rows = shape[0] if plan.per_slice else 1
    pred, gt, tp = (np.zeros((n_rows, width), np.int64) for _ in range(3))
    scored_total = np.zeros(n_rows, np.int64)
    for i, sl in enumerate(chunks):
        p_raw = _read_labels(prediction, sl, "prediction")
        g_raw = _read_labels(ground_truth, sl, "ground truth")
        p, g, scored = _prepare_pair(p_raw, g_raw, plan)
        if plan.per_slice:
            target = sl
            counts = _chunk_counts(p, g, scored, width)
        else:
            target = slice(0, 1)
            counts = _chunk_counts(
                p.reshape(1, -1),
                g.reshape(1, -1),
                None if scored is None else scored.reshape(1, -1),
                width,
            )
        pred[target] += counts[0]
        gt[target] += counts[1]
        tp[target] += counts[2]
        scored_total[target] += counts[3]
        if errors is not None:
            errors[sl] = _error_chunk(p, g, scored, error_classes)
        yield i + 1, len(chunks)
    return Counts(pred=pred, gt=gt, tp=tp, scored=scored_total)


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
        How to read the ground truth (see the module docstring).

    Returns
    -------
    dict
        ``classes`` and ``tp``, ``fp``, ``fn``, ``tn`` as int64 arrays aligned with it.
    """
    _check_pair(prediction, ground_truth, mode)
    plan = _plan(prediction, ground_truth, mode, "none", classes)
    counts = drain(_iter_counts(prediction, ground_truth, plan))
    if classes is None:
        classes = list(range(counts.n_labels))
    return {"classes": np.asarray(list(classes), dtype=np.int64), **counts.totals(classes)}


def ratio_metrics(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, Any]:
    """Dice, IoU, sensitivity, specificity, precision and accuracy from counts.

    Works elementwise on arrays; a zero denominator gives NaN, never an error.
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
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
    _check_pair(prediction, ground_truth, mode)
    plan = _plan(prediction, ground_truth, mode, instances, classes)
    out = np.zeros(_shape_of(prediction), dtype=np.uint8)
    drain(_iter_counts(prediction, ground_truth, plan, out, classes))
    return out


# -- connected components -------------------------------------------------------------------
def _neighbour_offsets(ndim: int, connectivity: int) -> list[tuple[int, ...]]:
    """Half of the neighbourhood (the other half is symmetric), without the last-axis step
    (runs along the last axis are connected by construction)."""
    offsets = []
    for off in itertools.product((-1, 0, 1), repeat=ndim):
        nonzero = [o for o in off if o]
        if not nonzero or nonzero[0] != 1 or len(nonzero) > connectivity:
            continue
        if all(o == 0 for o in off[:-1]):
            continue
        offsets.append(off)
    return offsets


def _offset_slices(offset: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    lo, hi = [], []
    for o in offset:
        if o == 1:
            lo.append(slice(0, -1))
            hi.append(slice(1, None))
        elif o == -1:
            lo.append(slice(1, None))
            hi.append(slice(0, -1))
        else:
            lo.append(slice(None))
            hi.append(slice(None))
    return tuple(lo), tuple(hi)


def _union_find(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component root (the smallest node id) of nodes 0..n-1 joined by edges (a, b).

    Each round hooks the larger of two different roots onto the smaller (``minimum.at``
    keeps the smallest when several edges hook one root), then jumps pointers until
    every node points at its root. Edges already inside one component are dropped, so
    rounds get cheaper; the number of trees per component at least halves each round.
    """
    parent = np.arange(n, dtype=np.int64)
    while a.size:
        pa, pb = parent[a], parent[b]
        keep = pa != pb
        a, b, pa, pb = a[keep], b[keep], pa[keep], pb[keep]
        if not a.size:
            break
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def label_components(mask: Any, connectivity: int = 1) -> tuple[np.ndarray, int]:
    """Connected components of a boolean mask, in any dimension.

    Parameters
    ----------
    mask : array-like of bool
        Foreground.
    connectivity : int
        Neighbours differ in at most this many coordinates by one: 1 = faces (4-/6-
        connectivity, the default), ``mask.ndim`` = full (8-/26-connectivity), as in
        ``scipy.ndimage.generate_binary_structure``.

    Returns
    -------
    labels : ndarray of int32
        0 = background, 1..n the components, numbered in raster order of their first
        voxel (the same numbering as ``scipy.ndimage.label``).
    n : int
        Number of components.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 0:
        mask = mask.reshape(1)
    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(f"connectivity must be between 1 and {mask.ndim}, got {connectivity}.")
    # Nodes are runs of foreground along the last axis, numbered 1..R in raster order.
    starts = mask.copy()
    starts[..., 1:] &= ~mask[..., :-1]
    n_runs = int(starts.sum())
    if n_runs == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    index_dtype = np.int32 if n_runs < 2**31 - 1 else np.int64
    run = np.cumsum(starts, dtype=index_dtype).reshape(mask.shape)
    del starts
    edges_a, edges_b = [], []
    for offset in _neighbour_offsets(mask.ndim, connectivity):
        lo, hi = _offset_slices(offset)
        both = mask[lo] & mask[hi]
        a = run[lo][both].astype(np.int64)
        b = run[hi][both].astype(np.int64)
        if a.size:
            # Neighbouring voxels of two runs come in a row: keep one edge per pair.
            new = np.ones(a.size, dtype=bool)
            new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
            edges_a.append(a[new])
            edges_b.append(b[new])
    a = np.concatenate(edges_a) if edges_a else np.empty(0, np.int64)
    b = np.concatenate(edges_b) if edges_b else np.empty(0, np.int64)
    root = _union_find(n_runs + 1, a, b)
    is_root = root == np.arange(n_runs + 1)
    is_root[0] = False
    number = np.cumsum(is_root).astype(np.int32)  # roots are smallest ids: raster order
    labels = number[root][run]
    labels[~mask] = 0
    return labels, int(number[-1])


# -- boundaries and distances -------------------------------------------------------------------
def _shift_reduce(mask: np.ndarray, axis: int, op: Any, outside: bool | None) -> np.ndarray:
    """Combine each voxel with its two neighbours along ``axis`` using ``op``.

    ``outside`` is the value beyond the array edge; None ignores it (the neighbour is
    skipped), as max/min pooling with padding does.
    """
    out = mask.copy()
    n = mask.shape[axis]
    if n > 1:
        head = [slice(None)] * mask.ndim
        tail = [slice(None)] * mask.ndim
        head[axis], tail[axis] = slice(1, None), slice(0, -1)
        head_t, tail_t = tuple(head), tuple(tail)
        out[head_t] = op(out[head_t], mask[tail_t])
        out[tail_t] = op(out[tail_t], mask[head_t])
    if outside is not None:
        edge = [slice(None)] * mask.ndim
        for i in (0, n - 1):
            edge[axis] = slice(i, i + 1)
            out[tuple(edge)] = op(out[tuple(edge)], outside)
    return out


def _erode_cross(mask: np.ndarray) -> np.ndarray:
    """Binary erosion with the cross (face) structuring element; outside = background."""
    out = mask
    for axis in range(mask.ndim):
        out = out & _shift_reduce(mask, axis, np.logical_and, False)
    return out


def _dilate_box(mask: np.ndarray) -> np.ndarray:
    out = mask
    for axis in range(mask.ndim):
        out = _shift_reduce(out, axis, np.logical_or, None)
    return out


def boundary(mask: Any) -> np.ndarray:
    """Boundary voxels: foreground with a background face-neighbour (or on the array edge).

    This is MONAI's ``get_mask_edges`` (mask XOR its binary erosion with the cross
    structuring element, outside = background).
    """
    mask = np.asarray(mask, dtype=bool)
    return mask & ~_erode_cross(mask)


#: Stands for "no feature on this line" in squared distances (finite keeps the
#: parabola intersections free of inf - inf).
_FAR = 1e30


def _edt_first_axis(features: np.ndarray, step: float) -> np.ndarray:
    """Squared distance along axis 0 to the nearest feature on the same line."""
    n = features.shape[0]
    pos = np.arange(n, dtype=np.float64).reshape((n,) + (1,) * (features.ndim - 1))
    before = np.where(features, pos, -np.inf)
    np.maximum.accumulate(before, axis=0, out=before)
    after = np.where(features, pos, np.inf)
    after = np.minimum.accumulate(after[::-1], axis=0)[::-1]
    d = np.minimum(pos - before, after - pos) * step
    sq = d * d
    sq[~np.isfinite(sq)] = _FAR
    return sq


def _edt_lines(f: np.ndarray, step: float) -> np.ndarray:
    """Lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012) on every column of
    ``f`` (n, lines) at once: out[q, l] = min_r f[r, l] + (step * (q - r))**2.

    The loops run over the n positions along the lines; each step works on all lines
    (or on the few still popping parabolas) as flat arrays. Envelope state is kept as
    flat indices ``k * lines + line`` into (n, lines) arrays, because 1-D ``take`` is far
    faster than 2-D fancy indexing.
    """
    n, n_lines = f.shape
    s2 = step * step
    lines = np.arange(n_lines)
    # f(r) + (step r)^2: the intersection of parabolas r and q needs only these.
    fv = (f + s2 * np.arange(n, dtype=np.float64)[:, None] ** 2).ravel()
    v = np.zeros(n * n_lines, dtype=np.int64)  # position of the k-th envelope parabola
    z = np.empty((n + 1) * n_lines)  # where the k-th parabola starts to be the lowest
    z[:n_lines] = -np.inf
    z[n_lines : 2 * n_lines] = np.inf
    at = lines.copy()  # flat index of the last envelope parabola of each line

    for q in range(1, n):
        fq = fv[q * n_lines : (q + 1) * n_lines]
        r = v[at]
        s = (fq - fv[r * n_lines + lines]) / (2.0 * s2 * (q - r))
        rows = lines[s <= z[at]]
        while rows.size:  # pop parabolas hidden by q
            at[rows] -= n_lines
            r = v[at[rows]]
            s_rows = (fq[rows] - fv[r * n_lines + rows]) / (2.0 * s2 * (q - r))
            s[rows] = s_rows
            rows = rows[s_rows <= z[at[rows]]]
        at += n_lines
        v[at] = q
        z[at] = s
        z[at + n_lines] = np.inf

    flat_f = f.ravel()
    out = np.empty_like(f)
    at = lines.copy()
    for q in range(n):
        rows = lines[z[at + n_lines] < q]
        while rows.size:  # move on to the parabola that is lowest at q
            at[rows] += n_lines
            rows = rows[z[at[rows] + n_lines] < q]
        r = v[at]
        out[q] = flat_f[r * n_lines + lines] + s2 * (q - r) ** 2
    return out


def distance_transform(features: Any, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Exact Euclidean distance from every voxel to the nearest ``True`` voxel.

    The same as ``scipy.ndimage.distance_transform_edt(~features, sampling=spacing)``;
    inf everywhere when there is no feature at all.

    Parameters
    ----------
    features : array-like of bool
        The voxels distances are measured to.
    spacing : sequence of float, optional
        Physical voxel size per axis (default 1).
    """
    features = np.asarray(features, dtype=bool)
    spacing = _check_spacing(spacing, features.ndim)
    if not features.any():
        return np.full(features.shape, np.inf)
    sq = _edt_first_axis(features, spacing[0])
    for axis in range(1, features.ndim):
        moved = np.moveaxis(sq, axis, 0)
        flat = np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
        # Lines with no feature in their whole hyperplane stay "far": skip them.
        live = (flat < _FAR).any(axis=0)
        if live.all():
            flat = _edt_lines(flat, spacing[axis])
        elif live.any():
            flat[:, live] = _edt_lines(np.ascontiguousarray(flat[:, live]), spacing[axis])
        sq = np.moveaxis(flat.reshape(moved.shape), 0, axis)
    dist = np.sqrt(sq)
    dist[sq >= _FAR] = np.inf
    return np.ascontiguousarray(dist)


def _bbox(mask: np.ndarray) -> tuple[slice, ...] | None:
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def surface_distances(
    pred_mask: Any, gt_mask: Any, spacing: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each prediction boundary voxel to the ground-truth boundary, and back.

    Physical units per ``spacing``. Only the bounding box of the two masks is processed
    (every boundary voxel lies inside it, so distances are unchanged). Either array is
    empty when its mask is.
    """
    pred_mask = np.asarray(pred_mask, dtype=bool)
    gt_mask = np.asarray(gt_mask, dtype=bool)
    spacing = _check_spacing(spacing, pred_mask.ndim)
    box = _bbox(pred_mask | gt_mask)
    if box is None:
        return np.empty(0), np.empty(0)
    bp, bg = boundary(pred_mask[box]), boundary(gt_mask[box])
    if not bp.any() or not bg.any():
        return np.full(int(bp.sum()), np.inf), np.full(int(bg.sum()), np.inf)
    return distance_transform(bg, spacing)[bp], distance_transform(bp, spacing)[bg]


def _hd95_assd(d_pg: np.ndarray, d_gp: np.ndarray) -> tuple[float, float]:
    """HD95 (MONAI: max of the two directed 95th percentiles) and ASSD."""
    if d_pg.size == 0 and d_gp.size == 0:
        return math.nan, math.nan
    if d_pg.size == 0 or d_gp.size == 0:
        return math.inf, math.inf
    hd95 = max(float(np.percentile(d_pg, 95)), float(np.percentile(d_gp, 95)))
    assd = float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size))
    return hd95, assd


# -- clDice ------------------------------------------------------------------------------------
def soft_skeleton(mask: Any) -> np.ndarray:
    """Skeleton of a binary mask: the clDice paper's soft skeleton, run to completion.

    ``skel = x - open(x)``, then repeatedly ``x = erode(x)`` and add ``x - open(x)``,
    with erode = cross-shaped min pooling and dilate = box max pooling, until ``x`` is
    empty. Unlike the paper's padded pooling, the outside of the array counts as
    background, so a structure touching the edge is thinned too (and the loop ends).
    """
    x = np.asarray(mask, dtype=bool)
    skel = np.zeros_like(x)
    while x.any():
        eroded = _erode_cross(x)
        skel |= x & ~_dilate_box(eroded)
        x = eroded
    return skel


def cldice(pred_mask: Any, gt_mask: Any) -> float:
    """Centerline Dice (Shit et al. 2021): harmonic mean of topology precision and
    sensitivity, ``|S(P) & G| / |S(P)|`` and ``|S(G) & P| / |S(G)|``.

    NaN when both masks are empty, 0 when one is.
    """
    p = np.asarray(pred_mask, dtype=bool)
    g = np.asarray(gt_mask, dtype=bool)
    box = _bbox(p | g)
    if box is None:
        return math.nan
    p, g = p[box], g[box]
    if not p.any() or not g.any():
        return 0.0
    sp, sg = soft_skeleton(p), soft_skeleton(g)
    tprec = (sp & g).sum() / sp.sum()
    tsens = (sg & p).sum() / sg.sum()
    if tprec + tsens == 0:
        return 0.0
    return float(2 * tprec * tsens / (tprec + tsens))


# -- objects -------------------------------------------------------------------------------------
@dataclass
class ObjectScores:
    """Object-level scores of one class (see :func:`match_objects`)."""

    n_gt: int
    n_pred: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    pq: float
    split: int
    merged: int
    matches: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 3)))

    def to_dict(self) -> dict[str, Any]:
        return {m: getattr(self, m) for m in OBJECT_METRICS}


def _consecutive(instances: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel instance ids to 1..n (0 stays background)."""
    top = int(instances.max(initial=0))
    if top <= max(instances.size, 1 << 16):
        present = np.bincount(instances.ravel(), minlength=top + 1) > 0
        present[0] = False
        lut = np.cumsum(present)
        return lut[instances], int(lut[-1])
    ids, inverse = np.unique(instances, return_inverse=True)
    inverse = inverse.reshape(instances.shape)
    if ids[0] != 0:
        inverse = inverse + 1
    return inverse, int((ids != 0).sum())


def match_objects(gt_instances: Any, pred_instances: Any, threshold: float = 0.5) -> ObjectScores:
    """Match ground-truth and predicted objects one-to-one at IoU >= ``threshold``.

    Parameters
    ----------
    gt_instances, pred_instances : array-like of int
        Instance labels (0 = background, any positive ids).
    threshold : float
        Minimum IoU of a match. At 0.5 or above an object can overlap at most one other
        by that much, so the matching is unique; below, pairs are taken greedily by
        decreasing IoU.

    Returns
    -------
    ObjectScores
        Matched pairs are TP, unmatched predictions FP, unmatched ground truth FN;
        F1 = 2TP / (2TP + FP + FN); ``mean_iou`` is over matched pairs; panoptic quality
        ``pq`` = sum of matched IoU / (TP + FP/2 + FN/2). A ground-truth object is
        ``split`` when two or more predicted objects have over half of their own area
        inside it; a predicted object is ``merged`` when it covers over half of each of
        two or more ground-truth objects. ``matches`` rows are (gt id, pred id, IoU) in
        the consecutive numbering.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"The IoU threshold must be in (0, 1], got {threshold}.")
    g, n_gt = _consecutive(np.asarray(gt_instances).astype(np.int64, copy=False))
    p, n_pred = _consecutive(np.asarray(pred_instances).astype(np.int64, copy=False))
    g, p = g.ravel(), p.ravel()
    area_g = np.bincount(g, minlength=n_gt + 1)
    area_p = np.bincount(p, minlength=n_pred + 1)
    both = (g > 0) & (p > 0)
    codes = g[both] * (n_pred + 1) + p[both]
    if (n_gt + 1) * (n_pred + 1) <= 1 << 24:
        inter = np.bincount(codes, minlength=(n_gt + 1) * (n_pred + 1))
        pair = np.flatnonzero(inter)
        inter = inter[pair]
    else:
        pair, inter = np.unique(codes, return_counts=True)
    gi, pi = pair // (n_pred + 1), pair % (n_pred + 1)
    iou = inter / (area_g[gi] + area_p[pi] - inter)

    order = np.argsort(-iou, kind="stable")
    cand = order[iou[order] >= threshold]
    used_g = np.zeros(n_gt + 1, dtype=bool)
    used_p = np.zeros(n_pred + 1, dtype=bool)
    matched = []
    for c in cand:  # few candidates: at IoU >= 0.5 at most one per object
        if not used_g[gi[c]] and not used_p[pi[c]]:
            used_g[gi[c]] = used_p[pi[c]] = True
            matched.append(c)
    matched = np.asarray(matched, dtype=np.int64)
    tp = int(matched.size)
    fp, fn = n_pred - tp, n_gt - tp
    iou_sum = float(iou[matched].sum()) if tp else 0.0

    merged = np.bincount(pi[inter > 0.5 * area_g[gi]], minlength=n_pred + 1)
    split = np.bincount(gi[inter > 0.5 * area_p[pi]], minlength=n_gt + 1)
    return ObjectScores(
        n_gt=n_gt,
        n_pred=n_pred,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=_ratio(tp, n_pred),
        recall=_ratio(tp, n_gt),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        mean_iou=_ratio(iou_sum, tp),
        pq=_ratio(iou_sum, tp + 0.5 * fp + 0.5 * fn),
        split=int((split >= 2).sum()),
        merged=int((merged >= 2).sum()),
        matches=np.stack([gi[matched], pi[matched], iou[matched]], axis=1)
        if tp
        else np.empty((0, 3)),
    )


# -- validation --------------------------------------------------------------------------------
def _check_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in np.ravel(spacing))
    if len(values) != ndim:
        raise ValueError(
            f"spacing needs one value per axis ({ndim}), got {len(values)}: {values}."
        )
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing values must be positive numbers, got {values}.")
    return values


def _check_pair(prediction: Any, ground_truth: Any, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'dense' or 'sparse', got {mode!r}.")
    ps, gs = _shape_of(prediction), _shape_of(ground_truth)
    if not ps:
        raise ValueError("Label arrays need at least one axis; got a single value.")
    if ps != gs:
        raise ValueError(
            f"The prediction {ps} and the ground truth {gs} have different shapes; "
            "they must match voxel for voxel."
        )


def _scan(prediction: Any, ground_truth: Any) -> tuple[int, int, int, int]:
    """One chunked pass over both arrays (checking their labels): the largest label of
    each, and among voxels that are foreground in both, how many carry the same label."""
    p_max = g_max = overlap = agree = 0
    for sl in _iter_chunks(_shape_of(prediction)):
        p = _read_labels(prediction, sl, "prediction")
        g = _read_labels(ground_truth, sl, "ground truth")
        p_max = max(p_max, int(p.max(initial=0)))
        g_max = max(g_max, int(g.max(initial=0)))
        both = (p > 0) & (g > 0)
        overlap += int(np.count_nonzero(both))
        agree += int(np.count_nonzero(both & (p == g)))
    return p_max, g_max, overlap, agree


def _guess_instances(
    mode: str, p_max: int, g_max: int, overlap: int, agree: int
) -> tuple[tuple[bool, bool], str | None]:
    """``instances='auto'``: which side(s) look like instance labels (see :func:`evaluate`).

    ``g_max`` is the largest ground-truth class id (scribble value - 1 in sparse mode).
    """
    done = "read as object instances of one foreground class (class 1)"
    if mode == "sparse":
        if g_max <= 1 < p_max:
            return (True, False), (
                f"The scribbles have one class and the prediction has labels up to {p_max}: "
                f"predicted labels were {done}."
            )
        return (False, False), None
    # A binary mask against many labels: the many labels are instances (each nucleus its
    # own id), not classes; scoring them as classes would be meaningless.
    if p_max <= 1 < g_max:
        return (False, True), (
            f"The prediction is binary and the ground truth has labels up to {g_max}: "
            f"ground-truth labels were {done}."
        )
    if g_max <= 1 < p_max:
        return (True, False), (
            f"The ground truth is binary and the prediction has labels up to {p_max}: "
            f"predicted labels were {done}."
        )
    # Class ids mean the same on both sides; instance ids from two sources do not. So
    # many labels that mostly disagree where both sides are foreground are instances.
    many = min(p_max, g_max) > MIN_INSTANCES
    disagree = overlap > 0 and agree < overlap / 2
    if many and (disagree or max(p_max, g_max) > MAX_CLASSES):
        share = f"{100 * agree / overlap:.0f}%" if overlap else "none"
        return (True, True), (
            f"Both have many labels (up to {p_max} and {g_max}) that rarely agree where both "
            f"are foreground ({share} of those pixels): both were {done}."
        )
    return (False, False), None


def _plan(
    prediction: Any,
    ground_truth: Any,
    mode: str,
    instances: str,
    classes: Sequence[int] | None,
) -> _Plan:
    """Check labels and options and decide how to count (one read pass over the data)."""
    if instances not in INSTANCE_MODES:
        raise ValueError(f"instances must be one of {INSTANCE_MODES}, got {instances!r}.")
    if mode == "sparse" and instances in ("ground_truth", "both"):
        raise ValueError("Scribbles (sparse ground truth) cannot be instance labels.")
    p_max, g_max, overlap, agree = _scan(prediction, ground_truth)
    g_cls = max(g_max - 1, 0) if mode == "sparse" else g_max
    note = None
    if instances != "auto":
        binarize = {
            "none": (False, False),
            "ground_truth": (False, True),
            "prediction": (True, False),
            "both": (True, True),
        }[instances]
    elif classes is not None:  # listed classes: labels are classes
        binarize = (False, False)
    else:
        binarize, note = _guess_instances(mode, p_max, g_cls, overlap, agree)
    p_top = min(p_max, 1) if binarize[0] else p_max
    g_top = min(g_cls, 1) if binarize[1] else g_cls
    top = max(p_top, g_top)
    if classes is not None:
        top = min(top, max(classes, default=0) + 1)
    elif top > MAX_CLASSES:
        side = "prediction" if p_top >= g_top else "ground truth"
        raise ValueError(
            f"The {side} has labels up to {top}, too many to score as classes: if they "
            "are instance labels (one id per object), say which side holds instances "
            "(instances=..., --instances), or list the classes to score."
        )
    ndim = len(_shape_of(prediction))
    return _Plan(mode, binarize, top + 1, per_slice=ndim >= 3, note=note)


# -- evaluation --------------------------------------------------------------------------------
@dataclass
class EvaluationProgress:
    """Progress of :func:`evaluate_iter`: ``done`` percent (``total`` is 100), in ``stage``."""

    stage: str
    done: int
    total: int


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


def _json_safe(value: Any) -> Any:
    """NaN and inf -> None (JSON has neither), numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


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
        Foreground class id -> object scores (see :class:`ObjectScores`).
    per_slice_dice : dict or None
        For 3D inputs: foreground class id -> Dice of each slice along the first axis.
    errors : ndarray or None
        The error overlay (see :func:`error_map`) when requested.
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

    @property
    def foreground(self) -> list[int]:
        return [c for c in self.classes if c != 0]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per class, then the summary rows, keyed by :data:`COLUMNS`."""
        out = []
        for cid, values in self.classes.items():
            row: dict[str, Any] = {"class": "0 (background)" if cid == 0 else str(cid)}
            row.update({k: values.get(k, math.nan) for k in VOXEL_METRICS + SHAPE_METRICS})
            obj = self.objects.get(cid, {})
            row.update({f"obj_{m}": obj.get(m, math.nan) for m in OBJECT_METRICS})
            row.update({k: values.get(k) for k in COUNTS})
            out.append(row)
        labels = {
            "macro": "mean (all classes)",
            "macro_foreground": "mean (foreground)",
            "micro_foreground": "micro (foreground)",
        }
        for key, label in labels.items():
            values = self.summary.get(key, {})
            row = {"class": label}
            row.update({c: values.get(c, math.nan) for c in COLUMNS[1:] if c not in COUNTS})
            row.update({k: values.get(k) for k in COUNTS})
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python result; class ids become strings (JSON object keys)."""
        return {
            "mode": self.mode,
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "unit": self.unit,
            "iou_threshold": self.iou_threshold,
            "classes": {str(k): dict(v) for k, v in self.classes.items()},
            "summary": {k: dict(v) for k, v in self.summary.items()},
            "objects": {str(k): dict(v) for k, v in self.objects.items()},
            "per_slice_dice": None
            if self.per_slice_dice is None
            else {str(k): v.tolist() for k, v in self.per_slice_dice.items()},
            "notes": list(self.notes),
        }

    def to_json_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with NaN / inf as None, ready for ``json.dumps``."""
        return _json_safe(self.to_dict())

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`rows` as CSV (NaN as "n/a"), atomically: an existing file is
        replaced only once the new one is complete."""
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(COLUMNS)
                for row in self.rows():
                    writer.writerow([plain_value(row[c]) for c in COLUMNS])

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
        fg = self.summary.get("macro_foreground", {})
        n = len(self.foreground)
        parts = [f"Dice {format_value(fg.get('dice'))}, IoU {format_value(fg.get('iou'))}"]
        if n > 1:
            parts[0] += f" (mean of {n} classes)"
        if self.objects:
            total = {k: sum(int(o[k]) for o in self.objects.values()) for k in _OBJECT_COUNTS}
            detail = f"{total['tp']} of {total['n_gt']} matched, {total['n_pred']} predicted"
            # Where Dice misleads: a few pixels can merge or split many objects.
            for key in ("merged", "split"):
                if total[key]:
                    detail += f", {total[key]} {key}"
            parts.append(f"objects F1 {format_value(fg.get('obj_f1'))} ({detail})")
        if not math.isnan(fg.get("hd95", math.nan)):
            unit = f" {self.unit}" if self.unit else ""
            parts.append(f"HD95 {format_value(fg.get('hd95'), 2)}{unit}")
        return "; ".join(parts) + "."

    def table(self) -> str:
        """A readable fixed-width table of the main columns, the summary and notes."""
        unit = f" [{self.unit}]" if self.unit else ""
        cols = [
            ("class", "class"),
            ("dice", "Dice"),
            ("iou", "IoU"),
            ("sensitivity", "Sens"),
            ("specificity", "Spec"),
            ("precision", "Prec"),
            ("hd95", f"HD95{unit}"),
            ("assd", f"ASSD{unit}"),
            ("cldice", "clDice"),
            ("obj_f1", "obj F1"),
            ("obj_pq", "PQ"),
            ("obj_split", "split"),
            ("obj_merged", "merged"),
        ]
        cells = [[head for _, head in cols]]
        for row in self.rows():
            digits = {"hd95": 2, "assd": 2}
            cells.append(
                [
                    format_value(row[key], digits.get(key, 3)) if key != "class" else row[key]
                    for key, _ in cols
                ]
            )
        widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
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
        lines.append(self.summary_line())
        lines.extend(self.notes)
        return "\n".join(lines)


def _summaries(
    classes: dict[int, dict[str, float]],
    objects: dict[int, dict[str, float]],
    totals: dict[str, np.ndarray],
    class_ids: list[int],
) -> dict[str, dict[str, float]]:
    def mean_of(ids: list[int]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key in VOXEL_METRICS + SHAPE_METRICS:
            vals = np.array([classes[c][key] for c in ids], dtype=np.float64)
            out[key] = _nanmean(vals)
        for key in OBJECT_METRICS:
            vals = np.array([objects[c][key] for c in ids if c in objects], dtype=np.float64)
            if key in _OBJECT_COUNTS:
                out[f"obj_{key}"] = int(vals.sum()) if vals.size else math.nan
            else:
                out[f"obj_{key}"] = _nanmean(vals)
        return out

    fg = [c for c in class_ids if c != 0]
    fg_pos = [i for i, c in enumerate(class_ids) if c != 0]
    micro_counts = {k: int(totals[k][fg_pos].sum()) for k in COUNTS} if fg else {}
    micro = (
        {**{k: float(v) for k, v in ratio_metrics(**micro_counts).items()}, **micro_counts}
        if fg
        else {}
    )
    return {
        "macro": mean_of(class_ids),
        "macro_foreground": mean_of(fg),
        "micro_foreground": micro,
    }


def _nanmean(values: np.ndarray) -> float:
    finite_or_inf = values[~np.isnan(values)]
    return float(finite_or_inf.mean()) if finite_or_inf.size else math.nan


def _class_mask(labels: np.ndarray, cid: int, instances: bool) -> np.ndarray:
    """Voxels of class ``cid``; instance labels are all class 1."""
    if instances:
        return labels > 0 if cid == 1 else np.zeros(labels.shape, dtype=bool)
    return labels == cid


def _parse_classes(classes: Iterable[int] | None) -> list[int] | None:
    if classes is None:
        return None
    out = sorted({int(c) for c in classes})
    if any(c < 0 for c in out):
        raise ValueError(f"Class ids are 0 or positive, got {out}.")
    return out


def evaluate_iter(
    prediction: Any,
    ground_truth: Any,
    *,
    mode: str = "dense",
    spacing: Sequence[float] | None = None,
    objects: bool = True,
    classes: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    instances: str = "auto",
    surface: bool | None = None,
    centerline: bool | None = None,
    connectivity: int = 1,
    return_errors: bool = False,
    unit: str | None = None,
) -> Generator[EvaluationProgress, None, EvaluationResult]:
    """Generator form of :func:`evaluate`: yields progress records, returns the result."""
    _check_pair(prediction, ground_truth, mode)
    shape = _shape_of(prediction)
    spacing_t = _check_spacing(spacing, len(shape))
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"The IoU threshold must be in (0, 1], got {iou_threshold}.")
    class_list = _parse_classes(classes)
    surface = objects if surface is None else surface
    centerline = objects if centerline is None else centerline
    notes: list[str] = []
    shape_level = objects or surface or centerline
    if shape_level and mode == "sparse":
        notes.append(
            "Scribbles (sparse ground truth) have no whole objects or boundaries: "
            "object, boundary and clDice scores were not computed."
        )
        shape_level = objects = surface = centerline = False
    if shape_level:
        # Objects and distances need whole volumes; voxel counts alone never do.
        prediction = np.asarray(prediction)
        ground_truth = np.asarray(ground_truth)
    plan = _plan(prediction, ground_truth, mode, instances, class_list)
    binarize = plan.binarize
    if plan.note:
        notes.append(plan.note)

    # Progress is in percent of the whole run; object and distance scores take most time.
    share = 10 if shape_level else 100
    errors = np.zeros(shape, dtype=np.uint8) if return_errors else None
    counting = _iter_counts(prediction, ground_truth, plan, errors, class_list)
    while True:
        try:
            done, total = next(counting)
        except StopIteration as stop:
            counts: Counts = stop.value
            break
        yield EvaluationProgress("counting voxels", share * done // total, 100)

    if class_list is None:
        present = (counts.pred.sum(0) + counts.gt.sum(0)) > 0
        class_list = sorted({0} | {int(c) for c in np.flatnonzero(present)})
    totals = counts.totals(class_list)
    ratios = ratio_metrics(**totals)
    per_class: dict[int, dict[str, float]] = {}
    for i, cid in enumerate(class_list):
        row = {k: float(ratios[k][i]) for k in VOXEL_METRICS}
        row.update({k: math.nan for k in SHAPE_METRICS})
        row.update({k: int(totals[k][i]) for k in COUNTS})
        per_class[cid] = row
    if mode == "sparse" and int(counts.scored.sum()) == 0:
        notes.append("The ground truth has no labeled voxels: nothing could be scored.")

    fg = [c for c in class_list if c != 0]
    object_scores: dict[int, dict[str, float]] = {}
    if shape_level and fg:
        pred_arr = np.asarray(prediction)
        gt_arr = np.asarray(ground_truth)
        for step, cid in enumerate(fg):
            p_mask = _class_mask(pred_arr, cid, binarize[0])
            g_mask = _class_mask(gt_arr, cid, binarize[1])
            if objects:
                g_inst = (
                    np.where(g_mask, gt_arr, 0)
                    if binarize[1]
                    else label_components(g_mask, connectivity)[0]
                )
                p_inst = (
                    np.where(p_mask, pred_arr, 0)
                    if binarize[0]
                    else label_components(p_mask, connectivity)[0]
                )
                object_scores[cid] = match_objects(g_inst, p_inst, iou_threshold).to_dict()
            if surface:
                hd95, assd = _hd95_assd(*surface_distances(p_mask, g_mask, spacing_t))
                per_class[cid]["hd95"], per_class[cid]["assd"] = hd95, assd
            if centerline:
                per_class[cid]["cldice"] = cldice(p_mask, g_mask)
            done = share + (100 - share) * (step + 1) // len(fg)
            yield EvaluationProgress(f"objects and boundaries of class {cid}", done, 100)

    yield EvaluationProgress("done", 100, 100)
    per_slice = None
    if len(shape) >= 3 and fg:
        sl = counts.per_slice(fg)
        dice = ratio_metrics(**sl)["dice"]
        per_slice = {cid: dice[:, i] for i, cid in enumerate(fg)}

    return EvaluationResult(
        mode=mode,
        shape=shape,
        spacing=spacing_t,
        iou_threshold=float(iou_threshold),
        classes=per_class,
        summary=_summaries(per_class, object_scores, totals, class_list),
        objects=object_scores,
        per_slice_dice=per_slice,
        notes=notes,
        unit=unit,
        errors=errors,
    )


def evaluate(prediction: Any, ground_truth: Any, **options: Any) -> EvaluationResult:
    """Score a label prediction against ground truth.

    Parameters
    ----------
    prediction, ground_truth : array-like
        Integer label arrays of the same shape (2D, 3D or more; numpy, memmap, zarr or
        dask). Voxel counts are read chunk by chunk; object, boundary and clDice scores
        load both volumes into memory (pass ``objects=False`` for volumes larger than
        memory).
    mode : {'dense', 'sparse'}
        Dense: ground truth 0 = background, k = class k. Sparse (scribbles): 0 =
        unlabeled and not scored, 1 = background, k + 1 = class k.
    spacing : sequence of float, optional
        Physical voxel size per axis for the boundary distances (default 1).
    objects : bool
        Compute object matching, HD95 / ASSD and clDice per foreground class (dense
        mode only; ``surface`` and ``centerline`` override the last two).
    classes : iterable of int, optional
        Class ids to report (default: background and every label present).
    iou_threshold : float
        Minimum IoU of an object match (default 0.5).
    instances : {'auto', 'none', 'ground_truth', 'prediction', 'both'}
        Which side holds instance labels (each object its own id): those are scored as
        one foreground class and their ids are used as the objects. ``'auto'`` (when
        ``classes`` is not given) takes the side with labels above 1 when the other
        side is binary (0/1), and both sides when both have more than
        ``MIN_INSTANCES`` labels whose ids mostly disagree where both are foreground
        (class ids mean the same on both sides; instance ids from two sources do not).
        It says so in ``result.notes``. More than ``MAX_CLASSES`` class ids without
        ``classes`` is a ValueError.
    connectivity : int
        Neighbourhood of the connected components (1 = faces).
    return_errors : bool
        Also compute the error overlay (``result.errors``, see :func:`error_map`).
    unit : str, optional
        Name of the spacing unit, for display.

    Returns
    -------
    EvaluationResult
    """
    return drain(evaluate_iter(prediction, ground_truth, **options))
