"""The input side: a background thread that reads, normalizes and batches tiles band by band.

The image is read one band of ``tile_0`` rows at a time (so numpy memmaps, zarr and dask
arrays are never loaded whole), normalized, padded to the tile grid and cut into tiles;
batches wait in a short queue while the model runs on the previous one.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..normalize import Layout, Normalizer
from .grid import pad_end, tile_starts


@dataclass
class TileBatch:
    """Tiles stacked for one forward pass, and where each one goes."""

    x: torch.Tensor  # (B, C, *tile)
    where: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (lead index, tile start)


class TileReader:
    """Reads, normalizes and batches tiles in a background thread, band by band.

    Iterating starts the thread and yields :class:`TileBatch` es in grid order (leading
    index, then tile start, first axis slowest); an error in the thread is re-raised by
    the iteration. :meth:`close` stops the thread (always call it, also after an early
    stop).
    """

    _DONE = object()

    def __init__(
        self,
        image: Any,
        layout: Layout,
        normalizer: Normalizer,
        tile: tuple[int, ...],
        overlap: float,
        batch_size: int,
        pin: bool,
        starts: Any = None,
    ) -> None:
        self.image, self.layout, self.normalizer = image, layout, normalizer
        self.tile, self.batch_size, self.pin = tile, batch_size, pin
        shape = layout.spatial_shape
        self.padded = tuple(max(s, t) for s, t in zip(shape, tile))
        if starts is None:  # else: given tiles (a block of a larger image's grid)
            starts = [tile_starts(s, t, overlap) for s, t in zip(self.padded, tile)]
        self.starts = [[int(v) for v in axis] for axis in starts]
        self.leads = list(np.ndindex(*layout.leading_shape)) if layout.leading_axes else [()]
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="unetseg-tile-reader", daemon=True)

    @property
    def tiles_per_volume(self) -> int:
        return math.prod(len(s) for s in self.starts)

    @property
    def total_tiles(self) -> int:
        return self.tiles_per_volume * len(self.leads)

    def _band(self, lead: tuple[int, ...], r0: int) -> np.ndarray:
        shape = self.layout.spatial_shape
        rows = slice(r0, min(r0 + self.tile[0], shape[0]))
        spatial = (rows,) + tuple(slice(0, s) for s in shape[1:])
        block = np.asarray(self.image[self.layout.index(lead, spatial)])
        block = self.normalizer(self.layout.to_channels_first(block))
        return pad_end(block, (self.tile[0],) + self.padded[1:])

    def _tiles(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], np.ndarray]]:
        for lead in self.leads:
            for r0 in self.starts[0]:
                band = self._band(lead, r0)
                for rest in itertools.product(*self.starts[1:]):
                    idx = (slice(None), slice(None)) + tuple(
                        slice(s, s + t) for s, t in zip(rest, self.tile[1:])
                    )
                    yield lead, (r0, *rest), band[idx]

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _emit(self, pending: list) -> bool:
        x = torch.from_numpy(np.stack([p[2] for p in pending]))
        if self.pin:
            x = x.pin_memory()
        return self._put(TileBatch(x, [(p[0], p[1]) for p in pending]))

    def _run(self) -> None:
        try:
            pending: list = []
            for item in self._tiles():
                if self.stop.is_set():
                    return
                pending.append(item)
                if len(pending) == self.batch_size:
                    if not self._emit(pending):
                        return
                    pending = []
            if pending and not self._emit(pending):
                return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self.error = exc
        self._put(self._DONE)

    def __iter__(self) -> Iterator[TileBatch]:
        self.thread.start()
        while True:
            item = self.queue.get()
            if item is self._DONE:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()
