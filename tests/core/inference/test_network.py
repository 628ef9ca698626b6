"""The network prepared for inference computes what the trained one does.

BatchNorm folded, channels-last and oneDNN-forced on the CPU, an exact copy that leaves
the caller's model as it was.
"""

from __future__ import annotations

import pytest
import torch

from napari_unetseg.core.inference import fold_batchnorm, inference_network
from napari_unetseg.core.inference.network import OneDNNConv
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
    assert isinstance(conv, OneDNNConv)  # never PyTorch's slow batch-1 fallback kernel
    assert conv.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    # the caller's model keeps its mode, its BatchNorms and its weights
    assert net.training
    assert isinstance(net.encoders[0][1], torch.nn.BatchNorm3d)
    assert all(p.requires_grad for p in net.parameters())
