"""The entry point of the engine: :func:`train`, a generator that drives a :class:`Trainer`.

:func:`_run` is the loop: optimizer steps within the budget, evaluations, previews and
progress records, then the trained bundle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

import torch

from ..bundle import ModelBundle
from .history import TrainProgress
from .options import TrainOptions
from .trainer import Trainer


def _run(trainer: Trainer) -> Generator[TrainProgress, None, ModelBundle]:
    """The training loop: steps within the budget, records, then the trained bundle."""
    yield trainer.opening_record()
    trainer.evaluate_start()
    while (frac := trainer.budget_used()) is not None:
        notice = trainer.optimize_step(frac)
        if notice is not None:  # out of memory: the batch was halved
            yield notice
            continue
        now = trainer.elapsed()
        val_loss = val_dice = None
        if trainer.evaluation_due(now):
            val_loss, val_dice = trainer.evaluate(now)
        preview = trainer.preview() if trainer.preview_due() else None
        if val_loss is not None or preview is not None or trainer.record_due(now):
            yield trainer.progress(now, val_loss, val_dice, preview)
    closing = trainer.end_training()
    if closing is not None:
        yield closing
    return trainer.finish()


def train(
    images: Any,
    labels: Any,
    *,
    model: ModelBundle | None = None,
    label_mode: str = "sparse",
    n_classes: int | None = None,
    steps: int | None = None,
    time_limit: float | None = None,
    patch_size: int | Sequence[int] | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    val_fraction: float = 0.1,
    augment: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
    stop: threading.Event | None = None,
    preview_image: Any = None,
    preview_every: int = 0,
    spatial_dims: int | None = None,
    channel_axis: int | None = None,
    eval_every: int | None = None,
    model_config: dict[str, Any] | None = None,
    precision: str = "auto",
    keep_prior: float | None = None,
    intensity_augment: bool = True,
    match_labels: bool = False,
    class_names: Sequence[str] | None = None,
    time_axis: int | None = None,
    intensity_range: tuple[float, float] | None = None,
    statistics_of: Sequence[Any] | None = None,
) -> Generator[TrainProgress, None, ModelBundle]:
    """Train (or fine-tune) a U-Net on painted labels; a generator.

    Yields :class:`TrainProgress` records (about ten a second at most, and one for every
    validation, preview or message); returns the trained :class:`ModelBundle` with the
    weights of the best validation Dice (else the last), on the CPU, in eval mode, with
    its history. A new 2D model from scribbles keeps the mean of its weights over the
    budget's second half (:mod:`.averaging`; ``history["weights"]``).

    Parameters
    ----------
    images, labels : array-like or list of array-likes
        One or more images (numpy, memmap, zarr, dask; 2D, 3D, with optional channel and
        leading axes) and labels of the same shape without the channel axis. Patches are
        read and normalized on the fly; nothing is copied whole.
    model : ModelBundle, optional
        The model to fine-tune (a copy is trained; the caller's bundle is untouched).
        None trains a new model (:data:`NEW_MODEL`, or ``model_config``) with
        ``spatial_dims`` (default: 3 if the first image has 3 or more non-channel axes,
        else 2). A 2D model trains on the labeled planes of a (Z, Y, X) stack.
    label_mode, model_config : {'sparse', 'dense'}, dict
        See the package docstring; :class:`UNet` arguments for a new model (optional).
    n_classes : int, optional
        Output channels. Default: the model's (raised when sparse labels need more); for
        a new model, from the sparse label values, or 2 (one foreground class) in dense
        mode. When it differs from the model's, the output layer is re-initialized.
    steps, time_limit : int / float, optional
        Budget in steps and/or seconds, whichever ends first (:data:`DEFAULT_TIME_LIMIT`).
    patch_size, batch_size : optional
        Default: 128 px / batch 4 in 2D on the CPU (256 / 16 on a GPU), (32, 64, 64) /
        2 in 3D on the CPU ((64, 128, 128) / 2 on a GPU); patches never exceed the image.
    learning_rate : float, optional
        Peak AdamW learning rate (default 2e-3 for a new or untrained model, 1e-4 for
        fine-tuning a trained one).
    val_fraction : float
        Share of the labeled pixels held out (as whole blocks) for validation; 0 = none.
    augment : bool
        Random flips, 90-degree rotations, intensity scale/shift/gamma and noise; for
        a new model trained on scribbles also any in-plane rotation and a zoom of
        0.75-1.33 (recorded as ``history["rotate_zoom"]``).
    intensity_augment : bool
        With ``augment``, also the intensity changes and noise (the default). Off for
        labels whose classes follow the intensities as they are: a teacher's answers for
        every pixel (``napari_unetseg.api.train`` turns it off when its forest labels the
        unpainted pixels), which a brighter or gamma-changed patch would contradict.
    match_labels : bool
        After training, predict the training images once and fold into the model the
        threshold on the object probability whose objects agree best with the labels
        (a model of several classes: a weight per object class; ``history["threshold"]``).
        For labels that say something about every pixel, such as a teacher's answers
        (``api.train`` sets it when its forest labels the unpainted pixels): :mod:`.threshold`.
    device, seed : str, int
        ``'auto'``, ``'cpu'``, ``'cuda[:N]'``, ``'mps'``; the seed of initialization,
        patch sampling and augmentation (same seed and inputs: same steps on a device).
    stop : threading.Event, optional
        When set, training ends before the next step; the best model so far is returned.
    preview_image, preview_every : optional
        Every ``preview_every`` steps the model predicts ``preview_image`` (in ``.preview``).
    channel_axis, eval_every : int, optional
        Channel axis of the images (else detected from the model's ``in_channels``);
        steps between validations (default: a tenth of ``steps``, 1/15 of ``time_limit``).
    precision : {'auto', 'fp32', 'bf16', 'fp16'}
        Autocast for the forward pass. ``'auto'``: bf16/fp16 on CUDA, bf16 on CPUs with
        native bf16 (1.5-1.6x faster steps), else float32.
    keep_prior : float, optional
        Fine-tuning: weight of a term keeping the answers on unpainted pixels close to
        the starting model's (KL divergence; one more forward pass a step). None:
        :data:`KEEP_PRIOR` on scribbles of the model's own classes, else 0 (off).
    class_names : list of str, optional
        Class names, background first (a new model's default: "class 1", ...).
    time_axis, statistics_of : optional
        The images' axis of time points (each normalized on its own, as predicted); the
        images whose statistics normalize them (resampled ones' originals, the preview's).
    intensity_range : (float, float), optional
        A new model's fixed range (a CT window; ``core.intensity.fixed_range``).

    Raises
    ------
    ValueError
        Mismatched image/labels counts or shapes, no labeled pixels, only one class
        painted, class values beyond ``n_classes``, bad arguments.
    MemoryError
        Out of memory with one patch per batch (the batch is halved first, and said).
    """
    started = time.perf_counter()
    arguments = dict(locals())  # this function's parameters besides the data, as is
    images, labels = arguments.pop("images"), arguments.pop("labels")
    options = TrainOptions(**{k: v for k, v in arguments.items() if k != "started"})
    return (yield from _run(Trainer(images, labels, options, started)))
