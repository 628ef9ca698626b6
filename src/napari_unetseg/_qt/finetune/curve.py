"""The data of the live training curve, across continued runs (no Qt).

:class:`~napari_unetseg._qt.finetune.plot.CurvePlot` draws it.
"""

from __future__ import annotations

from typing import Any

#: Weight of each new loss in the plotted moving average (one step's loss is noisy).
LOSS_SMOOTHING = 0.15


class Curve:
    """The plotted history of one or more training runs (steps continue across runs)."""

    def __init__(self) -> None:
        self.offset = 0
        self.loss_step: list[int] = []
        self.loss: list[float] = []
        self.smooth: list[float] = []  # exponential moving average of the loss
        self.dice_step: list[int] = []
        self.dice: list[float] = []
        # the held-out loss: with scribbles it picks the kept weights (the Dice of strokes
        # inside objects soon reads 1 and stays there)
        self.val_loss_step: list[int] = []
        self.val_loss: list[float] = []
        self.runs: list[int] = []  # first step of each continued run (drawn as a line)
        #: The last step of a run with a step budget (None: a time budget): the x axis
        #: spans it from the start (a 40-step run filled 40 % of a 100-step axis).
        self.planned: int | None = None

    def clear(self) -> None:
        self.__init__()

    def start_run(self, continued: bool) -> None:
        """A new run: a fresh curve, or (continued) steps counted on from the last."""
        if not continued:
            self.clear()
            return
        self.offset = max(self.loss_step + self.dice_step + self.val_loss_step, default=0)
        self.runs.append(self.offset)

    def add(self, record: Any) -> bool:
        """Take a ``TrainProgress`` record; True if it added a point."""
        total = getattr(record, "total_steps", None)
        limited = getattr(record, "time_limit", None)
        self.planned = self.offset + int(total) if total and not limited else None
        added = False
        if record.loss is not None and record.step > 0:
            self.loss_step.append(self.offset + record.step)
            self.loss.append(float(record.loss))
            last = self.smooth[-1] if self.smooth else self.loss[-1]
            self.smooth.append(last + LOSS_SMOOTHING * (self.loss[-1] - last))
            added = True
        if record.val_dice is not None:
            self.dice_step.append(self.offset + record.step)
            self.dice.append(float(record.val_dice))
            added = True
        if record.val_loss is not None:
            self.val_loss_step.append(self.offset + record.step)
            self.val_loss.append(float(record.val_loss))
            added = True
        return added
