"""NIfTI images (MR, CT): read with their voxel sizes in napari's axis order, labels
written back on the image's own affine (CLI, batch, napari reader / writer, Segment
widget), provenance kept, and damaged files refused in one sentence."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_unetseg import _io, _reader, api, cli
from napari_unetseg.core.synthetic import synthetic_nuclei

#: An oblique, flipped affine (LAS-like, rotated): nothing may assume a diagonal one.
AFFINE = np.array(
    [
        [-0.8, 0.05, 0.0, 90.0],
        [0.0, 0.8, 0.1, -120.0],
        [0.0, -0.04, 1.6, -60.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


@pytest.fixture
def volume(tmp_path):
    """Synthetic nuclei saved as a NIfTI file: (i, j, k) = (x, y, z) of the volume."""
    vol, _ = synthetic_nuclei((20, 56, 72), seed=3)  # (z, y, x)
    image = nib.Nifti1Image(vol.transpose(2, 1, 0).astype(np.float32), AFFINE)
    image.header.set_xyzt_units("mm")
    path = tmp_path / "brain.nii.gz"
    nib.save(image, str(path))
    return path, vol


def test_read_gives_napari_axes_voxel_sizes_and_the_affine(volume):
    path, vol = volume
    img = _io.read_image(path)
    assert img.axes == "ZYX" and img.name == "brain"
    np.testing.assert_array_equal(img.data, vol.astype(np.float32))
    zooms = nib.load(str(path)).header.get_zooms()
    assert img.scale == pytest.approx(tuple(reversed(zooms)), rel=1e-5)
    assert img.units == ("mm", "mm", "mm") and not img.is_labels
    np.testing.assert_allclose(img.affine, AFFINE)


def test_a_unit_code_nifti_does_not_define_is_said_and_left_out(tmp_path):
    """A header's xyzt_units of 255 (damaged) stopped every reader with nibabel's bare
    KeyError, "7" as the whole message (fuzzing bash)."""
    image = nib.Nifti1Image(np.zeros((8, 6, 4), np.float32), AFFINE)
    image.header["xyzt_units"] = 255
    path = tmp_path / "odd.nii"
    nib.save(image, str(path))
    with pytest.warns(UserWarning, match="unit code 255 is none NIfTI defines"):
        img = _io.read_image(path)
    assert img.units is None and img.data.shape == (4, 6, 8)


def test_cli_writes_labels_on_the_image_affine_with_provenance(volume, tmp_path, capsys):
    path, _ = volume
    out = tmp_path / "labels"
    argv = ["predict", str(path), "-o", str(out), "--object-size", "off", "--no-split-touching"]
    assert cli.main(argv) == 0  # class labels, as predict's
    written = out / "brain_labels.nii.gz"
    labels = nib.load(str(written))
    np.testing.assert_allclose(labels.affine, AFFINE)  # overlays the image exactly
    image_zooms = nib.load(str(path)).header.get_zooms()
    np.testing.assert_allclose(labels.header.get_zooms(), image_zooms, rtol=1e-6)  # (bug bash)
    assert labels.header["intent_code"] == 1002  # NIFTI_INTENT_LABEL
    # a volume's labels have no time unit ("sec" was made up; medical bash)
    assert labels.header.get_xyzt_units()[1] == "unknown"
    img = _io.read_image(path)
    expected = api.predict(img.data, "nuclei-3d", object_size=None, scale=img.scale)
    back = _io.read_image(written)
    np.testing.assert_array_equal(back.data, expected)
    assert back.is_labels and back.provenance["model"] == "nuclei-3d"
    assert cli.main(["info", str(written)]) == 0
    assert "model: nuclei-3d" in capsys.readouterr().out


def test_probabilities_of_a_nifti_image_are_nifti_on_its_affine(volume, tmp_path, capsys):
    """``--probabilities`` of a NIfTI image wrote TIFF only, and a ``.nii.gz`` name was
    refused: the map lost the affine that overlays it on the scan (left alone by the NIfTI
    bug bash). It is a float32 NIfTI image on the image's affine now, replaced on a rerun
    as ours, and a user's file of that name is kept."""
    path, _ = volume
    out = tmp_path / "out"
    args = ["predict", str(path), "-o", str(out), "--probabilities", str(out)]
    assert cli.main([*args, "--object-size", "off"]) == 0
    written = nib.load(str(out / "brain_probabilities.nii.gz"))
    np.testing.assert_allclose(written.affine, AFFINE)
    assert written.get_data_dtype() == np.float32 and written.header["intent_code"] == 0
    img = _io.read_image(path)
    _, expected = api.predict(
        img.data, "nuclei-3d", object_size=None, scale=img.scale, return_probabilities=True
    )
    back = _io.read_image(out / "brain_probabilities.nii.gz")
    assert not back.is_labels and back.provenance["model"] == "nuclei-3d"
    np.testing.assert_allclose(back.data, expected, atol=1e-6)
    # a file name too; a rerun replaces what we wrote, and a user's own file is kept
    one = tmp_path / "p.nii.gz"
    for _ in range(2):
        assert cli.main(["predict", str(path), "-o", str(out), "--probabilities", str(one)]) == 0
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), str(one))
    capsys.readouterr()
    assert cli.main(["predict", str(path), "-o", str(out), "--probabilities", str(one)]) == 1
    assert "was not written by napari-unetseg" in capsys.readouterr().err
    assert nib.load(str(one)).shape == (2, 2, 2)


