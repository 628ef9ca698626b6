"""Dense training targets from scribbles: a random-forest pixel classifier as teacher.

A new U-Net trained on sparse strokes alone learns whatever context tells the painted
part apart, and carries it badly to the unpainted part (a brain template painted in its
lower slices: Dice 0.67 on the upper ones, where a random forest on the same strokes gets
0.88). So, before a new model trains on scribbles, a random forest on scikit-image's
multiscale features (intensity, edges and texture: the ilastik approach) is fitted on the
painted pixels and labels every unpainted pixel; the U-Net then trains on that dense
picture, with the painted pixels as painted. It learns the forest's local rules everywhere
and smooths the forest's pixel noise (docs/benchmarks.md); training such a model further on
more strokes (corrections) fits the forest again on all of them (:func:`wanted`). It trains
without intensity augmentation: the forest's classes follow the intensities as they are,
and a brighter or gamma-changed patch with the same labels would teach the U-Net another
rule than its teacher's (the brain template in 3D: the student agreed with its teacher at
Dice 0.90 with intensity changes, 0.96 without any augmentation).

The teacher's features stop at sigma 4, not at ilastik's 16: it is to say what each pixel
looks like, and the U-Net brings the context. Features of a wide neighbourhood describe
the region the strokes are in, so a forest fitted on them carries the painted region's
context into the rest of the image (the brain template: 0.95 instead of 0.88 on its
unpainted part in 2D, +0.01 in 3D; nuclei level within 0.01).

On a one-channel image the forest also reads the answer at each pixel of the shipped
model of its dimensionality (``nuclei-2d`` on a plane, ``nuclei-3d`` on a stack: their
foreground score, :mod:`napari_unetseg.core.network_features`), when that answer tells the
painted objects from the painted background (ROC AUC at least 0.98 on the strokes): it
knows what a nucleus or a cell looks like as a whole, which the filters do not. Three
draws of strokes each: the Huh7 cells' teacher 0.842 / 0.783 / 0.787 instead of 0.841 /
0.755 / 0.784, the DSB and scratch-assay nuclei +0.011 to +0.034, StarDist's stack +0.010
to +0.024, cells3d up to +0.004; on the MR brain the answer does not tell the strokes
apart (slices: AUC 0.67-0.84, volume 0.87-0.97) and is left out. Only the score: the
network's inner maps made a forest fitted on one dot shrink the objects
(docs/benchmarks.md).

A large image is labelled block by block (:func:`blocks`), each block's features computed
with a margin that makes them equal to the whole image's: memory stays bounded (a
60 x 512 x 512 stack: 3.0 instead of 5.9 GB at the peak, and 45 instead of 67 s), a stop
is heeded between blocks, between the scales of a block's features and while a block's
pixels are labelled (only the scale at work runs to its end), and with a time budget the
forest is fitted on blocks with strokes for a quarter of it at most (once every class
and image is among them) and labels the blocks it was fitted on, then the others only
while it has used less than half of it (the U-Net trains on the strokes alone there).

Uses scikit-image and scikit-learn, so it lives outside ``core/`` (numpy + torch only).
"""

from __future__ import annotations

import inspect
import itertools
import math
import time
from collections.abc import Generator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core import network_features
from .core.devices import usable_cores
from .core.network_features import MIN_AUC, separates
from .core.normalize import single_value
from .core.progress import drain, relay
from .core.training.labels import label_counts, problem_with

