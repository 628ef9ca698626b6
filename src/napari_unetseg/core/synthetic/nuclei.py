"""Synthetic fluorescence-nuclei images and their instance labels (see the package docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .imaging import blur_large, gaussian_blur, smooth_field

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
    "cytoplasm": 0.0,
    "tissue": 0.0,
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


# -- the steps of synthetic_nuclei ------------------------------------------------------------
def _checked_options(
    shape: tuple[int, ...], options: dict[str, Any]
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The options over :data:`DEFAULT_OPTIONS` and the shape, checked."""
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
    return opt, shape


@dataclass(frozen=True)
class _Field:
    """The field of view: pixel grid, pixel size, physical size (all, and with nuclei)."""

    shape: tuple[int, ...]
    spacing: np.ndarray
    phys: np.ndarray
    phys_occupied: np.ndarray

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def unit_volume(self) -> float:
        """Area of the unit circle (2D) or volume of the unit sphere (3D)."""
        return math.pi if self.ndim == 2 else 4.0 / 3.0 * math.pi

    @classmethod
    def of(cls, shape: tuple[int, ...], opt: dict[str, Any]) -> _Field:
        spacing = np.ones(len(shape))
        if len(shape) == 3:
            spacing[0] = float(opt["z_scale"])
        phys = np.array(shape) * spacing
        occupied = float(np.clip(opt["occupied"], 0.0, 1.0))
        if occupied < 1.0:
            phys_occ = phys.copy()
            phys_occ[0] *= occupied
        else:
            phys_occ = phys
        return cls(shape, spacing, phys, phys_occ)


