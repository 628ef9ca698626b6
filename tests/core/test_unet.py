from __future__ import annotations

import pytest
import torch

from napari_unetseg.core.unet import UNet, widened


@pytest.mark.parametrize("spatial_dims,shape", [(2, (24, 40)), (3, (8, 16, 24))])
@pytest.mark.parametrize("upsampling", ["transpose", "interp"])
@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
def test_same_size_output(spatial_dims: int, shape: tuple, upsampling: str, norm: str) -> None:
    net = UNet(
        spatial_dims,
        in_channels=2,
        n_classes=3,
        depth=3,
        base_channels=4,
        norm=norm,
        upsampling=upsampling,
        dropout=0.1,
    ).eval()
    x = torch.randn(2, 2, *shape)
    assert net(x).shape == (2, 3, *shape)


def test_any_multiple_of_the_divisor_works_and_others_are_refused() -> None:
    net = UNet(2, depth=4, base_channels=4).eval()
    assert net.divisor() == 8
    for s in (8, 16, 40, 72):
        assert net(torch.randn(1, 1, s, 8)).shape[-2:] == (s, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        net(torch.randn(1, 1, 12, 8))


def test_depth_one_and_channel_cap() -> None:
    net = UNet(2, depth=1, base_channels=4).eval()
    assert net(torch.randn(1, 1, 5, 7)).shape == (1, 2, 5, 7)
    capped = UNet(2, depth=4, base_channels=8, max_channels=16)
    assert max(m.out_channels for m in capped.modules() if isinstance(m, torch.nn.Conv2d)) == 16


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"depth": 0}, "depth"),
        ({"norm": "layer"}, "norm"),
        ({"upsampling": "nearest"}, "upsampling"),
        ({"n_classes": 0}, "positive"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UNet(**kwargs)


def test_config_rebuilds_the_same_architecture() -> None:
    net = UNet(3, in_channels=1, n_classes=4, depth=2, base_channels=4, norm="group")
    clone = UNet(**net.config)
    clone.load_state_dict(net.state_dict())  # same parameter names and shapes
    assert clone.config == net.config


@pytest.mark.parametrize(
    "spatial_dims, upsampling, norm",
    [
        (2, "transpose", "batch"),
        (3, "transpose", "batch"),
        (2, "interp", "instance"),
        (3, "interp", "none"),
    ],
)
def test_widened_network_computes_the_same_function(spatial_dims, upsampling, norm) -> None:
    torch.manual_seed(0)
    net = UNet(
        spatial_dims, n_classes=3, depth=3, base_channels=4, upsampling=upsampling, norm=norm
    )
    for m in net.modules():  # trained-looking normalization statistics
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, 1, *([16] * spatial_dims))
    wide = widened(net, 7, noise=0.0)
    assert wide.config == {**net.config, "base_channels": 7}
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        expected = net.eval()(x)
        assert torch.allclose(wide.eval()(x), expected, atol=1e-5)
        # the copies start apart (noise), but only a little
        noisy = widened(net, 7, noise=0.01).eval()(x)
        # in training mode too (batch statistics of copied channels are the same)
        assert torch.allclose(wide.train()(x), net.train()(x), atol=1e-5)
    assert 0 < float((noisy - expected).abs().max()) < 0.05 * float(expected.abs().max())


def test_widening_refuses_group_norm_and_narrower_networks() -> None:
    with pytest.raises(ValueError, match="group normalization"):
        widened(UNet(2, base_channels=8, norm="group"), 16)
    with pytest.raises(ValueError, match="at least the network's 8"):
        widened(UNet(2, base_channels=8), 4)


@pytest.mark.parametrize("base_channels,groups", [(4, 4), (8, 8), (12, 4), (16, 8), (20, 4)])
def test_group_norm_takes_any_channel_count(base_channels: int, groups: int) -> None:
    # 12 base channels (the default of a new 3D model) made GroupNorm refuse 8 groups
    net = UNet(3, base_channels=base_channels, depth=2, norm="group").eval()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms[0].num_groups == groups
    assert all(m.num_channels % m.num_groups == 0 for m in norms)
    assert net(torch.randn(1, 1, 4, 8, 8)).shape == (1, 2, 4, 8, 8)
