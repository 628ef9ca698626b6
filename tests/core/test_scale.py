"""Object size measurement and resampling (core/scale.py)."""

import numpy as np
import pytest

from napari_unetseg.core.scale import (
    MAX_FACTOR,
    diameters_of_mask,
    estimate_object_size,
    resample,
    scale_factors,
    scaled_shape,
    size_from_labels,
)
from napari_unetseg.core.synthetic import synthetic_nuclei


def _disks(shape, radius, centres):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    lab = np.zeros(shape, np.int32)
    for i, (cy, cx) in enumerate(centres, 1):
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = i
    return lab


def test_size_from_labels_is_the_inscribed_diameter():
    lab = _disks((200, 200), 10, [(40, 40), (40, 120), (120, 60), (150, 150)])
    est = size_from_labels(lab)
    assert est.n_objects == 4
    assert est.diameter == pytest.approx(20, abs=1.5)


def test_touching_instances_are_measured_one_by_one():
    lab = _disks((100, 100), 10, [(50, 35)])
    lab2 = _disks((100, 100), 10, [(50, 55)])
    lab[lab2 > 0] = 2
    assert size_from_labels(lab).diameter == pytest.approx(20, abs=3)


@pytest.mark.parametrize("radius", [4, 10, 24])
def test_estimate_follows_the_true_size(radius):
    img, lab = synthetic_nuclei((384, 384), seed=3, radius=(radius, radius * 1.2))
    est = estimate_object_size(img)
    truth = size_from_labels(lab).diameter
    assert est.diameter is not None and est.n_objects > 0
    assert 0.7 < est.diameter / truth < 1.4


def test_estimate_in_3d_uses_planes_and_textured_nuclei_are_whole():
    img, lab = synthetic_nuclei(
        (32, 160, 160), seed=2, radius=(14, 16), nucleoli=0.8, chromocenters=0.8, z_scale=2
    )
    est = estimate_object_size(img)
    assert 0.7 < est.diameter / size_from_labels(lab).diameter < 1.4


def test_a_few_very_bright_objects_do_not_take_the_threshold_for_themselves():
    """Mitotic nuclei or debris far brighter than the rest (a real nuclei image: 5 bright
    objects measured at 51 px where its nuclei are about 75 px)."""
    rng = np.random.default_rng(0)
    centres = [(40 + 80 * (i // 6), 40 + 80 * (i % 6)) for i in range(36)]
    dim = _disks((480, 480), 20, centres) > 0
    bright = _disks((480, 480), 5, [(80, 80), (240, 400), (400, 160)]) > 0
    image = 100 + 60 * dim + 2000 * bright + rng.normal(0, 5, dim.shape)
    est = estimate_object_size(image)
    assert est.n_objects >= 30 and est.diameter == pytest.approx(40, rel=0.15)


def test_a_bright_frame_around_the_image_is_not_the_one_object():
    """A saturated border (a registered or stitched image padded with its maximum)
    enclosed the whole image: filled as a hole, frame and image were one object of
    1004 px, and the image was shrunk 16 times (engine bug bash)."""
    image, _ = synthetic_nuclei((256, 256), seed=3)
    alone = estimate_object_size(image).diameter
    framed = estimate_object_size(np.pad(image, 50, constant_values=float(image.max())))
    assert framed.diameter is not None and framed.diameter == pytest.approx(alone, rel=0.3)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64), np.uint16),
        np.random.default_rng(0).normal(100, 5, (128, 128)),
        np.full((32, 32), np.nan, np.float32),
    ],
    ids=["constant", "noise", "all-nan"],
)
def test_no_objects_gives_none_and_a_reason(image):
    est = estimate_object_size(image)
    assert est.diameter is None
    assert est.reason