#: Features of the forest: ``skimage.feature.multiscale_basic_features`` arguments
#: (local ones only: see the module's docstring).
FEATURES = {"sigma_min": 0.5, "sigma_max": 4.0}
#: The forest itself (``sklearn.ensemble.RandomForestClassifier`` arguments).
FOREST = {"n_estimators": 50, "max_depth": 10, "n_jobs": 1}
#: Painted pixels of each class the forest is fitted on (a random subset beyond this).
SAMPLES_PER_CLASS = 50_000
#: Pixels of one block: a larger image is cut into blocks, each read with a margin of
#: :func:`halo` pixels, so that memory stays bounded and a stop or the time budget is
#: heeded between blocks (about 10 s each on two cores for a stack: two thirds features,
#: one third labelling, which :data:`PREDICT_PIXELS` cuts finer).
BLOCK_PIXELS = 4_000_000
#: Pixels the forest labels at once within a block (a stop is heeded between them).
PREDICT_PIXELS = 500_000
#: Features of blocks kept from fitting the forest to labelling their pixels (bytes);
#: beyond it they are computed again.
CACHE_BYTES = 1 << 30
#: With a time budget, the forest labels the blocks without strokes only while it has
#: used less than this share of the budget (the U-Net needs the rest), and says so.
FOREST_SHARE = 0.5
#: Seconds between two progress sentences of a forest working through blocks.
PROGRESS_EVERY = 5.0
#: Values of ``teacher`` (``api.train``): "auto" is the forest for sparse scribbles when
#: the model is new or a forest taught it (:func:`wanted`), nothing when fine-tuning
#: another model (it already knows the objects).
TEACHERS = ("auto", "forest", "none")
#: What a model's training history records as its teacher when a forest taught it.
TAUGHT = "random forest"
#: The shipped model, by the image's number of axes, whose answer (foreground score) the
#: forest also reads on one-channel images, when it tells the strokes apart
#: (:mod:`napari_unetseg.core.network_features`); empty: the forest's own features only.
#: A stack gets ``nuclei-3d``: ``nuclei-2d`` plane by plane made the teacher worse on two
#: stacks of the benchmark (docs/benchmarks.md).
FEATURE_MODELS = {2: "nuclei-2d", 3: "nuclei-3d"}


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


#: Larger intensities are brought down (the whole image alike): the features are float32,
#: and the texture features square second derivatives.
FINITE_LIMIT = 1e15


def _finite(image: Any) -> Any:
    """``image`` with NaN / infinite values at its smallest finite value (background, as
    the U-Net's normalization takes them), and scaled down as a whole where its values
    would overflow float32 features; an image that needs neither is returned as it is,
    and so is a lazy one (read block by block: it is never loaded whole here)."""
    if not isinstance(image, np.ndarray) or image.dtype.kind != "f":
        return image
    data = np.asarray(image)
    finite = np.isfinite(data)
    whole = bool(finite.all())
    top = float(np.abs(data[finite]).max(initial=0.0)) if not whole else float(np.abs(data).max())
    if whole and top <= FINITE_LIMIT:
        return image
    low = float(data[finite].min(initial=0.0)) if not whole else 0.0
    out = np.where(finite, data, low) if not whole else data.astype(np.float64)
    return out / (top / FINITE_LIMIT) if top > FINITE_LIMIT else out


def _sigmas() -> np.ndarray:
    """The scales of :data:`FEATURES`, as ``multiscale_basic_features`` spaces them."""
    low, high = FEATURES["sigma_min"], FEATURES["sigma_max"]
    count = int(np.log2(high) - np.log2(low) + 1)
    return np.logspace(np.log2(low), np.log2(high), num=count, base=2, endpoint=True)


def features(
    image: np.ndarray, channel_axis: int | None = None, stop: Any = None
) -> np.ndarray | None:
    """Multiscale features of ``image``: shape ``spatial + (n_features,)``, float32.

    The same features, in the same order, as ``skimage.feature.multiscale_basic_features``
    with :data:`FEATURES` (channel by channel, scale by scale), computed one scale of one
    channel per task on all cores (the texture, Hessian eigenvalues, of a stack takes most
    of the forest's time). A ``stop`` (threading.Event) set meanwhile is heeded when the
    scale at work is done, a few seconds on a large block: then None.
    """
    from skimage.feature import multiscale_basic_features

    data = np.asarray(image, dtype=np.float32)
    planes = [data] if channel_axis is None else list(np.moveaxis(data, channel_axis, 0))
    parameters = inspect.signature(multiscale_basic_features).parameters
    one = {k: 1 for k in ("workers", "num_workers") if k in parameters}

    def scale(task: tuple[np.ndarray, float]) -> np.ndarray:
        plane, sigma = task
        return multiscale_basic_features(
            plane, sigma_min=sigma, sigma_max=sigma, num_sigma=1, **one
        ).astype(np.float32, copy=False)

    tasks = [(plane, float(s)) for plane in planes for s in _sigmas()]
    pool = ThreadPoolExecutor(max_workers=min(len(tasks), usable_cores()))
    try:
        futures = [pool.submit(scale, task) for task in tasks]
        while True:
            pending = [f for f in futures if not f.done()]
            if not pending:
                break
            if stop is not None and stop.is_set():
                return None
            wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        return np.concatenate([f.result() for f in futures], axis=-1)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def halo() -> int:
    """The margin that makes a block's features those of the whole image (pixels):
    scikit-image truncates the Gaussian of the largest sigma (:data:`FEATURES`) at 4 sigma,
    the edges (Sobel) reach one pixel further and the texture (second differences) two."""
    return int(4 * FEATURES["sigma_max"] + 0.5) + 3


