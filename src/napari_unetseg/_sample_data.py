"""Sample data: synthetic fluorescence nuclei with their ground-truth instance labels.

Made on the fly by :func:`napari_unetseg.core.synthetic.synthetic_nuclei` (numpy only,
well under a second), so nothing is downloaded and torch is not imported.
"""

from __future__ import annotations

from typing import Any

LayerData = tuple[Any, dict[str, Any], str]

#: Z step of the 3D sample relative to its XY pixel size (a typical confocal stack).
Z_STEP = 2.0


def _sample(
    shape: tuple[int, ...], name: str, scale: tuple[float, ...], **options: Any
) -> list[LayerData]:
    import numpy as np

    from .core.synthetic import synthetic_nuclei

    image, labels = synthetic_nuclei(shape, seed=0, **options)
    # Robust display range: a few saturated nuclei would otherwise leave the rest dim.
    low, high = (float(v) for v in np.percentile(image, (0.5, 99.5)))
    image_meta = {"name": name, "scale": scale, "colormap": "gray", "contrast_limits": (low, high)}
    return [
        (image, image_meta, "image"),
        (labels, {"name": f"{name} ground truth", "scale": scale, "opacity": 0.5}, "labels"),
    ]


def sample_nuclei_2d() -> list[LayerData]:
    """A 512 x 512 synthetic nuclei image (uint16) and its ground-truth labels."""
    return _sample((512, 512), "nuclei 2D", (1.0, 1.0))


def sample_nuclei_3d() -> list[LayerData]:
    """A 32 x 192 x 192 synthetic nuclei stack, Z step twice the XY pixel size, with labels."""
    return _sample((32, 192, 192), "nuclei 3D", (Z_STEP, 1.0, 1.0), z_scale=Z_STEP)