def test_a_one_slice_volume_gets_labels_of_its_own_shape(tmp_path):
    """A (96, 96, 1) volume is read as a plane; its labels are written (96, 96, 1) on its
    affine, not as a 2D file, so viewers that compare the dimensions take them (bug bash)."""
    plane, _ = synthetic_nuclei((56, 72), seed=2)
    image = nib.Nifti1Image(plane.T[:, :, None].astype(np.float32), AFFINE)
    nib.save(image, str(tmp_path / "slice.nii.gz"))
    assert cli.main(["predict", str(tmp_path / "slice.nii.gz"), "-o", str(tmp_path / "out")]) == 0
    labels = nib.load(str(tmp_path / "out" / "slice_labels.nii.gz"))
    assert labels.shape == (72, 56, 1) and labels.header["dim"][0] == 3
    np.testing.assert_allclose(labels.affine, AFFINE)
    back = _io.read_image(tmp_path / "out" / "slice_labels.nii.gz")
    assert back.axes == "YX" and back.data.shape == (56, 72) and back.data.any()


@pytest.mark.parametrize("forms", ["both", "sform", "none"])
def test_a_plane_stored_as_a_plane_gets_labels_of_two_dimensions(tmp_path, forms):
    """A (Y, X) NIfTI file's labels were (Y, X, 1) (and with an sform alone the write
    failed: "Expecting 2 zoom values for ndim 2"; medical bash)."""
    plane, _ = synthetic_nuclei((56, 72), seed=2)
    affine = np.diag([0.5, 0.5, 1.0, 1.0])
    affine[:3, 3] = [3.0, 4.0, 5.0]
    image = nib.Nifti1Image(plane.T.astype(np.float32), affine)
    image.set_qform(affine if forms == "both" else None, int(forms == "both"))
    image.set_sform(affine if forms != "none" else None, 2 * (forms != "none"))
    nib.save(image, str(tmp_path / "plane.nii.gz"))
    assert cli.main(["predict", str(tmp_path / "plane.nii.gz"), "-o", str(tmp_path / "out")]) == 0
    labels = nib.load(str(tmp_path / "out" / "plane_labels.nii.gz"))
    assert labels.shape == (72, 56) and labels.header["dim"][0] == 2
    np.testing.assert_allclose(labels.affine, nib.load(str(tmp_path / "plane.nii.gz")).affine)
    assert np.asarray(labels.dataobj).any()


