"""Labels: reading and checking them, the class map, the label index, trainability rules.

Label modes (see docs/architecture.md): ``'sparse'``: 0 = not painted (ignored), 1 = background,
``k >= 2`` = class ``k - 1``. ``'dense'``: 0 = background, ``k`` = class ``k``; when the
model has one foreground class every value > 0 is that class (instance masks are used as
they are).

The engine reads labels band by band (:func:`_bands`), never a whole volume as int64.
:func:`label_counts` and :func:`problem_with` are the quick checks the Fine-tune widget
runs on every stroke (numpy only); the engine's own checks (:func:`_map_classes`,
:func:`_present_classes`) run when training starts, on any array-like.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..guards import MAX_CLASSES, check_class_count, check_id_range
from ..normalize import Layout, Normalizer, resolve_layout, single_value

LABEL_MODES = ("sparse", "dense")
#: Sparse label value of background (0 = not painted, ``k >= 2`` = class ``k - 1``).
SPARSE_BACKGROUND = 1
#: Most classes scribbles may ask for (label values up to ``MAX_SCRIBBLE_CLASSES + 1``):
#: a larger value is a stray label or an instance mask, not a plan of classes.
MAX_SCRIBBLE_CLASSES = 64
#: Coordinates of labeled pixels kept per class for patch sampling.
MAX_COORDS_PER_CLASS = 200_000
#: Largest label value :func:`label_counts` counts with a bincount (beyond: np.unique).
_MAX_BINCOUNT = 1 << 16
#: Pixels :func:`label_counts` reads at once (a chunk without painted pixels is skipped).
COUNT_CHUNK = 1 << 20


# -- images and labels -----------------------------------------------------------------------
@dataclass
class _Pair:
    """One training image with its labels and the axes a model reads."""

    image: Any
    labels: Any
    layout: Layout  # of the image (channel axis, spatial axes, leading axes)
    lab_layout: Layout  # of the labels (same axes without the channel axis)
    normalizer: Normalizer | None = None

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.layout.spatial_shape


def training_dims(
    model: Any, images: Any, spatial_dims: int | None, channel_axis: int | None
) -> int:
    """The spatial dimensions a training run uses: the model's; else ``spatial_dims``;
    else 3 when the first image has three or more non-channel axes, 2 otherwise."""
    if model is not None:
        return int(model.spatial_dims)
    if spatial_dims:
        return int(spatial_dims)
    first = as_list(images)[0]
    return 3 if len(first.shape) - (channel_axis is not None) >= 3 else 2


def training_pairs(
    model: Any, images: Any, labels: Any, spatial_dims: int | None, channel_axis: int | None
) -> tuple[int, int, list[_Pair]]:
    """The spatial dimensions and input channels a run uses, and its image / label pairs,
    their shapes checked (one sentence when wrong): what a run starts with, and what the
    forest teacher is checked with before it runs (a 2D pair listed after a 3D one, or
    labels of one frame of a series, failed with numpy's words after it; train bug bash)."""
    sd = training_dims(model, images, spatial_dims, channel_axis)
    if model is not None:
        in_ch = int(model.in_channels)
    else:
        first = as_list(images)[0]
        in_ch = 1 if channel_axis is None else int(first.shape[channel_axis])
    return sd, in_ch, _pairs(images, labels, sd, in_ch, channel_axis)


def as_list(x: Any) -> list[Any]:
    """One array or a list / tuple of them, as a list."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_labels_dtype(labels: Any, i: int) -> None:
    kind = np.dtype(labels.dtype).kind
    if kind not in "biuf":
        raise ValueError(f"Labels {i + 1} have dtype {labels.dtype}; integer labels are needed.")


def check_pair_count(images: Any, labels: Any) -> None:
    """One sentence where the images and labels are not one labels array per image."""
    images, labels = as_list(images), as_list(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"Got {len(images)} image(s) but {len(labels)} labels array(s); give one labels "
            "array per image."
        )


def _pairs(
    images: Any, labels: Any, spatial_dims: int, in_channels: int, channel_axis: int | None
) -> list[_Pair]:
    """Match images with labels and check their shapes (one clear sentence when wrong)."""
    check_pair_count(images, labels)
    images, labels = as_list(images), as_list(labels)
    if not images:
        raise ValueError("No training images were given.")
    pairs = []
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        if not hasattr(img, "shape"):
            img = np.asarray(img)
        if not hasattr(lab, "shape"):
            lab = np.asarray(lab)
        _check_labels_dtype(lab, i)
        layout = resolve_layout(tuple(img.shape), spatial_dims, in_channels, channel_axis)
        if tuple(lab.shape) != layout.output_shape:
            which = f" (pair {i + 1})" if len(images) > 1 else ""
            raise ValueError(
                f"The labels{which} have shape {tuple(lab.shape)} but the image needs "
                f"{layout.output_shape}; labels must cover the image pixel for pixel."
            )
        lab_layout = resolve_layout(tuple(lab.shape), spatial_dims, 1, None)
        pairs.append(_Pair(img, lab, layout, lab_layout))
    return pairs


def check_images_vary(pairs: list[_Pair]) -> None:
    """Refuse images that each hold one value everywhere: a model trained there learns
    nothing about objects (it took all the painted background for objects, at a
    validation Dice of 0.997 on the forest's labels). Normalizers whose percentiles span
    no range are the only ones read further (:func:`~napari_unetseg.core.normalize.single_value`)."""
    values = []
    for pair in pairs:
        if pair.normalizer is None or not pair.normalizer.flat:
            return
        value = single_value(pair.image)
        if value is None:
            return
        values.append(f"{value:g}")
    which = "The image holds" if len(pairs) == 1 else f"Each of the {len(pairs)} images holds"
    raise ValueError(
        f"{which} a single value ({', '.join(sorted(set(values)))}) at every pixel, so there "
        "is nothing to tell objects from background by: train on an image that shows them."
    )


def _bands(
    pair: _Pair, rows: int
) -> Generator[tuple[tuple[int, ...], int, np.ndarray], None, None]:
    """Labels read as (leading position, first row, int64 band) of ``rows`` rows."""
    spatial = pair.spatial
    for lead in itertools.product(*(range(n) for n in pair.lab_layout.leading_shape)):
        for r0 in range(0, spatial[0], rows):
            sl = (slice(r0, min(r0 + rows, spatial[0])),) + tuple(slice(None) for _ in spatial[1:])
            raw = np.asarray(pair.labels[pair.lab_layout.index(lead, sl)])
            # finite first: inf % 1 warned "invalid value encountered in remainder"
            if raw.dtype.kind == "f" and not (np.isfinite(raw).all() and (raw % 1 == 0).all()):
                raise ValueError(
                    "The labels have fractional or NaN values; labels must be whole numbers "
                    "(0, 1, 2, ...)."
                )
            check_id_range(raw)
            yield lead, r0, raw.astype(np.int64)


def _band_rows(pair: _Pair, block0: int) -> int:
    """Rows per band: a multiple of the block height, about 4 M pixels at most."""
    per_row = max(1, math.prod(pair.spatial[1:]))
    return max(block0, (4_000_000 // per_row) // block0 * block0)


def _block_ids(
    start: Sequence[int], shape: tuple[int, ...], block: tuple[int, ...], grid: tuple[int, ...]
) -> np.ndarray:
    """Flat block index of every pixel of the box ``start + shape`` (by broadcasting)."""
    bid = np.zeros(shape, np.int64)
    for a, (a0, n, b) in enumerate(zip(start, shape, block, strict=True)):
        idx = (np.arange(int(a0), int(a0) + n) // b) * math.prod(grid[a + 1 :])
        bid += idx.reshape([-1 if k == a else 1 for k in range(len(shape))])
    return bid


# -- the class map --------------------------------------------------------------------------
@dataclass
class _ClassMap:
    """How raw label values become class indices (``-1`` = ignore)."""

    mode: str
    n_classes: int  # output channels of the model (1 = one sigmoid channel)
    collapse: bool  # dense instance masks: every value > 0 is class 1
    message: str = ""

    @property
    def n_eff(self) -> int:
        """Classes the loss sees (a 1-channel model is handled as 2 classes)."""
        return max(2, self.n_classes)

    def targets(self, raw: np.ndarray) -> np.ndarray:
        if self.mode == "sparse":  # signed first: unpainted 0 becomes -1, not 255 (uint8)
            return np.asarray(raw).astype(np.int64, copy=False) - 1
        return (raw > 0).astype(np.int64) if self.collapse else raw


#: Scribble values above this look like an instance mask's ids (as the Fine-tune widget's
#: counts say: ``label_policy._looks_like_masks``).
MASK_LIKE_VALUE = 9


def _value_range(pairs: list[_Pair], block0: int) -> tuple[int, int]:
    """Smallest and largest label value (0 included), read band by band."""
    lo, hi = 0, 0
    for pair in pairs:
        for _, _, band in _bands(pair, _band_rows(pair, block0)):
            if band.size:
                lo, hi = min(lo, int(band.min())), max(hi, int(band.max()))
    return lo, hi


def _map_classes(
    pairs: list[_Pair], mode: str, n_classes: int | None, model_classes: int | None, block0: int
) -> _ClassMap:
    """First pass over the labels: value range -> number of classes and mapping."""
    lo, hi = _value_range(pairs, block0)
    if lo < 0:
        raise ValueError(f"The labels contain negative values ({lo}); labels must be >= 0.")
    if hi == 0:
        if mode == "sparse":
            raise ValueError(
                "The labels have no labeled pixels: paint background (label 1) and at least "
                "one class (label 2 or more) before training."
            )
        raise ValueError(
            "The dense labels are all background (0): they need foreground pixels too."
        )
    message = ""
    collapse = False
    if mode == "sparse":
        needed = hi  # labels 1..K+1 -> classes 0..K
    else:
        needed = hi + 1
        # Without an explicit class count, dense labels are masks of one foreground class
        # (napari Labels layers usually hold instance masks): every value > 0 is class 1.
        if (n_classes or model_classes or 2) in (1, 2):
            collapse = needed > 2
            needed = 2
            if collapse:
                message = _collapse_note(hi, n_classes, model_classes)
    # Before anything is sized by the class count: a stray id (napari's "new label", an
    # instance mask painted as scribbles) must not build a model of thousands of classes.
    limit = MAX_SCRIBBLE_CLASSES if mode == "sparse" else MAX_CLASSES
    if int(n_classes or 0) > limit + (mode == "sparse"):  # the count asked for, not a label
        raise ValueError(
            f"n_classes {int(n_classes):,} asks for more classes than a model may have (at most {limit:,})."
        )
    if mode == "sparse":  # counted as the Fine-tune widget counts them: besides background
        check_class_count(max(needed, int(n_classes or 0)) - 1, hi, mode, MAX_SCRIBBLE_CLASSES)
    else:
        check_class_count(max(needed, int(n_classes or 0)), hi, mode, MAX_CLASSES)
    if n_classes is not None:
        if needed > max(2, int(n_classes)):
            raise ValueError(_too_few_classes(mode, hi, needed, int(n_classes)))
        n = int(n_classes)
    elif model_classes is not None:
        if mode == "dense" and needed > model_classes + 1:
            # ids 1..12 of an instance mask grew a 3-class model to 13 classes, one per
            # object (train bug bash); one class more is a class painted anew
            raise ValueError(
                f"The dense labels have values up to {hi} and the start model "
                f"{model_classes} classes: give n_classes={needed} to grow it to that many "
                "classes; masks of objects (one id each) train "
                "from a one-class model such as nuclei-2d, or as one class once their ids "
                "are merged (labels > 0)."
            )
        n = model_classes if needed <= max(2, model_classes) else needed
    else:
        n = needed
    if mode == "sparse" and hi > MASK_LIKE_VALUE and not message:
        # (an instance mask given as scribbles trained a 12-class model without a word)
        message = (
            f"The scribbles use label values up to {hi}, each one class (label 1 being "
            f"background); {MASKS_AS_SCRIBBLES}"
        )
    return _ClassMap(mode, max(1, n), collapse, message)


#: The start of the note that dense labels of several values train one foreground class
#: (``api.train`` warns with it unless ``n_classes`` asked for that).
DENSE_MERGED = "The dense labels have values up to"

#: The end of the note that scribbles look like masks of objects (``api.train`` warns
#: with it: the plain function drops progress messages).
MASKS_AS_SCRIBBLES = "if they are masks of objects, train with label_mode='dense'."


def _collapse_note(hi: int, n_classes: int | None, model_classes: int | None) -> str:
    """The note for dense labels above 1 trained as one foreground class."""
    if n_classes is not None:
        why = f"as n_classes={n_classes} was given, every value > 0 is merged into one class"
    elif model_classes is not None:
        why = (
            f"as the model has {model_classes} output{'s' * (model_classes > 1)}, every "
            "value > 0 is merged into one class"
        )
    else:
        why = (
            "they are taken as instance masks, every object being one foreground class "
            "(give n_classes for several classes)"
        )
    return f"{DENSE_MERGED} {hi}: {why}."


def _too_few_classes(mode: str, hi: int, needed: int, n_classes: int) -> str:
    """The refusal of labels beyond the class count asked for (``n_classes`` counts the
    model's outputs, background included)."""
    if mode == "sparse":  # label 1 is background, labels 2..K+1 the classes 1..K
        has = f"The labels use label {hi} (class {needed - 1}, label 1 being background)"
        parts = f"background and {needed - 1} class{'es' * (needed > 2)}"
    else:
        has = f"The labels contain class {hi}"
        parts = "background and class 1" if hi == 1 else f"background and classes 1-{hi}"
    return (
        f"{has}, so the model needs at least {needed} classes ({parts}), but n_classes="
        f"{n_classes} was given."
    )


def _present_classes(totals: np.ndarray, n_eff: int, mode: str) -> list[int]:
    """The classes with labeled pixels; raises ValueError unless there are two or more."""
    present = [c for c in range(n_eff) if totals[c] > 0]
    if len(present) < 2:
        if mode == "sparse":
            which = "background (label 1)" if present == [0] else f"label {present[0] + 1}"
            # labels of 0 and 1 are a mask more often than strokes (training fuzz bash)
            masks = f"; {MASKS_AS_SCRIBBLES[:-1]} (0 background, 1 objects)" * (present == [0])
            raise ValueError(
                f"Only one class is painted ({which}): paint background (label 1) and at "
                f"least one class (label 2 or more) before training{masks}."
            )
        raise ValueError("The dense labels contain a single class; they need at least two.")
    return present


def missing_classes_note(
    present: Sequence[int], n_eff: int, mode: str, names: Sequence[str] | None = None
) -> str | None:
    """For a new model (or one the labels give more classes): the classes below the
    highest painted one that have no pixels (a label number skipped, e.g. by napari's
    "new label"), which still get an output; by their ``names`` where given (the note
    said "class 2" of a class the user had named; classes bug bash)."""
    missing = [c for c in range(1, n_eff) if c not in present]
    if not missing:
        return None

    def called(c: int) -> str:
        return names[c] if names is not None and c < len(names) else f"class {c}"

    if mode == "sparse":
        which = ", ".join(f"label {c + 1} ({called(c)})" for c in missing)
    else:
        which = ", ".join(called(c) for c in missing)
    return (
        f"{which[0].upper()}{which[1:]} {'has' if len(missing) == 1 else 'have'} no painted "
        "pixels, yet the model gets an output for "
        f"{'it' if len(missing) == 1 else 'them'}: paint {'it' if len(missing) == 1 else 'them'}, "
        "or number the classes without gaps."
    )


# -- the label index -------------------------------------------------------------------------
class _LabelIndex:
    """Second pass: labeled pixels per class and block, plus sampled coordinates.

    ``counts[s]`` is an array ``(n_blocks, n_eff)`` for source ``s`` (one pair at one
    leading position); ``coords[c]`` holds rows ``(source, *spatial)`` of class ``c``.
    """

    def __init__(
        self,
        pairs: list[_Pair],
        class_map: _ClassMap,
        block: tuple[int, ...],
        rng: np.random.Generator,
    ) -> None:
        self.block = block
        self.sources: list[tuple[int, tuple[int, ...]]] = []
        self.grids: list[tuple[int, ...]] = []
        self.counts: list[np.ndarray] = []
        c_eff = class_map.n_eff
        n_bands_total = 0
        per_source_bands = []
        for pair in pairs:
            rows = _band_rows(pair, block[0])
            n_bands = math.ceil(pair.spatial[0] / rows) * max(
                1, math.prod(pair.lab_layout.leading_shape)
            )
            per_source_bands.append(rows)
            n_bands_total += n_bands
        cap_band = max(16, math.ceil(MAX_COORDS_PER_CLASS / max(1, n_bands_total)))
        chunks: list[list[np.ndarray]] = [[] for _ in range(c_eff)]
        src_of: dict[tuple[int, tuple[int, ...]], int] = {}
        for p, pair in enumerate(pairs):
            grid = tuple(math.ceil(s / b) for s, b in zip(pair.spatial, block, strict=True))
            for lead, r0, band in _bands(pair, per_source_bands[p]):
                t = class_map.targets(band)
                if t.max(initial=-1) < 0:
                    continue
                if t.max() >= c_eff:
                    raise ValueError(
                        f"The labels contain class {int(t.max())} but the model has "
                        f"{class_map.n_classes} classes."
                    )
                key = (p, lead)
                if key not in src_of:
                    src_of[key] = len(self.sources)
                    self.sources.append(key)
                    self.grids.append(grid)
                    self.counts.append(np.zeros((math.prod(grid), c_eff), np.int64))
                s = src_of[key]
                self._count_band(s, r0, t, c_eff)
                for c in range(c_eff):
                    rows = _sampled_rows(t, c, s, r0, cap_band, rng)
                    if rows is not None:
                        chunks[c].append(rows)
        nd = len(block)
        self.coords = [
            np.concatenate(ch) if ch else np.zeros((0, nd + 1), np.int64) for ch in chunks
        ]

    def _count_band(self, s: int, r0: int, t: np.ndarray, c_eff: int) -> None:
        """Add the labeled pixels of band ``t`` (first row ``r0``) to ``counts[s]``."""
        start = (r0,) + (0,) * (t.ndim - 1)
        bid = _block_ids(start, t.shape, self.block, self.grids[s])
        labeled = t >= 0
        flat = bid[labeled] * c_eff + t[labeled]
        self.counts[s] += np.bincount(flat, minlength=self.counts[s].size).reshape(
            self.counts[s].shape
        )

    def class_totals(self) -> np.ndarray:
        return sum(c.sum(0) for c in self.counts) if self.counts else np.zeros(0, np.int64)

    def in_blocks(self, rows: np.ndarray, blocks: list[set[int]]) -> np.ndarray:
        """Whether each coordinate row ``(source, *spatial)`` lies in ``blocks[source]``."""
        out = np.zeros(len(rows), bool)
        for s, chosen in enumerate(blocks):
            sel = np.flatnonzero(rows[:, 0] == s)
            if not chosen or not sel.size:
                continue
            cells = tuple(rows[sel, 1 + a] // b for a, b in enumerate(self.block))
            flat = np.ravel_multi_index(cells, self.grids[s])
            out[sel] = np.isin(flat, np.fromiter(chosen, np.int64, len(chosen)))
        return out


def _sampled_rows(
    t: np.ndarray, c: int, s: int, r0: int, cap: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Rows ``(s, *spatial)`` of up to ``cap`` pixels of class ``c`` in band ``t`` (None: none)."""
    pos = np.flatnonzero(t == c)
    if not pos.size:
        return None
    if pos.size > cap:
        pos = pos[rng.integers(0, pos.size, cap)]
    xyz = np.stack(np.unravel_index(pos, t.shape), axis=1)
    xyz[:, 0] += r0
    return np.concatenate([np.full((len(xyz), 1), s), xyz], axis=1).astype(np.int64)


# -- can these labels be trained on? (the Fine-tune widget asks on every stroke) -------------
def label_counts(data: Any) -> dict[int, int] | None:
    """Pixels per label value of an in-memory integer array.

    Parameters
    ----------
    data : array-like
        A labels array.

    Returns
    -------
    dict of int to int or None
        ``{value: pixels}`` for the values present, in increasing order (empty for an
        empty array); None for arrays too costly to count on every stroke (not a numpy
        array: lazy, on disk) and for non-integer or negative labels (the engine explains
        those when training starts).
    """
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biu":
        return None
    flat = data.ravel()
    if not flat.size:
        return {}
    # Counted a chunk at a time, and only the painted pixels one by one: scribbles cover
    # little of a large layer, and most chunks hold none (a 20,000 x 20,000 layer with two
    # strokes: 0.02 s a stroke, against 0.7 s for its painted pixels at once and 7 s for
    # all its pixels).
    binned = np.zeros(0, np.int64)
    found: dict[int, int] = {}
    for start in range(0, flat.size, COUNT_CHUNK):
        part = flat[start : start + COUNT_CHUNK]
        if not part.any():
            continue
        painted = part[part != 0]
        if data.dtype.kind == "i" and painted.min() < 0:
            return None
        if int(painted.max()) > max(_MAX_BINCOUNT, painted.size):
            # A few huge label ids: a bincount would allocate 8 bytes per possible value.
            values, counts = np.unique(painted, return_counts=True)
            for v, n in zip(values.tolist(), counts.tolist(), strict=True):
                found[v] = found.get(v, 0) + n
            continue
        counts = np.bincount(painted)
        if counts.size > binned.size:
            binned = np.concatenate([binned, np.zeros(counts.size - binned.size, np.int64)])
        binned[: counts.size] += counts
    for v in np.flatnonzero(binned).tolist():
        found[v] = found.get(v, 0) + int(binned[v])
    zeros = flat.size - sum(found.values())
    ordered = {v: found[v] for v in sorted(found)}
    return {0: zeros, **ordered} if zeros else ordered


def problem_with(counts: dict[int, int] | None, mode: str, layer_name: str) -> str | None:
    """Why labels with these counts cannot be trained on, in one sentence.

    Parameters
    ----------
    counts : dict of int to int or None
        Pixels per label value (:func:`label_counts`); None (not counted) passes, the
        engine checks such labels when training starts.
    mode : {'sparse', 'dense'}
        The label mode (see the module docstring).
    layer_name : str
        The labels' name, quoted in the sentence.

    Returns
    -------
    str or None
        The sentence, or None when the labels can be trained on.
    """
    if counts is None:
        return None  # a lazy array: the engine checks it when training starts
    painted = {v: n for v, n in counts.items() if v > 0}
    if mode == "sparse":
        return _sparse_problem(painted, layer_name)
    if not painted:
        return f"{layer_name!r} is all background (0): dense masks need objects (values > 0)."
    if not counts.get(0):
        return f"{layer_name!r} has no background (0): dense masks need background pixels."
    return None


def _sparse_problem(painted: dict[int, int], layer_name: str) -> str | None:
    """:func:`problem_with` for scribbles, given the pixels per painted value (> 0)."""
    if not painted:
        return (
            f"Nothing is painted in {layer_name!r} yet: paint some background (label 1) "
            "and some objects (label 2), then press Train."
        )
    if SPARSE_BACKGROUND not in painted:
        return f"Only objects are painted in {layer_name!r}: paint some background (label 1) too."
    if len(painted) == 1:
        return f"Only background is painted in {layer_name!r}: paint some objects (label 2) too."
    top = max(painted)
    if top > MAX_SCRIBBLE_CLASSES + 1:
        return (
            f"{layer_name!r} has label {top}, which would ask for {top - 1} classes (at most "
            f"{MAX_SCRIBBLE_CLASSES}): repaint it with a smaller label, or choose "
            "'Dense masks' if the layer holds object masks."
        )
    return None


#: Scribbles of an image of more pixels than this are trained on the painted region
#: alone (with :data:`PAINTED_MARGIN`): a patch painted in a 120 x 4096 x 4096 volume
#: was resampled whole, 15.5 GB, before the first step (big-data bash).
CROP_PIXELS = 2**26
#: Pixels kept around the painted region on each side (context for the forest teacher,
#: the patches and the intensity statistics).
PAINTED_MARGIN = 256
#: Planes of the painted region's first axis read at once while it is found.
_BOX_CHUNK = 2**24


def painted_box(
    labels: Any, margin: int | None = None, min_pixels: int | None = None
) -> tuple[slice, ...] | None:
    """The region of sparse ``labels`` (0 = unpainted) that holds every stroke, widened
    by ``margin`` pixels on each side; None where the labels have ``min_pixels`` or
    fewer, nothing is painted, or the region is more than half of them. Read a few
    planes at a time (a whole-volume mask of a 2 GB layer is 2 GB more). Defaults:
    :data:`PAINTED_MARGIN`, :data:`CROP_PIXELS`."""
    margin = PAINTED_MARGIN if margin is None else int(margin)
    min_pixels = CROP_PIXELS if min_pixels is None else int(min_pixels)
    shape = tuple(labels.shape)
    size = int(np.prod(shape, dtype=np.int64))
    if size <= min_pixels or not shape:
        return None
    rows = max(1, _BOX_CHUNK // max(1, size // shape[0]))
    lo = [None] * len(shape)
    hi = [None] * len(shape)
    for start in range(0, shape[0], rows):
        painted = np.asarray(labels[start : start + rows]) != 0
        if not painted.any():
            continue
        for axis in range(len(shape)):
            hit = np.flatnonzero(
                painted.any(axis=tuple(a for a in range(len(shape)) if a != axis))
            )
            first, last = int(hit[0]), int(hit[-1])
            if axis == 0:
                first, last = first + start, last + start
            lo[axis] = first if lo[axis] is None else min(lo[axis], first)
            hi[axis] = last if hi[axis] is None else max(hi[axis], last)
    if lo[0] is None:
        return None
    box = tuple(
        slice(max(0, a - margin), min(n, b + 1 + margin))
        for a, b, n in zip(lo, hi, shape, strict=True)
    )
    kept = int(np.prod([b.stop - b.start for b in box], dtype=np.int64))
    return box if 2 * kept <= size else None
