"""Sparse scribble labels like a user paints them, from instance labels."""

from __future__ import annotations

import numpy as np


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
