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


def test_the_forest_reads_the_shipped_models_answer_when_it_fits_the_strokes():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    (dense,), message = forest.dense_targets([image], [scribbles], seed=0)
    assert "also read nuclei-2d's answer" in message and "ROC AUC 1.000" in message
    # dark discs on a bright background: nuclei-2d marks the background, so its
    # features are left out and the forest learns from its own alone
    (dark,), message = forest.dense_targets([-image], [scribbles], seed=0)
    assert "left out nuclei-2d's answer" in message and "below 0.98" in message
    assert ((dark == 2) == truth).mean() > 0.95
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(forest, "FEATURE_MODELS", {})  # the forest's own features only
        (alone,), message = forest.dense_targets([image], [scribbles], seed=0)
    assert "nuclei-2d" not in message
    assert ((alone == 2) == truth).mean() > 0.95


def test_channels_are_features_of_the_same_pixel():
    image, truth = _blobs()
    two = np.stack([image, np.zeros_like(image)], axis=0)  # channels first
    (dense,), said = forest.dense_targets([two], [_scribbles(truth)], channel_axis=0)
    assert dense.shape == truth.shape and ((dense == 2) == truth).mean() > 0.95
    assert "nuclei-2d" not in said  # a one-channel network does not read channels
    stack, truth, scribbles = _stack()  # a stack: nuclei-3d's answer, in 3D
    (dense,), said = forest.dense_targets([stack], [scribbles], seed=0)
    assert "also read nuclei-3d's answer" in said and ((dense == 2) == truth).mean() > 0.95


def test_nothing_to_learn_from_one_painted_class():
    image, truth = _blobs()
    only_background = np.where(_scribbles(truth) == 1, 1, 0).astype(np.uint8)
    labels = [only_background]
    out, message = forest.dense_targets([image], labels)
    assert out is labels and message == ""


def test_non_finite_and_huge_intensities_are_labelled_like_the_others():
    """One inf pixel (or values near 1e302) reached scikit-learn: "Input X contains
    infinity"; they are background, and a huge image is scaled down as a whole."""
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    plain, _ = forest.dense_targets([image], [scribbles])
    broken = image.astype(np.float64)
    broken[0, 0] = np.inf
    broken[1, 1] = np.nan
    for odd in (broken, image.astype(np.float64) * 1e300):
        [dense], message = forest.dense_targets([odd], [scribbles])
        assert message and np.mean(dense == plain[0]) > 0.97


def test_a_stray_label_is_refused_before_the_forest_works():
    image, truth = _blobs()
    scribbles = _scribbles(truth)
    scribbles[0, 0] = 255  # napari's "new label" painted once
    assert forest.plan([image], [scribbles]) is None
    with pytest.raises(ValueError, match="value 255, which would ask for 254 classes"):
        api.train(image, scribbles, steps=1, model_config={"depth": 2, "base_channels": 4})


