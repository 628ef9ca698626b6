"""The Segment widget's "Apply to folder..." and "Copy as command" on a real viewer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qtpy.QtCore import Qt

from napari_unetseg import _io, cli
from napari_unetseg.commands import predict_command
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.provenance import file_sha256

WAIT_MS = 60_000


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.tile_size = (32, 32)
    bundle.name = "tiny-file"
    return str(bundle.save(tmp_path / "tiny-file.pt"))


@pytest.fixture
def segment(make_napari_viewer, model_file):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    name = widget.model_combo.load_file(model_file)  # a session model loaded from a file
    assert name == "tiny-file"
    yield viewer, widget
    from napari_unetseg.core.registry import REGISTRY

    REGISTRY.remove(name)


@pytest.fixture
def folder(tmp_path):
    """Mixed files: a 2D image, a Z stack with a pixel size, a corrupt TIFF."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    d = tmp_path / "images"
    _io.write_image(d / "a_plane.tif", synthetic_nuclei((96, 80), seed=1)[0])
    stack = np.stack([synthetic_nuclei((64, 72), seed=s)[0] for s in (2, 3)])
    _io.write_image(d / "b_stack.tif", stack, scale=(2.0, 0.4, 0.4), axes="ZYX")
    (d / "c_broken.tif").write_bytes(b"II*\x00 not really a TIFF")
    return d


def _run_batch(qtbot, dialog):
    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT_MS):
        assert dialog.run() is not None


def test_apply_to_folder_equals_the_cli_and_lists_the_failure(
    qtbot, segment, folder, tmp_path, capsys
):
    from napari_unetseg.core.registry import REGISTRY

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")  # a trained model: real objects
    widget.split_check.setChecked(True)
    widget.overlap_spin.setValue(0.3)
    dialog = widget.apply_to_folder()
    dialog.set_inputs(folder)
    dialog.set_output(tmp_path / "gui")
    _run_batch(qtbot, dialog)

    assert dialog.table.rowCount() == 3
    assert [dialog.table.item(i, 0).text() for i in range(3)] == [
        "a_plane.tif",
        "b_stack.tif",
        "c_broken.tif",
    ]
    assert dialog.table.item(2, 4).text().startswith("failed: ")
    assert "Segmented 2 of 3 files; 1 failed." in dialog.status.text()
    assert "c_broken.tif" in dialog.status.text() and "not a readable TIFF" in dialog.status.text()
    csv = dialog.save_csv(tmp_path / "summary.csv")
    lines = csv.read_text().splitlines()
    assert (
        lines[0].startswith("file,series,model,objects,foreground_percent,seconds")
        and len(lines) == 4
    )

    # The same run from the command line: unetseg predict DIR/*.tif --output OUT/
    settings = widget.settings()
    files = sorted(str(p) for p in folder.glob("*.tif"))
    argv = predict_command(files, tmp_path / "cli", settings).argv
    assert cli.main(argv[1:]) == 1  # one file failed
    assert "c_broken.tif" in capsys.readouterr().err
    for name in ("a_plane_labels.tif", "b_stack_labels.tif"):
        gui, cmd = _io.read_image(tmp_path / "gui" / name), _io.read_image(tmp_path / "cli" / name)
        np.testing.assert_array_equal(gui.data, cmd.data)
        assert gui.scale == cmd.scale
        assert (
            gui.provenance["model_sha256"]
            == cmd.provenance["model_sha256"]
            == file_sha256(REGISTRY.shipped()["nuclei-2d"])
        )
        assert gui.provenance["settings"] == cmd.provenance["settings"]
    stack = _io.read_image(tmp_path / "gui" / "b_stack_labels.tif")
    assert stack.scale == pytest.approx((2.0, 0.4, 0.4)) and stack.data.max() > 1  # split
    assert int(dialog.table.item(1, 1).text()) == len(np.unique(stack.data)) - 1


