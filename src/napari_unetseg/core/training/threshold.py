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

So after such a run the model predicts its own training images once (a large one on
random windows of it, :func:`match_windows`), the threshold on
the foreground probability whose foreground agrees best (Dice) with the training labels
is chosen from :data:`THRESHOLDS`, and it is folded into the output layer's bias: the
model file then labels with that threshold wherever it is used.

A model of several classes gets the same in the form that fits an argmax: a weight per
object class on its probability against the background's (a bias added to its output,
:data:`CLASS_BIASES`), chosen one class at a time for the mean Dice of all classes, the
background's included, with the training labels, over a random subset of the labelled
pixels (:data:`MAX_MATCH_PIXELS`). (Without the background's, a class the model never
learned cost nothing to grow: its Dice was 0 either way, and a weight of 2.46 took the
false positives of another class and most of the background with them; classes bash.)
The brain template as three tissues in 3D, whose students put the border between grey
and white matter elsewhere than their teacher: +0.010 to +0.016 mean Dice on the
unpainted part, same weights with and without (three draws, object classes scored);
-0.001 to +0.005 on 2D images whose students already agreed with their labels. With the
background scored (2026-12-07, a shared machine): +0.007 to +0.022 on the volume,
+0.006 to +0.041 on the photograph, +0.009 on the slice, wherever a weight was chosen
(docs/benchmarks.md, "Class weights matched to the training labels").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..inference import predict_tiled
from ..progress import drain

#: Candidate thresholds on the foreground probability.
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)
#: Training images of up to this many voxels (all together) are predicted whole for the
#: threshold; larger ones on windows of them (:func:`match_windows`): the threshold is one
#: number, and predicting a slide whole took 31 s of a run's budget (8192 x 8192 on two
#: cores), while images over 67 M voxels were not matched at all.
MATCH_VOXELS = 1 << 23
#: Most voxels of the class maps kept for a whole-image match (memory: several classes
#: keep one float32 map each); beyond it the images are matched on windows.
MAX_MATCH_MAPS = 1 << 26
#: Edge of a window (voxels per axis, its margin included), by spatial dimensions.
MATCH_WINDOW = {2: 768, 3: 96}
#: Pixels at each side of a window that are predicted for context, not counted.
MATCH_MARGIN = 16

#: Candidate biases (log weights) of an object class's output, several classes.
CLASS_BIASES = np.round(np.arange(-2.0, 2.001, 0.1), 2)
#: Labelled pixels the class biases are chosen on (a random subset of larger images).
MAX_MATCH_PIXELS = 1 << 18
#: Moves of the class-bias search, per object class.
MAX_BIAS_MOVES = 2
#: A best threshold whose objects agree with the labels less than this (Dice) is not
#: folded in: one painted object pixel among 10^5 of background chose 0.26 at Dice
#: 4e-5 (0 at 0.5), and half of the painted background became objects.
MIN_MATCH_DICE = 0.05
#: The least gain in mean Dice on the labels a move of the class-bias search must bring:
#: smaller ones are taken as noise of the pixel subset and of the labels (the
#: photograph of convpaint-food-2d: +0.0005 from weights of 2.7 and 0.47).
MIN_BIAS_GAIN = 1e-3

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


class _ClassAgreement:
    """Log-probabilities of a random subset of the labelled pixels, for class biases."""

    def __init__(self, n_classes: int, keep: float, seed: int = 0) -> None:
        self.n_classes, self.keep = n_classes, keep
        self.rng = np.random.default_rng(seed)
        self.logp: list[np.ndarray] = []
        self.target: list[np.ndarray] = []

    def add(self, probabilities: np.ndarray, target: np.ndarray) -> None:
        """Keep pixels of ``probabilities`` (classes first) with a ``target`` class
        (-1 = unlabelled, ignored), each with probability :attr:`keep`."""
        target = np.asarray(target)
        chosen = (target >= 0) & (self.rng.random(target.shape) < self.keep)
        p = np.asarray(probabilities, np.float32)[:, chosen]
        self.logp.append(np.log(np.maximum(p, 1e-8)).T)
        self.target.append(target[chosen].astype(np.int64))

    def dice(self, biases: np.ndarray) -> float:
        """Mean Dice of the classes (background included) of the argmax with ``biases``."""
        logp, target, k = np.concatenate(self.logp), np.concatenate(self.target), self.n_classes
        return _mean_class_dice(np.argmax(logp + biases, axis=1), target, k)

    def best(self) -> tuple[np.ndarray, float, float]:
        """(biases, their mean Dice, mean Dice without biases).

        Each move sets one object class's bias to its best value of
        :data:`CLASS_BIASES` (the others kept), taking the class whose move gains most
        (moving the first class first can lower a class that shares a border with the
        one that is off, and get stuck there), if it gains :data:`MIN_BIAS_GAIN`; the
        bias nearest 0 among equals.
        """
        logp, target, k = np.concatenate(self.logp), np.concatenate(self.target), self.n_classes
        biases = np.zeros(k, np.float32)
        start = best = self.dice(biases)
        for _ in range(MAX_BIAS_MOVES * (k - 1)):
            move, gain = None, best + MIN_BIAS_GAIN
            for c in range(1, k):
                value, dice = _best_bias(logp, target, biases, c)
                if dice > gain:
                    move, gain = biases.copy(), dice
                    move[c] = value
            if move is None:
                break
            biases, best = move, gain
        return biases, self.dice(biases), start  # the exact argmax's Dice


