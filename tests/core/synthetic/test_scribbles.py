"""Synthetic scribbles: strokes inside objects and in the background, nothing else."""

from __future__ import annotations

import numpy as np

from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles


def test_strokes_follow_the_labels_and_the_seed():
    _, labels = synthetic_nuclei((96, 96), seed=2)
    scribbles = synthetic_scribbles(labels, n_objects=4, n_background=5, seed=1)
    assert scribbles.dtype == np.uint8 and scribbles.shape == labels.shape
    assert set(np.unique(scribbles)) == {0, 1, 2}
    assert (labels[scribbles == 2] > 0).all()  # object strokes stay inside objects
    assert (labels[scribbles == 1] == 0).all()  # background strokes in the background
    painted_objects = np.unique(labels[scribbles == 2])
    assert 1 <= len(painted_objects) <= 4
    assert (scribbles > 0).mean() < 0.2  # sparse, like painting
    np.testing.assert_array_equal(
        synthetic_scribbles(labels, n_objects=4, n_background=5, seed=1), scribbles
    )
