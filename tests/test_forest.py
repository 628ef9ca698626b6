"""A random forest fitted on the scribbles labels a new model's unpainted pixels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg import api, forest


def _blobs(shape=(64, 64), seed=0):
    """A noisy image of bright discs on a dark background, and its truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(shape)
    truth = np.zeros(shape, bool)
    for cy, cx in [(16, 16), (16, 46), (46, 20), (44, 48)]:
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 < 8**2
    image = truth * 1.0 + rng.normal(0, 0.3, shape)
    return image.astype(np.float32), truth


def _scribbles(truth):
    s = np.zeros(truth.shape, np.uint8)
    s[2, :] = 1  # a background stroke along the top
    s[30, 30:34] = 1
    s[14:19, 15:18] = 2  # a dot inside the first disc
    return s


def test_the_forest_labels_every_unpainted_pixel_and_keeps_the_painted_ones():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    (dense,), message = forest.dense_targets([image], [scribbles], seed=0)
    assert dense.dtype == scribbles.dtype and dense.shape == scribbles.shape
    assert (dense > 0).all()
    assert (dense[scribbles > 0] == scribbles[scribbles > 0]).all()
    # discs never painted are found from the one painted dot
    assert ((dense == 2) == truth).mean() > 0.95
    assert "random forest" in message


def test_channels_are_features_of_the_same_pixel():
    image, truth = _blobs()
    two = np.stack([image, np.zeros_like(image)], axis=0)  # channels first
    (dense,), _ = forest.dense_targets([two], [_scribbles(truth)], channel_axis=0)
    assert dense.shape == truth.shape and ((dense == 2) == truth).mean() > 0.95


def test_nothing_to_learn_from_one_painted_class():
    image, truth = _blobs()
    only_background = np.where(_scribbles(truth) == 1, 1, 0).astype(np.uint8)
    labels = [only_background]
    out, message = forest.dense_targets([image], labels)
    assert out is labels and message == ""


def test_too_much_data_trains_on_the_scribbles_and_says_so(monkeypatch):
    image, truth = _blobs()
    labels = [_scribbles(truth)]
    monkeypatch.setattr(forest, "MAX_FEATURE_BYTES", 1000)
    out, message = forest.dense_targets([image], labels)
    assert out is labels
    assert message.startswith("Trained on the scribbles alone") and "GiB" in message


def test_a_new_model_learns_from_the_forest_and_fine_tuning_does_not():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    new = api.train(image, scribbles, steps=2, patch_size=32, batch_size=2)
    assert new.history["teacher"] == "random forest"
    # the forest's classes follow the intensities as they are: no intensity changes
    assert new.history["augment"] and not new.history["intensity_augment"]
    assert "random forest" in new.history["object_size"]  # the first message says it
    alone = api.train(image, scribbles, steps=2, patch_size=32, batch_size=2, teacher="none")
    assert alone.history["teacher"] == "none"
    assert alone.history["intensity_augment"]
    tuned = api.train(image, scribbles, model=new, steps=1, patch_size=32, batch_size=2)
    assert tuned.history["teacher"] == "none"


def test_an_unknown_teacher_is_refused_in_one_sentence():
    image, truth = _blobs()
    with pytest.raises(ValueError, match=r"^teacher must be one of auto, forest, none"):
        api.train(image, _scribbles(truth), steps=1, teacher="svm")


def test_the_history_counts_the_painted_pixels_and_the_trained_ones():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    model = api.train(image, scribbles, steps=1, patch_size=32, batch_size=2)
    h = model.history
    assert h["labeled_pixels"] == [int((scribbles == 1).sum()), int((scribbles == 2).sum())]
    assert sum(h["trained_pixels"]) == image.size


def test_the_model_threshold_is_matched_to_the_teachers_labels():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    (dense,), _ = forest.dense_targets([image], [scribbles], seed=0)
    records = []
    model = api.drain(
        api.train_iter(image, scribbles, steps=15, patch_size=32, batch_size=2), records.append
    )
    matched = model.history["threshold"]
    assert 0.05 <= matched["threshold"] <= 0.95
    # the validation Dice reported at the end is that of the model as kept (weights and
    # threshold), measured after the fold
    # scribbles: the held-out loss chooses the weights, and the records carry it
    assert any(r.best_val_loss is not None for r in records)
    closing = records[-1]
    assert closing.message and "threshold" in closing.message.lower()
    assert closing.val_dice == model.history["best_val_dice"] is not None
    assert matched["label_dice"] >= matched["label_dice_at_half"]
    # the folded threshold is what predictions use: the model's objects on its training
    # image agree with the teacher's as well as the run measured
    objects = np.asarray(api.predict(image, model, object_size=None)) > 0
    teacher = dense == 2
    agreement = 2 * (objects & teacher).sum() / (objects.sum() + teacher.sum())
    assert agreement == pytest.approx(matched["label_dice"], abs=0.01)
    # without a teacher (scribbles say nothing about most pixels) it is not matched
    alone = api.train(image, scribbles, steps=1, patch_size=32, batch_size=2, teacher="none")
    assert "threshold" not in alone.history


def test_the_forest_phase_is_announced_and_a_large_share_of_the_budget_is_said(monkeypatch):
    image, truth = _blobs()
    records = []
    api.drain(
        api.train_iter(image, _scribbles(truth), steps=2, patch_size=32, batch_size=2),
        records.append,
    )
    assert records[0].step == 0 and records[0].message.startswith(
        "Labelling the unpainted pixels with a random forest"
    )  # before the forest's seconds, not after
    assert "The forest took" not in records[1].message  # no time budget: nothing to say
    monkeypatch.setattr(forest, "FOREST_SHARE_WARNING", 0.0)  # any share is "large" now
    model = api.train(image, _scribbles(truth), time_limit=2.0, patch_size=32, batch_size=2)
    assert "The forest took" in model.history["object_size"]
    assert "train without the forest teacher" in model.history["object_size"]