def _best_bias(
    logp: np.ndarray, target: np.ndarray, biases: np.ndarray, c: int
) -> tuple[float, float]:
    """The value of :data:`CLASS_BIASES` for class ``c`` (the other biases kept) whose
    argmax agrees best with ``target`` (mean Dice of the classes), and that Dice; the value
    nearest 0 among equals.

    A pixel takes class ``c`` once its bias exceeds the margin of the best other class
    over it: sorting the margins gives every candidate's confusion matrix from counts
    of the pixels in between, instead of an argmax over all pixels per candidate.
    """
    k = logp.shape[1]
    others = logp + biases
    others[:, c] = -np.inf
    rival = np.argmax(others, axis=1)
    margin = np.take_along_axis(others, rival[:, None], 1)[:, 0] - logp[:, c]
    order = np.argsort(margin, kind="stable")
    cells = (target * k + rival)[order]  # confusion cell of each pixel while not c
    ends = np.searchsorted(margin[order], CLASS_BIASES, side="left")
    moved = np.cumsum(
        [np.bincount(part, minlength=k * k) for part in np.split(cells, ends[:-1])], axis=0
    ).reshape(len(CLASS_BIASES), k, k)
    confusion = np.bincount(cells, minlength=k * k).reshape(k, k)[None] - moved
    confusion[:, :, c] += moved.sum(axis=2)
    dice = np.array([_dice_of(m) for m in confusion])
    top = np.flatnonzero(dice >= dice.max() - 1e-9)
    j = int(top[np.argmin(np.abs(CLASS_BIASES[top]))])
    return float(CLASS_BIASES[j]), float(dice[j])


def _mean_class_dice(predicted: np.ndarray, target: np.ndarray, k: int) -> float:
    """Mean Dice of the classes 0..k-1 that are predicted or labelled."""
    return _dice_of(np.bincount(target * k + predicted, minlength=k * k).reshape(k, k))


def _dice_of(confusion: np.ndarray) -> float:
    """Mean Dice of the classes (0..k-1, the background's included) present in a
    confusion matrix (rows: labels, columns: predictions); 0 when none is."""
    both = confusion.sum(0) + confusion.sum(1)
    present = both > 0
    if not present.any():
        return 0.0
    return float(np.mean(2 * np.diag(confusion)[present] / both[present]))


def fold_class_biases(head: torch.nn.Module, biases: np.ndarray) -> None:
    """Add ``biases`` to a several-class output layer's outputs (its argmax then labels
    as that of the probabilities weighted by ``exp(biases)``)."""
    with torch.no_grad():
        head.bias += torch.as_tensor(biases, dtype=head.bias.dtype, device=head.bias.device)


def fold_threshold(head: torch.nn.Module, threshold: float) -> None:
    """Make a two-class output layer label a pixel as object where its object probability
    (softmax) is above ``threshold`` instead of 0.5."""
    with torch.no_grad():
        head.bias[1] -= math.log(threshold / (1.0 - threshold))


def _voxels(pairs: list[Any]) -> int:
    return sum(int(np.prod(np.shape(p.labels))) for p in pairs)


def _maps(n_classes: int) -> int:
    """Image-sized probability maps the matching keeps: the foreground's, or every
    class's."""
    return n_classes if n_classes > 2 else 1


def _whole(pairs: list[Any], n_classes: int) -> bool:
    """Whether the training images are predicted whole (else on windows)."""
    voxels = _voxels(pairs)
    return voxels <= MATCH_VOXELS and voxels * _maps(n_classes) <= MAX_MATCH_MAPS


