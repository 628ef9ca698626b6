"""The worker side of a Fine-tune run: plain values in, a trained model out (no Qt).

The widget builds a :class:`TrainRequest` in the GUI thread (arrays and plain values,
no layers); :func:`finetune_job` runs in a worker thread through
:class:`~napari_unetseg._qt._worker.JobRunner` and returns a :class:`TrainResult`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from ...core.bundle import ModelBundle
    from ...core.training import TrainProgress


@dataclass
class TrainRequest:
    """Everything the worker needs: arrays and plain values, no Qt or napari objects.

    The fields are :func:`napari_unetseg.api.train_iter`'s arguments, by name.
    """

    image: Any
    labels: Any  # a snapshot: painting during training does not change what is trained on
    model: Any = None  # None (new model), a registry name or a ModelBundle
    label_mode: str = "sparse"
    steps: int | None = None
    time_limit: float | None = 60.0
    learning_rate: float | None = None
    patch_size: int | None = None
    batch_size: int | None = None
    val_fraction: float = 0.1
    augment: bool = True
    device: str = "auto"
    seed: int = 0
    spatial_dims: int | None = None
    model_config: dict[str, Any] | None = None
    channel_axis: int | None = None
    preview_image: Any = None
    preview_every: int = 0
    scale: tuple[float, ...] | None = None  # the layer's pixel size (object size, 3D grids)
    unit: str | None = None  # and its unit, recorded with it
    teacher: str = "auto"  # "none": a new model learns from the scribbles alone
    invert: bool | None = None  # dark and bright swapped (None: the start model's)
    intensity_range: tuple[float, float] | None = None  # a new model's fixed range (CT)
    class_names: list[str] | None = None  # a new model's, from the scribble layer
    time_axis: int | None = None  # the layer's axis of time points (its object size)
    # torch's thread count in the viewer's process when Train was pressed: a pool thread
    # keeps the count it started with, and another count gives other weights than the
    # command line's ("Copy as command" repeats the run exactly)
    threads: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class TrainResult:
    """What the worker hands back: the model, its prediction of the preview region and
    where in that region it is unsure (``core.inference.unsure_band``)."""

    bundle: ModelBundle
    preview: np.ndarray | None = None
    unsure: np.ndarray | None = None


def finetune_job(req: TrainRequest) -> Generator[TrainProgress, None, TrainResult]:
    """The worker side of a training run (a shipped model file is loaded here too).

    Yields the engine's ``TrainProgress`` records and returns the trained bundle (the
    best one so far when ``req.stop`` was set) with, when a preview was asked for, that
    model's labels for the preview region: the last live preview came from whatever
    weights were current then, the final one shows the model the user gets, and where
    it is unsure there: where the next strokes tell it most.
    """
    from ... import api
    from ...core.inference import unsure_band

    kwargs = {f.name: getattr(req, f.name) for f in fields(req)}
    from ...core.devices import use_thread_count

    use_thread_count(kwargs.pop("threads"))
    bundle = yield from api.train_iter(kwargs.pop("image"), kwargs.pop("labels"), **kwargs)
    if req.preview_image is None or not bundle.history.get("steps"):
        return TrainResult(bundle)
    several = bundle.n_classes > 2  # a map per class: confused classes are unsure too
    labels, probabilities = api.predict(
        req.preview_image, bundle, device=req.device, return_probabilities=True,
        class_probabilities=several,
    )  # fmt: skip
    return TrainResult(bundle, np.asarray(labels), unsure_band(probabilities, several))


def export_job(
    bundle: ModelBundle, path: str, options: dict[str, Any]
) -> Generator[None, None, Path]:
    """The worker side of "Export for bioimage.io": writes the package and returns its
    path. The export runs the model on its test image and checks the package, seconds
    that must not freeze the viewer; the one record it yields starts the activity bar."""
    yield None
    return bundle.export_bioimageio(path, **options)


def progress_text(record: TrainProgress) -> str:
    """The status line for a training step: step, loss, best Dice and the budget used."""
    parts = [f"Step {record.step}"]
    if record.loss is not None:
        parts.append(f"loss {record.loss:.3f}")
    if record.best_val_loss is not None:  # scribbles: the loss chooses, Dice soon reads 1
        # said to be of the held-out strokes: "best validation Dice 1.000" at step 1 read
        # as a finished model (GUI bash); the strokes are easy, the image between them not
        dice = "" if record.best_val_dice is None else f", Dice {record.best_val_dice:.3f}"
        parts.append(f"held-out strokes: best loss {record.best_val_loss:.3f}{dice}")
    elif record.best_val_dice is not None:
        parts.append(f"best validation Dice {record.best_val_dice:.3f}")
    budget = (
        f"{record.elapsed:.0f} / {record.time_limit:.0f} s"
        if record.time_limit
        else f"{record.step} / {record.total_steps} steps"
    )
    return " · ".join(parts) + f" ({budget})"


def result_text(bundle: ModelBundle, name: str) -> tuple[str, str]:
    """The status sentence and the notification for a finished run of model ``name``."""
    history = bundle.history
    from ...core.training import (
        early_best_text,
        few_steps_text,
        kept_start_text,
        score_text,
        start_hint,
    )
    from ...forest import taught

    score = score_text(history) or (
        "no validation (the validation share is 0)"
        if history.get("val_fraction") == 0
        else "no validation (paint in more places to get a score)"
    )
    how = "stopped early" if history.get("stopped_early") else "done"
    steps = history.get("steps")
    by = " on a random forest's labels of your strokes" if taught(bundle) else ""
    text = (
        f"Training {how}: {name!r} ({steps} step{'' if steps == 1 else 's'} in "
        f"{history.get('duration_s', 0):.0f} s{by}, {score}). It is in the Segment "
        "widget's model list; save it to keep it."
    )
    merged = (
        "The dense labels' values were read as objects of one class (instance masks); "
        "to train several classes, paint them as scribbles."
        if history.get("instances_as_one_class")
        else ""
    )
    early = early_best_text(history)
    # why the forest teacher was left out (a class painted in one tiny spot): said once at
    # the start, the end's line replaced it (classes bash)
    skipped = history.get("teacher_note", "")
    hints = (
        few_steps_text(history),
        kept_start_text(history),
        early,
        start_hint(history, bundle.class_names),
        merged,
    )
    for hint in (skipped, *hints):
        if hint:
            text = f"{text} {hint}"
    return text, f"Trained model {name!r} is ready ({score})."
