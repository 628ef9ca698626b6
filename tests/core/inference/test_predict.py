"""The streaming tiled predictor: equivalence with a full pass, bounded memory, shapes, precision.

Also the contracts behind its speed (no timings: those live in benchmarks/): it runs
under ``torch.inference_mode``, never modifies the caller's model, and bf16 on the CPU
agrees with fp32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from constant_models import constant_model

from napari_unetseg.api import drain
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.inference import predict as predict_mod
from napari_unetseg.core.inference import predict_tiled, tile_starts
from napari_unetseg.core.inference.reader import TileReader
from napari_unetseg.core.synthetic import synthetic_nuclei

CPU = torch.device("cpu")


def blobs(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth random blobs in [0, 1000] (uint16)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    f = np.fft.fftn(x)
    freqs = np.meshgrid(*[np.fft.fftfreq(s) for s in shape], indexing="ij")
    f *= np.exp(-sum(k**2 for k in freqs) * 600)
    x = np.real(np.fft.ifftn(f))
    x = (x - x.min()) / (x.max() - x.min())
    return (x * 1000).astype(np.uint16)


@pytest.fixture(scope="module")
def trained_2d() -> ModelBundle:
    """A tiny U-Net trained for a few seconds to threshold smooth blobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same weights whatever the machine's thread count
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=3, base_channels=8)
    net = bundle.network
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(150):
        img = blobs((4, 64, 64), seed=step)
        x = torch.from_numpy(np.stack([bundle.normalize(i) for i in img]))[:, None]
        y = torch.from_numpy((img > 500).astype(np.int64))
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    net.eval()
    return bundle


def full_forward(bundle: ModelBundle, image: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(bundle.normalize(image))[None, None]
    with torch.no_grad():
        return torch.softmax(bundle.network.eval()(x), 1)[0].numpy()


def test_single_tile_equals_full_forward(trained_2d: ModelBundle) -> None:
    image = blobs((64, 96), seed=5)
    res = drain(
        predict_tiled(
            trained_2d, image, tile_size=(64, 96), return_probabilities=True, precision="fp32"
        )
    )
    full = full_forward(trained_2d, image)
    np.testing.assert_array_equal(res.labels, full.argmax(0))
    np.testing.assert_allclose(res.probabilities, 1 - full[0], atol=1e-5)
    assert res.stats["n_tiles"] == 1


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_tiled_agrees_with_full_image(trained_2d: ModelBundle, blend: str) -> None:
    image = blobs((256, 200), seed=11)
    full = full_forward(trained_2d, image).argmax(0)
    labels = drain(predict_tiled(trained_2d, image, tile_size=64, overlap=0.25, blend=blend))
    labels = labels.labels
    assert labels.shape == image.shape and labels.dtype == np.uint8
    agreement = (labels == full).mean()
    assert agreement >= 0.995, agreement
    # the model really learned the task (else agreement would be trivial)
    assert 0.2 < labels.mean() < 0.8
    assert ((labels == 1) == (image > 500)).mean() > 0.8


def test_band_buffers_do_not_grow_with_image_length(trained_2d: ModelBundle) -> None:
    small = blobs((128, 96), seed=1)
    large = np.concatenate([small] * 4, axis=0)  # 4x larger along the first axis
    r1 = drain(predict_tiled(trained_2d, small, tile_size=32, return_probabilities=True))
    r4 = drain(predict_tiled(trained_2d, large, tile_size=32, return_probabilities=True))
    assert r4.stats["n_tiles"] > 3 * r1.stats["n_tiles"]
    assert r4.stats["peak_buffer_bytes"] == r1.stats["peak_buffer_bytes"]
    # float buffers are far smaller than one float map per class over the image
    assert r4.stats["peak_buffer_bytes"] < large.size * 2 * 4 / 4
    np.testing.assert_array_equal(r4.labels[:64], r1.labels[:64])


@pytest.mark.parametrize("shape", [(37, 53), (1, 40), (40, 1), (5, 7), (130, 3)])
def test_odd_thin_and_small_images(trained_2d: ModelBundle, shape: tuple[int, int]) -> None:
    image = blobs((max(shape[0], 2), max(shape[1], 2)), seed=2)[: shape[0], : shape[1]]
    res = drain(predict_tiled(trained_2d, image, tile_size=32, return_probabilities=True))
    assert res.labels.shape == shape
    assert np.isfinite(res.probabilities).all()
    assert ((0 <= res.probabilities) & (res.probabilities <= 1)).all()


def test_2d_model_on_a_stack_goes_plane_by_plane(trained_2d: ModelBundle) -> None:
    stack = np.stack([blobs((48, 40), seed=s) for s in range(3)])
    res = drain(predict_tiled(trained_2d, stack, tile_size=32))
    assert res.labels.shape == stack.shape
    # stats are global, so compare a plane with the same plane predicted in the stack
    norm = trained_2d.normalizer(stack)
    for z in range(3):
        x = torch.from_numpy(norm(stack[z][None]))[None]
        padded = torch.nn.functional.pad(x, (0, 0, 0, 0))
        with torch.no_grad():
            ref = trained_2d.network(padded).argmax(1)[0].numpy()
        assert (res.labels[z] == ref).mean() > 0.98


def test_time_series_of_stacks(trained_2d: ModelBundle) -> None:
    data = np.stack(
        [np.stack([blobs((24, 24), seed=10 * t + z) for z in range(2)]) for t in range(2)]
    )
    res = drain(predict_tiled(trained_2d, data, tile_size=16))
    assert res.labels.shape == (2, 2, 24, 24)
    assert res.stats["n_tiles"] == 2 * 2 * 4


def test_3d_model_on_3d_and_progress_records() -> None:
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=3, depth=2, base_channels=4)
    image = blobs((20, 30, 26), seed=3)
    gen = predict_tiled(bundle, image, tile_size=16, overlap=0.25, batch_size=3)
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            res = stop.value
            break
    assert res.labels.shape == image.shape
    total = records[-1].total
    assert [r.done for r in records] == sorted({r.done for r in records})
    expected = np.prod([len(tile_starts(s, 16, 0.25)) for s in image.shape])
    assert records[-1].done == total == res.stats["n_tiles"] == expected == 2 * 3 * 2


