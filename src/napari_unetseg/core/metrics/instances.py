"""How to read a (prediction, ground truth) pair: classes, or instance labels of one class.

Instance labels (each object its own id) are scored as one foreground class and their
ids are used as the objects. ``instances='auto'`` decides from one read pass over the
data (:func:`choose_reading`); the rules are in :func:`_guess_instances`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .labels import chunks, read_labels, shape_of

#: More class ids than this are refused unless the classes are listed: they are
#: instance labels (one id per object) that need ``instances=...``.
MAX_CLASSES = 1024

#: ``instances='auto'`` reads two non-binary label sets as instances only when both have
#: more labels than this (and their ids disagree): few labels are classes.
MIN_INSTANCES = 5
#: Scribble values from this many on look like a mask of objects (one id each) rather
#: than strokes of classes, which people paint a few of.
MANY_SCRIBBLE_VALUES = 16

#: Below this share of neighbouring foreground pixels (along the last axis) holding the
#: same value, a side with many values is said to look like an intensity image: label
#: images of the benchmark's real cases hold 0.73-0.94, their raw images 0.01-0.57 (8-bit
#: images with plateaus are the high ones), a 4D light-sheet image 0.73.
MIN_SAME_NEIGHBOURS = 0.3
#: ... and only when it holds at least this many different foreground values (the raw
#: images: 166-9,842), so labels with a few classes and a stray id are not taken for one.
MIN_IMAGE_VALUES = 64
#: The share is counted on every this-many-th row (it is a statistic of the whole image;
#: all rows made the check pass over the labels about half as long again).
NEIGHBOUR_ROW_STEP = 4

#: ``instances='auto'``: many labels are read as instances when at least this share of
#: the ground truth's regions that one predicted region matches (IoU above 0.5) carry
#: another id there (and at least two do): class ids mean the same on both sides, the
#: ids two sources give the same objects do not (one extra object shifted the ids of
#: every later one: 14 nuclei found at Dice 0.999 scored 0.60 as 15 classes).
MIN_RENAMED_SHARE = 0.2

INSTANCE_MODES = ("auto", "none", "ground_truth", "prediction", "both")

_BINARIZE = {
    "none": (False, False),
    "ground_truth": (False, True),
    "prediction": (True, False),
    "both": (True, True),
}


@dataclass(frozen=True)
class PairReading:
    """How to read a (prediction, ground truth) pair, decided by :func:`choose_reading`.

    ``binarize``: sides holding instance labels, counted as one foreground class.
    ``width``: class ids 0..width-1 are counted; larger labels (only possible when the
    caller listed the classes) share the last bin, which is never reported.
    ``per_slice``: keep counts per slice along the first axis (3D and more).
    ``note``: what ``instances='auto'`` decided, for the user (None when nothing).
    ``masks``: binarized sides that are masks of one value (0 / 255): their objects are
    connected components, not one object per value.
    """

    mode: str
    binarize: tuple[bool, bool]
    width: int
    per_slice: bool
    note: str | None = None
    masks: tuple[bool, bool] = (False, False)

    def class_ids(
        self, p: np.ndarray, g: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Map a raw (prediction, ground truth) chunk to comparable class ids.

        Returns the prediction, the ground truth in class ids, and the scored-voxel mask
        (None in dense mode: every voxel is scored).
        """
        if self.binarize[0]:
            p = (p > 0).astype(np.int64)
        if self.binarize[1]:
            g = (g > 0).astype(np.int64)
        scored = None
        if self.mode == "sparse":
            scored = g > 0
            g = np.where(scored, g - 1, 0)
        top = self.width - 1
        return np.minimum(p, top, out=p), np.minimum(g, top, out=g), scored


@dataclass
class _Scan:
    """What one read pass over a (prediction, ground truth) pair found."""

    p_max: int = 0  # the largest label of each side
    g_max: int = 0
    overlap: int = 0  # voxels foreground in both
    agree: int = 0  # ... that carry the same label on both sides
    one_value: tuple[bool, bool] = (False, False)  # foreground a single value above 1
    #: per side: neighbours along the last axis with at least one foreground, and how
    #: many of them hold the same value (labels are regions of one value, images are
    #: not), on every NEIGHBOUR_ROW_STEP-th row
    pairs: tuple[int, int] = (0, 0)
    same: tuple[int, int] = (0, 0)

    def same_share(self, side: int) -> float | None:
        return self.same[side] / self.pairs[side] if self.pairs[side] else None