def test_apply_to_folder_segments_every_series_of_multi_position_tiffs(qtbot, segment, tmp_path):
    import tifffile

    viewer, widget = segment
    (tmp_path / "in").mkdir()
    with tifffile.TiffWriter(tmp_path / "in" / "pos.ome.tif") as tif:
        for k in range(3):
            tif.write(np.full((32, 40), 10 * k, np.uint8), metadata={"axes": "YX"})
    dialog = widget.apply_to_folder()
    dialog.set_inputs(tmp_path / "in")
    dialog.set_output(tmp_path / "out")
    dialog.series_check.setChecked(True)
    _run_batch(qtbot, dialog)
    assert [dialog.table.item(i, 0).text() for i in range(dialog.table.rowCount())] == [
        "pos.ome.tif",
        "pos.ome.tif [series 1]",
        "pos.ome.tif [series 2]",
    ]
    assert "Segmented 3 of 3 images." in dialog.status.text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "pos_labels.tif",
        "pos_series1_labels.tif",
        "pos_series2_labels.tif",
    ]
    written = _io.read_image(tmp_path / "out" / "pos_series2_labels.tif")
    assert written.provenance["settings"]["series"] == 2
    csv = dialog.save_csv(tmp_path / "summary.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in csv] == ["series", "0", "1", "2"]


def test_cancel_between_tiles_keeps_finished_files(qtbot, segment, folder, tmp_path):
    viewer, widget = segment
    (folder / "c_broken.tif").unlink()
    widget.batch_spin.setValue(1)  # one tile per batch: many chances to stop
    dialog = widget.apply_to_folder()
    dialog.set_inputs(folder)
    dialog.set_output(tmp_path / "out")

    descriptions = []

    def cancel_in_second_file(record):
        descriptions.append(dialog.runner.worker.pbar.desc)  # the activity dock's label
        if record.index == 1 and record.done >= 1 and not record.finished:
            dialog.cancel()

    def stop_in_second_file(record):
        # In the worker thread, as the record is made: the GUI may lag behind a fast
        # worker on a loaded machine, and the second file would be done before the Cancel
        # of cancel_in_second_file arrives. quit() is the thread-safe half of cancel().
        if record.index == 1 and record.done >= 1 and not record.finished:
            worker.quit()

    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT_MS):
        worker = dialog.run()
        worker.yielded.connect(stop_in_second_file, Qt.ConnectionType.DirectConnection)
        worker.yielded.connect(cancel_in_second_file)
    assert "Cancelled" in dialog.status.text()
    assert any("file 1 of 2: a_plane.tif, tile" in d for d in descriptions)
    assert any("file 2 of 2: b_stack.tif" in d for d in descriptions)
    assert [r.ok for r in dialog.rows] == [True]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_plane_labels.tif"]


