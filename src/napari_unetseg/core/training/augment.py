"""Augmentation on the batch (torch): flips, in-plane 90 degree rotations, intensity changes;
for a new model learning from scribbles also any in-plane rotation and zoom."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_batch(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, intensity: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips / 90-degree in-plane rotations (image and labels) and intensity changes.

    Random numbers come from ``gen`` (a CPU generator) so a seeded run is reproducible on
    any device. Intensity changes (scale, shift, gamma, gaussian noise) apply to the image
    only.

    Parameters
    ----------
    x : Tensor
        Images, (B, C, *spatial) float.
    y : Tensor
        Targets, (B, *spatial) long.
    gen : torch.Generator
        A CPU generator.
    intensity : bool
        Also the intensity changes and noise; without them, only flips and turns (the
        same random draws either way).

    Returns
    -------
    x, y : Tensor
        The augmented batch, same shapes (patches with a square plane turn by 90
        degrees, others only by 180).
    """
    b, nd = x.shape[0], x.ndim - 2
    r = torch.rand(b, nd + 6, generator=gen)
    xs, ys = [], []
    square = x.shape[-1] == x.shape[-2]
    for i in range(b):
        xi, yi = x[i], y[i]
        flips = [a for a in range(nd) if r[i, a] < 0.5]
        if flips:
            xi = torch.flip(xi, [a + 1 for a in flips])
            yi = torch.flip(yi, flips)
        k = int(r[i, nd] * 4) if square else 2 * int(r[i, nd] * 2)
        if k % 4:
            xi = torch.rot90(xi, k, (nd - 1, nd))
            yi = torch.rot90(yi, k, (nd - 2, nd - 1))
        xs.append(xi)
        ys.append(yi)
    x, y = torch.stack(xs), torch.stack(ys)
    if not intensity:
        return x, y
    shape = (b,) + (1,) * (x.ndim - 1)
    dev_r = r.to(x.device)
    scale = torch.exp((dev_r[:, nd + 1] - 0.5) * 0.6).view(shape)  # x0.74 .. x1.35
    shift = ((dev_r[:, nd + 2] - 0.5) * 0.2).view(shape)
    gamma = torch.exp((dev_r[:, nd + 3] - 0.5) * 0.8).view(shape)  # 0.67 .. 1.5
    use_gamma = (dev_r[:, nd + 4] < 0.5).view(shape)
    # Gamma on the [0, 1] range of each patch, then back, so negative values stay valid.
    lo = x.amin(dim=tuple(range(1, x.ndim)), keepdim=True)
    hi = x.amax(dim=tuple(range(1, x.ndim)), keepdim=True)
    span = (hi - lo).clamp_min(1e-6)
    xg = ((x - lo) / span).clamp(0, 1) ** gamma * span + lo
    x = torch.where(use_gamma, xg, x)
    x = x * scale + shift
    noise_sd = (dev_r[:, nd + 5] ** 2 * 0.1).view(shape)
    noise = torch.randn(x.shape, generator=gen).to(x.device)
    return x + noise * noise_sd, y


#: Zoom range of :func:`affine_batch`: log-uniform in ``[1 / ZOOM, ZOOM]``.
ZOOM = 1.33


def affine_batch(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, zoom: float = ZOOM
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random in-plane rotation (any angle) and zoom of each patch, image and labels.

    Used when a new model learns from scribbles: with a few strokes a network learns the
    strokes' surroundings by heart, and turning and scaling them is what keeps it to what
    the pixels look like (measured in docs/benchmarks.md, Accuracy on real data). The
    image is resampled linearly with mirrored borders; labels take the nearest pixel's
    label, and pixels that come from outside the patch are ignored (-1).

    Parameters
    ----------
    x : Tensor
        Images, (B, C, *spatial) float; 2D, or 3D turned in the plane of the last two axes.
    y : Tensor
        Targets, (B, *spatial) long, -1 = ignored.
    gen : torch.Generator
        A CPU generator (reproducible on any device).
    zoom : float
        Largest zoom factor (and 1 / zoom the smallest); 1 turns zooming off.

    Returns
    -------
    x, y : Tensor
        Same shapes and dtypes.
    """
    b, nd = x.shape[0], x.ndim - 2
    r = torch.rand(b, 2, generator=gen)
    scale = torch.exp((r[:, 0] * 2 - 1) * math.log(zoom))
    angle = r[:, 1] * 2 * math.pi
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    height, width = x.shape[-2], x.shape[-1]
    # affine_grid works in normalized coordinates (x = last axis first), so the rotation
    # is conjugated with the plane's aspect ratio to turn pixels, not stretch them.
    theta = torch.zeros(b, nd, nd + 1)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * height / width
    theta[:, 1, 0], theta[:, 1, 1] = sin * width / height, cos
    if nd == 3:
        theta[:, 2, 2] = scale
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    shifted = (y + 1).unsqueeze(1).to(x.dtype)  # 0 = ignored, also outside the patch
    shifted = F.grid_sample(
        shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False
    )
    return x, shifted.squeeze(1).round().long() - 1
