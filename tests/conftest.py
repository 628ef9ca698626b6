"""Shared fixtures (kept small): tiny models registered in the process-wide registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
