"""Naming the axes of files that do not name them (a movie saved from numpy as a plain
multi-page TIFF is read as a Z stack): ``read_image(axes=)``, ``--axes`` of ``unetseg
predict`` (whole files and blocks) and ``unetseg train``, and the note that says so."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unetseg import _io, api, cli
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles


@pytest.fixture
def movie(tmp_path) -> tuple[str, np.ndarray]:
    """A (T, Y, X) movie saved as numpy saves it: no axes in the file."""
    frames, truth = synthetic_nuclei((6, 64, 64), seed=5)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames.astype(np.float32))
    return str(path), truth


def test_a_plain_stack_is_read_as_guessed_and_axes_name_it(movie, tmp_path) -> None:
    path, _ = movie
    img = _io.read_image(path)
    assert img.axes == "ZYX" and img.axes_guessed
    named = _io.read_image(path, axes="tyx")
    assert named.axes == "TYX" and not named.axes_guessed and named.channel_axis is None
    ome = _io.write_image(tmp_path / "ome.tif", np.zeros((2, 16, 16), np.uint8), axes="TYX")
    assert not _io.read_image(ome).axes_guessed  # the file names its axes


def test_renamed_axes_lose_their_pixel_size_and_kept_ones_keep_it(tmp_path) -> None:
    data = np.zeros((3, 2, 16, 16), np.uint16)
    path = _io.write_image(tmp_path / "s.tif", data, scale=(2.0, 1.0, 0.5, 0.5), axes="ZCYX")
    img = _io.read_image(path, axes="TCYX")
    assert img.axes == "TCYX" and img.channel_axis == 1
    assert img.scale == pytest.approx((1.0, 1.0, 0.5, 0.5))
    assert img.units[0] == "pixel" and img.units[2] != "pixel"


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        (
            "YX",
            r"^The axes YX name 2 axes, but the image 'movie' has 3 \(6 x 64 x 64, read as ZYX\)",
        ),
        ("TXY", r"^Axes 'TXY' are not axes napari-unetseg reads: .* e\.g\. TYX for a movie"),
        ("TTX", r"^Axes 'TTX' are not axes"),
        ("QYX", r"^Axes 'QYX' are not axes"),
    ],
)
def test_axes_that_do_not_fit_are_one_sentence(movie, axes, match) -> None:
    with pytest.raises(ValueError, match=match):
        _io.read_image(movie[0], axes=axes)


def test_predict_says_a_guessed_stack_and_axes_segment_a_movie_per_time_point(
    movie, tmp_path, capsys
) -> None:
    path, _ = movie
    out = tmp_path / "guessed.tif"
    assert cli.main(["predict", path, "-o", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "model nuclei-3d (the image is a Z stack)" in err
    assert "does not name its axes, so it is read as ZYX" in err
    assert "unetseg predict --axes TYX" in err
    out = tmp_path / "movie_labels.tif"
    assert cli.main(["predict", path, "-o", str(out), "--axes", "TYX", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "model nuclei-2d (the image is a series of planes (TYX))" in err
    assert "does not name its axes" not in err
    labels = _io.read_image(out)
    assert labels.axes == "TYX" and labels.data.shape == (6, 64, 64)
    assert labels.provenance["settings"]["axes"] == "TYX"


def test_axes_that_do_not_fit_fail_predict_in_one_line(movie, tmp_path, capsys) -> None:
    out = tmp_path / "x.tif"
    assert cli.main(["predict", movie[0], "-o", str(out), "--axes", "XY"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Axes 'XY' are not axes" in err[0]
    assert not out.exists()


def test_block_runs_read_the_given_axes(movie, tmp_path, capsys) -> None:
    import zarr

    path, _ = movie
    out = tmp_path / "movie.ome.zarr"
    rc = cli.main(["predict", path, "-o", str(out), "--axes", "TYX", "--device", "cpu"])
    assert rc == 0
    assert "model nuclei-2d (the image is a series of planes (TYX))" in capsys.readouterr().err
    axes = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]["axes"]
    assert [a["name"] for a in axes] == ["t", "y", "x"]
    guessed = tmp_path / "guessed.ome.zarr"
    assert cli.main(["predict", path, "-o", str(guessed), "--device", "cpu"]) == 0
    assert "Its file does not name its axes" in capsys.readouterr().err


def test_train_says_a_guessed_stack_and_reads_the_given_axes(movie, tmp_path, capsys) -> None:
    path, truth = movie
    lab = tmp_path / "scribbles.tif"
    tifffile.imwrite(lab, synthetic_scribbles(truth, seed=0).astype(np.uint8))
    common = ["train", "-i", path, "-l", str(lab), "--steps", "1", "--depth", "2"]
    common += ["--teacher", "none"]
    assert cli.main([*common, "-o", str(tmp_path / "z.pt")]) == 0
    assert "unetseg train --axes TYX" in capsys.readouterr().err
    assert api.load_model(str(tmp_path / "z.pt")).spatial_dims == 3
    assert cli.main([*common, "--axes", "TYX", "-o", str(tmp_path / "t.pt")]) == 0
    assert "its axes are TYX (time, no Z): a 2D model" in capsys.readouterr().err
    assert api.load_model(str(tmp_path / "t.pt")).spatial_dims == 2


def test_batch_settings_refuse_bad_axes_before_any_file() -> None:
    from napari_unetseg.batch import SegmentSettings

    with pytest.raises(ValueError, match="^Axes 'ZYXT' are not axes"):
        SegmentSettings(axes="ZYXT").check()


def test_colour_axes_stay_colours(tmp_path) -> None:
    """An RGB stack's note named --axes TYXS, which --axes refused; a PNG given a movie's
    TYX had its 3 colours taken for X (review)."""
    rgb = np.zeros((5, 32, 32, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    img = _io.read_image(tmp_path / "rgb.tif")
    assert img.axes == "ZYXS" and img.axes_guessed
    from napari_unetseg.batch import guessed_axes_note

    assert "--axes TYXS" in guessed_axes_note(img, 3)
    movie = _io.read_image(tmp_path / "rgb.tif", axes="TYXS")
    assert movie.axes == "TYXS" and movie.is_rgb and movie.channel_axis == 3
    assert _io.read_image(tmp_path / "rgb.tif", axes="TYXC").channel_axis == 3
    plane = tmp_path / "plane.png"
    import imageio.v3 as iio

    iio.imwrite(plane, rgb[0])
    with pytest.raises(ValueError, match=r"^The axes TYX do not fit the image 'plane': its axis"):
        _io.read_image(plane, axes="TYX")
    with pytest.raises(ValueError, match="are not axes"):
        _io.check_axes("YXSC")


def test_axes_named_as_read_are_no_guess_and_resume_a_run_made_without(movie, tmp_path, capsys):
    path, _ = movie
    assert not _io.read_image(path, axes="ZYX").axes_guessed
    out = tmp_path / "labels.tif"
    assert cli.main(["predict", path, "-o", str(out), "--axes", "ZYX", "--device", "cpu"]) == 0
    assert "does not name its axes" not in capsys.readouterr().err
    store = str(tmp_path / "b.ome.zarr")
    assert cli.main(["predict", path, "-o", store, "--device", "cpu"]) == 0
    capsys.readouterr()
    rc = cli.main(["predict", path, "-o", store, "--resume", "--axes", "ZYX", "--device", "cpu"])
    assert rc == 0 and "already complete" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tifffile's, for (3, Y, X)
@pytest.mark.parametrize("frames", [3, 4])
def test_a_movie_of_three_or_four_frames_that_tifffile_took_for_colours(
    tmp_path, capsys, frames
) -> None:
    """tifffile stores a (3 or 4, Y, X) array as planar RGB(A): the movie was averaged
    to one grey plane without a word, and --axes TYX was refused (docs and series
    bashes). The axes name the file's order (SYX), not the order read (YXS)."""
    movie = np.stack([synthetic_nuclei((48, 48), seed=i)[0] for i in range(frames)])
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, (movie * 1000).astype(np.uint16))
    img = _io.read_image(path)
    assert img.axes == "YXS" and img.axes_guessed and img.file_axes == "SYX"
    named = _io.read_image(path, axes="TYX")
    assert named.axes == "TYX" and named.channel_axis is None and not named.axes_guessed
    np.testing.assert_array_equal(np.asarray(named.data), (movie * 1000).astype(np.uint16))
    assert _io.read_image(path, axes="CYX").channel_axis == 0
    for same in ("SYX", "YXS", "YXC"):  # the colours as read, in either order
        assert _io.read_image(path, axes=same).data.shape == (48, 48, frames)
    out = tmp_path / "labels.tif"
    assert cli.main(["predict", str(path), "-o", str(out), "--device", "cpu"]) == 0
    said = capsys.readouterr().err
    assert f"its {frames} planes are read as the colours of one RGB" in said
    assert "--axes TYX, ZYX or CYX --channel N" in said
    assert _io.read_image(out).data.shape == (48, 48)
    cli.main(["predict", str(path), "-o", str(out), "--axes", "TYX", "--device", "cpu"])
    written = _io.read_image(out)
    assert written.axes == "TYX" and written.data.shape == (frames, 48, 48)
    assert "planes are read as the colours" not in capsys.readouterr().err
    # its ground truth, saved the same way, is a stack of labels, not colour-coded labels
    truth = tmp_path / "truth.tif"
    tifffile.imwrite(truth, np.asarray(written.data))
    labels, note = _io.read_labels(truth)
    assert labels.data.shape == (frames, 48, 48) and "an RGB label image" not in note
    assert "its planes, which tifffile saved as RGB colours, are read as label planes" in note
    # ... said as a stack, not as Z: scored per time point, as the prediction's axes say
    assert f"label planes (a stack of {frames};" in note
    cli.main(["evaluate", "-p", str(out), "-g", str(truth)])
    said = capsys.readouterr()
    assert "ZYX" not in said.err and "in each time point (axis 0)" in said.out
    rgb = tmp_path / "rgb.tif"  # a colour image (samples last) stays colours
    tifffile.imwrite(rgb, np.zeros((16, 16, 3), np.uint8))
    assert not _io.read_image(rgb).axes_guessed and _io.read_image(rgb).file_axes is None


