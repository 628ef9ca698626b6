"""``predict_tiled``: the streaming tiled predictor, assembled from the other modules.

Reader (:mod:`.reader`) -> forward pass (:mod:`.forward`) -> band accumulation and labels
(:mod:`.blending`), over the tile grid of :mod:`.grid`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import devices as dev
from .. import guards
from ..bundle import ModelBundle
from ..normalize import Layout, Normalizer, TimeNormalizers
from ..precision import choose_precision
from .blending import BandAccumulator, BandWriter, confidence
from .forward import TileForward, auto_batch_size
from .grid import BLENDS, blend_weights, halo_overlap, halo_weights, resolve_tile_size
from .reader import TileReader

#: Batches of tiles for a CUDA device are copied into page-locked host memory first, so
#: the transfer can overlap the previous batch's forward pass (docs/benchmarks.md, "On
#: a GPU", measures it against plain pageable copies).
PIN_HOST_MEMORY = True
#: Device types for which each band of the image is copied once and its tiles are cut on
#: the device (``reader.TileBatch.tensor``), instead of stacking the overlapping tiles on
#: the host and copying them all (docs/benchmarks.md, "On a GPU", measures both).
CUT_TILES_ON = ("cuda",)


@dataclass
class TileProgress:
    """Progress of a tiled prediction: ``done`` of ``total`` tiles."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class PredictionResult:
    """Labels (and optional maps) of a finished prediction, plus what it cost."""

    labels: Any
    probabilities: Any | None = None
    uncertainty: Any | None = None
    stats: dict[str, Any] = field(default_factory=dict)


#: The largest tile overlap (the Segment widget's too). Tiles step by (1 - overlap) of
#: their edge, so 0.75 already predicts every pixel 16 times in 2D and 64 times in 3D;
#: 0.999 took 358 s instead of 0.44 s on a 256 x 256 image, for nothing measurable.
MAX_OVERLAP = 0.75


def check_overlap(overlap: float) -> None:
    """One sentence for an overlap outside [0, :data:`MAX_OVERLAP`]."""
    try:  # (None said "float() argument must be a string or a real number"; API bash)
        inside = 0.0 <= float(overlap) <= MAX_OVERLAP and not isinstance(overlap, bool)
    except (TypeError, ValueError):
        inside = False
    if not inside:
        raise ValueError(
            f"overlap must be from 0 to {MAX_OVERLAP} (the fraction of a tile shared "
            f"with its neighbours; 0.25 is the default), got {overlap!r}."
        )


def _check_arguments(overlap: float, blend: str, batch_size: int | None) -> None:
    check_overlap(overlap)
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}.")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")


def _outputs(
    bundle: ModelBundle,
    layout: Layout,
    run: tuple[tuple[int, ...], int, torch.device],
    out: Any,
    uncertainty: bool,
    probabilities: bool,
    probabilities_out: Any,
    class_maps: bool,
) -> PredictionResult:
    """The result with its label array (``out`` if given, checked) and the maps asked for
    (the probabilities into ``probabilities_out`` if given, checked; one map per class,
    class axis first, with ``class_maps``), once :func:`check_prediction_memory` has
    found room for them (``run``: tile, batch size and device)."""
    tile, batch, device = run
    out_shape = layout.output_shape
    map_shape = (bundle.n_labels, *out_shape) if class_maps else out_shape
    maps = (bundle.n_labels if class_maps else 1) * int(
        probabilities and probabilities_out is None
    )
    check_prediction_memory(bundle, layout, tile, batch, device, out is None, maps + uncertainty)
    if out is None:
        label_dtype = np.uint8 if bundle.n_labels <= 255 else np.uint16
        out = np.zeros(out_shape, dtype=label_dtype)
    check_out_array("out", out, out_shape, bundle.n_labels - 1)
    check_out_array("probabilities_out", probabilities_out, map_shape)
    if probabilities and probabilities_out is None:
        probabilities_out = np.zeros(map_shape, np.float32)
    return PredictionResult(
        labels=out,
        probabilities=probabilities_out if probabilities else None,
        uncertainty=np.zeros(out_shape, np.float32) if uncertainty else None,
    )