def test_multichannel_and_rgb_inputs() -> None:
    torch.manual_seed(0)
    b2 = ModelBundle.create(spatial_dims=2, in_channels=2, depth=2, base_channels=4)
    cyx = np.stack([blobs((40, 36), seed=1), blobs((40, 36), seed=2)])
    assert drain(predict_tiled(b2, cyx, tile_size=16)).labels.shape == (40, 36)
    # channel axis given explicitly in the middle of a (Z, C, Y, X) stack
    zcyx = np.stack([cyx, cyx])
    assert drain(predict_tiled(b2, zcyx, tile_size=16, channel_axis=1)).labels.shape == (2, 40, 36)
    b3 = ModelBundle.create(spatial_dims=2, in_channels=3, depth=2, base_channels=4)
    rgb = np.stack([blobs((30, 20), seed=s) for s in range(3)], -1).astype(np.uint8)
    assert drain(predict_tiled(b3, rgb, tile_size=16)).labels.shape == (30, 20)
    with pytest.raises(ValueError, match="3 input channels"):
        drain(predict_tiled(b3, cyx))


def test_wrong_dims_are_refused_with_a_sentence() -> None:
    b3d = ModelBundle.create(spatial_dims=3, depth=2, base_channels=4)
    with pytest.raises(ValueError, match="3D model needs at least 3 spatial axes"):
        drain(predict_tiled(b3d, np.zeros((32, 32))))
    b = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    with pytest.raises(ValueError, match="overlap"):
        drain(predict_tiled(b, np.zeros((32, 32)), overlap=1.0))
    with pytest.raises(ValueError, match="out has shape"):
        drain(predict_tiled(b, np.zeros((32, 32)), out=np.zeros((3, 3), np.uint8)))
    # Refused before any tile (bug bash: a list raised AttributeError, a read-only array
    # failed after the whole prediction, a bool array merged classes 1 and 2 silently).
    image = np.zeros((32, 32))
    frozen = np.zeros((32, 32), np.uint8)
    frozen.flags.writeable = False
    for out, said in (
        ([[0] * 32] * 32, "must be an array"),
        (frozen, "is read-only"),
    ):
        with pytest.raises(ValueError, match=said):
            drain(predict_tiled(b, image, out=out))
    three = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4, n_classes=3)
    with pytest.raises(ValueError, match="dtype bool cannot hold labels up to 2"):
        drain(predict_tiled(three, image, out=np.zeros((32, 32), bool)))
    assert drain(predict_tiled(b, image, out=np.zeros((32, 32), bool))).labels.dtype == bool


