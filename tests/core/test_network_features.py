"""A trained 2D network's foreground score, block by block, and how well it tells strokes
apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.core import network_features
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.network_features import NetworkFeatures, auc, separates
from napari_unetseg.core.registry import REGISTRY


@pytest.fixture(scope="module")
def nuclei_2d():
    return ModelBundle.load(REGISTRY.shipped()["nuclei-2d"])


def _stack(shape=(3, 90, 101), seed=0):
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    image = rng.normal(100, 5, shape)
    for cy, cx in [(20, 20), (60, 70), (45, 30)]:
        image += 200 * ((yy - cy) ** 2 + (xx - cx) ** 2 < 9**2)
    return image.astype(np.float32)


def test_block_features_are_the_whole_images(nuclei_2d):
    stack = _stack()
    for image in (stack, stack[1]):  # a stack plane by plane, and a plane
        net = NetworkFeatures(nuclei_2d, image)
        whole = net.block(image, tuple(slice(0, n) for n in image.shape))
        assert whole.shape == image.shape + (1,) and whole.dtype == np.float32
        base = (slice(0, image.shape[0]),) if image.ndim == 3 else ()
        for y, x in [(slice(0, 40), slice(0, 50)), (slice(37, 90), slice(45, 101))]:
            part = net.block(image, base + (y, x))
            np.testing.assert_allclose(part, whole[base + (y, x)], atol=1e-4)
    score = whole[..., 0]  # high on the discs, low between them
    assert score[20, 20] > 0 > score[5, 95]


def test_a_block_is_scored_in_pieces_and_a_stop_is_heeded_between_them(nuclei_2d, monkeypatch):
    import threading

    image = _stack()[1]
    net = NetworkFeatures(nuclei_2d, image)
    everything = (slice(0, 90), slice(0, 101))
    whole = net.block(image, everything)
    monkeypatch.setattr(network_features, "PIECE", 32)  # 3 x 4 pieces
    np.testing.assert_allclose(net.block(image, everything), whole, atol=1e-4)
    stop = threading.Event()
    calls = []
    piece = net._piece

    def pressed(*args):
        calls.append(1)
        stop.set()  # pressed while the first piece is scored
        return piece(*args)

    monkeypatch.setattr(net, "_piece", pressed)
    assert net.block(image, everything, stop) is None and len(calls) == 1


def test_the_score_is_the_models_own_answer(nuclei_2d):
    image = _stack()[0]
    net = NetworkFeatures(nuclei_2d, image)
    score = net.score(image)[..., 0]
    x = torch.from_numpy(np.pad(nuclei_2d.normalize(image), ((0, 6), (0, 3)), "symmetric"))
    with torch.no_grad():
        logits = nuclei_2d.network.eval()(x[None, None])[0, :, :90, :101]
    np.testing.assert_allclose(score, (logits[1] - logits[0]).numpy(), atol=1e-4)


def test_auc_is_the_rank_statistic_with_ties_counted_half():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 300).astype(float)  # many ties
    positive = rng.random(300) < scores / 5
    assert auc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))
    assert auc(np.arange(4.0), np.array([0, 0, 1, 1], bool)) == 1.0
    assert np.isnan(auc(np.arange(3.0), np.ones(3, bool)))
    # strokes: 1 background, any other value an object class
    assert separates(np.array([0.0, 1, 2, 3]), np.array([1, 1, 2, 3])) == 1.0


def test_a_3d_model_scores_a_stack_in_3d_and_its_blocks_alike():
    bundle = ModelBundle.load(REGISTRY.shipped()["nuclei-3d"])
    stack = np.concatenate([_stack((10, 90, 101), seed) for seed in (1, 2)])  # 20 planes
    net = NetworkFeatures(bundle, stack)
    whole = net.block(stack, (slice(0, 20), slice(0, 90), slice(0, 101)))
    assert whole.shape == stack.shape + (1,)
    x = bundle.normalize(stack)
    x = torch.from_numpy(np.pad(x, ((0, 4), (0, 6), (0, 3)), "symmetric"))
    with torch.no_grad():
        logits = bundle.network.eval()(x[None, None])[0, :, :20, :90, :101]
    np.testing.assert_allclose(whole[..., 0], (logits[1] - logits[0]).numpy(), atol=1e-4)
    part = (slice(5, 20), slice(30, 90), slice(0, 50))
    with pytest.MonkeyPatch.context() as patch:  # the 2D margin: the whole stack's scores
        patch.setitem(network_features.MARGIN, 3, 64)
        np.testing.assert_allclose(net.block(stack, part), whole[part], atol=1e-4)
    # the stacks' narrower margin: the same scores away from the block's sides
    inner = (slice(5, 15), slice(30 + 24, 90), slice(0, 50 - 24))
    block = net.block(stack, part)[(slice(0, 10), slice(24, 60), slice(0, 26))]
    np.testing.assert_allclose(block, whole[inner], atol=0.05)


def test_network_features_refuse_what_they_cannot_read():
    with pytest.raises(ValueError, match="one input channel"):
        NetworkFeatures(ModelBundle.create(spatial_dims=2, in_channels=2, depth=2), _stack())
    with pytest.raises(ValueError, match="an image of at least 3 axes"):
        NetworkFeatures(ModelBundle.create(spatial_dims=3, depth=2), _stack()[0])
