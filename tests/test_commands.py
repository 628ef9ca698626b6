"""napari_unetseg.commands: the command line and Python code run, and agree with each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_unetseg import _io, api, cli, commands
from napari_unetseg.batch import SegmentSettings
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles
from napari_unetseg.provenance import weights_sha256


@pytest.fixture
def nuclei(tmp_path):
    image, truth = synthetic_nuclei((64, 64), seed=2)
    img = _io.write_image(tmp_path / "in put.tif", image, scale=(0.5, 0.5), axes="YX")
    gt = _io.write_labels(tmp_path / "truth.tif", truth, scale=(0.5, 0.5), axes="YX")
    return img, gt, truth


def _run(rep: commands.Reproduction, capsys) -> tuple[int, str]:
    assert rep.argv[0] == "unetseg"
    assert cli.build_parser().parse_args(rep.argv[1:])  # the flags exist
    rc = cli.main(rep.argv[1:])
    return rc, capsys.readouterr().out


def test_predict_command_and_python_give_the_widget_engine_labels(
    tmp_path, nuclei, capsys
) -> None:
    img, _, _ = nuclei
    torch.manual_seed(0)
    model = str(
        ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).save(tmp_path / "m.pt")
    )
    settings = SegmentSettings(
        model=model,
        object_size=12.0,
        fill_holes=True,
        split_touching=True,
        tile_size=32,
        overlap=0.3,
        device="cpu",
        precision="fp32",
        invert=True,
    )
    rep = commands.predict_command([img], tmp_path / "cli.tif", settings)
    assert "'" in rep.shell() and "--invert" in rep.argv  # the file name's space is quoted
    assert _run(rep, capsys)[0] == 0
    exec(compile(rep.python.replace("cli.tif", "py.tif"), "<python>", "exec"), {})
    image = _io.read_image(img)
    expected = api.segment(
        image.data, model, split_touching=True, scale=image.scale, **settings.predict_options()
    )
    for name in ("cli.tif", "py.tif"):
        np.testing.assert_array_equal(_io.read_image(tmp_path / name).data, expected)


def test_train_command_and_python_train_the_same_model(tmp_path, nuclei, capsys) -> None:
    img, _, truth = nuclei
    labels = _io.write_labels(tmp_path / "scribbles.tif", synthetic_scribbles(truth, seed=0))
    rep = commands.train_command(
        img,
        labels,
        tmp_path / "cli.pt",
        steps=3,
        patch_size=32,
        batch_size=2,
        device="cpu",
        seed=5,
        spatial_dims=2,
        model_config={"depth": 2, "base_channels": 4},
        class_names=["background", "cell nucleus"],
        invert=True,
    )
    assert rep.notes == []  # a step budget reproduces
    assert "--invert" in rep.argv
    assert "--class-names background 'cell nucleus'" in rep.shell()
    assert _run(rep, capsys)[0] == 0
    exec(compile(rep.python.replace("cli.pt", "py.pt"), "<python>", "exec"), {})
    a, b = ModelBundle.load(tmp_path / "cli.pt"), ModelBundle.load(tmp_path / "py.pt")
    assert a.config["depth"] == 2 and a.config["base_channels"] == 4
    assert a.class_names == b.class_names == ["background", "cell nucleus"]
    assert weights_sha256(a) == weights_sha256(b)
    assert a.invert is b.invert is True
    timed = commands.train_command(img, labels, tmp_path / "t.pt", time_limit=30.0)
    assert "--time-limit" in timed.argv and "number of steps" in timed.notes[0]


def test_evaluate_command_and_python_give_the_same_metrics(tmp_path, nuclei, capsys) -> None:
    _, gt, truth = nuclei
    pred = _io.write_labels(tmp_path / "pred.tif", np.roll(truth > 0, 2, axis=1).astype(np.uint8))
    rep = commands.evaluate_command(
        pred, gt, spacing=(0.5, 0.5), classes=[1], iou_threshold=0.4, instances="ground_truth"
    )
    rep.argv.append("--json")
    rc, out = _run(rep, capsys)
    assert rc == 0
    scope: dict = {}
    exec(compile(rep.python.replace("print(result.table())", ""), "<python>", "exec"), scope)
    cli_dice = json.loads(out)["classes"]
    py = scope["result"].to_json_dict()["classes"]
    assert cli_dice == py and len(py) >= 1


def test_commands_name_the_image_series_they_read():
    from napari_unetseg.commands import predict_command, train_command

    settings = SegmentSettings(model="nuclei-2d", series=2)
    rep = predict_command(["positions.ome.tif"], "out.tif", settings)
    assert rep.argv[rep.argv.index("--series") + 1] == "2" and "series=2" in rep.python
    plain = predict_command(["a.tif"], "out.tif", SegmentSettings(model="nuclei-2d"))
    assert "--series" not in plain.argv
    rep = train_command("positions.ome.tif", "lab.tif", "m.pt", series=1)
    assert rep.argv[rep.argv.index("--series") + 1] == "1"
    assert "api.read_image('positions.ome.tif', series=1)" in rep.python
    assert "--series" not in train_command("a.tif", "lab.tif", "m.pt").argv
