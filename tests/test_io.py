"""TIFF reading/writing with pixel sizes: round trips, lazy opening, errors, atomicity."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import tifffile

from napari_unetseg import _io


def test_labels_round_trip_2d(tmp_path):
    labels = np.zeros((33, 47), np.int32)
    labels[5:10, 3:20] = 7
    labels[20:30, 30:40] = 200
    path = _io.write_labels(tmp_path / "seg.tif", labels, scale=(0.65, 0.65))
    img = _io.read_image(path)
    np.testing.assert_array_equal(img.data, labels)
    assert img.data.dtype == np.uint8  # smallest type that holds 200
    assert img.axes == "YX"
    assert img.scale == pytest.approx((0.65, 0.65))
    assert img.units == ("µm", "µm")
    assert img.channel_axis is None
    # Written as labels, so it opens as labels even without "label" in its name.
    assert img.is_labels and img.name == "seg"


def test_labels_round_trip_3d_anisotropic(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 70_000, (6, 20, 25)).astype(np.int64)
    path = _io.write_labels(
        tmp_path / "a" / "vol.ome.tif", labels, scale=(2.5, 0.3, 0.2), axes="ZYX"
    )
    img = _io.read_image(path)
    assert img.data.dtype == np.uint32
    np.testing.assert_array_equal(img.data, labels)
    assert img.axes == "ZYX" and img.name == "vol"
    assert img.scale == pytest.approx((2.5, 0.3, 0.2))


@pytest.mark.parametrize(("top", "dtype"), [(1, np.uint8), (300, np.uint16), (70_000, np.uint32)])
def test_labels_smallest_dtype(tmp_path, top, dtype):
    labels = np.array([[0, top], [1, 2]], dtype=np.int64)
    img = _io.read_image(_io.write_labels(tmp_path / "l.tif", labels))
    assert img.data.dtype == dtype
    np.testing.assert_array_equal(img.data, labels)


def test_64_bit_label_ids_go_to_ome_zarr_and_the_others_say_so(tmp_path):
    labels = np.zeros((8, 8), np.uint64)
    labels[2:4, 2:4] = 2**40
    for name, file_type in (("l.tif", "TIFF"), ("l.nii.gz", "NIfTI")):
        with pytest.raises(ValueError, match=f"cannot be written to {file_type}; save them as"):
            _io.write_labels(tmp_path / name, labels)
    from napari_unetseg import _zarr_save

    store = _zarr_save.save_labels(tmp_path / "l.ome.zarr", labels)
    back = np.asarray(_io.read_image(store).data)
    assert back.dtype == np.uint64 and back.max() == 2**40


def test_bool_mask_written_as_uint8(tmp_path):
    mask = np.eye(8, dtype=bool)
    img = _io.read_image(_io.write_labels(tmp_path / "m.tif", mask))
    assert img.data.dtype == np.uint8 and img.data.sum() == 8


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([[-1, 2]]), "non-negative"),
        (np.array([[0.5, 2.0]]), "whole numbers"),
    ],
)
def test_bad_labels_are_refused(tmp_path, labels, message):
    with pytest.raises(ValueError, match=message):
        _io.write_labels(tmp_path / "bad.tif", labels)
    assert list(tmp_path.iterdir()) == []


def test_image_with_channels_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.random((4, 2, 16, 18))  # Z C Y X, float64 -> stored as float32
    path = _io.write_image(
        tmp_path / "two_channels.tif",
        image,
        scale=(1.5, 1.0, 0.25, 0.25),
        axes="ZCYX",
        units=("um", "", "um", "um"),
    )
    img = _io.read_image(path)
    assert img.axes == "ZCYX" and img.channel_axis == 1
    assert img.data.dtype == np.float32
    np.testing.assert_allclose(img.data, image.astype(np.float32))
    assert img.scale == pytest.approx((1.5, 1.0, 0.25, 0.25))
    assert img.units == ("µm", "", "µm", "µm")
    assert not img.is_labels
    flat = img.without_channels()
    assert flat.data is None and flat.channel_axis is None
    assert flat.axes == "ZYX"
    assert flat.scale == pytest.approx((1.5, 0.25, 0.25))
    assert flat.units == ("µm", "µm", "µm")


def test_rgb_samples_are_the_channel_axis(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (12, 14, 3), dtype=np.uint8)
    img = _io.read_image(_io.write_image(tmp_path / "colour.tif", rgb, axes="YXS"))
    assert img.axes == "YXS" and img.channel_axis == 2 and img.is_rgb
    np.testing.assert_array_equal(img.data, rgb)
    assert img.units is None and img.scale == (1.0, 1.0, 1.0)


def test_imagej_spacing_and_unit(tmp_path):
    data = np.zeros((3, 10, 12), np.uint16)
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.1, 1 / 0.1),
        metadata={"axes": "ZYX", "spacing": 0.8, "unit": "micron"},
    )
    img = _io.read_image(path)
    assert img.axes == "ZYX"
    assert img.scale == pytest.approx((0.8, 0.1, 0.1))
    assert img.units == ("µm", "µm", "µm")


def test_plain_tiff_resolution_in_centimetres(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(
        path,
        np.zeros((8, 8), np.uint8),
        resolution=(1e4 / 0.5, 1e4 / 0.5),
        resolutionunit="CENTIMETER",
    )
    img = _io.read_image(path)
    assert img.scale == pytest.approx((0.5, 0.5)) and img.units == ("µm", "µm")


def test_plain_multipage_tiff_is_a_z_stack_and_inch_dpi_is_ignored(tmp_path):
    path = tmp_path / "stack.tif"
    with tifffile.TiffWriter(path) as tw:
        for z in range(3):
            tw.write(
                np.full((5, 6), z, np.uint8),
                resolution=(72, 72),
                resolutionunit="INCH",
                metadata=None,  # no tifffile shape description, like other software
            )
    img = _io.read_image(path)
    assert img.axes == "ZYX" and img.data.shape == (3, 5, 6)
    assert img.units is None and img.scale == (1.0, 1.0, 1.0)


def test_a_4d_array_saved_plainly_reads_as_time_then_z(tmp_path):
    """tifffile saves a (T, Z, Y, X) array as QQYX: the axis next to the plane is Z, as
    the engine takes the last three axes for the volume (it read ZTYX, and the labels
    written back called the 16 planes segmented in 3D 16 time points)."""
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 8, 9), np.uint16))
    img = _io.read_image(path)
    assert img.axes == "TZYX" and img.data.shape == (2, 16, 8, 9)
    out = _io.write_labels(
        tmp_path / "labels.tif", np.zeros((2, 16, 8, 9), np.uint8), axes=img.axes
    )
    assert _io.read_image(out).axes == "TZYX"


def test_label_detection_by_name(tmp_path):
    ints = np.ones((4, 4), np.uint16)
    plain = _io.write_image(tmp_path / "cells.tif", ints)
    mask = _io.write_image(tmp_path / "cells_Mask.tif", ints)
    floats = _io.write_image(tmp_path / "cells_labels.tif", ints.astype(np.float32))
    assert not _io.read_image(plain).is_labels
    assert _io.read_image(mask).is_labels
    assert not _io.read_image(floats).is_labels  # a float image is never a label image


def test_lazy_read(tmp_path, monkeypatch):
    data = np.arange(5 * 32 * 40, dtype=np.uint16).reshape(5, 32, 40)
    path = _io.write_image(tmp_path / "big.tif", data, scale=(2.0, 0.5, 0.5))
    img = _io.read_image(path, lazy=True)
    assert not isinstance(img.data, np.ndarray)
    assert img.data.shape == data.shape and img.data.dtype == data.dtype
    np.testing.assert_array_equal(np.asarray(img.data[3, 10:20]), data[3, 10:20])
    assert img.scale == pytest.approx((2.0, 0.5, 0.5))
    # lazy=None decides by size: pretend anything above 1 KiB is "big".
    monkeypatch.setattr(_io, "LAZY_BYTES", 1024)
    assert not isinstance(_io.read_image(path).data, np.ndarray)
    assert isinstance(_io.read_image(path, lazy=False).data, np.ndarray)


def test_lazy_labels_are_written_plane_by_plane(tmp_path):
    import dask.array as da

    labels = da.from_array(
        np.arange(3 * 8 * 9, dtype=np.uint16).reshape(3, 8, 9), chunks=(1, 8, 9)
    )
    img = _io.read_image(_io.write_labels(tmp_path / "lazy.tif", labels, scale=(1.0, 2.0, 2.0)))
    np.testing.assert_array_equal(img.data, labels.compute())
    assert img.scale == pytest.approx((1.0, 2.0, 2.0))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _io.read_image(tmp_path / "nope.tif")


def test_not_a_tiff(tmp_path):
    path = tmp_path / "fake.tif"
    path.write_bytes(b"this is a text file, not an image")
    with pytest.raises(ValueError, match=r"is not a readable TIFF file \(.+\)\.$"):
        _io.read_image(path)


def test_a_picture_named_tif_is_read_as_what_it_is(tmp_path):
    import imageio.v3 as iio

    plane = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30).astype(np.uint8)
    iio.imwrite(tmp_path / "x.png", plane)
    (tmp_path / "x.tif").write_bytes((tmp_path / "x.png").read_bytes())
    np.testing.assert_array_equal(_io.read_image(tmp_path / "x.tif").data, plane)
    (tmp_path / "cut.tif").write_bytes((tmp_path / "x.png").read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cut.tif' is not a readable PNG file \(.+\)\.$"):
        _io.read_image(tmp_path / "cut.tif")


def test_truncated_tiff(tmp_path):
    path = _io.write_image(tmp_path / "whole.tif", np.random.default_rng(3).random((4, 64, 64)))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="is not a readable TIFF file"):
        _io.read_image(cut)


@pytest.mark.parametrize("keep", [4, 6])
def test_a_tiff_cut_inside_its_header_is_said_in_words(tmp_path, keep):
    """A TIFF cut after 4 or 6 bytes was "not a readable TIFF file (unpack requires a
    buffer of 4 bytes)": Python's struct words (fuzzing bash)."""
    path = _io.write_image(tmp_path / "whole.tif", np.zeros((8, 8), np.uint8))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"readable TIFF file \(it ends inside its header: "):
        _io.read_image(cut)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_plain_image_files_are_read_as_one_plane(tmp_path, suffix):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (40, 56), dtype=np.uint8)
    rgb = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / f"grey{suffix}", grey)
    iio.imwrite(tmp_path / f"colour{suffix}", rgb)
    one = _io.read_image(tmp_path / f"grey{suffix}")
    assert (one.axes, one.channel_axis, one.scale, one.name) == ("YX", None, (1.0, 1.0), "grey")
    if suffix != ".jpg":  # lossless
        np.testing.assert_array_equal(one.data, grey)
    colour = _io.read_image(tmp_path / f"colour{suffix}")
    assert colour.axes == "YXS" and colour.is_rgb and colour.data.shape == (40, 56, 3)
    if suffix == ".png":  # grey with alpha
        iio.imwrite(tmp_path / "grey_alpha.png", np.stack([grey, np.full_like(grey, 255)], -1))
        with_alpha = _io.read_image(tmp_path / "grey_alpha.png")
        assert with_alpha.axes == "YX" and np.array_equal(with_alpha.data, grey)


