"""Instance labels: detected with instances='auto', given explicitly, or refused."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg.core import metrics as M


def test_instance_ground_truth_is_detected_and_used():
    gt = np.zeros((10, 20), np.int32)
    gt[2:6, 2:6], gt[2:6, 6:10] = 1, 2  # touching instances: one component, two objects
    gt[2:6, 14:18] = 3
    pred = (gt > 0).astype(np.uint8)
    r = M.evaluate(pred, gt)
    assert list(r.classes) == [0, 1] and r.classes[1]["dice"] == 1.0
    assert r.objects[1]["n_gt"] == 3 and r.objects[1]["n_pred"] == 2
    assert r.objects[1]["merged"] == 1 and any("instances" in n for n in r.notes)
    # three labels may be classes (a model that missed one): the note says how to ask
    assert any(
        "if they are classes, score them as classes (instances='none'" in n for n in r.notes
    )
    r = M.evaluate(pred, gt, instances="none")
    assert list(r.classes) == [0, 1, 2, 3]
    r = M.evaluate(gt, pred)  # instance prediction, binary ground truth
    assert r.objects[1]["n_pred"] == 3 and r.objects[1]["split"] == 1
    with pytest.raises(ValueError, match="instances"):
        M.evaluate(pred, gt, instances="maybe")


def test_listed_classes_do_not_change_how_the_labels_are_read():
    """``classes`` only chooses the rows: an instance ground truth stays instances (it
    was read as classes when classes were listed: Dice 0.39 instead of 1.0)."""
    gt = np.zeros((64, 64), np.uint8)
    gt[5:20, 5:20], gt[30:50, 30:50], gt[5:20, 40:60] = 1, 2, 3
    pred = (gt > 0).astype(np.uint8)  # a perfect binary prediction
    full = M.evaluate(pred, gt)
    for classes in ([1], [0, 1]):
        r = M.evaluate(pred, gt, classes=classes)
        assert list(r.classes) == classes and r.notes == full.notes
        for cid in classes:
            assert r.classes[cid] == full.classes[cid], (classes, cid)
        assert r.objects[1] == full.objects[1]
    # the error overlay reads them the same way
    np.testing.assert_array_equal(M.error_map(pred, gt, classes=[1]), M.error_map(pred, gt))
    # an instance id listed as a class: no class 7 exists under that reading
    for classes in ([1, 7], [2]):
        with pytest.raises(ValueError, match="instances of one foreground class") as info:
            M.evaluate(pred, gt, classes=classes)
        message = str(info.value)
        assert "\n" not in message and message.endswith(".") and "--instances none" in message
    with pytest.raises(ValueError, match="prediction is read as object instances"):
        M.error_map(gt, pred, classes=[3])
    # class 1 of an instance reading without any object is absent, not refused
    empty = np.zeros((8, 8), np.uint8)
    r = M.evaluate(empty, empty, classes=[1], instances="both", objects=False)
    assert np.isnan(r.classes[1]["dice"])
    # read as classes (said so), each listed class is scored; an absent one is NaN
    r = M.evaluate(pred, gt, classes=[1, 3, 7], instances="none", objects=False)
    assert r.classes[3]["dice"] == 0 and np.isnan(r.classes[7]["dice"])


def test_a_mask_of_one_value_is_a_class_whose_objects_are_its_pieces():
    """0 / 255 masks (PNG or TIFF exports) against instance or binary labels: not one
    object of id 255, but its connected pieces, on either side."""
    gt = np.zeros((10, 20), np.int32)
    gt[2:6, 2:6], gt[2:6, 12:16] = 1, 2
    white = ((gt > 0) * 255).astype(np.uint8)
    for pred, truth in ((white, gt), (gt, white), (gt > 0, white), (white, white)):
        r = M.evaluate(pred, truth)
        assert list(r.classes) == [0, 1] and r.classes[1]["dice"] == 1.0
        assert r.objects[1]["n_gt"] == r.objects[1]["n_pred"] == 2
        assert any("of one value (255)" in n for n in r.notes)
    # told that the ground truth holds instances, it is one object, as asked
    assert M.evaluate(gt > 0, white, instances="ground_truth").objects[1]["n_gt"] == 1


def test_one_small_id_alone_is_a_class_not_a_mask():
    """Ground truth of class 2 only (a tissue absent from this image) against a
    prediction of class 1 there: it was a "mask of one value" and scored Dice 1.0; it
    is class 2, missed (bug bash). A value of 255 stays a mask (above)."""
    gt = np.zeros((12, 12), np.uint8)
    gt[2:10, 2:10] = 2
    pred = (gt > 0).astype(np.uint8)
    r = M.evaluate(pred, gt)
    assert r.classes[1]["dice"] == 0 and r.classes[2]["dice"] == 0
    assert any("holds one label, 2: read as class 2" in n for n in r.notes)
    half = np.where(np.arange(12) < 6, gt, pred)  # half right
    assert M.evaluate(half, gt).classes[2]["dice"] == pytest.approx(2 / 3)
    assert M.evaluate(pred, gt, instances="ground_truth").classes[1]["dice"] == 1.0  # if told


def test_objects_of_several_classes_are_said_to_be_connected_regions():
    # three tissue classes: their "objects" are regions, which the note says (a Validate
    # of the brain template read "objects F1 0.344" with no word on what was counted)
    gt = np.zeros((20, 30), np.int32)
    gt[:, 10:20], gt[:, 20:] = 1, 2
    pred = gt.copy()
    pred[5:8, 12:15] = 2
    notes = M.evaluate(pred, gt).notes
    assert any("connected regions of each class" in n for n in notes)
    assert not any("connected regions" in n for n in M.evaluate(pred, gt, objects=False).notes)
    one = (gt > 0).astype(np.uint8)  # one class: its objects are what one counts
    assert not any("connected regions" in n for n in M.evaluate(one, one).notes)
    # the F1 of several classes is their mean, the counts their sum: said so ("objects
    # F1 0.584 (4 of 4 matched, 521 predicted)" did not add up; Validate bash)
    assert "objects F1 0.833 (mean of 2 classes; in all 2 of 2 matched, 3 predicted)" in (
        M.evaluate(pred, gt).summary_line()
    )
    assert "(1 of 1 matched, 1 predicted)" in M.evaluate(one, one).summary_line()
    # an empty side is said to be empty, not "binary" (Validate bash)
    ids = np.zeros((40, 40), np.int32)
    for k in range(8):
        ids[k * 5 : k * 5 + 3, 2:6] = k + 1
    said = " ".join(M.evaluate(np.zeros_like(ids), ids).notes)
    assert (
        "The prediction is empty (no foreground) and the ground truth has labels up to 8" in said
    )


# -- clDice -------------------------------------------------------------------------------------


def test_ids_past_the_classes_that_agree_are_not_said_to_disagree():
    """Two ids, 1000 and 2000, the same on both sides: "many labels ... that rarely agree
    ... (100% of those pixels)" (labels bash). Read as objects, said for their ids."""
    gt = np.zeros((20, 20), np.int32)
    gt[2:8, 2:8], gt[10:18, 10:18] = 1000, 2000
    r = M.evaluate(gt, gt.copy())
    assert r.classes[1]["dice"] == 1.0 and r.objects[1]["tp"] == 2
    assert not any("rarely agree" in n for n in r.notes)
    assert any(
        n.startswith("Both have label ids past 1024 (up to 2000 and 2000)") for n in r.notes
    )


