"""evaluate_iter follows the generator protocol: progress records, then the result."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg.api import drain
from napari_unetseg.core import metrics as M


def test_evaluate_iter_reports_progress():
    gt = np.zeros((4, 8, 8), np.uint8)
    gt[:, 2:5, 2:5] = 1
    records = []
    result = drain(M.evaluate_iter(gt, gt), records.append)
    assert records[-1].done == records[-1].total
    assert {r.stage for r in records} >= {"counting voxels"}
    assert result.classes[1]["dice"] == 1.0
    # each class moves the bar three times (a volume's class was one step of minutes)
    stages = [r.stage for r in records if r.stage.endswith("of class 1")]
    assert stages == [
        "objects of class 1",
        "boundary distances of class 1",
        "centerlines of class 1",
    ]
    dones = [r.done for r in records]
    assert dones == sorted(dones)


def test_each_class_is_scored_in_its_own_box():
    """Objects, distances and centerlines of a class are computed in the box of its
    voxels: the same scores as in the whole array, where the class lies elsewhere."""
    gt = np.zeros((40, 50), np.uint8)
    gt[5:12, 6:15] = 1
    gt[30:36, 35:47] = 2
    pred = np.roll(gt, 1, axis=1)
    padded = np.pad(gt, 20), np.pad(pred, 20)
    a, b = M.evaluate(pred, gt), M.evaluate(padded[1], padded[0])
    for cid in (1, 2):
        for key in ("dice", "hd95", "assd", "cldice"):
            assert a.classes[cid][key] == pytest.approx(b.classes[cid][key]), key
        assert a.objects[cid] == pytest.approx(b.objects[cid])


def _series(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A time series (T, Y, X) of two classes whose objects move, and a prediction that
    misses or shifts some of them."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((5, 40, 48), np.uint8)
    for t in range(5):
        gt[t, 4:14, 3 + 4 * t : 13 + 4 * t] = 1  # moves right: one object across time
        gt[t, 24:34, 30:40] = 2
        gt[t, 26 + t % 2 : 30, 6 : 9 + t] = 1
    pred = np.roll(gt, 1, axis=2)
    pred[3][pred[3] == 2] = 0  # class 2 missed in one frame
    pred[rng.random(gt.shape) < 0.01] = 1
    return pred, gt


def test_a_time_series_is_scored_frame_by_frame():
    """With ``time_axis`` the objects, distances and clDice are those of the frames laid
    side by side in one plane, far apart (each frame measured on its own, pooled):
    an object in five frames counts five times, no distance runs across time."""
    pred, gt = _series()
    spacing = (60.0, 0.5, 0.25)  # the time step must not enter any distance
    result = M.evaluate(pred, gt, spacing=spacing, time_axis=0, instances="none")
    gap = np.zeros((40, 200), np.uint8)  # wider than any distance inside a frame
    side = [np.concatenate([np.concatenate([a[t], gap], axis=1) for t in range(5)], axis=1)
            for a in (pred, gt)]  # fmt: skip
    reference = M.evaluate(*side, spacing=spacing[1:], instances="none")
    for cid in (1, 2):
        assert result.objects[cid] == reference.objects[cid], cid
        for key in ("dice", "iou", "tp", "fp", "fn"):  # voxel scores: the same voxels
            assert result.classes[cid][key] == reference.classes[cid][key], (cid, key)
    for key in ("hd95", "assd", "cldice"):  # class 1 is in every frame on both sides
        assert result.classes[1][key] == pytest.approx(reference.classes[1][key]), key
    # class 2 is missed in frame 3: no distance there (side by side, it was measured to
    # the other frames' class 2), and clDice pools the frames' skeletons as one plane
    assert result.classes[2]["assd"] == np.inf
    assert (  # and says which frame made it so (the table read "inf" alone)
        "Class 2's HD95 and ASSD are infinite: time point 3 has it only in the ground truth "
        "(no boundary on the other side to measure from)." in result.notes
    )
    assert not any("Class 1's HD95" in note for note in result.notes)
    assert result.classes[2]["cldice"] == pytest.approx(reference.classes[2]["cldice"])
    assert result.objects[2]["n_gt"] == 5 and result.objects[2]["fn"] == 1
    assert result.time_axis == 0 and result.to_dict()["time_axis"] == 0
    assert any("each time point (axis 0)" in note for note in result.notes)
    # across time (no time_axis), the moving object is one object in 3D
    across = M.evaluate(pred, gt, spacing=spacing, instances="none")
    assert across.objects[2]["n_gt"] == 1 and across.time_axis is None
    assert result.classes[1]["dice"] == across.classes[1]["dice"]


def test_each_slice_or_time_point_has_its_own_rows():
    """A time series' table and CSV had only the pooled rows (time-lapse bash): the
    scores of each time point (or slice) and class, from that slice's voxels alone."""
    gt = np.zeros((3, 20, 20), np.uint8)
    gt[:, 5:15, 5:15] = 1
    gt[:, 0:3, 0:3] = 2
    pred = gt.copy()
    pred[1] = 0  # a lost frame
    pred[2, 5:15, 5:10] = 0  # half the object
    series = M.evaluate(pred, gt, time_axis=0)
    rows = series.slice_rows({1: "nucleus"})
    assert series.slice_column == "time_point" and len(rows) == 6  # 3 frames x 2 classes
    assert [(r["time_point"], r["class"]) for r in rows[:2]] == [(0, "1 (nucleus)"), (0, "2")]
    one = {(r["time_point"], r["class"]): r for r in rows}
    assert one[0, "1 (nucleus)"]["dice"] == 1.0 and one[1, "1 (nucleus)"]["dice"] == 0.0
    assert one[2, "1 (nucleus)"]["dice"] == pytest.approx(2 / 3)
    assert one[2, "1 (nucleus)"]["sensitivity"] == 0.5 and one[2, "1 (nucleus)"]["fn"] == 50
    assert np.isnan(one[1, "1 (nucleus)"]["precision"])  # nothing marked: no precision
    np.testing.assert_allclose(
        [one[t, "1 (nucleus)"]["dice"] for t in range(3)], series.per_slice_dice[1]
    )
    stack = M.evaluate(pred, gt)  # no time axis: slices
    assert stack.slice_column == "slice" and stack.slice_rows()[0]["slice"] == 0
    assert M.evaluate(pred[0], gt[0]).slice_rows() == []  # a plane has none


