"""Post-processing of U-Net outputs: instances from a semantic mask.

A semantic U-Net says which pixels are nuclei, not which nucleus each pixel belongs to;
touching nuclei come out as one blob. :func:`split_touching` separates them the classic
way (distance-transform watershed): every blob's distance-to-background map has one
hill per roughly convex object, and the valleys between the hills are where objects
touch. Uses scipy and scikit-image, so it lives outside ``core/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["split_dims", "split_touching"]


def split_touching(
    labels_or_mask: Any,
    *,
    sampling: Sequence[float] | None = None,
    h: float | None = None,
    smooth: float = 1.0,
    min_size: int = 0,
) -> np.ndarray:
    """Instance labels from a semantic mask by distance-transform watershed.

    Parameters
    ----------
    labels_or_mask : array-like
        2D or 3D mask (bool) or semantic labels (0 background, k class k). Each class
        is split on its own; a pixel keeps belonging to an object of its class.
    sampling : sequence of float, optional
        Pixel size per axis (the layer's ``scale``), so distances are physical and an
        anisotropic Z stack is split like the objects really are shaped.
    h : float, optional
        How much higher (in ``sampling`` units) an object's centre must stand above the
        neck joining it to a neighbour for the two to be separated: larger values merge
        more. Default: one pixel of the finest axis. On the 512 x 512 synthetic nuclei
        image (seed 1) this recovers 247 of 260 nuclei (IoU > 0.5) from the 168 blobs of
        the true mask (see ``tests/test_postprocess.py``).
    smooth : float
        Gaussian smoothing (in pixels) of the distance map before finding centres, which
        stops bumpy outlines from creating extra centres. 0 disables it.
    min_size : int
        Objects smaller than this many pixels are merged into the neighbour they touch
        most (or dropped when they touch none).

    Returns
    -------
    ndarray of int32
        Instance labels, 0 background and 1..N objects numbered consecutively (class by
        class), covering the foreground of the input (all of it unless ``min_size``
        dropped small isolated objects).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :60]
    >>> mask = ((yy - 20) ** 2 + (xx - 18) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 40) ** 2 < 144)
    >>> int(split_touching(mask).max())
    2
    """
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    semantic = np.asarray(labels_or_mask)
    if semantic.ndim not in (2, 3):
        raise ValueError(f"split_touching needs a 2D or 3D mask, got {semantic.ndim} dimensions.")
    if semantic.dtype.kind not in "biu":
        raise ValueError(f"split_touching needs a mask or integer labels, got {semantic.dtype}.")
    spacing = tuple(float(s) for s in (sampling or (1.0,) * semantic.ndim))
    if len(spacing) != semantic.ndim or min(spacing) <= 0:
        raise ValueError(f"sampling {spacing} must give one positive size per axis.")
    if h is None:
        h = min(spacing)

    out = np.zeros(semantic.shape, np.int32)
    next_id = 1
    for cls in np.unique(semantic):
        if cls == 0:
            continue
        mask = semantic == cls
        dist = ndi.distance_transform_edt(mask, sampling=spacing)
        if smooth > 0:
            # Sigma per axis in pixels, equal in physical units on anisotropic data.
            sigma = tuple(smooth * min(spacing) / s for s in spacing)
            dist = ndi.gaussian_filter(dist, sigma) * mask
        # h-maxima: centres that stand at least h above the neck to their neighbours.
        markers, n = ndi.label(h_maxima(dist, h) & mask)
        # Blobs too small to hold a maximum of height h still become one object each.
        components, n_comp = ndi.label(mask)
        orphans = np.setdiff1d(np.arange(1, n_comp + 1), np.unique(components[markers > 0]))
        if orphans.size:
            where = np.isin(components, orphans)
            markers[where] = n + components[where]  # unique ids; gaps are removed below
        objects = watershed(-dist, markers, mask=mask)
        if min_size > 0:
            objects = _merge_small(objects, min_size)
        ids = np.unique(objects[objects > 0])
        lut = np.zeros(int(objects.max()) + 1, np.int32)
        lut[ids] = np.arange(next_id, next_id + ids.size, dtype=np.int32)
        out[mask] = lut[objects[mask]]
        next_id += ids.size
    return out


def _merge_small(objects: np.ndarray, min_size: int) -> np.ndarray:
    """Merge objects under ``min_size`` pixels into the neighbour they share most border with."""
    from scipy import ndimage as ndi

    sizes = np.bincount(objects.ravel())
    for obj in np.flatnonzero((sizes > 0) & (sizes < min_size)):
        if obj == 0:
            continue
        region = objects == obj
        ring = ndi.binary_dilation(region) & ~region
        neighbours = objects[ring]
        neighbours = neighbours[neighbours != 0]
        objects[region] = np.bincount(neighbours).argmax() if neighbours.size else 0
    return objects


def split_dims(ndim: int, model_dims: int, time_axis: int | None = None) -> int:
    """How many trailing axes of ``ndim``-dimensional labels a split works in: 3 for any
    stack (a nucleus keeps one label through its planes), else the model's; never the
    ``time_axis`` or an axis before it (a (T, Y, X) series is split plane by plane: it
    was split as a volume, time taken for depth)."""
    dims = min(max(model_dims, 3), ndim)
    if time_axis is not None:
        dims = min(dims, ndim - 1 - time_axis % ndim)
    return max(dims, min(2, ndim))


def split_stack(
    labels: np.ndarray,
    sampling: tuple[float, ...] | None,
    model_dims: int,
    time_axis: int | None = None,
) -> np.ndarray:
    """Instances from semantic labels of any stack, in 3D for a (Z, Y, X) result.

    A stack segmented plane by plane with a 2D model is split as one volume (napari's
    3D convention is Z, Y, X), so a nucleus keeps one label through its planes; results
    with more leading axes, or a ``time_axis``, are split one volume (plane) at a time.
    """
    dims = split_dims(labels.ndim, model_dims, time_axis)
    scale = tuple(sampling[-dims:]) if sampling else None
    if labels.ndim == dims:
        return split_touching(labels, sampling=scale)
    flat = labels.reshape((-1, *labels.shape[-dims:]))
    parts = []
    offset = 0
    for volume in flat:  # ids stay unique across volumes
        part = split_touching(volume, sampling=scale)
        parts.append(np.where(part > 0, part + offset, 0))
        offset += int(part.max())
    return np.stack(parts).reshape(labels.shape)