def test_plain_label_images_and_bad_plain_files(tmp_path):
    import imageio.v3 as iio

    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 4:12] = 1
    iio.imwrite(tmp_path / "cells_mask.png", mask)
    assert _io.read_image(tmp_path / "cells_mask.png").is_labels
    from PIL import Image  # annotation tools save masks as indexed colour (a palette)

    indexed = Image.fromarray(mask * 2, mode="P")
    indexed.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    indexed.save(tmp_path / "cells_labels.png")
    read = _io.read_image(tmp_path / "cells_labels.png")
    assert read.is_labels and read.axes == "YX"
    np.testing.assert_array_equal(read.data, mask * 2)  # the indices, not the colours
    indexed.save(tmp_path / "drawing.png")  # not a label file: its colours, as RGB
    assert _io.read_image(tmp_path / "drawing.png").axes == "YXS"
    # ... but read as labels (training strokes, ground truth), its indices are the labels:
    # renumbered by colour, index 1 (red, background strokes) and 2 (green) swapped
    strokes = np.zeros((32, 32), np.uint8)
    strokes[2:4], strokes[20:22, 5:9] = 1, 2
    painted = Image.fromarray(strokes, mode="P")
    painted.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    painted.save(tmp_path / "strokes.png")
    labels, note = _io.read_labels(tmp_path / "strokes.png")
    np.testing.assert_array_equal(labels.data, strokes)
    assert labels.is_labels and labels.axes == "YX" and note == ""
    frames = [Image.fromarray(strokes, mode="P"), Image.fromarray(strokes[::-1], mode="P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="save a stack as TIFF"):  # its first frame alone
        _io.read_image(tmp_path / "anim.gif")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match=r"^'.*broken.png' is not a readable PNG file \(.+\)\.$"):
        _io.read_image(broken)
    iio.imwrite(tmp_path / "anim.png", np.zeros((3, 16, 16, 2), np.uint8)[..., 0])
    with pytest.raises(ValueError, match="save a stack as TIFF"):
        _io.read_image(tmp_path / "anim.png")


class _FailingArray:
    """A lazy array whose third plane cannot be read (a disk or network error mid-write)."""

    shape = (4, 8, 8)
    dtype = np.dtype(np.uint8)

    def __getitem__(self, idx):
        if idx[0] == 2:
            raise OSError("read error on plane 2")
        return np.ones(self.shape[1:], self.dtype)


def test_failed_write_leaves_old_file_intact(tmp_path):
    path = _io.write_labels(tmp_path / "keep.tif", np.full((4, 8, 8), 3, np.uint8))
    before = path.read_bytes()
    with pytest.raises(OSError, match="plane 2"):
        _io.write_labels(path, _FailingArray())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]  # no temporary file left
    np.testing.assert_array_equal(_io.read_image(path).data, 3)