def _stack(seed=0):
    """A noisy stack of bright balls, and scribbles in two of its planes."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices((12, 40, 48))
    truth = np.zeros(zz.shape, bool)
    for cz, cy, cx in [(3, 10, 12), (6, 28, 30), (9, 12, 38)]:
        truth |= (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 < 5**2
    image = (truth + rng.normal(0, 0.3, truth.shape)).astype(np.float32)
    scribbles = np.zeros(truth.shape, np.uint8)
    scribbles[3, 1, :] = 1
    scribbles[3, 9:12, 11:14] = 2
    scribbles[6, 27:30, 29:32] = 2
    scribbles[6, 38, :] = 1
    return image, truth, scribbles


def test_blocks_tile_the_image_and_give_the_whole_images_features():
    image, _, _ = _stack()
    parts = forest.blocks(image.shape, 3000)
    covered = np.zeros(image.shape, int)
    for part in parts:
        covered[part] += 1
        assert covered[part].size <= 3000
    assert (covered == 1).all() and len(parts) > 1
    assert forest.blocks(image.shape) == [tuple(slice(0, n) for n in image.shape)]
    whole = forest.features(image)
    for part in parts:  # a margin of halo() pixels: the same features, to the bit
        assert np.array_equal(forest.block_features(image, part), whole[part])
    wider = {**forest.FEATURES, "sigma_max": 8.0}  # a benchmark's wider features
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(forest, "FEATURES", wider)
        whole = forest.features(image)
        assert forest.halo() == 35
        assert np.array_equal(forest.block_features(image, parts[4]), whole[parts[4]])
    channels_first = np.stack([image, image**2])
    both = forest.features(channels_first, channel_axis=0)
    assert np.array_equal(forest.block_features(channels_first, parts[1], 0), both[parts[1]])


def test_a_large_image_is_labelled_block_by_block_as_it_would_be_whole(monkeypatch):
    image, truth, scribbles = _stack()
    (whole,), said = forest.dense_targets([image], [scribbles], seed=0)
    monkeypatch.setattr(forest, "BLOCK_PIXELS", 3000)  # 9 blocks
    monkeypatch.setattr(forest, "CACHE_BYTES", 0)  # features computed again to label
    (blocked,), _ = forest.dense_targets([image], [scribbles], seed=0)
    assert np.array_equal(blocked, whole)  # the same forest, fitted in raster order
    assert ((whole == 2) == truth).mean() > 0.95 and "random forest" in said


def test_a_stop_ends_the_forest_between_blocks(monkeypatch):
    import threading

    image, _, scribbles = _stack()
    monkeypatch.setattr(forest, "BLOCK_PIXELS", 3000)
    stop = threading.Event()
    work = forest.label_iter([image], [scribbles], stop=stop)
    monkeypatch.setattr(forest, "PROGRESS_EVERY", 0.0)  # a sentence after every block
    assert next(work).startswith("Random forest: features of the strokes, part 1 of ")
    stop.set()
    with pytest.raises(StopIteration) as ended:
        next(work)
    labels, message = ended.value.value
    assert labels[0] is scribbles and message.startswith("Stopped while the random forest")
    # a run stopped during the forest makes no model: no training step is taken
    options = {"steps": 5, "patch_size": 16, "batch_size": 1, "stop": stop}
    model = api.drain(api.train_iter(image, scribbles, **options))
    assert model.history["steps"] == 0
    with pytest.raises(ValueError, match="Training was stopped before its first step"):
        api.train(image, scribbles, **options)  # an untrained model is no model


def test_a_stop_while_a_block_is_labelled_ends_the_forest_within_it(monkeypatch):
    """The forest labels a block's pixels a slab at a time and heeds a stop between
    slabs: a stop pressed during a block does not wait for the whole block."""
    import threading

    image, _, scribbles = _stack()
    stop = threading.Event()
    slabs = []
    real_predict = forest._predicted

    def counting(job, fitted, feats):
        class Counting:
            def predict(self, rows):
                slabs.append(len(rows))
                stop.set()  # pressed while the first slab is labelled
                return fitted.predict(rows)

        return real_predict(job, Counting(), feats)

    monkeypatch.setattr(forest, "_predicted", counting)
    monkeypatch.setattr(forest, "PREDICT_PIXELS", 1000)
    labels, message = api.drain(forest.label_iter([image], [scribbles], stop=stop))
    assert slabs == [1000] and image.size > 1000  # one slab of the block, then stopped
    assert labels[0] is scribbles and message.startswith("Stopped while the random forest")


def test_with_a_time_budget_blocks_without_strokes_may_stay_unlabelled(monkeypatch):
    image, _, scribbles = _stack()
    monkeypatch.setattr(forest, "BLOCK_PIXELS", 3000)
    work = forest.label_iter([image], [scribbles], deadline=0.0)  # long past
    with pytest.raises(StopIteration) as ended:
        while True:
            next(work)
    (dense,), message = ended.value.value
    parts = forest.blocks(image.shape)
    stroked = [p for p in parts if (scribbles[p] > 0).any()]
    labelled = [p for p in parts if (dense[p] > 0).all()]
    # past its time, the forest is fitted on blocks with strokes until every class is
    # among them, and labels those alone (a 200 x 1024 x 1024 stack's 72 blocks of
    # strokes took 30 minutes of a 60 s budget; big volume bash)
    assert labelled and all(p in stroked for p in labelled)
    assert len(labelled) < len(stroked) < len(parts)
    assert set(np.unique(scribbles).tolist()) - {0} <= {
        int(v) for p in labelled for v in np.unique(scribbles[p])
    }
    painted = scribbles > 0
    assert (dense[painted] == scribbles[painted]).all()  # the strokes as painted
    assert f"labelled {len(labelled)} of {len(parts)} parts of the image" in message
    assert f"fitted on the strokes of {len(labelled)} of the {len(stroked)} that hold" in message
    assert "a larger budget labels it all" in message


def test_past_its_time_the_forest_skips_blocks_that_bring_no_new_class_or_image(monkeypatch):
    """One class painted in one block only, which came late in the random order: every
    block before it was fitted on past the deadline (87 of 100); and a second image's
    strokes could be left out of the forest altogether (review)."""
    image, truth = _blobs()
    strokes = np.zeros(truth.shape, np.uint8)
    strokes[::4, ::4] = 1  # background dots in every block
    ys, xs = np.nonzero(truth[:16, :16])  # one object's pixels, in one corner block
    strokes[ys[:5], xs[:5]] = 2
    monkeypatch.setattr(forest, "BLOCK_PIXELS", 256)  # 16 x 16 blocks
    other = strokes.copy()
    work = forest.label_iter([image, image], [strokes, other], deadline=0.0, seed=1)
    with pytest.raises(StopIteration) as ended:
        while True:
            next(work)
    dense, message = ended.value.value
    parts = forest.blocks(image.shape)
    labelled = [[p for p in parts if (d[p] > 0).all()] for d in dense]
    assert all(labelled)  # both images' strokes reached the forest
    # at most the first block, the class-2 block and the second image's first block
    assert sum(map(len, labelled)) <= 3
    assert (np.asarray(dense[0])[strokes == 2] == 2).all()
    assert "fitted on the strokes of" in message


def test_a_stop_during_fitting_past_its_time_ends_before_the_forest_is_fitted(monkeypatch):
    """A stop pressed after the last block's features (or, past the deadline, once every
    class was seen) was heeded only after a whole fit of the forest (review)."""
    import threading

    from sklearn.ensemble import RandomForestClassifier

    image, truth = _blobs()
    scribbles = _scribbles(truth)  # one block, every class in it
    stop, fits = threading.Event(), []
    block_features = forest._Job.features

    def features_then_stop(job, task):  # the user presses Stop after the first block
        feats = block_features(job, task)
        stop.set()
        return feats

    monkeypatch.setattr(forest._Job, "features", features_then_stop)
    fit = RandomForestClassifier.fit
    monkeypatch.setattr(
        RandomForestClassifier, "fit", lambda *a, **k: fits.append(1) or fit(*a, **k)
    )
    work = forest.label_iter([image], [scribbles], deadline=0.0, stop=stop)
    with pytest.raises(StopIteration) as ended:
        while True:
            next(work)
    labels, message = ended.value.value
    assert message.startswith("Stopped") and labels[0] is scribbles
    assert fits == []  # no forest was fitted after the stop


def test_a_new_model_and_its_continuations_learn_from_the_forest_and_fine_tuning_does_not():
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
    # training further a model the forest taught: the forest again, on all the strokes,
    # and no starting answers to keep (the forest labelled every pixel)
    further = api.train(image, scribbles, model=new, steps=1, patch_size=32, batch_size=2)
    assert further.history["teacher"] == "random forest"
    assert further.history["keep_prior"] == 0.0 and not further.history["intensity_augment"]
    # fine-tuning a model no forest taught (a shipped one, or one trained without it)
    for start in ("nuclei-2d", alone):
        tuned = api.train(image, scribbles, model=start, steps=1, patch_size=32, batch_size=2)
        assert tuned.history["teacher"] == "none"
        assert tuned.history["keep_prior"] > 0 and tuned.history["intensity_augment"]
    # dense masks never call for a teacher
    dense = api.train(image, truth.astype(np.uint8), model=new, label_mode="dense", steps=1,
                      patch_size=32, batch_size=2)  # fmt: skip
    assert dense.history["teacher"] == "none"


def test_a_class_no_stroke_or_too_few_paint_is_not_left_to_the_forest():
    """A forest-taught model of three classes continued on strokes of two: the forest
    labelled its class 2 nowhere, and the model unlearnt it without a word; a class
    painted with a pixel was labelled almost nowhere (train bug bash). "auto" trains on
    the strokes alone then, and says so; "forest" warns."""
    image, truth = _blobs()
    three = _scribbles(truth)
    three[44:48, 46:50] = 3  # the fourth disc: class 2
    small = {"patch_size": 32, "batch_size": 2}
    taught = api.train(image, three, steps=2, **small)
    assert taught.history["teacher"] == "random forest" and taught.n_labels == 3
    run = api.train_iter(image, _scribbles(truth), model=taught, steps=1, **small)
    first = next(run).message
    assert "Too few strokes paint 'class 2' (0 pixels) for the forest teacher" in first
    assert api.drain(run).history["teacher"] == "none"
    run = api.train_iter(
        image, _scribbles(truth), model=taught, steps=1, teacher="forest", **small
    )
    said = " ".join(rec.message for rec in [next(run), next(run)])
    assert "(0 pixels) for the forest teacher: it labels it almost nowhere" in said
    assert api.drain(run).history["teacher"] == "random forest"
    # a new model's class painted with one pixel (a dot of a one-pixel brush): the forest
    # labelled it almost nowhere (Dice 0.01 where the strokes alone gave 0.89)
    dot = _scribbles(truth)
    dot[dot == 2] = 0
    dot[16, 16] = 2
    run = api.train_iter(image, dot, steps=1, **small)
    assert "Too few strokes paint 'class 1' (1 pixel) for the forest" in next(run).message
    alone = api.drain(run)
    assert alone.history["teacher"] == "none"
    # kept for the end of the run: Fine-tune's last line said it no more (classes bash)
    from napari_unetseg._qt.finetune.job import result_text

    note = alone.history["teacher_note"]
    assert note.startswith("Too few strokes paint 'class 1' (1 pixel)")
    assert "starting model" not in note  # a new model has none (review)
    assert note in result_text(alone, "dot")[0]
    assert "teacher_note" not in taught.history  # a forest that taught says nothing of it


def test_an_unknown_teacher_is_refused_in_one_sentence():
    image, truth = _blobs()
    with pytest.raises(ValueError, match=r"^teacher must be one of auto, forest, none"):
        api.train(image, _scribbles(truth), steps=1, teacher="svm")


def test_the_forest_is_refused_for_dense_labels_in_one_sentence():
    """Dense labels with teacher='forest' were taken for scribbles: the forest, fitted on
    their classes alone, relabelled the background, and the model learnt none (train
    bug bash)."""
    image, truth = _blobs()
    dense = (truth * 1).astype(np.uint8)
    with pytest.raises(ValueError, match=r"^The forest teacher labels the unpainted pixels"):
        api.train(image, dense, steps=1, teacher="forest", label_mode="dense")


def test_pairs_of_other_shapes_are_refused_before_the_forest_in_the_trainers_words():
    """A 2D pair after a 3D one, and a series' one-frame labels, failed in the forest
    with numpy's words ("all the input array dimensions except for the concatenation
    axis must match", "cannot reshape array"); the trainer's sentences come first now."""
    image, truth = _blobs()
    stack, _, strokes = _stack()
    small = {"depth": 2, "base_channels": 4}
    with pytest.raises(ValueError, match="A 3D model needs at least 3 spatial axes"):
        api.train([stack, image], [strokes, _scribbles(truth)], steps=1, model_config=small)
    series = np.stack([stack, stack])
    with pytest.raises(ValueError, match=r"have shape \(12, 40, 48\) but the image needs"):
        api.train(series, strokes, steps=1, model_config=small)


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


