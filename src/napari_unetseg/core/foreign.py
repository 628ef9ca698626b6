"""A network from elsewhere (e.g. a bioimage.io package), run by our tiled predictor.

:class:`ForeignNetwork` wraps a predict-only torch module (a TorchScript model) so that
it looks like our :class:`~napari_unetseg.core.unet.UNet` to the tiler: it takes a
``(B, C, *spatial)`` float32 batch and returns per-class *logits* ``(B, K, *spatial)``.
It reorders axes to the module's own order, runs one sample at a time when the module
has no (or a fixed) batch axis, turns probabilities into logits (so the tiler's softmax
or sigmoid gives them back), and carries the module's shape constraints: the smallest
tile (``min_size``), the tile increment (``step``; 0 = only ``min_size``) and the
``halo`` of unreliable output pixels at each tile border: the module gets each tile
with that much extra context and the tiler gives tile borders almost no weight
(see ``inference/grid.py``).

Nothing here reads files: the caller (``napari_unetseg.bioimageio``) loads the module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .unet import SegmentationNetwork

OUTPUTS = ("logits", "probabilities")


class ForeignNetwork(SegmentationNetwork):
    """A predict-only segmentation network with explicit axes and shape constraints.

    Parameters
    ----------
    module : torch.nn.Module
        The network (a loaded TorchScript module).
    spatial_dims, in_channels, n_classes : int
        Its geometry. ``n_classes == 1``: one foreground score per pixel.
    input_axes, output_axes : str
        The module's axis order, letters from ``b`` (batch), ``c`` (channel), ``z``,
        ``y``, ``x``; ``b`` and ``c`` may be absent (size 1).
    min_size, step, halo : tuple of int
        Per spatial axis: smallest input size, size increment (0: fixed size) and
        output border to discard.
    outputs : {'logits', 'probabilities'}
        What the module returns (probabilities are turned back into logits).
    batch : bool
        The module accepts several samples per call.
    channel_order : sequence of int, optional
        The module's output channels in the order of our classes (the background first),
        where the module puts its background channel elsewhere.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        spatial_dims: int,
        in_channels: int,
        n_classes: int,
        input_axes: str,
        output_axes: str,
        min_size: tuple[int, ...],
        step: tuple[int, ...],
        halo: tuple[int, ...] | None = None,
        outputs: str = "logits",
        batch: bool = True,
        channel_order: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if outputs not in OUTPUTS:
            raise ValueError(f"outputs must be one of {OUTPUTS}, got {outputs!r}.")
        spatial = "zyx"[-spatial_dims:]
        for axes in (input_axes, output_axes):
            if sorted(axes.replace("b", "").replace("c", "")) != sorted(spatial) or len(
                set(axes)
            ) != len(axes):
                raise ValueError(f"Axes {axes!r} do not describe a {spatial_dims}D image.")
        # Predict-only: no gradients (this also keeps deep copies of a TorchScript module
        # leaf-only; ScriptModule has no requires_grad_ of its own).
        for p in module.parameters():
            p.requires_grad_(False)
        self.module = module
        self.config: dict[str, Any] = {
            "kind": "foreign",
            "spatial_dims": int(spatial_dims),
            "in_channels": int(in_channels),
            "n_classes": int(n_classes),
            "input_axes": input_axes,
            "output_axes": output_axes,
            "min_size": [int(v) for v in min_size],
            "step": [int(v) for v in step],
            "halo": [int(v) for v in (halo or (0,) * spatial_dims)],
            "outputs": outputs,
            "batch": bool(batch),
            "channel_order": None if channel_order is None else [int(c) for c in channel_order],
        }

    @property
    def halo(self) -> tuple[int, ...]:
        return tuple(self.config["halo"])

    def divisor(self) -> int:
        """The coarsest size increment (for callers that only know one number)."""
        return max(1, *self.config["step"])

    def valid_size(self, axis: int, n: int) -> int:
        """The smallest tile size along spatial ``axis`` that is at least ``n``.

        The module itself receives the tile plus its halo on both sides (see
        :meth:`forward`), which must be its minimum size plus a multiple of its step.
        """
        lo, step = self.config["min_size"][axis], self.config["step"][axis]
        pad = 2 * self.config["halo"][axis]
        need = max(n + pad, lo)
        if step == 0:
            size = lo
        else:
            size = lo + -(-(need - lo) // step) * step
        if size - pad < 1:
            raise ValueError(
                f"The model's halo ({pad // 2} px) leaves no room in its tile of {size} px."
            )
        return size - pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class logits for a ``(B, C, *spatial)`` batch, same spatial shape.

        With a halo, the batch is padded by the halo (mirrored, as bioimage.io consumers
        pad an image's border) and the halo is cropped from the output, so every output
        pixel had context; the tiler still weights each tile's border down (``inference/grid.py``).
        """
        halo = self.config["halo"]
        if any(halo):
            pads = [p for h in reversed(halo) for p in (h, h)]
            small = any(h >= s for h, s in zip(halo, x.shape[2:]))
            x = torch.nn.functional.pad(x, pads, mode="replicate" if small else "reflect")
        y = self.module_scores(x)
        if any(halo):
            y = y[
                (slice(None), slice(None))
                + tuple(slice(h, y.shape[2 + i] - h) for i, h in enumerate(halo))
            ]
        return y

    def module_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The module on a ``(B, C, *spatial)`` batch of a size it accepts, as logits (no halo handling)."""
        order_in, order_out = self.config["input_axes"], self.config["output_axes"]
        if self.config["batch"] and "b" in order_in:
            y = self._call(x, order_in, order_out)
        else:
            y = torch.cat(
                [self._call(x[i : i + 1], order_in, order_out) for i in range(x.shape[0])]
            )
        if self.config.get("channel_order"):
            y = y[:, self.config["channel_order"]]
        if self.config["outputs"] == "probabilities":
            y = y.float().clamp(1e-6, 1 - 1e-6)
            y = torch.logit(y) if self.n_classes == 1 else torch.log(y)
        return y

    def _call(self, x: torch.Tensor, order_in: str, order_out: str) -> torch.Tensor:
        canonical = "bc" + "zyx"[-self.spatial_dims :]
        # (B, C, *spatial) -> the module's order; absent b/c axes are size 1 and dropped.
        for letter in "bc":
            if letter not in order_in:
                x = x.squeeze(canonical.index(letter) - (letter == "c" and "b" not in order_in))
        kept = [a for a in canonical if a in order_in]
        x = x.permute(*[kept.index(a) for a in order_in])
        y = self.module(x.contiguous())
        if isinstance(y, (tuple, list)):
            y = y[0]
        kept = [a for a in order_out]
        y = y.permute(*[kept.index(a) for a in canonical if a in order_out])
        for letter in "bc":
            if letter not in order_out:
                y = y.unsqueeze(canonical.index(letter))
        return y
