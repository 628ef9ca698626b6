"""Splitting touching objects of a semantic mask into instances (distance watershed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unetseg.core.synthetic import synthetic_nuclei
from napari_unetseg.postprocess import split_touching


def _disc(shape, centre, radius, scale=None):
    grid = np.indices(shape).astype(float)
    scale = scale or (1.0,) * len(shape)
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, scale, strict=True)) < radius**2


def _mostly_one_object(inst, region) -> bool:
    """Whether > 95 % of ``region`` is one object (the cut runs through the neck)."""
    counts = np.bincount(inst[region])
    return counts[1:].max() > 0.95 * region.sum()


def test_two_touching_discs_are_split_in_halves():
    a, b = _disc((40, 70), (20, 20), 13), _disc((40, 70), (20, 44), 13)
    inst = split_touching(a | b)
    assert inst.dtype == np.int32 and inst.max() == 2
    assert np.array_equal(inst > 0, a | b)  # the foreground is kept exactly
    assert _mostly_one_object(inst, a) and _mostly_one_object(inst, b)
    assert inst[20, 20] != inst[20, 44]


def test_single_elongated_object_stays_whole():
    yy, xx = np.mgrid[:50, :90]
    ellipse = ((yy - 25) / 10) ** 2 + ((xx - 45) / 35) ** 2 < 1  # 3.5 : 1
    assert split_touching(ellipse).max() == 1


def test_anisotropic_sampling():
    # Two balls touching along Y in physical space, imaged with a Z step 3x the XY pixel.
    scale = (3.0, 1.0, 1.0)
    a = _disc((12, 40, 24), (6, 11, 12), 10, scale)
    b = _disc((12, 40, 24), (6, 29, 12), 10, scale)
    inst = split_touching(a | b, sampling=scale)
    assert inst.max() == 2
    assert _mostly_one_object(inst, a) and _mostly_one_object(inst, b)


def test_classes_are_split_separately_and_numbered_consecutively():
    sem = np.zeros((30, 80), np.uint8)
    sem[_disc((30, 80), (15, 15), 10)] = 1
    sem[_disc((30, 80), (15, 60), 10)] = 2
    sem[_disc((30, 80), (15, 75), 6) & (sem == 0)] = 2  # touches the class-2 disc
    inst = split_touching(sem)
    assert sorted(np.unique(inst)) == [0, 1, 2, 3]
    # No object mixes classes.
    for obj in (1, 2, 3):
        assert len(np.unique(sem[inst == obj])) == 1


def test_tiny_isolated_blob_kept_and_min_size_merges_or_drops():
    mask = _disc((30, 30), (15, 15), 8)
    mask[1, 1] = True  # a 1-pixel speck with no maximum of height h
    inst = split_touching(mask)
    assert inst.max() == 2 and inst[1, 1] > 0
    cleaned = split_touching(mask, min_size=5)
    assert cleaned.max() == 1 and cleaned[1, 1] == 0


def test_empty_mask_and_bad_input():
    assert split_touching(np.zeros((8, 8), bool)).max() == 0
    with pytest.raises(ValueError, match="2D or 3D"):
        split_touching(np.zeros(5, bool))
    with pytest.raises(ValueError, match="integer"):
        split_touching(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="sampling"):
        split_touching(np.zeros((4, 4), bool), sampling=(1.0,))


def test_recovers_synthetic_nuclei_from_their_mask():
    _, truth = synthetic_nuclei((512, 512), seed=1)
    blobs = ndi.label(truth > 0)[1]
    inst = split_touching(truth > 0)
    matched = 0
    for obj in range(1, truth.max() + 1):
        where = truth == obj
        overlap = np.bincount(inst[where])
        overlap[0] = 0
        best = overlap.argmax()
        iou = overlap[best] / (where.sum() + (inst == best).sum() - overlap[best])
        matched += iou > 0.5
    # The watershed recovers many more nuclei than there are connected blobs.
    assert blobs < 0.7 * truth.max()
    assert matched >= 0.9 * truth.max()
    assert abs(int(inst.max()) - int(truth.max())) <= 0.1 * truth.max()


def test_split_of_stacks_is_3d_and_ids_stay_unique_over_time():
    from napari_unetseg.postprocess import split_stack

    ball = np.zeros((5, 20, 20), np.uint8)
    ball[1:4, 5:15, 5:15] = 1
    # (Z, Y, X) from a 2D model: one object through its planes, not one per plane.
    assert split_stack(ball, (2.0, 1.0, 1.0), model_dims=2).max() == 1
    # (T, Z, Y, X): split volume by volume, numbered on across time points.
    series = split_stack(np.stack([ball, ball]), (1.0, 2.0, 1.0, 1.0), model_dims=2)
    assert series.shape == (2, 5, 20, 20)
    assert set(np.unique(series[0])) == {0, 1} and set(np.unique(series[1])) == {0, 2}


def test_a_time_series_is_split_time_point_by_time_point():
    """Two touching nuclei in frame 0 of a (T, Y, X) series, one nucleus after: the
    split took time for depth and kept the pair as one. With the time axis, each frame
    is split as it is alone (ids unique across frames); a Z stack stays one volume."""
    from napari_unetseg.postprocess import split_dims, split_stack

    yy, xx = np.mgrid[:64, :64]

    def disc(cy, cx, r):
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r

    pair = disc(32, 22, 10) | disc(32, 40, 10)
    blob = disc(32, 31, 14)
    series = np.stack([pair, blob, blob, blob]).astype(np.uint8)
    split = split_stack(series, (2.0, 0.5, 0.5), 2, time_axis=0)
    alone = [len(np.unique(split_stack(f, (0.5, 0.5), 2))) - 1 for f in series]
    assert [len(np.unique(frame)) - 1 for frame in split] == alone == [2, 1, 1, 1]
    assert len(np.unique(split)) - 1 == 5  # unique across frames
    assert (split_dims(3, 2), split_dims(3, 2, 0), split_dims(4, 2, 0), split_dims(4, 3, 1)) == (
        3, 2, 3, 2,
    )  # fmt: skip
