"""The threshold that reproduces the training labels, and folding it into the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.core.training.threshold import (
    CLASS_BIASES,
    THRESHOLDS,
    _Agreement,
    _best_bias,
    _ClassAgreement,
    _mean_object_dice,
    fold_class_biases,
    fold_threshold,
    folded_anything,
)


def test_agreement_counts_give_the_dice_of_every_threshold():
    rng = np.random.default_rng(0)
    p = rng.random((50, 60)).astype(np.float32)
    target = rng.integers(-1, 2, p.shape)  # -1 = unlabeled, ignored
    agreement = _Agreement()
    agreement.add(p[:20], target[:20])  # added in parts, as image by image
    agreement.add(p[20:], target[20:])
    obj, labeled = target == 1, target >= 0
    for t, dice in zip(THRESHOLDS, agreement.dice(), strict=True):
        pred = (p >= t) & labeled
        assert dice == pytest.approx(2 * (pred & obj).sum() / (pred.sum() + obj.sum()))


def test_best_threshold_moves_the_border_to_the_labels():
    # the model's probability runs 0.3 -> 1 across objects that start at 0.8
    p = np.linspace(0.3, 1.0, 701, dtype=np.float32)
    target = (p >= 0.8).astype(np.int64)
    agreement = _Agreement()
    agreement.add(p, target)
    t, dice, at_half = agreement.best()
    assert t == pytest.approx(0.8) and dice == pytest.approx(1.0, abs=0.01) and at_half < 0.8
    # when 0.5 is as good as any, 0.5 is kept
    flat = _Agreement()
    flat.add(np.array([0.1, 0.9], np.float32), np.array([0, 1]))
    assert flat.best()[0] == pytest.approx(0.5)


def test_folded_threshold_labels_by_the_object_probability():
    torch.manual_seed(0)
    head = torch.nn.Conv2d(4, 2, 1)
    x = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        before = torch.softmax(head(x), 1)[:, 1]
        fold_threshold(head, 0.8)
        after = head(x).argmax(1) == 1
    assert torch.equal(after, before > 0.8) and 0 < int(after.sum()) < int((before > 0.5).sum())


def _three_classes(shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (classes first) of a row of pixels whose class 2 starts ``shift``
    later than the labels' (the model marks too little of class 2), and the labels."""
    x = np.linspace(0.0, 1.0, 1001)
    target = np.select([x < 0.3, x < 0.6], [0, 1], 2)
    target[::7] = -1  # unlabelled pixels are ignored
    logits = np.stack([-8 * (x - 0.3), np.zeros_like(x), 8 * (x - 0.6 - shift)])
    p = np.exp(logits) / np.exp(logits).sum(0)
    return p.astype(np.float32), target


def test_class_biases_move_a_border_of_several_classes_to_the_labels():
    p, target = _three_classes(shift=0.1)
    agreement = _ClassAgreement(3, keep=1.0)
    agreement.add(p[:, :500], target[:500])  # in parts, as image by image
    agreement.add(p[:, 500:], target[500:])
    biases, dice, unbiased = agreement.best()
    assert biases[0] == 0 and biases[1] == 0 and biases[2] > 0  # class 2 weighted up
    assert dice > 0.99 > unbiased
    # the Dice of given biases: the mean over the object classes 1 and 2
    labelled = target >= 0
    pred = np.argmax(np.log(p) + biases[:, None], 0)[labelled]
    t = target[labelled]
    expected = np.mean(
        [2 * ((pred == c) & (t == c)).sum() / ((pred == c).sum() + (t == c).sum()) for c in (1, 2)]
    )
    assert agreement.dice(biases) == pytest.approx(expected) == pytest.approx(dice)
    # labels the model already matches keep every bias at 0
    exact = _ClassAgreement(3, keep=1.0)
    exact.add(*_three_classes(shift=0.0))
    assert not exact.best()[0].any()


@pytest.mark.parametrize("k", [3, 5])
def test_best_bias_of_a_class_is_that_of_an_argmax_per_candidate(k):
    # the sorted-margin counting gives the same Dice as labelling all pixels anew
    rng = np.random.default_rng(k)
    logp = np.log(rng.dirichlet(np.ones(k), 5000)).astype(np.float32)
    target = rng.integers(0, k, 5000)
    biases = np.zeros(k, np.float32)
    biases[1] = 0.4
    for c in range(1, k):
        value, dice = _best_bias(logp, target, biases, c)
        brute = []
        for v in CLASS_BIASES:
            trial = biases.copy()
            trial[c] = v
            brute.append(_mean_object_dice(np.argmax(logp + trial, axis=1), target, k))
        assert dice == pytest.approx(max(brute))
        assert brute[int(np.flatnonzero(CLASS_BIASES == value)[0])] == pytest.approx(dice)


