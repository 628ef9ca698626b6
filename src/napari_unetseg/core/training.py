"""Training engine: learn from painted labels (sparse scribbles or dense masks).

The trainer is a generator (:func:`train`): it yields :class:`TrainProgress` records and
returns the trained :class:`~napari_unetseg.core.bundle.ModelBundle`, so the CLI drains it
with a progress bar and the Fine-tune widget runs it in a worker thread.

How it works
------------
1. **Labels are scanned once**, band by band (never a whole volume in memory as int64 or
   float32): labeled pixels are counted per class and per spatial *block* (half a patch
   on each axis), and a bounded random sample of their coordinates is kept per class.
2. **Validation is held out spatially**: whole blocks of the labeled area (about
   ``val_fraction`` of the labeled pixels) are never trained on, so validation measures
   how the model does on objects it has not seen rather than on neighbouring pixels of
   the objects it trains on. With too few labels there is no validation, and a message
   says so.
3. **Patches** are centred (with a random offset) on a labeled training pixel of a
   class drawn uniformly, so every patch contains labels and rare classes are
   oversampled. Image patches are read from the array-like input and normalized on the
   fly with the model's :class:`~napari_unetseg.core.normalize.Normalizer` (statistics
   computed once per image, the same transform inference applies).
4. **Augmentation** (torch, on the batch): flips, in-plane 90 degree rotations,
   intensity scale / shift / gamma and gaussian noise.
5. **Loss**: cross-entropy + soft Dice, both only over labeled pixels (``-1`` = ignore),
   in float32 from log-softmax with epsilons, so a batch that lacks a class gives no NaN.
6. **Optimization**: AdamW, linear warm-up then cosine decay (over the step budget or the
   time budget), gradient clipping, autocast on CUDA; the weights with the best
   validation Dice are kept and returned (the last ones without validation).

Label modes (see DESIGN.md): ``'sparse'``: 0 = not painted (ignored), 1 = background,
``k >= 2`` = class ``k - 1``. ``'dense'``: 0 = background, ``k`` = class ``k``; when the
model has one foreground class (a 1- or 2-channel model, and the default for a new model
unless ``n_classes`` says otherwise) every value > 0 is that class, so instance masks can
be used as they are.

Fine-tuning: a copy of the given bundle is trained (never the caller's); its
normalization and tile-size hint are kept. When the number of classes differs from the
model's, its output layer (the 1x1 ``head`` convolution) is re-initialized with the new
number of channels and everything else is kept.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import devices as dev
from .bundle import ModelBundle
from .normalize import Layout, Normalizer, resolve_layout
from .tiling import _pad_end, predict_tiled
from .unet import UNet

LABEL_MODES = ("sparse", "dense")

#: Architecture of a model trained from scratch, per spatial dimensionality.
NEW_MODEL: dict[int, dict[str, Any]] = {
    2: {"depth": 4, "base_channels": 16, "norm": "batch"},
    3: {"depth": 4, "base_channels": 8, "norm": "batch"},
}
#: Default time budget (seconds) when neither ``steps`` nor ``time_limit`` is given.
DEFAULT_TIME_LIMIT = 60.0
#: Coordinates of labeled pixels kept per class for patch sampling.
MAX_COORDS_PER_CLASS = 200_000
#: Validation patches evaluated at each evaluation (a fixed, seeded subset).
MAX_VAL_PATCHES = 16
#: Fewest labeled pixels (and labeled blocks) that can be split for validation.
MIN_VAL_PIXELS = 64
MIN_VAL_BLOCKS = 3
#: Loss values kept in the model file's history (the curve is subsampled beyond that).
MAX_HISTORY_POINTS = 2000


@dataclass
class TrainProgress:
    """One progress record of :func:`train`.

    ``loss`` is the mean training loss since the previous record; ``val_loss`` and
    ``val_dice`` are set only on records where validation ran; ``preview`` holds the
    current model's labels for the preview image when one was computed at this step;
    ``message`` carries notices for the user (empty when there is nothing to say).
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

    @property
    def fraction(self) -> float:
        """Fraction of the budget used (steps or time, whichever is further along)."""
        f = 0.0
        if self.total_steps:
            f = self.step / self.total_steps
        if self.time_limit:
            f = max(f, self.elapsed / self.time_limit)
        return min(1.0, f)