def test_a_folder_of_nifti_files_and_a_tiff_output(volume, tmp_path):
    path, _ = volume
    plane = tmp_path / "slice.nii"
    nib.save(nib.Nifti1Image(synthetic_nuclei((64, 48), seed=1)[0].T[..., None], np.eye(4)),
             str(plane))  # fmt: skip
    assert _io.read_image(plane).units == ("mm", "mm")  # unknown in the header: mm, as ITK
    assert cli.main(["predict", str(tmp_path), "-o", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "brain_labels.nii.gz",
        "slice_labels.nii.gz",
    ]
    assert _io.read_image(tmp_path / "out" / "slice_labels.nii.gz").data.shape == (64, 48)
    # A TIFF output of a NIfTI input keeps its voxel sizes.
    tif = tmp_path / "brain_labels.tif"
    assert cli.main(["predict", str(path), "-o", str(tif)]) == 0
    assert _io.read_image(tif).scale == pytest.approx(_io.read_image(path).scale)


def test_napari_opens_segments_and_saves_on_the_affine(make_napari_viewer, qtbot, volume,
                                                       tmp_path):  # fmt: skip
    path, _ = volume
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-unetseg")
    assert layer.data.shape == (20, 56, 72)
    assert tuple(layer.scale) == pytest.approx(_io.read_image(path).scale)
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(layer)
    with qtbot.waitSignal(widget.runner.finished, timeout=120_000):
        assert widget.run() is not None
    labels = viewer.layers["brain [unet]"]
    saved = tmp_path / "painted.nii.gz"
    labels.save(str(saved), plugin="napari-unetseg")
    back = nib.load(str(saved))
    np.testing.assert_allclose(back.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(back.dataobj).transpose(2, 1, 0), labels.data)
    # labels napari made itself ("New labels layer": no metadata of ours) lie on the
    # image's affine too (they were saved on the voxel sizes alone; NIfTI bug bash)
    viewer.layers.selection.active = layer
    viewer._new_labels()
    drawn = viewer.layers.selection.active
    assert drawn._type_string == "labels" and "nifti_affine" not in drawn.metadata
    drawn.data[5, 10:20, 10:20] = 1
    drawn.save(str(tmp_path / "drawn.nii.gz"), plugin="napari-unetseg")
    np.testing.assert_allclose(nib.load(str(tmp_path / "drawn.nii.gz")).affine, AFFINE)


def test_new_labels_on_two_scans_of_one_grid_are_refused_and_alone_said(
    make_napari_viewer, volume, tmp_path
):
    """Two scans of one grid with other orientations (a baseline and a follow-up): new
    labels were saved on neither affine, without a word (NIfTI bug bash). Refused now;
    with no scan of their grid open, saved on the voxel sizes with a warning."""
    from napari_unetseg._writer import LabelsNotWritten, write_labels

    path, vol = volume
    flipped = AFFINE.copy()
    flipped[0] *= -1  # mirrored left-right
    other = tmp_path / "followup.nii.gz"
    nib.save(nib.Nifti1Image(vol.transpose(2, 1, 0).astype(np.float32), flipped), str(other))
    viewer = make_napari_viewer()
    [first] = viewer.open(str(path), plugin="napari-unetseg")
    viewer.open(str(other), plugin="napari-unetseg")
    drawn = viewer.add_labels(np.zeros(vol.shape, np.uint8), scale=first.scale)
    drawn.data[5, 10:20, 10:20] = 1
    meta = {"scale": tuple(drawn.scale), "translate": tuple(drawn.translate), "metadata": {}}
    target = tmp_path / "drawn.nii.gz"
    with pytest.raises(LabelsNotWritten, match="'brain', 'followup'") as err:
        write_labels(target, drawn.data, meta)
    assert "\n" not in str(err.value) and not target.exists()
    viewer.layers.remove("followup")
    write_labels(target, drawn.data, meta)
    np.testing.assert_allclose(nib.load(str(target)).affine, AFFINE)
    viewer.layers.remove("brain")
    with pytest.warns(UserWarning, match="saved on their voxel sizes alone"):
        write_labels(tmp_path / "alone.nii.gz", drawn.data, meta)


def test_damaged_nifti_is_one_sentence(tmp_path, monkeypatch):
    shown: list[str] = []
    import napari.utils.notifications as notifications

    monkeypatch.setattr(notifications, "show_warning", shown.append)
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="is not a readable NIfTI file") as err:
        _io.read_image(path)
    assert "\n" not in str(err.value)
    assert _reader.napari_get_nifti_reader(str(path)) is None
    assert len(shown) == 1 and "cut.nii.gz" in shown[0]


