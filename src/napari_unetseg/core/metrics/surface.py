"""Boundary distances (HD95, ASSD) in physical units, and clDice's centerline score.

Boundary distances are exact Euclidean distances between boundary voxels in physical
units (a ``scipy.spatial.cKDTree`` of their positions, within the bounding box of the two
masks); :func:`distance_transform` is ``scipy.ndimage.distance_transform_edt`` with
per-axis spacing. The skeleton for clDice
(:func:`soft_skeleton`) is the binary limit of the soft skeleton of the clDice paper
(Shit et al., CVPR 2021): iterated cross-shaped min pooling and box max pooling, run
until the mask is eroded away instead of for a fixed count. It works alike in 2D and 3D;
unlike a topology-preserving thinning it may be broken where a structure is thick, which
clDice tolerates (it scores overlap of skeletons with masks, not skeleton connectivity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from .labels import check_spacing
from .morphology import boundary, bounding_box, dilate_box, erode_cross


def distance_transform(features: Any, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Exact Euclidean distance from every voxel to the nearest ``True`` voxel.

    ``scipy.ndimage.distance_transform_edt(~features, sampling=spacing)``, except that it
    is inf everywhere when there is no feature at all.

    Parameters
    ----------
    features : array-like of bool
        The voxels distances are measured to.
    spacing : sequence of float, optional
        Physical voxel size per axis (default 1).
    """
    features = np.asarray(features, dtype=bool)
    spacing = check_spacing(spacing, features.ndim)
    if not features.any():
        return np.full(features.shape, np.inf)
    return ndimage.distance_transform_edt(~features, sampling=spacing)