def test_a_model_of_several_classes_gets_class_weights_matched_to_the_teacher():
    # dim and bright discs on a dark ground: three classes, painted with a dot each
    image, dim = _blobs()
    image = image + 1.0 * dim  # every disc bright ...
    yy, xx = np.indices(image.shape)
    dimmer = dim & (xx < 32)
    image[dimmer] -= 1.0  # ... but the two on the left dim
    scribbles = _scribbles(dim)
    scribbles[44:49, 47:50] = 3  # a dot in a bright disc (the dot of class 2 is dim)
    (dense,), _ = forest.dense_targets([image], [scribbles], seed=0)
    records = []
    model = api.drain(
        api.train_iter(image, scribbles, steps=15, patch_size=32, batch_size=2), records.append
    )
    matched = model.history["threshold"]
    assert len(matched["class_biases"]) == 3 and matched["class_biases"][0] == 0.0
    assert matched["label_dice"] >= matched["label_dice_unbiased"]
    if any(matched["class_biases"]):
        assert "Class weights" in records[-1].message
    # the weights are in the model: its classes on the training image agree with the
    # teacher's as well as the run measured (mean Dice of the classes, background too)
    labels = np.asarray(api.predict(image, model, object_size=None)) + 1
    dice = [
        2 * ((labels == c) & (dense == c)).sum() / ((labels == c).sum() + (dense == c).sum())
        for c in (1, 2, 3)
    ]
    assert np.mean(dice) == pytest.approx(matched["label_dice"], abs=0.01)


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
    monkeypatch.setattr(forest, "FOREST_SHARE", 0.0)  # any share is "large" now
    model = api.train(image, _scribbles(truth), time_limit=2.0, patch_size=32, batch_size=2)
    assert "The forest took" in model.history["object_size"]
    assert "train without the forest teacher" in model.history["object_size"]


