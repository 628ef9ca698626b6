"""Metrics against independent references (scipy, scikit-learn) and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from napari_unetseg.api import drain
from napari_unetseg.core import metrics as M


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def small_chunks(monkeypatch):
    """Force many chunks so the streaming path is what gets tested."""
    monkeypatch.setattr(M, "CHUNK_VOXELS", 97)


# -- connected components ---------------------------------------------------------------------
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
@pytest.mark.parametrize("shape", [(30, 40), (10, 15, 20)])
def test_boundary_is_mask_xor_erosion(rng, shape):
    mask = ndi.binary_opening(rng.random(shape) < 0.6)
    expected = mask ^ ndi.binary_erosion(mask, border_value=0)
    np.testing.assert_array_equal(M.boundary(mask), expected)


@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((40, 50), None),
        ((40, 50), (0.5, 2.0)),
        ((12, 30, 25), (3.0, 0.7, 1.1)),
        ((60,), (2.0,)),
        ((4, 5, 6, 7), (1.0, 2.0, 1.0, 0.5)),
    ],
)
@pytest.mark.parametrize("density", [0.003, 0.05, 0.5])
def test_distance_transform_equals_scipy(rng, shape, spacing, density):
    features = rng.random(shape) < density
    features.flat[rng.integers(features.size)] = True  # at least one feature
    got = M.distance_transform(features, spacing)
    ref = ndi.distance_transform_edt(~features, sampling=spacing)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_distance_transform_without_features_is_inf():
    assert np.isinf(M.distance_transform(np.zeros((3, 4), bool))).all()
    with pytest.raises(ValueError, match="one value per axis"):
        M.distance_transform(np.ones((3, 4), bool), spacing=(1.0,))


def _reference_hd95_assd(pred, gt, spacing):
    """MONAI's definition written with scipy."""
    bp = pred ^ ndi.binary_erosion(pred, border_value=0)
    bg = gt ^ ndi.binary_erosion(gt, border_value=0)
    d_pg = ndi.distance_transform_edt(~bg, sampling=spacing)[bp]
    d_gp = ndi.distance_transform_edt(~bp, sampling=spacing)[bg]
    hd95 = max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))
    assd = np.concatenate([d_pg, d_gp]).mean()
    return hd95, assd


@pytest.mark.parametrize(
    "shape, spacing",
    [((48, 64), (1.0, 1.0)), ((48, 64), (0.3, 1.7)), ((14, 24, 28), (2.5, 0.5, 0.5))],
)
def test_hd95_assd_equal_scipy_reference(rng, shape, spacing):
    base = ndi.gaussian_filter(rng.random(shape), 2)
    gt = base > np.percentile(base, 60)
    pred = ndi.binary_dilation(gt) ^ (rng.random(shape) < 0.01)
    result = M.evaluate(pred.astype(np.uint8), gt.astype(np.uint8), spacing=spacing)
    hd95, assd = _reference_hd95_assd(pred, gt, spacing)
    assert result.classes[1]["hd95"] == pytest.approx(hd95, rel=1e-12)
    assert result.classes[1]["assd"] == pytest.approx(assd, rel=1e-12)


def test_surface_distance_hand_computed_anisotropic():
    # Single voxels: every distance is the one between them, in physical units.
    gt = np.zeros((6, 6, 6), np.uint8)
    gt[1, 1, 1] = 1
    along_x, along_z = np.zeros_like(gt), np.zeros_like(gt)
    along_x[1, 1, 4] = 1
    along_z[4, 1, 1] = 1
    spacing = (2.0, 1.0, 0.5)
    r = M.evaluate(along_x, gt, spacing=spacing)
    assert r.classes[1]["hd95"] == pytest.approx(1.5)
    assert r.classes[1]["assd"] == pytest.approx(1.5)
    r = M.evaluate(along_z, gt, spacing=spacing)
    assert r.classes[1]["hd95"] == pytest.approx(6.0)
    # Two parallel 2D lines 3 rows apart (spacing 0.5 along rows): distances all 1.5.
    a, b = np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8)
    a[2, 1:11], b[5, 1:11] = 1, 1
    r = M.evaluate(a, b, spacing=(0.5, 1.0))
    assert r.classes[1]["hd95"] == pytest.approx(1.5)
    assert r.classes[1]["assd"] == pytest.approx(1.5)
    # Identical masks: zero; one side empty: infinite; both empty: not defined.
    assert M.evaluate(b, b).classes[1]["hd95"] == 0.0
    empty = np.zeros_like(b)
    r = M.evaluate(empty, b)
    assert math.isinf(r.classes[1]["hd95"]) and math.isinf(r.classes[1]["assd"])
    r = M.evaluate(empty, empty, classes=[0, 1])
    assert math.isnan(r.classes[1]["hd95"])