def _scan(prediction: Any, ground_truth: Any) -> _Scan:
    """One chunked pass over both arrays, checking their labels (see :class:`_Scan`)."""
    scan = _Scan()
    lowest = [None, None]  # the smallest foreground value of each side
    pairs, same = [0, 0], [0, 0]
    for sl in chunks(shape_of(prediction)):
        p = read_labels(prediction, sl, "prediction")
        g = read_labels(ground_truth, sl, "ground truth")
        scan.p_max = max(scan.p_max, int(p.max(initial=0)))
        scan.g_max = max(scan.g_max, int(g.max(initial=0)))
        for side, labels in enumerate((p, g)):
            fg = labels[labels > 0]
            if fg.size:
                low = int(fg.min())
                lowest[side] = low if lowest[side] is None else min(lowest[side], low)
            rows = labels[..., ::NEIGHBOUR_ROW_STEP, :] if labels.ndim > 1 else labels
            a, b = rows[..., 1:], rows[..., :-1]
            pairs[side] += int(np.count_nonzero((a > 0) | (b > 0)))
            same[side] += int(np.count_nonzero((a == b) & (a > 0)))
        both = (p > 0) & (g > 0)
        scan.overlap += int(np.count_nonzero(both))
        scan.agree += int(np.count_nonzero(both & (p == g)))
    scan.one_value = (
        scan.p_max > 1 and lowest[0] == scan.p_max,
        scan.g_max > 1 and lowest[1] == scan.g_max,
    )
    scan.pairs, scan.same = (pairs[0], pairs[1]), (same[0], same[1])
    return scan


def renamed_matches(
    prediction: Any, ground_truth: Any, scan: _Scan, time_axis: int | None = None
) -> tuple[int, int]:
    """(renamed, matched): how many ground-truth regions one predicted region matches
    with an IoU above 0.5 (one to one), and how many of those carry another id there;
    in each time point on its own where ``time_axis`` is given (ids numbered on through
    a series, 1-15 over three frames of ids 1-5, matched nothing pooled; 5D bug bash).

    A second pass over the data, only where ``instances='auto'`` needs it: several ids
    on both sides, at most :data:`MAX_CLASSES`, and not already told apart by the
    share of agreeing pixels.
    """
    p_max, g_max = scan.p_max, scan.g_max
    many_disagree = min(p_max, g_max) > MIN_INSTANCES and scan.agree < scan.overlap / 2
    if min(p_max, g_max) < 2 or max(p_max, g_max) > MAX_CLASSES or many_disagree:
        return 0, 0
    shape = shape_of(prediction)
    frames = [None] if time_axis is None else list(range(shape[time_axis]))
    renamed = matched = 0
    for frame in frames:
        width = g_max + 1
        counts = np.zeros((p_max + 1) * width, np.int64)
        for index in _frame_chunks(shape, time_axis, frame):
            p = read_labels(prediction, index, "prediction").astype(np.int64, copy=False)
            g = read_labels(ground_truth, index, "ground truth").astype(np.int64)
            counts += np.bincount(p.ravel() * width + g.ravel(), minlength=counts.size)
        table = counts.reshape(p_max + 1, width)
        area_p, area_g = table.sum(1)[1:], table.sum(0)[1:]
        best = table[1:, 1:].argmax(0)  # for each ground-truth id, its largest overlap
        inter = table[1:, 1:][best, np.arange(g_max)]
        found = (area_g > 0) & (2 * inter > area_p[best] + area_g - inter)  # IoU above 0.5
        renamed += int((found & (best != np.arange(g_max))).sum())
        matched += int(found.sum())
    return renamed, matched


def _frame_chunks(shape: tuple[int, ...], time_axis: int | None, frame: int | None) -> Any:
    """Indices of the row chunks (:func:`chunks`) of the whole array, or of one time
    point ``frame`` of it along ``time_axis``."""
    if time_axis is None or frame is None:
        yield from chunks(shape)
        return
    rest = tuple(n for a, n in enumerate(shape) if a != time_axis)
    first = 1 if time_axis == 0 else 0  # the first axis besides time
    for sl in chunks(rest):
        index: list[Any] = [slice(None)] * len(shape)
        index[time_axis], index[first] = frame, sl
        yield tuple(index)


