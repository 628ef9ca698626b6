"""Band accumulation: labels from the class-by-class argmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.core.inference.blending import argmax_classes


@pytest.mark.parametrize("k", [2, 3, 5])
def testargmax_classes_matches_torch_argmax_with_ties(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    # few distinct values, so that ties between classes are common
    scores = torch.randint(0, 3, (k, 7, 9, 5), generator=g).float()
    labels = argmax_classes(scores)
    assert labels.shape == scores.shape[1:]
    np.testing.assert_array_equal(labels.numpy().astype(np.int64), scores.argmax(0).numpy())
