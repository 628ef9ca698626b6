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
