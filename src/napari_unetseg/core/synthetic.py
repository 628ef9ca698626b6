"""Synthetic fluorescence-nuclei images with instance labels, 2D and 3D.

The generator imitates what a nuclear stain (DAPI / Hoechst) looks like through a
widefield or confocal microscope, so tests, sample data and the shipped default models
all see realistic inputs:

- nuclei are ellipses / ellipsoids of varied size, elongation and orientation with a
  wobbly outline; part of them sit in clusters where they touch or slightly overlap
  (the overlap is split between them, like a Voronoi seam);
- per-nucleus brightness varies (log-normal), a fraction is dim and a fraction is
  brighter than the camera's range (saturated, clipped), with a chromatin-like texture;
- uneven illumination (multiplicative shading) and background (additive, plus
  out-of-focus haze around the nuclei), optical blur (anisotropic in 3D) and depth
  attenuation in 3D;
- Poisson (shot) noise plus Gaussian read noise, a camera offset and a random gain, then
  clipping to the camera's white level and conversion to the requested dtype.

Everything is numpy only (its own separable blurs, large-scale fields drawn at low
resolution and interpolated), so existing seeds keep giving identical images.
The output depends only on ``shape``, ``seed`` and the options.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Default options of :func:`synthetic_nuclei` (see its docstring).
DEFAULT_OPTIONS: dict[str, Any] = {
    "dtype": "uint16",
    "radius": (7.0, 13.0),
    "n_nuclei": None,
    "density": 0.3,
    "cluster_fraction": 0.4,
    "elongation": 0.35,
    "irregularity": 0.12,
    "brightness_cv": 0.3,
    "dim_fraction": 0.1,
    "saturated_fraction": 0.04,
    "mitotic_fraction": 0.0,
    "texture": 0.25,
    "nucleoli": 0.0,
    "chromocenters": 0.0,
    "rim": 0.0,
    "occupied": 1.0,
    "axial_blur": 2.5,
    "background": 0.08,
    "haze": 0.1,
    "halo": 0.0,
    "illumination": 0.35,
    "blur": 1.0,
    "photons": 150.0,
    "read_noise": 0.02,
    "z_scale": 1.0,
    "attenuation": 0.25,
    "white": None,
    "offset": None,
    "headroom": None,
}

_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float32": np.float32}


# -- small numpy image tools ---------------------------------------------------------------
def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalized 1D gaussian kernel (radius 3 sigma)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float | tuple[float, ...]) -> np.ndarray:
    """Separable gaussian blur (reflect boundary) of a float array, numpy only.

    Parameters
    ----------
    image : ndarray
        Any number of dimensions.
    sigma : float or tuple of float
        Standard deviation per axis (0 leaves an axis untouched).
    """
    out = np.asarray(image, dtype=np.float32)
    sigmas = (sigma,) * out.ndim if np.isscalar(sigma) else tuple(sigma)
    for axis, s in enumerate(sigmas):
        if s <= 0.05 or out.shape[axis] < 2:
            continue
        k = gaussian_kernel(float(s))
        r = len(k) // 2
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        # 'symmetric' works for axes shorter than the kernel; 'reflect' would not.
        padded = np.pad(out, pad, mode="symmetric" if out.shape[axis] <= r else "reflect")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * np.take(padded, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def _resize_linear(small: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of a small field up to ``shape``."""
    out = small.astype(np.float32)
    for axis, n in enumerate(shape):
        m = out.shape[axis]
        if m == n:
            continue
        pos = np.linspace(0, m - 1, n, dtype=np.float32)
        lo = np.clip(np.floor(pos).astype(int), 0, max(m - 2, 0))
        hi = np.minimum(lo + 1, m - 1)
        frac = (pos - lo).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], cells: int) -> np.ndarray:
    """A smooth random field (zero mean, unit std) with about ``cells`` bumps per axis."""
    small = rng.standard_normal(tuple(max(2, min(cells + 1, s)) for s in shape))
    field = _resize_linear(small, shape)
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def _blur_large(image: np.ndarray, sigma: float) -> np.ndarray:
    """An approximate wide gaussian blur: block-average, blur small, interpolate back."""
    factor = max(1, int(sigma // 3))
    if factor == 1:
        return gaussian_blur(image, sigma)
    crop = tuple(slice(0, (s // factor) * factor) for s in image.shape)
    part = image[crop]
    if part.size == 0:
        return np.full_like(image, image.mean())
    small = part.reshape([v for s in part.shape for v in (s // factor, factor)]).mean(
        axis=tuple(range(1, 2 * image.ndim, 2))
    )
    return _resize_linear(gaussian_blur(small, sigma / factor), image.shape)


# -- geometry -------------------------------------------------------------------------------
def _random_rotation(rng: np.random.Generator, ndim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((ndim, ndim)))
    return q * np.sign(np.diag(r))


def _place_centers(
    rng: np.random.Generator,
    phys: np.ndarray,
    radii: np.ndarray,
    cluster_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (physical units) and radii of the nuclei that could be placed: free nuclei spread out, clustered ones touching.

    Centres may lie up to one radius outside the image so nuclei are cut by the border
    as in real fields of view. Candidates overlapping a placed nucleus too much are
    dropped, which bounds how much of a nucleus another one can hide.
    """
    ndim = len(phys)
    centers = np.zeros((0, ndim))
    placed_r = np.zeros(0)
    n = len(radii)
    n_clustered = int(round(n * cluster_fraction))
    for i, r in enumerate(radii):
        for _ in range(8):
            if i < n_clustered and len(centers) and rng.random() < 0.85:
                j = rng.integers(len(centers))
                direction = rng.standard_normal(ndim)
                direction /= np.linalg.norm(direction) + 1e-9
                c = centers[j] + direction * (r + placed_r[j]) * rng.uniform(0.8, 1.02)
                min_sep = 0.72
            else:
                c = rng.uniform(-r, phys + r)
                min_sep = 0.95 if i >= n_clustered else 0.72
            if len(centers):
                d = np.linalg.norm(centers - c, axis=1)
                if np.any(d < min_sep * (placed_r + r)):
                    continue
            centers = np.vstack([centers, c])
            placed_r = np.append(placed_r, r)
            break
    return centers, placed_r


# -- the generator --------------------------------------------------------------------------
def synthetic_nuclei(
    shape: tuple[int, ...], seed: int = 0, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic fluorescence-nuclei image and its instance labels.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` for 2D or ``(Z, Y, X)`` for 3D.
    seed : int
        Same seed and options give an identical result.
    **options
        Override :data:`DEFAULT_OPTIONS`:

        - ``dtype``: ``'uint8'``, ``'uint16'`` (default) or ``'float32'``;
        - ``radius``: ``(min, max)`` nucleus radius in pixels (X/Y);
        - ``n_nuclei`` (None: from ``density``, the fraction of the field covered);
        - ``cluster_fraction``: share of nuclei placed touching another;
        - ``elongation`` (max extra axis ratio), ``irregularity`` (outline wobble);
        - ``brightness_cv`` (log-normal spread), ``dim_fraction`` (3-6x dimmer),
          ``saturated_fraction`` (clipped at the white level), ``mitotic_fraction``
          (small, elongated, very bright condensed nuclei), ``texture``;
        - ``background``, ``haze`` (out-of-focus light), ``illumination`` (shading
          strength), all relative to the mean nucleus brightness;
        - ``blur`` (PSF sigma in pixels), ``photons`` (photons at the mean nucleus
          brightness: lower is noisier), ``read_noise`` (relative);
        - inner structure (0 = none, 1 = strong): ``nucleoli`` (1-3 dark round bodies
          per nucleus), ``chromocenters`` (2-7 small bright spots), ``rim`` (a bright
          nuclear envelope);
        - ``occupied``: the share of the first axis (Z in 3D, Y in 2D) that holds
          nuclei; the rest of the field stays empty (e.g. the top of a stack);
        - 3D only: ``z_scale`` (Z step / XY pixel size), ``attenuation`` (signal loss
          with depth), ``axial_blur`` (Z blur over XY blur, in physical units: the
          elongated confocal PSF that makes the caps of nuclei dim);
        - camera: ``white`` (saturation level), ``offset`` (dark level), ``headroom``
          (white level / mean nucleus level); drawn at random when None.

    Returns
    -------
    image : ndarray
        ``shape``, of the requested dtype.
    labels : ndarray
        int32, 0 background and 1..N the nuclei (consecutive).

    Raises
    ------
    ValueError
        For a shape that is not 2D/3D, or an unknown option.
    """
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ValueError(
            f"Unknown synthetic_nuclei option(s) {sorted(unknown)}; valid: {sorted(DEFAULT_OPTIONS)}."
        )
    opt = {**DEFAULT_OPTIONS, **options}
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must be (Y, X) or (Z, Y, X) with positive sizes, got {shape}.")
    if str(opt["dtype"]) not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {opt['dtype']!r}.")
    rng = np.random.default_rng(seed)
    # Inner structure draws from its own stream so older seeds give identical images.
    rng_inner = np.random.default_rng([seed, 7])
    ndim = len(shape)
    spacing = np.ones(ndim)
    if ndim == 3:
        spacing[0] = float(opt["z_scale"])
    phys = np.array(shape) * spacing
    occupied = float(np.clip(opt["occupied"], 0.0, 1.0))
    if occupied < 1.0:
        phys_occ = phys.copy()
        phys_occ[0] *= occupied
    else:
        phys_occ = phys

    # -- nuclei sizes and positions -------------------------------------------------------
    rmin, rmax = sorted(float(r) for r in opt["radius"])
    unit_vol = math.pi if ndim == 2 else 4.0 / 3.0 * math.pi
    mean_vol = unit_vol * ((rmin + rmax) / 2) ** ndim
    if opt["n_nuclei"] is None:
        n = int(round(opt["density"] * float(np.prod(phys_occ + 2 * rmax)) / mean_vol))
    else:
        n = int(opt["n_nuclei"])
    radii = rng.uniform(rmin, rmax, size=n)
    centers, radii = _place_centers(rng, phys_occ, radii, float(opt["cluster_fraction"]))

    # -- rasterize: each pixel goes to the nucleus whose (normalized) outline is nearest ---
    labels = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf, np.float32)
    signal = np.zeros(shape, np.float32)
    n_kept = len(centers)
    brightness = rng.lognormal(0.0, float(opt["brightness_cv"]), size=n_kept)
    kind = rng.random(n_kept)
    dim = kind < opt["dim_fraction"]
    brightness[dim] *= rng.uniform(1 / 6, 1 / 3, size=int(dim.sum()))
    headroom = opt["headroom"]
    if headroom is None:
        # 16-bit cameras often use a small part of their range; 8-bit data is stretched.
        lo, hi = (1.3, 3.0) if opt["dtype"] != "uint16" else (1.5, 40.0)
        headroom = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    sat = (kind >= opt["dim_fraction"]) & (kind < opt["dim_fraction"] + opt["saturated_fraction"])
    # Very bright nuclei (mitoses, condensed chromatin) clip when the camera range is
    # well used; with a large headroom they are just bright, as in real 16-bit data.
    brightness[sat] = min(headroom, 5.0) * rng.uniform(1.1, 1.8, size=int(sat.sum()))
    edge = opt["dim_fraction"] + opt["saturated_fraction"]
    mitotic = (kind >= edge) & (kind < edge + opt["mitotic_fraction"])
    if mitotic.any():
        # Condensed chromatin: about half the size, elongated, several times brighter.
        brightness[mitotic] *= rng.uniform(2.5, 6.0, size=int(mitotic.sum()))
        radii = np.where(mitotic, 0.6 * radii, radii)
    for i, (c, r) in enumerate(zip(centers, radii, strict=True)):
        rot = _random_rotation(rng, ndim)
        stretch = math.log1p(opt["elongation"]) + (1.5 if mitotic[i] else 0.0)
        axes_r = r * np.exp(rng.uniform(-0.5, 0.5, ndim) * stretch)
        axes_r *= r / np.prod(axes_r) ** (1 / ndim)  # keep the volume of radius r
        extent = axes_r.max() * (1 + 2 * opt["irregularity"]) + 1
        lo_px = np.maximum(np.floor((c - extent) / spacing).astype(int), 0)
        hi_px = np.minimum(np.ceil((c + extent) / spacing).astype(int) + 1, shape)
        if np.any(hi_px <= lo_px):
            continue
        grids = np.meshgrid(
            *[
                (np.arange(a, b) * s - cc)
                for a, b, s, cc in zip(lo_px, hi_px, spacing, c, strict=True)
            ],
            indexing="ij",
        )
        pts = np.stack(grids, axis=-1) @ rot  # coordinates in the nucleus' own frame
        u = pts / axes_r
        d = np.sqrt((u**2).sum(-1))
        nrm = u / np.maximum(d, 1e-6)[..., None]
        wobble = np.zeros_like(d)
        for _ in range(3):
            v = rng.standard_normal(ndim)
            v /= np.linalg.norm(v) + 1e-9
            wobble += rng.uniform(-1, 1) * np.cos(
                rng.integers(1, 3) * math.pi * (nrm @ v) + rng.uniform(0, 2 * math.pi)
            )
        d = (d / (1 + opt["irregularity"] * wobble / 1.5)).astype(np.float32)
        box = tuple(slice(a, b) for a, b in zip(lo_px, hi_px, strict=True))
        inside = (d < 1.0) & (d < best[box])
        if not inside.any():
            continue
        best[box][inside] = d[inside]
        labels[box][inside] = i + 1
        # A slight dome: nuclei are thicker (brighter in projection) in the middle.
        signal[box][inside] = brightness[i] * (0.8 + 0.2 * (1 - d[inside] ** 2))
        if opt["nucleoli"] > 0 or opt["chromocenters"] > 0 or opt["rim"] > 0:
            signal[box][inside] *= _inner_structure(rng_inner, u[inside], d[inside], opt)

    # Overlaps and borders can erase nuclei or leave specks: drop < 10% of a nucleus' size.
    counts = np.bincount(labels.ravel(), minlength=n_kept + 1)
    expected = np.concatenate([[0], unit_vol * radii**ndim / np.prod(spacing)])
    keep = counts >= np.maximum(3, 0.1 * expected)
    keep[0] = True
    small = ~keep[labels]
    labels[small] = 0
    signal[small] = 0
    remap = np.cumsum(keep) - 1
    labels = remap[labels].astype(np.int32)

    # -- appearance ------------------------------------------------------------------------
    if opt["texture"] > 0:
        fine = gaussian_blur(rng.standard_normal(shape).astype(np.float32), 1.2 / spacing)
        fine /= max(float(fine.std()), 1e-6)
        coarse = _smooth_field(rng, shape, max(2, int(max(phys) / max(rmin, 1.0))))
        tex = 1 + opt["texture"] * (0.7 * fine + 0.5 * coarse)
        signal *= np.clip(tex, 0.2, None)
    if opt["haze"] > 0:
        signal += opt["haze"] * _blur_large(signal, 2.5 * rmax)
    background = opt["background"] * (1 + 0.5 * _smooth_field(rng, shape, 3))
    image = signal + np.clip(background, 0, None)
    shading = 1 - opt["illumination"] * (0.5 + 0.5 * np.tanh(_smooth_field(rng, shape, 2)))
    image *= shading
    if ndim == 3 and opt["attenuation"] > 0:
        depth = np.linspace(0, 1, shape[0], dtype=np.float32)[:, None, None]
        image *= 1 - opt["attenuation"] * depth
    blur = float(opt["blur"])
    if blur > 0:
        sig = (
            (blur,) * ndim
            if ndim == 2
            else (float(opt["axial_blur"]) * blur / spacing[0], blur, blur)
        )
        image = gaussian_blur(image, sig)
    if opt["halo"] > 0:
        # Real point-spread functions have long tails: a faint glow around bright nuclei
        # that is not part of them.
        image = (1 - opt["halo"]) * image + opt["halo"] * _blur_large(image, 3 * blur + 2)

    # -- camera: shot noise, read noise, gain, offset, clipping -----------------------------
    photons = float(opt["photons"])
    image = rng.poisson(np.clip(image, 0, None) * photons).astype(np.float32) / photons
    image += rng.normal(0.0, float(opt["read_noise"]), size=shape).astype(np.float32)
    dtype = _DTYPES[str(opt["dtype"])]
    white = opt["white"]
    if white is None:
        if dtype is np.uint8:
            white = 255.0
        elif dtype is np.uint16:
            white = float(rng.choice([4095.0, 16383.0, 65535.0, rng.uniform(1000, 65535)]))
        else:
            white = 1.0
    offset = opt["offset"]
    if offset is None:
        # A camera's dark level: a few percent of its range, but not above the signal.
        offset = float(rng.uniform(0, 0.04)) * min(white, white / headroom * 5)
    gain = (white - offset) / headroom
    image = np.clip(offset + image * gain, 0, white)
    if dtype is not np.float32:
        image = np.round(image)
    return image.astype(dtype), labels


def _inner_structure(
    rng: np.random.Generator, u: np.ndarray, d: np.ndarray, opt: dict[str, Any]
) -> np.ndarray:
    """Brightness factors for one nucleus' pixels: nucleoli, chromocenters and rim.

    ``u`` holds the pixels' coordinates in the nucleus' own frame scaled so its outline
    is at distance 1, ``d`` that distance (with the outline's wobble).
    """
    ndim = u.shape[-1]
    factor = np.ones(len(u), np.float32)

    def bodies(
        count: int, spread: float, size: tuple[float, float]
    ) -> list[tuple[np.ndarray, float]]:
        out = []
        for _ in range(count):
            p = rng.standard_normal(ndim)
            p *= spread * rng.uniform(0, 1) ** (1 / ndim) / (np.linalg.norm(p) + 1e-9)
            out.append((p, float(rng.uniform(*size))))
        return out

    if opt["nucleoli"] > 0:
        for p, r in bodies(int(rng.integers(1, 4)), 0.5, (0.12, 0.28)):
            depth = float(opt["nucleoli"]) * rng.uniform(0.5, 0.9)
            factor *= 1 - depth * np.exp(-((u - p) ** 2).sum(-1) / (2 * r * r))
    if opt["chromocenters"] > 0:
        for p, r in bodies(int(rng.integers(2, 8)), 0.75, (0.05, 0.1)):
            gain = float(opt["chromocenters"]) * rng.uniform(0.8, 2.0)
            factor *= 1 + gain * np.exp(-((u - p) ** 2).sum(-1) / (2 * r * r))
    if opt["rim"] > 0:
        factor *= 1 + float(opt["rim"]) * rng.uniform(0.5, 1.0) * np.exp(-(((1 - d) / 0.1) ** 2))
    return np.clip(factor, 0.05, None).astype(np.float32)


def random_nuclei_options(
    rng: np.random.Generator | int, ndim: int = 2, dtype: str | None = None
) -> dict[str, Any]:
    """Widely varied :func:`synthetic_nuclei` options (for training and benchmarks).

    Covers small to large, sparse to crowded, sharp to blurry, clean to very noisy,
    dim to saturated nuclei and 8/16-bit/float data, like the mix of images in public
    nuclei-segmentation challenges.
    """
    rng = np.random.default_rng(rng)
    r0 = float(np.exp(rng.uniform(math.log(3.5), math.log(24.0))))
    opts: dict[str, Any] = {
        "dtype": dtype or str(rng.choice(["uint8", "uint16", "uint16", "float32"])),
        "radius": (r0, r0 * rng.uniform(1.1, 2.0)),
        "density": float(rng.uniform(0.08, 0.55)),
        "cluster_fraction": float(rng.uniform(0.0, 0.9)),
        "elongation": float(rng.uniform(0.0, 0.9)),
        "irregularity": float(rng.uniform(0.0, 0.25)),
        "brightness_cv": float(rng.uniform(0.1, 0.6)),
        "dim_fraction": float(rng.uniform(0.0, 0.3)),
        "saturated_fraction": float(rng.uniform(0.0, 0.15)),
        "texture": float(rng.uniform(0.0, 0.6)),
        "background": float(np.exp(rng.uniform(math.log(0.005), math.log(0.35)))),
        "haze": float(rng.uniform(0.0, 0.35)),
        "halo": float(rng.uniform(0.0, 0.4)),
        "mitotic_fraction": float(rng.uniform(0.0, 0.08)),
        "illumination": float(rng.uniform(0.0, 0.7)),
        "blur": float(rng.uniform(0.3, 2.5)),
        "photons": float(np.exp(rng.uniform(math.log(8.0), math.log(2000.0)))),
        "read_noise": float(np.exp(rng.uniform(math.log(0.002), math.log(0.08)))),
    }
    if ndim == 3:
        opts["z_scale"] = float(rng.uniform(1.0, 3.0))
        opts["attenuation"] = float(rng.uniform(0.0, 0.5))
    return opts


def _interior(labels: np.ndarray) -> np.ndarray:
    """Pixels whose in-plane 4-neighbours all carry the same label (no object edge)."""
    inside = np.ones(labels.shape, bool)
    for axis in (-1, -2):
        for shift in (1, -1):
            inside &= labels == np.roll(labels, shift, axis=axis)
    return inside


def synthetic_scribbles(
    labels: np.ndarray,
    n_objects: int = 6,
    n_background: int = 6,
    seed: int = 0,
    width: int = 3,
    length: int = 15,
) -> np.ndarray:
    """Sparse scribble labels like a user paints them, from instance labels.

    One straight stroke through the middle of each of ``n_objects`` random objects
    (value 2) and ``n_background`` strokes of about ``length`` pixels in the background
    (value 1), all ``width`` pixels wide, in-plane (3D: in the plane of the stroke's
    start) and kept one pixel away from object edges, like careful painting. Everything
    else is 0 (not painted). Follows the scribble convention of docs/architecture.md.

    Returns
    -------
    ndarray
        uint8, the shape of ``labels``.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(labels.shape, np.uint8)
    interior = _interior(labels)
    ids = np.unique(labels[labels > 0])
    chosen = rng.choice(ids, min(n_objects, len(ids)), replace=False) if len(ids) else []
    for value, points in [(2, [np.argwhere(labels == i) for i in chosen])] + [
        (1, [np.argwhere(labels == 0)] * n_background)
    ]:
        for pts in points:
            if not len(pts):
                continue
            centre = pts.mean(0).round().astype(int) if value == 2 else pts[rng.integers(len(pts))]
            centre = pts[np.argmin(np.abs(pts - centre).sum(1))]  # a pixel of the object
            angle = rng.uniform(0, np.pi)
            direction = np.array([np.sin(angle), np.cos(angle)])
            half = length / 2 if value == 1 else np.inf
            plane = tuple(centre[:-2])
            ys, xs = np.mgrid[0 : labels.shape[-2], 0 : labels.shape[-1]]
            rel = np.stack([ys - centre[-2], xs - centre[-1]], -1)
            along = rel @ direction
            across = np.abs(rel @ np.array([-direction[1], direction[0]]))
            stroke = (across <= width / 2) & (np.abs(along) <= half)
            target = labels[plane] == (labels[tuple(centre)] if value == 2 else 0)
            out[plane][stroke & target & interior[plane]] = value
    return out