def _looks_like_an_image(array: Any, side: int, scan: _Scan) -> float | None:
    """The share of neighbouring foreground pixels holding the same value, when a side
    looks like an intensity image: below :data:`MIN_SAME_NEIGHBOURS`, with at least
    :data:`MIN_IMAGE_VALUES` different values (read again, only then); else None."""
    share = scan.same_share(side)
    if share is None or share >= MIN_SAME_NEIGHBOURS:
        return None
    name = ("prediction", "ground truth")[side]
    seen: set[int] = set()
    for sl in chunks(shape_of(array)):
        seen.update(np.unique(read_labels(array, sl, name)).tolist())
        if len(seen) > MIN_IMAGE_VALUES:  # 0 and that many foreground values
            return share
    return None


def _image_note(prediction: Any, ground_truth: Any, scan: _Scan) -> str | None:
    """A sentence for each side that looks like an intensity image."""
    notes = []
    for side, (name, array) in enumerate(
        (("prediction", prediction), ("ground truth", ground_truth))
    ):
        share = _looks_like_an_image(array, side, scan)
        if share is not None:
            notes.append(
                f"The {name} looks like an intensity image rather than labels: only "
                f"{share:.0%} of its neighbouring foreground pixels share a value (most do "
                "in label images); check that the right layer or file was given."
            )
    return " ".join(notes) or None


