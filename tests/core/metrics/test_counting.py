"""Voxel scores against scikit-learn and hand-computed cases; streaming; the error overlay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, recall_score

from napari_unetseg.core import metrics as M
from napari_unetseg.core.metrics import counting


@pytest.mark.parametrize("shape", [(37, 41), (9, 17, 23)])
def test_voxel_metrics_equal_sklearn(rng, shape, small_chunks, sklearn_scores):
    gt = rng.integers(0, 4, shape)
    pred = np.where(rng.random(shape) < 0.7, gt, rng.integers(0, 4, shape))
    r = M.evaluate(pred, gt, objects=False)
    assert not r.notes  # several classes on both sides: never read as instances
    labels = [0, 1, 2, 3]
    ref = sklearn_scores(pred, gt, labels)
    for key, values in ref.items():
        got = [r.classes[c][key] for c in labels]
        np.testing.assert_allclose(got, values, rtol=1e-12, err_msg=key)
    fg = [1, 2, 3]
    micro = r.summary["micro_foreground"]
    assert micro["dice"] == pytest.approx(
        f1_score(gt.ravel(), pred.ravel(), labels=fg, average="micro")
    )
    assert micro["sensitivity"] == pytest.approx(
        recall_score(gt.ravel(), pred.ravel(), labels=fg, average="micro")
    )
    assert r.summary["macro_foreground"]["dice"] == pytest.approx(
        f1_score(gt.ravel(), pred.ravel(), labels=fg, average="macro")
    )
    assert r.summary["macro"]["iou"] == pytest.approx(
        jaccard_score(gt.ravel(), pred.ravel(), labels=labels, average="macro")
    )
    assert r.classes[2]["accuracy"] == pytest.approx(((pred == 2) == (gt == 2)).mean())


def test_empty_classes_are_nan_never_errors(sklearn_scores):
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 3, 1, 0], [0, 0, 1, 1]])
    with np.errstate(all="raise"):
        r = M.evaluate(pred, gt, classes=[0, 1, 2, 3], objects=False, instances="none")
    ref = sklearn_scores(pred, gt, [0, 1, 2, 3])
    for key, values in ref.items():
        np.testing.assert_allclose([r.classes[c][key] for c in range(4)], values, err_msg=key)
    # class 2: absent from both -> NaN; class 3: predicted only -> Dice 0, recall undefined.
    assert math.isnan(r.classes[2]["dice"]) and math.isnan(r.classes[2]["iou"])
    assert r.classes[3]["dice"] == 0 and math.isnan(r.classes[3]["sensitivity"])
    assert r.classes[3]["precision"] == 0
    # means skip NaN: the foreground mean is over classes 1 and 3 only
    assert r.summary["macro_foreground"]["dice"] == pytest.approx((r.classes[1]["dice"] + 0) / 2)
    assert "n/a" in r.table()


def test_hand_computed_dense_counts():
    gt = np.array([[1, 1, 0], [1, 0, 0]])
    pred = np.array([[1, 0, 0], [1, 1, 1]])
    c = M.confusion_counts(pred, gt, classes=[1])
    assert (c["tp"][0], c["fp"][0], c["fn"][0], c["tn"][0]) == (2, 2, 1, 1)
    r = M.evaluate(pred, gt, objects=False)
    assert r.classes[1]["dice"] == pytest.approx(4 / 7)
    assert r.classes[1]["iou"] == pytest.approx(2 / 5)
    assert r.classes[1]["specificity"] == pytest.approx(1 / 3)
    assert r.classes[1]["accuracy"] == pytest.approx(3 / 6)


def test_sparse_mode_scores_only_labeled_voxels(small_chunks, sklearn_scores):
    # scribbles: 0 unlabeled, 1 background, 2 = class 1, 3 = class 2
    gt = np.array([[0, 1, 1, 2, 2, 0], [3, 3, 0, 0, 2, 1]])
    pred = np.array([[2, 0, 1, 1, 1, 1], [2, 1, 2, 2, 0, 0]])
    r = M.evaluate(pred, gt, mode="sparse")
    labeled = gt > 0
    ref = sklearn_scores(pred[labeled], gt[labeled] - 1, [0, 1, 2])
    for key, values in ref.items():
        np.testing.assert_allclose([r.classes[c][key] for c in range(3)], values, err_msg=key)
    assert r.classes[1]["tp"] == 2 and r.classes[1]["fp"] == 2 and r.classes[1]["fn"] == 1
    assert not r.objects and any("Scribbles" in n for n in r.notes)
    nothing = M.evaluate(pred, np.zeros_like(gt), mode="sparse")
    assert math.isnan(nothing.summary["macro"]["dice"])
    assert any("no labeled voxels" in n for n in nothing.notes)


def test_streaming_reads_slabs_of_any_array_type(rng, small_chunks, tmp_path):
    import dask.array as da
    import zarr

    gt = rng.integers(0, 3, (20, 16, 12)).astype(np.uint16)
    pred = np.where(rng.random(gt.shape) < 0.8, gt, 0).astype(np.uint16)
    ref = M.evaluate(pred, gt, objects=False)

    mm = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.uint16, shape=gt.shape)
    mm[:] = pred
    z = zarr.open_array(
        str(tmp_path / "g.zarr"), mode="w", shape=gt.shape, chunks=(4, 16, 12), dtype=np.uint16
    )
    z[:] = gt

    class Recorder:
        """An array that refuses to be read whole and records slab sizes."""

        def __init__(self, data):
            self.data, self.shape, self.dtype, self.reads = data, data.shape, data.dtype, []

        def __getitem__(self, index):
            out = np.asarray(self.data[index])
            self.reads.append(out.size)
            return out

        def __array__(self, *args, **kwargs):
            raise AssertionError("read whole")

    rec = Recorder(z)
    for p, g in [(mm, rec), (da.from_array(pred, chunks=(5, 8, 12)), da.from_array(gt))]:
        got = M.evaluate(p, g, objects=False)
        assert got.classes == ref.classes
    # one slice at a time (a slice is the smallest slab), never the whole volume
    assert max(rec.reads) == 16 * 12 and sum(rec.reads) >= gt.size


def test_per_slice_dice_3d(small_chunks):
    gt = np.zeros((3, 4, 4), np.uint8)
    pred = np.zeros_like(gt)
    gt[0, :2], pred[0, :2] = 1, 1  # perfect
    gt[2, :2], pred[2, 1:3] = 1, 1  # half
    r = M.evaluate(pred, gt)
    d = r.per_slice_dice[1]
    assert d[0] == 1.0 and math.isnan(d[1]) and d[2] == pytest.approx(0.5)
    assert M.evaluate(pred[0], gt[0]).per_slice_dice is None


def test_error_map_marks_exactly_fp_and_fn(rng, small_chunks):
    gt = rng.integers(0, 2, (6, 9, 11))
    pred = rng.integers(0, 2, gt.shape)
    err = M.error_map(pred, gt)
    np.testing.assert_array_equal(err == 1, (pred == 1) & (gt == 0))
    np.testing.assert_array_equal(err == 2, (pred == 0) & (gt == 1))
    assert set(np.unique(err)) <= {0, 1, 2}
    r = M.evaluate(pred, gt, return_errors=True, objects=False)
    np.testing.assert_array_equal(r.errors, err)
    # several classes: a wrong class is both, 3; sparse: unlabeled voxels are never errors
    multi = M.error_map(np.array([[2, 0, 1]]), np.array([[1, 1, 0]]), instances="none")
    np.testing.assert_array_equal(multi, [[3, 2, 1]])
    sparse = M.error_map(np.array([[1, 1, 0, 0]]), np.array([[0, 1, 2, 0]]), mode="sparse")
    np.testing.assert_array_equal(sparse, [[0, 1, 2, 0]])
    only2 = M.error_map(
        np.array([[2, 0, 1]]), np.array([[1, 1, 0]]), classes=[2], instances="none"
    )
    np.testing.assert_array_equal(only2, [[1, 0, 0]])


def test_per_slice_counts_stay_within_the_bin_budget(rng, monkeypatch):
    gt = rng.integers(0, 6, (40, 3, 4))
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 6, gt.shape))
    ref = M.evaluate(pred, gt, objects=False, instances="none")
    monkeypatch.setattr(counting, "MAX_BINS", 13)  # two slices of 6 labels per bincount
    got = M.evaluate(pred, gt, objects=False, instances="none")
    assert got.classes == ref.classes
    for c in range(1, 6):
        np.testing.assert_array_equal(got.per_slice_dice[c], ref.per_slice_dice[c])