def surface_distances(
    pred_mask: Any,
    gt_mask: Any,
    spacing: Sequence[float] | None = None,
    flat: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each prediction boundary voxel to the ground-truth boundary, and back.

    Physical units per ``spacing``. Only the bounding box of the two masks is processed
    (every boundary voxel lies inside it, so distances are unchanged). Either array is
    empty when its mask is. The ``flat`` axes (default: those of length 1) are left
    out: a plane stored as a one-slice stack has no boundary along its one slice (every
    voxel of it was boundary: HD95 2.0 for the plane's 3.0, where the CLI, reading the
    same TIFF as a plane, said 3.0; metrics bash). A caller that crops the masks names
    the axes of length 1 in the whole image: a one-voxel-thick object in a deeper stack
    keeps its boundary along that axis.
    """
    pred_mask = np.asarray(pred_mask, dtype=bool)
    gt_mask = np.asarray(gt_mask, dtype=bool)
    spacing = check_spacing(spacing, pred_mask.ndim)
    if flat is None:
        flat = [a for a, n in enumerate(pred_mask.shape) if n == 1]
    kept = [a for a in range(pred_mask.ndim) if a not in set(flat)]
    if 0 < len(kept) < pred_mask.ndim:
        flat = tuple(pred_mask.shape[a] for a in kept)
        pred_mask, gt_mask = pred_mask.reshape(flat), gt_mask.reshape(flat)
        spacing = tuple(spacing[a] for a in kept)
    box = bounding_box(pred_mask | gt_mask)
    if box is None:
        return np.empty(0), np.empty(0)
    bp, bg = boundary(pred_mask[box]), boundary(gt_mask[box])
    if not bp.any() or not bg.any():
        return np.full(int(bp.sum()), np.inf), np.full(int(bg.sum()), np.inf)
    # Nearest boundary voxel by a k-d tree of the boundary voxels' physical positions:
    # the distances the exact distance transform gives, without its image-sized float64
    # map and feature indices (35 bytes a voxel in 2D, the largest part of an evaluation).
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing, dtype=np.float64)
    at_p, at_g = np.argwhere(bp) * scale, np.argwhere(bg) * scale
    return cKDTree(at_g).query(at_p)[0], cKDTree(at_p).query(at_g)[0]


def _percentile(distances: np.ndarray, q: float) -> float:
    """``np.percentile`` (linear), where infinite distances (a time point without the
    class on one side) are the largest: inf when the percentile falls among them (numpy
    interpolates inf - inf to NaN there)."""
    finite = np.sort(distances[np.isfinite(distances)])
    position = q / 100 * (distances.size - 1)
    low, high = math.floor(position), math.ceil(position)
    if high >= finite.size:
        return math.inf
    return float(finite[low] + (finite[high] - finite[low]) * (position - low))


def hd95_assd(d_pg: np.ndarray, d_gp: np.ndarray) -> tuple[float, float]:
    """HD95 (MONAI: max of the two directed 95th percentiles) and ASSD."""
    if d_pg.size == 0 and d_gp.size == 0:
        return math.nan, math.nan
    if d_pg.size == 0 or d_gp.size == 0:
        return math.inf, math.inf
    hd95 = max(_percentile(d_pg, 95), _percentile(d_gp, 95))
    assd = float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size))
    return hd95, assd


def soft_skeleton(mask: Any) -> np.ndarray:
    """Skeleton of a binary mask: the clDice paper's soft skeleton, run to completion.

    ``skel = x - open(x)``, then repeatedly ``x = erode(x)`` and add ``x - open(x)``,
    with erode = cross-shaped min pooling and dilate = box max pooling, until ``x`` is
    empty. Unlike the paper's padded pooling, the outside of the array counts as
    background, so a structure touching the edge is thinned too (and the loop ends).
    """
    x = np.asarray(mask, dtype=bool)
    skel = np.zeros_like(x)
    # Object by object, each in its bounding box: pieces that do not touch (not even at a
    # corner) never meet in a box dilation, so the skeleton is the same, but the loop runs
    # as often as each piece is thick over that piece alone (it ran as often as the
    # thickest piece is thick over the whole volume: minutes for 64 x 1024 x 1024).
    pieces, _ = ndimage.label(x, structure=np.ones((3,) * x.ndim, dtype=bool))
    for k, box in enumerate(ndimage.find_objects(pieces), start=1):
        if box is not None:
            skel[box] |= _skeleton_of(pieces[box] == k)
    return skel


def _skeleton_of(x: np.ndarray) -> np.ndarray:
    """The soft skeleton's loop on one array (the outside counts as background)."""
    skel = np.zeros_like(x)
    while x.any():
        eroded = erode_cross(x)
        skel |= x & ~dilate_box(eroded)
        x = eroded
    return skel


def centerline_counts(pred_mask: Any, gt_mask: Any) -> np.ndarray:
    """clDice's four counts of one pair of masks: ``|S(P) & G|``, ``|S(P)|``,
    ``|S(G) & P|``, ``|S(G)|`` (S the skeleton); summed over time points, they give the
    clDice of a time series (:func:`cldice_of`)."""
    p = np.asarray(pred_mask, dtype=bool)
    g = np.asarray(gt_mask, dtype=bool)
    box = bounding_box(p | g)
    if box is None:
        return np.zeros(4, dtype=np.int64)
    p, g = p[box], g[box]
    sp, sg = soft_skeleton(p), soft_skeleton(g)
    return np.array([(sp & g).sum(), sp.sum(), (sg & p).sum(), sg.sum()], dtype=np.int64)


def cldice_of(counts: Any) -> float:
    """clDice from :func:`centerline_counts`: NaN when both masks are empty, 0 when one is."""
    sp_in_g, sp, sg_in_p, sg = (int(c) for c in counts)
    if sp == 0 and sg == 0:
        return math.nan
    if sp == 0 or sg == 0:
        return 0.0
    tprec, tsens = sp_in_g / sp, sg_in_p / sg
    if tprec + tsens == 0:
        return 0.0
    return float(2 * tprec * tsens / (tprec + tsens))


def cldice(pred_mask: Any, gt_mask: Any) -> float:
    """Centerline Dice (Shit et al. 2021): harmonic mean of topology precision and
    sensitivity, ``|S(P) & G| / |S(P)|`` and ``|S(G) & P| / |S(G)|``.

    NaN when both masks are empty, 0 when one is.
    """
    return cldice_of(centerline_counts(pred_mask, gt_mask))
