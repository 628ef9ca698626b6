"""The tile grid: even tile starts that cover every pixel, gaussian weights, tile sizes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.inference import (
    gaussian_weights,
    resolve_tile_size,
    tile_grid,
    tile_starts,
)


@pytest.mark.parametrize(
    "size,tile,overlap",
    [(100, 32, 0.25), (64, 64, 0.5), (17, 32, 0.25), (1000, 256, 0.5), (33, 32, 0.0)],
)
def test_tile_starts_cover_evenly(size: int, tile: int, overlap: float) -> None:
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0
    if size > tile:
        assert starts[-1] + tile == size
        expected_n = int(np.ceil((size - tile) / (tile * (1 - overlap)))) + 1
        assert len(starts) == expected_n
        gaps = np.diff(starts)
        assert gaps.max() - gaps.min() <= 1  # evenly spread
        assert gaps.max() <= tile * (1 - overlap) + 1
    covered = np.zeros(max(size, tile), bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered[:size].all()


def test_tile_grid_covers_every_pixel_2d_and_3d() -> None:
    for shape, tile in [((70, 45), (32, 16)), ((9, 40, 33), (8, 16, 16))]:
        cover = np.zeros(shape, int)
        for start in tile_grid(shape, tile, 0.3):
            cover[tuple(slice(s, s + t) for s, t in zip(start, tile))] += 1
        assert cover.min() >= 1


def test_gaussian_weights() -> None:
    w = gaussian_weights((32, 16))
    assert w.shape == (32, 16) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0)
    assert w.min() >= 1e-3
    assert w[16, 8] > w[0, 0]
    # sigma = tile / 8 = 8 px; pixel 39 is 7.5 px from the centre (31.5), pixel 31 0.5 px
    w1 = gaussian_weights((64,))
    expected = np.exp(-0.5 * (7.5 / 8) ** 2) / np.exp(-0.5 * (0.5 / 8) ** 2)
    assert w1[39] == pytest.approx(expected, rel=1e-5)


def test_tile_size_is_rounded_to_the_model_divisor() -> None:
    b = ModelBundle.create(spatial_dims=2, depth=4, base_channels=4)  # divisor 8
    assert resolve_tile_size(100, (500, 500), b) == (104, 104)
    assert resolve_tile_size((100, 30), (500, 20), b) == (104, 24)  # short axis: cover it
    assert resolve_tile_size(None, (1, 3), b) == (8, 8)
    with pytest.raises(ValueError, match="tile_size"):
        resolve_tile_size((64,), (100, 100), b)