def test_mismatched_axes_or_scale(tmp_path):
    with pytest.raises(ValueError, match="axes"):
        _io.write_labels(tmp_path / "x.tif", np.zeros((4, 4), np.uint8), axes="ZYX")
    with pytest.raises(ValueError, match="scale"):
        _io.write_labels(tmp_path / "x.tif", np.zeros((4, 4), np.uint8), scale=(1.0,))


def test_labels_of_axes_ome_cannot_describe_are_written_as_plain_tiff(tmp_path):
    # A 6D stack of unknown axes (as a plain TIFF of that shape reads) once failed after
    # the prediction with "OmeXmlError: multiple 'Q' dimensions", losing the labels.
    labels = np.arange(2 * 2 * 2 * 2 * 4 * 5, dtype=np.uint16).reshape(2, 2, 2, 2, 4, 5)
    for axes in (None, "ZTQQYX"):
        path = _io.write_labels(tmp_path / "six_labels.tif", labels, axes=axes)
        with tifffile.TiffFile(path) as tif:
            assert not tif.is_ome
        back = _io.read_image(path)
        np.testing.assert_array_equal(back.data, labels)
        assert back.is_labels
    ome = _io.write_labels(tmp_path / "five_labels.tif", labels[0], axes="TQZYX")
    with tifffile.TiffFile(ome) as tif:  # what OME can describe stays OME
        assert tif.is_ome and tif.series[0].axes == "TQZYX"
    with pytest.raises(ValueError, match="2 axes or more"):
        _io.write_labels(tmp_path / "one.tif", np.zeros(4, np.uint8))


def test_unit_names_and_the_common_unit():
    import pint  # napari's layer units are pint units (napari depends on it)

    ureg = pint.UnitRegistry()
    assert _io.unit_name(ureg.micrometer) == "µm" and _io.unit_name("nm") == "nm"
    assert _io.common_unit((ureg.micrometer, ureg.micrometer)) == "µm"
    assert _io.common_unit(("", "µm", "µm")) == "µm"  # a channel axis has no unit
    assert _io.common_unit(("pixel", "pixel")) is None
    assert _io.common_unit(("µm", "nm")) is None
    assert _io.common_unit(None) is None
    assert _io.common_unit(("s", "µm", "µm")) == "µm"  # time is not a length
    from napari_unetseg._units import _convert, _unit

    assert _convert(250.0, "nm", "µm") == 0.25  # not 0.24999999999999997
    assert _unit("inch") == "in" and _convert(1.0, "in", "mm") == 25.4  # OME spells it "in"
    assert _io.common_unit((ureg.second, ureg.micrometer)) == "µm"


def test_an_ome_size_given_for_x_only_is_square(tmp_path):
    path = tmp_path / "x_only.ome.tif"
    tifffile.imwrite(
        path, np.zeros((8, 10), np.uint8), ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.5}
    )  # a Y of 1 pixel would stretch the image twice over in Y when segmented
    img = _io.read_image(path)
    assert img.scale == (0.5, 0.5) and img.units == ("µm", "µm")


def test_the_time_between_frames_is_kept(tmp_path):
    """OME's TimeIncrement and ImageJ's finterval are the time axis's scale and unit,
    written back with labels (they were dropped: a time series came back 1 pixel apart)."""
    data = np.zeros((3, 2, 8, 10), np.uint8)
    path = _io.write_labels(
        tmp_path / "t_labels.tif",
        data,
        scale=(30.0, 2.0, 0.5, 0.5),
        axes="TZYX",
        units=("second", "µm", "µm", "µm"),
    )
    with tifffile.TiffFile(path) as tif:
        assert 'TimeIncrement="30.0" TimeIncrementUnit="s"' in tif.ome_metadata
    img = _io.read_image(path)
    assert img.scale == (30.0, 2.0, 0.5, 0.5) and img.units == ("s", "µm", "µm", "µm")
    fiji = tmp_path / "fiji.tif"
    tifffile.imwrite(fiji, data, imagej=True, metadata={"axes": "TZYX", "finterval": 5.0})
    img = _io.read_image(fiji)  # no pixel size: the spatial axes stay pixels
    assert img.scale == (5.0, 1.0, 1.0, 1.0) and img.units == ("s",) + ("pixel",) * 3