def test_four_axes_without_a_time_axis_say_objects_were_joined_across_axis_0():
    """A T,Z,Y,X pair scored without time_axis joined each object across its frames
    without a note (5D bug bash): the note says how to score frame by frame."""
    gt = np.zeros((3, 4, 16, 16), np.uint8)
    gt[:, 1:3, 4:10, 4:10] = 1
    joined = M.evaluate(gt, gt)
    assert joined.objects[1]["n_gt"] == 1
    [note] = [n for n in joined.notes if "none was named time" in n]
    assert note.startswith("The labels have 4 axes and none was named time: objects,")
    framed = M.evaluate(gt, gt, time_axis=0)
    assert framed.objects[1]["n_gt"] == 3
    assert not any("none was named time" in n for n in framed.notes)
    assert not any("none was named time" in n for n in M.evaluate(gt[0], gt[0]).notes)
    assert not any("none was named time" in n for n in M.evaluate(gt, gt, objects=False).notes)
    # one frame joins nothing; two leading axes are both named (review)
    assert not any("none was named time" in n for n in M.evaluate(gt[:1], gt[:1]).notes)
    five = np.stack([gt, gt])
    assert any("with axis 0 and 1 joined like space" in n for n in M.evaluate(five, five).notes)


def test_a_frame_without_the_class_on_one_side_gives_infinite_distances():
    """A frame where the prediction misses a class entirely has no distance to measure:
    its boundary counts as infinitely far (ASSD inf; HD95 inf once those boundary voxels
    are 5 % of all or more). numpy's percentile made NaN of inf - inf, and HD95 read 0."""
    gt = np.zeros((40, 16, 16), np.uint8)
    gt[:, 4:12, 4:12] = 1
    pred = gt.copy()
    pred[7] = 0  # 1 frame of 40: 2.5 % of the ground truth's boundary
    result = M.evaluate(pred, gt, time_axis=0)
    assert result.classes[1]["assd"] == np.inf
    assert result.classes[1]["hd95"] == 0.0  # the 95th percentile is still a perfect frame
    pred[8:10] = 0  # 3 frames of 40: 7.5 %
    result = M.evaluate(pred, gt, time_axis=-3)
    assert result.classes[1]["hd95"] == np.inf and result.time_axis == 0


@pytest.mark.parametrize(
    "time_axis, match",
    [(3, "not an axis of 3-dimensional"), (-4, "not an axis"), (1.0, "an axis number"),
     (True, "an axis number")],
)  # fmt: skip
def test_a_time_axis_that_is_not_one_is_refused(time_axis, match):
    gt = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=match):
        M.evaluate(gt, gt, time_axis=time_axis)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        M.evaluate(gt[0], gt[0], time_axis=0)


def test_a_ground_truth_numbered_like_the_strokes_is_said_to_be_one_above():
    """A reference numbered as Fine-tune's strokes are (1 = background, k = class k - 1)
    scored its model's labels Dice 0.012, said as ids that differ (classes bash): the
    note names the shift and what to do."""
    gt = np.ones((64, 64), np.uint8)
    gt[10:30, 10:30] = 2
    gt[40:60, 40:60] = 3
    shifted = M.evaluate(gt - 1, gt)
    said = [n for n in shifted.notes if "plus one" in n]
    assert len(said) == 1 and "subtract one from its values" in said[0]
    assert not any("carry another id" in n for n in shifted.notes)
    assert not any("plus one" in n for n in M.evaluate(gt, gt).notes)
    # a binary model's 0 / 1 against a 1 / 2 reference, read as instances by "auto"
    # (nothing was said; review)
    binary = (gt > 1).astype(np.uint8) + 1
    assert any("plus one" in n for n in M.evaluate(binary - 1, binary).notes)
    noisy = gt.copy()
    noisy[::2] = 0  # half of it elsewhere: no shift to speak of
    assert not any("plus one" in n for n in M.evaluate(gt - 1, noisy).notes)


def test_a_ground_truth_drawn_on_some_time_points_is_said():
    """A ground truth drawn on time points 1 and 3 only scored the others as all false
    positives without a hint ("time point 0, 2, 4 have", too; movies bash)."""
    pred = np.zeros((5, 24, 24), np.uint8)
    pred[:, 6:14, 6:14] = 1
    gt = np.zeros_like(pred)
    gt[[1, 3]] = pred[[1, 3]]
    result = M.evaluate(pred, gt, time_axis=0, instances="none")
    note = next(n for n in result.notes if "HD95 and ASSD are infinite" in n)
    assert "infinite: time points 0, 2, 4 have it only in the prediction" in note
    assert "If the ground truth was not drawn on those time points" in note
