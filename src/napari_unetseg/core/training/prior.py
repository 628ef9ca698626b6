"""The starting model of a fine-tuning on scribbles: what it knew, and what it thought.

A frozen copy of the model training starts from runs on every batch. Its answers on the
unpainted pixels are kept with weight ``keep_prior`` (:func:`losses.keep_prior_loss`), and
its answers on the painted ones of the first :data:`COUNTED_BATCHES` batches, as they are
before augmentation, are counted: the share of each painted class it already gave that
class (``history["start_agreement"]``; :func:`history.start_hint` turns a low one into a
sentence).
"""

from __future__ import annotations

import copy

import torch

from .. import devices as dev
from .losses import hard_dice_counts, keep_prior_loss
from .options import KEEP_PRIOR, TrainOptions

#: Batches whose strokes the starting model's agreement is counted on, before their
#: augmentation: counted on augmented batches, strokes in the dimmest frame of a series
#: (normalized with the whole series' statistics) read 63 % agreement where the model
#: predicting the series gave 99.7 % of them their class, and the hint sent the user to
#: a new model (GUI bug bash).
COUNTED_BATCHES = 8


class StartModel:
    """The frozen starting model, its ``keep_prior`` weight and its agreement counts."""

    def __init__(self, network: torch.nn.Module, weight: float) -> None:
        self.network = copy.deepcopy(network).eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.weight = float(weight)
        self.counts: torch.Tensor | None = None  # (classes, 3) from hard_dice_counts
        self.batches = 0  # counted so far

    @classmethod
    def wanted(
        cls, network: torch.nn.Module, options: TrainOptions, fine_tune: bool, new_head: bool
    ) -> StartModel | None:
        """The starting model when its answers are kept, else None.

        By default (``keep_prior=None``) only a fine-tuning on scribbles keeps them: dense
        labels say everything, a new model or a new head has nothing worth keeping.
        """
        weight = options.keep_prior
        if weight is None:
            weight = KEEP_PRIOR if options.label_mode == "sparse" else 0.0
        if float(weight) <= 0 or new_head or not fine_tune:
            return None
        return cls(network, weight)

    def loss(
        self,
        logits: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        device: torch.device,
        amp_dtype: torch.dtype | None,
    ) -> torch.Tensor:
        """The weighted keep-prior term for an (augmented) batch."""
        with torch.no_grad(), dev.autocast(device, amp_dtype):
            prior_logits = self.network(x)
        return self.weight * keep_prior_loss(logits, prior_logits, y)

    def count(
        self, x: torch.Tensor, y: torch.Tensor, device: torch.device, amp_dtype: torch.dtype | None
    ) -> None:
        """Count the agreement on a batch's strokes, before its augmentation; the first
        :data:`COUNTED_BATCHES` batches only (one more forward pass each)."""
        if self.batches >= COUNTED_BATCHES:
            return
        self.batches += 1
        with torch.no_grad(), dev.autocast(device, amp_dtype):
            counts = hard_dice_counts(self.network(x), y)
        self.counts = counts if self.counts is None else self.counts + counts

    def agreement(self) -> list[float | None]:
        """Per class: the share of its painted pixels the starting model gave that class."""
        if self.counts is None:
            return []
        tp, painted = self.counts[:, 0].cpu(), self.counts[:, 2].cpu()
        return [round(float(a / n), 3) if n > 0 else None for a, n in zip(tp, painted)]
