"""Dense training targets from scribbles: a random-forest pixel classifier as teacher.

A new U-Net trained on sparse strokes alone learns whatever context tells the painted
part apart, and carries it badly to the unpainted part (a brain template painted in its
lower slices: Dice 0.67 on the upper ones, where a random forest on the same strokes gets
0.88). So, before a new model trains on scribbles, a random forest on scikit-image's
multiscale features (intensity, edges and texture: the ilastik approach) is fitted on the
painted pixels and labels every unpainted pixel; the U-Net then trains on that dense
picture, with the painted pixels as painted. It learns the forest's local rules everywhere
and smooths the forest's pixel noise (docs/benchmarks.md). It trains without intensity
augmentation: the forest's classes follow the intensities as they are, and a brighter or
gamma-changed patch with the same labels would teach the U-Net another rule than its
teacher's (the brain template in 3D: the student agreed with its teacher at Dice 0.90
with intensity changes, 0.96 without any augmentation).

The teacher's features stop at sigma 4, not at ilastik's 16: it is to say what each pixel
looks like, and the U-Net brings the context. Features of a wide neighbourhood describe
the region the strokes are in, so a forest fitted on them carries the painted region's
context into the rest of the image (the brain template: 0.95 instead of 0.88 on its
unpainted part in 2D, +0.01 in 3D; nuclei level within 0.01).

Uses scikit-image and scikit-learn, so it lives outside ``core/`` (numpy + torch only).
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Generator
from typing import Any

import numpy as np

from .core.training.labels import label_counts

#: Features of the forest: ``skimage.feature.multiscale_basic_features`` arguments
#: (local ones only: see the module's docstring).
FEATURES = {"sigma_min": 0.5, "sigma_max": 4.0}
#: The forest itself (``sklearn.ensemble.RandomForestClassifier`` arguments).
FOREST = {"n_estimators": 50, "max_depth": 10, "n_jobs": 1}
#: Painted pixels of each class the forest is fitted on (a random subset beyond this).
SAMPLES_PER_CLASS = 50_000
#: The features of all images together may take this many bytes (float32); larger
#: training data trains on the scribbles alone, and the message says so.
MAX_FEATURE_BYTES = 2 << 30
#: Above this share of a time budget taken by the forest, the run says so.
FOREST_SHARE_WARNING = 0.5
#: Values of ``teacher`` (``api.train``): "auto" is the forest for a new model trained on
#: sparse scribbles, nothing when fine-tuning (the model already knows the objects).
TEACHERS = ("auto", "forest", "none")


def _n_features(spatial_dims: int, channels: int) -> int:
    """How many features :func:`features` makes per pixel: asked of scikit-image itself,
    on an image of a few pixels."""
    probe = np.zeros((4,) * spatial_dims + ((channels,) if channels > 1 else ()), np.float32)
    return int(features(probe, -1 if channels > 1 else None).shape[-1])


def _spatial(image: Any, channel_axis: int | None) -> tuple[int, ...]:
    shape = list(np.shape(image))
    if channel_axis is not None and -len(shape) <= channel_axis < len(shape):
        del shape[channel_axis]
    return tuple(shape)


def _as_integers(labels: Any) -> np.ndarray | None:
    """The labels as integers (whole-valued floats included); None for fractional or
    NaN values, which training refuses with its own sentence."""
    data = np.asarray(labels)
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data) & (data % 1 == 0)):
            return None
        data = data.astype(np.int64)
    return data


def features(image: np.ndarray, channel_axis: int | None = None) -> np.ndarray:
    """Multiscale features of ``image``: shape ``spatial + (n_features,)``, float32."""
    from skimage.feature import multiscale_basic_features

    data = np.asarray(image, dtype=np.float32)
    if channel_axis is not None:
        data = np.moveaxis(data, channel_axis, -1)
    # the scales on all cores (the same features): the texture (Hessian eigenvalues) of a
    # stack takes most of the forest's time
    parameters = inspect.signature(multiscale_basic_features).parameters
    threads = {k: os.cpu_count() or 1 for k in ("workers", "num_workers") if k in parameters}
    return multiscale_basic_features(
        data, channel_axis=-1 if channel_axis is not None else None, **threads, **FEATURES
    ).astype(np.float32, copy=False)


def wanted(teacher: str, new_model: bool, label_mode: str) -> bool:
    """Whether ``teacher`` (one of :data:`TEACHERS`) means fitting a forest here.

    Raises
    ------
    ValueError
        For a value not in :data:`TEACHERS`.
    """
    if teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {', '.join(TEACHERS)}, got {teacher!r}.")
    if teacher == "auto":
        return new_model and label_mode == "sparse"
    return teacher == "forest"


def plan(
    images: list[Any], labels: list[Any], channel_axis: int | None = None
) -> tuple[tuple[list[np.ndarray], dict[int, int]] | None, str]:
    """Whether the forest can label these images, before any of its work.

    Returns ``((painted, counts), "")`` when it can: the labels as integers and the
    painted pixels per class (value > 0). Otherwise ``(None, message)``: an empty message
    where training refuses the labels with its own sentence (shapes, values, fewer than
    two painted classes), a sentence where the images are too large for the features.
    """
    shapes = [tuple(np.shape(lab)) for lab in labels]
    if len(images) != len(labels) or any(
        _spatial(img, channel_axis) != shape for img, shape in zip(images, shapes, strict=False)
    ):
        return None, ""  # training refuses these with its own sentence
    channels = 1
    if channel_axis is not None:
        channels = int(np.shape(images[0])[channel_axis])
    n_features = _n_features(len(shapes[0]), channels)
    needed = sum(math.prod(s) for s in shapes) * n_features * 4
    if needed > MAX_FEATURE_BYTES:
        return None, (
            "Trained on the scribbles alone: the images are too large for random-forest "
            f"targets ({needed / 2**30:.1f} GiB of features, limit "
            f"{MAX_FEATURE_BYTES / 2**30:.0f} GiB)."
        )
    painted = [_as_integers(lab) for lab in labels]
    per_image = [None if p is None else label_counts(p) for p in painted]
    if any(c is None for c in per_image):
        return None, ""  # training refuses these labels with its own sentence
    counts: dict[int, int] = {}
    for image_counts in per_image:
        for value, n in image_counts.items():
            if value > 0:
                counts[value] = counts.get(value, 0) + n
    if len(counts) < 2:
        return None, ""
    return (painted, counts), ""


def dense_targets(
    images: list[Any],
    labels: list[Any],
    *,
    channel_axis: int | None = None,
    seed: int = 0,
    planned: tuple[Any, str] | None = None,
) -> tuple[list[Any], str]:
    """Every unpainted pixel labelled by a random forest fitted on the painted ones.

    Parameters
    ----------
    images, labels : lists of arrays
        Training images and their sparse labels (0 = not painted; any other value a
        painted class), as :func:`napari_unetseg.core.training.train` takes them.
    channel_axis : int, optional
        The images' channel axis.
    seed : int
        Seed of the pixel subsample and of the forest.
    planned : tuple, optional
        What :func:`plan` returned for these images and labels (else it is asked here).

    Returns
    -------
    labels : list
        Dense labels (painted pixels unchanged), or the labels as given when the forest
        cannot help (fewer than two painted classes, or too much data: see the message).
    message : str
        One sentence for the user.
    """
    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    checked, message = planned if planned is not None else plan(images, labels, channel_axis)
    if checked is None:
        return labels, message
    painted, counts = checked
    rng = np.random.default_rng(seed)
    feats = [features(img, channel_axis) for img in images]
    xs, ys = [], []
    for f, p in zip(feats, painted, strict=True):
        chosen = p > 0
        for value, count in counts.items():  # classes painted a lot: a random subset
            if count > SAMPLES_PER_CLASS:
                drop = (p == value) & (rng.random(p.shape) >= SAMPLES_PER_CLASS / count)
                chosen &= ~drop
        xs.append(f[chosen])  # in raster order, as skimage.future.fit_segmenter does
        ys.append(p[chosen].astype(np.int64))
    forest = RandomForestClassifier(**FOREST, random_state=seed)
    forest.fit(np.concatenate(xs), np.concatenate(ys))
    dense = []
    for f, p, lab in zip(feats, painted, labels, strict=True):
        guess = forest.predict(f.reshape(-1, f.shape[-1])).reshape(p.shape)
        dense.append(np.where(p > 0, p, guess).astype(np.asarray(lab).dtype, copy=False))
    seconds = time.perf_counter() - t0
    return dense, (
        f"Unpainted pixels labelled by a random forest fitted on the scribbles "
        f"({seconds:.0f} s), then the U-Net trained on them."
    )


def teach(
    images: list[Any],
    labels: list[Any],
    *,
    channel_axis: int | None = None,
    seed: int = 0,
    steps: int | None = None,
    time_limit: float | None = None,
) -> Generator[Any, None, tuple[list[Any], str, float | None]]:
    """:func:`dense_targets` as a step of a training run (``api.train_iter``).

    Yields one ``TrainProgress`` record saying that the forest starts (it takes seconds,
    a minute for a large stack) when it will run. Returns the labels (dense, or as given),
    the sentence for the user and the time left of ``time_limit`` for the U-Net (the
    forest's time is part of the budget; a share over :data:`FOREST_SHARE_WARNING` is
    said).
    """
    from .core.training import TrainProgress

    started = time.perf_counter()
    planned = plan(images, labels, channel_axis)
    if planned[0] is not None:
        yield TrainProgress(
            0, steps, None, None, None, None, 0.0, 0.0, time_limit,
            message="Labelling the unpainted pixels with a random forest fitted on the "
            "strokes" + (" (its time counts in the budget)..." if time_limit else "..."),
        )  # fmt: skip
    dense, message = dense_targets(
        images, labels, channel_axis=channel_axis, seed=seed, planned=planned
    )
    if time_limit is None:
        return dense, message, None
    spent = time.perf_counter() - started
    if dense is not labels and spent > FOREST_SHARE_WARNING * time_limit:
        message += (
            f" The forest took {spent:.0f} s of the {time_limit:.0f} s budget, which leaves "
            "the U-Net little time: give a larger budget, or train without the forest teacher."
        )
    return dense, message, max(time_limit - spent, min(time_limit, 1.0))


__all__ = ["TEACHERS", "dense_targets", "features", "plan", "teach", "wanted"]