def prediction_voxels(
    pairs: list[Any], n_classes: int = 2, windows: list[Any] | None = None
) -> int:
    """About how many voxels :func:`match_threshold` feeds the network (tiles overlap:
    twice the images', or the ``windows``' of :func:`match_plan`); 0 when nothing is
    matched."""
    if n_classes < 2:
        return 0
    if windows is not None:
        return 2 * sum(w.voxels for w in windows)
    return 2 * (_voxels(pairs) if _whole(pairs, n_classes) else MATCH_VOXELS)


def match_plan(
    pairs: list[Any], n_classes: int, targets: Callable[[np.ndarray], np.ndarray], seed: int
) -> list[Any] | None:
    """What :func:`match_threshold` will predict, decided before training (its time is
    kept from the budget): None for the whole images, else their windows."""
    if n_classes < 2 or _whole(pairs, n_classes):
        return None
    return match_windows(pairs, targets, seed)


@dataclass(frozen=True)
class _Window:
    """A window of a training image: what is predicted (with its margin) and the part of
    the prediction that is counted."""

    pair: int
    image: tuple[Any, ...]  # index into the image: the window with its margin
    labels: tuple[Any, ...]  # index into the labels: the counted part
    inner: tuple[slice, ...]  # the counted part within the window's prediction
    channel_axis: int | None  # of the image window
    voxels: int  # predicted
    lead: tuple[int, ...] = ()  # the leading index it lies at (its time point's statistics)