def test_labels_of_a_microscopy_image_as_nifti_keep_their_size(tmp_path):
    image, _ = synthetic_nuclei((12, 40, 48), seed=2)
    src = _io.write_image(tmp_path / "cells.tif", image, scale=(2.0, 0.5, 0.5), axes="ZYX",
                          units=("µm", "µm", "µm"))  # fmt: skip
    out = tmp_path / "cells_labels.nii.gz"
    assert cli.main(["predict", str(src), "-o", str(out)]) == 0
    back = _io.read_image(out)
    assert back.units == ("µm", "µm", "µm") and back.scale == pytest.approx((2.0, 0.5, 0.5))
    assert back.data.shape == image.shape and back.is_labels


@pytest.mark.parametrize(
    ("unit", "size", "written", "written_unit"),
    [("nm", 500.0, 0.5, "µm"), ("cm", 0.02, 0.2, "mm"), ("in", 0.01, 0.254, "mm")],
)
def test_sizes_in_units_nifti_lacks_are_converted(tmp_path, unit, size, written, written_unit):
    """NIfTI knows mm, µm and m: labels in nm or inches are converted, not written as
    that many mm (500 nm became 500 mm; bug bash)."""
    labels = np.zeros((4, 8, 8), np.uint8)
    labels[1:3, 2:6, 2:6] = 1
    out = _io.write_labels(tmp_path / "l.nii.gz", labels, scale=(2 * size, size, size),
                           units=(unit,) * 3, translate=(0.0, size, 0.0))  # fmt: skip
    back = _io.read_image(out)
    assert back.units == (written_unit,) * 3
    assert back.scale == pytest.approx((2 * written, written, written))
    assert nib.load(str(out)).affine[1, 3] == pytest.approx(written)  # the offset too