def _place_nuclei(
    rng: np.random.Generator, field: _Field, opt: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Nucleus centres (physical units) and radii, from ``n_nuclei`` or ``density``."""
    rmin, rmax = sorted(float(r) for r in opt["radius"])
    mean_vol = field.unit_volume * ((rmin + rmax) / 2) ** field.ndim
    if opt["n_nuclei"] is None:
        n = int(round(opt["density"] * float(np.prod(field.phys_occupied + 2 * rmax)) / mean_vol))
    else:
        n = int(opt["n_nuclei"])
    radii = rng.uniform(rmin, rmax, size=n)
    return _place_centers(rng, field.phys_occupied, radii, float(opt["cluster_fraction"]))


@dataclass
class _Looks:
    """Per nucleus: brightness, mitotic or not, radius (mitoses are smaller); and the
    camera headroom (white level / mean nucleus level) the brightest nuclei clip at."""

    brightness: np.ndarray
    mitotic: np.ndarray
    radii: np.ndarray
    headroom: float

    @classmethod
    def draw(cls, rng: np.random.Generator, radii: np.ndarray, opt: dict[str, Any]) -> _Looks:
        n_kept = len(radii)
        brightness = rng.lognormal(0.0, float(opt["brightness_cv"]), size=n_kept)
        kind = rng.random(n_kept)
        dim = kind < opt["dim_fraction"]
        brightness[dim] *= rng.uniform(1 / 6, 1 / 3, size=int(dim.sum()))
        headroom = opt["headroom"]
        if headroom is None:
            # 16-bit cameras often use a small part of their range; 8-bit data is stretched.
            lo, hi = (1.3, 3.0) if opt["dtype"] != "uint16" else (1.5, 40.0)
            headroom = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
        sat = (kind >= opt["dim_fraction"]) & (
            kind < opt["dim_fraction"] + opt["saturated_fraction"]
        )
        # Very bright nuclei (mitoses, condensed chromatin) clip when the camera range is
        # well used; with a large headroom they are just bright, as in real 16-bit data.
        brightness[sat] = min(headroom, 5.0) * rng.uniform(1.1, 1.8, size=int(sat.sum()))
        edge = opt["dim_fraction"] + opt["saturated_fraction"]
        mitotic = (kind >= edge) & (kind < edge + opt["mitotic_fraction"])
        if mitotic.any():
            # Condensed chromatin: about half the size, elongated, several times brighter.
            brightness[mitotic] *= rng.uniform(2.5, 6.0, size=int(mitotic.sum()))
            radii = np.where(mitotic, 0.6 * radii, radii)
        return cls(brightness, mitotic, radii, headroom)


def _nucleus_distance(
    rng: np.random.Generator,
    field: _Field,
    center: np.ndarray,
    radius: float,
    mitotic: bool,
    opt: dict[str, Any],
) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray] | None:
    """One nucleus' box, its normalized outline distance (< 1 inside) and own-frame
    coordinates; None when its box misses the field."""
    ndim, spacing = field.ndim, field.spacing
    rot = _random_rotation(rng, ndim)
    stretch = math.log1p(opt["elongation"]) + (1.5 if mitotic else 0.0)
    axes_r = radius * np.exp(rng.uniform(-0.5, 0.5, ndim) * stretch)
    axes_r *= radius / np.prod(axes_r) ** (1 / ndim)  # keep the volume of radius r
    extent = axes_r.max() * (1 + 2 * opt["irregularity"]) + 1
    lo_px = np.maximum(np.floor((center - extent) / spacing).astype(int), 0)
    hi_px = np.minimum(np.ceil((center + extent) / spacing).astype(int) + 1, field.shape)
    if np.any(hi_px <= lo_px):
        return None
    grids = np.meshgrid(
        *[
            (np.arange(a, b) * s - cc)
            for a, b, s, cc in zip(lo_px, hi_px, spacing, center, strict=True)
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
    return box, d, u


def _rasterize(
    rng: np.random.Generator,
    rng_inner: np.random.Generator,
    field: _Field,
    centers: np.ndarray,
    looks: _Looks,
    opt: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and nucleus signal: each pixel goes to the nucleus whose (normalized)
    outline is nearest."""
    labels = np.zeros(field.shape, np.int32)
    best = np.full(field.shape, np.inf, np.float32)
    signal = np.zeros(field.shape, np.float32)
    inner = opt["nucleoli"] > 0 or opt["chromocenters"] > 0 or opt["rim"] > 0
    for i, (c, r) in enumerate(zip(centers, looks.radii, strict=True)):
        shape = _nucleus_distance(rng, field, c, r, bool(looks.mitotic[i]), opt)
        if shape is None:
            continue
        box, d, u = shape
        inside = (d < 1.0) & (d < best[box])
        if not inside.any():
            continue
        best[box][inside] = d[inside]
        labels[box][inside] = i + 1
        # A slight dome: nuclei are thicker (brighter in projection) in the middle.
        signal[box][inside] = looks.brightness[i] * (0.8 + 0.2 * (1 - d[inside] ** 2))
        if inner:
            signal[box][inside] *= _inner_structure(rng_inner, u[inside], d[inside], opt)
    return labels, signal


def _drop_specks(
    labels: np.ndarray, signal: np.ndarray, field: _Field, radii: np.ndarray
) -> np.ndarray:
    """Labels renumbered 1..N without nuclei that overlaps and borders left under 10% of
    their size (their signal is zeroed in place)."""
    counts = np.bincount(labels.ravel(), minlength=len(radii) + 1)
    expected = np.concatenate(
        [[0], field.unit_volume * radii**field.ndim / np.prod(field.spacing)]
    )
    keep = counts >= np.maximum(3, 0.1 * expected)
    keep[0] = True
    small = ~keep[labels]
    labels[small] = 0
    signal[small] = 0
    remap = np.cumsum(keep) - 1
    return remap[labels].astype(np.int32)


def _appearance(
    rng: np.random.Generator, signal: np.ndarray, field: _Field, opt: dict[str, Any]
) -> np.ndarray:
    """Texture, haze, background, shading, depth attenuation and blur (float32)."""
    shape, spacing, ndim = field.shape, field.spacing, field.ndim
    rmin, rmax = sorted(float(r) for r in opt["radius"])
    if opt["texture"] > 0:
        fine = gaussian_blur(rng.standard_normal(shape).astype(np.float32), 1.2 / spacing)
        fine /= max(float(fine.std()), 1e-6)
        coarse = smooth_field(rng, shape, max(2, int(max(field.phys) / max(rmin, 1.0))))
        tex = 1 + opt["texture"] * (0.7 * fine + 0.5 * coarse)
        signal *= np.clip(tex, 0.2, None)
    if opt["haze"] > 0:
        signal += opt["haze"] * blur_large(signal, 2.5 * rmax)
    background = opt["background"] * (1 + 0.5 * smooth_field(rng, shape, 3))
    image = signal + np.clip(background, 0, None)
    shading = 1 - opt["illumination"] * (0.5 + 0.5 * np.tanh(smooth_field(rng, shape, 2)))
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
        image = (1 - opt["halo"]) * image + opt["halo"] * blur_large(image, 3 * blur + 2)
    return image


def _cytoplasm(
    rng: np.random.Generator, labels: np.ndarray, field: _Field, opt: dict[str, Any]
) -> np.ndarray:
    """Faint cell bodies around the nuclei and debris between them (background).

    Each nucleus gets an irregular body reaching 1.3-2.5 radii out, a few cell-sized
    patches lie away from any nucleus, and both carry a grainy texture at
    ``opt["cytoplasm"]`` times the mean nucleus brightness (0 inside the nuclei).
    """
    shape, spacing = field.shape, field.spacing
    r = float(np.mean(opt["radius"]))
    nuclei = (labels > 0).astype(np.float32)
    bumps = max(2, int(max(field.phys) / max(r, 1.0)))
    reach = gaussian_blur(nuclei, r * rng.uniform(0.5, 1.1) / spacing)
    body = reach * np.exp(0.6 * smooth_field(rng, shape, 2 * bumps)) > rng.uniform(0.05, 0.15)
    debris = smooth_field(rng, shape, bumps) > rng.uniform(1.4, 2.4)
    grain = gaussian_blur(rng.standard_normal(shape).astype(np.float32), 0.8 / spacing)
    grain /= max(float(grain.std()), 1e-6)
    level = float(opt["cytoplasm"]) * np.exp(0.4 * smooth_field(rng, shape, bumps))
    cells = (body | debris) & (labels == 0)
    return (cells * level * np.clip(1 + 0.7 * grain, 0, None)).astype(np.float32)


def _tissue(rng: np.random.Generator, field: _Field, opt: dict[str, Any]) -> np.ndarray:
    """Textured tissue behind the nuclei (background): blobs about a nucleus in size.

    The autofluorescence of tissue (cleared brain, sections, organoids) at
    ``opt["tissue"]`` times the mean nucleus brightness: a grainy field whose grain is
    0.4-1.2 nucleus radii across, with a slow variation of its level on top.
    """
    shape, spacing = field.shape, field.spacing
    r = float(np.mean(opt["radius"]))
    grain = gaussian_blur(
        rng.standard_normal(shape).astype(np.float32), r * rng.uniform(0.4, 1.2) / spacing
    )
    grain /= max(float(grain.std()), 1e-6)
    bumps = max(2, int(max(field.phys) / max(4 * r, 1.0)))
    level = float(opt["tissue"]) * np.exp(0.3 * smooth_field(rng, shape, bumps))
    return (level * np.clip(1 + 0.7 * grain, 0, None)).astype(np.float32)


def _camera(
    rng: np.random.Generator, image: np.ndarray, headroom: float, opt: dict[str, Any]
) -> np.ndarray:
    """Shot noise, read noise, gain, offset, clipping, in the requested dtype."""
    photons = float(opt["photons"])
    image = rng.poisson(np.clip(image, 0, None) * photons).astype(np.float32) / photons
    image += rng.normal(0.0, float(opt["read_noise"]), size=image.shape).astype(np.float32)
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
    return image.astype(dtype)


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
          strength), ``cytoplasm`` (faint, grainy cell bodies around the nuclei and
          scattered debris, labelled background: the cytoplasmic signal of many DNA
          stains), ``tissue`` (textured autofluorescent tissue behind the nuclei,
          grain about a nucleus in size, labelled background), all relative to the
          mean nucleus brightness;
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
    opt, shape = _checked_options(shape, options)
    rng = np.random.default_rng(seed)
    # Inner structure draws from its own stream so older seeds give identical images.
    rng_inner = np.random.default_rng([seed, 7])
    field = _Field.of(shape, opt)
    centers, radii = _place_nuclei(rng, field, opt)
    looks = _Looks.draw(rng, radii, opt)
    labels, signal = _rasterize(rng, rng_inner, field, centers, looks, opt)
    labels = _drop_specks(labels, signal, field, looks.radii)
    if opt["cytoplasm"] > 0:
        # Its own stream, so images without cell bodies stay identical for a seed.
        signal += _cytoplasm(np.random.default_rng([seed, 11]), labels, field, opt)
    if opt["tissue"] > 0:
        # Its own stream too: images without tissue stay identical for a seed.
        signal += _tissue(np.random.default_rng([seed, 13]), field, opt)
    image = _appearance(rng, signal, field, opt)
    return _camera(rng, image, looks.headroom, opt), labels


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


