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
    # integral floats (labels saved as float32 TIFF) are fine
    r = M.evaluate(np.ones((4, 4), np.float32), np.ones((4, 4), np.uint8))
    assert r.classes[1]["dice"] == 1.0


# -- objects ------------------------------------------------------------------------------------
