"""Rotation and zoom of patches for new models trained from scribbles (issue #14)."""

from __future__ import annotations

import pytest
import torch

import napari_unetseg.core.training.trainer as trainer_module
from napari_unetseg import api
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles
from napari_unetseg.core.training.augment import affine_batch


@pytest.mark.parametrize("shape", [(24, 24), (20, 32), (12, 24, 24)])
def test_rotation_and_zoom_move_image_and_labels_together(shape):
    gen = torch.Generator().manual_seed(0)
    y = torch.full((6, *shape), -1, dtype=torch.long)
    y[(slice(None), *(slice(s // 4, s // 2) for s in shape))] = 1  # a painted block
    y[(slice(None), *(slice(s // 2 + 1, 3 * s // 4) for s in shape))] = 0
    x = (y + 1).float().unsqueeze(1) * 10  # the image shows the labels: 0, 10, 20
    xa, ya = affine_batch(x, y, gen)
    assert xa.shape == x.shape and ya.shape == y.shape and ya.dtype == torch.long
    assert set(ya.unique().tolist()) <= {-1, 0, 1}
    assert not torch.equal(ya, y)  # something turned
    # Where a label survived, the image shows that label (away from the blurred edges).
    for label, value in ((0, 10.0), (1, 20.0)):
        inside = ya == label
        assert inside.any()
        close = (xa[:, 0][inside] - value).abs() < 5
        assert close.float().mean() > 0.7  # misaligned, it would be near 0


def test_pixels_from_outside_the_patch_are_ignored():
    # Every pixel labeled: only a zoom-out or a turned corner can bring in -1, and it
    # must never become a class.
    gen = torch.Generator().manual_seed(1)
    y = torch.ones(16, 32, 32, dtype=torch.long)
    x = torch.rand(16, 1, 32, 32)
    _, ya = affine_batch(x, y, gen)
    assert (ya == -1).any() and set(ya.unique().tolist()) == {-1, 1}
    # Corners leave the patch once it turns by a non-multiple of 90 degrees.
    assert (ya[:, 0, 0] == -1).float().mean() > 0.5


def test_zoom_one_turns_without_scaling():
    gen = torch.Generator().manual_seed(2)
    y = torch.zeros(32, 33, 33, dtype=torch.long)
    y[:, 12:21, 12:21] = 1  # a centred square: turning keeps its area
    _, ya = affine_batch(y.float().unsqueeze(1), y, gen, zoom=1.0)
    area = (ya == 1).sum(dim=(1, 2)).float()
    assert torch.allclose(area, torch.full_like(area, 81.0), rtol=0.25)


def test_new_scribble_models_are_turned_and_zoomed_fine_tuning_is_not():
    image, labels = synthetic_nuclei((64, 64), seed=1)
    scribbles = synthetic_scribbles(labels, 6, 6, seed=0)
    new = api.train(image, scribbles, steps=2, patch_size=32, model_config={"depth": 2})
    assert new.history["rotate_zoom"] is True
    dense = api.train(
        image, labels, label_mode="dense", steps=2, patch_size=32, model_config={"depth": 2}
    )
    assert dense.history["rotate_zoom"] is False
    tuned = api.train(image, scribbles, model=new, steps=2, patch_size=32)
    assert tuned.history["rotate_zoom"] is False
    plain = api.train(
        image, scribbles, steps=2, patch_size=32, augment=False, model_config={"depth": 2}
    )
    assert plain.history["rotate_zoom"] is False


def test_turned_batches_reach_the_network(monkeypatch):
    # The trainer calls the rotation for a new scribble model (and only then).
    calls = []
    real = trainer_module.affine_batch

    def spy(x, y, gen):
        calls.append(tuple(x.shape))
        return real(x, y, gen)

    monkeypatch.setattr(trainer_module, "affine_batch", spy)
    image, labels = synthetic_nuclei((64, 64), seed=1)
    scribbles = synthetic_scribbles(labels, 6, 6, seed=0)
    torch.manual_seed(0)
    untrained = ModelBundle.create(spatial_dims=2, n_classes=2, depth=2, base_channels=4)
    api.train(image, scribbles, model=untrained, steps=3, patch_size=32, batch_size=2)
    assert calls == [(2, 1, 32, 32)] * 3