# -- voxel metrics ---------------------------------------------------------------------------------
def _sklearn_scores(pred, gt, labels):
    y_p, y_t = pred.ravel(), gt.ravel()
    kw = {"labels": labels, "average": None, "zero_division": np.nan}
    cm = confusion_matrix(y_t, y_p, labels=labels)
    fp = cm.sum(0) - np.diag(cm)
    tn = y_t.size - cm.sum(1) - fp
    # jaccard_score has no NaN option: mark the classes absent from both by hand
    iou = jaccard_score(y_t, y_p, labels=labels, average=None, zero_division=0)
    iou = np.where(cm.sum(0) + cm.sum(1) == 0, np.nan, iou)
    return {
        "dice": f1_score(y_t, y_p, **kw),
        "iou": iou,
        "sensitivity": recall_score(y_t, y_p, **kw),
        "precision": precision_score(y_t, y_p, **kw),
        "specificity": tn / (tn + fp),
    }


@pytest.mark.parametrize("shape", [(37, 41), (9, 17, 23)])
def test_voxel_metrics_equal_sklearn(rng, shape, small_chunks):
    gt = rng.integers(0, 4, shape)
    pred = np.where(rng.random(shape) < 0.7, gt, rng.integers(0, 4, shape))
    r = M.evaluate(pred, gt, objects=False)
    assert not r.notes  # several classes on both sides: never read as instances
    labels = [0, 1, 2, 3]
    ref = _sklearn_scores(pred, gt, labels)
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


def test_empty_classes_are_nan_never_errors():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 3, 1, 0], [0, 0, 1, 1]])
    with np.errstate(all="raise"):
        r = M.evaluate(pred, gt, classes=[0, 1, 2, 3], objects=False)
    ref = _sklearn_scores(pred, gt, [0, 1, 2, 3])
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


def test_sparse_mode_scores_only_labeled_voxels(small_chunks):
    # scribbles: 0 unlabeled, 1 background, 2 = class 1, 3 = class 2
    gt = np.array([[0, 1, 1, 2, 2, 0], [3, 3, 0, 0, 2, 1]])
    pred = np.array([[2, 0, 1, 1, 1, 1], [2, 1, 2, 2, 0, 0]])
    r = M.evaluate(pred, gt, mode="sparse")
    labeled = gt > 0
    ref = _sklearn_scores(pred[labeled], gt[labeled] - 1, [0, 1, 2])
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


def test_float_and_negative_labels_and_shapes():
    with pytest.raises(ValueError, match="fractional"):
        M.evaluate(np.full((4, 4), 0.5), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="negative"):
        M.evaluate(np.full((4, 4), -1), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\).*must match") as err:
        M.evaluate(np.zeros((4, 4), int), np.zeros((4, 5), int))
    assert str(err.value).count(".") == 1  # one sentence
    with pytest.raises(ValueError, match="mode"):
        M.evaluate(np.zeros((4, 4), int), np.zeros((4, 4), int), mode="scribble")
    # integral floats (labels saved as float32 TIFF) are fine
    r = M.evaluate(np.ones((4, 4), np.float32), np.ones((4, 4), np.uint8))
    assert r.classes[1]["dice"] == 1.0


# -- objects ------------------------------------------------------------------------------------
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


