"""``evaluate``: voxel counts, then objects, boundaries and centerlines, into one result.

A generator (:func:`evaluate_iter`) like every long computation in ``core``: it yields
:class:`EvaluationProgress` records and returns an :class:`~.result.EvaluationResult`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..progress import drain, relay
from .columns import (
    COUNT_COLUMNS,
    OBJECT_COUNT_METRICS,
    OBJECT_METRICS,
    SHAPE_METRICS,
    VOXEL_METRICS,
)
from .counting import VoxelCounts, count_voxels, ratio_metrics
from .instances import PairReading, choose_reading
from .labels import check_pair, check_spacing, parse_class_names, parse_classes, shape_of
from .morphology import bounding_box
from .objects import ObjectScores, combine_scores, label_components, match_objects
from .result import SLICE_METRICS, EvaluationResult
from .surface import centerline_counts, cldice_of, hd95_assd, surface_distances


@dataclass
class EvaluationProgress:
    """Progress of :func:`evaluate_iter`: ``done`` percent (``total`` is 100), in ``stage``."""

    stage: str
    done: int
    total: int


@dataclass
class _ShapeScores:
    """Which whole-mask scores to compute per foreground class (dense mode only)."""

    objects: bool
    surface: bool
    centerline: bool
    connectivity: int
    iou_threshold: float
    spacing: tuple[float, ...]
    time_axis: int | None = None

    @property
    def any(self) -> bool:
        return self.objects or self.surface or self.centerline


def _nanmean(values: np.ndarray) -> float:
    finite_or_inf = values[~np.isnan(values)]
    return float(finite_or_inf.mean()) if finite_or_inf.size else math.nan


def _summaries(
    classes: dict[int, dict[str, float]],
    objects: dict[int, dict[str, float]],
    totals: dict[str, np.ndarray],
    class_ids: list[int],
) -> dict[str, dict[str, float]]:
    def mean_of(ids: list[int]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key in VOXEL_METRICS + SHAPE_METRICS:
            vals = np.array([classes[c][key] for c in ids], dtype=np.float64)
            out[key] = _nanmean(vals)
        for key in OBJECT_METRICS:
            vals = np.array([objects[c][key] for c in ids if c in objects], dtype=np.float64)
            if key in OBJECT_COUNT_METRICS:
                out[f"obj_{key}"] = int(vals.sum()) if vals.size else math.nan
            else:
                out[f"obj_{key}"] = _nanmean(vals)
        return out

    fg = [c for c in class_ids if c != 0]
    fg_pos = [i for i, c in enumerate(class_ids) if c != 0]
    micro_counts = {k: int(totals[k][fg_pos].sum()) for k in COUNT_COLUMNS} if fg else {}
    micro = (
        {**{k: float(v) for k, v in ratio_metrics(**micro_counts).items()}, **micro_counts}
        if fg
        else {}
    )
    return {
        "macro": mean_of(class_ids),
        "macro_foreground": mean_of(fg),
        "micro_foreground": micro,
    }


def _class_mask(labels: np.ndarray, cid: int, instances: bool) -> np.ndarray:
    """Voxels of class ``cid``; instance labels are all class 1."""
    if instances:
        return labels > 0 if cid == 1 else np.zeros(labels.shape, dtype=bool)
    return labels == cid


def _voxel_scores(
    counts: VoxelCounts, class_list: list[int]
) -> tuple[dict[int, dict[str, float]], dict[str, np.ndarray]]:
    """Per class: the voxel ratios, NaN shape scores (filled later) and the counts."""
    totals = counts.totals(class_list)
    ratios = ratio_metrics(**totals)
    per_class: dict[int, dict[str, float]] = {}
    for i, cid in enumerate(class_list):
        row = {k: float(ratios[k][i]) for k in VOXEL_METRICS}
        row.update({k: math.nan for k in SHAPE_METRICS})
        row.update({k: int(totals[k][i]) for k in COUNT_COLUMNS})
        per_class[cid] = row
    return per_class, totals


def _frames(array: np.ndarray, time_axis: int | None) -> list[np.ndarray]:
    """The parts scored on their own: each time point (views), or the whole array."""
    if time_axis is None:
        return [array]
    return [array[(slice(None),) * time_axis + (t,)] for t in range(array.shape[time_axis])]


@dataclass
class _ClassShapes:
    """One foreground class's objects, boundary distances and centerline counts, summed
    over the parts (time points) scored so far."""

    objects: list[ObjectScores] = field(default_factory=list)
    pred_to_gt: list[np.ndarray] = field(default_factory=list)
    gt_to_pred: list[np.ndarray] = field(default_factory=list)
    centerline: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    #: parts (time points) where only the ground truth / only the prediction has the class
    gt_only: list[int] = field(default_factory=list)
    pred_only: list[int] = field(default_factory=list)
    parts: int = 0

    def add(
        self,
        prediction: np.ndarray,
        ground_truth: np.ndarray,
        cid: int,
        reading: PairReading,
        wanted: _ShapeScores,
    ) -> Generator[str, None, None]:
        """Score one part; yields the name of each of its three stages once done (the
        progress bar moves within a class: a volume's class took one step of minutes)."""
        binarize = reading.binarize
        p_mask = _class_mask(prediction, cid, binarize[0])
        g_mask = _class_mask(ground_truth, cid, binarize[1])
        p_any, g_any = bool(p_mask.any()), bool(g_mask.any())
        if p_any != g_any:  # no boundary on one side: infinite distances
            (self.pred_only if p_any else self.gt_only).append(self.parts)
        self.parts += 1
        flat = [a for a, n in enumerate(p_mask.shape) if n == 1]  # (before the box)
        box = bounding_box(p_mask | g_mask)
        if box is not None:
            # The class's objects, boundaries and centerlines lie in this box: the work
            # is the box's, not the volume's for each class (346 instance ids read as
            # classes in a 64 x 512 x 512 pair took 264 s).
            p_mask, g_mask = p_mask[box], g_mask[box]
            prediction, ground_truth = prediction[box], ground_truth[box]
        if wanted.objects:
            # Instance labels are the objects; class masks are split into components.
            g_inst = (
                np.where(g_mask, ground_truth, 0)
                if binarize[1] and not reading.masks[1]
                else label_components(g_mask, wanted.connectivity)[0]
            )
            p_inst = (
                np.where(p_mask, prediction, 0)
                if binarize[0] and not reading.masks[0]
                else label_components(p_mask, wanted.connectivity)[0]
            )
            self.objects.append(match_objects(g_inst, p_inst, wanted.iou_threshold))
        yield "objects"
        if wanted.surface:
            spacing = wanted.spacing
            if wanted.time_axis is not None:
                spacing = spacing[: wanted.time_axis] + spacing[wanted.time_axis + 1 :]
            d_pg, d_gp = surface_distances(p_mask, g_mask, spacing, flat)
            self.pred_to_gt.append(d_pg)
            self.gt_to_pred.append(d_gp)
        yield "boundary distances"
        if wanted.centerline:
            self.centerline += centerline_counts(p_mask, g_mask)
        yield "centerlines"

    def one_sided_note(self, cid: int) -> list[str]:
        """Which time points made a class's distances infinite (the pooled table read
        "HD95 inf" and named none: time series bash); none when it has none."""
        sides = [
            f"time point{'s' * (len(parts) > 1)} {_listed(parts)} "
            f"{'has' if len(parts) == 1 else 'have'} it only in the {side}"
            for parts, side in ((self.gt_only, "ground truth"), (self.pred_only, "prediction"))
            if parts
        ]
        if not sides:
            return []
        # (a ground truth drawn on every other frame scored the others as all wrong
        # without a hint; movies bash)
        unannotated = (
            " If the ground truth was not drawn on those time points, score the ones it was "
            "drawn on alone (the same time points of both)."
            if self.pred_only
            else ""
        )
        return [
            f"Class {cid}'s HD95 and ASSD are infinite: {' and '.join(sides)} "
            f"(no boundary on the other side to measure from).{unannotated}"
        ]

    def into(self, row: dict[str, float], wanted: _ShapeScores) -> dict[str, float] | None:
        """Write the distances and clDice into the class's ``row``; return the objects."""
        if wanted.surface:
            row["hd95"], row["assd"] = hd95_assd(
                np.concatenate(self.pred_to_gt), np.concatenate(self.gt_to_pred)
            )
        if wanted.centerline:
            row["cldice"] = cldice_of(self.centerline)
        return combine_scores(self.objects).to_dict() if wanted.objects else None


def _listed(parts: list[int], most: int = 8) -> str:
    """``"3"``, ``"1, 4"``, ``"0, 1, 2, ... (12 in all)"``."""
    shown = ", ".join(str(p) for p in parts[:most])
    return shown if len(parts) <= most else f"{shown}, ... ({len(parts)} in all)"


def _shape_scores(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    reading: PairReading,
    fg: Sequence[int],
    wanted: _ShapeScores,
    per_class: dict[int, dict[str, float]],
    share: int,
    notes: list[str],
) -> Generator[EvaluationProgress, None, dict[int, dict[str, float]]]:
    """Objects, boundary distances and clDice of each foreground class (into ``per_class``),
    over the whole array or each time point on its own (``wanted.time_axis``; ``notes``
    gets the time points that made a class's distances infinite).

    Yields progress from ``share`` to 100 percent; returns the object scores per class.
    """
    parts = list(
        zip(_frames(prediction, wanted.time_axis), _frames(ground_truth, wanted.time_axis))
    )
    object_scores: dict[int, dict[str, float]] = {}
    steps = len(fg) * len(parts)
    for step, cid in enumerate(fg):
        shapes = _ClassShapes()
        for i, (p_part, g_part) in enumerate(parts):
            for k, stage in enumerate(shapes.add(p_part, g_part, cid, reading, wanted), 1):
                done = share + int((100 - share) * (step * len(parts) + i + k / 3) / steps)
                yield EvaluationProgress(f"{stage} of class {cid}", done, 100)
        scores = shapes.into(per_class[cid], wanted)
        if scores is not None:
            object_scores[cid] = scores
        if wanted.surface and wanted.time_axis is not None:
            notes.extend(shapes.one_sided_note(cid))
    return object_scores


def _checked_time_axis(time_axis: Any, ndim: int) -> int | None:
    """``time_axis`` as a non-negative index, or None; one sentence when it cannot be."""
    if time_axis is None:
        return None
    if isinstance(time_axis, bool) or not isinstance(time_axis, (int, np.integer)):
        raise ValueError(f"time_axis must be an axis number, got {time_axis!r}.")
    if ndim < 3:
        raise ValueError(
            f"A time axis needs labels of at least 3 dimensions (time and a plane), got {ndim}."
        )
    if not -ndim <= time_axis < ndim:
        raise ValueError(f"time_axis {time_axis} is not an axis of {ndim}-dimensional labels.")
    return int(time_axis) % ndim


#: Said where the ground truth's values are the prediction's plus one (:func:`_one_above`).
ONE_ABOVE_NOTE = (
    "The ground truth's values are the prediction's plus one (its 1 lies where the "
    "prediction's 0 is, its 2 where the prediction's 1 is, ...): it looks numbered as "
    "Fine-tune's strokes are, where 1 paints the background and k paints class k - 1; "
    "subtract one from its values (its 1 made 0) to score it against these labels."
)

#: Voxels at most that :func:`_one_above` reads (strided).
SHIFT_SAMPLE = 1 << 20


def _one_above(prediction: Any, ground_truth: Any) -> bool:
    """Whether every value of the prediction (each on at least 0.5 % of a strided sample,
    two or more of them) lies under the ground truth's value one above (80 % of it): a
    reference numbered like the strokes (1 = background) scored Dice 0.012 against its
    model's labels, with no word (classes bash)."""
    if not isinstance(prediction, np.ndarray) or not isinstance(ground_truth, np.ndarray):
        return False  # (lazy labels are streamed in slabs: not read a second time)
    shape = shape_of(prediction)
    step = max(1, round((math.prod(shape) / SHIFT_SAMPLE) ** (1 / len(shape))))
    index = tuple(slice(None, None, step) for _ in shape)
    p = np.asarray(prediction[index]).ravel()
    g = np.asarray(ground_truth[index]).ravel()
    if p.size == 0 or p.dtype.kind not in "biu" or g.dtype.kind not in "biu":
        return False
    values, counts = np.unique(p, return_counts=True)
    values = values[counts >= 0.005 * p.size]
    if len(values) < 2:
        return False
    for v in values:
        under = g[p == v]
        if np.count_nonzero(under == int(v) + 1) < 0.8 * under.size:
            return False
    return True


def _per_slice(counts: VoxelCounts, fg: list[int], ndim: int) -> dict[int, dict] | None:
    """The scores of each slice along the first axis per foreground class (3D and more):
    :data:`~.result.SLICE_METRICS`, one value per slice."""
    if ndim < 3 or not fg:
        return None
    confusion = counts.per_slice(fg)
    scores = {**ratio_metrics(**confusion), **confusion}
    return {cid: {k: scores[k][:, i] for k in SLICE_METRICS} for i, cid in enumerate(fg)}


def _with_percent(
    counting: Generator[tuple[int, int], None, VoxelCounts], share: int
) -> Generator[EvaluationProgress, None, VoxelCounts]:
    """The counting pass, its (chunks done, total) turned into percent of the evaluation."""
    return (
        yield from relay(
            counting, lambda r: EvaluationProgress("counting voxels", share * r[0] // r[1], 100)
        )
    )


def evaluate_iter(
    prediction: Any,
    ground_truth: Any,
    *,
    mode: str = "dense",
    spacing: Sequence[float] | None = None,
    objects: bool = True,
    classes: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    instances: str = "auto",
    surface: bool | None = None,
    centerline: bool | None = None,
    connectivity: int = 1,
    return_errors: bool = False,
    unit: str | None = None,
    time_axis: int | None = None,
    class_names: Any = None,
) -> Generator[EvaluationProgress, None, EvaluationResult]:
    """Generator form of :func:`evaluate`: yields progress records, returns the result."""
    names = parse_class_names(class_names)  # checked before any work
    check_pair(prediction, ground_truth, mode)
    shape = shape_of(prediction)
    spacing_t = check_spacing(spacing, len(shape))
    time_axis = _checked_time_axis(time_axis, len(shape))
    number = isinstance(iou_threshold, numbers.Real) and not isinstance(iou_threshold, bool)
    if not number or not 0 < iou_threshold <= 1:  # "a": "'<' not supported between ..."
        raise ValueError(f"The IoU threshold must be in (0, 1], got {iou_threshold!r}.")
    wanted = _ShapeScores(
        objects=objects,
        surface=objects if surface is None else surface,
        centerline=objects if centerline is None else centerline,
        connectivity=connectivity,
        iou_threshold=float(iou_threshold),
        spacing=spacing_t,
        time_axis=time_axis,
    )
    class_list = parse_classes(classes)
    notes: list[str] = []
    if wanted.any and mode == "sparse":
        notes.append(
            "Scribbles (sparse ground truth) have no whole objects or boundaries: "
            "object, boundary and clDice scores were not computed."
        )
        wanted.objects = wanted.surface = wanted.centerline = False
    if wanted.any and time_axis is not None:
        notes.append(
            f"Objects, boundary distances and clDice were measured in each time point "
            f"(axis {time_axis}) on its own and pooled over its {shape[time_axis]} time "
            "points: an object in several frames counts in each."
        )
    joined = [a for a in range(len(shape) - 3) if shape[a] > 1]  # past Z, Y, X
    if wanted.any and time_axis is None and joined:  # (5D bug bash: no word)
        axes = " and ".join(map(str, joined))
        notes.append(
            f"The labels have {len(shape)} axes and none was named time: objects, boundary "
            f"distances and clDice were measured with axis {axes} joined like space (an "
            "object in two frames is one); for a time series, name its time axis "
            "(time_axis= in Python, --time-axis on the command line, an axis labelled t in "
            "napari)."
        )
    if wanted.any:
        # Objects and distances need whole volumes; voxel counts alone never do.
        prediction = np.asarray(prediction)
        ground_truth = np.asarray(ground_truth)
    reading = choose_reading(prediction, ground_truth, mode, instances, class_list, time_axis)
    # (whatever "auto" guessed: a binary model's 0 / 1 against a 1 / 2 reference was
    # read as instances, and nothing was said; review)
    guessed = instances in ("auto", "none") or not any(reading.binarize)
    if mode == "dense" and guessed and _one_above(prediction, ground_truth):
        notes.append(ONE_ABOVE_NOTE)  # (in place of "another id on each side"; it is why)
    elif reading.note:
        notes.append(reading.note)

    # Progress is in percent of the whole run; object and distance scores take most time.
    share = 10 if wanted.any else 100
    errors = np.zeros(shape, dtype=np.uint8) if return_errors else None
    counting = count_voxels(prediction, ground_truth, reading, errors, class_list)
    counts = yield from _with_percent(counting, share)

    if class_list is None:
        present = (counts.pred.sum(0) + counts.gt.sum(0)) > 0
        class_list = sorted({0} | {int(c) for c in np.flatnonzero(present)})
    per_class, totals = _voxel_scores(counts, class_list)
    if mode == "sparse" and int(counts.scored.sum()) == 0:
        notes.append("The ground truth has no labeled voxels: nothing could be scored.")

    fg = [c for c in class_list if c != 0]
    object_scores: dict[int, dict[str, float]] = {}
    if wanted.any and fg:
        object_scores = yield from _shape_scores(
            prediction, ground_truth, reading, fg, wanted, per_class, share, notes
        )
    if object_scores and len(fg) > 1 and not any(reading.binarize):
        notes.append(
            "With several classes, the objects are the connected regions of each class: "
            "for tissues or regions rather than things to count, read Dice and IoU."
        )
    yield EvaluationProgress("done", 100, 100)
    slices = _per_slice(counts, fg, len(shape))
    return EvaluationResult(
        mode=mode,
        shape=shape,
        spacing=wanted.spacing,
        iou_threshold=wanted.iou_threshold,
        classes=per_class,
        summary=_summaries(per_class, object_scores, totals, class_list),
        objects=object_scores,
        per_slice_dice=None if slices is None else {c: v["dice"] for c, v in slices.items()},
        per_slice=slices,
        notes=notes,
        unit=unit,
        errors=errors,
        time_axis=time_axis,
        class_names=names,
    )


def evaluate(prediction: Any, ground_truth: Any, **options: Any) -> EvaluationResult:
    """Score a label prediction against ground truth.

    Parameters
    ----------
    prediction, ground_truth : array-like
        Integer label arrays of the same shape (2D, 3D or more; numpy, memmap, zarr or
        dask). Voxel counts are read chunk by chunk; object, boundary and clDice scores
        load both volumes into memory (pass ``objects=False`` for volumes larger than
        memory).
    mode : {'dense', 'sparse'}
        Dense: ground truth 0 = background, k = class k. Sparse (scribbles): 0 =
        unlabeled and not scored, 1 = background, k + 1 = class k.
    spacing : sequence of float, optional
        Physical voxel size per axis for the boundary distances (default 1).
    objects : bool
        Compute object matching, HD95 / ASSD and clDice per foreground class (dense
        mode only; ``surface`` and ``centerline`` override the last two).
    classes : iterable of int, optional
        Class ids to report (default: background and every label present). They only
        choose the rows: how the labels are read (classes or instances) does not depend
        on them. A listed class that does not exist because its side is read as instance
        labels of one class (class 1) is a ValueError; other absent classes get NaN.
    iou_threshold : float
        Minimum IoU of an object match (default 0.5).
    instances : {'auto', 'none', 'ground_truth', 'prediction', 'both'}
        Which side holds instance labels (each object its own id): those are scored as
        one foreground class and their ids are used as the objects. ``'auto'`` takes the
        side with labels above 1 when the other side is binary (0/1), and both sides
        when both have more than ``MIN_INSTANCES`` labels whose ids mostly disagree
        where both are foreground, or when many of the regions that match one to one
        (IoU above 0.5) carry other ids on the two sides (class ids mean the same on both
        sides; instance ids from two sources do not: one extra object shifts the ids of
        every later one). Fewer labels stay classes, with a note when regions match
        under other ids. It says so in ``result.notes``. More than ``MAX_CLASSES`` class ids without
        ``classes`` is a ValueError.
    connectivity : int
        Neighbourhood of the connected components (1 = faces).
    return_errors : bool
        Also compute the error overlay (``result.errors``, see :func:`error_map`).
    unit : str, optional
        Name of the spacing unit, for display.
    time_axis : int, optional
        The axis of time points (a time series of planes or volumes): objects, boundary
        distances and clDice are then measured in each time point on its own and pooled
        (an object seen in five frames counts five times; no distance is measured across
        time; a time point where only one side has the class gives infinite distances).
        Voxel scores do not depend on it.

    Returns
    -------
    EvaluationResult
    """
    return drain(evaluate_iter(prediction, ground_truth, **options))
