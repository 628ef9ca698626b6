"""Streaming tiled inference: any image size, bounded memory, blended overlaps.

The image is covered by a grid of overlapping tiles (:func:`tile_starts`), spaced evenly
so that the last tile ends exactly at the image edge (as in nnU-Net). Each tile's class
probabilities are weighted by a gaussian window (:func:`gaussian_weights`), accumulated
in float32 and divided by the accumulated weights, which hides the seams between tiles.

Memory is bounded by the *band*, not the image. Tiles are visited in order of their
start along the first spatial axis; once no remaining tile touches a band of rows, the
band is normalized, turned into labels and written to the output, and its float
buffers are reused. The float buffers therefore hold ``n_classes x tile_0 x (rest of
the image)`` values whatever the length of the first axis, and the input is read band by
band (so numpy memmaps, zarr and dask arrays are never loaded whole). A background
thread reads and normalizes the next batch of tiles while the model runs.
"""

from __future__ import annotations

import copy
import itertools
import math
import queue
import threading
import time
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import devices as dev
from .bundle import ModelBundle
from .normalize import Layout, Normalizer

BLENDS = ("gaussian", "constant")


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


# -- tile grid ------------------------------------------------------------------------------
def tile_starts(size: int, tile: int, overlap: float) -> list[int]:
    """Start positions of tiles along one axis.

    ``n = ceil((size - tile) / (tile * (1 - overlap))) + 1`` tiles, spread evenly so the
    first starts at 0 and the last ends at ``size``. An axis no longer than the tile
    gets one tile at 0 (the image is padded to the tile).
    """
    if size <= tile:
        return [0]
    stride = tile * (1.0 - overlap)
    n = math.ceil((size - tile) / stride) + 1
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def tile_grid(
    shape: tuple[int, ...], tile: tuple[int, ...], overlap: float
) -> list[tuple[int, ...]]:
    """All tile start corners, in row-major order (first axis slowest)."""
    return list(itertools.product(*(tile_starts(s, t, overlap) for s, t in zip(shape, tile))))


def gaussian_weights(
    tile: tuple[int, ...], sigma_scale: float = 1.0 / 8, min_weight: float = 1e-3
) -> np.ndarray:
    """Separable gaussian window with sigma = ``tile * sigma_scale``, peak 1.

    The minimum is clamped to ``min_weight`` so border pixels that only one tile covers
    (image edges) still get a well-defined, non-zero weight.
    """
    w = np.ones((), dtype=np.float64)
    for t in tile:
        x = np.arange(t, dtype=np.float64) - (t - 1) / 2.0
        g = np.exp(-0.5 * (x / max(t * sigma_scale, 1e-6)) ** 2)
        w = np.multiply.outer(w, g)
    w /= w.max()
    return np.maximum(w, min_weight).astype(np.float32)


