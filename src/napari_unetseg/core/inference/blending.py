"""The output side: weighted tile outputs summed band by band, finished rows turned into labels.

Each tile's class probabilities are multiplied by the tile's weights (gaussian by default)
and added into float32 buffers that hold one band of ``tile_0`` rows; the weights are summed
beside them. Once no remaining tile touches a row, the row's blended value is
``sum / weight sum``: it is turned into labels (and optional maps), written to the outputs,
and the buffers shift up, so they never grow with the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..normalize import Layout

#: A marked voxel is "sure" when its class's blended probability is above this.
SURE = 0.8
#: Below this share of sure voxels among the marked ones, :func:`confidence` says the
#: model is unsure on the image (the shipped models: 0.66-0.93 on ten real images, 0.23
#: on a light-sheet stack they fail on; docs/benchmarks.md).
UNSURE_BELOW = 0.5


def confidence(marked: int, sure: int, voxels: int) -> dict[str, Any]:
    """How sure the model was of what it marked, with a hint when it was not.

    Returns ``marked`` and ``sure`` (voxel counts), ``sure_share`` (None when nothing
    was marked) and ``message``: one sentence when fewer than :data:`UNSURE_BELOW` of
    the marked voxels are sure (and at least 0.1 % of the image, 100 voxels, is
    marked), else None.
    """
    share = sure / marked if marked else None
    message = None
    if share is not None and share < UNSURE_BELOW and marked >= max(100, voxels / 1000):
        message = unsure_text(share)
    return {"marked": marked, "sure": sure, "sure_share": share, "message": message}


def unsure_text(share: float, trained_here: bool = False) -> str:
    """The sentence of :func:`confidence` for a model sure of ``share`` of what it
    marked. ``trained_here``: the model was trained on this image (in the viewer's
    session), where more strokes and more training are the way, not a fine-tuning from
    scratch again (a model just trained on whole cells was sent to fine-tune; journey
    bash)."""
    head = (
        f"The model is unsure on this image: only {share:.0%} of what it marked has a "
        f"probability above {SURE:g}; "
    )
    if trained_here:
        return head + (
            "it was trained on this image: a few more strokes where it is unsure, then "
            "Continue training in Fine-tune, usually fix that."
        )
    return head + (
        "fine-tuning it on a few painted dots of your objects and background usually fixes that."
    )


def unsure_band(probabilities: Any, classes: bool = False) -> np.ndarray:
    """Where the model is unsure: 1 where the foreground probability lies strictly between
    ``1 - SURE`` and :data:`SURE`, else 0 (uint8, the probabilities' shape). With
    ``classes`` the probabilities are one map per label value (class axis first) and the
    band is where the most probable class stays below :data:`SURE`: the same band for two
    classes, and for several it shows where two object classes are confused too (the
    foreground map is sure there; left-alone item).

    That is where the next strokes tell a model most: on eight of the benchmark's cases,
    three draws each, three strokes through the largest unsure regions of each painted
    plane (with the class an eye sees there) lifted the forest teacher fitted again on
    them by +0.027 Dice on average (22 of 24 up), strokes through its largest errors by
    +0.000 (12 of 24) and random strokes by +0.014 with 2.5 times the pixels
    (docs/benchmarks.md, "Where to paint next").
    """
    p = np.asarray(probabilities)
    if classes:
        return (p.max(axis=0) < SURE).astype(np.uint8)
    return ((p > 1.0 - SURE) & (p < SURE)).astype(np.uint8)


class BandWriter:
    """Turns finalized probability rows into labels (and optional maps) in the outputs."""

    def __init__(
        self, layout: Layout, n_classes: int, outputs: Any, class_maps: bool = False
    ) -> None:
        """``outputs`` has the arrays written: ``labels``, ``probabilities`` and
        ``uncertainty`` (None where not asked for), e.g. a ``PredictionResult``."""
        self.layout, self.n_classes = layout, n_classes
        #: ``probabilities`` holds every label value's map (class axis first, the
        #: background's included), not the foreground's
        self.class_maps = class_maps
        self.labels = outputs.labels
        self.probabilities, self.uncertainty = outputs.probabilities, outputs.uncertainty
        self.n_spatial = len(layout.spatial_axes)
        #: Voxels given an object class, and those of them whose class has a blended
        #: probability above :data:`SURE` (see :func:`confidence`).
        self.marked = 0
        self.sure = 0

    def _index(self, lead: tuple[int, ...], r0: int, rows: int) -> tuple:
        # Output arrays drop the channel axis: leading axes, then spatial axes.
        return tuple(lead) + (slice(r0, r0 + rows),) + (slice(None),) * (self.n_spatial - 1)

    def write(self, lead: tuple[int, ...], r0: int, acc: torch.Tensor, wsum: torch.Tensor) -> None:
        """Write finalized rows from their weighted sums.

        ``acc``: (n_classes [+ 1 variance channel], rows, *rest) sums of weight x value;
        ``wsum``: (rows, *rest) sums of the weights. The blended value is ``acc / wsum``.
        """
        k = self.n_classes
        fg = None
        if k == 1:
            fg = acc[0] / wsum
            labels = fg > 0.5
        else:
            # Every class shares the positive divisor wsum, so the argmax of the sums is
            # the argmax of the blended probabilities: no division needed for labels.
            labels = argmax_classes(acc[:k])
            if self.probabilities is not None:
                fg = 1.0 - acc[0] / wsum
        marked = labels != 0
        top = acc[0] if k == 1 else acc[:k].amax(0)
        self.marked += int(marked.sum())
        self.sure += int((marked & (top > SURE * wsum)).sum())
        idx = self._index(lead, r0, acc.shape[1])
        self.labels[idx] = labels.cpu().numpy().astype(self.labels.dtype, copy=False)
        if self.probabilities is not None and self.class_maps:
            # every label value's map, the background's first (a one-output model's too)
            maps = torch.stack([1.0 - fg, fg]) if k == 1 else acc[:k] / wsum
            self.probabilities[(slice(None), *idx)] = maps.float().cpu().numpy()
        elif self.probabilities is not None:
            self.probabilities[idx] = fg.float().cpu().numpy()
        if self.uncertainty is not None:
            self.uncertainty[idx] = (acc[k] / wsum).float().cpu().numpy()


class BandAccumulator:
    """Float buffers for one band of rows; finalizes rows no tile will touch again.

    Tiles must arrive in grid order (leading index, then first-axis start ascending),
    which is the order :class:`~.reader.TileReader` produces.
    """

    def __init__(
        self,
        n_out: int,
        tile: tuple[int, ...],
        padded: tuple[int, ...],
        shape: tuple[int, ...],
        weights: torch.Tensor,
        writer: BandWriter,
        device: torch.device,
    ) -> None:
        self.tile, self.shape, self.writer, self.weights = tile, shape, writer, weights
        buf = (tile[0],) + padded[1:]
        self.acc = torch.zeros((n_out, *buf), dtype=torch.float32, device=device)
        self.wsum = torch.zeros(buf, dtype=torch.float32, device=device)
        self.lead: tuple[int, ...] | None = None
        self.base = 0

    @property
    def nbytes(self) -> int:
        return (self.acc.numel() + self.wsum.numel()) * 4

    def follow(self, device: torch.device) -> None:
        """Move the buffers to ``device`` (the CPU, once the forward pass fell back there:
        a GPU too full for one tile has no room for the tiles' outputs either)."""
        if self.acc.device != device:
            self.acc, self.wsum = self.acc.to(device), self.wsum.to(device)
            self.weights = self.weights.to(device)

    def add(self, lead: tuple[int, ...], start: tuple[int, ...], out: torch.Tensor) -> None:
        """Accumulate one tile's (n_out, *tile) output at ``start``."""
        if lead != self.lead:
            self.finish()
            self.lead, self.base = lead, 0
        if start[0] > self.base:
            self._finalize(start[0] - self.base)
        r = start[0] - self.base
        idx = (slice(r, r + self.tile[0]),) + tuple(
            slice(s, s + t) for s, t in zip(start[1:], self.tile[1:])
        )
        # addcmul_ multiplies and accumulates in one pass, without a temporary tile.
        self.acc[(slice(None),) + idx].addcmul_(out, self.weights)
        self.wsum[idx] += self.weights

    def _finalize(self, n: int) -> None:
        """Write the first ``n`` buffered rows and shift the buffers up."""
        rows = min(n, self.shape[0] - self.base)
        if rows > 0:
            crop = (slice(0, rows),) + tuple(slice(0, s) for s in self.shape[1:])
            self.writer.write(
                self.lead, self.base, self.acc[(slice(None),) + crop], self.wsum[crop]
            )
        keep = self.tile[0] - n
        if keep > 0:
            self.acc[:, :keep] = self.acc[:, n:].clone()
            self.wsum[:keep] = self.wsum[n:].clone()
        self.acc[:, max(keep, 0) :] = 0
        self.wsum[max(keep, 0) :] = 0
        self.base += n

    def finish(self) -> None:
        """Write every row still buffered (the end of a plane/volume, or of the image)."""
        if self.lead is not None:
            self._finalize(self.tile[0])
            self.lead = None


def argmax_classes(scores: torch.Tensor) -> torch.Tensor:
    """Index of the largest value along the first axis (ties go to the lower class).

    Same result as ``scores.argmax(0)``, as uint8 (int32 beyond 256 classes), but
    computed class by class with elementwise comparisons: ``argmax`` over a short
    leading axis is a strided reduction that is about 100x slower on the CPU (0.19 s vs
    1 ms for a 2 x 48 x 192 x 192 band).
    """
    k = scores.shape[0]
    if k == 2:
        return scores[1] > scores[0]
    labels = torch.zeros(
        scores.shape[1:], dtype=torch.uint8 if k <= 256 else torch.int32, device=scores.device
    )
    best = scores[0].clone()
    for c in range(1, k):
        better = scores[c] > best
        labels.masked_fill_(better, c)
        best = torch.where(better, scores[c], best)
    return labels
