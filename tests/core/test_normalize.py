from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg.core.normalize import Normalizer, resolve_layout, strided_sample


def test_layouts() -> None:
    lay = resolve_layout((10, 64, 64), spatial_dims=2)
    assert lay.leading_axes == (0,) and lay.spatial_axes == (1, 2) and lay.channel_axis is None
    assert lay.output_shape == (10, 64, 64)
    lay = resolve_layout((64, 64, 3), spatial_dims=2, in_channels=3)
    assert lay.channel_axis == 2 and lay.output_shape == (64, 64)
    lay = resolve_layout((2, 5, 64, 64), spatial_dims=3, in_channels=2)
    assert lay.channel_axis == 0 and lay.spatial_axes == (1, 2, 3)
    lay = resolve_layout((5, 2, 64, 64), spatial_dims=2, in_channels=2, channel_axis=1)
    assert lay.leading_axes == (0,) and lay.output_shape == (5, 64, 64)


@pytest.mark.parametrize(
    "shape,dims,ch,axis,match",
    [
        ((64, 64), 3, 1, None, "3D model needs at least 3 spatial axes"),
        ((4, 64, 64), 2, 3, None, "expects 3 input channels"),
        ((4, 64, 64), 2, 3, 0, "has 4 channels on axis 0"),
        ((0, 64), 2, 1, None, "empty"),
        ((64, 64), 2, 1, 5, "out of range"),
    ],
)
def test_bad_layouts(shape, dims, ch, axis, match) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_layout(shape, dims, ch, axis)


def test_strided_sample_is_bounded_and_representative() -> None:
    img = np.arange(1000 * 1000, dtype=np.float32).reshape(1000, 1000)
    s = strided_sample(img, max_samples=10_000)
    assert s.size <= 10_000 and s.size > 5_000
    assert abs(np.median(s) - np.median(img)) / img.max() < 0.02


def test_normalizer_per_channel_constant_and_nan() -> None:
    img = np.stack([np.full((8, 8), 5.0), np.arange(64.0).reshape(8, 8)])
    layout = resolve_layout(img.shape, 2, 2)
    n = Normalizer.from_image(img, layout, {"low": 0, "high": 100})
    out = n(img)
    assert np.all(out[0] == 0)  # constant channel: no division by zero
    assert out[1].min() == 0 and out[1].max() == pytest.approx(1)
    bad = np.array([[np.nan, 1.0], [2.0, np.inf]], np.float32)
    res = Normalizer.from_image(bad, resolve_layout(bad.shape, 2))(bad[None])
    assert np.isfinite(res).all()
    assert Normalizer.from_image(img, layout, {"mode": "none"})(img)[1, 0, 3] == 3


def test_grey_for_model_takes_one_channel_of_a_grey_rgb_image() -> None:
    from napari_unetseg.core.normalize import grey_for_model

    plane = np.random.default_rng(0).integers(0, 255, (2000, 1500), dtype=np.uint8)
    rgba = np.stack([plane, plane, plane, np.full_like(plane, 255)], axis=-1)
    grey, axis, message = grey_for_model(rgba, -1, in_channels=1)
    assert axis is None and np.array_equal(grey, plane) and "R = G = B" in message
    # One pixel with colour (beyond any strided sample's reach of one channel alone).
    rgb = rgba[..., :3].copy()
    rgb[::2, ::2, 0] //= 2
    grey, axis, message = grey_for_model(rgb, 2, in_channels=1)
    assert axis is None and grey.dtype == np.float32 and "mean of R, G and B" in message
    np.testing.assert_allclose(grey, rgb.astype(np.float32).mean(-1), rtol=1e-6)


