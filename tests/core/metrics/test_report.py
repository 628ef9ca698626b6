"""The result as JSON, a data frame, a table and a summary sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_unetseg.core import metrics as M


def test_result_serialization(rng):
    gt = np.zeros((2, 16, 16), np.uint8)
    gt[:, 4:10, 4:10] = 1
    pred = np.roll(gt, 2, axis=2)
    r = M.evaluate(pred, gt, spacing=(4.0, 0.5, 0.5), unit="µm", classes=[0, 1, 2])
    d = r.to_json_dict()
    text = json.dumps(d, allow_nan=False)  # NaN (class 2 is empty) became null
    assert json.loads(text)["classes"]["2"]["dice"] is None
    assert set(d["classes"]["1"]) >= {
        "dice",
        "iou",
        "sensitivity",
        "specificity",
        "precision",
        "hd95",
        "assd",
        "cldice",
    }
    assert d["objects"]["1"]["tp"] == 1 and d["spacing"] == [4.0, 0.5, 0.5]
    df = r.to_dataframe()
    assert list(df.columns) == list(M.COLUMNS)
    assert df.loc[df["class"] == "1", "dice"].item() == pytest.approx(r.classes[1]["dice"])
    assert len(df) == 3 + 3  # classes + summary rows
    table = r.table()
    assert (
        "HD95 (µm)" in table
        and "Sensitivity" in table
        and "mean (foreground)" in table
        and r.summary_line() in table
    )


def test_a_missed_class_is_inf_in_json_and_small_distances_keep_their_digits():
    """A class the prediction misses is infinitely far, not unknown: "inf" in JSON (it
    was null, as "not computed" is); a boundary off by 4 nm given in µm reads 0.004,
    not "0.00" as a perfect one does (bug bash)."""
    gt = np.zeros((16, 16), np.uint8)
    gt[2:8, 2:8], gt[10:14, 10:14] = 1, 2
    pred = np.where(gt == 2, 0, gt)  # class 2 missed
    d = json.loads(
        json.dumps(M.evaluate(pred, gt, instances="none").to_json_dict(), allow_nan=False)
    )
    assert d["classes"]["2"]["hd95"] == "inf" and d["classes"]["0"]["hd95"] is None
    shifted = M.evaluate(np.roll(gt, 1, axis=1), gt, spacing=(0.004, 0.004), unit="µm")
    assert shifted.classes[1]["hd95"] == pytest.approx(0.004)
    assert "HD95 0.004 µm" in shifted.summary_line()
    assert "0.004" in shifted.table()
    assert M.report.format_distance(0.0) == "0.00" and M.report.format_distance(12.345) == "12.35"


def test_distances_with_a_spacing_without_unit_say_scale_units(tmp_path):
    """A spacing of (2, 1, 1) without its unit: the table's heading gave HD95 no unit,
    and the CSV said "px" for distances measured in steps of 2 along Z."""
    gt = np.zeros((6, 16, 16), np.uint8)
    gt[1:5, 4:10, 4:10] = 1
    pred = np.roll(gt, 1, axis=0)
    result = M.evaluate(pred, gt, spacing=(2.0, 1.0, 1.0))
    assert result.classes[1]["hd95"] == pytest.approx(2.0)  # one plane = 2
    assert "HD95 (scale units)" in result.table()
    assert "HD95 2.00 scale units" in result.summary_line()
    result.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines()[1].endswith(",scale units")
    pixels = M.evaluate(pred, gt)
    assert "HD95 (px)" in pixels.table() and M.report.distance_unit(pixels) == "px"


def test_the_summary_counts_only_the_classes_it_averages():
    """``--classes 1 5`` with no class 5 anywhere said "mean of 2 classes" of class 1
    alone (classes bash)."""
    pred = np.zeros((20, 20), np.uint8)
    gt = np.zeros((20, 20), np.uint8)
    pred[2:8, 2:8] = gt[2:8, 2:8] = 1
    pred[10:15, 10:15] = gt[10:16, 10:16] = 2
    line = M.evaluate(pred, gt, classes=[1, 5], objects=False).summary_line()
    assert "mean of" not in line and "class 5 is in neither the prediction nor the" in line
    line = M.evaluate(pred, gt, classes=[1, 2, 5, 7], objects=False).summary_line()
    assert "(mean of 2 classes; classes 5, 7 are in neither the prediction" in line


def test_the_summary_says_why_a_run_without_object_classes_has_no_dice():
    """Classes "0" in Validate said "Dice n/a, IoU n/a." and nothing more; so did two
    empty label images (Validate bash, left alone in session 48)."""
    empty = np.zeros((20, 20), np.uint8)
    gt = empty.copy()
    gt[2:8, 2:8] = 1
    line = M.evaluate(empty, gt, classes=[0]).summary_line()
    assert line == (
        "Dice n/a, IoU n/a (only class 0, the background, was scored: its own Dice is 0.953)."
    )
    for classes in (None, [0]):
        line = M.evaluate(empty, empty, classes=classes).summary_line()
        assert line.endswith("(neither the prediction nor the ground truth holds an object).")
    assert "n/a" not in M.evaluate(gt, gt).summary_line()
    # nothing scored at all (empty scribbles): no "its own Dice is n/a" (review)
    assert M.evaluate(empty, empty, mode="sparse").summary_line() == "Dice n/a, IoU n/a."


def test_class_names_given_to_evaluate_name_the_rows(tmp_path):
    """``api.evaluate`` took no class names: its tables said 1, 2, 3 where the command
    line and Validate say "1 (nucleus)" (classes bash)."""
    from napari_unetseg import api

    labels = np.zeros((12, 12), np.uint8)
    labels[2:5, 2:5], labels[7:10, 7:10] = 1, 2
    names = ["background", "nucleus", "cytoplasm"]
    result = api.evaluate(labels, labels, class_names=names, objects=False)
    assert [row["class"] for row in result.rows()[:3]] == ["0 (background)", "1 (nucleus)",
                                                            "2 (cytoplasm)"]  # fmt: skip
    assert "2 (cytoplasm)" in result.table() and result.to_dict()["class_names"]["1"] == "nucleus"
    result.to_csv(tmp_path / "scores.csv")
    assert "1 (nucleus)" in (tmp_path / "scores.csv").read_text()
    assert result.rows({2: "cells"})[2]["class"] == "2 (cells)"  # a table's own names win
    by_id = api.evaluate(labels, labels, class_names={2: "cells"}, objects=False)
    assert [row["class"] for row in by_id.rows()[1:3]] == ["1", "2 (cells)"]
    with pytest.raises(ValueError, match="^class_names are names"):
        api.evaluate(labels, labels, class_names=[1, 2])
    with pytest.raises(ValueError, match="^class_names takes names by class id, not one"):
        api.evaluate(labels, labels, class_names="nucleus")  # it named the background
