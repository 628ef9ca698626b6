"""A frame of one value around an image is left out of the prediction (core/margins.py)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_unetseg import api
from napari_unetseg.core.margins import Window, find_frame
from napari_unetseg.core.synthetic import synthetic_nuclei


def test_find_frame_widths_per_side_and_axis():
    image = np.zeros((50, 60), np.uint16)
    image[3:47, 20:59] = np.arange(44 * 39).reshape(44, 39) + 1  # a frame 3/3 x 20/1 px wide
    frame = find_frame(image, (0, 1))
    assert frame.widths == ((3, 3), (20, 1)) and frame.value == 0.0
    assert frame.inner == (slice(3, 47), slice(20, 59))
    assert "frame of value 0 (1-20 px wide)" in frame.message()
    # every pixel of the frame once, none of the inside
    covered = np.zeros(image.shape, int)
    for index in frame.margins(image.shape):
        covered[index] += 1
    inside = np.zeros(image.shape, bool)
    inside[frame.out_inner] = True
    assert (covered == ~inside).all()


def test_no_frame_where_the_edges_vary_differ_or_the_image_is_flat():
    rng = np.random.default_rng(0)
    assert find_frame(rng.random((20, 20)), (0, 1)) is None
    assert find_frame(np.full((20, 20), 4.0), (0, 1)) is None  # nothing would be left
    two = rng.random((20, 20))
    two[:2], two[-2:] = 0.0, 1.0  # a zero top, a white bottom: only one value is a frame
    assert find_frame(two, (0, 1)).widths == ((2, 0), (0, 0))
    nan = rng.random((20, 20))
    nan[:, :3] = np.nan  # NaN is not a value (normalization makes it background)
    assert find_frame(nan, (0, 1)) is None


def test_find_frame_sees_channels_and_leading_axes_whole():
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[5:, 5:] = 200
    rgb[5:, 5:, 1] = np.arange(25 * 35).reshape(25, 35) % 250 + 1
    frame = find_frame(rgb, (0, 1), channel_axis=2)
    assert frame.widths == ((5, 0), (5, 0))
    assert frame.inner == (slice(5, 30), slice(5, 40), slice(None))
    assert frame.out_inner == (slice(5, 30), slice(5, 40))
    movie = np.zeros((4, 30, 30), np.float32)
    movie[:, :, 2:] = 1 + np.arange(30 * 28).reshape(30, 28)
    assert find_frame(movie, (1, 2)).widths == ((0, 0), (2, 0))
    movie[3, 5, 0] = 5.0  # one frame of the movie reaches the left edge: no frame there
    assert find_frame(movie, (1, 2)) is None


def test_no_frame_where_the_image_has_that_value_inside_too():
    """A skull-stripped brain's zero background reaches its box's zero pad: no step."""
    brain = np.zeros((40, 40), np.float32)
    yy, xx = np.mgrid[:40, :40]
    inside = (yy - 20) ** 2 + (xx - 20) ** 2 < 15**2
    brain[inside] = 50 + (yy[inside] % 7)
    assert find_frame(brain, (0, 1)) is None
    brain[1:-1, 1:-1][brain[1:-1, 1:-1] == 0] = 3.0  # the pad alone holds zeros now
    assert find_frame(brain, (0, 1)).widths == ((1, 1), (1, 1))


def test_window_reads_and_writes_a_part_of_a_zarr_array():
    store = zarr.zeros((6, 8), dtype="u1")
    part = Window(store, (slice(2, 5), slice(1, 7)))
    assert part.shape == (3, 6) and part.ndim == 2
    part[1] = 7
    part[..., ::2] = 3
    assert (store[3, 1:7] == [3, 7, 3, 7, 3, 7]).all() and store[2, 2] == 0
    assert (np.asarray(part)[:, 0] == 3).all() and part[2, -1] == 0


@pytest.fixture(scope="module")
def nuclei():
    image, _ = synthetic_nuclei((96, 96), seed=5)
    return image.astype(np.float32)


def test_a_framed_image_is_predicted_as_the_image_alone(nuclei):
    """A zero frame 24 px wide: labels inside as without it, the frame background; the
    maps and a zarr output alike; the sentence says what was left out."""
    alone = api.predict(nuclei, "nuclei-2d", object_size=None, tta=True)  # as uncertainty
    framed = np.pad(nuclei, 24)
    result = api.predict_iter(framed, "nuclei-2d", object_size=None, return_probabilities=True,
                              return_uncertainty=True)  # fmt: skip
    result = _drained(result)
    assert result.labels.shape == framed.shape
    assert (result.labels[24:-24, 24:-24] == alone).all() and alone.any()
    assert not result.labels[:24].any() and not result.probabilities[:, :24].any()
    assert result.uncertainty.shape == framed.shape and result.stats["voxels"] == framed.size
    assert "frame of value 0 (24 px wide)" in result.stats["input"]
    out = zarr.full(framed.shape, 9, dtype="u1")  # stale values in the frame are cleared
    labels = api.predict(framed, "nuclei-2d", object_size=None, out=out, tta=True)
    assert labels is out and (out[...] == result.labels).all()
    with pytest.raises(ValueError, match=r"out has shape \(10, 10\) but needs \(144, 144\)"):
        api.predict(framed, "nuclei-2d", out=np.zeros((10, 10), np.uint8))


def _drained(generator):
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


def test_infinite_edges_are_no_frame():
    """An image of +Inf but one pixel was cropped to that pixel, and the NaN / Inf
    warning was lost; such values have their own policy."""
    image = np.full((20, 20), np.inf, np.float32)
    image[0, 0] = 1.0
    assert find_frame(image, (0, 1)) is None


class _Counted:
    """An array that counts the values each read returns (a lazily read volume)."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.read = data, data.shape, data.dtype, []

    def __getitem__(self, index):
        part = np.asarray(self.data[index])
        self.read.append(part.size)
        return part