def test_a_plane_saved_with_its_channels_last_reads_as_channels(tmp_path):
    """numpy / scikit-image save a (Y, X, 2) array as 64 pages 2 pixels wide."""
    data = np.random.default_rng(0).integers(0, 255, (64, 48, 2), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "two.tif", data)
    img = _io.read_image(tmp_path / "two.tif")
    assert img.axes == "YXC" and img.channel_axis == 2
    np.testing.assert_array_equal(np.asarray(img.one_channel(1).data), data[..., 1])
    # a real stack of 2-pixel-wide planes is rare, but a short stack stays a stack
    tifffile.imwrite(tmp_path / "stack.tif", data[:8])
    assert _io.read_image(tmp_path / "stack.tif").axes == "ZYX"


def _stack(n=16):
    return np.random.default_rng(4).integers(0, 60000, (n, 32, 32), dtype=np.uint16)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("imagej", "its ImageJ metadata says 16 images, but the file holds 1 page"),
        ("ome", r"its pages break off: invalid page offset \d+"),
        (
            "tiled",
            r"its description says an image of 16 x 32 x 32 pixels, but the file holds \d+ pages",
        ),
    ],
)
def test_a_truncated_stack_is_refused_not_read_as_one_plane(tmp_path, kind, said):
    """A stack cut short (a failed copy) read as its first plane, (32, 32) YX, the OME
    one without its pixel size: tifffile only logged the broken chain of pages."""
    whole = tmp_path / f"{kind}.tif"
    options = {
        "imagej": dict(imagej=True, metadata={"axes": "ZYX", "spacing": 1.0, "unit": "um"}),
        "ome": dict(ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.3}),
        "tiled": dict(photometric="minisblack", tile=(16, 16), compression="zlib"),
    }[kind]
    tifffile.imwrite(whole, _stack(), **options)
    assert _io.read_image(whole).data.shape == (16, 32, 32)  # whole, it reads as it is
    cut = tmp_path / f"cut_{kind}.tif"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    sentence = (
        rf"^'.*cut_{kind}.tif' is not a readable TIFF file \(it looks truncated or damaged; "
        rf"{said}\)\.$"
    )
    for lazy in (False, True):
        with pytest.raises(_io.TiffReadError, match=sentence):
            _io.read_image(cut, lazy=lazy)
    with pytest.raises(ValueError, match="looks truncated or damaged"):
        _io.check_tiff(cut)  # the napari reader's and the batch plan's check
    from napari_unetseg import cli

    # the command line silences tifffile's log: the damage is heard all the same
    assert cli.main(["info", str(cut)]) == 1
    assert logging.getLogger("tifffile").level == logging.CRITICAL  # and stays silenced


def test_a_z_step_the_file_does_not_give_is_unknown_beside_known_xy_sizes(tmp_path):
    """An OME-TIFF with PhysicalSizeX/Y and no PhysicalSizeZ read 1 (pixel) x 0.1 x 0.1
    µm, taken for a Z step ten times the pixel size: the same stack without sizes had its
    Z step measured. ImageJ's inches are dots per inch, a print setting."""
    from napari_unetseg._units import known_spacing

    data = _stack(4)
    noz = tmp_path / "noz.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
    tifffile.imwrite(noz, data, ome=True, metadata=meta)
    img = _io.read_image(noz)
    assert img.scale == (1.0, 0.1, 0.1) and img.units == ("pixel", "µm", "µm")
    assert known_spacing(img.scale, img.units) is None  # the Z step is then measured
    assert known_spacing((1.0, 0.1, 0.1), ("px", "µm", "µm")) is None  # a napari layer's
    withz = tmp_path / "withz.ome.tif"
    tifffile.imwrite(withz, data, ome=True, metadata={**meta, "PhysicalSizeZ": 0.5})
    img = _io.read_image(withz)
    assert known_spacing(img.scale, img.units) == (0.5, 0.1, 0.1)
    # a time series without its time step, of known voxels: the volume is known
    assert known_spacing((1.0, 2.0, 0.5, 0.5), ("pixel", "µm", "µm", "µm")) == (1.0, 2.0, 0.5, 0.5)
    assert known_spacing((5.0, 1.0, 0.1, 0.1), ("s", "pixel", "µm", "µm")) is None

    inch = tmp_path / "inch.tif"
    ij = {"axes": "ZYX", "unit": "inch"}
    tifffile.imwrite(inch, data, imagej=True, resolution=(72, 72), metadata=ij)
    img = _io.read_image(inch)
    assert img.units is None and img.scale == (1.0, 1.0, 1.0)
    # ImageJ writes no spacing for a voxel depth of 1 unit: that is what it means
    fiji = tmp_path / "fiji.tif"
    ij = {"axes": "ZYX", "unit": "micron"}
    tifffile.imwrite(fiji, data, imagej=True, resolution=(1 / 0.2, 1 / 0.2), metadata=ij)
    img = _io.read_image(fiji)
    assert img.scale == (1.0, 0.2, 0.2) and img.units == ("µm", "µm", "µm")
    assert known_spacing(img.scale, img.units) == (1.0, 0.2, 0.2)


def test_an_unknown_z_step_is_measured_as_for_a_stack_without_sizes(tmp_path):
    from napari_unetseg import api
    from napari_unetseg._units import known_spacing
    from napari_unetseg.core.sizing import choose_factors
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = synthetic_nuclei((24, 96, 96), seed=0)[0]
    path = tmp_path / "noz.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
    tifffile.imwrite(path, image, ome=True, metadata=meta)
    img = _io.read_image(path)
    bundle = api.load_model("nuclei-3d")
    sized, _ = choose_factors(bundle, img.data, spacing=known_spacing(img.scale, img.units))
    unsized, _ = choose_factors(bundle, image, spacing=None)
    assert sized == unsized


def test_the_imagej_time_unit_is_kept(tmp_path):
    data = np.zeros((3, 8, 10), np.uint8)
    for tunit, unit in (("min", "min"), ("hr", "h"), (None, "s")):
        meta = {"axes": "TYX", "finterval": 2.0} | ({"tunit": tunit} if tunit else {})
        tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata=meta)
        img = _io.read_image(tmp_path / "t.tif")
        assert img.scale[0] == 2.0 and img.units[0] == unit


