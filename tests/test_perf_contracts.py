"""Contracts behind the inference engine's speed (no timings: those live in benchmarks/).

What the engine does to run fast must not change what it computes: the network it runs
is an exact, prepared copy (BatchNorm folded, channels-last on the CPU) evaluated under
``torch.inference_mode``; labels come from a class-by-class argmax equal to
``torch.argmax``; the caller's model is never modified; bf16 on the CPU agrees with
fp32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.api import drain
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.synthetic import synthetic_nuclei
from napari_unetseg.core.tiling import (
    _argmax_classes,
    _OneDNNConv,
    fold_batchnorm,
    inference_network,
    predict_tiled,
)
from napari_unetseg.core.unet import UNet


def _with_running_stats(net: UNet, seed: int = 0) -> UNet:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return net.eval()


@pytest.mark.parametrize("dims", [2, 3])
def test_folded_network_computes_the_same(dims: int) -> None:
    torch.manual_seed(dims)
    net = _with_running_stats(UNet(spatial_dims=dims, depth=3, base_channels=4, n_classes=3))
    x = torch.randn((2, 1) + (16,) * dims)
    with torch.no_grad():
        ref = net(x)
        folded = fold_batchnorm(_copy(net))
        out = folded(x)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dims,tile", [(2, 24), (3, 16)])
def test_prepared_network_computes_the_same(dims: int, tile: int) -> None:
    """Folded, channels-last, oneDNN-forced copy == the original, in fp32 and bf16."""
    torch.manual_seed(dims)
    net = _with_running_stats(UNet(spatial_dims=dims, depth=3, base_channels=8))
    prepared = inference_network(net, torch.device("cpu"), dims)
    x = torch.randn((1, 1) + (tile,) * dims)
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    with torch.inference_mode():
        ref = net(x)
        out = prepared(x.contiguous(memory_format=fmt))
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = prepared(x.contiguous(memory_format=fmt)).float()
    assert low.shape == ref.shape
    assert (low - ref).abs().mean() < 0.05 * ref.abs().mean()


def _copy(net: UNet) -> UNet:
    other = UNet(**net.config)
    other.load_state_dict(net.state_dict())
    return other.eval()


def test_other_norms_are_left_alone() -> None:
    net = UNet(spatial_dims=2, depth=2, base_channels=4, norm="instance").eval()
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        ref = net(x)
        out = fold_batchnorm(_copy(net))(x)
    torch.testing.assert_close(out, ref)


def test_inference_network_is_a_prepared_copy() -> None:
    net = _with_running_stats(UNet(spatial_dims=3, depth=2, base_channels=4))
    net.train()
    prepared = inference_network(net, torch.device("cpu"), 3)
    assert prepared is not net and not prepared.training
    assert not any(p.requires_grad for p in prepared.parameters())
    conv = prepared.encoders[0][0]
    assert isinstance(conv, _OneDNNConv)  # never PyTorch's slow batch-1 fallback kernel
    assert conv.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    # the caller's model keeps its mode, its BatchNorms and its weights
    assert net.training
    assert isinstance(net.encoders[0][1], torch.nn.BatchNorm3d)
    assert all(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("k", [2, 3, 5])
def test_argmax_classes_matches_torch_argmax_with_ties(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    # few distinct values, so that ties between classes are common
    scores = torch.randint(0, 3, (k, 7, 9, 5), generator=g).float()
    labels = _argmax_classes(scores)
    assert labels.shape == scores.shape[1:]
    np.testing.assert_array_equal(labels.numpy().astype(np.int64), scores.argmax(0).numpy())


@pytest.fixture(scope="module")
def nuclei_model() -> ModelBundle:
    """A tiny U-Net trained for a few seconds on synthetic nuclei (non-trivial labels)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=3, base_channels=8)
    images = [synthetic_nuclei((96, 96), seed=s) for s in range(8)]
    x = torch.from_numpy(np.stack([bundle.normalize(i) for i, _ in images]))[:, None]
    y = torch.from_numpy(np.stack([(lab > 0).astype(np.int64) for _, lab in images]))
    net = bundle.network
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    torch.set_num_threads(threads)
    return bundle


def test_engine_runs_under_inference_mode_and_keeps_the_model(nuclei_model: ModelBundle) -> None:
    seen: list[bool] = []
    hook = nuclei_model.network.register_forward_hook(
        lambda *_: seen.append(torch.is_inference_mode_enabled())
    )
    try:
        nuclei_model.network.train()  # e.g. a fine-tuning paused in the GUI
        image, _ = synthetic_nuclei((80, 72), seed=3)
        res = drain(predict_tiled(nuclei_model, image, tile_size=32, device="cpu"))
    finally:
        hook.remove()
        training = nuclei_model.network.training
        nuclei_model.network.eval()
    assert seen and all(seen)  # the hook travels with the prepared copy
    assert training  # the caller's model was not switched to eval mode
    ref = drain(predict_tiled(nuclei_model, image, tile_size=32, device="cpu")).labels
    np.testing.assert_array_equal(res.labels, ref)  # and eval mode was used anyway


def test_cpu_bf16_agrees_with_fp32(nuclei_model: ModelBundle) -> None:
    if not torch.backends.mkldnn.is_available():
        pytest.fail("oneDNN (mkldnn) is required for CPU bf16 inference")
    image, truth = synthetic_nuclei((160, 144), seed=7)
    kw = dict(tile_size=64, overlap=0.25, device="cpu", return_probabilities=True)
    a = drain(predict_tiled(nuclei_model, image, precision="fp32", **kw))
    b = drain(predict_tiled(nuclei_model, image, precision="bf16", **kw))
    assert 0.05 < a.labels.mean() < 0.6  # the model segments nuclei, labels are not trivial
    assert ((a.labels > 0) == (truth > 0)).mean() > 0.85
    assert (a.labels == b.labels).mean() >= 0.995
    # bf16 keeps 8 bits of mantissa: a few steep pixels move by ~0.1, typical ones ~1e-3
    assert np.abs(a.probabilities - b.probabilities).mean() < 0.01
