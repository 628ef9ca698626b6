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
        return nn.GroupNorm(_groups(channels), channels)
    return nn.Identity()


def _groups(channels: int) -> int:
    """Groups of a group norm over ``channels``: 8 (fewer channels: one group each), or
    the largest divisor of 8 that divides them (12 channels: 4 groups; GroupNorm refuses
    a count that does not divide the channels, so a new 3D model, 12 base channels,
    could not have group norm)."""
    groups = min(8, channels)
    while channels % groups:  # no math.gcd: this file ships in bioimage.io packages,
        groups //= 2  # which import torch and typing only
    return groups


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
        for name, value in (
            ("in_channels", in_channels),
            ("n_classes", n_classes),
            ("base_channels", base_channels),
        ):
            if value < 1:  # (all three were named, whichever it was)
                raise ValueError(f"{name} must be positive, got {value!r}.")
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

    def replace_head(self, n_classes: int) -> None:
        """A new output layer of ``n_classes`` channels (the rest is kept). Where both
        counts are softmax classes (2 or more), the classes both have keep their weights:
        a model grown from 2 to 4 classes still knows its background and nuclei."""
        old = self.head
        self.head = type(old)(old.in_channels, n_classes, 1)
        keep = min(old.out_channels, n_classes)
        if old.out_channels >= 2 and n_classes >= 2:
            with torch.no_grad():
                self.head.weight[:keep] = old.weight[:keep]
                self.head.bias[:keep] = old.bias[:keep]
        self.config["n_classes"] = int(n_classes)

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


def unet_settings() -> set[str]:
    """The settings :class:`UNet` takes (its constructor's arguments)."""
    import inspect

    return set(inspect.signature(UNet.__init__).parameters) - {"self"}


def unknown_settings(config: dict[str, Any]) -> list[str]:
    """The keys of ``config`` that :class:`UNet` does not take, sorted."""
    return sorted(str(k) for k in set(config) - unet_settings())


def _channel_map(old: int, new: int, gen: torch.Generator) -> torch.Tensor:
    """New channel -> the old channel it copies: the old ones first, then random picks."""
    extra = torch.randint(0, old, (new - old,), generator=gen)
    return torch.cat([torch.arange(old), extra])


def _share(mapping: torch.Tensor) -> torch.Tensor:
    """Per new channel, 1 / how many new channels copy its old one (splits its weight)."""
    return 1.0 / torch.bincount(mapping)[mapping].to(torch.float32)


def _copy_conv(
    old: nn.Module,
    new: nn.Module,
    out_map: torch.Tensor,
    in_map: torch.Tensor,
    in_share: torch.Tensor,
    noise: float,
    gen: torch.Generator,
) -> None:
    """``new`` computes what ``old`` does on channels copied by ``in_map``, each output
    channel ``j`` being old channel ``out_map[j]``; copies get ``noise`` x the weights' std."""
    w = old.weight.detach()
    fan = [1] * (w.dim() - 2)
    if isinstance(old, nn.ConvTranspose2d | nn.ConvTranspose3d):  # (in, out, *kernel)
        w = w[in_map][:, out_map] * in_share.view(-1, 1, *fan)
        copies = (slice(None), slice(old.out_channels, None))
    else:
        w = w[out_map][:, in_map] * in_share.view(1, -1, *fan)
        copies = (slice(old.out_channels, None),)
    if noise > 0:
        w[copies] += noise * float(w.std()) * torch.randn(w[copies].shape, generator=gen)
    new.weight.data.copy_(w)
    if old.bias is not None:
        new.bias.data.copy_(old.bias.detach()[out_map])


def _copy_norm(old: nn.Module, new: nn.Module, out_map: torch.Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        src = getattr(old, name, None)
        if isinstance(src, torch.Tensor):
            getattr(new, name).data.copy_(src.detach()[out_map])
    if getattr(old, "num_batches_tracked", None) is not None:
        new.num_batches_tracked.data.copy_(old.num_batches_tracked)


_CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def _copy_layers(
    old: nn.Module, new: nn.Module, in_map: torch.Tensor, noise: float, gen: torch.Generator
) -> torch.Tensor:
    """Copy a chain of layers (a ConvBlock, an up-sampling step) into its wider twin,
    convolution by convolution; returns the channel map of its output."""
    for lo, ln in zip(old.modules(), new.modules()):
        if isinstance(lo, _CONVS):
            out_map = _channel_map(lo.out_channels, ln.out_channels, gen)
            _copy_conv(lo, ln, out_map, in_map, _share(in_map), noise, gen)
            in_map = out_map
        elif isinstance(lo, _NORMS):
            _copy_norm(lo, ln, in_map)
    return in_map


def widened(net: UNet, base_channels: int, noise: float = 0.01, seed: int = 0) -> UNet:
    """A copy of ``net`` with ``base_channels`` feature channels at full resolution that
    computes the same function (Net2Net widening: new channels copy old ones, and the
    next layer splits its weight among the copies), so training it goes on from where
    ``net`` was, with more capacity. ``noise`` (relative to each layer's weight spread) on
    the copies' incoming weights lets them grow apart; with 0 the outputs are the same
    up to rounding. Batch / instance / no normalization only (group norm mixes channels).
    """
    cfg = dict(net.config)
    if cfg["norm"] == "group":
        raise ValueError("A U-Net with group normalization cannot be widened.")
    if base_channels < cfg["base_channels"]:
        raise ValueError(
            f"base_channels must be at least the network's {cfg['base_channels']}, "
            f"got {base_channels}."
        )
    gen = torch.Generator().manual_seed(seed)
    wide = UNet(**{**cfg, "base_channels": base_channels})
    in_map = torch.arange(cfg["in_channels"])
    skips = []
    for eo, en in zip(net.encoders, wide.encoders):
        in_map = _copy_layers(eo, en, in_map, noise, gen)
        skips.append(in_map)
    skips.pop()
    for uo, un, do, dn in zip(net.ups, wide.ups, net.decoders, wide.decoders):
        up_map = _copy_layers(uo, un, in_map, noise, gen)
        skip = skips.pop()
        # decoder input: cat(up-sampled, skip); old channel numbers of the skip half are
        # offset by the old up-sampled width, and each half splits its weights apart
        old_up = next(m for m in uo.modules() if isinstance(m, _CONVS)).out_channels
        in_map = torch.cat([up_map, skip + old_up])
        in_map = _copy_layers(do, dn, in_map, noise, gen)
    _copy_conv(
        net.head, wide.head, torch.arange(cfg["n_classes"]), in_map, _share(in_map), 0.0, gen
    )
    return wide