def resolve_tile_size(
    tile_size: int | tuple[int, ...] | None,
    spatial_shape: tuple[int, ...],
    bundle: ModelBundle,
) -> tuple[int, ...]:
    """Tile edge per axis: a multiple of the model's divisor, no larger than needed.

    Each requested size is rounded up to a multiple of ``bundle.divisor``; an axis
    shorter than the tile gets the smallest such multiple that covers it.
    """
    nd = bundle.spatial_dims
    if tile_size is None:
        tile_size = bundle.tile_size
    sizes = (tile_size,) * nd if isinstance(tile_size, (int, np.integer)) else tuple(tile_size)
    if len(sizes) != nd or any(int(t) < 1 for t in sizes):
        raise ValueError(
            f"tile_size must be a positive int or {nd} positive ints, got {tile_size!r}."
        )
    div = bundle.divisor

    def up(n: int) -> int:
        return max(div, -(-int(n) // div) * div)

    return tuple(min(up(t), up(s)) for t, s in zip(sizes, spatial_shape))


# -- input pipeline -------------------------------------------------------------------------
def _pad_end(block: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    """Pad the trailing spatial axes of a (C, *spatial) block at their end to ``target``."""
    pads = [(0, 0)] + [(0, t - s) for s, t in zip(block.shape[1:], target)]
    if not any(p[1] for p in pads):
        return block
    # Reflection needs two pixels along the axis; a 1-pixel-thin axis repeats its edge.
    mode = "reflect" if all(s > 1 for s, (_, p) in zip(block.shape[1:], pads[1:]) if p) else "edge"
    return np.pad(block, pads, mode=mode)


@dataclass
class _Batch:
    x: torch.Tensor  # (B, C, *tile)
    where: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (lead index, tile start)


class _TileReader:
    """Reads, normalizes and batches tiles in a background thread, band by band."""

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
    ) -> None:
        self.image, self.layout, self.normalizer = image, layout, normalizer
        self.tile, self.batch_size, self.pin = tile, batch_size, pin
        shape = layout.spatial_shape
        self.padded = tuple(max(s, t) for s, t in zip(shape, tile))
        self.starts = [tile_starts(s, t, overlap) for s, t in zip(self.padded, tile)]
        self.leads = list(np.ndindex(*layout.leading_shape)) if layout.leading_axes else [()]
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="unetseg-tile-reader", daemon=True)

    @property
    def tiles_per_volume(self) -> int:
        return math.prod(len(s) for s in self.starts)

    def _band(self, lead: tuple[int, ...], r0: int) -> np.ndarray:
        shape = self.layout.spatial_shape
        rows = slice(r0, min(r0 + self.tile[0], shape[0]))
        spatial = (rows,) + tuple(slice(0, s) for s in shape[1:])
        block = np.asarray(self.image[self.layout.index(lead, spatial)])
        block = self.normalizer(self.layout.to_channels_first(block))
        return _pad_end(block, (self.tile[0],) + self.padded[1:])

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
        return self._put(_Batch(x, [(p[0], p[1]) for p in pending]))

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

    def __iter__(self) -> Iterator[_Batch]:
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


# -- output accumulation --------------------------------------------------------------------
class _BandAccumulator:
    """Float buffers for one band of rows; finalizes rows no tile will touch again."""

    def __init__(
        self,
        n_out: int,
        tile: tuple[int, ...],
        padded: tuple[int, ...],
        shape: tuple[int, ...],
        weights: torch.Tensor,
        sink: _Sink,
        device: torch.device,
    ) -> None:
        self.tile, self.shape, self.sink, self.weights = tile, shape, sink, weights
        buf = (tile[0],) + padded[1:]
        self.acc = torch.zeros((n_out, *buf), dtype=torch.float32, device=device)
        self.wsum = torch.zeros(buf, dtype=torch.float32, device=device)
        self.lead: tuple[int, ...] | None = None
        self.base = 0

    @property
    def nbytes(self) -> int:
        return (self.acc.numel() + self.wsum.numel()) * 4

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
        """Write the first ``n`` buffered rows to the sink and shift the buffers up."""
        rows = min(n, self.shape[0] - self.base)
        if rows > 0:
            crop = (slice(0, rows),) + tuple(slice(0, s) for s in self.shape[1:])
            self.sink.write(self.lead, self.base, self.acc[(slice(None),) + crop], self.wsum[crop])
        keep = self.tile[0] - n
        if keep > 0:
            self.acc[:, :keep] = self.acc[:, n:].clone()
            self.wsum[:keep] = self.wsum[n:].clone()
        self.acc[:, max(keep, 0) :] = 0
        self.wsum[max(keep, 0) :] = 0
        self.base += n

    def finish(self) -> None:
        if self.lead is not None:
            self._finalize(self.tile[0])
            self.lead = None


class _Sink:
    """Turns finalized probability rows into labels (and optional maps) in the outputs."""

    def __init__(
        self,
        layout: Layout,
        n_classes: int,
        labels: Any,
        probabilities: Any | None,
        uncertainty: Any | None,
    ) -> None:
        self.layout, self.n_classes = layout, n_classes
        self.labels, self.probabilities, self.uncertainty = labels, probabilities, uncertainty
        self.n_spatial = len(layout.spatial_axes)

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
            labels = _argmax_classes(acc[:k])
            if self.probabilities is not None:
                fg = 1.0 - acc[0] / wsum
        idx = self._index(lead, r0, acc.shape[1])
        self.labels[idx] = labels.cpu().numpy().astype(self.labels.dtype, copy=False)
        if self.probabilities is not None:
            self.probabilities[idx] = fg.float().cpu().numpy()
        if self.uncertainty is not None:
            self.uncertainty[idx] = (acc[k] / wsum).float().cpu().numpy()


def _argmax_classes(scores: torch.Tensor) -> torch.Tensor:
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


# -- the network as run for inference -------------------------------------------------------
_CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def fold_batchnorm(network: torch.nn.Module) -> torch.nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution into it, in place.

    At inference a BatchNorm is a fixed per-channel affine map, so it can be merged into
    the convolution's weights and bias: the output is the same to float rounding, and a
    full pass over every feature map (memory-bound on the CPU) disappears. Only
    ``(conv, batchnorm)`` pairs that are neighbours in an ``nn.Sequential`` are folded
    (the U-Net's conv blocks); anything else is left as it is.
    """
    for module in network.modules():
        if not isinstance(module, torch.nn.Sequential):
            continue
        names = list(module._modules)
        for prev, name in zip(names, names[1:], strict=False):
            conv, bn = module._modules[prev], module._modules[name]
            if not (
                isinstance(conv, _CONVS)
                and isinstance(bn, _BATCHNORMS)
                and bn.running_mean is not None
                and bn.running_var is not None
                and conv.out_channels == bn.num_features
            ):
                continue
            scale = torch.rsqrt(bn.running_var.double() + bn.eps)
            shift = -bn.running_mean.double() * scale
            if bn.affine:
                scale, shift = (
                    scale * bn.weight.double(),
                    shift * bn.weight.double() + bn.bias.double(),
                )
            bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
            view = (-1,) + (1,) * (conv.weight.dim() - 1)
            weight = conv.weight.double() * scale.reshape(view)
            conv.weight = torch.nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
            conv.bias = torch.nn.Parameter(
                (bias * scale + shift).to(conv.weight.dtype), requires_grad=False
            )
            module._modules[name] = torch.nn.Identity()
    return network


def _cpu_autocast_enabled() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_cpu_enabled()


class _OneDNNConv(torch.nn.Module):
    """A convolution that always runs oneDNN's kernel for float32 on the CPU.

    PyTorch sends a batch-1 float32 convolution to its slow reference kernel
    (``slow_conv3d_forward``, im2col + GEMM, NCHW only) when ``N * C * D * H`` of the
    input is at most 20480, a rule written for 2D images: in a 3D U-Net it catches most
    layers below full resolution (16 x 32 x 32 x ... already qualifies), which then also
    lose the channels-last layout and force copies back and forth. Calling oneDNN directly
    made a 48^3 / 64^3 / 96^3 tile of a 3D U-Net (base 16) 1.99x / 1.57x / 1.19x faster
    with outputs equal to 1e-7. Under autocast (bf16), and off the CPU, the wrapped
    convolution runs as usual (PyTorch already picks oneDNN for bf16).
    """

    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if x.dtype != torch.float32 or x.device.type != "cpu" or _cpu_autocast_enabled():
            return c(x)
        return torch.mkldnn_convolution(
            x, c.weight, c.bias, c.padding, c.stride, c.dilation, c.groups
        )


def _use_onednn_convolutions(network: torch.nn.Module) -> torch.nn.Module:
    """Wrap every plain zero-padded 2D/3D convolution in :class:`_OneDNNConv`, in place."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch, "mkldnn_convolution")):
        return network
    for module in list(network.modules()):
        for name, child in list(module._modules.items()):
            if (
                type(child) in (torch.nn.Conv2d, torch.nn.Conv3d)
                and child.padding_mode == "zeros"
                and not isinstance(child.padding, str)
            ):
                module._modules[name] = _OneDNNConv(child)
    return network


def _memory_format(device: torch.device, spatial_dims: int) -> torch.memory_format | None:
    """Channels-last layout where it was measured to be faster (see docs/benchmarks.md).

    On the CPU, oneDNN convolutions run 1.2-1.4x faster on channels-last tensors (no
    reorder of every feature map to its blocked layout and back). GPU layouts are left
    at PyTorch's default until they are measured.
    """
    if device.type != "cpu":
        return None
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def inference_network(
    network: torch.nn.Module, device: torch.device, spatial_dims: int
) -> torch.nn.Module:
    """A copy of ``network`` prepared for inference on ``device``.

    Evaluation mode, no gradients, BatchNorm folded into the convolutions
    (:func:`fold_batchnorm`), the fastest measured memory layout and, on the CPU,
    convolutions that always take oneDNN's kernel (:class:`_OneDNNConv`). The caller's
    network is never modified (a training running elsewhere may be using it).
    """
    net = copy.deepcopy(network).eval().requires_grad_(False)
    net = fold_batchnorm(net).to(device)
    fmt = _memory_format(device, spatial_dims)
    if fmt is not None:
        net = net.to(memory_format=fmt)
    if device.type == "cpu":
        net = _use_onednn_convolutions(net)
    return net


# -- the engine -----------------------------------------------------------------------------
def _flip_sets(spatial_dims: int, tta: bool) -> list[tuple[int, ...]]:
    """Flip axis combinations (tensor dims of a (B, C, *spatial) batch) for TTA."""
    axes = list(range(2, 2 + spatial_dims))
    if not tta:
        return [()]
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


def auto_batch_size(bundle: ModelBundle, tile: tuple[int, ...], device: torch.device) -> int:
    """Tiles per batch from the free memory and a rough activation-size estimate."""
    # A U-Net holds about a dozen full-resolution feature maps per tile at its peak.
    per_tile = math.prod(tile) * bundle.config["base_channels"] * 4 * 12
    free = dev.free_memory_bytes(device) or 2**31
    if device.type == "cuda":
        budget, cap = free * 0.5, 64
    else:
        # On the CPU larger batches barely help throughput but cost memory.
        budget, cap = min(free * 0.25, 2**31), 4
    return int(max(1, min(cap, budget // per_tile)))


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
        Fraction of a tile shared with its neighbour, in [0, 1).
    batch_size : int, optional
        Tiles per forward pass; chosen from free memory when omitted. On CUDA
        out-of-memory it is halved, and at 1 the model moves to the CPU with a warning.
    device : str or torch.device
        ``'auto'`` (CUDA, else MPS, else CPU), ``'cpu'``, ``'cuda[:N]'`` or ``'mps'``.
    precision : {'auto', 'fp32', 'bf16', 'fp16'}
        Autocast dtype for the forward pass (``'auto'``: bf16/fp16 on CUDA, fp32
        elsewhere); blending always accumulates in float32.
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

    Memory
    ------
    Float buffers: ``(n_classes + 1) x tile_0 x prod(padded other spatial axes)`` float32
    (plus one channel for uncertainty), independent of the first axis and of the number
    of planes. The input is read band by band. Only the labels (uint8), and the optional
    probability/uncertainty maps, have the size of the image.
    """
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}.")
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}.")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    layout = bundle.layout(tuple(image.shape), channel_axis)
    device = dev.resolve_device(device)
    amp_dtype = dev.autocast_dtype(device, precision)
    shape = layout.spatial_shape
    tile = resolve_tile_size(tile_size, shape, bundle)
    bs = int(batch_size) if batch_size else auto_batch_size(bundle, tile, device)

    out_shape = layout.output_shape
    label_dtype = np.uint8 if bundle.n_labels <= 255 else np.uint16
    if out is None:
        out = np.zeros(out_shape, dtype=label_dtype)
    elif tuple(out.shape) != out_shape:
        raise ValueError(f"out has shape {tuple(out.shape)} but the labels need {out_shape}.")
    probs = np.zeros(out_shape, np.float32) if return_probabilities else None
    unc = np.zeros(out_shape, np.float32) if return_uncertainty else None

    t0 = time.perf_counter()
    normalizer = bundle.normalizer(image, layout.channel_axis)
    reader = _TileReader(image, layout, normalizer, tile, overlap, bs, pin=device.type == "cuda")
    weights_np = gaussian_weights(tile) if blend == "gaussian" else np.ones(tile, np.float32)
    weights = torch.from_numpy(weights_np).to(device)
    n_out = bundle.n_classes + (1 if return_uncertainty else 0)
    sink = _Sink(layout, bundle.n_classes, out, probs, unc)
    acc = _BandAccumulator(n_out, tile, reader.padded, shape, weights, sink, device)
    total = reader.tiles_per_volume * len(reader.leads)

    flips = _flip_sets(bundle.spatial_dims, tta)
    network = inference_network(bundle.network, device, bundle.spatial_dims)
    state = {"network": network, "device": device, "bs": bs}

    def forward(x: torch.Tensor) -> torch.Tensor:
        """Blended class probabilities (and TTA variance) for a batch, float32."""
        net, d = state["network"], state["device"]
        x = x.to(d, non_blocking=True)
        fmt = _memory_format(d, bundle.spatial_dims)
        if fmt is not None:
            x = x.contiguous(memory_format=fmt)
        mean = sq = None
        with torch.inference_mode(), dev.autocast(d, amp_dtype if d == device else None):
            for f in flips:
                xi = torch.flip(x, f) if f else x
                logits = net(xi).float()
                p = torch.sigmoid(logits) if bundle.n_classes == 1 else torch.softmax(logits, 1)
                p = torch.flip(p, f) if f else p
                if return_uncertainty:
                    fg = p[:, :1] if bundle.n_classes == 1 else 1.0 - p[:, :1]
                    sq = fg * fg if sq is None else sq.addcmul_(fg, fg)
                mean = p if mean is None else mean.add_(p)
            if len(flips) > 1:
                mean.div_(len(flips))
            if return_uncertainty:
                fgm = mean[:, :1] if bundle.n_classes == 1 else 1.0 - mean[:, :1]
                var = (sq / len(flips) - fgm * fgm).clamp_min(0.0)
                mean = torch.cat([mean, var], 1)
        return mean.to(device)

    def forward_chunks(x: torch.Tensor) -> torch.Tensor:
        """Forward in chunks of the current batch size, shrinking it on out-of-memory."""
        outs, i = [], 0
        while i < x.shape[0]:
            n = state["bs"]
            try:
                outs.append(forward(x[i : i + n]))
                i += n
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
                if not dev.is_out_of_memory(exc):
                    raise
                dev.empty_cache(state["device"])
                if n > 1:
                    state["bs"] = n // 2
                elif state["device"].type != "cpu":
                    warnings.warn(
                        f"Out of memory on {state['device']} even with one tile per batch; "
                        "continuing on the CPU (slower).",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    state["device"] = torch.device("cpu")
                    state["network"] = inference_network(
                        bundle.network, state["device"], bundle.spatial_dims
                    )
                else:
                    raise MemoryError(
                        f"Out of memory with one tile of {tile} per batch; choose a smaller "
                        "tile size."
                    ) from exc
        return torch.cat(outs)

    done = 0
    try:
        for batch in reader:
            result = forward_chunks(batch.x)
            for (lead, start), tile_out in zip(batch.where, result):
                acc.add(lead, start, tile_out)
            done += len(batch.where)
            yield TileProgress(done, total)
        acc.finish()
    finally:
        reader.close()

    seconds = time.perf_counter() - t0
    voxels = math.prod(shape) * len(reader.leads)
    return PredictionResult(
        labels=out,
        probabilities=probs,
        uncertainty=unc,
        stats={
            "seconds": seconds,
            "voxels": voxels,
            "voxels_per_s": voxels / max(seconds, 1e-9),
            "n_tiles": total,
            "tile_size": tile,
            "batch_size": state["bs"],
            "device": str(state["device"]),
            "precision": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
            "peak_buffer_bytes": acc.nbytes,
            "compute_multiplier": total * math.prod(tile) / max(voxels, 1),
        },
    )