def test_a_plane_saved_with_a_leading_axis_of_one_reads_as_a_plane(tmp_path):
    """``imwrite(path, img[None])`` read as a Z stack of one plane (a 3D model was picked)
    while the same plane from ImageJ or as OME reads YX."""
    plane = np.arange(20 * 24, dtype=np.uint16).reshape(20, 24)
    tifffile.imwrite(tmp_path / "one.tif", plane[None])
    tifffile.imwrite(tmp_path / "two.tif", plane[None, None])
    for name in ("one.tif", "two.tif"):
        for lazy in (False, True):
            img = _io.read_image(tmp_path / name, lazy=lazy)
            assert img.axes == "YX" and img.scale == (1.0, 1.0)
            np.testing.assert_array_equal(np.asarray(img.data), plane)
    rgb = np.zeros((20, 24, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb[None], photometric="rgb")
    assert _io.read_image(tmp_path / "rgb.tif").is_rgb
    # an axis of 1 beside a longer one stays: 5 time points of one plane each
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((5, 1, 20, 24), np.uint8))
    assert _io.read_image(tmp_path / "t.tif").axes == "TZYX"
    # labels of a one-slice Z stack come back as a plane, as before
    labels = _io.write_labels(tmp_path / "l.tif", plane[None], axes="ZYX", scale=(2, 0.5, 0.5))
    back = _io.read_image(labels)
    assert back.axes == "YX" and back.scale == (0.5, 0.5)


def test_a_planar_rgb_tiff_reads_as_rgb(tmp_path):
    rgb = np.random.default_rng(5).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    planar = np.moveaxis(rgb, -1, 0)
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    stack = np.stack([planar, planar // 2])
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="rgb", planarconfig="separate")
    for lazy in (False, True):
        img = _io.read_image(tmp_path / "p.tif", lazy=lazy)
        assert img.axes == "YXS" and img.channel_axis == 2 and img.is_rgb
        assert isinstance(img.data, np.ndarray) != lazy
        np.testing.assert_array_equal(np.asarray(img.data), rgb)
        img = _io.read_image(tmp_path / "s.tif", lazy=lazy)
        assert img.axes == "ZYXS" and img.is_rgb
        np.testing.assert_array_equal(np.asarray(img.data), np.moveaxis(stack, 1, -1))


def test_sizes_from_ratios_have_no_float_noise(tmp_path):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(
        path, np.zeros((8, 8), np.uint8), resolution=(1e4 / 0.65, 1e4 / 0.65), resolutionunit=3
    )
    assert _io.read_image(path).scale == (0.65, 0.65)  # not 0.6499999999999999
    pyramid = tmp_path / "pyr.ome.tif"
    data = np.zeros((96, 96), np.uint8)
    with tifffile.TiffWriter(pyramid) as tif:
        meta = {"axes": "YX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
        tif.write(data, subifds=1, tile=(16, 16), metadata=meta)
        tif.write(data[::3, ::3], subfiletype=1, tile=(16, 16))
    assert _io.read_image(pyramid, level=1).scale == (0.3, 0.3)  # not 0.30000000000000004


def test_only_the_words_label_and_mask_make_a_file_labels(tmp_path):
    """An OME image named "EdU labeling day 3", or a channel "Phalloidin-labelled",
    opened as a Labels layer ("label" anywhere in a name); the word itself counts."""

    from napari_unetseg._io import says_labels

    assert not any(map(says_labels, ["EdU labeling", "Phalloidin-labelled", "Unmasked", "masked"]))
    assert all(map(says_labels, ["cells_labels", "nucleiMask", "label001", "MASK", "x-labelmap"]))
    img = np.random.default_rng(0).integers(100, 4000, (32, 32), dtype=np.uint16)
    path = tmp_path / "exp01.ome.tif"
    tifffile.imwrite(path, img, ome=True, metadata={"Name": "EdU labeling day 3"})
    assert not _io.read_image(path).is_labels
    tifffile.imwrite(path, img, ome=True, metadata={"Name": "nuclei mask"})
    assert _io.read_image(path).is_labels


@pytest.mark.parametrize(
    "description, resolution, axes, scale, units",
    [
        # zunit: a Z of 500 nm beside X in µm was read as 500 µm
        ("images=4\nslices=4\nunit=micron\nzunit=nm\nspacing=500\n", (4, 4), "ZYX",
         (0.5, 0.25, 0.25), ("µm",) * 3),
        # images= without slices= (tifffile's axis I): spacing was dropped
        ("images=4\nspacing=2.5\nunit=micron\n", (2, 2), "ZYX", (2.5, 0.5, 0.5), ("µm",) * 3),
        # 1 micron per pixel: resolution tags of 1 lost the unit
        ("images=4\nslices=4\nunit=micron\n", (1, 1), "ZYX", (1.0, 1.0, 1.0), ("µm",) * 3),
        # ImageJ escapes µ: "\u00B5s" as a time unit dropped the frame interval
        ("images=3\nframes=3\nfinterval=0.5\ntunit=\\u00B5s\n", None, "TYX", (0.5, 1.0, 1.0),
         ("µs", "pixel", "pixel")),
        ("images=3\nframes=3\nfinterval=2\ntunit=days\n", None, "TYX", (2.0, 1.0, 1.0),
         ("d", "pixel", "pixel")),
    ],
)  # fmt: skip
def test_imagej_calibrations_as_imagej_reads_them(
    tmp_path, description, resolution, axes, scale, units
):
    """TIFF bug bash: ImageJ files whose calibration we read otherwise than ImageJ."""
    path = tmp_path / "ij.tif"
    data = np.zeros((int(description.split("\n")[0].split("=")[1]), 16, 16), np.uint16)
    tifffile.imwrite(
        path,
        data,
        description=f"ImageJ=1.54f\n{description}loop=false\n",
        resolution=resolution,
        photometric="minisblack",
        metadata=None,
    )
    img = _io.read_image(path)
    assert img.axes == axes and img.scale == pytest.approx(scale) and tuple(img.units) == units


def test_a_lazily_read_tiff_with_damaged_pixels_is_one_sentence(tmp_path):
    """Opened lazily (over the size napari reads whole), a TIFF whose compressed strips
    were damaged raised a codec's traceback out of napari's first draw (bash)."""
    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, np.ones((6, 64, 64), np.uint16), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        strips = [(o, n) for p in tif.pages for o, n in zip(p.dataoffsets, p.databytecounts)]
    with open(path, "r+b") as f:
        for offset, count in strips:
            f.seek(offset)
            f.write(b"\xff" * count)
    with pytest.raises(ValueError, match="is not a readable TIFF file"):
        _io.read_image(path, lazy=True)


def test_a_one_page_imagej_file_cut_short_does_not_count_pages(tmp_path):
    """It said "its ImageJ metadata says 1 images, but the file holds 1 page": the page
    is there, its pixel data are not (TIFF bash)."""
    whole = tmp_path / "plane.tif"
    tifffile.imwrite(whole, np.ones((128, 128), np.uint16), imagej=True)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(_io.TiffReadError, match="looks truncated or damaged") as caught:
        _io.read_image(cut)
    assert "but the file holds" not in str(caught.value)


def test_an_ome_tiff_cut_in_its_metadata_is_refused_not_read_without_it(tmp_path):
    """Cut inside its OME-XML (written after the pixels), a two-position file was read as
    one Z stack at pixel size 1 with only tifffile's log line (fuzzing bash)."""
    whole = tmp_path / "positions.ome.tif"
    meta = {"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    with tifffile.TiffWriter(whole, ome=True) as tif:
        for _ in range(2):
            tif.write(np.ones((64, 64), np.uint16), metadata=meta)
    data = whole.read_bytes()
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(data[: data.index(b"<?xml") + 40])
    with pytest.raises(_io.TiffReadError, match="looks truncated or damaged") as caught:
        _io.read_image(cut)
    assert "its metadata (the image description) lies past the file's end" in str(caught.value)


def test_the_probe_of_a_lazily_opened_tiff_reads_a_small_block(tmp_path, monkeypatch):
    """The probe read the whole middle plane: gigabytes for a whole-slide plane."""
    import dask.array as da

    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, np.zeros((2048, 2048), np.uint8), tile=(256, 256))
    probed: list[tuple[int, ...]] = []
    compute = da.Array.compute
    monkeypatch.setattr(
        da.Array, "compute", lambda self, **kw: (probed.append(self.shape), compute(self, **kw))[1]
    )
    assert _io.read_image(path, lazy=True).data.shape == (2048, 2048)
    assert probed == [(512, 512)]


@pytest.mark.parametrize("unit", ["Pixel", "pixels", "a.u.", "\\u00B5"])
def test_imagej_units_that_are_no_length_give_no_pixel_size(tmp_path, unit):
    """ImageJ's "Pixel" (or "a.u.", a lone µ) was taken for a physical unit: "pixel size:
    Z 3 Pixel", and napari's units refused it, a traceback on opening (TIFF bug bash)."""
    path = tmp_path / "ij.tif"
    data = np.zeros((3, 16, 16), np.uint16)
    ij = {"axes": "ZYX", "spacing": 3, "unit": unit}
    tifffile.imwrite(path, data, imagej=True, resolution=(2, 2), metadata=ij)
    img = _io.read_image(path)
    assert img.scale == (1.0, 1.0, 1.0) and img.units is None


def test_ome_sizes_in_pixels_and_unreadable_ome_xml(tmp_path):
    """X / Y "0.5 pixel" beside Z "2 µm" were read as 0.5 µm (the first axis's unit), and
    an OME-XML that does not parse lost its sizes without a word (TIFF bug bash)."""
    data = np.zeros((3, 16, 16), np.uint16)
    pixels = tmp_path / "pixels.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm"}
    meta.update(PhysicalSizeX=0.5, PhysicalSizeXUnit="pixel")
    meta.update(PhysicalSizeY=0.5, PhysicalSizeYUnit="pixel")
    tifffile.imwrite(pixels, data, ome=True, metadata=meta)
    img = _io.read_image(pixels)
    assert img.scale == (1.0, 1.0, 1.0) and img.units is None
    good = tmp_path / "good.ome.tif"
    tifffile.imwrite(good, data, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 0.5})
    with tifffile.TiffFile(good) as tif:
        xml = tif.pages[0].description
    broken = tmp_path / "broken.ome.tif"
    bad = xml.replace("<Pixels ", "<Pixels & ", 1)
    tifffile.imwrite(broken, data, description=bad, photometric="minisblack", metadata=None)
    with pytest.warns(UserWarning, match="OME-XML metadata cannot be read"):
        img = _io.read_image(broken)
    assert img.data.shape == (3, 16, 16) and img.units is None