def test_features_are_scikit_images_and_a_stop_ends_them_between_scales(monkeypatch):
    """A block's features are computed a scale at a time: the same features as
    ``multiscale_basic_features`` (to the bit, in its order), and a stop pressed while
    they are computed does not wait for every scale."""
    import threading

    import skimage.feature
    from skimage.feature import multiscale_basic_features as real

    image, _, scribbles = _stack()
    two = np.stack([image, image**2])
    expected = real(np.moveaxis(two, 0, -1), channel_axis=-1, **forest.FEATURES)
    assert np.array_equal(forest.features(two, channel_axis=0), expected)
    assert len(forest._sigmas()) == 4  # sigma 0.5, 1, 2, 4
    stop = threading.Event()
    scales = []

    def first_one_stops(plane, **kwargs):
        scales.append(kwargs["sigma_min"])
        stop.set()  # pressed while the first scale is computed
        return real(plane, **kwargs)

    monkeypatch.setattr(skimage.feature, "multiscale_basic_features", first_one_stops)
    labels, message = api.drain(forest.label_iter([image], [scribbles], stop=stop))
    assert 1 <= len(scales) < 4  # the scales already at work finish, the others never start
    assert labels[0] is scribbles and message.startswith("Stopped while the random forest")


def test_validation_on_the_forests_labels_says_so():
    """With the forest teaching, the held-out regions are cut from its labels, which it
    fitted on every stroke: "validating on 2 held-out region(s)" read as unseen painting
    (training bug bash); the opening sentence says whose labels they are."""
    image, _, scribbles = _stack()
    messages = [
        rec.message
        for rec in api.train_iter(image, scribbles, steps=2, patch_size=16, batch_size=1)
        if getattr(rec, "message", None)
    ]
    opening = next(m for m in messages if "labeled pixels" in m)
    assert "held-out region(s) of the random forest's labels" in opening


def test_a_thin_image_says_that_the_forest_was_left_out():
    """A (2, Y, X) pair of frames trained without the forest, and the result line only
    left its sentence out (fine-tune bug bash). (A 2D model takes them plane by plane
    now, with the forest: the 3D model here.)"""
    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, truth = synthetic_nuclei((64, 64), seed=1)
    frames = np.stack([img, img])
    strokes = np.zeros(frames.shape, np.uint8)
    strokes[:, :5] = 1
    strokes[:, truth > 0] = 2
    said = []
    trained = api.drain(
        api.train_iter(frames, strokes, steps=1, spatial_dims=3,
                       model_config={"depth": 2, "base_channels": 4}),
        lambda record: said.append(record.message or ""),
    )  # fmt: skip
    assert trained.history["teacher"] == "none"
    assert "The random forest teacher was left out" in " ".join(said)
    assert "the labels are 2 x 64 x 64" in " ".join(said)