# -- data: images, labels, label scanning ------------------------------------------------------
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


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_labels_dtype(labels: Any, i: int) -> None:
    kind = np.dtype(labels.dtype).kind
    if kind not in "biuf":
        raise ValueError(f"Labels {i + 1} have dtype {labels.dtype}; integer labels are needed.")


def _pairs(
    images: Any, labels: Any, spatial_dims: int, in_channels: int, channel_axis: int | None
) -> list[_Pair]:
    """Match images with labels and check their shapes (one clear sentence when wrong)."""
    images, labels = _as_list(images), _as_list(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"Got {len(images)} image(s) but {len(labels)} labels array(s); give one labels "
            "array per image."
        )
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


def _bands(
    pair: _Pair, rows: int
) -> Generator[tuple[tuple[int, ...], int, np.ndarray], None, None]:
    """Labels read as (leading position, first row, int64 band) of ``rows`` rows."""
    spatial = pair.spatial
    for lead in itertools.product(*(range(n) for n in pair.lab_layout.leading_shape)):
        for r0 in range(0, spatial[0], rows):
            sl = (slice(r0, min(r0 + rows, spatial[0])),) + tuple(slice(None) for _ in spatial[1:])
            yield (
                lead,
                r0,
                np.asarray(pair.labels[pair.lab_layout.index(lead, sl)]).astype(np.int64),
            )


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


@dataclass
class _ClassPlan:
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
        if self.mode == "sparse":
            return raw - 1
        return (raw > 0).astype(np.int64) if self.collapse else raw


def _plan_classes(
    pairs: list[_Pair], mode: str, n_classes: int | None, model_classes: int | None, block0: int
) -> _ClassPlan:
    """First pass over the labels: value range -> number of classes and mapping."""
    lo, hi = 0, 0
    for pair in pairs:
        for _, _, band in _bands(pair, _band_rows(pair, block0)):
            if band.size:
                lo, hi = min(lo, int(band.min())), max(hi, int(band.max()))
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
                message = (
                    f"The dense labels have values up to {hi}: they are taken as instance "
                    "masks, every object being one foreground class (give n_classes for "
                    "several classes)."
                )
    if n_classes is not None:
        if needed > max(2, int(n_classes)):
            raise ValueError(
                f"The labels contain class {needed - 1} but the model is asked for "
                f"{n_classes} classes."
            )
        n = int(n_classes)
    elif model_classes is not None:
        n = model_classes if needed <= max(2, model_classes) else needed
    else:
        n = needed
    return _ClassPlan(mode, max(1, n), collapse, message)


class _LabelIndex:
    """Second pass: labeled pixels per class and block, plus sampled coordinates.

    ``counts[s]`` is an array ``(n_blocks, n_eff)`` for source ``s`` (one pair at one
    leading position); ``coords[c]`` holds rows ``(source, *spatial)`` of class ``c``.
    """

    def __init__(
        self,
        pairs: list[_Pair],
        plan: _ClassPlan,
        block: tuple[int, ...],
        rng: np.random.Generator,
    ) -> None:
        self.block = block
        self.sources: list[tuple[int, tuple[int, ...]]] = []
        self.grids: list[tuple[int, ...]] = []
        self.counts: list[np.ndarray] = []
        c_eff = plan.n_eff
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
                t = plan.targets(band)
                if t.max(initial=-1) < 0:
                    continue
                if t.max() >= c_eff:
                    raise ValueError(
                        f"The labels contain class {int(t.max())} but the model has "
                        f"{plan.n_classes} classes."
                    )
                key = (p, lead)
                if key not in src_of:
                    src_of[key] = len(self.sources)
                    self.sources.append(key)
                    self.grids.append(grid)
                    self.counts.append(np.zeros((math.prod(grid), c_eff), np.int64))
                s = src_of[key]
                start = (r0,) + (0,) * (band.ndim - 1)
                bid = _block_ids(start, band.shape, block, grid)
                labeled = t >= 0
                flat = bid[labeled] * c_eff + t[labeled]
                self.counts[s] += np.bincount(flat, minlength=self.counts[s].size).reshape(
                    self.counts[s].shape
                )
                for c in range(c_eff):
                    pos = np.flatnonzero(t == c)
                    if not pos.size:
                        continue
                    if pos.size > cap_band:
                        pos = pos[rng.integers(0, pos.size, cap_band)]
                    xyz = np.stack(np.unravel_index(pos, band.shape), axis=1)
                    xyz[:, 0] += r0
                    chunks[c].append(
                        np.concatenate([np.full((len(xyz), 1), s), xyz], axis=1).astype(np.int64)
                    )
        nd = len(block)
        self.coords = [
            np.concatenate(ch) if ch else np.zeros((0, nd + 1), np.int64) for ch in chunks
        ]

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