def test_channels_are_combined():
    img, lab = synthetic_nuclei((256, 256), seed=1, radius=(8, 9))
    rgb = np.stack([img, img // 2, img], axis=-1)
    assert estimate_object_size(rgb, channel_axis=-1).diameter == pytest.approx(
        estimate_object_size(img).diameter, rel=0.15
    )


def test_scale_factors_per_axis_and_limits():
    assert scale_factors(40, 20, 2) == (0.5, 0.5)
    assert scale_factors(19, 20, 2) == (1.0, 1.0)  # within tolerance: no resampling
    # An anisotropic stack (Z step 3x) becomes isotropic for an isotropic 3D model.
    fz, fy, fx = scale_factors(20, 20, 3, spacing=(0.9, 0.3, 0.3))
    assert (fz, fy, fx) == (3.0, 1.0, 1.0)
    assert scale_factors(1, 100, 2) == (MAX_FACTOR, MAX_FACTOR)
    with pytest.raises(ValueError):
        scale_factors(0, 20, 2)


def test_diameters_are_measured_in_plane_even_when_a_plane_is_all_object():
    mask = np.zeros((3, 20, 20), bool)
    mask[1] = True  # a plane without background: its border counts as the outside
    mask[0, 5:10, 5:10] = True
    assert diameters_of_mask(mask, exclude_border=False).tolist() == [20.0]
    two = np.zeros((2, 30, 30), bool)
    two[0, 2:9, 2:9] = two[1, 15:28, 15:28] = True  # apart: two objects
    assert sorted(diameters_of_mask(two, exclude_border=False).tolist()) == [8.0, 14.0]


def test_z_step_of_mask_is_width_over_depth_of_whole_objects():
    from napari_unetseg.core.scale import z_step_of_mask

    zz, yy, xx = np.mgrid[:20, :64, :64]
    mask = np.zeros((20, 64, 64), bool)
    for cy, cx in [(14, 14), (14, 48), (48, 14), (48, 48)]:
        # balls of radius 8 px sampled every 2 px in Z: 8 planes deep, 17 px wide
        mask |= ((zz - 10) * 2) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= 64
    assert z_step_of_mask(mask) == pytest.approx(17 / 9, abs=0.3)
    # Objects cut by the top or bottom of the stack do not count; too few: None.
    assert z_step_of_mask(mask[:12]) is None


def test_shrink_exponent_shrinks_large_objects_part_of_the_way_only():
    # (20 / 80) ** 0.5 = 0.5: objects of 80 px are shrunk to 40 px, not to 20.
    assert scale_factors(80, 20, 2, shrink_exponent=0.5) == (0.5, 0.5)
    # Z keeps the in-plane factor times the pixel-size ratio (near-isotropic result).
    assert scale_factors(80, 20, 3, spacing=(2, 1, 1), shrink_exponent=0.5) == (1.0, 0.5, 0.5)
    # Small objects are still enlarged all the way.
    assert scale_factors(5, 20, 2, shrink_exponent=0.5) == (4.0, 4.0)
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="shrink_exponent"):
            scale_factors(80, 20, 2, shrink_exponent=bad)


def test_resample_gives_exact_shapes_and_keeps_labels():
    lab = _disks((101, 77), 12, [(50, 38)])
    shape = scaled_shape(lab.shape, (0.37, 1.9))
    small = resample(lab, shape, order=0)
    assert small.shape == shape and small.dtype == lab.dtype
    back = resample(small, lab.shape, order=0)
    assert back.shape == lab.shape
    assert set(np.unique(back)) <= {0, 1}
    img = resample(lab.astype(np.float32), (20, 300))
    assert img.shape == (20, 300) and img.dtype == np.float32
    stack = resample(np.zeros((3, 40, 40, 2)), (10, 10), channel_axis=-1)
    assert stack.shape == (3, 10, 10, 2)


def test_the_reason_counts_the_objects_it_measured():
    one = _disks((96, 96), 12, [(48, 48)]).astype(np.float32)
    assert estimate_object_size(one).reason == "the one object above Otsu's threshold"
    two = _disks((96, 128), 12, [(48, 30), (48, 96)]).astype(np.float32)
    assert estimate_object_size(two).reason == (
        "area-weighted median of 2 objects above Otsu's threshold"
    )


def test_nan_pixels_do_not_spread_when_resampled():
    """3 % of NaN pixels became 11 % after a 2x linear resample (and the labels around
    them background): they take the lowest finite value first, with the warning the
    normalization gives, said of the whole image."""
    from napari_unetseg.core.guards import NonFiniteWarning
    from napari_unetseg.core.scale import resample

    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32)
    image[rng.random((64, 64)) < 0.03] = np.nan
    kept = image.copy()
    with pytest.warns(NonFiniteWarning, match=r"\((2\.\d|3(\.\d)?)% of the values"):
        out = resample(image, (128, 128))
    assert np.isfinite(out).all() and out.min() >= np.nanmin(image)
    np.testing.assert_array_equal(image, kept)  # the caller's array is not written to
    with pytest.raises(ValueError, match="no finite values"):
        resample(np.full((8, 8), np.nan, np.float32), (16, 16))


def test_a_stained_brightfield_colour_image_is_measured_on_its_hematoxylin():
    """Dark nuclei on white: a colour model measured the bright gaps between them (6 px
    for nuclei of 15-25) or found nothing (RGB bug bash)."""
    from napari_unetseg.core.scale import estimate_object_size
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((256, 256), seed=4, radius=(8, 11), dtype="float32")
    n = (image - image.min()) / (image.max() - image.min())
    rgb = ((1 - n[..., None] * np.array([0.55, 0.75, 0.3])) * 240).astype(np.uint8)
    grey = estimate_object_size(image).diameter
    colour = estimate_object_size(rgb, channel_axis=2).diameter
    assert colour == pytest.approx(grey, rel=0.2), (colour, grey)