def test_instance_ground_truth_is_detected_and_used():
    gt = np.zeros((10, 20), np.int32)
    gt[2:6, 2:6], gt[2:6, 6:10] = 1, 2  # touching instances: one component, two objects
    gt[2:6, 14:18] = 3
    pred = (gt > 0).astype(np.uint8)
    r = M.evaluate(pred, gt)
    assert list(r.classes) == [0, 1] and r.classes[1]["dice"] == 1.0
    assert r.objects[1]["n_gt"] == 3 and r.objects[1]["n_pred"] == 2
    assert r.objects[1]["merged"] == 1 and any("instances" in n for n in r.notes)
    r = M.evaluate(pred, gt, instances="none")
    assert list(r.classes) == [0, 1, 2, 3]
    r = M.evaluate(gt, pred)  # instance prediction, binary ground truth
    assert r.objects[1]["n_pred"] == 3 and r.objects[1]["split"] == 1
    with pytest.raises(ValueError, match="instances"):
        M.evaluate(pred, gt, instances="maybe")


# -- clDice -------------------------------------------------------------------------------------
def test_soft_skeleton_of_lines_and_bars():
    line = np.zeros((9, 20), bool)
    line[4, 2:18] = True
    np.testing.assert_array_equal(M.soft_skeleton(line), line)
    bar = np.zeros((15, 40), bool)
    bar[4:11, 5:35] = True  # 7 pixels thick
    skel = M.soft_skeleton(bar)
    assert (skel <= bar).all()
    assert skel[7, 8:32].all()  # the center line
    assert not skel[4:6, 8:32].any() and not skel[9:11, 8:32].any()
    cube = np.zeros((9, 9, 9), bool)
    cube[2:7, 2:7, 2:7] = True
    assert M.soft_skeleton(cube)[4, 4, 4] and M.soft_skeleton(cube).sum() < cube.sum() / 2


def test_cldice_penalizes_broken_vessels_more_than_dice():
    vessel = np.zeros((32, 64), np.uint8)
    vessel[14:17, 2:62] = 1
    vessel[3:30, 30:33] = 1
    broken = vessel.copy()
    broken[14:17, 10:14] = 0
    broken[5:9, 30:33] = 0
    gt_sk = M.soft_skeleton(vessel)
    r = M.evaluate(broken, vessel)
    assert r.classes[1]["cldice"] < r.classes[1]["dice"]
    # hand: prediction keeps all its own skeleton inside the vessel (precision 1);
    # sensitivity is the share of the vessel's skeleton the prediction still covers
    tsens = (gt_sk & (broken > 0)).sum() / gt_sk.sum()
    assert r.classes[1]["cldice"] == pytest.approx(2 * tsens / (1 + tsens))
    assert M.cldice(vessel, vessel) == 1.0
    assert M.cldice(vessel, np.zeros_like(vessel)) == 0.0
    assert math.isnan(M.cldice(np.zeros_like(vessel), np.zeros_like(vessel)))


def test_cldice_close_to_skimage_skeleton_version():
    from skimage.morphology import skeletonize

    yy, xx = np.mgrid[:96, :96]
    vessel = (np.abs(yy - 48 - 20 * np.sin(xx / 15)) < 2.5) | (np.abs(xx - 60) < 2)
    pred = np.roll(vessel, 1, axis=0) & ~((xx > 20) & (xx < 26))
    tprec = (skeletonize(pred) & vessel).sum() / skeletonize(pred).sum()
    tsens = (skeletonize(vessel) & pred).sum() / skeletonize(vessel).sum()
    reference = 2 * tprec * tsens / (tprec + tsens)
    assert M.cldice(pred, vessel) == pytest.approx(reference, abs=0.05)


# -- per slice, error map, result object ----------------------------------------------------------
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
    only2 = M.error_map(np.array([[2, 0, 1]]), np.array([[1, 1, 0]]), classes=[2])
    np.testing.assert_array_equal(only2, [[1, 0, 0]])