def _window_grid(layout: Any) -> tuple[tuple[int, ...], list[int]]:
    """Per axis (leading axes, then spatial), the windows' counted size and their count."""
    edge = MATCH_WINDOW.get(len(layout.spatial_axes), MATCH_WINDOW[3])
    inner = [1] * len(layout.leading_axes) + [
        n if n <= edge else edge - 2 * MATCH_MARGIN for n in layout.spatial_shape
    ]
    extents = list(layout.leading_shape) + list(layout.spatial_shape)
    return tuple(inner), [-(-n // w) for n, w in zip(extents, inner, strict=True)]


def _window(pair: Any, p: int, position: tuple[int, ...], inner: tuple[int, ...]) -> _Window:
    """The window at grid ``position`` of training pair ``p``."""
    layout, lead_n = pair.layout, len(pair.layout.leading_axes)
    lead = tuple(position[:lead_n])
    outer, counted, within = [], [], []
    for k, n in enumerate(layout.spatial_shape):
        w = inner[lead_n + k]
        a = position[lead_n + k] * w
        b = min(n, a + w)
        lo, hi = max(0, a - MATCH_MARGIN), min(n, b + MATCH_MARGIN)
        outer.append(slice(lo, hi))
        counted.append(slice(a, b))
        within.append(slice(a - lo, b - lo))
    channel = None
    if layout.channel_axis is not None:  # its place among the axes the window keeps
        kept = [a for a in range(len(layout.shape)) if a not in layout.leading_axes]
        channel = kept.index(layout.channel_axis)
    return _Window(
        p,
        layout.index(lead, tuple(outer)),
        pair.lab_layout.index(lead, tuple(counted)),
        tuple(within),
        channel,
        math.prod(s.stop - s.start for s in outer),
        lead,
    )


def match_windows(
    pairs: list[Any], targets: Callable[[np.ndarray], np.ndarray], seed: int = 0
) -> list[_Window]:
    """Windows of the training images to match the threshold on, about
    :data:`MATCH_VOXELS` voxels in all: drawn at random among those with labelled pixels
    (a window's edge :data:`MATCH_WINDOW`, of which :data:`MATCH_MARGIN` pixels at each
    side are context, not counted). Empty when no window holds a labelled pixel."""
    grids = [_window_grid(pair.layout) for pair in pairs]
    counts = [math.prod(n) for _, n in grids]
    rng = np.random.default_rng(seed)
    chosen: list[_Window] = []
    voxels = 0
    for flat in rng.permutation(sum(counts)):
        p = int(np.searchsorted(np.cumsum(counts), flat, side="right"))
        inner, shape = grids[p]
        position = np.unravel_index(int(flat) - sum(counts[:p]), shape)
        window = _window(pairs[p], p, tuple(int(i) for i in position), inner)
        if voxels and voxels + window.voxels > MATCH_VOXELS:
            break
        labels = np.asarray(pairs[p].labels[window.labels])
        if (np.asarray(targets(labels.astype(np.int64))) >= 0).any():
            chosen.append(window)
            voxels += window.voxels
    return chosen


def _predicted(
    bundle: Any,
    pairs: list[Any],
    targets: Callable[[np.ndarray], np.ndarray],
    device: torch.device,
    batch: int,
    windows: list[Any] | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(probabilities, targets) of the training images: whole (``windows`` None) or
    window by window."""
    several = bundle.n_classes > 2

    def run(image: Any, channel_axis: int | None, normalizer: Any) -> np.ndarray:
        result = drain(
            predict_tiled(
                bundle,
                image,
                device=device,
                batch_size=batch,
                return_probabilities=True,
                class_probabilities=several,
                channel_axis=channel_axis,
                normalizer=normalizer,
            )
        )
        return result.probabilities

    if windows is None:
        for pair in pairs:
            labels = targets(np.asarray(pair.labels))
            yield run(pair.image, pair.layout.channel_axis, pair.normalizer), labels
        return
    for w in windows:
        pair = pairs[w.pair]
        window = np.asarray(pair.image[w.image])
        probabilities = run(window, w.channel_axis, pair.normalizer.at(w.lead))
        inner = (slice(None),) * (probabilities.ndim - len(w.inner)) + w.inner
        labels = np.asarray(pair.labels[w.labels]).astype(np.int64)
        yield probabilities[inner], targets(labels)


def match_threshold(
    bundle: Any,
    pairs: list[Any],
    targets: Callable[[np.ndarray], np.ndarray],
    device: torch.device,
    batch: int,
    seed: int = 0,
    windows: list[Any] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Predict the training images (or windows of them), fold the best threshold (two
    classes) or class biases (several) into ``bundle``'s network.

    ``pairs`` are the run's training pairs (image, labels, layout, normalizer) and
    ``targets`` maps their raw labels to class targets (0 = background, 1, 2, ... =
    object classes, -1 = unlabeled); ``seed`` draws the windows of large images, unless
    ``windows`` gives them (:func:`match_plan`'s).
    Returns the record for the model's history (None when nothing was matched) and a
    sentence for the user ("" when there is nothing to say).
    """
    k = bundle.n_classes
    if k < 2:
        return None, ""
    several = k > 2
    whole = _whole(pairs, k)
    if not whole and windows is None:
        windows = match_windows(pairs, targets, seed)
    counted = _voxels(pairs) if whole else MATCH_VOXELS
    agreement: Any = (
        _ClassAgreement(k, min(1.0, MAX_MATCH_PIXELS / max(counted, 1)))
        if several
        else _Agreement()
    )
    matched = 0
    predicted = _predicted(bundle, pairs, targets, device, batch, None if whole else windows)
    for probabilities, target in predicted:
        agreement.add(probabilities, target)
        matched += int(np.prod(np.shape(target)))
    if not matched:
        return None, ""
    record, message = _fold_biases(bundle, agreement) if several else _fold(bundle, agreement)
    if not whole:
        record["matched_voxels"] = matched
        if message:
            message += f" Chosen on random windows of the training images ({matched:,} voxels)."
    return record, message


def folded_anything(record: dict[str, Any] | None) -> bool:
    """Whether :func:`match_threshold`'s record says it changed the model."""
    if record is None:
        return False
    return record.get("threshold", 0.5) != 0.5 or any(record.get("class_biases", ()))


def _fold(bundle: Any, agreement: _Agreement) -> tuple[dict[str, Any], str]:
    """Fold the best threshold of a two-class model; its record and sentence."""
    t, dice, at_half = agreement.best()
    record = {"threshold": t, "label_dice": dice, "label_dice_at_half": at_half}
    if dice < MIN_MATCH_DICE:  # no threshold matches the labels: none is folded
        record["threshold"] = 0.5
        return record, ""
    if t == 0.5:
        return record, ""
    fold_threshold(bundle.network.head, t)
    return record, (
        f"Foreground threshold {t:.2f}: the model's objects match its training labels "
        f"best there (Dice {dice:.3f}, {at_half:.3f} at 0.5)."
    )


def _fold_biases(bundle: Any, agreement: _ClassAgreement) -> tuple[dict[str, Any], str]:
    """Fold the best class biases of a several-class model; its record and sentence."""
    biases, dice, unbiased = agreement.best()
    record = {
        "class_biases": [round(float(b), 2) for b in biases],
        "label_dice": dice,
        "label_dice_unbiased": unbiased,
    }
    if not biases.any():
        return record, ""
    fold_class_biases(bundle.network.head, biases)
    names = list(bundle.class_names)
    weights = ", ".join(
        f"{names[c] if c < len(names) else f'class {c}'} x{math.exp(b):.2f}"
        for c, b in enumerate(biases)
        if c and b
    )
    return record, (
        f"Class weights {weights}: the model's classes match its training labels best "
        f"with them (mean Dice {dice:.3f}, {unbiased:.3f} as trained)."
    )