def test_tta_uncertainty_and_one_class_models(trained_2d: ModelBundle) -> None:
    image = blobs((64, 64), seed=4)
    res = drain(
        predict_tiled(
            trained_2d,
            image,
            tile_size=32,
            tta=True,
            return_uncertainty=True,
            return_probabilities=True,
        )
    )
    assert res.uncertainty.shape == image.shape
    assert (res.uncertainty >= 0).all() and res.uncertainty.max() <= 0.25 + 1e-6
    assert res.uncertainty.max() > 0  # flips disagree somewhere
    plain = drain(predict_tiled(trained_2d, image, tile_size=32)).labels
    assert (plain == res.labels).mean() > 0.97
    one = ModelBundle.create(spatial_dims=2, n_classes=1, depth=2, base_channels=4)
    r1 = drain(predict_tiled(one, image, tile_size=32, return_probabilities=True))
    np.testing.assert_array_equal(r1.labels, (r1.probabilities > 0.5).astype(np.uint8))


def test_array_likes_memmap_and_caller_output(tmp_path, trained_2d: ModelBundle) -> None:
    image = blobs((96, 80), seed=9)
    mm = np.lib.format.open_memmap(
        tmp_path / "img.npy", mode="w+", dtype=image.dtype, shape=image.shape
    )
    mm[:] = image
    out = np.lib.format.open_memmap(
        tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=image.shape
    )
    res = drain(predict_tiled(trained_2d, mm, tile_size=32, out=out))
    assert res.labels is out
    ref = drain(predict_tiled(trained_2d, image, tile_size=32)).labels
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_dask_input_is_read_band_by_band(trained_2d: ModelBundle) -> None:
    da = pytest.importorskip("dask.array")
    image = blobs((96, 64), seed=6)
    ref = drain(predict_tiled(trained_2d, image, tile_size=32)).labels
    lazy = da.from_array(image, chunks=(32, 64))
    np.testing.assert_array_equal(drain(predict_tiled(trained_2d, lazy, tile_size=32)).labels, ref)


def test_stopping_early_leaves_nothing_and_stops_the_reader(trained_2d: ModelBundle) -> None:
    import threading

    image = blobs((256, 256), seed=7)
    gen = predict_tiled(trained_2d, image, tile_size=32, batch_size=1)
    next(gen)
    next(gen)
    gen.close()
    assert not any(t.name == "unetseg-tile-reader" and t.is_alive() for t in threading.enumerate())
    assert trained_2d.network.training is False


def test_cpu_bf16_close_to_fp32(trained_2d: ModelBundle) -> None:
    image = blobs((64, 64), seed=8)
    a = drain(predict_tiled(trained_2d, image, tile_size=32, precision="fp32")).labels
    b = drain(predict_tiled(trained_2d, image, tile_size=32, precision="bf16")).labels
    assert (a == b).mean() > 0.98


