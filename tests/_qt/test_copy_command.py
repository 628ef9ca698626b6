""""Copy as command" of the Validate and Fine-tune widgets: the command repeats the run."""

from __future__ import annotations

import json

import numpy as np

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
    viewer.add_labels(gt, name="truth", scale=(2.0, 0.5, 0.5))
    viewer.add_labels(pred, name="pred", scale=(2.0, 0.5, 0.5))
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
    for key in ("classes", "summary", "objects", "per_slice_dice"):
        assert from_cli[key] == from_widget[key], key
