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
    # what was compared, and by what (reproducibility bash: neither was said)
    from napari_unetseg import __version__

    assert (out["prediction"], out["ground_truth"]) == (p, g)
    assert out["software"] == f"napari-unetseg {__version__}"
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


def test_an_existing_csv_is_replaced_only_when_it_is_a_score_table(pair, tmp_path, capsys):
    """Any existing .csv was replaced without a word (train bug bash): a score table of
    this command is updated; another table is kept unless --overwrite is given."""
    p, g, *_ = pair
    notes = tmp_path / "notes.csv"
    notes.write_text("sample,comment\nA,keep me\n")
    argv = ["evaluate", "-p", p, "-g", g, "--csv", str(notes)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "'notes.csv' exists and is not a score table of unetseg evaluate" in err.replace(
        str(tmp_path) + "/", ""
    )
    assert notes.read_text() == "sample,comment\nA,keep me\n"
    assert cli.main([*argv, "--overwrite"]) == 0
    assert notes.read_text().startswith("class,dice,")
    assert cli.main(argv) == 0  # our own table: updated without --overwrite


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
    assert set(df["distance_unit"]) == {"px"}  # a pixel size without a unit
    # sparse: scribbles as ground truth, voxel scores only where painted
    scribbles = np.where(gt > 0, gt + 1, 0).astype(np.uint8)
    scribbles[0] = 1  # one painted background slice
    s = _io.write_labels(tmp_path / "scribbles_labels.tif", scribbles)
    assert cli.main(["evaluate", "-p", p, "-g", str(s), "--mode", "sparse", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = api.evaluate(pred, scribbles, mode="sparse")
    assert out["classes"]["2"]["dice"] == pytest.approx(ref.classes[2]["dice"])
    assert out["objects"] == {}
    # the table leaves out the object and boundary columns scribbles do not have (it
    # printed seven columns of n/a); the CSV keeps every column
    assert (
        cli.main(["evaluate", "-p", p, "-g", str(s), "--mode", "sparse", "--csv", str(csv)]) == 0
    )
    header = capsys.readouterr().out.splitlines()[0]
    assert "Precision" in header and "HD95" not in header and "Obj F1" not in header
    assert "hd95" in pd.read_csv(csv).columns


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


def test_classes_only_choose_the_rows(tmp_path, capsys):
    """`--classes 1` against instance ground truth: still read as instances (it scored
    the instance ids as classes: Dice 0.085 instead of 0.98); an instance id listed as a
    class is refused in one line."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    truth = synthetic_nuclei((128, 160), seed=1)[1]
    assert truth.max() > 5
    pred = np.roll(truth > 0, 1, axis=1).astype(np.uint8)
    p = str(_io.write_labels(tmp_path / "pred.tif", pred))
    g = str(_io.write_labels(tmp_path / "gt.tif", truth.astype(np.uint16)))
    outs = []
    for extra in ([], ["--classes", "1"], ["--classes", "0", "1"]):
        assert cli.main(["evaluate", "-p", p, "-g", g, "--json", *extra]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    for out in outs[1:]:
        assert out["classes"]["1"] == outs[0]["classes"]["1"]
        assert out["objects"]["1"] == outs[0]["objects"]["1"] and out["notes"] == outs[0]["notes"]
    assert outs[0]["classes"]["1"]["dice"] > 0.9 and list(outs[1]["classes"]) == ["1"]
    assert cli.main(["evaluate", "-p", p, "-g", g, "--classes", "1", "7"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("unetseg: error: The ground truth is read")
    assert "no class 7" in lines[0] and captured.out == ""


def _sized(tmp_path, name, labels, scale, unit):
    return str(_io.write_labels(tmp_path / name, labels, scale=scale, units=(unit,) * len(scale)))


def test_files_with_different_pixel_sizes_are_refused(pair, tmp_path, capsys):
    """Two files that disagree on the pixel size (0.5 µm vs 1 µm, mm vs µm): refused in
    one line naming both, with --spacing as the way out; the CSV is not written. The same
    size in other units (500 nm and 0.5 µm) is accepted."""
    _, _, pred, gt = pair
    csv = tmp_path / "scores.csv"
    csv.write_text("kept\n")
    cases = [
        (("pred_labels.tif", (2.0, 0.5, 0.5), "µm"), ("gt_labels.tif", (2.0, 1.0, 1.0), "µm"),
         "(2 x 0.5 x 0.5 µm)", "(2 x 1 x 1 µm)"),
        (("pred.nii.gz", (0.8, 0.8, 0.8), "mm"), ("gt_labels.tif", (0.8, 0.8, 0.8), "µm"),
         "(0.8 x 0.8 x 0.8 mm)", "(0.8 x 0.8 x 0.8 µm)"),
    ]  # fmt: skip
    for (p_name, p_scale, p_unit), (g_name, g_scale, g_unit), p_said, g_said in cases:
        a = _sized(tmp_path, p_name, pred, p_scale, p_unit)
        b = _sized(tmp_path, g_name, gt, g_scale, g_unit)
        for first, second in ((a, b), (b, a)):  # either way round
            args = ["evaluate", "-p", first, "-g", second, "--csv", str(csv), "--overwrite"]
            assert cli.main(args) == 1
            captured = capsys.readouterr()
            lines = [line for line in captured.err.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("unetseg: error:"), lines
            assert p_said in lines[0] and g_said in lines[0] and "--spacing" in lines[0]
            assert captured.out == "" and csv.read_text() == "kept\n"
    # --spacing chooses: no refusal, and those sizes are used
    p = _sized(tmp_path, "pred_labels.tif", pred, (2.0, 0.5, 0.5), "µm")
    g = _sized(tmp_path, "gt_labels.tif", gt, (2.0, 1.0, 1.0), "µm")
    assert cli.main(["evaluate", "-p", p, "-g", g, "--spacing", "2", "1", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = api.evaluate(pred, gt, spacing=(2.0, 1.0, 1.0))
    assert out["spacing"] == [2.0, 1.0, 1.0]
    assert out["classes"]["1"]["hd95"] == pytest.approx(ref.classes[1]["hd95"])
    # one size in two units, and a file without a pixel size: accepted
    p = _sized(tmp_path, "pred_labels.tif", pred, (2000.0, 500.0, 500.0), "nm")
    g = _sized(tmp_path, "gt_labels.tif", gt, (2.0, 0.5, 0.5), "µm")
    plain = str(_io.write_labels(tmp_path / "plain_labels.tif", pred))
    ref = api.evaluate(pred, gt, spacing=(2.0, 0.5, 0.5))
    for first, second in ((p, g), (plain, g)):
        assert cli.main(["evaluate", "-p", first, "-g", second, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["spacing"] == [2.0, 0.5, 0.5] and out["unit"] == "µm"
        assert out["classes"]["1"]["hd95"] == pytest.approx(ref.classes[1]["hd95"])


def test_a_scale_without_a_unit_measures_the_distances(tmp_path, capsys):
    """OME-Zarr's unit is optional: a store with scale (2, 0.5, 0.5) and no unit was
    measured in pixels (HD95 1.00 where the scale gives 2.00)."""
    import zarr
    from ome_zarr.writer import write_image

    gt = np.zeros((6, 16, 16), np.uint8)
    gt[2:4, 4:10, 4:10] = 1
    pred = np.roll(gt, 1, axis=0)  # one plane off: 2.0 along Z
    paths = []
    for name, data in (("pred", pred), ("gt", gt)):
        store = tmp_path / f"{name}.ome.zarr"
        write_image(data, zarr.open_group(str(store), mode="w", zarr_format=2), axes="zyx",
                    scale={"z": 2.0, "y": 0.5, "x": 0.5}, scale_factors=())  # fmt: skip
        paths.append(str(store))
    assert cli.main(["evaluate", "-p", paths[0], "-g", paths[1], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["classes"]["1"]["hd95"] == pytest.approx(2.0)


def test_a_time_series_file_is_scored_frame_by_frame(tmp_path, capsys):
    """Files whose axes say T (time) have their objects and distances measured in each
    time point (a nucleus in 4 frames is 4 objects; the time step of 30 s is no
    distance); --time-axis none measures across time, a bad value is one line."""
    gt = np.zeros((4, 24, 24), np.uint8)
    for t in range(4):
        gt[t, 4:12, 2 + 3 * t : 10 + 3 * t] = 1
    pred = np.roll(gt, 1, axis=1)
    meta = {"scale": (30.0, 0.5, 0.5), "axes": "TYX", "units": ("s", "µm", "µm")}
    p = str(_io.write_labels(tmp_path / "pred_labels.tif", pred, **meta))
    g = str(_io.write_labels(tmp_path / "gt_labels.tif", gt, **meta))
    assert cli.main(["evaluate", "-p", p, "-g", g, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = api.evaluate(pred, gt, spacing=(30.0, 0.5, 0.5), time_axis=0)
    assert out["time_axis"] == 0 and out["objects"]["1"]["n_gt"] == 4
    assert out["classes"]["1"]["hd95"] == pytest.approx(ref.classes[1]["hd95"]) == 0.5
    # The 30 s step is no length in µm (it was listed among the spacing in µm).
    assert out["spacing"] == [None, 0.5, 0.5] and out["unit"] == "µm"
    frames = api.evaluate(pred, gt, spacing=(30.0, 1.0, 1.0), time_axis=0)
    assert "HD95 1.00 px" in frames.summary_line()  # pixels, whatever the time step
    assert cli.main(["evaluate", "-p", p, "-g", g, "--json", "--time-axis", "none"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["time_axis"] is None and out["objects"]["1"]["n_gt"] == 1
    # across time, the 30 s step is still no length: pixels, said (it read 30 "µm")
    assert out["unit"] is None and out["classes"]["1"]["hd95"] == pytest.approx(1.0)
    assert "time step, not a length, so distances are in pixels" in captured.err
    assert cli.main(["evaluate", "-p", p, "-g", g, "--time-axis", "t"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--time-axis takes auto, none or an axis number" in err[0]


def test_slices_csv_writes_the_scores_of_each_time_point(tmp_path, capsys):
    """`--csv` of a time series held only the pooled rows (time-lapse bash):
    `--slices-csv` writes one row per time point and class; planes write none, said."""
    gt = np.zeros((4, 24, 24), np.uint8)
    gt[:, 4:12, 4:12] = 1
    pred = gt.copy()
    pred[3] = 0
    meta = {"scale": (30.0, 0.5, 0.5), "axes": "TYX", "units": ("s", "µm", "µm")}
    p = str(_io.write_labels(tmp_path / "pred_labels.tif", pred, **meta))
    g = str(_io.write_labels(tmp_path / "gt_labels.tif", gt, **meta))
    table = tmp_path / "frames.csv"
    assert cli.main(["evaluate", "-p", p, "-g", g, "--slices-csv", str(table)]) == 0
    assert f"wrote {table}" in capsys.readouterr().out
    lines = table.read_text().splitlines()
    assert lines[0] == "time_point,class,dice,iou,sensitivity,precision,tp,fp,fn"
    assert lines[1].startswith("0,1,1.0,") and lines[4].startswith("3,1,0.0,")
    # run again: its own table is replaced; the main table's name for it is refused
    assert cli.main(["evaluate", "-p", p, "-g", g, "--slices-csv", str(table)]) == 0
    same = ["--csv", str(table), "--slices-csv", str(table)]
    assert cli.main(["evaluate", "-p", p, "-g", g, *same]) == 1
    assert "name the same file" in capsys.readouterr().err
    plane_p = str(_io.write_labels(tmp_path / "p2.tif", pred[0]))
    plane_g = str(_io.write_labels(tmp_path / "g2.tif", gt[0]))
    flat = tmp_path / "flat.csv"
    assert cli.main(["evaluate", "-p", plane_p, "-g", plane_g, "--slices-csv", str(flat)]) == 0
    assert "--slices-csv not written: the labels are planes" in capsys.readouterr().err
    assert not flat.exists()
    empty = [
        str(_io.write_labels(tmp_path / f"{n}.tif", np.zeros((3, 8, 8), np.uint8))) for n in "pg"
    ]
    assert cli.main(["evaluate", "-p", empty[0], "-g", empty[1], "--slices-csv", str(flat)]) == 0
    assert "not written: neither layer has an object class to score" in capsys.readouterr().err


def test_axes_in_different_units_are_measured_in_one(tmp_path, capsys):
    """Z in micrometres beside Y and X in nanometres (the same 2 x 0.5 x 0.5 µm voxels):
    the spacing was 2, 500, 500 with no unit and HD95 1000 (bug bash)."""
    import zarr

    gt = np.zeros((6, 16, 16), np.uint8)
    gt[2:4, 4:10, 4:10] = 1
    pred = np.roll(gt, 1, axis=0)  # one plane off: 2 µm
    paths = []
    for name, data, units, yx in (("pred", pred, ("micrometer",) * 3, 0.5),
                                  ("gt", gt, ("micrometer", "nanometer", "nanometer"), 500.0)):  # fmt: skip
        root = zarr.open_group(str(tmp_path / f"{name}.ome.zarr"), mode="w", zarr_format=2)
        root.create_array("0", data=data)
        root.attrs["multiscales"] = [{
            "version": "0.4",
            "axes": [{"name": a, "type": "space", "unit": u} for a, u in zip("zyx", units)],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [2.0, yx, yx]}]}],
        }]  # fmt: skip
        paths.append(str(tmp_path / f"{name}.ome.zarr"))
    read = _io.read_image(paths[1])  # the reader gives one unit (prediction's sizes too)
    assert read.scale == (2.0, 0.5, 0.5) and read.units == ("µm",) * 3
    assert cli.main(["evaluate", "-p", paths[0], "-g", paths[1], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["spacing"] == [2.0, 0.5, 0.5] and result["unit"] == "µm"
    assert result["classes"]["1"]["hd95"] == pytest.approx(2.0)


def test_a_z_without_size_beside_sizes_in_um_is_measured_in_pixels(tmp_path, capsys):
    """An OME-TIFF with PhysicalSizeX / Y and no PhysicalSizeZ: its Z of 1 "pixel" was
    taken for 1 µm among the distances (bug bash); without a Z step they are pixels."""
    import tifffile

    gt = np.zeros((6, 16, 16), np.uint8)
    gt[2:4, 4:10, 4:10] = 1
    pred = np.roll(gt, 1, axis=0)  # one plane off
    paths = []
    for name, data in (("pred", pred), ("gt", gt)):
        paths.append(str(tmp_path / f"{name}_labels.ome.tif"))
        meta = {"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
        tifffile.imwrite(paths[-1], data, ome=True, metadata=meta)
    assert cli.main(["evaluate", "-p", paths[0], "-g", paths[1], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unit"] is None and result["spacing"] == [1.0, 1.0, 1.0]
    assert result["classes"]["1"]["hd95"] == pytest.approx(1.0)  # one plane: 1 px


def test_a_mask_saved_as_jpeg_is_said_to_be_lossy(tmp_path, capsys):
    """A 0 / 255 mask saved as JPEG scored Dice 0.34 with 42 "objects" of edge noise and no
    word on why (bug bash): the file is named as lossy."""
    import imageio.v3 as iio

    truth = np.zeros((40, 48), np.uint8)
    truth[4:14, 4:14] = 255
    iio.imwrite(tmp_path / "mask.jpg", truth)
    pred = _io.write_labels(tmp_path / "pred.tif", (truth > 0).astype(np.uint8))
    assert cli.main(["evaluate", "-p", str(pred), "-g", str(tmp_path / "mask.jpg")]) == 0
    assert "JPEG keeps values only roughly" in capsys.readouterr().err


def test_rows_name_the_classes_a_models_labels_record(tmp_path, capsys):
    """Rows read 1, 2, 3 where Validate named them (NIfTI and classes bug bashes)."""
    image = tmp_path / "cells.tif"
    assert cli.main(["sample", str(image), "--shape", "64", "64"]) == 0
    pred = tmp_path / "cells_labels.tif"
    argv = ["predict", str(image), "--model", "nuclei-2d", "-o", str(pred), "--no-split-touching"]
    assert cli.main(argv) == 0  # class labels (the model's default splits: object ids)
    truth = str(tmp_path / "cells_ground_truth.tif")
    capsys.readouterr()
    csv = tmp_path / "m.csv"
    assert cli.main(["evaluate", "-p", str(pred), "-g", truth, "--csv", str(csv)]) == 0
    assert "1 (nucleus)" in capsys.readouterr().out
    assert "1 (nucleus)," in csv.read_text()


def test_a_movie_keeps_its_pixel_size(tmp_path, capsys):
    """A (T, Y, X) OME-TIFF of 0.5 µm pixels was scored in pixels: its time axis without
    a step reads 1 "pixel", and a pixel axis beside µm made the sizes unknown; the
    Validate widget measured in µm (movies bash)."""
    gt = np.zeros((3, 32, 32), np.uint8)
    gt[:, 8:20, 8:20] = 1
    pred = np.roll(gt, 2, axis=2)
    meta = {"scale": (1.0, 0.5, 0.5), "axes": "TYX"}
    p = _io.write_labels(tmp_path / "pred.tif", pred, **meta)
    g = _io.write_labels(tmp_path / "gt.tif", gt, **meta)
    assert _io.read_image(g).units[0] == "pixel"  # the case: a time axis without a step
    assert cli.main(["evaluate", "-p", str(p), "-g", str(g), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["unit"] == "µm" and record["spacing"] == [None, 0.5, 0.5]
    from napari_unetseg._units import known_spacing

    units = ("pixel", "µm", "µm")
    assert known_spacing((1.0, 0.5, 0.5), units) is None  # a Z without a size: unknown
    assert known_spacing((1.0, 0.5, 0.5), units, "TYX") == (1.0, 0.5, 0.5)


def test_json_names_the_classes_its_table_names(tmp_path, capsys):
    """--json said "class_names": null where the table named the classes from the files'
    records (review)."""
    image = tmp_path / "cells.tif"
    assert cli.main(["sample", str(image), "--shape", "64", "64"]) == 0
    out = tmp_path / "cells_labels.tif"
    argv = ["predict", str(image), "-o", str(out), "--device", "cpu", "--no-split-touching"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", "-p", str(out), "-g", str(out), "--json", "--no-objects"]) == 0
    assert json.loads(capsys.readouterr().out)["class_names"] == {"1": "nucleus"}


def test_label_ids_past_1024_say_how_to_score_them_as_classes(tmp_path, capsys) -> None:
    """FreeSurfer-like ids (2, 41, 1024, 2035, 3000): ``--instances none`` said "list the
    classes to score", ``--classes 41 1024`` said "say the labels are classes
    (--instances none)", each naming the other, which failed alone; both together work
    (medical bash)."""
    truth = np.zeros((40, 64), np.int16)
    for i, v in enumerate([2, 41, 1024, 2035, 3000]):
        truth[i * 8 : (i + 1) * 8, 5:60] = v
    pred, gt = tmp_path / "p.tif", tmp_path / "g.tif"
    _io.write_image(pred, truth)
    _io.write_image(gt, truth)
    base = ["evaluate", "-p", str(pred), "-g", str(gt)]
    assert cli.main([*base, "--instances", "none"]) == 1
    assert "--instances none --classes ID ..." in capsys.readouterr().err
    assert cli.main([*base, "--classes", "41", "1024"]) == 1
    assert "--instances none, beside the classes listed" in capsys.readouterr().err
    assert cli.main([*base, "--instances", "none", "--classes", "41", "1024"]) == 0
    assert "Dice 1.000" in capsys.readouterr().out


def test_json_notes_are_said_on_stderr_too(tmp_path, capsys):
    """An intensity image given as the prediction was said inside the JSON only: a
    batch's log (stderr) showed nothing (CLI bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((96, 96), seed=0)
    p = _io.write_image(tmp_path / "a.tif", image)
    g = _io.write_labels(tmp_path / "a_ground_truth.tif", truth)
    assert cli.main(["evaluate", "-p", str(p), "-g", str(g), "--json"]) == 0
    out, err = capsys.readouterr()
    [note] = [n for n in json.loads(out)["notes"] if "intensity image" in n]
    assert f"unetseg: note: {note}" in err
