"""Whether two layers compared pixel by pixel lie on one another in the viewer: their
data-to-world matrices (scale, translate, rotate, shear, affine together) are the one
rule (:func:`placement_problem`); :func:`world_matrix` is also how "Current plane only"
finds the plane napari draws (:mod:`.segment_plane`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import spatial_geometry

if TYPE_CHECKING:
    from napari.layers import Layer


def placement_problem(a: Layer, b: Layer, doing: str = "evaluating") -> str | None:
    """Why two layers compared pixel by pixel are not (their data's pixels lie elsewhere
    in the viewer: another translate, rotation, shear or affine), or None. Scale differs
    often (a file without pixel size) and is said where it is used, not refused."""
    from .._nifti import same_grid

    fa, fb = ((layer.metadata or {}).get("nifti_affine") for layer in (a, b))
    if fa is not None and fb is not None and not same_grid(fa, fb):
        return (
            f"{a.name!r} and {b.name!r} come from NIfTI files whose voxels lie in different "
            "places or orders (their affines differ; napari shows them by voxel size alone): "
            f"resample one onto the other before {doing} (`unetseg evaluate` turns one onto "
            "the other's axes where a flip or transpose does it)."
        )
    n = min(a.ndim, b.ndim)
    ma, mb = world_matrix(a, n), world_matrix(b, n)
    if _same_pixels(ma, mb):
        return None  # one placement, however spelt (a scale given as an affine)
    if np.linalg.det(ma[:n, :n]) * np.linalg.det(mb[:n, :n]) < 0:  # scored as if one lay
        return (  # on the other; a scale and an affine that flip back are not (review)
            f"{a.name!r} and {b.name!r} are mirrored in the viewer (one is flipped, by a "
            "negative scale or its affine): they are compared pixel by pixel, so flip them "
            f"alike before {doing}."
        )
    where = _what_differs(a, b, n)
    if where is None:  # only their scales differ: said where it is used
        return None
    # the advice names what differs (it said "the layers' translate" of a rotation;
    # ecosystem bash)
    what = "translate" if where.startswith("translate") else where.split()[1]
    return (
        f"{a.name!r} and {b.name!r} lie in different places in the viewer ({where}): "
        f"they are compared pixel by pixel, so give them the same {what} before {doing}."
    )


def _what_differs(a: Layer, b: Layer, n: int) -> str | None:
    """Which of two layers' placements tells them apart, in words (their translates, or
    their rotation, shear or affine), or None where only their scales differ."""
    ga, gb = spatial_geometry(a), spatial_geometry(b)
    va, vb = (np.asarray(g["translate"], float)[-n:] for g in (ga, gb))
    # a thousandth of a pixel, whatever the coordinates (numpy's relative tolerance let
    # 10,000 pixels pass at a translate of 1e6; review)
    pixel = np.abs(np.asarray(ga["scale"], float)[-n:]).min()
    if not np.allclose(va, vb, rtol=0.0, atol=1e-3 * pixel):
        return f"translate {tuple(float(v) for v in va)} and {tuple(float(v) for v in vb)}"
    for key in ("rotate", "shear", "affine"):
        va, vb = ga.get(key), gb.get(key)
        if (va is None) != (vb is None) or (va is not None and not np.allclose(va, vb)):
            return f"their {key} differs"
    return None


def _same_pixels(ma: np.ndarray, mb: np.ndarray) -> bool:
    """Whether two layers' world matrices put every pixel in one place: within a
    thousandth of a pixel, in ``b``'s pixels, at any coordinates."""
    try:
        relative = np.linalg.inv(mb) @ ma
    except np.linalg.LinAlgError:
        return False
    size = len(relative) - 1
    return bool(
        np.allclose(relative[:size, :size], np.eye(size), rtol=0.0, atol=1e-6)
        and np.allclose(relative[:size, size], 0.0, rtol=0.0, atol=1e-3)
    )


def world_matrix(layer: Layer, n: int) -> np.ndarray:
    """The homogeneous matrix taking ``layer``'s last ``n`` data axes to the viewer's
    world (its scale, translate, rotate, shear and affine together), its other axes at
    0."""
    lead = (0.0,) * (layer.ndim - n)
    origin = np.asarray(layer.data_to_world(lead + (0.0,) * n), float)[-n:]
    matrix = np.eye(n + 1)
    matrix[:n, n] = origin
    for i in range(n):
        unit = tuple(1.0 if k == i else 0.0 for k in range(n))
        matrix[:n, i] = np.asarray(layer.data_to_world(lead + unit), float)[-n:] - origin
    return matrix