@pytest.mark.parametrize("case", ["empty", "overwrites_input", "exists", "not_writable"])
def test_bad_folder_input_is_one_notification_and_writes_nothing(
    qtbot, segment, folder, tmp_path, errors_shown, case
):
    viewer, widget = segment
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    (folder / "a_plane_labels.tif").write_bytes(b"an earlier result")
    dialog = widget.apply_to_folder()
    inputs, output = {
        "empty": (tmp_path / "empty", None),
        "overwrites_input": ([folder / "a_plane.tif", folder / "a_plane_labels.tif"], folder),
        "exists": (folder, None),
        "not_writable": (folder, tmp_path / "a_file" / "out"),
    }[case]
    dialog.set_inputs(inputs)
    dialog.set_output(output)
    before = sorted(p.name for p in folder.iterdir())
    assert dialog.run() is None
    assert len(errors_shown) == 1 and len(errors_shown[0].splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == before
    assert (folder / "a_plane_labels.tif").read_bytes() == b"an earlier result"


def test_copy_as_command_reproduces_the_run_and_labels_carry_provenance(
    qtbot, segment, tmp_path, capsys
):
    viewer, widget = segment
    image = np.random.default_rng(5).integers(0, 255, (64, 80)).astype(np.uint8)
    src = _io.write_image(tmp_path / "cells.tif", image, scale=(0.3, 0.3), axes="YX")
    layer = viewer.open(str(src), plugin="napari-unetseg")[0]
    widget.image_combo.set_layer(layer)
    widget.size_spin.setValue(14.0)
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.run()
    labels = viewer.layers["cells [unet]"]
    prov = labels.metadata["unetseg"]
    assert prov["input"] == "cells.tif" and prov["settings"]["object_size"] == 14.0

    dialog = widget.copy_command(folder=str(tmp_path / "saved"))
    rep = dialog.reproduction
    assert str(src) in rep.argv  # the image's own file, nothing saved for it
    from qtpy.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == rep.shell()
    assert cli.main(rep.argv[1:]) == 0
    written = _io.read_image(tmp_path / "cells_labels.tif")
    np.testing.assert_array_equal(written.data, labels.data)

    saved = labels.save(str(tmp_path / "from_napari.tif"), plugin="napari-unetseg")
    again = _io.read_image(saved[0] if isinstance(saved, list) else saved)
    assert again.provenance["model_sha256"] == written.provenance["model_sha256"]
    assert again.provenance["settings"] == written.provenance["settings"]


def test_copy_as_command_on_another_series_names_it(segment, tmp_path):
    # a layer of a file's other image series: the command names the file and the series
    # (--series N), and writes labels named after it, as Run would segment that layer
    import tifffile

    viewer, widget = segment
    src = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(src) as tif:
        for k in range(2):
            tif.write(np.full((48, 64), 10 * k, np.uint8), metadata={"axes": "YX"})
    first, second = viewer.open(str(src), plugin="napari-unetseg")
    assert second.metadata["series"] == 1
    widget.image_combo.set_layer(first)
    argv = widget.copy_command(folder=str(tmp_path / "a")).reproduction.argv
    assert str(src) in argv and "--series" not in argv
    widget.image_combo.set_layer(second)
    rep = widget.copy_command(folder=str(tmp_path / "b")).reproduction
    assert rep.argv[2:3] == [str(src)] and rep.argv[rep.argv.index("--series") + 1] == "1"
    assert "series=1" in rep.python
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").glob("*.tif"))
    assert cli.main(rep.argv[1:]) == 0
    written = _io.read_image(tmp_path / "positions_series1_labels.tif")
    assert written.data.shape == second.data.shape
    assert written.provenance["settings"]["series"] == 1


def test_copy_as_command_saves_a_session_model_and_an_unsaved_layer(
    qtbot, make_napari_viewer, tiny_model_2d, tmp_path
):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.model_combo.set_model_name(tiny_model_2d)
    viewer.add_image(np.zeros((32, 32), np.float32), name="made here", scale=(2.0, 2.0))
    rep = widget.copy_command(folder=str(tmp_path)).reproduction
    assert str(tmp_path / "tiny-test-2d.pt") in rep.argv
    assert str(tmp_path / "made here.tif") in rep.argv
    assert _io.read_image(tmp_path / "made here.tif").scale == (2.0, 2.0)
    assert ModelBundle.load(tmp_path / "tiny-test-2d.pt").config["depth"] == 2


def test_copy_as_command_never_writes_over_a_file(segment, tmp_path):
    """A layer whose data no longer is its file's (cropped) is saved under a free name
    when the folder chosen is the file's own: "cells.tif" was replaced by the crop. A
    copy saved by an earlier command that still holds the data is named again."""
    viewer, widget = segment
    image = np.random.default_rng(5).integers(0, 255, (64, 80)).astype(np.uint8)
    src = _io.write_image(tmp_path / "cells.tif", image, axes="YX")
    layer = viewer.open(str(src), plugin="napari-unetseg")[0]
    layer.data = layer.data[:32, :40]
    argv = widget.copy_command(folder=str(tmp_path)).reproduction.argv
    assert str(tmp_path / "cells 2.tif") in argv
    np.testing.assert_array_equal(_io.read_image(src).data, image)  # untouched
    again = widget.copy_command(folder=str(tmp_path)).reproduction.argv
    assert str(tmp_path / "cells 2.tif") in again and not (tmp_path / "cells 3.tif").exists()
    # the same data with another pixel size (units given in napari since): a new copy
    # (the earlier one, without them, was named again)
    layer.scale, layer.units = (0.5, 0.5), ("µm", "µm")
    third = widget.copy_command(folder=str(tmp_path)).reproduction.argv
    assert str(tmp_path / "cells 3.tif") in third
    assert _io.read_image(tmp_path / "cells 3.tif").scale == (0.5, 0.5)


def test_copy_as_command_saves_a_layer_whose_data_was_replaced(segment, tmp_path, qtbot):
    """An image layer given other values of the same shape is not its file any more: the
    command segments a copy of what Run segmented (it named the file, and its labels
    differed from Run's)."""
    viewer, widget = segment
    image = np.random.default_rng(5).integers(0, 255, (64, 80)).astype(np.uint8)
    src = _io.write_image(tmp_path / "cells.tif", image, axes="YX")
    layer = viewer.open(str(src), plugin="napari-unetseg")[0]
    layer.data = 255 - layer.data
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.run()
    rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
    assert str(src) not in rep.argv and str(tmp_path / "saved" / "cells.tif") in rep.argv
    assert cli.main(rep.argv[1:]) == 0
    written = _io.read_image(tmp_path / "saved" / "cells_labels.tif")
    np.testing.assert_array_equal(written.data, viewer.layers["cells [unet]"].data)


def test_copy_as_command_names_a_nifti_file(make_napari_viewer, tmp_path):
    """A layer opened from a NIfTI volume is named as it is, and the labels go to a
    NIfTI on its affine (a TIFF copy of it was saved, and the labels lost the affine)."""
    import nibabel as nib

    viewer = make_napari_viewer()
    volume = np.random.default_rng(1).random((12, 24, 20)).astype(np.float32)
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    nib.save(nib.Nifti1Image(volume, affine), str(tmp_path / "vol.nii.gz"))
    layer = viewer.open(str(tmp_path / "vol.nii.gz"), plugin="napari-unetseg")[0]
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(layer)
    rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
    assert rep.argv[2] == str(tmp_path / "vol.nii.gz")
    assert rep.argv[rep.argv.index("--output") + 1] == str(tmp_path / "vol_labels.nii.gz")
    assert not (tmp_path / "saved").exists()


def test_a_folder_gets_each_files_model_unless_the_user_chose_one(
    make_napari_viewer, qtbot, folder, tmp_path
):
    """With a Z stack on show Segment picks nuclei-3d; "Apply to folder..." used it for
    every file, and a folder of planes failed but for its stacks (bug bash): a model
    the user did not choose is picked per file, as the command line does."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 64, 64), np.float32), name="stack")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    assert widget.model_combo.model_name() == "nuclei-3d"  # picked for the layer
    (folder / "c_broken.tif").unlink()
    dialog = widget.apply_to_folder()
    dialog.set_inputs(folder)
    dialog.set_output(tmp_path / "auto")
    _run_batch(qtbot, dialog)
    assert "Segmented 2 of 2 files" in dialog.status.text()
    models = [
        _io.read_image(tmp_path / "auto" / f"{name}_labels.tif").provenance["model"]
        for name in ("a_plane", "b_stack")
    ]
    assert models == ["nuclei-2d", "nuclei-3d"]
    widget.model_combo.set_model_name("nuclei-2d")  # chosen: every file gets it
    assert dialog._settings().model == "nuclei-2d"


def test_the_dialog_stays_narrow_says_its_end_when_closed_and_drops_stale_rows(
    qtbot, segment, folder, tmp_path, monkeypatch
):
    """Found by a bug bash: a 250-character file name widened the dialog to 1500 px
    (the status line quoted it); a dialog closed during its run ended without a word;
    a refused run left the last run's rows (and their CSV) on show."""
    import napari.utils.notifications as notifications

    said: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", said.append)
    monkeypatch.setattr(notifications, "show_info", said.append)
    viewer, widget = segment
    (folder / "a_plane.tif").rename(folder / ("L" * 200 + ".tif"))
    dialog = widget.apply_to_folder()
    width = dialog.width()
    dialog.set_inputs(folder)
    dialog.set_output(tmp_path / "out")
    _run_batch(qtbot, dialog)
    assert dialog.width() <= width + 5 and not said
    dialog.replace_check.setChecked(True)
    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT_MS):
        assert dialog.run() is not None
        dialog.close()  # the run goes on; its end is a notification
    assert said and "Segment a folder: Segmented 2 of 3 files; 1 failed." in said[-1]
    assert dialog.table.rowCount() == 3
    dialog.set_output(tmp_path / "out.png")  # refused: no rows of the last run stay
    assert dialog.run() is None
    assert dialog.table.rowCount() == 0 and not dialog.save_button.isEnabled()
    # refusals name the dialog's checkbox, not the command line's option (GUI bash)
    dialog.set_output(tmp_path / "out")
    dialog.replace_check.setChecked(False)
    assert dialog.run() is None
    said = dialog.status.text()
    assert 'tick "Replace earlier results"' in said and "--overwrite" not in said
    mine = tmp_path / "out" / "b_stack_labels.tif"
    _io.write_image(mine, np.zeros((3, 8, 8), np.uint8))  # the user's own file
    dialog.replace_check.setChecked(True)
    assert dialog.run() is None
    said = dialog.status.text()
    assert "was not written by napari-unetseg" in said and "--overwrite" not in said


def test_sub_folders_left_out_are_said_before_the_run(
    qtbot, segment, folder, tmp_path, monkeypatch
):
    from napari_unetseg._qt import batch_dialog

    said: list[str] = []
    monkeypatch.setattr(batch_dialog, "notify_info", said.append)
    _io.write_image(folder / "more" / "d_plane.tif", np.zeros((40, 40), np.uint8))
    _, widget = segment
    dialog = widget.apply_to_folder()
    dialog.set_inputs(folder)
    dialog.set_output(tmp_path / "gui")
    _run_batch(qtbot, dialog)
    assert len(said) == 1 and "sub-folder with images ('more') is not entered" in said[0]
    assert dialog.table.rowCount() == 3