@pytest.mark.parametrize(
    ("size_z", "said", "shape"),
    [
        (5, "OME metadata and its pages disagree .*expected 5 frames, got 8", 5),
        (9, "counts 9 planes along its Z axis, but its pages hold the first 8 only", 8),
        ("gap", "1 plane the metadata counts is not among the file's pages.*as zeros", 9),
    ],
)
def test_ome_planes_that_disagree_with_the_pages_are_said(tmp_path, size_z, said, shape):
    """An OME-XML counting 5 planes in a file of 8 pages dropped 3, one counting 9 added a
    plane of zeros, without a word (TIFF bug bash); the missing plane at the end is left out
    (an acquisition stopped early: it was segmented as a made-up plane), one missing
    between others (a multi-file OME-TIFF missing a file) is said and read as zeros (it
    was not said; bad-input bash)."""
    stack = (np.arange(1, 9)[:, None, None] * np.ones((8, 16, 16))).astype(np.uint16)
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, stack, ome=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    xml = xml.replace('SizeZ="8"', f'SizeZ="{9 if size_z == "gap" else size_z}"')
    if size_z == "gap":  # planes 0-3 and 5-8 in the pages, plane 4 in none
        pages = '<TiffData IFD="0" PlaneCount="4"/><TiffData IFD="4" FirstZ="5" PlaneCount="4"/>'
        xml = xml.replace('<TiffData IFD="0" PlaneCount="8"/>', pages)
    tifffile.imwrite(path, stack, description=xml, metadata=None)
    for lazy in (False, True):
        with pytest.warns(UserWarning, match=said) as warned:
            img = _io.read_image(path, lazy=lazy)
        # counted among the UserWarnings: a ResourceWarning of another test's file that the
        # garbage collector closes inside the block is recorded too (CI: 7 of them)
        assert len([w for w in warned if issubclass(w.category, UserWarning)]) == 1
        assert img.data.shape == (shape, 16, 16)
        first = np.asarray(img.data)[:, 0, 0]
        expected = {5: [1, 2, 3, 4, 5], 8: list(range(1, 9)), 9: [1, 2, 3, 4, 0, 5, 6, 7, 8]}
        assert first.tolist() == expected[shape]