def test_an_instance_mask_scored_as_scribbles_gets_a_hint():
    """Validate in sparse mode said nothing of a ground truth that is an instance mask
    (every id a class of its own; labels bash)."""
    gt = np.zeros((40, 40), np.int32)
    for i in range(20):
        r, c = divmod(i, 5)
        gt[2 + 9 * r : 8 + 9 * r, 2 + 7 * c : 7 + 7 * c] = i + 1
    said = M.evaluate((gt > 0).astype(np.uint8), gt, mode="sparse").notes
    assert any(
        n.startswith("The scribbles use values up to 20, as a mask of objects does") for n in said
    )
    strokes = np.zeros((40, 40), np.uint8)  # strokes of eight classes: no hint
    for value in range(1, 10):
        strokes[4 * value - 2, 3:30] = value
    assert not any(
        "mask of objects" in n for n in M.evaluate(strokes, strokes, mode="sparse").notes
    )


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


def _squares(n: int, shape=(64, 96)) -> np.ndarray:
    """``n`` separate 8 x 8 squares with ids 1..n in raster order."""
    gt = np.zeros(shape, np.int32)
    for i in range(n):
        r, c = divmod(i, 8)
        gt[2 + 12 * r : 10 + 12 * r, 2 + 12 * c : 10 + 12 * c] = i + 1
    return gt


