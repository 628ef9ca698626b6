"""What a trained network says about each pixel: a feature for the forest teacher.

The forest teacher (:mod:`napari_unetseg.forest`) describes a pixel by its intensity,
edges and texture around it. A network trained on many images of bright objects says more
where its training applies: its foreground score (class-1 minus class-0 logit) reads the
shape and context of a whole nucleus or cell, which no filter bank does (the convpaint
approach reads a network's features into a forest). Where its training does not apply (an
MR brain for a network of nuclei) the score is noise to the forest, so the forest reads it
only when it tells the strokes apart (:func:`separates`). Only the score: the network's
inner maps (its last decoder layer) learnt the strokes' interior too well on a test image
of discs painted with one dot (Dice 0.80 instead of 0.93: docs/benchmarks.md).

:class:`NetworkFeatures` computes it for any block of an image (a 2D model on a plane, a
3D model on a stack), with a margin wider than the network's reach and aligned to its
pooling grid, so that a block's
scores are the whole image's up to float rounding; the image is normalized with the whole
image's statistics, as prediction does. Numpy and torch only.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import torch

from .bundle import ModelBundle
from .registry import REGISTRY
from .unet import UNet

#: Pixels read around a block on each side of each axis the network sees, by the
#: network's dimensionality. A plane: 64, more than the reach of a depth-4 U-Net's 3 x 3
#: convolutions (about 52 pixels), so a block's scores are the whole image's. A stack: 32,
#: so that a thin block of a large stack is not read several times over (a 200 x 128 x 128
#: block of a 200 x 1024 x 1024 stack: 2.25 x its voxels instead of 4 x); its scores differ
#: from the whole stack's only near the block's sides (cells3d in 4 blocks: the score's
#: sign differs at 0.0008 % of the voxels, 0.03 % with a margin of 16).
MARGIN = {2: 64, 3: 32}
#: Pixels of a piece's side for a 2D model: a block is scored a piece at a time (each
#: read with its margin), so that a 2048 x 2048 block takes about 0.5 GB instead of 1.9.
PIECE = 1024
#: The forest uses the network's score when it ranks the painted object pixels above the
#: painted background ones with at least this ROC AUC. Chosen on the benchmark's strokes
#: (docs/benchmarks.md), three draws per case: ``nuclei-2d`` scores 0.994-1.000 on the
#: fluorescence planes (nuclei, whole cells) and 0.67-0.84 on the MR brain slices;
#: ``nuclei-3d`` 0.981-0.999 on the nuclei stacks and 0.955-0.968 on the brain volume's
#: grey matter, where the score cost the teacher up to 0.010.
MIN_AUC = 0.98


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``scores`` for ``positive`` (bool) against the rest: the chance that a
    random positive scores above a random negative (ties count half, through the mean
    ranks of ``scipy.stats.rankdata``); NaN without both."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64).ravel())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def separates(scores: np.ndarray, painted: np.ndarray, background: int = 1) -> float:
    """ROC AUC of the network's foreground score for the painted objects (any class
    other than ``background``) against the painted background (NaN without both)."""
    return auc(scores, np.asarray(painted) != background)


@functools.lru_cache(maxsize=2)
def shipped(name: str) -> Any:
    """The shipped model ``name``, loaded once per process (its scores are only read)."""
    return ModelBundle.load(REGISTRY.shipped()[name])


def for_images(
    images: list[Any], channel_axis: int | None, models: dict[int, str]
) -> list[NetworkFeatures | None]:
    """Per image, the :class:`NetworkFeatures` of the shipped model ``models`` names for
    its number of axes; None for an image with channels (a one-channel network does not
    read them) or a number of axes ``models`` leaves out."""
    if channel_axis is not None:
        return [None] * len(images)
    names = [models.get(np.ndim(img)) for img in images]
    return [
        None if n is None else NetworkFeatures(shipped(n), img) for n, img in zip(names, images)
    ]


class NetworkFeatures:
    """A one-channel network's foreground score for the pixels of blocks of one image.

    Parameters
    ----------
    bundle : ModelBundle
        A model of ours (2D or 3D) with one input channel and at least two classes.
    image : array-like
        The whole image without a channel axis: as many axes as the model has, or a
        stack of planes for a 2D model (scored plane by plane); its statistics normalize
        every block as prediction would.
    """

    #: Features per pixel.
    count = 1

    def __init__(self, bundle: Any, image: Any) -> None:
        if not isinstance(bundle.network, UNet) or bundle.in_channels != 1:
            raise ValueError("Network features need one of our models with one input channel.")
        if bundle.n_classes < 2 or np.ndim(image) < bundle.spatial_dims:
            raise ValueError(
                f"Network features need a model of two classes or more and an image of at "
                f"least {bundle.spatial_dims} axes."
            )
        self.network = bundle.network.eval()
        self.name = bundle.name
        self.dims = bundle.spatial_dims
        self.normalizer = bundle.normalizer(image)
        self.divisor = self.network.divisor()

    def block(self, image: Any, block: tuple[slice, ...], stop: Any = None) -> np.ndarray | None:
        """The score of the pixels of ``block`` (slices of every axis of ``image``):
        shape ``block shape + (1,)``, float32. A 2D model scores it in pieces of at most
        :data:`PIECE` x :data:`PIECE` pixels (bounded memory), a 3D model in one piece
        (its blocks are bounded already); a ``stop`` (threading.Event) set meanwhile is
        heeded between pieces: then None."""
        shape = np.shape(image)
        size = tuple(len(range(*b.indices(n))) for b, n in zip(block, shape, strict=True))
        out = np.empty(size + (1,), np.float32)
        lead, spatial = block[: -self.dims], block[-self.dims :]
        side = PIECE if self.dims == 2 else max(size)
        starts = [range(b.start, b.stop, side) for b in spatial]
        for corner in itertools.product(*starts):
            if stop is not None and stop.is_set():
                return None
            piece = tuple(
                slice(c, min(c + side, b.stop)) for c, b in zip(corner, spatial, strict=True)
            )
            inner = tuple(
                slice(p.start - b.start, p.stop - b.start)
                for p, b in zip(piece, spatial, strict=True)
            )
            out[(..., *inner, slice(None))] = self._piece(image, (*lead, *piece))
        return out

    def _piece(self, image: Any, block: tuple[slice, ...]) -> np.ndarray:
        """:meth:`block` of one piece: read with :data:`MARGIN` pixels around it, from a
        multiple of the network's pooling grid."""
        lead, spatial = block[: -self.dims], block[-self.dims :]
        reads, crops = [], []
        margin = MARGIN[self.dims]
        for part, n in zip(spatial, np.shape(image)[-self.dims :], strict=True):
            start = max(0, part.start - margin) // self.divisor * self.divisor
            reads.append(slice(start, min(n, part.stop + margin)))
            crops.append(slice(part.start - start, part.stop - start))
        data = np.asarray(image[(*lead, *reads)])
        parts = data.reshape((-1,) + data.shape[-self.dims :])
        out = np.stack([self.score(p)[tuple(crops)] for p in parts])
        return out.reshape(data.shape[: -self.dims] + out.shape[1:])

    def score(self, array: np.ndarray) -> np.ndarray:
        """The score of every pixel of a plane (2D model) or volume (3D model), with a
        trailing feature axis of 1: the network's class-1 logit minus its class-0 logit,
        as prediction would compute them."""
        x = self.normalizer(array[None])[0]
        x = np.pad(x, [(0, (-n) % self.divisor) for n in x.shape], mode="symmetric")
        with torch.no_grad():
            logits = self.network(torch.from_numpy(x)[None, None])[0]
        crop = tuple(slice(0, n) for n in array.shape)
        return (logits[1][crop] - logits[0][crop]).numpy()[..., None]
