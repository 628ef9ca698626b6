"""Shared fixtures (kept small): tiny models registered in the process-wide registry."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _saved_models_in_a_folder_of_the_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """The same for module fixtures, which are made before a test's own folders: they
    read and wrote the user's precision cache, shared by the suite's two processes
    (flaky-test hunt)."""
    from napari_unetseg.core.precision import CACHE_DIR_ENV
    from napari_unetseg.core.registry import MODELS_DIR_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODELS_DIR_ENV, str(tmp_path_factory.mktemp("session-models")))
        patch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def _saved_models_in_a_folder_of_the_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Saved models (and cached precision checks) go to folders of each test's own (the
    CLI's subprocesses inherit them), never to the user's data or cache folder."""
    from napari_unetseg.core.precision import CACHE_DIR_ENV
    from napari_unetseg.core.registry import MODELS_DIR_ENV

    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path_factory.mktemp("saved-models")))
    # precision checks, too, are cached in a folder of the test's own
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _session_models_stay_in_their_test() -> Iterator[None]:
    """Models a test trains into the process-wide registry are removed after it: a widget
    offers a model trained on an image of the same name first, which would carry one
    test's model into another's."""
    from napari_unetseg.core.registry import REGISTRY

    before, forgotten = set(REGISTRY.session()), set(REGISTRY._forgotten)
    yield
    for name in set(REGISTRY.session()) - before:
        REGISTRY.remove(name)
    REGISTRY._forgotten.intersection_update(forgotten)  # names forgotten are free again


@pytest.fixture
def tiny_model_2d() -> Iterator[str]:
    """An untrained 2D U-Net (depth 2, 4 base channels) registered as a session model.

    Yields its registry name; the model is removed from the registry afterwards.
    """
    import torch

    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.registry import REGISTRY

    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.tile_size = (64, 64)  # small tiles: several batches on small test images
    name = REGISTRY.register(bundle, "tiny-test-2d")
    yield name
    REGISTRY.remove(name)


@pytest.fixture
def errors_shown(monkeypatch) -> list[str]:
    """Messages of napari error notifications (our helpers import show_error lazily)."""
    import napari.utils.notifications as notifications

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    return shown


@pytest.fixture
def stained_nuclei() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic nuclei as an H&E brightfield RGB image (Beer-Lambert, skimage's stain
    vectors: hematoxylin on the nuclei, eosin around them) and as a fluorescence RGB
    export (blue on black), with the nuclei mask."""
    from skimage.color import hed2rgb

    from napari_unetseg.core.synthetic import synthetic_nuclei

    _, inst = synthetic_nuclei((96, 96), seed=2, dtype="float32")
    nuclei = inst > 0
    h = np.where(nuclei, 0.12, 0.01)
    e = np.where(nuclei, 0.0, 0.04)
    stained = (hed2rgb(np.stack([h, e, np.zeros_like(h)], -1)) * 255).round().astype(np.uint8)
    fluorescent = np.zeros(nuclei.shape + (3,), np.uint8)
    fluorescent[..., 2] = np.where(nuclei, 200, 10)
    return stained, fluorescent, nuclei