def check_out_array(
    name: str, given: Any, shape: tuple[int, ...], max_label: int | None = None
) -> None:
    """One sentence, before any tile is predicted, for an output array that cannot take
    the result: not an array, another shape, read-only, or (labels) a dtype whose values
    stop below ``max_label`` (a bool array merged classes 1 and 2 without a word; a
    read-only one failed after the whole prediction, a list with an AttributeError)."""
    if given is None:
        return
    if not hasattr(given, "shape") or not hasattr(given, "__setitem__"):
        raise ValueError(
            f"{name} must be an array (numpy, memmap, zarr), not {type(given).__name__}."
        )
    if tuple(given.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(given.shape)} but needs {shape}.")
    flags = getattr(given, "flags", None)
    if getattr(given, "read_only", False) or (flags is not None and not flags.writeable):
        raise ValueError(f"{name} is read-only; give an array that can be written.")
    dtype = np.dtype(given.dtype)
    if max_label is not None and dtype.kind in "biu":
        top = 1 if dtype.kind == "b" else np.iinfo(dtype).max
        if top < max_label:
            raise ValueError(
                f"{name} of dtype {dtype} cannot hold labels up to {max_label}; "
                "give a uint8 or larger integer array."
            )


def check_prediction_memory(
    bundle: ModelBundle,
    layout: Layout,
    tile: tuple[int, ...],
    batch_size: int,
    device: torch.device,
    new_labels: bool,
    maps: int,
) -> None:
    """Refuse a prediction that would not fit in memory (core/guards.py), before any of
    its buffers is allocated. ``maps``: image-sized float32 maps asked for."""
    padded = tuple(max(s, t) for s, t in zip(layout.spatial_shape, tile))
    host, on_device = guards.prediction_bytes(
        math.prod(layout.output_shape),
        tile,
        batch_size,
        bundle.n_classes,
        base_channels=int(bundle.config.get("base_channels", 16)),
        depth=int(bundle.config.get("depth", 4)),
        band_voxels=tile[0] * math.prod(padded[1:]),
        label_bytes=1 if bundle.n_labels <= 255 else 2,
        maps=maps,
        write_labels=new_labels,
        in_channels=bundle.in_channels,
    )
    # On a GPU the tiles are the device's business: out-of-memory there halves the batch
    # and falls back to the CPU (core/devices.py); the image-sized outputs are RAM.
    needed = host + on_device if device.type == "cpu" else host
    hint = "choose a smaller tile size or batch size, or segment a smaller region"
    guards.check_memory(needed, "Prediction", hint=hint)


def _run_stats(
    seconds: float,
    reader: TileReader,
    forward: TileForward,
    accumulator: BandAccumulator,
    writer: BandWriter,
) -> dict[str, Any]:
    """What a finished prediction cost, for ``PredictionResult.stats``."""
    voxels = math.prod(reader.layout.spatial_shape) * len(reader.leads)
    total, tile, amp = reader.total_tiles, reader.tile, forward.amp_dtype
    return {
        "seconds": seconds,
        "voxels": voxels,
        "voxels_per_s": voxels / max(seconds, 1e-9),
        "n_tiles": total,
        "tile_size": tile,
        "batch_size": forward.batch_size,
        "device": str(forward.device),
        "precision": str(amp).replace("torch.", "") if amp else "fp32",
        "peak_buffer_bytes": accumulator.nbytes,
        "compute_multiplier": total * math.prod(tile) / max(voxels, 1),
        "confidence": confidence(writer.marked, writer.sure, voxels),
    }


def _stream(
    reader: TileReader, forward: TileForward, accumulator: BandAccumulator
) -> Generator[TileProgress, None, None]:
    """Batches of tiles through the network into the bands; a :class:`TileProgress` after
    each batch, the last one once the bands are all written (it came before the last
    bands were, so a caller that stopped at done == total had half the labels; API bug
    bash). The reader is closed at the end, and when the caller closes early."""
    done = 0
    try:
        for batch in reader:
            if done:
                yield TileProgress(done, reader.total_tiles)
            probabilities = forward(batch)
            accumulator.follow(probabilities.device)
            for (lead, start), tile_out in zip(batch.where, probabilities):
                accumulator.add(lead, start, tile_out)
            done += len(batch.where)
        accumulator.finish()
        yield TileProgress(done, reader.total_tiles)
    finally:
        reader.close()