def _split_validation(
    index: _LabelIndex, val_fraction: float, rng: np.random.Generator
) -> tuple[list[set[int]], str]:
    """Choose validation blocks per source; returns (val block sets, message).

    Whole blocks are taken in random order until about ``val_fraction`` of the labeled
    pixels are held out. A split is accepted when validation has background and some
    foreground and training keeps at least half of every class; otherwise (too few
    labels) there is no validation and the message says why.
    """
    none: list[set[int]] = [set() for _ in index.sources]
    if val_fraction <= 0:
        return none, ""
    totals = index.class_totals()
    blocks = [
        (s, b) for s, counts in enumerate(index.counts) for b in np.flatnonzero(counts.sum(1))
    ]
    total = int(totals.sum())
    if total < MIN_VAL_PIXELS or len(blocks) < MIN_VAL_BLOCKS:
        return none, (
            f"Only {total} labeled pixels in {len(blocks)} region(s): too few to hold some out "
            "for validation, so the model trains on all of them without validation (the last "
            "model is kept). Paint more, in several places, to get a validation score."
        )
    target = val_fraction * total
    for _ in range(20):
        order = rng.permutation(len(blocks))
        val = [set() for _ in index.sources]
        held = np.zeros_like(totals)
        for k in order:
            s, b = blocks[k]
            add = index.counts[s][b]
            if held.sum() and held.sum() + add.sum() > 2 * target:
                continue
            val[s].add(int(b))
            held = held + add
            if held.sum() >= target:
                break
        if held[0] > 0 and held[1:].sum() > 0 and np.all(totals - held >= 0.5 * totals):
            return val, ""
    return none, (
        "The labels could not be split into training and validation regions that both "
        "contain background and objects, so the model trains on all of them without "
        "validation (the last model is kept). Paint in more places to get a validation score."
    )


