"""The threshold that reproduces the training labels, and folding it into the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.core.training.threshold import THRESHOLDS, _Agreement, fold_threshold


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
