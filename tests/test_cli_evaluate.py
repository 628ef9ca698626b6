"""`unetseg evaluate` end to end (in-process): JSON equals the API, CSV, one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from napari_unetseg import _io, api, cli


@pytest.fixture
def pair(tmp_path):
    """A 3D two-class prediction and ground truth written with an anisotropic pixel size."""
    rng = np.random.default_rng(3)
    gt = np.zeros((6, 32, 40), np.uint8)
    gt[1:5, 4:14, 4:14] = 1
    gt[1:5, 18:28, 20:34] = 2
    pred = np.roll(gt, 1, axis=2)
    pred[rng.random(gt.shape) < 0.01] = 1
    meta = {"scale": (2.0, 0.5, 0.5), "axes": "ZYX", "units": ("µm", "µm", "µm")}
    p = _io.write_labels(tmp_path / "pred_labels.tif", pred, **meta)
    g = _io.write_labels(tmp_path / "gt_labels.tif", gt, **meta)
    return str(p), str(g), pred, gt


def test_json_matches_api(pair, capsys):
    p, g, pred, gt = pair
    assert cli.main(["evaluate", "--prediction", p, "--ground-truth", g, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # stdout is one JSON object, nothing else
    ref = api.evaluate(pred, gt, spacing=(2.0, 0.5, 0.5)).to_json_dict()
    assert out["spacing"] == [2.0, 0.5, 0.5] and out["unit"] == "µm"  # from the files
    for cid in ("1", "2"):
        got = out["classes"][cid]
        for key in ("dice", "iou", "sensitivity", "specificity", "precision", "hd95"):
            assert got[key] == pytest.approx(ref["classes"][cid][key]), (cid, key)
        assert out["objects"][cid] == ref["objects"][cid]
    assert out["classes"]["0"]["hd95"] is None  # NaN (no distance for background) -> null
    assert len(out["per_slice_dice"]["1"]) == 6


def test_masks_saved_as_rgb_pictures_are_read_as_labels(tmp_path, capsys):
    """A white-on-black RGB mask and a coloured instance mask (PNG exports) against the
    same labels as a TIFF: the same scores as the label images themselves."""
    import imageio.v3 as iio

    truth = np.zeros((40, 48), np.uint8)
    truth[4:14, 4:14], truth[20:34, 24:40] = 1, 2
    pred = _io.write_labels(tmp_path / "pred.tif", (truth > 0).astype(np.uint8))
    colours = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75]], np.uint8)
    iio.imwrite(tmp_path / "instances.png", colours[truth])
    iio.imwrite(tmp_path / "mask.png", np.stack([(truth > 0) * 255] * 3, -1).astype(np.uint8))
    expected = api.evaluate(truth > 0, truth).to_json_dict()
    for name, said in (("instances", "2 colours other than black are 2 labels"),
                       ("mask", "grey values (R = G = B) are the labels")):  # fmt: skip
        args = ["evaluate", "-p", str(pred), "-g", str(tmp_path / f"{name}.png"), "--json"]
        assert cli.main(args) == 0
        captured = capsys.readouterr()
        assert said in captured.err
        out = json.loads(captured.out)
        assert out["classes"]["1"]["dice"] == pytest.approx(expected["classes"]["1"]["dice"])
        assert out["objects"]["1"]["n_gt"] == 2  # two objects, each its own label


def test_table_csv_spacing_and_sparse(pair, tmp_path, capsys):
    p, g, pred, gt = pair
    csv = tmp_path / "scores.csv"
    args = ["evaluate", "-p", p, "-g", g, "--spacing", "1", "1", "1", "--csv", str(csv)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Dice" in out and "mean (foreground)" in out and f"wrote {csv}" in out
    df = pd.read_csv(csv)
    ref = api.evaluate(pred, gt, spacing=(1, 1, 1))
    assert list(df["class"][:3]) == ["0 (background)", "1", "2"]
    assert df["hd95"][2] == pytest.approx(ref.classes[2]["hd95"])
    assert math.isnan(df["hd95"][0])
    # sparse: scribbles as ground truth, voxel scores only where painted
    scribbles = np.where(gt > 0, gt + 1, 0).astype(np.uint8)
    scribbles[0] = 1  # one painted background slice
    s = _io.write_labels(tmp_path / "scribbles_labels.tif", scribbles)
    assert cli.main(["evaluate", "-p", p, "-g", str(s), "--mode", "sparse", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = api.evaluate(pred, scribbles, mode="sparse")
    assert out["classes"]["2"]["dice"] == pytest.approx(ref.classes[2]["dice"])
    assert out["objects"] == {}


@pytest.mark.parametrize(
    "extra, match",
    [
        (["SHAPE"], "different shapes"),
        (["--spacing", "1", "1"], "one value per axis"),
        (["MISSING"], "does not exist"),
    ],
)
def test_errors_are_one_line_exit_1(pair, tmp_path, extra, match, capsys):
    p, g, _, _ = pair
    other = str(_io.write_labels(tmp_path / "flat_labels.tif", np.zeros((32, 40), np.uint8)))
    gt = {"SHAPE": other, "MISSING": str(tmp_path / "nope.tif")}.get(extra[0], g)
    args = ["evaluate", "-p", p, "-g", gt] + [a for a in extra if a not in ("SHAPE", "MISSING")]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("unetseg: error:") and match in lines[0]
    assert captured.out == ""


def test_an_ome_zarr_prediction_is_read(pair, tmp_path, capsys):
    """OME-Zarr stores are folders: evaluate takes them as the help says."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    p, g, pred, gt = pair
    store = tmp_path / "pred.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(pred, group, axes="zyx", fmt=FormatV04(), scale_factors=())
    assert cli.main(["evaluate", "-p", str(store), "-g", g, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = api.evaluate(pred, gt).to_json_dict()
    assert out["classes"]["1"]["dice"] == pytest.approx(ref["classes"]["1"]["dice"])
