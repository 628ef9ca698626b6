"""The foreground threshold that reproduces a model's training labels best.

A new model trained on a teacher's dense picture of scribbles (the forest of
``napari_unetseg.forest``) learns where the teacher's objects are, but its border can sit
a pixel layer off the teacher's: on the brain template's white matter both 2D and 3D
students marked one extra layer around the teacher's white matter (agreement 0.93-0.97),
and 95 % of those pixels were wrong. Their foreground probabilities still ranked the
pixels well: the threshold at which the student agreed best with its teacher on the
training volume (0.72-0.82 instead of 0.5) lifted Dice on the unpainted part from 0.865
to 0.923 (3D) and 0.907 to 0.937 (2D) (docs/benchmarks.md, "A threshold that matches the
training labels").

So after such a run the model predicts its own training images once, the threshold on
the foreground probability whose foreground agrees best (Dice) with the training labels
is chosen from :data:`THRESHOLDS`, and it is folded into the output layer's bias: the
model file then labels with that threshold wherever it is used. Two-class models only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..inference import predict_tiled
from ..progress import drain

#: Candidate thresholds on the foreground probability.
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)
#: Training images larger than this (voxels, all together) are not predicted for the
#: threshold: the run keeps 0.5 and says so.
MAX_MATCH_VOXELS = 1 << 26

_EDGES = np.concatenate([[0.0], THRESHOLDS, [1.0 + 1e-6]])


class _Agreement:
    """Histograms of the foreground probability of labeled object and background pixels."""

    def __init__(self) -> None:
        self.objects = np.zeros(len(_EDGES) - 1, np.int64)
        self.background = np.zeros(len(_EDGES) - 1, np.int64)

    def add(self, probability: np.ndarray, target: np.ndarray) -> None:
        """Count pixels: ``target`` 1 = object, 0 = background, other values ignored."""
        p = np.asarray(probability, np.float32)
        self.objects += np.histogram(p[target == 1], _EDGES)[0]
        self.background += np.histogram(p[target == 0], _EDGES)[0]

    def dice(self) -> np.ndarray:
        """Dice of ``probability >= t`` with the objects, for each t of :data:`THRESHOLDS`."""
        # bin i holds [edge i, edge i+1); THRESHOLDS[k] is edge k+1
        above_obj = np.cumsum(self.objects[::-1])[::-1][1:]
        above_bg = np.cumsum(self.background[::-1])[::-1][1:]
        total = int(self.objects.sum())
        return 2 * above_obj / np.maximum(total + above_obj + above_bg, 1)

    def best(self) -> tuple[float, float, float]:
        """(threshold, its Dice, Dice at 0.5); the threshold nearest 0.5 among equals."""
        dice = self.dice()
        half = int(np.argmin(np.abs(THRESHOLDS - 0.5)))
        top = np.flatnonzero(dice >= dice.max() - 1e-9)
        k = int(top[np.argmin(np.abs(THRESHOLDS[top] - 0.5))])
        return float(THRESHOLDS[k]), float(dice[k]), float(dice[half])


def fold_threshold(head: torch.nn.Module, threshold: float) -> None:
    """Make a two-class output layer label a pixel as object where its object probability
    (softmax) is above ``threshold`` instead of 0.5."""
    with torch.no_grad():
        head.bias[1] -= math.log(threshold / (1.0 - threshold))


def _voxels(pairs: list[Any]) -> int:
    return sum(int(np.prod(np.shape(p.labels))) for p in pairs)


def prediction_voxels(pairs: list[Any]) -> int:
    """About how many voxels :func:`match_threshold` feeds the network (tiles overlap:
    twice the images'); 0 when the images are too large for it."""
    voxels = _voxels(pairs)
    return 0 if voxels > MAX_MATCH_VOXELS else 2 * voxels


def match_threshold(
    bundle: Any,
    pairs: list[Any],
    targets: Callable[[np.ndarray], np.ndarray],
    device: torch.device,
    batch: int,
) -> tuple[dict[str, float] | None, str]:
    """Predict the training images, fold the best threshold into ``bundle``'s network.

    ``pairs`` are the run's training pairs (image, labels, layout) and ``targets`` maps
    their raw labels to class targets (1 = object, 0 = background, -1 = unlabeled).
    Returns the record for the model's history (None when nothing was matched) and a
    sentence for the user ("" when there is nothing to say).
    """
    if bundle.n_classes != 2:
        return None, ""
    voxels = _voxels(pairs)
    if voxels > MAX_MATCH_VOXELS:
        return None, (
            f"Foreground threshold kept at 0.5: the training images are too large to "
            f"predict for it ({voxels:,} voxels, limit {MAX_MATCH_VOXELS:,})."
        )
    agreement = _Agreement()
    for pair in pairs:
        result = drain(
            predict_tiled(
                bundle,
                pair.image,
                device=device,
                batch_size=batch,
                return_probabilities=True,
                channel_axis=pair.layout.channel_axis,
            )
        )
        agreement.add(result.probabilities, targets(np.asarray(pair.labels)))
    t, dice, at_half = agreement.best()
    record = {"threshold": t, "label_dice": dice, "label_dice_at_half": at_half}
    if t == 0.5:
        return record, ""
    fold_threshold(bundle.network.head, t)
    return record, (
        f"Foreground threshold {t:.2f}: the model's objects match its training labels "
        f"best there (Dice {dice:.3f}, {at_half:.3f} at 0.5)."
    )
