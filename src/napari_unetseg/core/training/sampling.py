"""Patches: reading them from the images and labels, and the class-balanced sampler.

A patch is centred (with a random offset) on a labeled training pixel of a class drawn
uniformly, so every patch contains labels and rare classes are oversampled. With
scribbles, half of the patches are centred on *transition* pixels: painted pixels that
have a pixel of another painted class nearby (within a quarter patch), so the network
sees where the classes meet, the only place sparse strokes say anything about a
boundary. Image patches
are read from the array-like input and normalized on the fly with the model's
:class:`~napari_unetseg.core.normalize.Normalizer` (statistics computed once per image,
the same transform inference applies). Pixels of validation blocks are never trained on.
"""

from __future__ import annotations

import math

import numpy as np

from ..inference.grid import pad_end
from .labels import _ClassMap, _LabelIndex, _Pair

#: Validation patches evaluated at each evaluation (a fixed, seeded subset).
MAX_VAL_PATCHES = 16
#: Share of the patches centred on transition pixels (scribbles only).
TRANSITION_SHARE = 0.5
#: Transitions are looked for among at most this many painted pixels per class.
MAX_TRANSITION_POINTS = 200_000


def _transition_pools(pools: list[np.ndarray], radius: float) -> list[np.ndarray]:
    """For each class, its pixels with a pixel of another class within ``radius``.

    ``pools[c]`` holds rows ``(source, *coords)``; sources are kept apart.
    """
    from scipy.spatial import cKDTree

    out = [np.zeros((0, p.shape[1] if p.ndim == 2 else 1), np.int64) for p in pools]
    nonempty = [c for c, p in enumerate(pools) if len(p)]
    if len(nonempty) < 2 or any(len(pools[c]) > MAX_TRANSITION_POINTS for c in nonempty):
        return out
    span = max(float(np.max(pools[c][:, 1:])) for c in nonempty) + 10 * radius + 1

    def points(rows: np.ndarray) -> np.ndarray:
        pts = rows.astype(np.float64)
        pts[:, 0] *= span  # different images/planes never count as near
        return pts

    trees = {c: cKDTree(points(pools[c])) for c in nonempty}
    for c in nonempty:
        mine = points(pools[c])
        near = np.zeros(len(mine), bool)
        for other in nonempty:
            if other != c:
                dist, _ = trees[other].query(mine, k=1, distance_upper_bound=radius)
                near |= np.isfinite(dist)
        out[c] = pools[c][near]
    return out


def _read_patch(
    pair: _Pair, lead: tuple[int, ...], start: np.ndarray, patch: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized image (C, *patch) float32 and raw labels (*patch) int64, padded."""
    spatial = pair.spatial
    sl = tuple(
        slice(int(a), min(int(a) + p, s)) for a, p, s in zip(start, patch, spatial, strict=True)
    )
    img = pair.layout.to_channels_first(np.asarray(pair.image[pair.layout.index(lead, sl)]))
    x = pad_end(pair.normalizer.at(lead)(img), patch)
    raw = np.asarray(pair.labels[pair.lab_layout.index(lead, sl)]).astype(np.int64)
    return x, raw


def _pad_target(t: np.ndarray, patch: tuple[int, ...]) -> np.ndarray:
    pads = [(0, p - s) for s, p in zip(t.shape, patch, strict=True)]
    return np.pad(t, pads, constant_values=-1) if any(p for _, p in pads) else t


def _val_mask(
    index: _LabelIndex, s: int, val: set[int], start: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Boolean mask (shape) of the pixels of a box that lie in validation blocks.

    From the block grid, axis by axis: ``np.isin`` over a full patch of block ids was a
    tenth of a training step's time on a GPU (docs/benchmarks.md).
    """
    grid = index.grids[s]
    mask = np.zeros(math.prod(grid), bool)
    mask[np.fromiter(val, np.int64, len(val))] = True
    mask = mask.reshape(grid)
    # Cut the blocks the box touches, then repeat each one as many pixels as it covers.
    for a, (a0, n, b) in enumerate(zip(start, shape, index.block, strict=True)):
        cells = np.arange(int(a0), int(a0) + n) // b
        mask = np.take(mask, np.arange(cells[0], cells[-1] + 1), axis=a)
        mask = np.repeat(mask, np.bincount(cells - cells[0]), axis=a)
    return mask


class _Sampler:
    """Draws training batches: class-balanced, centred on labeled training pixels."""

    def __init__(
        self,
        pairs: list[_Pair],
        index: _LabelIndex,
        class_map: _ClassMap,
        val: list[set[int]],
        patch: tuple[int, ...],
        rng: np.random.Generator,
        transitions: bool = False,
    ) -> None:
        self.pairs, self.index, self.class_map, self.val = pairs, index, class_map, val
        self.patch, self.rng = patch, rng
        self.pools = []
        for rows in index.coords:
            self.pools.append(rows[~index.in_blocks(rows, val)] if any(val) else rows)
        self.classes = [c for c, rows in enumerate(self.pools) if len(rows)]
        self.transitions = _transition_pools(self.pools, min(patch) / 4) if transitions else []

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
            if self.transitions and len(self.transitions[c]):
                if self.rng.random() < TRANSITION_SHARE:
                    pool = self.transitions[c]
            s, *centre = pool[self.rng.integers(len(pool))]
            p, lead = self.index.sources[s]
            pair = self.pairs[p]
            start = self._start(np.array(centre), pair.spatial)
            x, raw = _read_patch(pair, lead, start, self.patch)
            t = self.class_map.targets(raw)
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
            t = self.class_map.targets(raw)
            inside = _val_mask(self.index, s, {int(b)}, start, t.shape)
            t[~inside] = -1
            xs.append(x)
            ys.append(_pad_target(t, self.patch))
        return np.stack(xs), np.stack(ys)
