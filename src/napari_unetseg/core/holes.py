"""Holes inside objects: background each Y/X plane encloses, and the filling of them.

:func:`holes_filled` fills a mask's holes (the object-size measure fills them before it
measures); :func:`fill_holes` fills a prediction's, class by class, up to
:func:`largest_hole` pixels (the Segment widget's "Fill holes inside objects",
``--fill-holes``, the API's ``fill_holes``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage


def holes_filled(
    mask: np.ndarray, largest: int | None = None, counted: np.ndarray | None = None
) -> np.ndarray:
    """``mask`` with the holes of each Y/X plane filled: ``binary_fill_holes`` plane by
    plane (background 4-connected in its plane; one reaching the plane's border is no
    hole), in one labelling of the whole stack, 2-3 times faster than the planes' own
    iterated dilations (the same pixels). ``largest``: holes of more pixels than this
    stay open, counting only the pixels where ``counted`` is true, if given."""
    mask = np.asarray(mask, bool)
    if mask.ndim < 2 or mask.size == 0:
        return mask.copy()
    cross = plane_cross(mask.ndim)
    # scipy's label wants a structure of 3 along every axis: the cross between empty Z planes
    cross = np.pad(cross, [(1, 1)] * (mask.ndim - 2) + [(0, 0), (0, 0)])
    background, n = ndimage.label(~mask, structure=cross)
    outside = np.zeros(n + 1, bool)
    outside[0] = True  # the objects themselves
    for edge in (background[..., 0, :], background[..., -1, :]):
        outside[edge] = True
    for edge in (background[..., :, 0], background[..., :, -1]):
        outside[edge] = True
    if largest is not None:
        weights = None if counted is None else np.asarray(counted, bool).ravel()
        outside |= np.bincount(background.ravel(), weights, minlength=n + 1) > largest
    return mask | ~outside[background]


def plane_cross(ndim: int) -> np.ndarray:
    """A 3x3 cross in the Y/X plane (no Z neighbours), as an ndim structuring element."""
    cross = ndimage.generate_binary_structure(2, 1)
    return cross.reshape((1,) * (ndim - 2) + cross.shape)


def fill_holes(labels: np.ndarray, largest: int | None = None) -> np.ndarray:
    """Fill background holes inside objects, plane by plane (in Y/X), in place.

    A hole (background enclosed by one class in a Y/X plane) takes that class. Planes
    are filled independently, so a nucleus whose dark nucleolus reaches the top of a
    stack is still filled in every plane it is closed in. ``largest``: holes of more
    background pixels stay open (:func:`largest_hole`).
    """
    arr = np.asarray(labels)
    if arr.ndim < 2:
        return labels
    for k in np.unique(arr):  # the classes in order, as the planes took them before
        if k > 0:  # a hole's size: its background pixels still open, not other classes'
            unlabelled = arr == 0  # (those a class before filled are no longer: review)
            arr[holes_filled(arr == k, largest, unlabelled) & unlabelled] = k
    return labels


#: Holes of up to this many times the area of a typical object are filled
#: (:func:`largest_hole`): a nucleus twice the typical width keeps no nucleolus open.
HOLE_AREAS = 4.0


def largest_hole(image_diameter: Any) -> int | None:
    """The most background pixels of a hole :func:`fill_holes` fills: :data:`HOLE_AREAS`
    times the area of a disc of the image's object diameter (the size predicted at);
    None (no limit) where the image has none (object size off, a model without one).

    A hole inside a nucleus (a dark nucleolus) is smaller than the nucleus; background
    larger than a few objects is enclosed by several: a lumen ringed by touching nuclei
    became part of them, and the ring one object when they were split (object-size bug
    bash: 14 nuclei came back as 1).
    """
    d = image_diameter
    if isinstance(d, bool) or not isinstance(d, (int, float, np.number)) or not d > 0:
        return None
    return int(HOLE_AREAS * math.pi / 4.0 * float(d) ** 2)
