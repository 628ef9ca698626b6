"""What a trained 2D network says about each pixel: a feature for the forest teacher.

The forest teacher (:mod:`napari_unetseg.forest`) describes a pixel by its intensity,
edges and texture around it. A network trained on many images of bright objects says more
where its training applies: its foreground score (class-1 minus class-0 logit) reads the
shape and context of a whole nucleus or cell, which no filter bank does (the convpaint
approach reads a network's features into a forest). Where its training does not apply (an
MR brain for a network of nuclei) the score is noise to the forest, so the forest reads it
only when it tells the strokes apart (:func:`separates`). Only the score: the network's
inner maps (its last decoder layer) learnt the strokes' interior too well on a test image
of discs painted with one dot (Dice 0.80 instead of 0.93: docs/benchmarks.md).

:class:`NetworkFeatures` computes it plane by plane for any block of an image, with a
margin wider than the network's reach and aligned to its pooling grid, so that a block's
scores are the whole image's up to float rounding; the image is normalized with the whole
image's statistics, as prediction does. Numpy and torch only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: Pixels read around a block on each side of Y and X: more than the reach of a depth-4
#: U-Net's 3 x 3 convolutions (about 52 pixels), a multiple of its pooling grid.
MARGIN = 64
#: Pixels of a piece's side: a block is scored a piece at a time (each read with its
#: margin), so that a 2048 x 2048 block takes about 0.5 GB instead of 1.9 GB.
PIECE = 1024
#: The forest uses the network's features when its foreground score ranks the painted
#: object pixels above the painted background ones with at least this ROC AUC. Chosen on
#: the benchmark's strokes (docs/benchmarks.md): ``nuclei-2d`` scores 0.994-1.000 on the
#: fluorescence images (nuclei, whole cells) and 0.67-0.84 on the MR brain slices.
MIN_AUC = 0.95


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``scores`` for ``positive`` (bool) against the rest: the chance that a
    random positive scores above a random negative (ties count half); NaN without both."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]  # ties share their mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def separates(scores: np.ndarray, painted: np.ndarray, background: int = 1) -> float:
    """ROC AUC of the network's foreground score for the painted objects (any class
    other than ``background``) against the painted background (NaN without both)."""
    return auc(scores, np.asarray(painted) != background)


class NetworkFeatures:
    """A one-channel 2D network's foreground score for the pixels of blocks of one image.

    Parameters
    ----------
    bundle : ModelBundle
        A 2D model of ours with one input channel and at least two classes.
    image : array-like
        The whole image, 2D (Y, X) or a stack (..., Y, X) without a channel axis; its
        statistics normalize every block as prediction would.
    """

    #: Features per pixel.
    count = 1

    def __init__(self, bundle: Any, image: Any) -> None:
        if bundle.spatial_dims != 2 or bundle.in_channels != 1 or bundle.n_classes < 2:
            raise ValueError("Network features need a 2D model with one input channel.")
        self.network = bundle.network.eval()
        self.normalizer = bundle.normalizer(image)
        self.divisor = self.network.divisor()

    def block(self, image: Any, block: tuple[slice, ...], stop: Any = None) -> np.ndarray | None:
        """The score of the pixels of ``block`` (slices of every axis of ``image``):
        shape ``block shape + (1,)``, float32. Computed in pieces of at most
        :data:`PIECE` x :data:`PIECE` pixels (bounded memory); a ``stop``
        (threading.Event) set meanwhile is heeded between pieces: then None."""
        *outer, y, x = block
        size = tuple(
            len(range(*b.indices(n))) for b, n in zip(block, np.shape(image), strict=True)
        )
        out = np.empty(size + (1,), np.float32)
        for y0 in range(y.start, y.stop, PIECE):
            for x0 in range(x.start, x.stop, PIECE):
                if stop is not None and stop.is_set():
                    return None
                ys, xs = slice(y0, min(y0 + PIECE, y.stop)), slice(x0, min(x0 + PIECE, x.stop))
                inner = (slice(ys.start - y.start, ys.stop - y.start),
                         slice(xs.start - x.start, xs.stop - x.start))  # fmt: skip
                out[(..., *inner, slice(None))] = self._piece(image, (*outer, ys, xs))
        return out

    def _piece(self, image: Any, block: tuple[slice, ...]) -> np.ndarray:
        """:meth:`block` of one piece: read with :data:`MARGIN` pixels around it."""
        *outer_axes, y, x = block
        shape = np.shape(image)
        reads, crops = [], []
        for part, n in zip((y, x), shape[-2:], strict=True):
            start = max(0, part.start - MARGIN) // self.divisor * self.divisor
            stop = min(n, part.stop + MARGIN)
            reads.append(slice(start, stop))
            crops.append(slice(part.start - start, part.stop - start))
        data = np.asarray(image[(*outer_axes, *reads)])
        planes = data.reshape((-1,) + data.shape[-2:])
        out = np.stack([self.plane(p)[tuple(crops)] for p in planes])
        return out.reshape(data.shape[:-2] + out.shape[1:])

    def plane(self, plane: np.ndarray) -> np.ndarray:
        """The score of every pixel of one plane, ``(Y, X, 1)``: the network's class-1
        logit minus its class-0 logit, as prediction would compute them."""
        x = self.normalizer(plane[None])[0]
        pads = [(0, (-n) % self.divisor) for n in x.shape]
        x = np.pad(x, pads, mode="symmetric")
        with torch.no_grad():
            logits = self.network(torch.from_numpy(x)[None, None])[0]
        h, w = plane.shape
        return (logits[1, :h, :w] - logits[0, :h, :w]).numpy()[..., None]