def test_another_series_missing_planes_is_not_said_of_the_series_read(tmp_path):
    """tifffile reads every series of a file: series 1's missing planes were said, as
    "read as zeros", of series 0, which has all its planes (review)."""
    path = tmp_path / "two.ome.tif"
    first = (np.arange(1, 5)[:, None, None] * np.ones((4, 16, 16))).astype(np.uint16)
    second = (np.arange(11, 14)[:, None, None] * np.ones((3, 16, 16))).astype(np.uint16)
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(first, metadata={"axes": "ZYX"}, photometric="minisblack")
        tif.write(second, metadata={"axes": "TYX"}, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    path.write_bytes(
        path.read_bytes().replace(xml.encode(), xml.replace('SizeT="3"', 'SizeT="5"').encode())
    )
    for lazy in (False, True):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            img = _io.read_image(path, lazy=lazy)
        assert img.data.shape == (4, 16, 16)
        assert not [w for w in said if "OME metadata" in str(w.message)]
        with pytest.warns(UserWarning, match="counts 5 planes along its time axis"):
            assert _io.read_image(path, lazy=lazy, series=1).data.shape == (3, 16, 16)


def test_a_grey_tiff_with_alpha_is_its_grey_plane_as_a_png_is(tmp_path):
    """A grey + alpha TIFF was two channels (napari: two layers; predict asked for
    --channel), where the same picture as PNG is its grey plane (TIFF bug bash)."""
    grey = (np.random.default_rng(0).random((32, 40)) * 255).astype(np.uint8)
    both = np.dstack([grey, np.full_like(grey, 255)])
    path = tmp_path / "ga.tif"
    tifffile.imwrite(path, both, photometric="minisblack", extrasamples=["unassalpha"])
    img = _io.read_image(path)
    assert img.axes == "YX" and img.channel_axis is None
    np.testing.assert_array_equal(img.data, grey)
    two = tmp_path / "two_channels.tif"  # two samples, the second no alpha: two channels
    tifffile.imwrite(two, both, photometric="minisblack", planarconfig="contig")
    assert _io.read_image(two).data.shape[-1] == 2


def test_pixel_sizes_written_with_a_decimal_comma_are_read(tmp_path) -> None:
    """ImageJ's spacing "0,5" was a Z step of 1 and OME's PhysicalSizeX "0,5" no size at
    all, silently (a German writer, a hand edit; locale bug bash)."""
    import tifffile

    stack = np.zeros((4, 32, 32), np.uint16)
    tifffile.imwrite(
        tmp_path / "ij.tif", stack, imagej=True, resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "unit": "micron", "spacing": "0,5"},
    )  # fmt: skip
    assert tuple(_io.read_image(tmp_path / "ij.tif").scale) == (0.5, 0.5, 0.5)
    sizes = {"PhysicalSizeX": "0,5", "PhysicalSizeY": "0,5", "PhysicalSizeZ": "1,5"}
    tifffile.imwrite(tmp_path / "c.ome.tif", stack, ome=True, metadata={"axes": "ZYX", **sizes})
    image = _io.read_image(tmp_path / "c.ome.tif")
    assert tuple(image.scale) == (1.5, 0.5, 0.5) and image.units[-1] == "µm"


@pytest.mark.parametrize(
    ("sizes", "unit", "said"),
    [
        ((0.5, 1e300), "µm", r"pixel size of 1e\+300 µm along X, which is not a size"),
        ((0.5, 1e-300), "µm", r"pixel size of 1e-300 µm along X, which is not a size"),
        ((0.5, 4.3e13), "µm", r"pixel size of 4.3e\+13 µm along X"),  # 43,000 km
        ((0.5, 5e-7), "µm", r"\(Y 0.5 µm, X 5e-07 µm\) differ 1,000,000-fold between axes"),
    ],
)
def test_pixel_sizes_no_instrument_makes_are_dropped_with_a_warning(tmp_path, sizes, unit, said):
    """A header's 1e300 µm (damaged or lying) resampled the image to almost nothing, and
    0.5 pm beside 0.5 µm a million-fold, without a word (fuzzing bash)."""
    path = tmp_path / "odd.ome.tif"
    meta = {"axes": "YX", "PhysicalSizeY": sizes[0], "PhysicalSizeX": sizes[1]}
    meta.update(PhysicalSizeYUnit=unit, PhysicalSizeXUnit=unit)
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), ome=True, metadata=meta)
    with pytest.warns(UserWarning, match=said):
        image = _io.read_image(path)
    assert image.scale == (1.0, 1.0) and image.units is None


def test_the_smallest_and_largest_real_pixel_sizes_are_kept_and_written(tmp_path):
    """Pixels of 1 pm failed the labels' write ("max_denominator should be at least 1":
    1e10 pixels per cm is more than a TIFF rational holds; the OME sizes keep them, the
    resolution tags are left out); km (OME has it) were dropped as no unit (fuzzing
    bash)."""
    for scale, unit in (((0.05, 0.05), "nm"), ((1.0, 1.0), "pm"), ((30.0, 30.0), "km")):
        units = (unit, unit)
        path = _io.write_labels(
            tmp_path / f"seg_{unit}.tif", np.ones((8, 8), np.uint8), scale=scale, units=units
        )
        image = _io.read_image(path)
        assert image.scale == pytest.approx(scale) and image.units == units, unit


def test_an_imagej_z_step_of_zero_is_said_not_taken_as_one(tmp_path):
    """``spacing=0`` became a Z step of 1 µm beside 0.5 µm pixels without a word, where
    -1 or NaN were said (fuzzing bash)."""
    path = tmp_path / "stack.tif"
    stack = np.zeros((4, 16, 16), np.uint8)
    meta = {"spacing": 0, "unit": "um", "axes": "ZYX"}
    tifffile.imwrite(path, stack, imagej=True, resolution=(2.0, 2.0), metadata=meta)
    with pytest.warns(
        UserWarning, match="pixel size of 0 µm along Z, which is not a size"
    ) as said:
        image = _io.read_image(path)
    assert image.scale == (1.0, 1.0, 1.0)
    # the caller's line, not _io's or _tiff_read's (the first warning recorded may be
    # another, a library's deprecation on its first import: enum.py in a full run)
    (ours,) = [w for w in said if "which is not a size" in str(w.message)]
    assert ours.filename == __file__