def blocks(shape: tuple[int, ...], max_pixels: int | None = None) -> list[tuple[slice, ...]]:
    """Blocks that tile an image of spatial ``shape``, each of at most ``max_pixels``
    pixels (:data:`BLOCK_PIXELS`): the longest side is cut first, so a stack keeps its
    planes whole as long as it can. One block, the whole image, when it is that small."""
    limit = max(1, int(BLOCK_PIXELS if max_pixels is None else max_pixels))
    counts = [1] * len(shape)
    while True:
        sizes = [-(-n // c) for n, c in zip(shape, counts, strict=True)]
        if math.prod(sizes) <= limit:
            break
        counts[int(np.argmax(sizes))] += 1
    edges = [
        np.linspace(0, n, c + 1).round().astype(int) for n, c in zip(shape, counts, strict=True)
    ]
    return [
        tuple(slice(int(e[i]), int(e[i + 1])) for e, i in zip(edges, index, strict=True))
        for index in itertools.product(*(range(c) for c in counts))
    ]


def block_features(
    image: Any, block: tuple[slice, ...], channel_axis: int | None = None, stop: Any = None
) -> np.ndarray | None:
    """:func:`features` of the pixels of ``block``, equal to those of the whole image:
    computed on the block with a margin of :func:`halo` pixels (only the block and its
    margin are read, from any array that slices: numpy, zarr, dask). None when ``stop``
    was set meanwhile."""
    spatial, margin = _spatial(image, channel_axis), halo()
    outer = tuple(
        slice(max(0, b.start - margin), min(n, b.stop + margin))
        for b, n in zip(block, spatial, strict=True)
    )
    index = list(outer)
    if channel_axis is not None:
        index.insert(channel_axis % np.ndim(image), slice(None))
    feats = features(np.asarray(image[tuple(index)]), channel_axis, stop)
    if feats is None:
        return None
    return feats[tuple(slice(b.start - o.start, b.stop - o.start) for b, o in zip(block, outer))]


def wanted(teacher: str, start: Any, label_mode: str) -> bool:
    """Whether ``teacher`` (one of :data:`TEACHERS`) means fitting a forest here.

    ``start`` is the model training starts from (a ``ModelBundle``), None for a new model.
    "auto" fits the forest for sparse labels when the model is new, or when a forest taught
    it (:func:`taught`): continuing such a model on more strokes fits the forest again on
    all of them, so that a correction reaches every pixel that looks like it. Fine-tuning
    on the strokes alone would keep the model's old answers on the unpainted pixels (the
    brain template's grey matter: a 2D model at 0.898 fell to 0.765 after one round of
    corrections, and rose to 0.927 with the forest fitted again; docs/benchmarks.md).

    Raises
    ------
    ValueError
        For a value not in :data:`TEACHERS`, and for "forest" with dense labels.
    """
    if teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {', '.join(TEACHERS)}, got {teacher!r}.")
    if teacher == "forest" and label_mode != "sparse":
        # the forest relabelled dense labels' background from their classes alone, and
        # the model learnt no background (train bug bash)
        raise ValueError(
            "The forest teacher labels the unpainted pixels of scribbles, and dense labels "
            "(label_mode='dense') leave none: train them without it."
        )
    if teacher == "auto":
        return label_mode == "sparse" and (start is None or taught(start))
    return teacher == "forest"


def taught(bundle: Any) -> bool:
    """Whether a forest taught this model (its training history says so)."""
    history = getattr(bundle, "history", None) or {}
    return history.get("teacher") == TAUGHT


def plan(
    images: list[Any], labels: list[Any], channel_axis: int | None = None
) -> tuple[list[np.ndarray], dict[int, int]] | None:
    """Whether the forest can label these images, before any of its work: the labels as
    integers and the painted pixels per class (value > 0), or None where training refuses
    the labels with its own sentence (shapes, values, fewer than two painted classes, images of one value)."""
    shapes = [tuple(np.shape(lab)) for lab in labels]
    if len(images) != len(labels) or any(
        _spatial(img, channel_axis) != shape for img, shape in zip(images, shapes, strict=False)
    ):
        return None
    if any(min(shape, default=0) < 3 for shape in shapes):
        return None  # the texture features need 3 pixels a side: the strokes alone then
    painted = [_as_integers(lab) for lab in labels]
    per_image = [None if p is None else label_counts(p) for p in painted]
    if any(c is None for c in per_image):
        return None
    counts: dict[int, int] = {}
    for image_counts in per_image:
        for value, n in image_counts.items():
            if value > 0:
                counts[value] = counts.get(value, 0) + n
    if problem_with(counts, "sparse", "") is not None:
        return None  # training refuses these scribbles at once (a stray 255): no forest first
    if all(single_value(img) is not None for img in images):
        return None  # and images of one value each (no feature tells the strokes apart)
    return painted, counts


@dataclass
class _Job:
    """What the forest works on: images, their painted labels as integers, the blocks of
    each image (``tasks``: image index and block), and the run's settings."""

    images: list[Any]
    painted: list[np.ndarray]
    tasks: list[tuple[int, tuple[slice, ...]]]
    channel_axis: int | None
    seed: int
    stop: Any
    #: Per image, the network's score the forest also reads (None: only its own features).
    networks: list[Any]
    #: ROC AUC of the network's answer on the strokes (NaN until measured or without it).
    auc: float = float("nan")
    #: The name of the model whose answer was weighed ("" until then).
    reader: str = ""

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def features(self, task: int) -> np.ndarray | None:
        """The features of a task's block (None when stopped meanwhile): the forest's own,
        then the network's score when it reads it."""
        i, block = self.tasks[task]
        feats = block_features(self.images[i], block, self.channel_axis, self.stop)
        network = self.networks[i]
        if feats is None or network is None:
            return feats
        score = network.block(self.images[i], block, self.stop)
        return None if score is None else np.concatenate([feats, score], axis=-1)

    def gate(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> int:
        """Measures how well the network's score (the last feature) tells the strokes
        apart; below :data:`MIN_AUC` the score is left out from here on.
        Returns how many trailing features of ``xs`` to drop (0 when kept or absent)."""
        first = next((n for n in self.networks if n is not None), None)
        if first is None:
            return 0
        self.reader = first.name
        self.auc = separates(np.concatenate([x[:, -1] for x in xs]), np.concatenate(ys))
        if self.auc >= MIN_AUC:
            return 0
        self.networks = [None] * len(self.networks)
        return first.count

    def said(self) -> str:
        """One sentence on the network's score ("" when there was none to weigh)."""
        if np.isnan(self.auc):
            return ""
        if any(n is not None for n in self.networks):
            return (
                f" It also read {self.reader}'s answer at each pixel, which tells the "
                f"strokes apart (ROC AUC {self.auc:.3f})."
            )
        return (
            f" It left out {self.reader}'s answer, which does not tell the strokes apart "
            f"(ROC AUC {self.auc:.3f}, below {MIN_AUC})."
        )


def _fit(
    job: _Job, chosen: list[np.ndarray], deadline: float | None = None, classes: Any = ()
) -> Generator[str, None, tuple[Any, dict[int, np.ndarray], set[int]] | None]:
    """The forest fitted on the chosen painted pixels of the blocks that hold some, taken
    image by image in raster order whatever the blocks (as ``skimage.future.fit_segmenter``
    takes them); returns it, the features kept for labelling and the blocks fitted on, by
    task (None when stopped). Yields a progress sentence after each block.

    With a ``deadline`` the blocks come in random order and the fitting ends after it once
    every painted class (``classes``) and every image with strokes is among the pixels;
    past it, a block that brings neither is skipped: three painted planes of a 200 x 1024
    x 1024 stack took every block's features (72 of them, 30 minutes) under a 60 s budget
    (big volume bash), and so would one object painted in the last block (review)."""
    from sklearn.ensemble import RandomForestClassifier

    xs, ys, places, kept, kept_bytes = [], [], [], {}, 0
    stroked = [t for t, (i, block) in enumerate(job.tasks) if chosen[i][block].any()]
    if deadline is not None:
        stroked = [stroked[k] for k in np.random.default_rng(job.seed).permutation(len(stroked))]
    wanted = {int(v) for v in classes} | {("image", job.tasks[t][0]) for t in stroked}
    seen: set[Any] = set()
    fitted: set[int] = set()
    for done, t in enumerate(stroked, start=1):
        if job.stopped():
            return None
        i, block = job.tasks[t]
        where = chosen[i][block]
        if deadline is not None and time.perf_counter() > deadline:
            if wanted <= seen:
                break
            brings = {int(v) for v in np.unique(job.painted[i][block][where])} | {("image", i)}
            if brings <= seen:
                continue
        feats = job.features(t)
        if feats is None:
            return None
        xs.append(feats[where])
        ys.append(job.painted[i][block][where].astype(np.int64))
        seen.update({int(v) for v in np.unique(ys[-1])} | {("image", i)})
        coords = [c + b.start for c, b in zip(np.nonzero(where), block, strict=True)]
        flat = np.ravel_multi_index(coords, chosen[i].shape)
        places.append(np.stack([np.full(flat.shape, i), flat]))
        if kept_bytes + feats.nbytes <= CACHE_BYTES:
            kept[t], kept_bytes = feats, kept_bytes + feats.nbytes
        fitted.add(t)
        yield f"features of the strokes, part {done} of {len(stroked)}"
    drop = job.gate(xs, ys)
    if drop:
        xs = [x[:, :-drop] for x in xs]
        kept = {t: f[..., :-drop] for t, f in kept.items()}
    image_index, flat_index = np.concatenate(places, axis=1)
    raster = np.lexsort((flat_index, image_index))
    if job.stopped():  # (before a fit of seconds)
        return None
    forest = RandomForestClassifier(**FOREST, random_state=job.seed)
    forest.fit(np.concatenate(xs)[raster], np.concatenate(ys)[raster])
    return forest, kept, fitted


def _chosen(painted: list[np.ndarray], counts: dict[int, int], seed: int) -> list[np.ndarray]:
    """The painted pixels the forest is fitted on: all of them, or a random subset of about
    :data:`SAMPLES_PER_CLASS` for a class painted more."""
    rng = np.random.default_rng(seed)
    chosen = []
    for p in painted:
        where = p > 0
        for value, count in counts.items():
            if count > SAMPLES_PER_CLASS:
                where &= ~((p == value) & (rng.random(p.shape) >= SAMPLES_PER_CLASS / count))
        chosen.append(where)
    return chosen


def label_iter(
    images: list[Any],
    labels: list[Any],
    *,
    channel_axis: int | None = None,
    seed: int = 0,
    stop: Any = None,
    deadline: float | None = None,
    planned: tuple[list[np.ndarray], dict[int, int]] | None = None,
) -> Generator[str, None, tuple[list[Any], str]]:
    """Every unpainted pixel labelled by a random forest fitted on the painted ones, block
    by block (:func:`blocks`).

    Parameters
    ----------
    images, labels : lists of arrays
        Training images and their sparse labels (0 = not painted; any other value a
        painted class), as :func:`napari_unetseg.core.training.train` takes them.
    channel_axis : int, optional
        The images' channel axis.
    seed : int
        Seed of the pixel subsample, of the forest and of the order of the blocks.
    stop : threading.Event, optional
        When set, the work ends at the next block and the labels come back as given.
    deadline : float, optional
        A ``time.perf_counter()`` time: the forest is fitted on blocks with strokes until
        halfway to it (once every class and image is among them), and after it the blocks
        it was not fitted on are left unlabelled (0: trained on the strokes alone there);
        the blocks it was fitted on are always labelled.
    planned : tuple, optional
        What :func:`plan` returned for these images and labels, when the caller asked it
        already (it reads every label once).

    Yields
    ------
    str
        A sentence on the progress, every :data:`PROGRESS_EVERY` seconds while blocks
        remain.

    Returns
    -------
    labels : list
        Dense labels (painted pixels unchanged), or the labels as given when the forest
        cannot help (fewer than two painted classes, labels training refuses) or was
        stopped.
    message : str
        One sentence for the user ("" when the forest did not run).
    """
    t0 = time.perf_counter()
    checked = planned if planned is not None else plan(images, labels, channel_axis)
    if checked is None:
        return labels, ""
    images = [_finite(image) for image in images]
    painted, counts = checked
    chosen = _chosen(painted, counts, seed)
    tasks = [(i, b) for i, p in enumerate(painted) for b in blocks(p.shape)]
    scorers = network_features.for_images(images, channel_axis, FEATURE_MODELS)
    job = _Job(images, painted, tasks, channel_axis, seed, stop, scorers)
    stopped = (labels, "Stopped while the random forest labelled the unpainted pixels.")
    # half of its share of the budget to fit, the rest to label
    fit_by = None if deadline is None else t0 + (deadline - t0) / 2
    fitted = yield from _every(_fit(job, chosen, fit_by, counts), t0)
    if fitted is None:
        return stopped
    forest, kept, fitted_on = fitted
    dense = [p.astype(np.asarray(lab).dtype) for p, lab in zip(painted, labels, strict=True)]
    done = yield from _every(_label_blocks(job, forest, kept, fitted_on, dense, deadline), t0)
    if done is None:
        return stopped
    message = (
        "Unpainted pixels labelled by a random forest fitted on the scribbles "
        f"({time.perf_counter() - t0:.0f} s), then the U-Net trained on them."
    ) + job.said()
    if done < len(tasks):
        stroked = sum(1 for i, block in tasks if chosen[i][block].any())
        fitted_on_some = (
            f", fitted on the strokes of {len(fitted_on)} of the {stroked} that hold some"
            if len(fitted_on) < stroked
            else ""
        )
        message += (
            f" The forest labelled {done} of {len(tasks)} parts of the image in "
            f"{FOREST_SHARE:.0%} of the time budget{fitted_on_some}; the rest trains on the "
            "strokes alone (a larger budget labels it all)."
        )
    return dense, message


def _label_blocks(
    job: _Job,
    forest: Any,
    kept: dict[int, np.ndarray],
    fitted: set[int],
    dense: list[np.ndarray],
    deadline: float | None,
) -> Generator[str, None, int | None]:
    """The forest's labels written into ``dense``, block by block: the blocks it was
    fitted on first (their features are kept), then the others in random order until
    ``deadline``. Returns how many blocks were labelled (None when stopped); yields a
    progress sentence after each block."""
    tasks, painted, first = job.tasks, job.painted, fitted
    order = sorted(first) + [
        t
        for t in np.random.default_rng(job.seed).permutation(len(tasks)).tolist()
        if t not in first
    ]
    for done, t in enumerate(order):
        if job.stopped():
            return None
        if t not in first and deadline is not None and time.perf_counter() > deadline:
            return done
        i, block = tasks[t]
        feats = kept.pop(t) if t in kept else job.features(t)
        if feats is None:
            return None
        guess = _predicted(job, forest, feats)
        if guess is None:
            return None
        part = painted[i][block]
        dense[i][block] = np.where(part > 0, part, guess)
        yield f"{done + 1} of {len(tasks)} parts of the image labelled"
    return len(tasks)


def _predicted(job: _Job, forest: Any, feats: np.ndarray) -> np.ndarray | None:
    """The forest's class for every pixel of a block's features, :data:`PREDICT_PIXELS`
    at a time, so that a stop is heeded within seconds (None when stopped)."""
    rows = feats.reshape(-1, feats.shape[-1])
    guess = np.empty(len(rows), np.int64)
    for start in range(0, len(rows), PREDICT_PIXELS):
        if job.stopped():
            return None
        guess[start : start + PREDICT_PIXELS] = forest.predict(
            rows[start : start + PREDICT_PIXELS]
        )
    return guess.reshape(feats.shape[:-1])


def _every(work: Generator[str, None, Any], started: float) -> Generator[str, None, Any]:
    """``work``'s progress sentences, at most one every :data:`PROGRESS_EVERY` seconds;
    returns what ``work`` returns."""
    said = time.perf_counter()
    while True:
        try:
            text = next(work)
        except StopIteration as end:
            return end.value
        now = time.perf_counter()
        if now - said >= PROGRESS_EVERY:
            said = now
            yield f"Random forest: {text} ({now - started:.0f} s)..."


def dense_targets(
    images: list[Any], labels: list[Any], *, channel_axis: int | None = None, seed: int = 0
) -> tuple[list[Any], str]:
    """:func:`label_iter` run to its end: the dense labels and the sentence for the user."""
    return drain(label_iter(images, labels, channel_axis=channel_axis, seed=seed))


def teach(
    images: list[Any],
    labels: list[Any],
    *,
    channel_axis: int | None = None,
    seed: int = 0,
    steps: int | None = None,
    time_limit: float | None = None,
    stop: Any = None,
) -> Generator[Any, None, tuple[list[Any], str, float | None]]:
    """:func:`label_iter` as a step of a training run (``api.train_iter``).

    Yields ``TrainProgress`` records: one saying that the forest starts (it takes seconds,
    a minute for a large stack), then its progress through the blocks of a large image.
    Returns the labels (dense, or as given), the sentence for the user and the time left of
    ``time_limit`` for the U-Net: the forest's time is part of the budget, it leaves blocks
    without strokes unlabelled after :data:`FOREST_SHARE` of it, and a longer time is said.
    """
    from .core.training import TrainProgress

    started = time.perf_counter()

    def record(message: str) -> TrainProgress:
        elapsed = time.perf_counter() - started
        return TrainProgress(0, steps, None, None, None, None, 0.0, elapsed, time_limit,
                             message=message)  # fmt: skip

    planned = plan(images, labels, channel_axis)
    if planned is not None:
        yield record(
            "Labelling the unpainted pixels with a random forest fitted on the strokes"
            + (" (its time counts in the budget)..." if time_limit else "...")
        )
    deadline = None if time_limit is None else started + FOREST_SHARE * time_limit
    work = label_iter(
        images,
        labels,
        channel_axis=channel_axis,
        seed=seed,
        stop=stop,
        deadline=deadline,
        planned=planned,
    )
    dense, message = yield from relay(work, record)
    thin = [tuple(np.shape(lab)) for lab in labels if min(np.shape(lab), default=0) < 3]
    if planned is None and thin:  # it was left out without a word (fine-tune bug bash)
        shape = " x ".join(map(str, thin[0]))
        message = (
            f"The random forest teacher was left out: its features need 3 pixels along "
            f"every axis, and the labels are {shape}; the U-Net learns from the strokes alone."
        )
    if time_limit is None:
        return dense, message, None
    spent = time.perf_counter() - started
    if dense is not labels and spent > FOREST_SHARE * time_limit:
        message += (
            f" The forest took {spent:.0f} s of the {time_limit:.0f} s budget, which leaves "
            "the U-Net little time: give a larger budget, or train without the forest teacher."
        )
    return dense, message, max(time_limit - spent, min(time_limit, 1.0))


__all__ = [
    "TEACHERS",
    "block_features",
    "blocks",
    "dense_targets",
    "features",
    "halo",
    "label_iter",
    "plan",
    "teach",
    "wanted",
]