def test_instance_ids_shifted_by_an_extra_object_are_read_as_instances():
    """One extra object shifted the ids of every later one: they still agreed on most
    overlapping pixels, so 14 nuclei found at Dice 0.999 were scored as 15 classes at
    0.60 (metrics bug bash)."""
    gt = _squares(14)
    pred = gt.copy()
    pred[pred > 9] += 1  # an extra object among them takes id 10
    pred[40:42, 60:62] = 10
    r = M.evaluate(pred, gt)
    assert list(r.classes) == [0, 1] and r.classes[1]["dice"] > 0.99
    assert r.objects[1]["tp"] == 14 and r.objects[1]["fp"] == 1
    assert any("5 of the 14 regions that match one to one" in n for n in r.notes), r.notes
    # the same ids throughout: classes as before, without a word on ids
    same = M.evaluate(gt, gt)
    assert len(same.classes) == 15 and not any("another id" in n for n in same.notes)


def test_a_few_regions_under_other_ids_are_classes_with_a_note():
    """Four objects with their ids reversed scored Dice 0.000 as classes with no word on
    why (metrics bug bash): few labels stay classes (organs are), the note says how to
    score objects."""
    gt = _squares(4)
    pred = np.r_[0, 4, 3, 2, 1][gt]
    r = M.evaluate(pred, gt)
    assert len(r.classes) == 5
    assert any("4 of the 4 regions" in n and "instances='both'" in n for n in r.notes)
    # classes confused at the edges only: no such note
    sem = gt.copy()
    sem[2:4, 2:10] = 2
    assert not any("another id" in n for n in M.evaluate(sem, gt).notes)


def test_too_many_labels_need_instances_or_classes(rng, sklearn_scores):
    gt = rng.integers(0, 3, (30, 30))
    pred = gt.copy()
    pred[0, 0] = 5000
    with pytest.raises(ValueError, match="up to 5000, too many"):
        M.evaluate(pred, gt, objects=False)
    # listed classes: other labels only count as "not this class"
    r = M.evaluate(pred, gt, classes=[1, 2], objects=False)
    ref = sklearn_scores(pred, gt, [1, 2])
    np.testing.assert_allclose([r.classes[c]["dice"] for c in (1, 2)], ref["dice"])
    np.testing.assert_allclose([r.classes[c]["specificity"] for c in (1, 2)], ref["specificity"])


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


