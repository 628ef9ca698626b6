"""The input side: a background thread that reads, normalizes and batches tiles band by band.

The image is read one band of ``tile_0`` rows at a time (so numpy memmaps, zarr and dask
arrays are never loaded whole), normalized, padded to the tile grid and cut into tiles;
batches wait in a short queue while the model runs on the previous one.

For a GPU the tiles are cut where the network runs (``bands=True``): a batch then holds the
bands its tiles lie in, each band is copied to the device once and its tiles are cut and
stacked there. Overlapping tiles share their voxels, so a 3D volume at overlap 0.25 sends
about 1.3 times its size over the bus instead of 2.4 times, and the host no longer stacks
tiles (the costlier half of its work: docs/benchmarks.md, "On a GPU").
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

from ..normalize import Layout, Normalizer, TimeNormalizers
from .grid import pad_end, tile_starts


class Band:
    """One normalized, padded band of the image on the host, copied to a device once."""

    def __init__(self, host: torch.Tensor) -> None:
        self.host = host  # (C, tile_0, *padded other axes)
        self._copy: torch.Tensor | None = None

    def on(self, device: torch.device) -> torch.Tensor:
        """The band on ``device``; the copy is kept for the band's other tiles."""
        if self.host.device == device:
            return self.host
        if self._copy is None or self._copy.device != device:
            self._copy = self.host.to(device, non_blocking=True)
        return self._copy


@dataclass
class TileBatch:
    """Tiles for one forward pass, and where each one goes.

    Either stacked on the host (``x``) or, with ``bands``, cut from the bands they lie in
    by :meth:`tensor` on the device that runs them.
    """

    x: torch.Tensor | None  # (B, C, *tile)
    where: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (lead index, tile start)
    bands: list[tuple[Band, tuple]] | None = None  # (band, index of the tile in it)

    def __len__(self) -> int:
        return len(self.bands) if self.bands is not None else len(self.x)

    @property
    def tile_shape(self) -> tuple[int, ...]:
        """The spatial shape of a tile."""
        if self.bands is None:
            return tuple(self.x.shape[2:])
        band, idx = self.bands[0]
        return tuple(band.host[idx].shape[1:])

    def tensor(
        self, device: torch.device, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Tiles ``start:stop``, (B, C, *tile): stacked on ``device`` when they come as bands
        (else as they are, on the host)."""
        if self.bands is None:
            return self.x[start:stop]
        return torch.stack([band.on(device)[idx] for band, idx in self.bands[start:stop]])


class TileReader:
    """Reads, normalizes and batches tiles in a background thread, band by band.

    Iterating starts the thread and yields :class:`TileBatch` es in grid order (leading
    index, then tile start, first axis slowest); an error in the thread is re-raised by
    the iteration. :meth:`close` stops the thread (always call it, also after an early
    stop). ``pin``: page-locked host memory for the copies to a GPU; ``bands``: batches
    carry their bands and the tiles are cut on the device (:meth:`TileBatch.tensor`).
    """

    _DONE = object()

    def __init__(
        self,
        image: Any,
        layout: Layout,
        normalizer: Normalizer | TimeNormalizers,
        tile: tuple[int, ...],
        overlap: float,
        batch_size: int,
        pin: bool,
        starts: Any = None,
        bands: bool = False,
    ) -> None:
        self.image, self.layout, self.normalizer = image, layout, normalizer
        self.tile, self.batch_size, self.pin, self.bands = tile, batch_size, pin, bands
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
        block = self.normalizer.at(lead)(self.layout.to_channels_first(block))
        return pad_end(block, (self.tile[0],) + self.padded[1:])

    def _tiles(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], Band, tuple]]:
        for lead in self.leads:
            for r0 in self.starts[0]:
                band = torch.from_numpy(np.ascontiguousarray(self._band(lead, r0)))
                if self.pin and self.bands:
                    band = band.pin_memory()
                held = Band(band)
                for rest in itertools.product(*self.starts[1:]):
                    idx = (slice(None), slice(None)) + tuple(
                        slice(s, s + t) for s, t in zip(rest, self.tile[1:])
                    )
                    yield lead, (r0, *rest), held, idx

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _emit(self, pending: list) -> bool:
        where = [(p[0], p[1]) for p in pending]
        if self.bands:
            return self._put(TileBatch(None, where, [(p[2], p[3]) for p in pending]))
        x = torch.stack([p[2].host[p[3]] for p in pending])
        if self.pin:
            x = x.pin_memory()
        return self._put(TileBatch(x, where))

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