def _guess_instances(
    mode: str,
    p_max: int,
    g_max: int,
    overlap: int,
    agree: int,
    one_value: tuple[bool, bool] = (False, False),
    renamed: tuple[int, int] = (0, 0),
) -> tuple[tuple[bool, bool], str | None]:
    """``instances='auto'``: which side(s) look like instance labels (see ``evaluate``).

    ``g_max`` is the largest ground-truth class id (scribble value - 1 in sparse mode);
    ``one_value``: a side whose foreground is that one id; ``renamed``: regions matched
    one to one under another id, and regions matched (:func:`renamed_matches`).
    """
    done = "read as object instances of one foreground class (class 1)"
    if mode == "sparse":
        if g_max == 1 < p_max:  # (no scribbles at all said "one class"; Validate bug bash)
            return (True, False), (
                f"The scribbles have one class and the prediction has labels up to {p_max}: "
                f"predicted labels were {done}."
            )
        if g_max >= MANY_SCRIBBLE_VALUES:  # an instance mask scored as strokes: an id a class
            return (False, False), (
                f"The scribbles use values up to {g_max + 1}, as a mask of objects does (one id "
                "each): if the ground truth is complete masks, score it as dense "
                "(mode='dense', --mode dense, Validate's 'Labels are: Dense masks')."
            )
        return (False, False), None
    # A binary mask against many labels: the many labels are instances (each nucleus its
    # own id), not classes; scoring them as classes would be meaningless. A few labels may
    # be classes instead (a semantic model that misses one): the note says how to score
    # them so. One id alone, and a few, is a class (class 2 predicted as class 1 scored a
    # perfect Dice as "one object"): instance ids start at 1.
    for side, (binary, top) in enumerate(((g_max, p_max), (p_max, g_max))):
        if not binary <= 1 < top:
            continue
        if binary == 0 and top <= MIN_INSTANCES:
            # an empty side says nothing of the other's ids: a few are classes, each
            # scored Dice 0 (an empty prediction merged two classes into one; Validate
            # bug bash)
            return (False, False), None
        name, other = ("prediction", "ground truth")[side], ("ground truth", "prediction")[side]
        if one_value[side] and top <= MIN_INSTANCES:
            return (False, False), (
                f"The {name} holds one label, {top}: read as class {top}; if it is a mask "
                f"of objects, say so (instances='{('prediction', 'ground_truth')[side]}', "
                "--instances, Validate's 'Instances in')."
            )
        binarize = (True, False) if side == 0 else (False, True)
        # (an empty side was called "binary"; Validate bash)
        state = "is empty (no foreground)" if binary == 0 else "is binary"
        joined = ""
        if side == 0 and binary:  # (a split prediction read F1 0.69 for 0.96; split bash)
            joined = (
                " The ground truth's objects are its connected regions, which join "
                "touching objects: object scores count a split prediction's objects there "
                "as split (score against one label per object, or read Dice and IoU)."
            )
        return binarize, (
            f"The {other} {state} and the {name} has labels up to {top}: "
            f"{('predicted', 'ground-truth')[side]} labels were {done}" + _if_classes(top) + joined
        )
    # Class ids mean the same on both sides; instance ids from two sources do not. So
    # many labels that mostly disagree where both sides are foreground are instances.
    many = min(p_max, g_max) > MIN_INSTANCES
    disagree = overlap > 0 and agree < overlap / 2
    if many and disagree:
        share = f"{100 * agree / overlap:.0f}%" if overlap else "none"
        return (True, True), (
            f"Both have many labels (up to {p_max} and {g_max}) that rarely agree where both "
            f"are foreground ({share} of those pixels): both were {done}."
        )
    if many and max(p_max, g_max) > MAX_CLASSES:  # they may agree: ids, not how many
        return (True, True), (  # ("rarely agree ... (100% of those pixels)"; labels bash)
            f"Both have label ids past {MAX_CLASSES} (up to {p_max} and {g_max}), more "
            f"than a model's classes: both were {done}."
        )
    # The same regions under other ids: instance ids of two sources (a class predicted
    # as another would rarely cover it that well, nor for many classes at once).
    n_renamed, n_matched = renamed
    matched = f"{n_renamed} of the {n_matched} regions that match one to one (IoU above 0.5)"
    # many labels, or many regions matched (5 ids a frame over three frames: 15)
    if (many or n_matched > MIN_INSTANCES) and n_renamed >= max(2, MIN_RENAMED_SHARE * n_matched):
        return (True, True), (
            f"Both have many labels (up to {p_max} and {g_max}), and {matched} carry "
            f"another id on each side, as object ids from two sources do: both were {done}; "
            "if they are classes, score them as classes (instances='none', --instances none, "
            "Validate's 'Instances in: neither')."
        )
    if n_renamed:
        return (False, False), (
            f"Read as classes, but {matched} carry another id on each side: if the labels "
            "are objects rather than classes, score them as objects (instances='both', "
            "--instances both, Validate's 'Instances in: both')."
        )
    if many:  # ids that agree: classes of an atlas, or one tracking's object ids (a
        # prediction edited from a tracked ground truth was scored as 17 classes without
        # a word; movies bash)
        return (False, False), (
            f"Read as classes: both have labels up to {p_max} and {g_max}, which agree by "
            "id where both are foreground; if they are object ids (tracks, or one made from "
            "the other), score them as objects (instances='both', --instances both, "
            "Validate's 'Instances in: both')."
        )
    few, lots = min(p_max, g_max), max(p_max, g_max)
    if 2 <= few <= MIN_INSTANCES < lots:
        # a few classes against many labels: the many are likely objects, each scored as a
        # class of its own against the other side's classes (Dice 0.004 "mean of 22
        # classes" for a 3-class model against 21 nuclei; model bug bash); said, not
        # guessed, as a few classes against a many-class atlas are classes too
        side = ("prediction", "ground_truth")[int(g_max > p_max)]
        name = side.replace("_", " ")
        return (False, False), (
            f"Read as classes, but the {name} has labels up to {lots} and the other side up "
            f"to {few}: if the {name} holds one id per object, score it as objects "
            f"(instances='{side}', --instances {side}, Validate's 'Instances in: {name}')."
        )
    return (False, False), None


def _if_classes(top: int) -> str:
    """The end of an auto-reading note: how to score a few labels as classes."""
    if top > MIN_INSTANCES:
        return "."
    return (
        "; if they are classes, score them as classes (instances='none', --instances "
        "none, Validate's 'Instances in: neither')."
    )


def _check_listed(classes: Sequence[int], binarize: tuple[bool, bool], top: int) -> None:
    """Listed classes that do not exist because a side is read as instances: refused.

    Instance labels are all class 1, so their ids (2, 3, ...) are no classes; a class
    absent under a class reading is reported as absent (NaN scores) instead.
    """
    top = max(top, 1)  # class 1 exists under an instance reading, even with no objects
    missing = [c for c in classes if c > top]
    if not missing or not any(binarize):
        return
    sides = [name for name, b in zip(("prediction", "ground truth"), binarize) if b]
    ids = ", ".join(map(str, missing))
    listed = f"is no class {ids}" if len(missing) == 1 else f"are no classes {ids}"
    known = "0 and 1" if top == 1 else f"0 to {top}"
    raise ValueError(
        f"The {' and the '.join(sides)} {'is' if len(sides) == 1 else 'are'} read as object "
        f"instances of one foreground class (class 1), so there {listed}: list "
        f"classes {known} only, or say the labels are classes too (instances='none', "
        "--instances none, beside the classes listed)."
    )