def test_a_volume_of_four_planes_is_measured_without_an_rgb_warning():
    """scikit-image's "looks like that of an RGB image" reached the user on a small
    NIfTI volume whose last axis held 4 planes (NIfTI bug bash)."""
    import warnings

    from napari_unetseg.core.scale import estimate_object_size

    volume = np.random.default_rng(0).random((7, 5, 4)).astype(np.float32)
    volume[2:5, 1:4, 1:3] += 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert estimate_object_size(volume).diameter is not None


@pytest.mark.parametrize("factor", [1e20, 1e34, 1e-30, 1e-42])
def test_a_float32_image_in_any_unit_measures_alike(factor):
    """Times 1e20 or 1e-30, a float32 image showed "no distinct bright objects" (squares
    overflowed, smoothing underflowed; array bug bash)."""
    from napari_unetseg.core.scale import estimate_object_size
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img = synthetic_nuclei((128, 128), seed=1)[0].astype(np.float64)
    plain = estimate_object_size(img.astype(np.float32))
    scaled = estimate_object_size((img * factor).astype(np.float32))
    assert scaled.diameter == pytest.approx(plain.diameter)


def _round_objects_on_tall_pixels():
    """Round objects 20 units across imaged with Y pixels twice as tall as X pixels:
    10 px tall, 20 px wide."""
    yy, xx = np.mgrid[:128, :512].astype(float)
    yy *= 2.0
    lab = np.zeros((128, 512), np.int32)
    for i, (cy, cx) in enumerate(
        (cy, cx) for cy in range(30, 250, 55) for cx in range(25, 500, 50)
    ):
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= 10**2] = i + 1
    img = (lab > 0).astype(np.float32) + 0.05 * np.random.default_rng(0).standard_normal(lab.shape)
    return img.astype(np.float32), lab


def test_objects_on_non_square_pixels_are_measured_in_x_pixels():
    """Measured in Y pixels, the objects were 10 px where they are 20 X pixels across,
    and the image was enlarged twice too much (object-size bug bash)."""
    img, lab = _round_objects_on_tall_pixels()
    assert estimate_object_size(img, spacing=(2.0, 1.0)).diameter == pytest.approx(20, abs=2)
    assert estimate_object_size(img, spacing=(1.0, 0.5)).diameter == pytest.approx(20, abs=2)
    assert size_from_labels(lab, spacing=(0.6, 0.3)).diameter == pytest.approx(20, abs=2)
    # unknown or square pixels: as before
    assert estimate_object_size(img).diameter == pytest.approx(10, abs=1.5)
    assert size_from_labels(lab).diameter == pytest.approx(10, abs=1.5)


def test_dark_objects_on_a_bright_background_are_measured_when_asked_for():
    lab = _disks((200, 200), 10, [(40, 40), (40, 120), (120, 60), (150, 150)])
    img = 1.0 - (lab > 0).astype(np.float32) * 0.8
    est = estimate_object_size(img)
    assert est.diameter is None and est.reason == "no distinct bright objects were found"
    assert estimate_object_size(img, dark=True).diameter == pytest.approx(20, abs=1.5)


