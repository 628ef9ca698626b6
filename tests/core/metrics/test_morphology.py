"""The numpy erosion, dilation and boundary equal scipy.ndimage's (kept for speed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unetseg.core import metrics as M
from napari_unetseg.core.metrics.morphology import dilate_box, erode_cross


@pytest.mark.parametrize("shape", [(30, 40), (10, 15, 20)])
def test_boundary_is_mask_xor_erosion(rng, shape):
    mask = ndi.binary_opening(rng.random(shape) < 0.6)
    expected = mask ^ ndi.binary_erosion(mask, border_value=0)
    np.testing.assert_array_equal(M.boundary(mask), expected)


@pytest.mark.parametrize("shape", [(1, 7), (30, 40), (10, 15, 20), (3, 4, 5, 6)])
def test_erosion_and_dilation_equal_scipy(rng, shape):
    mask = rng.random(shape) < 0.6
    box = np.ones((3,) * mask.ndim, bool)
    np.testing.assert_array_equal(erode_cross(mask), ndi.binary_erosion(mask, border_value=0))
    np.testing.assert_array_equal(dilate_box(mask), ndi.binary_dilation(mask, structure=box))