#: The ranges :func:`random_nuclei_options` draws from, in drawing order (so a seed keeps
#: giving the same options): ``(low, high)`` uniformly, ``(low, high, "log")`` log-uniformly.
RANDOM_RANGES: dict[str, tuple[Any, ...]] = {
    "density": (0.08, 0.55),
    "cluster_fraction": (0.0, 0.9),
    "elongation": (0.0, 0.9),
    "irregularity": (0.0, 0.25),
    "brightness_cv": (0.1, 0.6),
    "dim_fraction": (0.0, 0.3),
    "saturated_fraction": (0.0, 0.15),
    "texture": (0.0, 0.6),
    "background": (0.005, 0.35, "log"),
    "haze": (0.0, 0.35),
    "halo": (0.0, 0.4),
    "mitotic_fraction": (0.0, 0.08),
    "illumination": (0.0, 0.7),
    "blur": (0.3, 2.5),
    "photons": (8.0, 2000.0, "log"),
    "read_noise": (0.002, 0.08, "log"),
}
#: Drawn after :data:`RANDOM_RANGES` for 3D images.
RANDOM_RANGES_3D: dict[str, tuple[Any, ...]] = {"z_scale": (1.0, 3.0), "attenuation": (0.0, 0.5)}


def random_nuclei_options(
    rng: np.random.Generator | int, ndim: int = 2, dtype: str | None = None
) -> dict[str, Any]:
    """Widely varied :func:`synthetic_nuclei` options (for training and benchmarks).

    Covers small to large, sparse to crowded, sharp to blurry, clean to very noisy,
    dim to saturated nuclei and 8/16-bit/float data, like the mix of images in public
    nuclei-segmentation challenges.
    """
    rng = np.random.default_rng(rng)

    def draw(low: float, high: float, scale: str = "linear") -> float:
        if scale == "log":
            return float(np.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))

    r0 = draw(3.5, 24.0, "log")
    opts: dict[str, Any] = {
        "dtype": dtype or str(rng.choice(["uint8", "uint16", "uint16", "float32"])),
        "radius": (r0, r0 * rng.uniform(1.1, 2.0)),
    }
    ranges = RANDOM_RANGES | (RANDOM_RANGES_3D if ndim == 3 else {})
    opts.update((name, draw(*limits)) for name, limits in ranges.items())
    return opts
