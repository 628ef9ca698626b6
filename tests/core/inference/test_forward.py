"""The forward pass: test-time flips and the out-of-memory fallback of :class:`TileForward`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_unetseg.api import drain
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.inference import predict_tiled
from napari_unetseg.core.inference.forward import TileForward, flip_sets


def _run_out_of_memory_above(bundle: ModelBundle, max_batch: int) -> None:
    """Make the network fail like an exhausted allocator for batches above ``max_batch``.

    A forward pre-hook travels with the copy that inference prepares, so the engine
    really meets the error where a GPU would raise it.
    """

    def hook(_module: torch.nn.Module, args: tuple) -> None:
        if args[0].shape[0] > max_batch:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    bundle.network.register_forward_pre_hook(hook)


def test_flip_sets() -> None:
    assert flip_sets(2, False) == [()]
    assert flip_sets(2, True) == [(), (2,), (3,), (2, 3)]
    assert len(flip_sets(3, True)) == 8


def test_out_of_memory_halves_the_batch_and_gives_the_same_labels() -> None:
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    image = np.random.default_rng(0).integers(0, 1000, (80, 72)).astype(np.uint16)
    ref = drain(predict_tiled(bundle, image, tile_size=32, batch_size=1, device="cpu"))
    _run_out_of_memory_above(bundle, 1)
    res = drain(predict_tiled(bundle, image, tile_size=32, batch_size=4, device="cpu"))
    assert res.stats["batch_size"] == 1  # 4 -> 2 -> 1
    np.testing.assert_array_equal(res.labels, ref.labels)


def test_out_of_memory_at_one_tile_on_the_cpu_says_what_to_do() -> None:
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    _run_out_of_memory_above(bundle, 0)
    forward = TileForward(bundle, torch.device("cpu"), None, 2)
    with pytest.raises(MemoryError, match=r"one tile of \(16, 16\) per batch; choose a smaller"):
        forward(torch.zeros(2, 1, 16, 16))
    assert forward.batch_size == 1


def test_uncertainty_channel_is_the_variance_over_flips() -> None:
    torch.manual_seed(1)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    x = torch.randn(2, 1, 16, 16)
    forward = TileForward(bundle, torch.device("cpu"), None, 2, tta=True, variance=True)
    out = forward(x)
    assert out.shape == (2, bundle.n_classes + 1, 16, 16)
    with torch.no_grad():
        net = bundle.network.eval()
        fg = torch.stack(
            [
                1 - torch.flip(torch.softmax(net(torch.flip(x, f)), 1), f)[:, 0]
                for f in forward.flips
            ]
        )
    torch.testing.assert_close(out[:, -1], fg.var(0, unbiased=False), atol=1e-5, rtol=1e-4)


def test_blending_buffers_follow_the_forward_pass_off_the_gpu() -> None:
    # After TileForward falls back to the CPU, predict_tiled moves the band buffers there
    # too (a GPU too full for one tile has no room for its outputs either; measured on
    # an H200 in docs/benchmarks.md). "meta" stands in for the second device.
    from napari_unetseg.core.inference.blending import BandAccumulator, BandWriter
    from napari_unetseg.core.normalize import Layout

    labels = np.zeros((8, 8), np.uint8)
    layout = Layout(shape=(8, 8), channel_axis=None, spatial_axes=(0, 1), leading_axes=())
    writer = BandWriter(
        layout, 2, SimpleNamespace(labels=labels, probabilities=None, uncertainty=None)
    )
    acc = BandAccumulator(2, (8, 8), (8, 8), (8, 8), torch.ones(8, 8), writer, torch.device("cpu"))
    acc.follow(torch.device("cpu"))
    assert acc.acc.device.type == "cpu"
    acc.follow(torch.device("meta"))
    assert {t.device.type for t in (acc.acc, acc.wsum, acc.weights)} == {"meta"}


def test_out_of_memory_while_cutting_tiles_from_bands_is_handled_like_the_networks(
    monkeypatch,
) -> None:
    """On a GPU the tiles are cut from bands copied there (reader.Band): a full GPU fails
    in that copy first. Here on the CPU, a copy that fails for more than one tile halves
    the batch as the network's failure does, and the labels do not change."""
    from napari_unetseg.core.inference import predict as predict_mod
    from napari_unetseg.core.inference import reader

    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    image = np.random.default_rng(0).integers(0, 1000, (80, 72)).astype(np.uint16)
    ref = drain(predict_tiled(bundle, image, tile_size=32, batch_size=1, device="cpu"))
    monkeypatch.setattr(predict_mod, "CUT_TILES_ON", ("cpu",))
    cut = reader.TileBatch.tensor

    def tensor(self, device, start=0, stop=None):
        if min(len(self) if stop is None else stop, len(self)) - start > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 12.00 MiB")
        return cut(self, device, start, stop)

    monkeypatch.setattr(reader.TileBatch, "tensor", tensor)
    res = drain(predict_tiled(bundle, image, tile_size=32, batch_size=4, device="cpu"))
    assert res.stats["batch_size"] == 1
    np.testing.assert_array_equal(res.labels, ref.labels)
