"""Label arrays: integer labels only, one shape, one sentence per refusal."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg.core import metrics as M


def test_float_and_negative_labels_and_shapes():
    with pytest.raises(ValueError, match="fractional"):
        M.evaluate(np.full((4, 4), 0.5), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="negative"):
        M.evaluate(np.full((4, 4), -1), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\).*must match") as err:
        M.evaluate(np.zeros((4, 4), int), np.zeros((4, 5), int))
    assert str(err.value).count(".") == 1  # one sentence
    with pytest.raises(ValueError, match="mode"):
        M.evaluate(np.zeros((4, 4), int), np.zeros((4, 4), int), mode="scribble")
    # NaN, huge floats and uint64 ids past int64 were called fractional or negative
    nan = np.zeros((4, 4))
    nan[0, 0] = np.nan
    for bad, match in (
        (nan, "holds NaN or infinite values"),
        (np.full((4, 4), 1e20), "There is a value of 1e\\+20 in the prediction; label ids"),
        (np.full((4, 4), 2**63 + 5, np.uint64), "a label id of 2\\*\\*63 or more"),
    ):
        with pytest.raises(ValueError, match=match):
            M.evaluate(bad, np.zeros((4, 4), int))
    # integral floats (labels saved as float32 TIFF) are fine
    r = M.evaluate(np.ones((4, 4), np.float32), np.ones((4, 4), np.uint8))
    assert r.classes[1]["dice"] == 1.0


# -- objects ------------------------------------------------------------------------------------