def test_linear_resampling_keeps_zooms_values_and_copies_the_image_once():
    """Enlarging goes through torch's interpolation (5-7 x faster than ndimage.zoom) at
    zoom's values; shrinking filters a copy in place and leaves out a Gaussian too narrow
    to move a pixel (overhead bash: 4 x the image in memory, 1.6 s of a 8192^2 run for a
    filter that changed nothing)."""
    import tracemalloc
    import warnings

    from scipy import ndimage

    rng = np.random.default_rng(0)
    for shape, target in (((37, 41), (100, 123)), ((9, 20, 21), (13, 61, 70)),
                          ((3, 4, 20, 21), (3, 4, 50, 51)), ((37,), (91,))):  # fmt: skip
        small = rng.random(shape).astype(np.float32)
        zoom = [t / s for t, s in zip(target, shape)]
        expected = ndimage.zoom(small, zoom, order=1, mode="nearest", grid_mode=True)
        got = resample(small, target[-min(3, len(shape)) :], order=1, antialias=False)
        assert got.shape == target and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)
    read_only = rng.random((20, 21)).astype(np.float32)  # a memory-mapped file's
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warned of a non-writable array (review)
        resample(read_only, (50, 51), order=1, antialias=False)
    image = (rng.random((1024, 1024)) * 4000).astype(np.uint16)
    mild = resample(image, (880, 880))  # sigma 0.08: no filter
    plain = ndimage.zoom(image.astype(np.float32), 880 / 1024, order=1, mode="nearest",
                         grid_mode=True)  # fmt: skip
    np.testing.assert_allclose(mild, plain, rtol=1e-6)
    float_bytes = image.size * 4
    tracemalloc.start()
    half = resample(image, (512, 512))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * float_bytes, peak / float_bytes  # the copy, filtered in place
    filtered = ndimage.gaussian_filter(image.astype(np.float32), 0.5)
    expected = ndimage.zoom(filtered, 0.5, order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(half, expected, rtol=1e-6)


def test_a_second_measure_of_an_image_reuses_its_strided_copy():
    """The dark-objects check read a lazy image a second time (review): the first
    measure's planes give the same dark measure without a read."""
    from napari_unetseg.core.scale import estimate_object_size

    img, _ = synthetic_nuclei((256, 256), seed=5, radius=(8, 10))
    dark = img.max() - img

    class Counted:  # a lazy array that counts its reads
        shape, dtype, ndim, reads = dark.shape, dark.dtype, dark.ndim, 0

        def __getitem__(self, key):
            Counted.reads += 1
            return dark[key]

    bright = estimate_object_size(Counted())
    assert bright.diameter is None and Counted.reads == 1
    again = estimate_object_size(Counted(), dark=True, planes=bright.planes)
    assert Counted.reads == 1
    assert again.diameter == estimate_object_size(dark, dark=True).diameter is not None


@pytest.mark.parametrize("hot", ["pixels", "column"])
def test_hot_pixels_and_a_hot_column_are_not_the_objects_measured(hot):
    """0.1% of the pixels at 65535 in a nuclei image below 240 were the objects measured
    (5.7 px for 27; the image enlarged 3.5 times), one hot column too (8.5 px); the
    size is the nuclei's, as without them (robustness bash)."""
    image, _ = synthetic_nuclei((384, 384), seed=1, radius=(11, 13))
    image = (image.astype(np.float64) / image.max() * 230).astype(np.uint16)
    clean = estimate_object_size(image).diameter
    if hot == "pixels":
        image[np.random.default_rng(0).random(image.shape) < 0.001] = 65535
    else:
        image[:, 170] = 65535
    assert estimate_object_size(image).diameter == pytest.approx(clean, rel=0.05)


def test_a_float_image_far_from_zero_is_measured():
    """A float32 image of 1e7 + its contrast (234 levels) stopped predict with numpy's
    "Too many bins for data range" from Otsu's threshold (robustness bash)."""
    image, _ = synthetic_nuclei((128, 128), seed=1)
    clean = estimate_object_size(image).diameter
    far = (image / image.max() * 235).astype(np.float32) + np.float32(1e7)
    assert estimate_object_size(far).diameter == pytest.approx(clean, rel=0.05)


def test_one_bright_blob_does_not_take_the_size_from_many_dimmer_objects():
    """A debris blob ten times as bright as the nuclei, over 2% of the image, was "the one
    object above Otsu's threshold" (86 px for 27: the image shrunk 0.3 times, Dice 0.93
    -> 0.63; robustness bash). The dimmer objects are measured, the blob said left out;
    one bright object among a few dim specks is still the object."""
    rng = np.random.default_rng(0)
    centres = [(40 + 64 * (i // 7), 40 + 64 * (i % 7)) for i in range(49)]
    nuclei = _disks((460, 460), 12, [c for c in centres if c[0] > 150 or c[1] > 150]) > 0
    blob = _disks((460, 460), 45, [(70, 70)]) > 0
    image = 100 + 60 * nuclei + 2000 * blob + rng.normal(0, 5, nuclei.shape)
    est = estimate_object_size(image)
    assert est.diameter == pytest.approx(24, rel=0.15) and est.n_objects >= 30
    assert est.reason.endswith(", one much brighter object left out")
    specks = _disks((460, 460), 3, [(300, 300), (400, 100), (200, 380)]) > 0
    alone = 100 + 2000 * blob + 60 * specks + rng.normal(0, 5, nuclei.shape)
    est = estimate_object_size(alone)
    assert est.n_objects == 1 and est.diameter == pytest.approx(90, rel=0.1)
    # not past them to noise the lower threshold lets through (one nucleus beside 40 dim
    # puncta: 887 specks of 10 px), nor past two large nuclei to fewer pixels of small
    # dim ones (review)
    puncta = _disks((460, 460), 3, [(20 + 10 * i, 400) for i in range(40)]) > 0
    est = estimate_object_size(100 + 2000 * blob + 250 * puncta + rng.normal(0, 5, blob.shape))
    assert est.diameter == pytest.approx(90, rel=0.1)
    two = _disks((460, 460), 40, [(100, 100), (330, 330)]) > 0
    small = _disks((460, 460), 5, [(30 + 14 * i, 230) for i in range(30)]) > 0
    est = estimate_object_size(100 + 1200 * two + 300 * small + rng.normal(0, 5, two.shape))
    assert est.diameter == pytest.approx(80, rel=0.1) and est.n_objects == 2
