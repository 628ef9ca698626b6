"""The weights a new model keeps after learning from scribbles: an average, settled.

A new U-Net trained on a teacher's dense picture of scribbles (the forest of
``napari_unetseg.forest``) ends on weights that are close to chance among its
checkpoints: on the brain template's white matter, checkpoints 150 steps apart differed
by up to 0.08 Dice on the unpainted part, at 5 % of the peak learning rate
(docs/benchmarks.md, "White matter"). About half of that swing was batch norm's running
statistics, which follow the last few batches; the rest was the weights themselves.

So such a run averages the weights of its evaluations in the second half of the budget
(stochastic weight averaging, ``torch.optim.swa_utils.AveragedModel``) and then
recomputes the batch-norm statistics of the average as a plain mean over
:data:`NORM_BATCHES` training batches (``torch.optim.swa_utils.update_bn``), drawn as
training draws them: the network is adapted to its class-balanced patches, and
statistics of whole images instead gave Dice 0.65.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel, update_bn

#: PyTorch's momentum of batch norm's running statistics, which a new network ends on.
NORM_MOMENTUM = 0.1
#: The momentum a new network starts on: while its weights change fast (the first tens
#: of steps at the new-model learning rate), statistics that average ten batches lag so
#: far behind them that the network in eval mode (validation, the live preview) marks
#: nearly everything as object: on the synthetic nuclei sample a new model's validation
#: Dice read 0.44 from step 17 to step 92 at 0.1 and 0.92 from step 16 on at 0.5, with
#: the same training steps (running statistics do not take part in training).
FAST_MOMENTUM = 0.5


def norm_momentum(step: int) -> float:
    """Batch norm's momentum for a new network before optimizer step ``step`` (0-based):
    :data:`FAST_MOMENTUM` for the first ten steps, then ``5 / (step + 1)`` down to
    :data:`NORM_MOMENTUM` from step 49 on."""
    return max(NORM_MOMENTUM, min(FAST_MOMENTUM, 5.0 / (step + 1)))


def set_norm_momentum(network: torch.nn.Module, momentum: float) -> None:
    """Set the momentum of every batch-norm layer of ``network``."""
    for module in network.modules():
        if isinstance(module, _BatchNorm):
            module.momentum = momentum


#: Training batches the batch-norm statistics of the averaged weights are computed on.
NORM_BATCHES = 32
#: Weights are averaged from this fraction of the budget on.
AVERAGE_FROM = 0.5


class _WeightAverage:
    """A running mean of a network's parameters (its buffers are recomputed at the end)."""

    def __init__(self) -> None:
        self.model: AveragedModel | None = None
        self.steps: list[int] = []

    def add(self, network: torch.nn.Module, step: int) -> None:
        """Add the network's current parameters to the mean (once per step)."""
        if self.steps and self.steps[-1] == step:
            return
        if self.model is None:
            self.model = AveragedModel(network)  # a copy that counts nothing yet
        self.model.update_parameters(network)
        self.steps.append(step)

    def apply(
        self, network: torch.nn.Module, batches: Callable[[], Iterator[torch.Tensor]]
    ) -> str | None:
        """Load the mean into ``network`` and settle its batch-norm statistics.

        ``batches`` gives the input batches for the statistics. Returns a record of what
        was done (for the model's history), or None when fewer than two weights were
        averaged (the network is left as it is).
        """
        if self.model is None or len(self.steps) < 2:
            return None
        with torch.no_grad():
            for mine, mean in zip(
                network.parameters(), self.model.module.parameters(), strict=True
            ):
                mine.copy_(mean)
        has_norm = any(isinstance(m, _BatchNorm) for m in network.modules())
        if has_norm:
            update_bn(batches(), network)  # restores the network's train/eval mode
        first, last = self.steps[0], self.steps[-1]
        settled = f", batch-norm statistics of {NORM_BATCHES} batches" if has_norm else ""
        return f"mean of {len(self.steps)} weights (steps {first}-{last}){settled}"