def test_an_empty_side_keeps_the_other_sides_few_classes():
    """An empty prediction against two classes read them as objects of one class (class
    2 had no row); empty scribbles were said to have "one class" (Validate bug bash)."""
    from napari_unetseg import api

    truth = np.zeros((30, 40, 40), np.uint8)
    truth[8:13, 5:20, 5:20] = 1
    truth[20:22, 25:35, 25:35] = 2
    result = api.evaluate(np.zeros_like(truth), truth)
    assert sorted(result.classes) == [0, 1, 2]
    assert result.classes[2]["dice"] == 0.0
    assert not any("instances" in note for note in result.notes)
    many = np.zeros((40, 40), np.uint16)
    for k in range(1, 9):  # eight nuclei, one id each: objects still
        many[4 * k : 4 * k + 3, 5:9] = k
    assert sorted(api.evaluate(np.zeros_like(many), many).classes) == [0, 1]
    none = api.evaluate(np.ones((20, 20), np.uint8) * 3, np.zeros((20, 20), np.uint8),
                        mode="sparse")  # fmt: skip
    assert not any("one class" in note for note in none.notes)


def test_a_few_classes_against_many_labels_say_how_to_score_objects():
    """A 3-class prediction against 21 nuclei was scored as 22 classes (Dice 0.004)
    without a hint (model bug bash): read as classes still, with the way to objects."""
    rng = np.random.default_rng(0)
    truth = np.zeros((128, 128), np.uint16)
    for i in range(21):
        y, x = rng.integers(5, 120, 2)
        truth[y : y + 6, x : x + 6] = i + 1
    pred = (truth > 0).astype(np.uint8)
    pred[::7][pred[::7] > 0] = 2
    result = M.evaluate(pred, truth)
    assert sorted(result.classes) == list(range(22))  # each nucleus a class, as before
    said = [n for n in result.notes if n.startswith("Read as classes, but the ground truth")]
    assert said and "instances='ground_truth', --instances ground_truth" in said[0]
    objects = M.evaluate(pred, truth, instances="ground_truth")
    assert 21 not in objects.classes and objects.objects is not None


def test_object_ids_numbered_on_through_a_series_are_read_as_objects():
    """Segment's split numbers objects on through a series (1-5, 6-10, 11-15) where a
    ground truth names them 1-5 in every frame: auto pooled the frames, matched none,
    and scored 15 "classes" at Dice 0.06 (5D bug bash)."""
    from napari_unetseg import api

    truth = np.zeros((3, 40, 120), np.uint16)
    for t in range(3):
        for k in range(5):
            truth[t, 10:30, 4 + 24 * k + t : 20 + 24 * k + t] = k + 1
    prediction = np.where(truth > 0, truth + 5 * np.arange(3)[:, None, None], 0)
    result = api.evaluate(prediction, truth, time_axis=0)
    assert result.objects[1]["tp"] == 15 and "Dice 1.000" in result.summary_line()
    assert any("Both have many labels (up to 15 and 5)" in n for n in result.notes)


def test_many_ids_that_agree_are_classes_with_a_word():
    """A prediction edited from a tracked ground truth shares its object ids: it was
    scored as 17 classes without a word (movies bash); read as classes, it says how to
    score objects."""
    gt = np.zeros((3, 64, 64), np.uint16)
    for i in range(17):
        y, x = divmod(i, 5)
        gt[:, 2 + 12 * y : 10 + 12 * y, 2 + 12 * x : 10 + 12 * x] = i + 1
    pred = gt.copy()
    pred[1] = 0  # a frame left out
    result = M.evaluate(pred, gt, time_axis=0, objects=False)
    assert len(result.foreground) == 17  # classes, as before
    assert any("if they are object ids (tracks" in n for n in result.notes), result.notes


def test_a_split_prediction_against_a_binary_mask_is_said():
    """Two touching objects split in the prediction, one region in a binary ground
    truth: object F1 reads low (0.69 for 0.96 on real nuclei) while Dice is the same;
    the note says why (split bash)."""
    gt = np.zeros((20, 40), np.uint8)
    gt[5:15, 5:35] = 1
    pred = np.zeros_like(gt, dtype=np.int32)
    pred[5:15, 5:20], pred[5:15, 20:35] = 1, 2
    pred[0, 0] = 7  # labels up to 7: read as objects
    notes = " ".join(M.evaluate(pred, gt).notes)
    assert "joins" not in notes and "which join touching objects" in notes
