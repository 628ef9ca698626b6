"""Shared fixtures of the metrics tests: a seeded generator, small chunks, sklearn scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from napari_unetseg.core.metrics import labels


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def small_chunks(monkeypatch):
    """Force many chunks so the streaming path is what gets tested."""
    monkeypatch.setattr(labels, "CHUNK_VOXELS", 97)


@pytest.fixture
def sklearn_scores():
    """Per-class scores of scikit-learn (the independent reference)."""
    return _sklearn_scores


def _sklearn_scores(pred, gt, labels):
    y_p, y_t = pred.ravel(), gt.ravel()
    kw = {"labels": labels, "average": None, "zero_division": np.nan}
    cm = confusion_matrix(y_t, y_p, labels=labels)
    fp = cm.sum(0) - np.diag(cm)
    tn = y_t.size - cm.sum(1) - fp
    # jaccard_score has no NaN option: mark the classes absent from both by hand
    iou = jaccard_score(y_t, y_p, labels=labels, average=None, zero_division=0)
    iou = np.where(cm.sum(0) + cm.sum(1) == 0, np.nan, iou)
    return {
        "dice": f1_score(y_t, y_p, **kw),
        "iou": iou,
        "sensitivity": recall_score(y_t, y_p, **kw),
        "precision": precision_score(y_t, y_p, **kw),
        "specificity": tn / (tn + fp),
    }