def test_grey_for_model_takes_the_hematoxylin_of_a_stained_brightfield_image(
    stained_nuclei,
) -> None:
    """Dark nuclei on a bright background (H&E) become bright nuclei on a dark one, as
    the nuclei models learned them; a fluorescence export of the same nuclei stays the
    mean of R, G and B."""
    from napari_unetseg.core.normalize import grey_for_model, looks_brightfield

    stained, fluorescent, nuclei = stained_nuclei
    grey, axis, message = grey_for_model(stained, -1, in_channels=1)
    assert axis is None and grey.dtype == np.float32 and "hematoxylin" in message
    assert grey[nuclei].mean() > 5 * grey[~nuclei].mean()
    assert not looks_brightfield(fluorescent)
    # Nor with a camera offset of 40 % of the brightest value (stardist's synthetic stack
    # has one): the background is bright, but in one colour only.
    offset = fluorescent.copy()
    offset[..., 2] = np.where(nuclei, 250, 100)
    assert not looks_brightfield(offset)
    grey, _, message = grey_for_model(fluorescent, -1, in_channels=1)
    assert "mean of R, G and B" in message and grey[nuclei].mean() > grey[~nuclei].mean()
    # A new model learns from the colours themselves (keep_colour): left as it is.
    assert grey_for_model(stained, -1, 1, keep_colour=True)[0] is stained


def test_hematoxylin_is_converted_in_blocks_and_stays_lazy_for_dask(monkeypatch) -> None:
    """A whole-slide image is converted a few rows at a time, or block by block for
    dask, to the same values as scikit-image's rgb2hed of the whole image."""
    import dask.array as da
    from skimage.color import rgb2hed

    from napari_unetseg.core import normalize

    rgb = np.random.default_rng(4).integers(40, 255, (70, 90, 3), dtype=np.uint8)
    expected = rgb2hed(rgb)[..., 0]
    monkeypatch.setattr(normalize, "COLOUR_BLOCK", 1000)  # 12 rows at a time
    np.testing.assert_allclose(normalize.hematoxylin(rgb), expected, atol=1e-6)
    lazy = normalize.hematoxylin(da.from_array(rgb, chunks=(32, 32, 1)))
    assert isinstance(lazy, da.Array) and lazy.dtype == np.float32
    np.testing.assert_allclose(lazy.compute(), expected, atol=1e-6)
    # Floats over 1 are taken relative to their largest value.
    as_float = normalize.hematoxylin(rgb.astype(np.float32) * 4.0)
    np.testing.assert_allclose(as_float, rgb2hed(rgb * 4.0 / (rgb.max() * 4.0))[..., 0], atol=1e-5)


@pytest.mark.parametrize(
    "shape,axis,channels",
    [
        ((64, 64, 3), None, 1),  # no channel axis given: nothing is RGB
        ((3, 64, 64), 0, 1),  # a channel axis first: fluorescence channels, not RGB
        ((64, 64, 2), 2, 1),  # two channels: which one is the nuclei is not ours to guess
        ((64, 64, 3), 2, 3),  # the model takes three channels
    ],
)
def test_grey_for_model_leaves_other_images_alone(shape, axis, channels) -> None:
    from napari_unetseg.core.normalize import grey_for_model

    image = np.zeros(shape, np.uint8)
    out, out_axis, message = grey_for_model(image, axis, channels)
    assert out is image and out_axis == axis and message == ""


def test_constant_is_relative_to_the_magnitude_of_the_values() -> None:
    # values near 1e-15 that vary are an image (the former absolute 1e-12 made it blank)
    tiny = Normalizer(np.array([1e-15]), np.array([3e-15]))
    np.testing.assert_allclose(tiny(np.array([[1e-15, 2e-15, 3e-15]])), [[0.0, 0.5, 1.0]])
    # a span of rounding noise around 1 is a constant image: it maps to 0
    flat = Normalizer(np.array([1.0]), np.array([1.0 + 1e-15]))
    assert flat.scale[0] == 1.0
    # statistics beyond float32 (a float64 image in units of 1e300) are kept in float64
    huge = Normalizer(np.array([1e300]), np.array([3e300]))
    out = huge(np.array([[1e300, 2e300, 3e300]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]], atol=1e-6)


