""" "Copy as command" of the Validate and Fine-tune widgets: the command repeats the run."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from napari_unetseg import cli

WAIT_MS = 60_000


def test_validate_command_gives_the_widget_metrics(qtbot, make_napari_viewer, tmp_path, capsys):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    gt = np.zeros((4, 40, 48), np.uint8)
    gt[:, 5:18, 6:20] = 1
    gt[1:3, 24:36, 26:42] = 2
    pred = gt.copy()
    pred[:, 5:18, 6:9] = 0
    pred[rng.random(gt.shape) < 0.01] = 1
    # napari's own units (not our reader's metadata): the copies lost them, so the
    # command measured in pixels (Segment: a Z step of its own, 1788 voxels apart)
    um = ("µm", "µm", "µm")
    viewer.add_labels(gt, name="truth", scale=(2.0, 0.5, 0.5), units=um)
    viewer.add_labels(pred, name="pred", scale=(2.0, 0.5, 0.5), units=um)
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    widget.classes_edit.setText("1, 2")
    widget.threshold_spin.setValue(0.4)
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        assert widget.run() is not None

    dialog = widget.copy_command(folder=str(tmp_path))
    rep = dialog.reproduction
    assert str(tmp_path / "pred.tif") in rep.argv and str(tmp_path / "truth.tif") in rep.argv
    assert rep.argv[rep.argv.index("--spacing") + 1 :][:3] == ["2", "0.5", "0.5"]
    assert cli.main([*rep.argv[1:], "--json"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    from_widget = widget.result.to_json_dict()
    assert sorted(from_cli["classes"]) == ["1", "2"]
    for key in ("classes", "summary", "objects", "per_slice_dice", "unit"):
        assert from_cli[key] == from_widget[key], key
    assert from_cli["unit"] == "µm"


def test_finetune_command_repeats_the_last_training_run(
    qtbot, make_napari_viewer, tmp_path, quick_new_model
):
    import torch

    from napari_unetseg._qt import finetune as fw
    from napari_unetseg.commands import PRECISION_NAMES
    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.registry import REGISTRY
    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles
    from napari_unetseg.provenance import weights_sha256

    # The widget trains in a pool thread made by an earlier test, which keeps the thread
    # count it started with: the run takes the viewer's count (set here) all the same,
    # whichever test ran before (after a Segment test the weights differed).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    before = set(REGISTRY.session())
    try:
        viewer = make_napari_viewer()
        image, truth = synthetic_nuclei((96, 96), seed=0)
        viewer.add_image(image, name="cells", scale=(0.5, 0.5))
        _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
        quick_new_model(widget, steps=4, patch=64)
        widget.batch_spin.setValue(2)
        widget.device_combo.setCurrentText("cpu")
        widget.preview_check.setChecked(False)
        layer = widget.new_scribble_layer()
        layer.data = synthetic_scribbles(truth, seed=0)
        with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
            assert widget.train() is not None
        assert widget.trained is not None
        layer.data = np.zeros_like(layer.data)  # painting after the run: not in the command

        rep = widget.copy_command(folder=str(tmp_path)).reproduction
        assert "--steps" in rep.argv and rep.notes == []
        assert rep.argv[rep.argv.index("--depth") + 1] == "2"
        # the run's thread count, which the seed needs (the command left it to the shell)
        assert rep.argv[rep.argv.index("--threads") + 1] == "1"
        assert "torch.set_num_threads(1)" in rep.python
        # ... and its arithmetic: "auto" is fp32 on a CPU without bf16 (reproducibility)
        ran = PRECISION_NAMES[widget.trained.history["precision"]]
        assert rep.argv[rep.argv.index("--precision") + 1] == ran
        assert f"precision={ran!r}" in rep.python
        torch.set_num_threads(2)  # a shell's other count: the command sets its own
        assert cli.main(rep.argv[1:]) == 0
        again = ModelBundle.load(rep.argv[rep.argv.index("--output") + 1])
        assert weights_sha256(again) == weights_sha256(widget.trained)
        assert again.class_names == widget.trained.class_names  # (were "class 1", ...)
        assert "--class-names" in rep.argv

        with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
            layer.data = synthetic_scribbles(truth, seed=1)
            assert widget.continue_training() is not None
        rep = widget.copy_command(folder=str(tmp_path / "second")).reproduction
        start = rep.argv[rep.argv.index("--from") + 1]  # the first model, saved for it
        assert start.endswith(".pt") and "--depth" not in rep.argv
        assert "--teacher" not in rep.argv  # the default, never said

        # A new model without the forest teacher (Advanced settings): the command says so
        # and repeats the run exactly.
        widget.start_combo.set_model_name(fw.SCRATCH)
        assert widget.teacher_check.isEnabled()
        widget.teacher_check.setChecked(False)
        with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
            assert widget.train() is not None
        assert widget.trained.history["teacher"] == "none"
        rep = widget.copy_command(folder=str(tmp_path / "third")).reproduction
        assert rep.argv[rep.argv.index("--teacher") + 1] == "none"
        assert "teacher='none'" in rep.python
        assert cli.main(rep.argv[1:]) == 0
        again = ModelBundle.load(rep.argv[rep.argv.index("--output") + 1])
        assert weights_sha256(again) == weights_sha256(widget.trained)
        widget.start_combo.set_model_name("nuclei-2d")
        assert not widget.teacher_check.isEnabled()  # fine-tuning never uses it
    finally:
        torch.set_num_threads(threads)
        for name in set(REGISTRY.session()) - before:
            REGISTRY.remove(name)


@pytest.fixture
def command_of(make_napari_viewer, tmp_path, quick_new_model):
    """Opens a file in napari, scribbles on its layer ``index`` (synthetic nuclei's
    strokes) and gives Fine-tune's command for a tiny new model of 2 steps; session
    models are removed afterwards."""
    from napari_unetseg.core.registry import REGISTRY
    from napari_unetseg.core.synthetic import synthetic_scribbles

    before = set(REGISTRY.session())

    def command(path, index: int, truth: np.ndarray):
        viewer = make_napari_viewer()
        layer = viewer.open(str(path), plugin="napari-unetseg")[index]
        _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
        widget.image_combo.set_layer(layer)
        quick_new_model(widget, steps=2, patch=32)
        widget.teacher_check.setChecked(False)
        widget.new_scribble_layer().data = synthetic_scribbles(truth, seed=0)
        rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
        [saved] = (tmp_path / "saved").glob("*.tif")  # the scribbles, no copy of the image
        assert "scribbles" in saved.name
        return rep

    yield command
    for name in set(REGISTRY.session()) - before:
        REGISTRY.remove(name)


def _trained_by(rep) -> Any:
    """Runs a Fine-tune command; the model it wrote."""
    from napari_unetseg.core.bundle import ModelBundle

    assert cli.main(rep.argv[1:]) == 0
    return ModelBundle.load(rep.argv[rep.argv.index("--output") + 1])


def test_finetune_command_names_an_ome_zarr_store_and_its_channel(tmp_path, command_of):
    # a whole slide's store would be copied into a TIFF of its size for the command
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((64, 64), seed=0)
    store = tmp_path / "cells.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    data = np.stack([np.zeros_like(image), image]).astype(np.float32)
    write_image(data, group, axes="cyx", fmt=FormatV04(), scale_factors=())
    rep = command_of(store, 1, truth)
    argv = rep.argv
    assert argv[argv.index("--image") + 1] == str(store.resolve())
    assert argv[argv.index("--channel") + 1] == "1"
    assert "image = image.one_channel(1)" in rep.python
    trained = _trained_by(rep)
    assert trained.in_channels == 1 and trained.history["steps"] == 2


def test_finetune_command_names_another_series_of_a_tiff(tmp_path, command_of):
    # a multi-position OME-TIFF's second position: named with --series 1, not copied
    import tifffile

    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((64, 64), seed=0)
    src = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(src) as tif:
        tif.write(np.zeros((32, 32), np.float32), metadata={"axes": "YX"})
        tif.write(image.astype(np.float32), metadata={"axes": "YX"})
    rep = command_of(src, 1, truth)
    argv = rep.argv
    assert argv[argv.index("--image") + 1] == str(src.resolve())
    assert argv[argv.index("--series") + 1] == "1"
    assert f"api.read_image({str(src.resolve())!r}, series=1)" in rep.python
    assert _trained_by(rep).history["steps"] == 2


def test_validate_command_names_ome_zarr_labels(qtbot, make_napari_viewer, tmp_path, capsys):
    # labels read from an OME-Zarr store are named there (IMAGE.ome.zarr/labels/NAME),
    # not copied into TIFFs; a layer no longer what the store holds is saved
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image, write_labels

    truth = np.zeros((40, 48), np.uint8)
    truth[5:18, 6:20] = 1
    pred = truth.copy()
    pred[5:18, 6:9] = 0
    store = tmp_path / "cells.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(np.zeros(truth.shape, np.float32), group, axes="yx", fmt=FormatV04(),
                scale_factors=())  # fmt: skip
    for name, data in (("truth", truth), ("pred", pred)):
        write_labels(data, group, name=name, axes="yx", fmt=FormatV04(), scale_factors=())
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-unetseg")
    by_name = {layer.name: layer for layer in layers}
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    widget.pred_combo.set_layer(by_name["cells [pred]"])
    widget.gt_combo.set_layer(by_name["cells [truth]"])
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        assert widget.run() is not None
    rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
    argv = rep.argv
    assert argv[argv.index("--prediction") + 1] == str(store.resolve() / "labels" / "pred")
    assert argv[argv.index("--ground-truth") + 1] == str(store.resolve() / "labels" / "truth")
    assert not (tmp_path / "saved").exists()  # nothing copied
    assert cli.main([*argv[1:], "--json"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    assert from_cli["summary"] == widget.result.to_json_dict()["summary"]
    # labels changed in napari (painted since): no longer what the store holds, saved
    edited = viewer.add_labels(
        pred * 0, name="edited", metadata=dict(by_name["cells [pred]"].metadata)
    )
    widget.pred_combo.set_layer(edited)
    argv = widget.copy_command(folder=str(tmp_path / "saved")).reproduction.argv
    assert argv[argv.index("--prediction") + 1] == str(tmp_path / "saved" / "edited.tif")
    edited.data = pred.copy()  # the same values again: the store is named
    argv = widget.copy_command(folder=str(tmp_path / "other")).reproduction.argv
    assert argv[argv.index("--prediction") + 1] == str(store.resolve() / "labels" / "pred")


def test_files_of_a_command_are_named_as_save_names_them():
    """A model of the third round was written as 'nuclei-2d-finetuned _3_.pt' (rounds
    bash); Save suggests 'nuclei-2d-finetuned (3).pt'."""
    from napari_unetseg._qt.reproduce import _safe

    assert _safe("nuclei-2d-finetuned (3)") == "nuclei-2d-finetuned (3)"
    assert _safe("cells/nuclei: 2") == "cells_nuclei_ 2" and _safe(" . ") == "layer"


def test_commands_name_a_multi_channel_tiff_and_its_channel(
    tmp_path, command_of, make_napari_viewer, qtbot
):
    """A channel of a two-channel TIFF was copied into "twochan _C1_.tif" for the command,
    where an OME-Zarr store's channel was named (reproducibility bash)."""
    from napari_unetseg import _io, cli
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((64, 64), seed=0)
    src = tmp_path / "twochan.tif"
    _io.write_image(src, np.stack([np.zeros_like(image), image]), axes="CYX")
    rep = command_of(src, 1, truth)  # Fine-tune
    argv = rep.argv
    assert argv[argv.index("--image") + 1] == str(src.resolve())
    assert argv[argv.index("--channel") + 1] == "1"
    viewer = make_napari_viewer()  # Segment: the same labels from the file's channel
    layer = viewer.open(str(src), plugin="napari-unetseg")[1]
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(layer)
    widget.model_combo.set_model_name("nuclei-2d")
    with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
        widget.run()
    rep = widget.copy_command(folder=str(tmp_path / "seg")).reproduction
    assert rep.argv[2] == str(src.resolve()) and "--channel" in rep.argv
    out = tmp_path / "by_command.tif"
    argv = list(rep.argv[1:])
    argv[argv.index("--output") + 1] = str(out)
    assert cli.main(argv) == 0
    shown = np.asarray(viewer.layers[f"{layer.name} [unet]"].data)
    np.testing.assert_array_equal(np.asarray(_io.read_image(out).data), shown)


def test_validate_command_saves_a_time_series_with_its_time_axis(
    qtbot, make_napari_viewer, tmp_path, capsys
):
    """Layers labelled t, y, x were saved as Z stacks (ZYX) beside a command saying
    --time-axis 0: opened elsewhere, or scored without the flag, they were volumes
    (Validate bash)."""
    from napari_unetseg import _io

    viewer = make_napari_viewer()
    gt = np.zeros((4, 32, 32), np.uint8)
    gt[:, 4:14, 4:14] = 1
    pred = np.roll(gt, 2, axis=2)
    viewer.add_labels(gt, name="truth", axis_labels=("t", "y", "x"))
    viewer.add_labels(pred, name="pred", axis_labels=("t", "y", "x"))
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    rep = widget.copy_command(folder=str(tmp_path)).reproduction
    assert rep.argv[rep.argv.index("--time-axis") + 1] == "0"
    for name in ("pred", "truth"):
        assert _io.read_image(tmp_path / f"{name}.tif").axes == "TYX"
