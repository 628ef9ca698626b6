"""A model whose answer is one probability everywhere: for the "model is unsure" hint."""

from __future__ import annotations

import math

import torch

from napari_unetseg.core.bundle import ModelBundle


def constant_model(foreground: float, bundle: ModelBundle | None = None) -> ModelBundle:
    """A small 2D bundle (or ``bundle``) whose head gives P(class 1) = ``foreground``
    at every pixel, whatever the image."""
    if bundle is None:
        bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    head = bundle.network.head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, math.log(foreground / (1 - foreground))]))
    return bundle