# -- patches ---------------------------------------------------------------------------------
def _read_patch(
    pair: _Pair, lead: tuple[int, ...], start: np.ndarray, patch: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized image (C, *patch) float32 and raw labels (*patch) int64, padded."""
    spatial = pair.spatial
    sl = tuple(
        slice(int(a), min(int(a) + p, s)) for a, p, s in zip(start, patch, spatial, strict=True)
    )
    img = pair.layout.to_channels_first(np.asarray(pair.image[pair.layout.index(lead, sl)]))
    x = _pad_end(pair.normalizer(img), patch)
    raw = np.asarray(pair.labels[pair.lab_layout.index(lead, sl)]).astype(np.int64)
    return x, raw


def _pad_target(t: np.ndarray, patch: tuple[int, ...]) -> np.ndarray:
    pads = [(0, p - s) for s, p in zip(t.shape, patch, strict=True)]
    return np.pad(t, pads, constant_values=-1) if any(p for _, p in pads) else t


def _val_mask(
    index: _LabelIndex, s: int, val: set[int], start: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Boolean mask (shape) of the pixels of a box that lie in validation blocks."""
    bid = _block_ids(start, shape, index.block, index.grids[s])
    return np.isin(bid, np.fromiter(val, np.int64, len(val)))


class _Sampler:
    """Draws training batches: class-balanced, centred on labeled training pixels."""

    def __init__(
        self,
        pairs: list[_Pair],
        index: _LabelIndex,
        plan: _ClassPlan,
        val: list[set[int]],
        patch: tuple[int, ...],
        rng: np.random.Generator,
    ) -> None:
        self.pairs, self.index, self.plan, self.val = pairs, index, plan, val
        self.patch, self.rng = patch, rng
        self.pools = []
        for rows in index.coords:
            self.pools.append(rows[~index.in_blocks(rows, val)] if any(val) else rows)
        self.classes = [c for c, rows in enumerate(self.pools) if len(rows)]

    def _start(self, centre: np.ndarray, spatial: tuple[int, ...]) -> np.ndarray:
        offset = self.rng.integers(0, self.patch)
        top = np.maximum(np.array(spatial) - np.array(self.patch), 0)
        return np.clip(centre - offset, 0, top)

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: float32 (B, C, *patch) and int64 targets (B, *patch), -1 = ignore."""
        xs, ys = [], []
        for _ in range(batch):
            c = self.classes[self.rng.integers(len(self.classes))]
            pool = self.pools[c]
            s, *centre = pool[self.rng.integers(len(pool))]
            p, lead = self.index.sources[s]
            pair = self.pairs[p]
            start = self._start(np.array(centre), pair.spatial)
            x, raw = _read_patch(pair, lead, start, self.patch)
            t = self.plan.targets(raw)
            if self.val[s]:
                t[_val_mask(self.index, s, self.val[s], start, t.shape)] = -1
            xs.append(x)
            ys.append(_pad_target(t, self.patch))
        return np.stack(xs), np.stack(ys)

    def validation(self, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Fixed validation patches: one per (sampled) block, labels of that block only."""
        items = [(s, b) for s, blocks in enumerate(self.val) for b in sorted(blocks)]
        if not items:
            return None
        if len(items) > limit:
            items = [items[i] for i in sorted(self.rng.choice(len(items), limit, replace=False))]
        xs, ys = [], []
        for s, b in items:
            p, lead = self.index.sources[s]
            pair = self.pairs[p]
            bpos = np.array(np.unravel_index(b, self.index.grids[s]))
            lo = bpos * np.array(self.index.block)
            centre = lo + np.array(self.index.block) // 2
            top = np.maximum(np.array(pair.spatial) - np.array(self.patch), 0)
            start = np.clip(centre - np.array(self.patch) // 2, 0, top)
            x, raw = _read_patch(pair, lead, start, self.patch)
            t = self.plan.targets(raw)
            inside = _val_mask(self.index, s, {int(b)}, start, t.shape)
            t[~inside] = -1
            xs.append(x)
            ys.append(_pad_target(t, self.patch))
        return np.stack(xs), np.stack(ys)


# -- augmentation and loss -------------------------------------------------------------------
def augment_batch(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips / 90-degree in-plane rotations (image and labels) and intensity changes.

    ``x`` is (B, C, *spatial) float, ``y`` (B, *spatial) long. Random numbers come from
    ``gen`` (a CPU generator) so a seeded run is reproducible on any device. Intensity
    changes (scale, shift, gamma, gaussian noise) apply to the image only.
    """
    b, nd = x.shape[0], x.ndim - 2
    r = torch.rand(b, nd + 6, generator=gen)
    xs, ys = [], []
    square = x.shape[-1] == x.shape[-2]
    for i in range(b):
        xi, yi = x[i], y[i]
        flips = [a for a in range(nd) if r[i, a] < 0.5]
        if flips:
            xi = torch.flip(xi, [a + 1 for a in flips])
            yi = torch.flip(yi, flips)
        k = int(r[i, nd] * 4) if square else 2 * int(r[i, nd] * 2)
        if k % 4:
            xi = torch.rot90(xi, k, (nd - 1, nd))
            yi = torch.rot90(yi, k, (nd - 2, nd - 1))
        xs.append(xi)
        ys.append(yi)
    x, y = torch.stack(xs), torch.stack(ys)
    shape = (b,) + (1,) * (x.ndim - 1)
    dev_r = r.to(x.device)
    scale = torch.exp((dev_r[:, nd + 1] - 0.5) * 0.6).view(shape)  # x0.74 .. x1.35
    shift = ((dev_r[:, nd + 2] - 0.5) * 0.2).view(shape)
    gamma = torch.exp((dev_r[:, nd + 3] - 0.5) * 0.8).view(shape)  # 0.67 .. 1.5
    use_gamma = (dev_r[:, nd + 4] < 0.5).view(shape)
    # Gamma on the [0, 1] range of each patch, then back, so negative values stay valid.
    lo = x.amin(dim=tuple(range(1, x.ndim)), keepdim=True)
    hi = x.amax(dim=tuple(range(1, x.ndim)), keepdim=True)
    span = (hi - lo).clamp_min(1e-6)
    xg = ((x - lo) / span).clamp(0, 1) ** gamma * span + lo
    x = torch.where(use_gamma, xg, x)
    x = x * scale + shift
    noise_sd = (dev_r[:, nd + 5] ** 2 * 0.1).view(shape)
    noise = torch.randn(x.shape, generator=gen).to(x.device)
    return x + noise * noise_sd, y


def _two_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """A 1-channel (sigmoid) model as 2-class logits: softmax([0, z]) = [1 - s(z), s(z)]."""
    if logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def masked_loss(
    logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy + soft Dice over labeled pixels only (``target == -1`` is ignored).

    Parameters
    ----------
    logits : Tensor
        (B, C, *spatial); a single channel is a sigmoid foreground logit.
    target : Tensor
        (B, *spatial) long, class index or -1.

    Returns
    -------
    loss : Tensor
        Scalar: mean cross-entropy over labeled pixels plus ``1 - mean Dice`` over the
        classes present among the labeled pixels (0 when nothing is labeled).
    counts : Tensor
        (C_eff, 3) float: per class intersection, predicted sum and target sum of the soft
        Dice, over labeled pixels (used to accumulate validation Dice).
    """
    logits = _two_class_logits(logits.float())
    mask = target >= 0
    # Fused log-softmax + NLL; the ignored pixels add nothing.
    ce = F.cross_entropy(logits, target, ignore_index=-1, reduction="sum")
    ce = ce / mask.sum().clamp_min(1)
    m = mask.unsqueeze(1)
    prob = torch.softmax(logits, dim=1) * m
    onehot = torch.zeros_like(prob).scatter_(1, target.clamp_min(0).unsqueeze(1), 1.0) * m
    dims = [0] + list(range(2, logits.ndim))
    inter = (prob * onehot).sum(dims)
    psum = prob.sum(dims)
    tsum = onehot.sum(dims)
    present = tsum > 0
    dice = (2 * inter + eps) / (psum + tsum + eps)
    dice_loss = (1 - dice[present]).mean() if present.any() else ce * 0
    counts = torch.stack([inter, psum, tsum], dim=1).detach()
    return ce + dice_loss, counts


def hard_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(C_eff, 3) hard counts per class over labeled pixels: TP, predicted, true."""
    logits = _two_class_logits(logits.float())
    n_cls = logits.shape[1]
    pred = logits.argmax(1)
    mask = target >= 0
    p = F.one_hot(pred, n_cls)[mask].sum(0)
    t = F.one_hot(target.clamp_min(0), n_cls)[mask].sum(0)
    tp = F.one_hot(pred, n_cls)[mask & (pred == target)].sum(0)
    return torch.stack([tp, p, t], dim=1).double()


def dice_from_counts(counts: torch.Tensor) -> float | None:
    """Mean Dice over the foreground classes present in the targets (None if none)."""
    tp, p, t = counts[1:, 0], counts[1:, 1], counts[1:, 2]
    present = t > 0
    if not present.any():
        return None
    return float((2 * tp[present] / (p[present] + t[present])).mean())


# -- setup helpers ---------------------------------------------------------------------------
def _default_patch_batch(
    spatial_dims: int, device: torch.device, spatial_shapes: list[tuple[int, ...]], div: int
) -> tuple[tuple[int, ...], int]:
    """Patch size and batch size for the device, no larger than the images need."""
    gpu = device.type in ("cuda", "mps")
    if spatial_dims == 2:
        patch, batch = ((256, 256), 16) if gpu else ((128, 128), 4)
    else:
        patch, batch = ((64, 128, 128), 2) if gpu else ((32, 64, 64), 2)
    biggest = np.max(np.array(spatial_shapes), axis=0)
    return _fit_patch(patch, biggest, div), batch


def _fit_patch(patch: Sequence[int], biggest: np.ndarray, div: int) -> tuple[int, ...]:
    def up(n: int) -> int:
        return max(div, -(-int(n) // div) * div)

    return tuple(min(up(p), up(s)) for p, s in zip(patch, biggest, strict=True))


def _reinit_head(network: UNet, n_classes: int) -> None:
    """Replace the output layer with a fresh one of ``n_classes`` channels."""
    old = network.head
    conv = type(old)
    network.head = conv(old.in_channels, n_classes, 1)
    network.config["n_classes"] = int(n_classes)


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


# -- the trainer -----------------------------------------------------------------------------
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
) -> Generator[TrainProgress, None, ModelBundle]:
    """Train (or fine-tune) a U-Net on painted labels; a generator.

    Yields :class:`TrainProgress` records (at most about ten per second, plus one for every
    validation, preview or message) and returns the trained :class:`ModelBundle` holding
    the weights with the best validation Dice (the last weights without validation),
    on the CPU, in eval mode, with its training history.

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
    label_mode : {'sparse', 'dense'}
        See the module docstring.
    n_classes : int, optional
        Output channels. Default: the model's (raised when sparse labels need more); for
        a new model, from the sparse label values, or 2 (one foreground class) in dense
        mode. When it differs from the model's, the output layer is re-initialized.
    steps, time_limit : int / float, optional
        Budget in optimizer steps and/or seconds (whichever ends first). Neither:
        :data:`DEFAULT_TIME_LIMIT` seconds.
    patch_size, batch_size : optional
        Default: 128 px / batch 4 in 2D on the CPU (256 / 16 on a GPU), (32, 64, 64) /
        2 in 3D on the CPU ((64, 128, 128) / 2 on a GPU); patches never exceed the image.
    learning_rate : float, optional
        Peak AdamW learning rate (default 2e-3 for a new or untrained model, 5e-4 for
        fine-tuning a trained one).
    val_fraction : float
        Share of the labeled pixels held out (as whole blocks) for validation; 0 = none.
    augment : bool
        Random flips, 90-degree rotations, intensity scale/shift/gamma and noise.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda[:N]'``, ``'mps'``.
    seed : int
        Seeds initialization, patch sampling and augmentation (same seed and inputs give
        the same steps on the same device).
    stop : threading.Event, optional
        When set, training ends before the next step and the best model so far is
        returned.
    preview_image, preview_every : optional
        Every ``preview_every`` steps the current model predicts ``preview_image`` and the
        record carries the labels in ``.preview``.
    channel_axis : int, optional
        Channel axis of the images (else detected from the model's ``in_channels``).
    eval_every : int, optional
        Steps between validations (default: a tenth of ``steps``, or every 1/15 of
        ``time_limit``).
    model_config : dict, optional
        :class:`UNet` arguments for a new model.

    Raises
    ------
    ValueError
        Mismatched image/labels counts or shapes, no labeled pixels, only one class
        painted, class values beyond ``n_classes``, bad arguments.
    MemoryError
        Out of memory with one patch per batch (on out-of-memory the batch is halved
        first, with a message in the progress record).
    """
    t_start = time.perf_counter()
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}.")
    if steps is not None and int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps!r}.")
    if time_limit is not None and float(time_limit) <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit!r}.")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}.")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    if steps is None and time_limit is None:
        time_limit = DEFAULT_TIME_LIMIT
    device = dev.resolve_device(device)
    rng = np.random.default_rng(seed)

    # -- the model (a copy when fine-tuning) ------------------------------------------------
    # A given bundle that was never trained (no history) is trained like a new model.
    fine_tune = model is not None and bool(model.history)
    if model is not None:
        bundle = model.copy()
        sd, in_ch = bundle.spatial_dims, bundle.in_channels
    else:
        first = _as_list(images)[0]
        ndim = len(first.shape) - (channel_axis is not None)
        sd = int(spatial_dims) if spatial_dims else (3 if ndim >= 3 else 2)
        in_ch = 1 if channel_axis is None else int(first.shape[channel_axis])
        bundle = None
    pairs = _pairs(images, labels, sd, in_ch, channel_axis)
    cfg = {**NEW_MODEL[sd], **(model_config or {})}
    div = bundle.divisor if bundle else 2 ** (int(cfg["depth"]) - 1)
    shapes = [p.spatial for p in pairs]
    auto_patch, auto_batch = _default_patch_batch(sd, device, shapes, div)
    if patch_size is None:
        patch = auto_patch
    else:
        req = (
            (patch_size,) * sd if isinstance(patch_size, (int, np.integer)) else tuple(patch_size)
        )
        if len(req) != sd or min(req) < 1:
            raise ValueError(
                f"patch_size must be a positive int or {sd} ints, got {patch_size!r}."
            )
        patch = _fit_patch(req, np.max(np.array(shapes), axis=0), div)
    batch = int(batch_size or auto_batch)
    block = tuple(max(1, p // 2) for p in patch)

    plan = _plan_classes(
        pairs, label_mode, n_classes, bundle.n_classes if bundle else None, block[0]
    )
    index = _LabelIndex(pairs, plan, block, rng)
    totals = index.class_totals()
    present = [c for c in range(plan.n_eff) if totals[c] > 0]
    if len(present) < 2:
        if label_mode == "sparse":
            which = "background (label 1)" if present == [0] else f"label {present[0] + 1}"
            raise ValueError(
                f"Only one class is painted ({which}): paint background (label 1) and at "
                "least one class (label 2 or more) before training."
            )
        raise ValueError("The dense labels contain a single class; they need at least two.")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if bundle is None:
            net = UNet(spatial_dims=sd, in_channels=in_ch, n_classes=plan.n_classes, **cfg)
            bundle = ModelBundle.from_network(net, name=f"unet-{sd}d")
        elif plan.n_classes != bundle.n_classes:
            _reinit_head(bundle.network, plan.n_classes)
            bundle.class_names = []
            bundle.__post_init__()  # the bundle's default class names for the new count
    started_from = (model.source or model.name) if model is not None else None
    if fine_tune:
        bundle.name = f"{model.name}-finetuned"
    for pair in pairs:
        pair.normalizer = bundle.normalizer(pair.image, channel_axis)

    val, message = _split_validation(index, float(val_fraction), rng)
    sampler = _Sampler(pairs, index, plan, val, patch, rng)
    val_data = sampler.validation(MAX_VAL_PATCHES)
    messages = [m for m in (plan.message, message) if m]

    network = bundle.network.to(device)
    network.train()
    amp_dtype = dev.autocast_dtype(device, "auto")
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    lr0 = float(learning_rate or (5e-4 if fine_tune else 2e-3))
    opt = torch.optim.AdamW(network.parameters(), lr=lr0, weight_decay=1e-4)
    warmup = min(20, max(1, (int(steps) if steps else 200) // 10))
    if eval_every is None:
        eval_every = max(5, int(steps) // 10) if steps else 0
    eval_seconds = float(time_limit) / 15 if time_limit else None
    gen = torch.Generator().manual_seed(int(seed))
    pin = device.type == "cuda"

    def to_device(arr: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(arr)
        return (t.pin_memory() if pin else t).to(device, non_blocking=pin)

    val_x = val_y = None
    if val_data is not None:
        val_x, val_y = to_device(val_data[0]), to_device(val_data[1])

    def evaluate() -> tuple[float, float | None]:
        network.eval()
        loss_sum, counts = 0.0, None
        with torch.inference_mode(), dev.autocast(device, amp_dtype):
            for i in range(0, len(val_x), batch):
                logits = network(val_x[i : i + batch])
                loss, _ = masked_loss(logits, val_y[i : i + batch])
                loss_sum += float(loss) * len(logits)
                c = hard_dice(logits, val_y[i : i + batch])
                counts = c if counts is None else counts + c
        network.train()
        return loss_sum / len(val_x), dice_from_counts(counts)

    def preview() -> np.ndarray:
        """The current model's labels for the preview image (tiled, like inference)."""
        gen_pred = predict_tiled(bundle, preview_image, device=device, batch_size=batch)
        while True:
            try:
                next(gen_pred)
            except StopIteration as done:
                network.train()
                return np.asarray(done.value.labels)

    def optimize(xb: np.ndarray, yb: np.ndarray) -> float:
        """One optimizer step on a batch; returns its loss."""
        x, y = to_device(xb), to_device(yb)
        if augment:
            x, y = augment_batch(x, y, gen)
        with dev.autocast(device, amp_dtype):
            logits = network(x)
        loss, _ = masked_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:  # fp16 autocast: scale the loss against underflow
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            opt.step()
        return float(loss.detach())

    # -- the loop ------------------------------------------------------------------------
    hist_steps: list[int] = []
    hist_loss: list[float] = []
    val_hist: dict[str, list[Any]] = {"step": [], "loss": [], "dice": []}
    best_dice: float | None = None
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    best_step = 0
    step = 0
    pending: list[float] = []
    last_yield = -1.0
    next_eval_t = eval_seconds
    last_eval_step = -1
    stopped = False
    per_class = ", ".join(f"{bundle.class_names[c]}: {int(totals[c]):,}" for c in present)
    what = "Fine-tuning" if fine_tune else "Training a"
    held = (
        f", validating on {sum(len(v) for v in val)} held-out region(s)"
        if val_x is not None
        else ""
    )
    messages.insert(
        0,
        f"{what} {sd}D model on {int(totals.sum()):,} labeled pixels ({per_class}), patches "
        f"{'x'.join(map(str, patch))}, batch {batch}, on {device}{held}.",
    )
    yield TrainProgress(
        0,
        steps,
        None,
        None,
        None,
        None,
        0.0,
        time.perf_counter() - t_start,
        time_limit,
        message=" ".join(messages),
    )

    def record(
        loss: float | None, vl: float | None, vd: float | None, prev: Any, msg: str
    ) -> TrainProgress:
        return TrainProgress(
            step=step,
            total_steps=int(steps) if steps else None,
            loss=loss,
            val_loss=vl,
            val_dice=vd,
            best_val_dice=best_dice,
            lr=opt.param_groups[0]["lr"],
            elapsed=time.perf_counter() - t_start,
            time_limit=time_limit,
            preview=prev,
            message=msg,
        )

    def run_eval() -> tuple[float, float | None]:
        nonlocal best_dice, best_loss, best_state, best_step, last_eval_step
        vl, vd = evaluate()
        last_eval_step = step
        val_hist["step"].append(step)
        val_hist["loss"].append(vl)
        val_hist["dice"].append(vd)
        # Dice on scribbles often saturates: among equal Dice, the lower loss wins.
        if vd is not None and (
            best_dice is None or vd > best_dice or (vd == best_dice and vl < best_loss)
        ):
            best_dice, best_loss, best_step = vd, vl, step
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()
            }
        return vl, vd

    while True:
        elapsed = time.perf_counter() - t_start
        if stop is not None and stop.is_set():
            stopped = True
            break
        if steps is not None and step >= int(steps):
            break
        if time_limit is not None and elapsed >= float(time_limit):
            break
        frac = max(
            step / int(steps) if steps else 0.0, elapsed / float(time_limit) if time_limit else 0.0
        )
        lr = _lr_at(step, frac, lr0, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        xb, yb = sampler.sample(batch)
        try:
            lv = optimize(xb, yb)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
            if not dev.is_out_of_memory(exc):
                raise
            opt.zero_grad(set_to_none=True)
            dev.empty_cache(device)
            if batch == 1:
                raise MemoryError(
                    f"Out of memory on {device} with one {'x'.join(map(str, patch))} patch "
                    "per batch; choose a smaller patch size or train on the CPU."
                ) from exc
            batch //= 2
            yield record(
                None,
                None,
                None,
                None,
                f"Out of memory on {device}: batch size reduced to {batch}.",
            )
            continue
        step += 1
        pending.append(lv)
        hist_steps.append(step)
        hist_loss.append(lv)

        vl = vd = None
        now = time.perf_counter() - t_start
        if val_x is not None and (
            (eval_every and step % eval_every == 0)
            or (not eval_every and next_eval_t is not None and now >= next_eval_t)
        ):
            vl, vd = run_eval()
            if next_eval_t is not None:
                next_eval_t = now + eval_seconds
        prev = None
        if preview_image is not None and preview_every and step % int(preview_every) == 0:
            prev = preview()
        if vl is not None or prev is not None or now - last_yield >= 0.1:
            yield record(float(np.mean(pending)), vl, vd, prev, "")
            pending = []
            last_yield = now

    # -- finish: last validation, best weights, history ----------------------------------
    final_msg = "Stopped: keeping the best model so far." if stopped else ""
    vl = vd = None
    if val_x is not None and step > 0 and last_eval_step != step:
        vl, vd = run_eval()
    if best_state is not None:
        network.load_state_dict(best_state)
    if pending or vl is not None or final_msg:
        yield record(float(np.mean(pending)) if pending else None, vl, vd, None, final_msg)
    network.eval().cpu()
    duration = time.perf_counter() - t_start
    run = {
        "label_mode": label_mode,
        "n_classes": plan.n_classes,
        "instances_as_one_class": plan.collapse,
        "seed": int(seed),
        "steps": step,
        "duration_s": round(duration, 2),
        "device": str(device),
        "patch_size": list(patch),
        "batch_size": batch,
        "learning_rate": lr0,
        "augment": bool(augment),
        "data_shapes": [list(map(int, p.image.shape)) for p in pairs],
        "labeled_pixels": [int(v) for v in totals],
        "val_fraction": float(val_fraction),
        "validation": val_x is not None,
        "best_step": best_step if best_state is not None else step,
        "best_val_dice": best_dice,
        "stopped_early": stopped,
        "started_from": started_from,
        "curve": {"step": _subsample(hist_steps), "loss": _subsample(hist_loss)},
        "val_curve": val_hist,
    }
    previous = dict(bundle.history) if fine_tune else {}
    bundle.history = {**run, "previous": previous} if previous else run
    return bundle