def test_a_colour_volume_opens_as_rgb(tmp_path):
    """An RGB24 NIfTI (a colour FA map) reached napari as a structured array, which
    crashed it; its samples are now a last RGB axis."""
    rgb = np.zeros((6, 5, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["G"][1, 2, 3] = 200
    path = tmp_path / "fa.nii.gz"
    nib.save(nib.Nifti1Image(rgb, np.diag([0.5, 0.5, 2.0, 1.0])), str(path))
    [(data, meta, kind)] = _reader.napari_get_nifti_reader(str(path))(str(path))
    assert kind == "image" and meta["rgb"] and data.shape == (4, 5, 6, 3)
    assert data[3, 2, 1].tolist() == [0, 200, 0] and meta["scale"] == (2.0, 0.5, 0.5)


def test_time_series_labels_keep_time_unit_position_and_slices(tmp_path):
    """Labels of a (T, Y, X) series saved as NIfTI are one slice over time (they were a
    volume whose depth was time: ZYX, 2 µm thick slices); the time unit is kept both
    ways (ms read as s, minutes written as "sec" unconverted); labels without an affine
    keep their position in the affine's offset (they were at the origin); a one-slice
    4D NIfTI (cine MR) reads as a series of planes (it was a Z stack of one plane)."""
    labels = np.zeros((3, 8, 10), np.uint8)
    labels[:, 2:5, 3:6] = 1
    path = _io.write_labels(tmp_path / "series_labels.nii.gz", labels, axes="TYX",
                            scale=(2.0, 0.5, 0.25), units=("min", "µm", "µm"),
                            translate=(0.0, 3.0, 4.0))  # fmt: skip
    back = _io.read_image(path)
    assert back.axes == "TYX" and back.data.shape == (3, 8, 10)
    assert back.scale == (120.0, 0.5, 0.25) and back.units == ("s", "µm", "µm")
    np.testing.assert_array_equal(back.data, labels)
    assert nib.load(str(path)).affine[:2, 3].tolist() == [4.0, 3.0]
    header = nib.Nifti1Image(np.zeros((10, 8, 1, 3), np.float32), np.eye(4)).header
    header.set_xyzt_units("mm", "msec")
    header.set_zooms((1.0, 1.0, 1.0, 250.0))
    image = nib.Nifti1Image(np.zeros((10, 8, 1, 3), np.float32), np.eye(4), header)
    nib.save(image, str(tmp_path / "cine.nii.gz"))
    cine = _io.read_image(tmp_path / "cine.nii.gz")
    assert cine.axes == "TYX" and cine.data.shape == (3, 8, 10)
    assert cine.scale[0] == 250.0 and cine.units[0] == "ms"
    assert api.default_model(cine.data.shape, cine.axes)[0] == "nuclei-2d"
    written = _io.write_labels(tmp_path / "cine_labels.nii.gz", np.zeros((3, 8, 10), np.uint8),
                               axes="TYX", scale=cine.scale, units=cine.units)  # fmt: skip
    assert nib.load(str(written)).header.get_xyzt_units() == ("mm", "msec")


def test_labels_keep_the_image_qform_and_sform_with_their_codes(tmp_path):
    """A registered scan whose qform (scanner) and sform (MNI) differ: its labels carry
    both, with their codes, so ITK (qform) and nibabel / FSL (sform) put them where they
    put the image; they carried the sform alone, as "aligned" (second look)."""
    vol, _ = synthetic_nuclei((12, 40, 48), seed=4)
    image = nib.Nifti1Image(vol.transpose(2, 1, 0).astype(np.float32), None)
    qform = np.diag([0.9, 0.9, 1.8, 1.0])
    qform[:3, 3] = (-20.0, 15.0, 3.0)
    image.header.set_qform(qform, code=1)  # scanner
    image.header.set_sform(AFFINE, code=4)  # MNI 152
    path = tmp_path / "scan.nii.gz"
    nib.save(image, str(path))

    def same_forms(written):
        header = nib.load(str(written)).header
        assert header.get_data_dtype() == np.uint8 and header["intent_code"] == 1002
        for name, matrix, code in (("qform", qform, 1), ("sform", AFFINE, 4)):
            found, found_code = getattr(header, f"get_{name}")(coded=True)
            assert found_code == code, name
            np.testing.assert_allclose(found, matrix, atol=1e-5)

    out = tmp_path / "out"
    assert cli.main(["predict", str(path), "-o", str(out), "--object-size", "off"]) == 0
    same_forms(out / "scan_labels.nii.gz")
    # Through napari's reader and our writer (a layer's metadata carries the forms).
    [(data, meta, _)] = _reader.napari_get_nifti_reader(str(path))(str(path))
    painted = tmp_path / "painted.nii.gz"
    from napari_unetseg import _writer

    _writer.write_labels_nifti(str(painted), (data > data.mean()).astype(np.uint8), meta)
    same_forms(painted)


def test_labels_saved_in_another_orientation_are_scored_on_one_grid(
    tmp_path, capsys, make_napari_viewer
):
    """Ground truth saved LAS (x flipped, with the affine that says so) scored against a
    RAS prediction: the same voxels, so the same scores once turned (it read Dice 0.08);
    an origin 30 mm away is refused, in the CLI and in Validate (bug bash)."""
    truth = np.zeros((8, 24, 32), np.uint8)  # (z, y, x)
    truth[2:6, 4:12, 3:11], truth[3:7, 14:20, 18:30] = 1, 2
    pred = np.roll(truth, 1, axis=2)
    ras = np.diag([0.8, 0.8, 1.6, 1.0])
    las = ras.copy()
    las[0, 0], las[0, 3] = -0.8, 0.8 * 31  # i runs the other way from the far side
    shifted = ras.copy()
    shifted[0, 3] = 30.0
    files = {}
    for name, data, affine in (("pred", pred, ras), ("gt", truth, ras),
                               ("gt_las", truth[:, :, ::-1], las), ("gt_far", truth, shifted)):  # fmt: skip
        files[name] = str(tmp_path / f"{name}_labels.nii.gz")
        nib.save(nib.Nifti1Image(np.asfortranarray(data.transpose(2, 1, 0)), affine), files[name])
    scores = []
    for gt in ("gt", "gt_las"):
        assert cli.main(["evaluate", "-p", files["pred"], "-g", files[gt], "--json"]) == 0
        captured = capsys.readouterr()
        scores.append(json.loads(captured.out)["classes"])
    assert scores[0] == scores[1] and "turned onto the ground truth's voxel grid" in captured.err
    assert cli.main(["evaluate", "-p", files["pred"], "-g", files["gt_far"]]) == 1
    assert "voxels lie elsewhere than the ground truth's" in capsys.readouterr().err
    viewer = make_napari_viewer()
    for name in ("pred", "gt_far"):
        [layer] = viewer.open(files[name], plugin="napari-unetseg")
        assert layer._type_string == "labels"
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    widget.pred_combo.set_layer(viewer.layers["pred_labels"])
    widget.gt_combo.set_layer(viewer.layers["gt_far_labels"])
    assert widget.run() is None
    assert "NIfTI files whose voxels lie in different places" in widget.summary.text()


def test_training_labels_in_another_orientation_are_turned_onto_the_image(tmp_path, capsys):
    """Labels saved LAS beside a RAS image trained mirrored, without a word (NIfTI bug
    bash): they are turned onto the image's voxels, and another voxel size is refused."""
    image = np.zeros((8, 24, 32), np.float32)  # (z, y, x)
    image[2:6, 4:12, 3:11] = 100.0
    truth = (image > 0).astype(np.uint8) + 1  # dense-like scribbles: 1 background, 2 object
    ras = np.diag([0.8, 0.8, 1.6, 1.0])
    las = ras.copy()
    las[0, 0], las[0, 3] = -0.8, 0.8 * 31
    coarse = np.diag([1.0, 1.0, 1.6, 1.0])
    files = {}
    for name, data, affine in (("img", image, ras), ("lab_las", truth[:, :, ::-1], las),
                               ("lab_coarse", truth, coarse)):  # fmt: skip
        files[name] = str(tmp_path / f"{name}.nii.gz")
        nib.save(nib.Nifti1Image(np.asfortranarray(data.transpose(2, 1, 0)), affine), files[name])

    seen = {}

    def spy(images, labels, **kwargs):
        seen["labels"] = np.asarray(labels[0])
        raise SystemExit(0)  # what the training got is enough

    from napari_unetseg import api

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "train_iter", spy)
        out = str(tmp_path / "m.pt")
        with pytest.raises(SystemExit):
            cli.main(["train", "-i", files["img"], "-l", files["lab_las"], "-o", out])
    np.testing.assert_array_equal(seen["labels"], truth)  # on the image's voxels
    assert "they were turned onto the image's voxel grid" in capsys.readouterr().err
    assert cli.main(["train", "-i", files["img"], "-l", files["lab_coarse"], "-o", out]) == 1
    assert "labels' voxels lie elsewhere than the image's" in capsys.readouterr().err


def test_labels_of_an_image_without_qform_or_sform_have_none_either(tmp_path):
    """An Analyze-style image (both codes 0) got labels with an 'aligned' sform of the
    affine nibabel makes up, which ITK placed mirrored and shifted (NIfTI bug bash)."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_data_shape((14, 12, 10))
    header.set_zooms((0.8, 0.9, 2.0))
    path = tmp_path / "old.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((14, 12, 10), np.float32), None, header), path)  # fmt: skip
    image = _io.read_image(path)
    out = _io.write_labels(
        tmp_path / "old_labels.nii.gz", (np.asarray(image.data) > 0.5).astype(np.uint8),
        scale=image.scale, affine=image.affine, forms=image.nifti_forms, axes=image.axes,
    )  # fmt: skip
    labels, original = nib.load(str(out)), nib.load(str(path))
    assert (int(labels.header["qform_code"]), int(labels.header["sform_code"])) == (0, 0)
    np.testing.assert_allclose(labels.affine, original.affine)
    assert labels.header.get_zooms() == pytest.approx((0.8, 0.9, 2.0))


@pytest.mark.parametrize(
    ("name", "data", "intent", "labels"),
    [
        ("BraTS_001_seg", np.array([0, 1, 2, 4], np.uint8), None, True),
        ("aseg", np.array([0, 2, 41, 77], np.int16), None, True),
        ("case_gt", np.array([0, 1, 3], np.uint8), None, True),
        ("masks_f", np.array([0.0, 1.0, 2.0], np.float32), None, True),  # whole floats
        ("regions", np.array([0.0, 1.0, 2.0], np.float32), "label", True),  # the intent
        ("seg_prob", np.array([0.0, 0.4, 1.0], np.float32), None, False),  # probabilities
        ("t1w", np.array([0, 17, 230], np.uint8), None, False),
        ("sub-01_dseg", np.array([0, 1, 2], np.uint8), None, True),  # BIDS
        ("aparc+aseg", np.array([0, 2, 41], np.int16), None, True),
        # a skull-stripped scan: "mask" inside a word is not one (it opened as labels)
        ("T1w_masked", np.array([0, 17, 230, 301], np.int16), None, False),
    ],
)
def test_medical_label_files_open_as_labels(tmp_path, name, data, intent, labels):
    """BraTS's _seg, FreeSurfer's aseg, _gt files and float labels opened as images, so
    Validate did not offer them (NIfTI bug bash)."""
    volume = np.resize(data, (4, 6, 8))
    image = nib.Nifti1Image(volume, np.diag([0.8, 0.8, 1.6, 1.0]))
    if intent:
        image.header.set_intent(intent)
    path = tmp_path / f"{name}.nii.gz"
    nib.save(image, path)
    read = _io.read_image(path)
    assert read.is_labels is labels
    if labels:
        assert read.data.dtype.kind in "iu"
        np.testing.assert_array_equal(np.unique(read.data), np.unique(data))


def test_an_analyze_pair_is_refused_with_the_nifti_way_out(tmp_path):
    """A .hdr / .img pair was told to convert to OME-TIFF with Bio-Formats (bug bash)."""
    image = nib.Nifti1Pair(np.zeros((4, 5, 6), np.int16), np.eye(4))
    nib.save(image, tmp_path / "pair.hdr")
    for name in ("pair.hdr", "pair.img"):
        with pytest.raises(ValueError, match=r"save it as one \.nii\.gz file"):
            _io.read_image(tmp_path / name)


def test_a_scaled_ct_is_read_in_the_smallest_exact_type(tmp_path):
    """A CT stored as int16 with scl_slope 1 and scl_inter -1024 (Hounsfield units) was
    read whole as float64, four times its memory (left alone by the NIfTI bug bash)."""
    raw = np.random.default_rng(0).integers(0, 3000, (24, 20, 6)).astype(np.int16)
    for slope, inter, dtype in ((1.0, -1024.0, np.int16), (0.5, 0.0, np.float32)):
        image = nib.Nifti1Image(raw, AFFINE)
        image.header.set_slope_inter(slope, inter)
        path = tmp_path / f"ct_{slope}.nii.gz"
        nib.save(image, str(path))
        read = _io.read_image(path)
        assert read.data.dtype == dtype
        np.testing.assert_array_equal(read.data, (raw * slope + inter).transpose(2, 1, 0))


def test_labels_with_z_in_um_and_y_x_in_nm_keep_their_size(tmp_path):
    """Write-back bash: no unit in common was written as mm, so 65 nm pixels became
    65 mm ones; they are written in the first axis's unit, the offset alike."""
    from napari_unetseg._nifti import write_nifti

    path = write_nifti(
        tmp_path / "mixed.nii.gz",
        np.ones((2, 4, 4), np.uint8),
        scale=(0.3, 65.0, 65.0),
        units=("µm", "nm", "nm"),
        translate=(1.0, 130.0, 650.0),
    )
    img = _io.read_image(path)
    assert img.scale == pytest.approx((0.3, 0.065, 0.065)) and set(img.units) == {"µm"}
    affine = nib.load(path).affine
    assert affine[:3, 3] == pytest.approx([0.65, 0.13, 1.0])


def test_an_sform_alone_gives_the_voxel_size(tmp_path):
    """A file with only an sform whose pixdim says 1 mm: its 0.5 x 0.5 x 3 mm voxels were
    read as 1 mm (HD95 1.0 where 3.0), while the writer and the grid check took the
    sform's (NIfTI bug bash)."""
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_sform(affine, 2)
    header.set_qform(None, 0)
    image = nib.Nifti1Image(np.zeros((8, 6, 4), np.uint8), None, header)
    image.header["pixdim"][1:4] = 1.0
    nib.save(image, tmp_path / "sform.nii.gz")
    assert _io.read_image(tmp_path / "sform.nii.gz").scale == pytest.approx((3.0, 0.5, 0.5))


def test_a_cut_nifti_says_the_whole_reason_on_one_line(tmp_path):
    data = nib.Nifti1Image(np.zeros((32, 32, 16), np.float32), np.eye(4))
    nib.save(data, tmp_path / "whole.nii")
    raw = (tmp_path / "whole.nii").read_bytes()
    (tmp_path / "cut.nii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError) as err:
        _io.read_image(tmp_path / "cut.nii")
    text = str(err.value)
    assert "\n" not in text and text.endswith(").") and "Expected" in text


def test_labels_of_an_image_without_pixel_sizes_name_no_units(tmp_path):
    """Labels of a TIFF without pixel sizes, written as NIfTI, said 1 mm pixels and 1 s
    between time points (series bash): the header leaves both unknown."""
    movie = np.zeros((3, 4, 16, 16), np.uint8)
    _io.write_labels(tmp_path / "t.nii.gz", movie, axes="TZYX")
    assert nib.load(str(tmp_path / "t.nii.gz")).header.get_xyzt_units() == ("unknown", "unknown")
    _io.write_labels(tmp_path / "p.nii.gz", movie[0, 0], axes="YX")
    assert nib.load(str(tmp_path / "p.nii.gz")).header.get_xyzt_units()[0] == "unknown"
    timed = tmp_path / "q.nii.gz"
    _io.write_labels(timed, movie, scale=(5, 2, 0.5, 0.5), units=("s", "µm", "µm", "µm"))
    assert nib.load(str(timed)).header.get_xyzt_units() == ("micron", "sec")


def test_a_header_that_leaves_its_unit_unknown_gives_labels_that_leave_it_so(volume, tmp_path):
    """The image's unit "unknown" (read as mm, as ITK reads it) came back as "mm" in its
    labels' header (medical bash)."""
    path, vol = volume
    image = nib.load(str(path))
    image.header.set_xyzt_units("unknown")
    unknown = tmp_path / "scan.nii.gz"
    nib.save(image, str(unknown))
    out = tmp_path / "scan_labels.nii.gz"
    assert cli.main(["predict", str(unknown), "-o", str(out), "--object-size", "off"]) == 0
    assert nib.load(str(out)).header.get_xyzt_units()[0] == "unknown"
    back = tmp_path / "mm_labels.nii.gz"  # a header in mm keeps mm
    assert cli.main(["predict", str(path), "-o", str(back), "--object-size", "off"]) == 0
    assert nib.load(str(back)).header.get_xyzt_units()[0] == "mm"


def test_a_tiff_of_a_placed_scan_says_what_it_loses_and_evaluate_what_it_matches(
    volume, tmp_path, capsys
):
    """Labels of an oblique scan written as TIFF lost its placement without a word, and
    evaluate scored them against a NIfTI ground truth voxel by voxel (medical bash)."""
    path, vol = volume
    tif = tmp_path / "brain_labels.tif"
    assert cli.main(["predict", str(path), "-o", str(tif), "--object-size", "off"]) == 0
    assert (
        "a TIFF keeps the scan's voxel sizes, not its NIfTI placement" in capsys.readouterr().err
    )
    store = tmp_path / "brain_labels.ome.zarr"  # a block run's output too (review)
    assert cli.main(["predict", str(path), "-o", str(store), "--object-size", "off"]) == 0
    assert "OME-Zarr labels keep the scan's voxel sizes, not" in capsys.readouterr().err
    nii = tmp_path / "brain_labels.nii.gz"
    assert cli.main(["predict", str(path), "-o", str(nii), "--object-size", "off"]) == 0
    assert "NIfTI placement" not in capsys.readouterr().err
    # its probability map as a TIFF says so too (it was lost without a word; classes bash)
    maps = ["--probabilities", str(tmp_path / "brain_p.tif"), "--object-size", "off"]
    assert cli.main(["predict", str(path), "-o", str(nii), *maps]) == 0
    err = capsys.readouterr().err
    assert "the probability map's TIFF keeps the scan's voxel sizes, not its NIfTI" in err
    assert cli.main(["predict", str(path), "-o", str(nii), *maps, "--class-probabilities"]) == 0
    assert "the maps of every class are written to TIFF only" in capsys.readouterr().err
    assert cli.main(["evaluate", "-p", str(tif), "-g", str(nii), "--no-objects"]) == 0
    said = capsys.readouterr().err
    assert "The ground truth is placed in the scanner's space by a NIfTI header" in said
    assert "the prediction has no placement" in said
    assert cli.main(["evaluate", "-p", str(nii), "-g", str(nii), "--no-objects"]) == 0
    assert "placement" not in capsys.readouterr().err
    from napari_unetseg._nifti import placed

    assert placed(AFFINE) and not placed(np.diag([0.8, 0.8, 2.0, 1.0])) and not placed(None)
