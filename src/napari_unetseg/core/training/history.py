"""What a run reports and keeps: progress records, the loss curves, the best weights.

Also the learning-rate schedule (linear warm-up, then cosine decay over the step budget or
the time budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: Loss values kept in the model file's history (the curve is subsampled beyond that).
MAX_HISTORY_POINTS = 2000


@dataclass
class TrainProgress:
    """One progress record of :func:`~napari_unetseg.core.training.train`.

    ``loss`` is the mean training loss since the previous record; ``val_loss`` and
    ``val_dice`` are set only on records where validation ran; ``preview`` holds the
    current model's labels for the preview image when one was computed at this step;
    ``message`` carries notices for the user (empty when there is nothing to say);
    ``best_val_loss`` is the held-out loss of the best weights so far when that loss
    chooses them (scribbles), else None; ``advice`` a sentence that holds from the record
    it first comes with to the end (the starting model's disagreement with the strokes,
    :func:`start_hint`, known after the first batches), "" while there is none.
    """

    step: int
    total_steps: int | None
    loss: float | None
    val_loss: float | None
    val_dice: float | None
    best_val_dice: float | None
    lr: float
    elapsed: float
    time_limit: float | None
    preview: np.ndarray | None = None
    message: str = ""
    best_val_loss: float | None = None
    advice: str = ""

    @property
    def fraction(self) -> float:
        """Fraction of the budget used (steps or time, whichever is further along)."""
        f = 0.0
        if self.total_steps:
            f = self.step / self.total_steps
        if self.time_limit:
            f = max(f, self.elapsed / self.time_limit)
        return min(1.0, f)


#: With scribbles, weights whose validation loss is within this factor of the lowest
#: count as the best (the latest such weights are kept).
LOSS_TOLERANCE = 1.1


class _History:
    """The loss curve, the validation curve and the best weights of a run.

    With ``select='dice'`` (dense labels) the best weights are those with the best
    validation Dice, the lower validation loss breaking ties. With ``select='loss'``
    (scribbles) they are the latest whose validation loss is within
    :data:`LOSS_TOLERANCE` of the lowest so far: Dice on held-out strokes inside objects
    reaches 1.0 within a few steps and then says nothing, while the loss keeps measuring
    how sure and how right the model is there.
    """

    def __init__(self, select: str = "dice") -> None:
        self.select = select
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.val: dict[str, list[Any]] = {"step": [], "loss": [], "dice": []}
        self.best_dice: float | None = None
        self.best_loss = math.inf
        self.lowest_loss = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_step = 0
        self.last_eval_step = -1

    @property
    def kept_start(self) -> bool:
        """Whether the weights kept are those training started from (step 0), chosen over
        every later evaluation."""
        return self.best_state is not None and self.best_step == 0 and self.last_eval_step > 0

    @property
    def chosen_loss(self) -> float | None:
        """The held-out loss of the best weights so far, when that loss chooses them."""
        return self.best_loss if self.select == "loss" and math.isfinite(self.best_loss) else None

    def add_loss(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.loss.append(loss)

    def add_validation(
        self, step: int, loss: float, dice: float | None, network: torch.nn.Module
    ) -> None:
        """Record a validation; keep a CPU copy of the weights when they are the best."""
        self.last_eval_step = step
        self.val["step"].append(step)
        self.val["loss"].append(loss)
        self.val["dice"].append(dice)
        if self.select == "loss":
            # The latest weights within LOSS_TOLERANCE of the lowest loss so far: a few
            # held-out strokes give a noisy loss, and later weights have seen more steps.
            if dice is not None:
                self.lowest_loss = min(self.lowest_loss, loss)
            better = dice is not None and loss <= LOSS_TOLERANCE * self.lowest_loss
        else:
            better = dice is not None and (
                self.best_dice is None
                or dice > self.best_dice
                or (dice == self.best_dice and loss < self.best_loss)
            )
        if better:
            self.best_dice, self.best_loss, self.best_step = dice, loss, step
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()
            }

    def curve(self) -> dict[str, list[Any]]:
        """The loss curve as the model file keeps it (subsampled)."""
        return {"step": _subsample(self.steps), "loss": _subsample(self.loss)}


def score_text(history: dict[str, Any], digits: int = 2) -> str:
    """The validation score of a trained model's kept weights, in words; "" without one.

    "best validation Dice 0.91 at step 20"; for weights chosen by the held-out loss
    (scribbles, where Dice on interior strokes soon reads 1.00 and says nothing) "best
    validation loss 0.123 at step 20, Dice 1.00 of the held-out strokes"; for averaged weights (``averaging.py``)
    "validation Dice 0.91 of the mean of 4 weights (steps 25-40)". With a threshold folded
    in (``threshold.py``), whose effect the Dice includes, ", threshold 0.72" follows.
    """
    dice = history.get("best_val_dice")
    if dice is None:
        return ""
    kept = str(history.get("weights", ""))
    loss = history.get("best_val_loss")
    step = history.get("best_step")
    if kept.startswith("mean"):
        text = f"validation Dice {dice:.{digits}f} of the {kept.split(',')[0]}"
    elif history.get("selected_by") == "validation loss" and loss is not None:
        # (of the strokes: "Dice 1.00" was read as the model's, which got worse; audit)
        text = (
            f"best validation loss {loss:.3f} at step {step}, Dice {dice:.{digits}f} of the "
            "held-out strokes"
        )
    else:
        text = f"best validation Dice {dice:.{digits}f} at step {step}"
    matched = history.get("threshold") or {}
    threshold = matched.get("threshold")
    if threshold is not None and threshold != 0.5:
        text += f", threshold {threshold:.2f}"
    if any(matched.get("class_biases", ())):
        text += ", class weights matched to the labels"
    return text


#: Said when a fine-tuning kept the weights it started from (:meth:`Trainer.evaluate_start`).
KEPT_START = (
    "No step did better on the held-out strokes than the model training started from, so "
    "its weights are kept: paint where it is wrong and train again."
)


def kept_start_text(history: dict[str, Any]) -> str:
    """:data:`KEPT_START` when a fine-tuning kept its starting weights, else ""."""
    return KEPT_START if history.get("kept_start") else ""


#: A run that the time budget ended after fewer steps than this says a longer budget
#: trains further.
FEW_STEPS = 30


def few_steps_text(history: dict[str, Any]) -> str:
    """One sentence when the time budget ended a run after fewer than :data:`FEW_STEPS`
    steps (a 3D fine-tuning of 30 s on two CPU cores took 8 steps and changed its
    Dice from 0.925 to 0.922 without a word why; API bug bash), else ""."""
    steps, seconds = history.get("steps") or 0, float(history.get("duration_s") or 0.0)
    if not history.get("time_limited") or not 0 < steps < FEW_STEPS:
        return ""
    return (
        f"Only {steps} training step{'s' * (steps != 1)} fitted in the time budget "
        f"({seconds:.0f} s on {history.get('device', 'this device')}): a longer budget "
        "trains the model further."
    )


#: A fine-tuning whose best validation came within this share of its steps kept weights
#: close to those it started from.
EARLY_BEST = 0.05


def early_best_text(history: dict[str, Any]) -> str:
    """One sentence when a fine-tuning of at least 40 steps kept the weights of a step
    within :data:`EARLY_BEST` of its start: dense labels that are mostly the model's own
    output (a few corrections) chose step 1 of 166, and nothing said that the model
    changed little (rounds bash); else ""."""
    best, steps = history.get("best_step"), history.get("steps")
    fine_tuned = bool(history.get("previous")) and history.get("weights") == "best by validation"
    if not (fine_tuned and isinstance(best, int) and isinstance(steps, int) and steps >= 40):
        return ""
    if not 0 < best <= EARLY_BEST * steps:
        return ""
    return (
        f"The best validation came at step {best} of {steps}, so the kept model is close to "
        "the one training started from: its labels mostly say what it predicts already; "
        "correct it where it is wrong and train again."
    )


def _lr_at(step: int, frac: float, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 5% of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _subsample(values: list[Any], n: int = MAX_HISTORY_POINTS) -> list[Any]:
    if len(values) <= n:
        return list(values)
    idx = np.linspace(0, len(values) - 1, n).round().astype(int)
    return [values[i] for i in idx]


#: Below this share of a painted class's pixels already given that class by the model a
#: fine-tuning started from, the strokes show objects it was not made for (nuclei models
#: on nuclei strokes: 0.99-1.00; on whole cells 0.75, on brain tissue 0.18-0.72). A
#: user's background strokes that brush the nuclei's edges gave 0.88 from nuclei-2d on
#: its own sample, which 0.9 called objects it was not made for (GUI bash).
AGREEMENT_HINT = 0.8


def start_hint(history: dict[str, Any], class_names: list[str] | None = None) -> str:
    """One sentence when the starting model disagreed with the strokes; "" otherwise.

    Uses ``history["start_agreement"]``: per class, the share of the painted pixels of
    that class that the model fine-tuning started from already gave that class.
    """
    agreement = history.get("start_agreement") or []
    low = [(k, a) for k, a in enumerate(agreement) if a is not None and a < AGREEMENT_HINT]
    if not low:
        return ""
    k, a = min(low, key=lambda item: item[1])
    names = list(class_names or [])
    name = names[k] if k < len(names) else f"class {k}"
    return (
        f"The starting model gave another class to {100 * (1 - a):.0f} % of your "
        f"{name!r} strokes: if your objects are not what it was made for, a new model "
        "learns them better (it has a random forest label the rest of the image first)."
    )


def unlearned_note(counts: Any, names: list[str], mode: str) -> str:
    """A sentence naming the object classes the kept model never predicts on the
    held-out labels that have them (``counts``: per class true positives, predicted and
    true pixels, :func:`~.losses.hard_dice_counts`); "" when there is none. A class never
    learned passed without a word under a mean validation Dice of 0.94 (classes bash)."""
    if counts is None:
        return ""
    rows = [[float(v) for v in row] for row in counts.tolist()]
    missed = [c for c, (tp, _, t) in enumerate(rows) if c and t > 0 and tp == 0]
    if not missed:
        return ""
    called = [names[c] if c < len(names) else f"class {c}" for c in missed]
    which = ", ".join(repr(n) for n in called)
    held = "strokes" if mode == "sparse" else "labels"
    return (
        f"The model predicts none of the held-out {held} of {which}: paint more of "
        f"{'it' if len(missed) == 1 else 'them'} (in several places), or train longer."
    )