def test_wide_integers_on_a_large_offset_segment_as_their_signal():
    """uint32 / uint64 images whose signal sits on a large offset were made float32 whole
    (24 bits): the signal rounded away (empty labels on 2**40, 22 % wrong on 2**31 and
    numpy's "Too many bins" from the object size measure)."""
    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, _ = synthetic_nuclei((128, 128), seed=2)
    signal = np.round((img - img.min()) / np.ptp(img) * 1000).astype(np.uint16)
    expected = api.predict(signal, "nuclei-2d")
    assert 0.05 < (expected > 0).mean() < 0.9
    for dtype, offset in ((np.uint32, 2**31), (np.int64, 2**40), (np.uint64, 2**40)):
        shifted = signal.astype(dtype) + dtype(offset)
        np.testing.assert_array_equal(api.predict(shifted, "nuclei-2d"), expected)


def test_an_rgba_picture_loses_its_alpha_for_a_colour_model():
    """A 3-channel model refused RGBA pictures ("4 channels but the model expects 3");
    PNG exports and screenshots are RGBA (RGB bug bash)."""
    from napari_unetseg import api
    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.normalize import grey_for_model

    rgba = np.random.default_rng(0).integers(0, 255, (64, 64, 4)).astype(np.uint8)
    image, axis, said = grey_for_model(rgba, 2, 3)
    assert image.shape == (64, 64, 3) and axis == 2 and "alpha" in said
    colour = ModelBundle.create(spatial_dims=2, in_channels=3, depth=2, base_channels=4)
    labels = api.predict(rgba, colour, object_size=None)
    np.testing.assert_array_equal(labels, api.predict(rgba[..., :3], colour, object_size=None))


def test_a_new_model_learns_the_colours_of_an_rgba_picture_not_its_alpha():
    """A new model trained on an RGBA layer took the alpha channel as a fourth input
    (fine-tune bug bash): it learns the three colours, and predicts the RGBA picture."""
    from napari_unetseg import api

    rgba = np.random.default_rng(0).integers(0, 255, (64, 64, 4)).astype(np.uint8)
    rgba[..., 3] = 255
    strokes = np.zeros((64, 64), np.uint8)
    strokes[:10] = 1
    strokes[30:40, 30:40] = 2
    said = []
    model = api.drain(
        api.train_iter(rgba, strokes, steps=1, teacher="none",
                       model_config={"depth": 2, "base_channels": 4}),
        lambda record: said.append(record.message or ""),
    )  # fmt: skip
    assert model.in_channels == 3 and "alpha channel was left out" in " ".join(said)
    assert api.predict(rgba, model, object_size=None).shape == (64, 64)


def test_single_value_reads_past_the_sample_only_when_it_must():
    """One value everywhere (NaN left out), else None; a pixel the strided sample skips
    is found by the chunked pass (a 4-row chunk here), a zarr array read the same way."""
    import zarr

    from napari_unetseg.core.normalize import single_value

    flat = np.full((40, 30), 3, np.uint8)
    assert single_value(flat, chunk=120) == 3.0
    stack = np.full((9, 40, 30), -2.5, np.float32)
    stack[0, 0, 0] = np.nan
    assert single_value(stack, chunk=1200) == -2.5
    stack[8, 39, 29] = 0.0
    big = np.full((2100, 1000), 5, np.uint16)  # 2.1 M values: sampled with a stride of 2
    big[1, 1] = 6
    assert single_value(big, chunk=4000) is None
    assert single_value(stack, chunk=1200) is None
    store = zarr.zeros((6, 50, 50), chunks=(1, 25, 25), dtype="u2")
    assert single_value(store, chunk=2500) == 0.0
    store[5, 49, 49] = 1
    assert single_value(store, chunk=2500) is None
    assert single_value(np.full((4, 4), np.nan, np.float32)) is None