def test_an_edge_of_varying_pixels_is_told_from_a_few_points():
    """No slab of a volume without a frame is read (for a zarr volume, a slab along Y is
    a band of chunks through every plane)."""
    volume = _Counted(np.random.default_rng(0).random((30, 40, 50), np.float32))
    assert find_frame(volume, (0, 1, 2)) is None
    assert max(volume.read) == 1 and len(volume.read) <= 6 * 9


def test_one_flat_object_on_the_frames_value_is_no_frame():
    """A bright square on black: the black around it is the object's background, not a
    frame (the square was predicted alone, a constant image, and came out unmarked)."""
    image = np.zeros((64, 64), np.uint16)
    image[20:40, 20:40] = 1000
    assert find_frame(image, (0, 1)) is None
    textured = image.astype(np.float32)
    textured[20:40, 20:40] += np.random.default_rng(0).random((20, 20))
    assert find_frame(textured, (0, 1)) is not None  # an image inside a frame of 0


def test_a_frame_is_looked_for_in_a_bounded_part_of_the_image(monkeypatch):
    """A 1,000,000 x 1,000,000 image of one value was read whole (7 minutes of the test
    suite) before the memory guard refused it: each side is read up to MAX_FRAME_READ
    pixels; a wider frame is then predicted with the image, as if it had none."""
    from napari_unetseg.core import margins

    image = np.zeros((200, 100), np.float32)
    image[80:120, 30:70] = np.random.default_rng(0).random((40, 40)) + 1.0
    whole = margins.find_frame(image, (0, 1))
    assert whole is not None and whole.widths == ((80, 80), (30, 30))
    monkeypatch.setattr(margins, "MAX_FRAME_READ", 100 * 10)  # ten rows of 100
    read = []
    slabs = margins._slab_values
    monkeypatch.setattr(
        margins, "_slab_values", lambda im, a, lo, hi: read.append(hi - lo) or slabs(im, a, lo, hi)
    )
    assert margins.find_frame(image, (0, 1)) is None  # 80 rows of frame: more than ten
    assert sum(read) <= 4 * 10 + 2 * 30  # rows from either end, columns as before