def test_imagej_metadata_counting_fewer_planes_than_pages_is_said(tmp_path):
    """ "images=16, slices=5" over 16 pages read 5 planes and dropped 11 without a word
    (fuzzing bash)."""
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((16, 8, 8), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    data = path.read_bytes()
    assert data.count(b"slices=16\n") == 1
    path.write_bytes(data.replace(b"slices=16\n", b"slices=5\n\n"))  # same length
    with pytest.warns(UserWarning, match="counts 5 planes, but the file holds 16 pages"):
        image = _io.read_image(path)
    assert image.data.shape == (5, 8, 8)


def test_an_ome_unit_we_do_not_know_is_said_and_no_axis_keeps_a_size(tmp_path):
    """X in "furlong" beside Y in µm was left out without a word, Y kept: pixels read
    2:1 (fuzzing bash); km is a length."""
    for unit, scale in (("furlong", (1.0, 1.0)), ("km", (0.5, 0.5))):
        path = tmp_path / f"{unit}.ome.tif"
        meta = {"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
        meta.update(PhysicalSizeXUnit=unit, PhysicalSizeYUnit="km" if unit == "km" else "µm")
        tifffile.imwrite(path, np.zeros((8, 8), np.uint8), ome=True, metadata=meta)
        if unit == "furlong":
            with pytest.warns(UserWarning, match="its OME unit 'furlong' is no length"):
                image = _io.read_image(path)
        else:
            image = _io.read_image(path)
        assert image.scale == scale, unit


def test_ome_sizes_that_are_no_number_are_said_and_an_empty_unit_is_omes_default(tmp_path):
    """PhysicalSizeX="abc" beside a Y of 0.5 µm took Y's size without a word, as for a
    writer that gives Y alone (fuzzing bash); it is said, and no X/Y size is read. A Z
    step that is no number is said and left unknown. An empty unit is OME's default,
    µm, as a missing one is (it left X without a size, and so the image, silently)."""

    def read(**given):
        path = tmp_path / "sizes.ome.tif"
        meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, **given}
        tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), ome=True, metadata=meta)
        return _io.read_image(path)

    with pytest.warns(UserWarning, match=r"its OME PhysicalSizeX 'abc' is no number; the image "):
        assert read(PhysicalSizeX="abc").scale == (1.0, 1.0, 1.0)
    with pytest.warns(UserWarning, match=r"its OME PhysicalSizeZ 'n/a' is no number; the Z "):
        image = read(PhysicalSizeZ="n/a")
    assert image.scale[1:] == (0.5, 0.5) and image.units[1:] == ("µm", "µm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read(PhysicalSizeXUnit="", PhysicalSizeYUnit="")
        assert image.scale[1:] == (0.5, 0.5) and image.units[1:] == ("µm", "µm")
        assert read(PhysicalSizeX="", PhysicalSizeY="0.5").scale[1:] == (0.5, 0.5)  # Y alone


def test_a_lazy_array_is_read_once_when_written(tmp_path):
    """``getattr(x, "dtype", np.asarray(x).dtype)`` read the whole lazy array for the
    default it did not need: every chunk read twice, the whole array held in memory
    (GUI-thread bash: "Copy as command" of a session image froze 3.8 s)."""
    import dask.array as da

    reads = []

    def counted(block):
        reads.append(1)
        return block

    lazy = da.ones((4, 64, 64), np.uint16, chunks=(1, 64, 64)).map_blocks(counted, dtype=np.uint16)
    _io.write_image(tmp_path / "image.tif", lazy)
    assert len(reads) <= 5  # each plane once (and one more look): 9 before
    reads.clear()
    _io.write_labels(tmp_path / "labels.tif", lazy)
    assert len(reads) <= 5


def test_a_layer_with_lengths_in_several_units_has_its_pixel_size_in_one():
    """Z in µm beside Y, X in nm (napari keeps a unit per axis): the widgets passed 0.6,
    200, 200 on, and the stack was squashed 16 times in Z (object-size bug bash)."""
    import napari.layers

    from napari_unetseg._units import known_spacing

    layer = napari.layers.Image(
        np.zeros((2, 4, 4)), scale=(0.6, 200, 200), units=("µm", "nm", "nm")
    )
    assert known_spacing(layer.scale, layer.units) == (0.6, 0.2, 0.2)
    assert known_spacing((2.0, 500, 500), ("µm", "nm", "nm")) == (2.0, 0.5, 0.5)
    # units that do not name every axis leave the sizes whole (they were cut short)
    assert known_spacing((0.6, 200, 200), ("µm", "nm")) == (0.6, 200, 200)


def test_a_z_step_of_one_beside_physical_pixels_is_written_in_microns(tmp_path):
    """A stack written with scale (1, 0.32, 0.32) and no units had its Z step written
    as "1 pixel", read back as unknown and measured from the objects (docs bash)."""
    stack = np.zeros((4, 16, 16), np.uint16)
    _io.write_image(tmp_path / "s.tif", stack, scale=(1.0, 0.32, 0.32), axes="ZYX")
    img = _io.read_image(tmp_path / "s.tif")
    assert img.scale == (1.0, 0.32, 0.32)
    assert img.units == ("µm", "µm", "µm")
    _io.write_image(tmp_path / "p.tif", stack, scale=(1.0, 1.0, 1.0), axes="ZYX")
    assert _io.read_image(tmp_path / "p.tif").units is None  # all 1: pixels, no size
    # a scale in Z alone (napari's anisotropy without units) keeps its ratio: 3 µm beside
    # pixels read back as no size at all (review)
    from napari_unetseg._units import known_spacing

    _io.write_image(tmp_path / "z.tif", stack, scale=(3.0, 1.0, 1.0), axes="ZYX")
    img = _io.read_image(tmp_path / "z.tif")
    assert known_spacing(img.scale, img.units, img.axes) == (3.0, 1.0, 1.0)
