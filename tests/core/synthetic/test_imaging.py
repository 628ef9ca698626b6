"""The generator's numpy gaussian blur."""

from __future__ import annotations

import numpy as np

from napari_unetseg.core.synthetic import gaussian_blur


def test_gaussian_blur_preserves_mean_and_smooths():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 50)).astype(np.float32)
    y = gaussian_blur(x, 2.0)
    assert y.shape == x.shape
    assert abs(y.mean() - x.mean()) < 0.05
    assert y.std() < 0.5 * x.std()
    # A thin axis shorter than the kernel still works.
    assert gaussian_blur(np.ones((2, 30), np.float32), 3.0).shape == (2, 30)
