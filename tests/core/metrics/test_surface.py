"""Distance transform, HD95 / ASSD against scipy, clDice and its skeleton."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unetseg.core import metrics as M


@pytest.mark.parametrize(
    "shape, spacing",
    [
        ((40, 50), None),
        ((40, 50), (0.5, 2.0)),
        ((12, 30, 25), (3.0, 0.7, 1.1)),
        ((60,), (2.0,)),
        ((4, 5, 6, 7), (1.0, 2.0, 1.0, 0.5)),
    ],
)
@pytest.mark.parametrize("density", [0.003, 0.05, 0.5])
def test_distance_transform_equals_scipy(rng, shape, spacing, density):
    features = rng.random(shape) < density
    features.flat[rng.integers(features.size)] = True  # at least one feature
    got = M.distance_transform(features, spacing)
    ref = ndi.distance_transform_edt(~features, sampling=spacing)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_distance_transform_without_features_is_inf():
    assert np.isinf(M.distance_transform(np.zeros((3, 4), bool))).all()
    with pytest.raises(ValueError, match="one value per axis"):
        M.distance_transform(np.ones((3, 4), bool), spacing=(1.0,))


def _reference_hd95_assd(pred, gt, spacing):
    """MONAI's definition written with scipy."""
    bp = pred ^ ndi.binary_erosion(pred, border_value=0)
    bg = gt ^ ndi.binary_erosion(gt, border_value=0)
    d_pg = ndi.distance_transform_edt(~bg, sampling=spacing)[bp]
    d_gp = ndi.distance_transform_edt(~bp, sampling=spacing)[bg]
    hd95 = max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))
    assd = np.concatenate([d_pg, d_gp]).mean()
    return hd95, assd


@pytest.mark.parametrize(
    "shape, spacing",
    [((48, 64), (1.0, 1.0)), ((48, 64), (0.3, 1.7)), ((14, 24, 28), (2.5, 0.5, 0.5))],
)
def test_hd95_assd_equal_scipy_reference(rng, shape, spacing):
    base = ndi.gaussian_filter(rng.random(shape), 2)
    gt = base > np.percentile(base, 60)
    pred = ndi.binary_dilation(gt) ^ (rng.random(shape) < 0.01)
    result = M.evaluate(pred.astype(np.uint8), gt.astype(np.uint8), spacing=spacing)
    hd95, assd = _reference_hd95_assd(pred, gt, spacing)
    assert result.classes[1]["hd95"] == pytest.approx(hd95, rel=1e-12)
    assert result.classes[1]["assd"] == pytest.approx(assd, rel=1e-12)


def test_surface_distance_hand_computed_anisotropic():
    # Single voxels: every distance is the one between them, in physical units.
    gt = np.zeros((6, 6, 6), np.uint8)
    gt[1, 1, 1] = 1
    along_x, along_z = np.zeros_like(gt), np.zeros_like(gt)
    along_x[1, 1, 4] = 1
    along_z[4, 1, 1] = 1
    spacing = (2.0, 1.0, 0.5)
    r = M.evaluate(along_x, gt, spacing=spacing)
    assert r.classes[1]["hd95"] == pytest.approx(1.5)
    assert r.classes[1]["assd"] == pytest.approx(1.5)
    r = M.evaluate(along_z, gt, spacing=spacing)
    assert r.classes[1]["hd95"] == pytest.approx(6.0)
    # Two parallel 2D lines 3 rows apart (spacing 0.5 along rows): distances all 1.5.
    a, b = np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8)
    a[2, 1:11], b[5, 1:11] = 1, 1
    r = M.evaluate(a, b, spacing=(0.5, 1.0))
    assert r.classes[1]["hd95"] == pytest.approx(1.5)
    assert r.classes[1]["assd"] == pytest.approx(1.5)
    # Identical masks: zero; one side empty: infinite; both empty: not defined.
    assert M.evaluate(b, b).classes[1]["hd95"] == 0.0
    empty = np.zeros_like(b)
    r = M.evaluate(empty, b)
    assert math.isinf(r.classes[1]["hd95"]) and math.isinf(r.classes[1]["assd"])
    r = M.evaluate(empty, empty, classes=[0, 1])
    assert math.isnan(r.classes[1]["hd95"])


def test_a_plane_stored_as_a_one_slice_stack_has_the_planes_distances(rng):
    """(1, Y, X) scored HD95 2.0 / ASSD 0.385 for the plane's 3.0 / 1.131: every voxel of a
    one-slice stack was boundary along Z (the CLI reads such a TIFF as the plane; metrics
    bash). A one-voxel-thick object inside a deeper stack keeps its Z boundary."""
    g = (ndi.gaussian_filter(rng.random((40, 40)), 2) > 0.5).astype(np.uint8)
    p = np.roll(g, 3, 1)
    plane = M.evaluate(p, g, spacing=(0.5, 2.0)).classes[1]
    for stack, spacing in (((1, 40, 40), (3.0, 0.5, 2.0)), ((40, 1, 40), (0.5, 3.0, 2.0))):
        r = M.evaluate(p.reshape(stack), g.reshape(stack), spacing=spacing).classes[1]
        assert r["hd95"] == pytest.approx(plane["hd95"])
        assert r["assd"] == pytest.approx(plane["assd"])
    deep_p, deep_g = np.zeros((5, 40, 40), np.uint8), np.zeros((5, 40, 40), np.uint8)
    deep_p[2], deep_g[2] = p, g
    unscaled = M.evaluate(p, g).classes[1]["assd"]
    assert M.evaluate(deep_p, deep_g).classes[1]["assd"] < unscaled / 2