def test_the_note_of_guessed_axes_names_channels_and_a_4d_guess(tmp_path) -> None:
    """A plain 4D file is read as TZYX and a plain 3-plane one as a Z stack without a
    word that they may be a stack with channels (series bash)."""
    from napari_unetseg.batch import guessed_axes_note

    tifffile.imwrite(tmp_path / "zc.tif", np.zeros((5, 2, 16, 16), np.uint16))
    img = _io.read_image(tmp_path / "zc.tif")
    assert img.axes == "TZYX"
    note = guessed_axes_note(img, 3)
    assert "read as TZYX (a series of Z stacks)" in note and "--axes ZCYX --channel N" in note
    tifffile.imwrite(tmp_path / "cyx.tif", np.zeros((2, 16, 16), np.uint16))
    note = guessed_axes_note(_io.read_image(tmp_path / "cyx.tif"), 3)
    assert "--axes TYX, or CYX --channel N if it holds channels" in note
    assert guessed_axes_note(_io.read_image(tmp_path / "cyx.tif", axes="CYX"), 3) is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tifffile's, for (5, 3, Y, X)
def test_stacks_of_three_planes_taken_for_colours_get_axes_that_work(tmp_path) -> None:
    """A (5, 3, Y, X) array's note suggested --axes ZTYX, ZZYX or ZCYX (none of which
    works), and its labels were read as ZTYX: the Z planes scored as time points
    (review)."""
    from napari_unetseg.batch import guessed_axes_note

    path = tmp_path / "stacks.tif"
    tifffile.imwrite(path, np.zeros((5, 3, 16, 16), np.uint16))
    img = _io.read_image(path)
    assert img.axes == "ZYXS" and img.file_axes == "ZSYX"
    note = guessed_axes_note(img, 3)
    assert "3 planes of each taken for RGB colours" in note
    assert "--axes TZYX, or ZCYX --channel N" in note
    assert _io.read_image(path, axes="TZYX").data.shape == (5, 3, 16, 16)
    assert _io.read_image(path, axes="ZCYX").channel_axis == 1
    labels = tmp_path / "labels.tif"
    stacks = np.zeros((5, 3, 16, 16), np.uint8)
    stacks[:, :, 4:9, 4:9] = 1
    stacks[2, 1, 10:14, 10:14] = 2
    tifffile.imwrite(labels, stacks)
    read, note = _io.read_labels(labels)  # time points of stacks, as a plain 4D file
    assert read.axes == "TZYX" and "are read as label planes (TZYX" in note
    np.testing.assert_array_equal(np.asarray(read.data), stacks)  # not colour-coded ids
