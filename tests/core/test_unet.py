from __future__ import annotations

import pytest
import torch

from napari_unetseg.core.unet import UNet


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
