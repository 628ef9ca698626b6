"""The public headless API: load_model / list_models / predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg import api
from napari_unetseg.core.bundle import ModelBundle, ModelFileError
from napari_unetseg.core.inference import PredictionResult


@pytest.fixture
def tiny(tmp_path) -> tuple[ModelBundle, str]:
    torch.manual_seed(0)
    b = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    return b, str(b.save(tmp_path / "tiny.pt"))


def test_load_model_accepts_bundle_path_and_names(tiny) -> None:
    b, path = tiny
    assert api.load_model(b) is b
    assert api.load_model(path).config == b.config
    for row in api.list_models():
        assert api.load_model(row["name"]).spatial_dims in (2, 3)
    name = api.REGISTRY.register(b, "api-test-model")
    try:
        assert api.load_model(name) is b
        assert {"name": name, "kind": "session", "path": None} in api.list_models()
    finally:
        api.REGISTRY.remove(name)


def test_load_model_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="Unknown model 'nope'"):
        api.load_model("nope")
    (tmp_path / "x.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError):
        api.load_model(tmp_path / "x.pt")


def test_predict_returns_labels_and_probabilities(tiny) -> None:
    b, path = tiny
    img = np.random.default_rng(0).integers(0, 255, (40, 50)).astype(np.uint8)
    labels = api.predict(img, path, tile_size=16, device="cpu")
    assert labels.shape == img.shape and labels.dtype == np.uint8
    labels2, probs = api.predict(img, b, tile_size=16, return_probabilities=True)
    np.testing.assert_array_equal(labels, labels2)
    assert probs.dtype == np.float32 and probs.shape == img.shape
    np.testing.assert_array_equal(labels2, (probs > 0.5).astype(np.uint8))  # 2 classes


def test_predict_iter_yields_progress_and_returns_result(tiny) -> None:
    b, _ = tiny
    img = np.zeros((64, 64), np.float32)
    records = []
    result = api.drain(api.predict_iter(img, b, tile_size=32, overlap=0.5, batch_size=2), records.append)
    assert isinstance(result, PredictionResult)
    assert records[-1].done == records[-1].total == result.stats["n_tiles"] == 9
    out = np.full((64, 64), 7, np.uint8)
    api.predict(img, b, tile_size=32, out=out)
    assert set(np.unique(out)) <= {0, 1}


def test_segment_chains_prediction_and_split_once() -> None:
    """api.segment = predict, then split_stack: the one chain the CLI and widget run."""
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.postprocess import split_stack

    img, _ = synthetic_nuclei((96, 96), seed=3)
    semantic = api.predict(img, "nuclei-2d", device="cpu")
    plain = api.segment(img, "nuclei-2d", device="cpu")
    np.testing.assert_array_equal(plain, semantic)
    instances = api.segment(img, "nuclei-2d", split_touching=True, scale=(1.0, 1.0), device="cpu")
    np.testing.assert_array_equal(instances, split_stack(semantic, (1.0, 1.0), 2))
    assert instances.max() > 1  # several objects, each its own id
