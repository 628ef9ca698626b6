"""Streaming tiled inference: any image size, bounded memory, blended overlaps.

The image is covered by a grid of overlapping tiles (:func:`~.grid.tile_starts`), spaced
evenly so that the last tile ends exactly at the image edge (as in nnU-Net). Each tile's
class probabilities are weighted by a gaussian window (:func:`~.grid.gaussian_weights`),
accumulated in float32 and divided by the accumulated weights, which hides the seams
between tiles.

Memory is bounded by the *band*, not the image. Tiles are visited in order of their
start along the first spatial axis; once no remaining tile touches a band of rows, the
band is normalized, turned into labels and written to the output, and its float
buffers are reused. The float buffers therefore hold ``n_classes x tile_0 x (rest of
the image)`` values whatever the length of the first axis, and the input is read band by
band (so numpy memmaps, zarr and dask arrays are never loaded whole). A background
thread reads and normalizes the next batch of tiles while the model runs.

Modules: :mod:`.grid` (tile positions, sizes, weights, padding), :mod:`.reader` (the
background tile reader), :mod:`.network` (the network prepared for inference),
:mod:`.forward` (flips, probabilities, out-of-memory fallback), :mod:`.blending` (band
accumulation, labels), :mod:`.predict` (:func:`predict_tiled`).
"""

from .blending import confidence, unsure_band
from .forward import auto_batch_size
from .grid import BLENDS, gaussian_weights, resolve_tile_size, tile_grid, tile_starts
from .network import fold_batchnorm, inference_network
from .predict import PredictionResult, TileProgress, predict_tiled

__all__ = [
    "BLENDS",
    "PredictionResult",
    "TileProgress",
    "auto_batch_size",
    "confidence",
    "fold_batchnorm",
    "gaussian_weights",
    "inference_network",
    "predict_tiled",
    "resolve_tile_size",
    "tile_grid",
    "tile_starts",
    "unsure_band",
]
