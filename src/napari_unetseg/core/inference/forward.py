"""The forward pass over batches of tiles: test-time flips, probabilities, out-of-memory fallback."""

from __future__ import annotations

import itertools
import math
import warnings

import torch

from .. import devices as dev
from ..bundle import ModelBundle
from .network import inference_network, memory_format
from .reader import TileBatch


def flip_sets(spatial_dims: int, tta: bool) -> list[tuple[int, ...]]:
    """Flip axis combinations (tensor dims of a (B, C, *spatial) batch) for TTA."""
    axes = list(range(2, 2 + spatial_dims))
    if not tta:
        return [()]
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


def auto_batch_size(bundle: ModelBundle, tile: tuple[int, ...], device: torch.device) -> int:
    """Tiles per batch from the free memory and a rough activation-size estimate."""
    # A U-Net holds about a dozen full-resolution feature maps per tile at its peak.
    # Foreign networks do not say their width: assume a U-Net with 32 base channels.
    per_tile = math.prod(tile) * bundle.config.get("base_channels", 32) * 4 * 12
    free = dev.free_memory_bytes(device) or 2**31
    if device.type == "cuda":
        budget, cap = free * 0.5, 64
    else:
        # On the CPU larger batches barely help throughput but cost memory.
        budget, cap = min(free * 0.25, 2**31), 4
    return int(max(1, min(cap, budget // per_tile)))


class TileForward:
    """Class probabilities of batches of tiles, float32, on the device the network ran on.

    Owns the prepared network (:func:`~.network.inference_network`), the device it runs
    on and the number of tiles per forward pass. With ``tta`` the output is the mean over
    all flips of the spatial axes; with ``variance`` one more channel holds the variance
    of the foreground probability over the flips. On out-of-memory the batch size is
    halved; at one tile per batch the network moves to the CPU with a warning (``device``
    and ``batch_size`` then say where and how it ran, and the outputs come back on the
    CPU: the caller moves its blending buffers there too, as the GPU is full).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        device: torch.device,
        amp_dtype: torch.dtype | None,
        batch_size: int,
        *,
        tta: bool = False,
        variance: bool = False,
    ) -> None:
        self.bundle, self.amp_dtype, self.variance = bundle, amp_dtype, variance
        self.asked_device = self.device = device
        self.batch_size = batch_size
        self.flips = flip_sets(bundle.spatial_dims, tta)
        self.network = inference_network(bundle.network, device, bundle.spatial_dims)

    @property
    def n_out(self) -> int:
        """Channels of an output: the classes, plus the variance channel if asked for."""
        return self.bundle.n_classes + (1 if self.variance else 0)

    def __call__(self, tiles: torch.Tensor | TileBatch) -> torch.Tensor:
        """Forward tiles, (B, C, *tile) or a :class:`~.reader.TileBatch`, in chunks of the
        batch size, shrinking it on out-of-memory.

        A batch that comes as bands is cut on the device chunk by chunk, inside the
        out-of-memory handling: on a full GPU, copying a band fails like the network does.
        """
        batch = tiles if isinstance(tiles, TileBatch) else TileBatch(tiles, [])
        outs, i = [], 0
        while i < len(batch):
            n = self.batch_size
            try:
                outs.append(self._probabilities(batch.tensor(self.device, i, i + n)))
                i += n
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
                if not dev.is_out_of_memory(exc):
                    raise
                self._recover_from_out_of_memory(exc, batch.tile_shape)
        # After a fallback within this batch, the chunks before it are still on the GPU.
        return torch.cat([o.to(self.device) for o in outs])

    def _recover_from_out_of_memory(self, exc: BaseException, tile: tuple[int, ...]) -> None:
        """Halve the batch; at one tile, move to the CPU; on the CPU at one tile, give up."""
        dev.empty_cache(self.device)
        if self.batch_size > 1:
            self.batch_size //= 2
        elif self.device.type != "cpu":
            warnings.warn(
                f"Out of memory on {self.device} even with one tile per batch; "
                "continuing on the CPU (slower).",
                RuntimeWarning,
                stacklevel=3,  # the line of predict_tiled that called this forward
            )
            self.device = torch.device("cpu")
            self.network = inference_network(
                self.bundle.network, self.device, self.bundle.spatial_dims
            )
        else:
            raise MemoryError(
                f"Out of memory with one tile of {tile} per batch; choose a smaller tile size."
            ) from exc

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Mean class probabilities over the flips (and their variance) for a batch, float32."""
        d, one_class = self.device, self.bundle.n_classes == 1
        x = x.to(d, non_blocking=True)
        fmt = memory_format(d, self.bundle.spatial_dims)
        if fmt is not None:
            x = x.contiguous(memory_format=fmt)
        mean = sq = None
        # Autocast only where the caller chose it: after a fallback to the CPU, run fp32.
        amp_dtype = self.amp_dtype if d == self.asked_device else None
        with torch.inference_mode(), dev.autocast(d, amp_dtype):
            for f in self.flips:
                xi = torch.flip(x, f) if f else x
                logits = self.network(xi).float()
                p = torch.sigmoid(logits) if one_class else torch.softmax(logits, 1)
                p = torch.flip(p, f) if f else p
                if self.variance:
                    fg = p[:, :1] if one_class else 1.0 - p[:, :1]
                    sq = fg * fg if sq is None else sq.addcmul_(fg, fg)
                mean = p if mean is None else mean.add_(p)
            if len(self.flips) > 1:
                mean.div_(len(self.flips))
            if self.variance:
                fgm = mean[:, :1] if one_class else 1.0 - mean[:, :1]
                var = (sq / len(self.flips) - fgm * fgm).clamp_min(0.0)
                mean = torch.cat([mean, var], 1)
        return mean