def test_class_agreement_keeps_a_random_share_of_the_labelled_pixels():
    p, target = _three_classes(shift=0.0)
    agreement = _ClassAgreement(3, keep=0.25)
    agreement.add(p, target)
    kept = len(agreement.target[0])
    assert 0.15 * (target >= 0).sum() < kept < 0.35 * (target >= 0).sum()
    assert (agreement.target[0] >= 0).all()


def test_folded_class_biases_label_by_the_weighted_probabilities():
    torch.manual_seed(0)
    head = torch.nn.Conv2d(4, 3, 1)
    x = torch.randn(1, 4, 16, 16)
    biases = np.array([0.0, 0.7, -0.4], np.float32)
    with torch.no_grad():
        weighted = torch.softmax(head(x), 1) * torch.exp(torch.from_numpy(biases))[:, None, None]
        fold_class_biases(head, biases)
        after = head(x).argmax(1)
    assert torch.equal(after, weighted.argmax(1))
    assert folded_anything({"class_biases": [0.0, 0.7, -0.4]})
    assert not folded_anything({"class_biases": [0.0, 0.0, 0.0]}) and not folded_anything(None)
    assert folded_anything({"threshold": 0.7}) and not folded_anything({"threshold": 0.5})


def _trainer(**options):
    """A Trainer as ``train`` builds it (its defaults), before any step."""
    import inspect
    import time

    from napari_unetseg.core.training.options import TrainOptions
    from napari_unetseg.core.training.run import train
    from napari_unetseg.core.training.trainer import Trainer

    defaults = {
        name: p.default
        for name, p in inspect.signature(train).parameters.items()
        if p.default is not inspect.Parameter.empty and name in TrainOptions.__annotations__
    }
    rng = np.random.default_rng(0)
    image = rng.random((96, 96)).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[:, :48], labels[:, 48:] = 1, 2  # dense picture of two classes, as a teacher's
    if options.get("label_mode") == "dense":
        labels -= 1  # 0 = background, 1 = the object
    opts = TrainOptions(**{**defaults, "label_mode": "sparse", **options})
    return Trainer(image, labels, opts, time.perf_counter())


def test_time_reserve_follows_the_measured_forward_speed_and_is_capped():
    trainer = _trainer(time_limit=100.0, match_labels=True, model=None, spatial_dims=2)
    tail = trainer._tail_voxels()
    assert tail >= 2 * 96 * 96  # the threshold's prediction of the training image
    assert trainer._reserve(5.0) == 0.0  # no step, no validation: nothing known yet
    trainer.forward_s_per_voxel, trainer.validate_s = 1e-6, 0.5
    assert trainer._reserve(5.0) == pytest.approx(tail * 1e-6 + 1.0)
    # a large training image (the brain template at 1 mm: 217 s of a 122 s budget kept
    # under the former rule) leaves at least half of the budget for steps
    trainer.forward_s_per_voxel = 1.0
    assert trainer._reserve(5.0) == pytest.approx(50.0)
    # without the threshold and the weight averaging of scribbles, nothing is kept
    plain = _trainer(time_limit=100.0, model=None, spatial_dims=2, label_mode="dense")
    plain.forward_s_per_voxel = 1.0
    assert plain._tail_voxels() == 0 and plain._reserve(5.0) == 0.0


def test_a_run_with_several_classes_matches_class_weights_to_its_labels():
    # a dense three-class picture (as the teacher gives) of a ramp: after a short run
    # the matched biases are recorded, folded in, and reproduce the labels no worse
    from napari_unetseg.api import drain
    from napari_unetseg.core.inference import predict_tiled
    from napari_unetseg.core.training.run import train

    x = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (64, 1))
    labels = np.select([x < 0.3, x < 0.6], [1, 2], 3).astype(np.uint8)
    kwargs = dict(
        label_mode="sparse",
        steps=6,
        batch_size=2,
        patch_size=32,
        seed=0,
        model_config={"depth": 2, "base_channels": 4},
        spatial_dims=2,
    )
    model = drain(train(x, labels, match_labels=True, **kwargs))
    record = model.history["threshold"]
    assert len(record["class_biases"]) == 3 and record["class_biases"][0] == 0.0
    assert record["label_dice"] >= record["label_dice_unbiased"]
    plain = drain(train(x, labels, **kwargs))
    assert "threshold" not in plain.history
    folded = np.asarray(plain.network.head.bias.detach()) + np.asarray(record["class_biases"])
    np.testing.assert_allclose(np.asarray(model.network.head.bias.detach()), folded, atol=1e-6)
    predicted = drain(predict_tiled(model, x, precision="fp32")).labels
    assert predicted.shape == x.shape