def test_inverted_swaps_dark_and_bright_in_blocks_and_stays_lazy_for_dask(monkeypatch) -> None:
    """invert: unsigned integers from their type's top, floats and signed integers
    negated (the signed ones in floats: -(-128) is no int8), booleans negated; read a few
    rows at a time, or block by block for dask."""
    import dask.array as da

    from napari_unetseg.core import normalize

    monkeypatch.setattr(normalize, "COLOUR_BLOCK", 50)  # 5 rows of 10 at a time
    rng = np.random.default_rng(0)
    cases = [
        (rng.integers(0, 4096, (23, 10), dtype=np.uint16), np.uint16, lambda a: 65535 - a),
        (np.array([[-128, 0, 127]], np.int8), np.float32, lambda a: -a.astype(np.float32)),
        (rng.random((12, 10)).astype(np.float32), np.float32, np.negative),
        (rng.random((12, 10)) > 0.5, np.bool_, np.logical_not),
    ]
    for image, dtype, expected in cases:
        out = normalize.inverted(image)
        assert out.dtype == dtype and out.shape == image.shape
        np.testing.assert_array_equal(out, expected(image))
        lazy = normalize.inverted(da.from_array(image, chunks=4))
        assert isinstance(lazy, da.Array)
        np.testing.assert_array_equal(lazy.compute(), expected(image))
    assert normalize.inverted(np.uint8(5)) == 250


def test_preprocessing_that_swaps_dark_and_bright_is_applied_not_taken_for_a_constant() -> None:
    """A package's scale_linear by a negative gain gives statistics whose span is below
    0: they were taken for a constant image, and the input passed unscaled."""
    from napari_unetseg.core.normalize import _from_ops

    sample = np.linspace(0.0, 10.0, 1001)[None]
    ops = [
        {"op": "scale_range", "low": 0.0, "high": 100.0, "eps": 0.0, "per_channel": True},
        {"op": "scale_linear", "gain": -1.0, "offset": 1.0},
    ]
    swapped = _from_ops(sample, ops)
    block = np.array([[0.0, 5.0, 10.0]], np.float32)
    np.testing.assert_allclose(swapped(block), [[1.0, 0.5, 0.0]], atol=1e-6)
    assert not swapped.flat


def test_hot_pixels_do_not_swamp_the_default_model() -> None:
    """0.1% of a real-like nuclei image's pixels at 65535 (its nuclei below 240) came to
    the network at about 300 and it lost its nuclei around them: Dice 0.33 of the clean
    image's labels (robustness bash). Scaled values stop at 3; those below 3 are as
    they were."""
    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((192, 192), seed=2)
    image = (image.astype(np.float64) / image.max() * 230).astype(np.uint16)
    hot = image.copy()
    hot[np.random.default_rng(0).random(image.shape) < 0.001] = 65535
    norm = Normalizer.from_image(hot, resolve_layout(hot.shape, 2))
    scaled = norm(hot[None])
    assert scaled.max() == 3.0
    np.testing.assert_array_equal(scaled[0][hot < 200], norm(image[None])[0][hot < 200])
    clean = api.predict(image, "nuclei-2d", object_size=None) > 0
    found = api.predict(hot, "nuclei-2d", object_size=None) > 0
    assert 2 * (clean & found).sum() / (clean.sum() + found.sum()) > 0.9


def test_hot_pixels_do_not_swamp_a_model_that_swaps_dark_and_bright() -> None:
    """Swapped, a bright hot pixel came to the network at about -357: the clip above 3
    did not hold it, and a dark-nuclei image with 0.1% hot pixels lost half its nuclei
    (Dice 0.50; review). Scaled values stop at -2 below."""
    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((192, 192), seed=2)
    dark = (230 - image.astype(np.float64) / image.max() * 200).astype(np.uint16)
    hot = dark.copy()
    hot[np.random.default_rng(0).random(dark.shape) < 0.001] = 65535
    clean = api.predict(dark, "nuclei-2d", object_size=None, invert=True) > 0
    found = api.predict(hot, "nuclei-2d", object_size=None, invert=True) > 0
    assert 2 * (clean & found).sum() / (clean.sum() + found.sum()) > 0.9


