"""evaluate_iter follows the generator protocol: progress records, then the result."""

from __future__ import annotations

import numpy as np

from napari_unetseg.api import drain
from napari_unetseg.core import metrics as M


def test_evaluate_iter_reports_progress():
    gt = np.zeros((4, 8, 8), np.uint8)
    gt[:, 2:5, 2:5] = 1
    records = []
    result = drain(M.evaluate_iter(gt, gt), records.append)
    assert records[-1].done == records[-1].total
    assert {r.stage for r in records} >= {"counting voxels"}
    assert result.classes[1]["dice"] == 1.0
