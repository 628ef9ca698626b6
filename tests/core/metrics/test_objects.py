"""Connected components (scipy) and object matching against an optimal assignment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from napari_unetseg.core import metrics as M


@pytest.mark.parametrize(
    "shape, connectivity",
    [
        ((64, 80), 1),
        ((64, 80), 2),
        ((12, 20, 24), 1),
        ((12, 20, 24), 2),
        ((12, 20, 24), 3),
        ((5, 6, 7, 8), 1),
        ((50,), 1),
    ],
)
@pytest.mark.parametrize("density", [0.3, 0.55])
def test_label_components_equals_scipy(rng, shape, connectivity, density):
    mask = rng.random(shape) < density
    labels, n = M.label_components(mask, connectivity)
    ref, n_ref = ndi.label(mask, ndi.generate_binary_structure(mask.ndim, connectivity))
    assert n == n_ref
    np.testing.assert_array_equal(
        labels, ref
    )  # same numbering (raster order), not just same partition


def test_label_components_long_spiral_and_edge_cases():
    # A one-pixel spiral is the worst case for label propagation: one long chain.
    mask = np.zeros((41, 41), bool)
    lo, hi = 0, 40
    while lo <= hi:
        mask[lo, lo : hi + 1] = mask[lo : hi + 1, hi] = True
        mask[hi, lo : hi + 1] = True
        mask[lo + 2 : hi + 1, lo] = True
        lo, hi = lo + 2, hi - 2
    labels, n = M.label_components(mask)
    ref, n_ref = ndi.label(mask)
    assert n == n_ref
    np.testing.assert_array_equal(labels, ref)
    assert M.label_components(np.zeros((4, 5), bool))[1] == 0
    full, n = M.label_components(np.ones((3, 4, 5), bool))
    assert n == 1 and (full == 1).all()
    with pytest.raises(ValueError, match="connectivity"):
        M.label_components(np.ones((3, 3), bool), connectivity=3)


# -- boundaries and distances -----------------------------------------------------------------


def test_objects_hand_computed_split_merge_pq():
    gt = np.zeros((20, 40), np.int32)
    gt[2:8, 2:8] = 1  # matched exactly
    gt[2:8, 12:24] = 2  # split into three pieces (each IoU 1/3)
    gt[12:16, 2:6] = 3  # merged with object 4 into one prediction
    gt[12:16, 8:12] = 4
    gt[12:16, 30:34] = 5  # missed
    pred = np.zeros_like(gt)
    pred[2:8, 2:8] = 1
    pred[2:8, 12:16], pred[2:8, 16:20], pred[2:8, 20:24] = 2, 3, 4
    pred[12:16, 2:12] = 5  # covers 3, 4 and the gap between them
    pred[17:19, 30:38] = 6  # false positive
    s = M.match_objects(gt, pred)
    assert (s.n_gt, s.n_pred, s.tp, s.fp, s.fn) == (5, 6, 1, 5, 4)
    assert s.split == 1 and s.merged == 1
    assert s.f1 == pytest.approx(2 / (2 + 5 + 4))
    assert s.mean_iou == 1.0 and s.pq == pytest.approx(1 / (1 + 2.5 + 2))
    # at IoU 0.3 the merged prediction matches one of its objects (IoU 16/40) and one
    # piece of the split object matches it (IoU 24/72)
    assert M.match_objects(gt, pred, threshold=0.3).tp == 3


def _reference_matching(gt, pred, thr):
    ng, npred = gt.max(), pred.max()
    iou = np.zeros((ng, npred))
    for i in range(1, ng + 1):
        for j in range(1, npred + 1):
            inter = ((gt == i) & (pred == j)).sum()
            iou[i - 1, j - 1] = inter / ((gt == i) | (pred == j)).sum()
    cost = np.where(iou >= thr, iou, 0)
    r, c = linear_sum_assignment(-cost)
    ok = cost[r, c] >= thr
    return ok.sum(), cost[r, c][ok].sum()


@pytest.mark.parametrize("ndim", [2, 3])
def test_object_matching_equals_optimal_assignment(rng, ndim):
    shape = (40, 48) if ndim == 2 else (12, 24, 24)
    blobs = ndi.gaussian_filter(rng.random(shape), 1.5)
    gt, _ = ndi.label(blobs > np.percentile(blobs, 75))
    moved = np.roll(gt > 0, 1, axis=-1) ^ (rng.random(shape) < 0.03)
    pred, _ = ndi.label(moved)
    s = M.match_objects(gt, pred, 0.5)
    tp, iou_sum = _reference_matching(gt, pred, 0.5)
    assert s.tp == tp and s.tp > 0
    assert s.mean_iou * s.tp == pytest.approx(iou_sum)
    # evaluate() finds the same objects by itself (connected components of each class)
    r = M.evaluate((pred > 0).astype(np.uint8), (gt > 0).astype(np.uint8), instances="none")
    assert r.objects[1]["n_gt"] == gt.max() and r.objects[1]["tp"] == tp


def _most_matches(gt: np.ndarray, pred: np.ndarray, thr: float) -> tuple[int, float]:
    """An assignment on the dense IoU matrix, as stardist's matching: the most pairs at
    IoU >= thr, then the largest IoU sum of those pairs (stardist adds the IoU of pairs
    below thr to its tie-break, which can pick a lower sum of the kept ones)."""
    ng, npred = int(gt.max()), int(pred.max())
    inter = np.zeros((ng + 1, npred + 1))
    np.add.at(inter, (gt.ravel(), pred.ravel()), 1)
    area_g, area_p = inter.sum(1), inter.sum(0)
    iou = (inter / (area_g[:, None] + area_p[None] - inter))[1:, 1:]
    k = max(1, min(ng, npred))
    kept = iou >= thr
    r, c = linear_sum_assignment(-kept.astype(float) - np.where(kept, iou, 0) / (2 * k))
    ok = iou[r, c] >= thr
    return int(ok.sum()), float(iou[r, c][ok].sum())


def test_matching_below_half_takes_the_most_pairs():
    """Greedy by IoU, a 0.5 pair kept two 0.33 pairs from matching: at --iou-threshold
    0.3 F1 read 0.5 for 1.0 (metrics bash)."""
    gt = np.array([[0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0]])
    pred = np.array([[0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 0, 0]])
    s = M.match_objects(gt, pred, 0.3)
    assert (s.tp, s.fp, s.fn, s.f1) == (2, 0, 0, 1.0)
    assert s.pq == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert M.match_objects(gt, pred, 0.5).tp == 1  # only the 0.5 pair qualifies


@pytest.mark.parametrize("thr", [0.1, 0.3, 0.5])
def test_matching_at_low_thresholds_equals_stardist(rng, thr):
    """Touching, shifted, split and merged objects: as many matches and the same IoU
    sum as stardist's assignment on the dense matrix, at every low threshold."""
    for _ in range(12):
        blobs = ndi.gaussian_filter(rng.random((48, 48)), 1.2)
        gt, _ = ndi.label(blobs > np.percentile(blobs, 60))
        noisy = ndi.gaussian_filter(blobs + 0.05 * rng.random(blobs.shape), 1.0)
        pred, _ = ndi.label(np.roll(noisy > np.percentile(noisy, 55), 2, axis=0))
        s = M.match_objects(gt, pred, thr)
        tp, iou_sum = _most_matches(gt, pred, thr)
        assert s.tp == tp
        assert (s.mean_iou * s.tp if tp else 0.0) == pytest.approx(iou_sum)