def test_a_resampled_image_keeps_its_own_statistics_unless_they_rose() -> None:
    """Shrunk, a noisy image's spread narrows and its own statistics fit it (the
    original's cost a real noisy image 0.03 Dice); enlarged with hot pixels, its high
    percentile rose a hundredfold, and the original's are taken (robustness bash)."""
    from napari_unetseg.core.normalize import of_resampled
    from napari_unetseg.core.scale import resample

    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 20, (128, 128))
    layout = resolve_layout((128, 128), 2)
    own = Normalizer.from_image(resample(noisy, (64, 64)), resolve_layout((64, 64), 2))
    original = Normalizer.from_image(noisy, layout)
    assert of_resampled(own, original) is own
    hot = np.full((128, 128), 100.0)
    hot[rng.random(hot.shape) < 0.001] = 65535
    big = resample(hot, (320, 320))
    own = Normalizer.from_image(big, resolve_layout((320, 320), 2))
    assert of_resampled(own, Normalizer.from_image(hot, layout)).statistics()[1][0] < 200


def test_statistics_of_a_resampled_series_and_channels_are_chosen_one_by_one() -> None:
    """A series with hot pixels in one frame kept the resampled statistics for every
    frame (the whole series' percentile did not move) and that frame's nuclei were lost
    (Dice 0.056); one hot channel set the other channels' too; hot pixels swapped to the
    bottom (invert) were not looked at (review)."""
    from napari_unetseg import api
    from napari_unetseg.core.normalize import of_resampled
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((128, 128), seed=3, radius=(4, 5))
    plane = (image.astype(float) / image.max() * 130 + 100).astype(np.uint16)
    series = np.stack([plane] * 4)
    series[2][np.random.default_rng(0).random(plane.shape) < 0.001] = 65535
    found = api.predict(series, "nuclei-2d", object_size=9.0, time_axis=0) > 0
    t = truth > 0
    assert all(2 * (f & t).sum() / (f.sum() + t.sum()) > 0.85 for f in found)
    own = Normalizer(np.array([100.0, 100.0]), np.array([5000.0, 180.0]))
    original = Normalizer(np.array([100.0, 90.0]), np.array([230.0, 200.0]))
    lo, hi, _ = of_resampled(own, original).statistics()
    assert (lo, hi) == ([100.0, 100.0], [230.0, 180.0])  # the hot channel's, the other's own
    swapped = Normalizer(np.array([-5000.0]), np.array([200.0]))  # hot pixels at the bottom
    plain = Normalizer(np.array([100.0]), np.array([200.0]))
    assert of_resampled(swapped, plain) is plain


def test_a_hot_column_above_the_top_percentile_is_looked_past_sparse_beads_are_not() -> None:
    """A hot column of 450 px in a 450 x 450 image (0.22%, more than the top 0.2%) was the
    99.8th percentile itself: every nucleus came to the network near 0 (Dice 0.12 on a real
    image; review). Beads of 5 x 5 pixels covering 0.5% are the image's objects and stay
    its high percentile."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((450, 450), seed=4)
    plane = (image.astype(np.float64) / image.max() * 200 + 20).astype(np.uint16)
    layout = resolve_layout(plane.shape, 2)
    clean_high = Normalizer.from_image(plane, layout).statistics()[1][0]
    hot = plane.copy()
    hot[:, 150] = 65535
    assert Normalizer.from_image(hot, layout).statistics()[1][0] == pytest.approx(
        clean_high, rel=0.05
    )
    rng = np.random.default_rng(1)
    beads = np.full((450, 450), 100.0) + rng.normal(0, 5, (450, 450))
    for y, x in rng.integers(5, 445, (40, 2)):
        beads[y - 2 : y + 3, x - 2 : x + 3] = 5000.0  # 5 x 5 px, 40 of them: about 0.5%
    assert np.percentile(beads, 99) < 200  # the top jumps: looked at, and kept
    assert Normalizer.from_image(beads, layout).statistics()[1][0] == pytest.approx(5000.0)