# -- voxel metrics ---------------------------------------------------------------------------------


def test_soft_skeleton_of_lines_and_bars():
    line = np.zeros((9, 20), bool)
    line[4, 2:18] = True
    np.testing.assert_array_equal(M.soft_skeleton(line), line)
    bar = np.zeros((15, 40), bool)
    bar[4:11, 5:35] = True  # 7 pixels thick
    skel = M.soft_skeleton(bar)
    assert (skel <= bar).all()
    assert skel[7, 8:32].all()  # the center line
    assert not skel[4:6, 8:32].any() and not skel[9:11, 8:32].any()
    cube = np.zeros((9, 9, 9), bool)
    cube[2:7, 2:7, 2:7] = True
    assert M.soft_skeleton(cube)[4, 4, 4] and M.soft_skeleton(cube).sum() < cube.sum() / 2


def test_soft_skeleton_piece_by_piece_is_the_whole_volumes():
    """The skeleton is made object by object in each one's box (the loop ran over the
    whole volume as often as the thickest object is thick): the same voxels, also for
    pieces that touch at a corner, touch the edge, or nest in each other's boxes."""
    from napari_unetseg.core.metrics.surface import _skeleton_of as whole_volume

    rng = np.random.default_rng(0)
    ring = np.zeros((30, 30), bool)
    ring[3:27, 3:27] = True
    ring[6:24, 6:24] = False
    ring[10:20, 10:20] = True  # a block inside the ring's box
    ring[27, 27] = True  # a corner's neighbour
    for mask in (rng.random((30, 40, 40)) < 0.35, rng.random((64, 64)) < 0.5, ring):
        np.testing.assert_array_equal(M.soft_skeleton(mask), whole_volume(mask.copy()))


def test_cldice_penalizes_broken_vessels_more_than_dice():
    vessel = np.zeros((32, 64), np.uint8)
    vessel[14:17, 2:62] = 1
    vessel[3:30, 30:33] = 1
    broken = vessel.copy()
    broken[14:17, 10:14] = 0
    broken[5:9, 30:33] = 0
    gt_sk = M.soft_skeleton(vessel)
    r = M.evaluate(broken, vessel)
    assert r.classes[1]["cldice"] < r.classes[1]["dice"]
    # hand: prediction keeps all its own skeleton inside the vessel (precision 1);
    # sensitivity is the share of the vessel's skeleton the prediction still covers
    tsens = (gt_sk & (broken > 0)).sum() / gt_sk.sum()
    assert r.classes[1]["cldice"] == pytest.approx(2 * tsens / (1 + tsens))
    assert M.cldice(vessel, vessel) == 1.0
    assert M.cldice(vessel, np.zeros_like(vessel)) == 0.0
    assert math.isnan(M.cldice(np.zeros_like(vessel), np.zeros_like(vessel)))


def test_cldice_close_to_skimage_skeleton_version():
    from skimage.morphology import skeletonize

    yy, xx = np.mgrid[:96, :96]
    vessel = (np.abs(yy - 48 - 20 * np.sin(xx / 15)) < 2.5) | (np.abs(xx - 60) < 2)
    pred = np.roll(vessel, 1, axis=0) & ~((xx > 20) & (xx < 26))
    tprec = (skeletonize(pred) & vessel).sum() / skeletonize(pred).sum()
    tsens = (skeletonize(vessel) & pred).sum() / skeletonize(vessel).sum()
    reference = 2 * tprec * tsens / (tprec + tsens)
    assert M.cldice(pred, vessel) == pytest.approx(reference, abs=0.05)


# -- per slice, error map, result object ----------------------------------------------------------


def test_boundary_distances_are_those_of_the_exact_distance_transform():
    """The k-d tree of boundary voxels gives the distances of scipy's exact transform
    (which needed image-sized float64 maps and feature indices), with anisotropic
    spacing, in 2D and 3D."""
    from scipy import ndimage

    from napari_unetseg.core.metrics.morphology import boundary, bounding_box

    rng = np.random.default_rng(0)
    for shape, spacing in (((64, 80), (0.5, 1.3)), ((20, 40, 30), (2.0, 0.5, 0.7))):
        for _ in range(3):
            a, b = (ndimage.binary_opening(rng.random(shape) < 0.45) for _ in range(2))
            box = bounding_box(a | b)
            bp, bg = boundary(a[box]), boundary(b[box])
            exact = (
                M.distance_transform(bg, spacing)[bp],
                M.distance_transform(bp, spacing)[bg],
            )
            for got, want in zip(M.surface_distances(a, b, spacing), exact, strict=True):
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
