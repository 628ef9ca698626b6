"""The Validate widget's choices and columns, without Qt: class lists, table columns."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg import api
from napari_unetseg._qt.validate_job import FIRST_COLUMNS, columns, parse_classes
from napari_unetseg.core.metrics.columns import heading


def test_parse_classes():
    assert parse_classes("") is None and parse_classes("All") is None
    assert parse_classes("1, 3-5") == [1, 3, 4, 5]
    with pytest.raises(ValueError, match="not understood"):
        parse_classes("one")
    assert parse_classes("1 - 3, 5") == [1, 2, 3, 5]  # spaces around the dash (bug bash)
    assert len(parse_classes("0-1023")) == 1024
    with pytest.raises(ValueError, match="more than 1024"):  # a row each: the GUI froze
        parse_classes("1-1000000")


def test_columns_put_the_telling_scores_first_and_drop_what_was_not_computed():
    gt = np.zeros((20, 20), np.uint8)
    gt[4:12, 4:12] = 1
    full = api.evaluate(gt, gt)
    assert tuple(columns(full)[: len(FIRST_COLUMNS)]) == FIRST_COLUMNS
    voxels_only = api.evaluate(gt, gt, objects=False)
    kept = columns(voxels_only)
    assert "dice" in kept and "hd95" not in kept and not any(k.startswith("obj_") for k in kept)
    assert heading("hd95", "µm") == "HD95 (µm)" and heading("dice", "µm") == "Dice"
