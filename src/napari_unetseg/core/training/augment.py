"""Augmentation on the batch (torch): flips, in-plane 90 degree rotations, intensity changes."""

from __future__ import annotations

import torch


def augment_batch(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator
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
