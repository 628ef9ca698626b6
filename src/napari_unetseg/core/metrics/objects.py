"""Objects: connected components and one-to-one matching of objects at an IoU threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, optimize, sparse
from scipy.sparse import csgraph

from .columns import OBJECT_METRICS
from .counting import ratio


def label_components(mask: Any, connectivity: int = 1) -> tuple[np.ndarray, int]:
    """Connected components of a boolean mask, in any dimension (``scipy.ndimage.label``).

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
        voxel.
    n : int
        Number of components.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 0:
        mask = mask.reshape(1)
    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(f"connectivity must be between 1 and {mask.ndim}, got {connectivity}.")
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    labels, n = ndimage.label(mask, structure, output=np.int32)
    return labels, int(n)


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
    """Relabel instance ids to 1..n (0 stays background), as int32 when n allows: the
    int64 copies this made were the largest part of an evaluation's memory."""
    if instances.dtype.kind not in "iu" or instances.dtype == np.uint64:
        instances = instances.astype(np.int64)
    top = int(instances.max(initial=0))
    if top <= max(instances.size, 1 << 16):
        present = _bincount(instances.ravel(), top + 1) > 0
        present[0] = False
        lut = np.cumsum(present)
        n = int(lut[-1])
        return lut.astype(np.int32 if n < 2**31 else np.int64)[instances], n
    ids, inverse = np.unique(instances, return_inverse=True)
    inverse = inverse.reshape(instances.shape)
    if ids[0] != 0:
        inverse = inverse + 1
    return inverse, int((ids != 0).sum())


#: Values counted at a time by :func:`_bincount`.
_COUNT_CHUNK = 1 << 22