def predict_tiled(
    bundle: ModelBundle,
    image: Any,
    *,
    tile_size: int | tuple[int, ...] | None = None,
    overlap: float = 0.25,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    blend: str = "gaussian",
    tta: bool = False,
    return_probabilities: bool = False,
    return_uncertainty: bool = False,
    out: Any = None,
    channel_axis: int | None = None,
    tile_starts: Any = None,
    probabilities_out: Any = None,
    class_probabilities: bool = False,
    normalizer: Normalizer | TimeNormalizers | None = None,
    time_axis: int | None = None,
) -> Generator[TileProgress, None, PredictionResult]:
    """Predict labels for an image of any size with overlapping, blended tiles.

    A generator: it yields a :class:`TileProgress` after every batch and returns a
    :class:`PredictionResult`. Closing it early (``gen.close()``) stops the background
    reader and returns nothing, so no partial result is left behind (a caller-provided
    ``out`` may have been partly written).

    Parameters
    ----------
    bundle : ModelBundle
        The model, its normalization and tile-size hint.
    image : array-like
        numpy array, memmap, zarr or dask array with the model's spatial dims as its
        last non-channel axes, an optional channel axis (``bundle.in_channels`` long;
        detected or given as ``channel_axis``) and optional leading axes that are
        processed one plane/volume at a time. Read band by band, never whole.
    tile_size : int or tuple of int, optional
        Tile edge per spatial axis (default: the bundle's hint). Rounded up to a multiple
        of the model's divisor; axes shorter than a tile are reflect-padded and cropped.
    overlap : float
        Fraction of a tile shared with its neighbour, from 0 to :data:`MAX_OVERLAP`.
    batch_size : int, optional
        Tiles per forward pass; chosen from free memory when omitted. On CUDA
        out-of-memory it is halved, and at 1 the model moves to the CPU with a warning.
    device : str or torch.device
        ``'auto'`` (CUDA, else MPS, else CPU), ``'cpu'``, ``'cuda[:N]'`` or ``'mps'``.
    precision : {'auto', 'fp32', 'bf16', 'fp16'}
        Autocast dtype for the forward pass. ``'auto'``: bf16/fp16 on CUDA and bf16 on
        CPUs with native bf16, once a cached check shows the model's labels agree with
        float32 (``core/precision.py``), else float32. Blending always accumulates in
        float32. ``stats["precision"]`` says which ran.
    blend : {'gaussian', 'constant'}
        Tile weighting (gaussian with sigma = tile/8, or uniform).
    tta : bool
        Average over all flips of the spatial axes (4 in 2D, 8 in 3D).
    return_probabilities : bool
        Also return the float32 foreground probability (1 - p(background)).
    return_uncertainty : bool
        Also return the per-pixel variance of the foreground probability over the TTA
        flips (zeros without ``tta``).
    out : array-like, optional
        Output for the labels, shaped like the image without its channel axis.
    probabilities_out : array-like, optional
        With ``return_probabilities``: where the probability map is written, band by
        band (shaped like ``out``; e.g. a zarr array, so the map never sits in memory).
    class_probabilities : bool
        With ``return_probabilities``: every label value's map instead of the foreground's,
        class axis first (``(n_labels, *out.shape)``; a one-output model's: 1 - p, p).
    tile_starts : sequence of int sequences, optional
        Tile start positions per spatial axis instead of the evenly spaced grid: a block
        of a larger image passes the whole image's tiles that cover it, so it blends as
        the whole image would (``napari_unetseg.distributed``).
    normalizer : Normalizer or TimeNormalizers, optional
        Statistics to use instead of the image's own (a window of a larger image's).
    time_axis : int, optional
        The axis of time points: each is normalized with its own statistics.

    Memory
    ------
    Float buffers: ``(n_classes + 1) x tile_0 x prod(padded other spatial axes)`` float32
    (plus one channel for uncertainty), independent of the first axis and of the number
    of planes. The input is read band by band. Only the labels (uint8), and the optional
    probability/uncertainty maps, have the size of the image.
    """
    _check_arguments(overlap, blend, batch_size)
    layout = bundle.layout(tuple(image.shape), channel_axis)
    device = dev.resolve_device(device)
    chosen = choose_precision(bundle, device, precision)
    tile = resolve_tile_size(tile_size, layout.spatial_shape, bundle)
    overlap = halo_overlap(overlap, tile, bundle.halo)
    bs = int(batch_size) if batch_size else auto_batch_size(bundle, tile, device)
    class_maps = bool(return_probabilities and class_probabilities)
    result = _outputs(
        bundle,
        layout,
        (tile, bs, device),
        out,
        return_uncertainty,
        return_probabilities,
        probabilities_out,
        class_maps,
    )

    t0 = time.perf_counter()
    if normalizer is None:
        normalizer = bundle.normalizer(image, layout.channel_axis, time_axis)
    pin, bands = PIN_HOST_MEMORY and device.type == "cuda", device.type in CUT_TILES_ON
    reader = TileReader(image, layout, normalizer, tile, overlap, bs, pin, tile_starts, bands)
    weights = torch.from_numpy(halo_weights(blend_weights(tile, blend), bundle.halo)).to(device)
    writer = BandWriter(layout, bundle.n_classes, result, class_maps)
    forward = TileForward(bundle, device, chosen.dtype, bs, tta=tta, variance=return_uncertainty)
    accumulator = BandAccumulator(
        forward.n_out, tile, reader.padded, layout.spatial_shape, weights, writer, device
    )

    yield from _stream(reader, forward, accumulator)
    result.stats = _run_stats(time.perf_counter() - t0, reader, forward, accumulator, writer)
    result.stats.update(precision=chosen.name, precision_reason=chosen.reason)
    return result