@pytest.fixture(scope="module")
def nuclei_model() -> ModelBundle:
    """A tiny U-Net trained for a few seconds on synthetic nuclei (non-trivial labels)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=3, base_channels=8)
    images = [synthetic_nuclei((96, 96), seed=s) for s in range(8)]
    x = torch.from_numpy(np.stack([bundle.normalize(i) for i, _ in images]))[:, None]
    y = torch.from_numpy(np.stack([(lab > 0).astype(np.int64) for _, lab in images]))
    net = bundle.network
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    torch.set_num_threads(threads)
    return bundle


def test_engine_runs_under_inference_mode_and_keeps_the_model(nuclei_model: ModelBundle) -> None:
    seen: list[bool] = []
    hook = nuclei_model.network.register_forward_hook(
        lambda *_: seen.append(torch.is_inference_mode_enabled())
    )
    try:
        nuclei_model.network.train()  # e.g. a fine-tuning paused in the GUI
        image, _ = synthetic_nuclei((80, 72), seed=3)
        res = drain(predict_tiled(nuclei_model, image, tile_size=32, device="cpu"))
    finally:
        hook.remove()
        training = nuclei_model.network.training
        nuclei_model.network.eval()
    assert seen and all(seen)  # the hook travels with the prepared copy
    assert training  # the caller's model was not switched to eval mode
    ref = drain(predict_tiled(nuclei_model, image, tile_size=32, device="cpu")).labels
    np.testing.assert_array_equal(res.labels, ref)  # and eval mode was used anyway


def test_cpu_bf16_agrees_with_fp32(nuclei_model: ModelBundle) -> None:
    if not torch.backends.mkldnn.is_available():
        pytest.fail("oneDNN (mkldnn) is required for CPU bf16 inference")
    image, truth = synthetic_nuclei((160, 144), seed=7)
    kw = dict(tile_size=64, overlap=0.25, device="cpu", return_probabilities=True)
    a = drain(predict_tiled(nuclei_model, image, precision="fp32", **kw))
    b = drain(predict_tiled(nuclei_model, image, precision="bf16", **kw))
    assert 0.05 < a.labels.mean() < 0.6  # the model segments nuclei, labels are not trivial
    assert ((a.labels > 0) == (truth > 0)).mean() > 0.85
    assert (a.labels == b.labels).mean() >= 0.995
    # bf16 keeps 8 bits of mantissa: a few steep pixels move by ~0.1, typical ones ~1e-3
    assert np.abs(a.probabilities - b.probabilities).mean() < 0.01


def test_confidence_counts_marked_and_sure_voxels(trained_2d):
    """The counts equal the labels' and the probabilities' own, whatever the tiling."""
    image = blobs((150, 170), seed=3)
    result = drain(predict_tiled(trained_2d, image, tile_size=64, return_probabilities=True))
    conf = result.stats["confidence"]
    marked = result.labels > 0
    assert 0 < conf["marked"] == int(marked.sum())
    sure = int((marked & (result.probabilities > 0.8)).sum())
    assert abs(conf["sure"] - sure) <= max(2, 0.001 * sure)  # float ties at 0.8 only
    assert conf["sure_share"] == pytest.approx(conf["sure"] / conf["marked"])


def test_an_unsure_model_gets_a_hint_a_sure_one_none():
    image = blobs((64, 64))
    unsure = constant_model(0.6)
    conf = drain(predict_tiled(unsure, image)).stats["confidence"]
    assert conf["marked"] == image.size and conf["sure"] == 0
    assert conf["message"].startswith("The model is unsure on this image: only 0% ")
    sure = constant_model(0.9)
    conf = drain(predict_tiled(sure, image)).stats["confidence"]
    assert conf["sure"] == image.size and conf["message"] is None


def test_confidence_hint_needs_enough_marked_voxels():
    from napari_unetseg.core.inference.blending import confidence

    assert confidence(0, 0, 10_000) == {
        "marked": 0, "sure": 0, "sure_share": None, "message": None,
    }  # fmt: skip
    assert confidence(50, 0, 10_000)["message"] is None  # a few voxels: no claim
    assert confidence(200, 20, 100_000_000)["message"] is None  # < 0.1 % of the image
    assert "only 10%" in confidence(200, 20, 10_000)["message"]
    assert confidence(200, 100, 10_000)["message"] is None  # half of them sure


def test_unsure_band_is_where_the_foreground_probability_is_between_0_2_and_0_8(trained_2d):
    from napari_unetseg.core.inference import unsure_band

    p = np.array([[0.0, 0.2, 0.21, 0.5], [0.79, 0.8, 1.0, 0.35]], np.float32)
    assert unsure_band(p).tolist() == [[0, 0, 1, 1], [1, 0, 0, 1]]
    assert unsure_band(p).dtype == np.uint8
    # on a model's own answer: the band lies where it is neither sure of an object nor
    # of the background, so it holds labelled and unlabelled pixels both
    result = drain(predict_tiled(trained_2d, blobs((150, 170), seed=3), return_probabilities=True))
    labels, probs = result.labels, result.probabilities
    band = unsure_band(probs).astype(bool)
    assert band.shape == labels.shape and 0 < band.sum() < 0.5 * band.size
    assert np.all(probs[~band & (labels > 0)] >= 0.8)
    assert np.all(probs[~band & (labels == 0)] <= 0.2)


def _tiles(reader: TileReader, device: torch.device) -> tuple[list, torch.Tensor]:
    where, tiles = [], []
    for batch in reader:
        where += batch.where
        tiles.append(batch.tensor(device))
    reader.close()
    return where, torch.cat(tiles)


@pytest.mark.parametrize("shape, tile", [((2, 70, 50), (32, 32)), ((40, 36, 30), (16, 16, 16))])
def test_tiles_cut_from_bands_equal_the_stacked_tiles(shape, tile) -> None:
    """The GPU path cuts tiles from bands where the network runs; here on the CPU, batches
    spanning several bands and planes give the same tiles in the same order."""
    image = blobs(shape, seed=4)
    bundle = ModelBundle.create(spatial_dims=len(tile), depth=2, base_channels=4)
    layout = bundle.layout(image.shape, None)
    normalizer = bundle.normalizer(image, layout.channel_axis)
    runs = [
        _tiles(TileReader(image, layout, normalizer, tile, 0.25, 5, pin=False, bands=b), CPU)
        for b in (False, True)
    ]
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) > 5
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)


def test_predicting_with_tiles_cut_from_bands_gives_the_same_result(
    trained_2d: ModelBundle, monkeypatch
) -> None:
    image = blobs((150, 110), seed=8)
    kwargs = dict(tile_size=32, batch_size=3, precision="fp32", return_probabilities=True)
    host = drain(predict_tiled(trained_2d, image, **kwargs))
    monkeypatch.setattr(predict_mod, "CUT_TILES_ON", ("cpu",))
    cut = drain(predict_tiled(trained_2d, image, **kwargs))
    np.testing.assert_array_equal(cut.labels, host.labels)
    np.testing.assert_array_equal(cut.probabilities, host.probabilities)


def test_the_memory_guard_counts_the_readers_bands(monkeypatch) -> None:
    """Host memory of a prediction includes the float32 bands the reader holds (two) and
    three batches of tiles, not only the labels: with room for the labels and one band,
    a wide volume is refused before anything is read."""
    from napari_unetseg.core import guards

    bundle = ModelBundle.create(spatial_dims=3, depth=2, base_channels=4)
    image = np.broadcast_to(np.uint16(1), (32, 1024, 1024))  # 32 M voxels, no memory
    band = 4 * 32 * 1024 * 1024  # one float32 band of the tile's 32 rows
    tiles = 4 * 2 * 32**3 * 3  # three batches of two tiles
    labels = image.size  # uint8
    cpu_part = guards.prediction_bytes(
        image.size, (32, 32, 32), 2, 2, base_channels=4, depth=2, band_voxels=band // 4
    )[1]
    room = labels + cpu_part + band + tiles  # all but the second band
    monkeypatch.setattr(guards, "available_memory", lambda: room)
    with pytest.raises(guards.MemoryGuardError, match="Prediction would need"):
        drain(predict_tiled(bundle, image, tile_size=32, batch_size=2, device="cpu"))
    monkeypatch.setattr(guards, "available_memory", lambda: room + band)
    gen = predict_tiled(bundle, image, tile_size=32, batch_size=2, device="cpu")
    assert next(gen).done == 2  # accepted: it runs
    gen.close()


def test_class_probability_maps_of_a_several_class_model() -> None:
    # one map per class, class axis first, blended like the labels: the maps sum to 1,
    # their argmax is the labels and 1 - the first is the foreground map
    torch.manual_seed(0)
    model = ModelBundle.create(spatial_dims=3, n_classes=3, depth=2, base_channels=4)
    image = blobs((2, 12, 40, 36), seed=5)  # a leading axis, tiles that overlap
    kwargs = dict(tile_size=(8, 16, 16), precision="fp32", return_probabilities=True)
    maps = drain(predict_tiled(model, image, class_probabilities=True, **kwargs))
    assert maps.probabilities.shape == (3, *image.shape)
    np.testing.assert_allclose(maps.probabilities.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(maps.probabilities.argmax(0), maps.labels)
    fg = drain(predict_tiled(model, image, **kwargs)).probabilities
    np.testing.assert_allclose(1.0 - maps.probabilities[0], fg, atol=1e-6)
    with pytest.raises(ValueError, match=r"needs \(3, 2, 12, 40, 36\)"):
        drain(
            predict_tiled(
                model,
                image,
                class_probabilities=True,
                probabilities_out=np.zeros(image.shape),
                **kwargs,
            )
        )