def _bincount(values: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(values, minlength=length)`` a chunk at a time: numpy makes an int64
    copy of int32 labels to count them, 8 bytes a voxel of the whole image at once."""
    counts = np.zeros(length, dtype=np.int64)
    for start in range(0, values.size, _COUNT_CHUNK):
        counts += np.bincount(values[start : start + _COUNT_CHUNK], minlength=length)
    return counts


def _overlaps(
    g: np.ndarray, p: np.ndarray, n_gt: int, n_pred: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every overlapping (gt, pred) pair: ids, intersection, IoU; and the object areas."""
    area_g = _bincount(g, n_gt + 1)
    area_p = _bincount(p, n_pred + 1)
    both = (g > 0) & (p > 0)
    codes = g[both].astype(np.int64) * (n_pred + 1) + p[both]
    if (n_gt + 1) * (n_pred + 1) <= 1 << 24:
        inter = np.bincount(codes, minlength=(n_gt + 1) * (n_pred + 1))
        pair = np.flatnonzero(inter)
        inter = inter[pair]
    else:
        pair, inter = np.unique(codes, return_counts=True)
    gi, pi = pair // (n_pred + 1), pair % (n_pred + 1)
    iou = inter / (area_g[gi] + area_p[pi] - inter)
    return gi, pi, inter, iou, area_g, area_p


def _one_to_one(
    gi: np.ndarray, pi: np.ndarray, iou: np.ndarray, n_gt: int, n_pred: int, threshold: float
) -> np.ndarray:
    """Pairs (indices into the overlap arrays) at IoU >= ``threshold`` matched one to
    one: the most pairs, then the largest IoU sum among them (as stardist's matching).
    Above 0.5 each object has at most one such pair; below, the candidate pairs fall
    into groups of objects joined by them, each assigned on its own (taken greedily by
    IoU, a 0.5 pair kept two 0.33 pairs from matching: F1 0.5 for 1.0; metrics bash)."""
    cand = np.flatnonzero(iou >= threshold)
    if threshold > 0.5 or cand.size == 0:
        return cand
    g_of, p_of = gi[cand], pi[cand]
    graph = sparse.coo_matrix(
        (np.ones(cand.size), (g_of, n_gt + 1 + p_of)), shape=(n_gt + n_pred + 2,) * 2
    )
    _, group = csgraph.connected_components(graph, directed=False)
    sizes = np.bincount(group[g_of])
    matched = [cand[sizes[group[g_of]] == 1]]  # a pair alone: matched
    shared = np.flatnonzero(sizes[group[g_of]] > 1)
    order = shared[np.argsort(group[g_of[shared]], kind="stable")]
    for members in np.split(order, _starts(group[g_of[order]])) if order.size else []:
        gs, g_at = np.unique(g_of[members], return_inverse=True)
        ps, p_at = np.unique(p_of[members], return_inverse=True)
        k = min(len(gs), len(ps))
        cost = np.zeros((len(gs), len(ps)))
        cost[g_at, p_at] = -1.0 - iou[cand[members]] / (2 * k)  # count first, then IoU
        pick = np.full(cost.shape, -1, dtype=np.int64)
        pick[g_at, p_at] = cand[members]
        rows, cols = optimize.linear_sum_assignment(cost)
        chosen = pick[rows, cols]
        matched.append(chosen[chosen >= 0])
    return np.sort(np.concatenate(matched)).astype(np.int64)


def _starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins in a sorted array (after the first)."""
    return np.flatnonzero(values[1:] != values[:-1]) + 1


def match_objects(gt_instances: Any, pred_instances: Any, threshold: float = 0.5) -> ObjectScores:
    """Match ground-truth and predicted objects one-to-one at IoU >= ``threshold``.

    Parameters
    ----------
    gt_instances, pred_instances : array-like of int
        Instance labels (0 = background, any positive ids).
    threshold : float
        Minimum IoU of a match. Above 0.5 an object can overlap at most one other by
        that much, so the matching is unique; at 0.5 and below, the pairs are chosen to
        match the most objects, then the largest IoU sum (as stardist's ``matching``).
        A pair at exactly 0.5 is a match, as in stardist; panoptic quality as Kirillov
        et al. define it takes pairs above 0.5 only (give a threshold a little above).

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
    g, n_gt = _consecutive(np.asarray(gt_instances))
    p, n_pred = _consecutive(np.asarray(pred_instances))
    gi, pi, inter, iou, area_g, area_p = _overlaps(g.ravel(), p.ravel(), n_gt, n_pred)
    matched = _one_to_one(gi, pi, iou, n_gt, n_pred, threshold)
    merged = np.bincount(pi[inter > 0.5 * area_g[gi]], minlength=n_pred + 1)
    split = np.bincount(gi[inter > 0.5 * area_p[pi]], minlength=n_gt + 1)
    matches = np.stack([gi[matched], pi[matched], iou[matched]], axis=1)
    return _scores(n_gt, n_pred, int((split >= 2).sum()), int((merged >= 2).sum()), matches)


def _scores(n_gt: int, n_pred: int, split: int, merged: int, matches: np.ndarray) -> ObjectScores:
    """Object scores from the object counts and the matched pairs (gt, pred, IoU)."""
    tp = len(matches)
    fp, fn = n_pred - tp, n_gt - tp
    iou_sum = float(matches[:, 2].sum()) if tp else 0.0
    return ObjectScores(
        n_gt=n_gt,
        n_pred=n_pred,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=ratio(tp, n_pred),
        recall=ratio(tp, n_gt),
        f1=ratio(2 * tp, 2 * tp + fp + fn),
        mean_iou=ratio(iou_sum, tp),
        pq=ratio(iou_sum, tp + 0.5 * fp + 0.5 * fn),
        split=split,
        merged=merged,
        matches=matches if tp else np.empty((0, 3)),
    )


def combine_scores(parts: list[ObjectScores]) -> ObjectScores:
    """The object scores of several independent images (the time points of a series),
    as one: counts summed, the ratios taken from the sums, the mean IoU and panoptic
    quality from all matched pairs. ``matches`` stacks the parts' rows (ids in each
    part's own numbering)."""
    return _scores(
        sum(p.n_gt for p in parts),
        sum(p.n_pred for p in parts),
        sum(p.split for p in parts),
        sum(p.merged for p in parts),
        np.concatenate([np.empty((0, 3)), *(p.matches for p in parts)]),
    )