def choose_reading(
    prediction: Any,
    ground_truth: Any,
    mode: str,
    instances: str,
    classes: Sequence[int] | None,
    time_axis: int | None = None,
) -> PairReading:
    """Check labels and options and decide how to count (one read pass over the data)."""
    if instances not in INSTANCE_MODES:
        raise ValueError(f"instances must be one of {INSTANCE_MODES}, got {instances!r}.")
    if mode == "sparse" and instances in ("ground_truth", "both"):
        raise ValueError("Scribbles (sparse ground truth) cannot be instance labels.")
    scan = _scan(prediction, ground_truth)
    p_max, g_max, one_value = scan.p_max, scan.g_max, scan.one_value
    g_cls = max(g_max - 1, 0) if mode == "sparse" else g_max
    note = None
    masks = (False, False)
    # ``classes`` only chooses the rows to report: the reading never depends on it.
    # a mask of one value (0 / 255 from an image file); a few-valued one is a class id
    big_one = (one_value[0] and p_max > MIN_INSTANCES, one_value[1] and g_max > MIN_INSTANCES)
    if instances != "auto":
        binarize = _BINARIZE[instances]
    elif mode == "dense" and any(big_one):
        # a mask of one value (0 / 255 from an image file) is one foreground class whose
        # objects are its connected components, whatever the other side holds
        masks = big_one
        sides = [name for name, m in zip(("prediction", "ground truth"), masks) if m]
        values = sorted({v for v, m in zip((p_max, g_max), masks, strict=True) if m})
        p_guess, g_guess = (1 if m else v for m, v in zip(masks, (p_max, g_cls), strict=True))
        binarize, note = _guess_instances(
            mode, p_guess, g_guess, scan.overlap, scan.agree, one_value
        )
        binarize = (binarize[0] or masks[0], binarize[1] or masks[1])
        note = (
            f"The {' and the '.join(sides)} {'is a mask' if len(sides) == 1 else 'are masks'} "
            f"of one value ({', '.join(map(str, values))}): read as one foreground class "
            "whose objects are its connected pieces." + (f" {note}" if note else "")
        )
    else:
        binarize, note = _guess_instances(
            mode,
            p_max,
            g_cls,
            scan.overlap,
            scan.agree,
            one_value if mode == "dense" else (False, False),
            renamed_matches(prediction, ground_truth, scan, time_axis)
            if mode == "dense"
            else (0, 0),
        )
    p_top = min(p_max, 1) if binarize[0] else p_max
    g_top = min(g_cls, 1) if binarize[1] else g_cls
    top = max(p_top, g_top)
    if classes is not None:
        _check_listed(classes, binarize, top)
        top = min(top, max(classes, default=0) + 1)
    elif top > MAX_CLASSES:
        side = "prediction" if p_top >= g_top else "ground truth"
        array = prediction if side == "prediction" else ground_truth
        share = _looks_like_an_image(array, 0 if side == "prediction" else 1, scan)
        if share is not None:
            raise ValueError(
                f"The {side} looks like an intensity image rather than labels (values up to "
                f"{top}; only {share:.0%} of its neighbouring foreground pixels share a "
                "value): check that the right layer or file was given (if it does hold instance "
                "labels, one id per object, say so with instances=..., --instances)."
            )
        raise ValueError(
            f"The {side} has labels up to {top}, too many to score as classes: if they "
            "are instance labels (one id per object), say which side holds instances "
            "(instances=..., --instances); to score them as classes, list the ones to "
            "score as well (--instances none --classes ID ...; instances='none', "
            "classes=[...])."
        )
    image = _image_note(prediction, ground_truth, scan)
    if image is not None:
        note = f"{image} {note}" if note else image
    ndim = len(shape_of(prediction))
    return PairReading(mode, binarize, top + 1, per_slice=ndim >= 3, note=note, masks=masks)