def test_result_serialization(rng):
    gt = np.zeros((2, 16, 16), np.uint8)
    gt[:, 4:10, 4:10] = 1
    pred = np.roll(gt, 2, axis=2)
    r = M.evaluate(pred, gt, spacing=(4.0, 0.5, 0.5), unit="µm", classes=[0, 1, 2])
    d = r.to_json_dict()
    text = json.dumps(d, allow_nan=False)  # NaN (class 2 is empty) became null
    assert json.loads(text)["classes"]["2"]["dice"] is None
    assert set(d["classes"]["1"]) >= {
        "dice",
        "iou",
        "sensitivity",
        "specificity",
        "precision",
        "hd95",
        "assd",
        "cldice",
    }
    assert d["objects"]["1"]["tp"] == 1 and d["spacing"] == [4.0, 0.5, 0.5]
    df = r.to_dataframe()
    assert list(df.columns) == list(M.COLUMNS)
    assert df.loc[df["class"] == "1", "dice"].item() == pytest.approx(r.classes[1]["dice"])
    assert len(df) == 3 + 3  # classes + summary rows
    table = r.table()
    assert "HD95 [µm]" in table and "mean (foreground)" in table and r.summary_line() in table


def test_evaluate_iter_reports_progress():
    gt = np.zeros((4, 8, 8), np.uint8)
    gt[:, 2:5, 2:5] = 1
    records = []
    result = drain(M.evaluate_iter(gt, gt), records.append)
    assert records[-1].done == records[-1].total
    assert {r.stage for r in records} >= {"counting voxels"}
    assert result.classes[1]["dice"] == 1.0


def test_two_instance_masks_are_detected_by_disagreeing_ids(rng):
    gt = np.zeros((40, 60), np.int32)
    for i in range(8):  # eight separate squares, ids 1..8
        r, c = divmod(i, 4)
        gt[2 + 18 * r : 14 + 18 * r, 2 + 14 * c : 12 + 14 * c] = i + 1
    shuffled = np.r_[0, rng.permutation(np.arange(20, 28))]  # same objects, other ids
    pred = shuffled[gt]
    r = M.evaluate(pred, gt)
    assert list(r.classes) == [0, 1] and r.classes[1]["dice"] == 1.0
    assert r.objects[1]["tp"] == 8 and any("rarely agree" in n for n in r.notes)
    # a poor multi-class prediction with few classes is still scored per class
    sem = rng.integers(0, 4, (20, 20))
    assert list(M.evaluate(rng.integers(0, 4, (20, 20)), sem, objects=False).classes) == [
        0,
        1,
        2,
        3,
    ]


def test_too_many_labels_need_instances_or_classes(rng):
    gt = rng.integers(0, 3, (30, 30))
    pred = gt.copy()
    pred[0, 0] = 5000
    with pytest.raises(ValueError, match="up to 5000, too many"):
        M.evaluate(pred, gt, objects=False)
    # listed classes: other labels only count as "not this class"
    r = M.evaluate(pred, gt, classes=[1, 2], objects=False)
    ref = _sklearn_scores(pred, gt, [1, 2])
    np.testing.assert_allclose([r.classes[c]["dice"] for c in (1, 2)], ref["dice"])
    np.testing.assert_allclose([r.classes[c]["specificity"] for c in (1, 2)], ref["specificity"])


def test_per_slice_counts_stay_within_the_bin_budget(rng, monkeypatch):
    gt = rng.integers(0, 6, (40, 3, 4))
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 6, gt.shape))
    ref = M.evaluate(pred, gt, objects=False, instances="none")
    monkeypatch.setattr(M, "_MAX_BINS", 13)  # two slices of 6 labels per bincount
    got = M.evaluate(pred, gt, objects=False, instances="none")
    assert got.classes == ref.classes
    for c in range(1, 6):
        np.testing.assert_array_equal(got.per_slice_dice[c], ref.per_slice_dice[c])


def test_sparse_with_an_instance_prediction():
    scribbles = np.zeros((12, 12), np.uint8)
    scribbles[0] = 1  # background
    scribbles[3:5, 2:10] = 2  # class 1
    pred = np.zeros((12, 12), np.int32)
    pred[2:6, 1:6], pred[2:6, 6:11] = 7, 9  # split touching: instance ids
    r = M.evaluate(pred, scribbles, mode="sparse")
    assert r.classes[1]["dice"] == 1.0 and any("instances" in n for n in r.notes)
    with pytest.raises(ValueError, match="Scribbles"):
        M.evaluate(pred, scribbles, mode="sparse", instances="both")
