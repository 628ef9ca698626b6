"""A configurable 2D/3D U-Net with same-size output.

Every convolution uses "same" padding, so the output has the spatial shape of the
input and a tile's output aligns pixel for pixel with the tile. The encoder halves the
resolution ``depth - 1`` times, so every spatial size that is a multiple of
``2 ** (depth - 1)`` is accepted (:meth:`UNet.divisor`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

NORMS = ("batch", "instance", "group", "none")
UPSAMPLINGS = ("transpose", "interp")


def _conv(spatial_dims: int) -> type[nn.Module]:
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "instance":
        cls = nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d
        return cls(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two (conv -> norm -> activation) layers, with optional dropout between them."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, norm: str, dropout: float) -> None:
        conv = _conv(spatial_dims)
        bias = norm == "none"
        layers: list[nn.Module] = [
            conv(cin, cout, 3, padding=1, bias=bias),
            _norm(norm, spatial_dims, cout),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append((nn.Dropout2d if spatial_dims == 2 else nn.Dropout3d)(dropout))
        layers += [
            conv(cout, cout, 3, padding=1, bias=bias),
            _norm(norm, spatial_dims, cout),
            nn.ReLU(inplace=True),
        ]
        super().__init__(*layers)


class SegmentationNetwork(nn.Module):
    """A network whose ``config`` dict names its geometry (shared by ``foreign.py``)."""

    config: dict[str, Any]

    @property
    def spatial_dims(self) -> int:
        return self.config["spatial_dims"]

    @property
    def in_channels(self) -> int:
        return self.config["in_channels"]

    @property
    def n_classes(self) -> int:
        return self.config["n_classes"]


class UNet(SegmentationNetwork):
    """U-Net for 2D or 3D semantic segmentation.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    in_channels : int
        Number of input channels (1 for grayscale, 3 for RGB, ...).
    n_classes : int
        Number of output channels. With ``n_classes >= 2`` channel 0 is background and
        labels are the argmax; with ``n_classes == 1`` the single channel is a
        foreground logit (sigmoid, threshold 0.5).
    depth : int
        Number of resolution levels (``depth - 1`` poolings).
    base_channels : int
        Feature channels at full resolution; doubled at each level down.
    norm : {'batch', 'instance', 'group', 'none'}
        Normalization layer. ``'batch'`` (the default) makes the output of a pixel
        independent of the rest of its tile at inference, which keeps tiled and
        whole-image predictions consistent.
    dropout : float
        Channel dropout inside each block (0 disables).
    upsampling : {'transpose', 'interp'}
        Learned transposed convolution or (bi/tri)linear interpolation + 1x1 conv.
    max_channels : int
        Cap on feature channels at the deepest levels.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        n_classes: int = 2,
        depth: int = 4,
        base_channels: int = 16,
        norm: str = "batch",
        dropout: float = 0.0,
        upsampling: str = "transpose",
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth!r}.")
        if in_channels < 1 or n_classes < 1 or base_channels < 1:
            raise ValueError("in_channels, n_classes and base_channels must be positive.")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}.")
        self.config: dict[str, Any] = {
            "spatial_dims": spatial_dims,
            "in_channels": in_channels,
            "n_classes": n_classes,
            "depth": depth,
            "base_channels": base_channels,
            "norm": norm,
            "dropout": float(dropout),
            "upsampling": upsampling,
            "max_channels": max_channels,
        }
        chans = [min(base_channels * 2**i, max_channels) for i in range(depth)]
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        conv = _conv(spatial_dims)
        self.encoders = nn.ModuleList()
        cin = in_channels
        for c in chans:
            self.encoders.append(ConvBlock(spatial_dims, cin, c, norm, dropout))
            cin = c
        self.pool = pool(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for lower, upper in zip(chans[:0:-1], chans[-2::-1]):
            if upsampling == "transpose":
                tconv = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
                self.ups.append(tconv(lower, upper, 2, stride=2))
            else:
                mode = "bilinear" if spatial_dims == 2 else "trilinear"
                self.ups.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                        conv(lower, upper, 1),
                    )
                )
            self.decoders.append(ConvBlock(spatial_dims, 2 * upper, upper, norm, dropout))
        self.head = conv(chans[0], n_classes, 1)

    def divisor(self) -> int:
        """Every spatial size must be a multiple of this number."""
        return 2 ** (self.config["depth"] - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        div = self.divisor()
        if any(s % div for s in x.shape[2:]):
            raise ValueError(
                f"UNet input spatial shape {tuple(x.shape[2:])} must be a multiple of {div} "
                f"(depth {self.config['depth']})."
            )
        skips = []
        for i, enc in enumerate(self.encoders):
            if i:
                x = self.pool(x)
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoders):
            x = up(x)
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)
