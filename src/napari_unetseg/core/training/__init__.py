"""Training engine: learn from painted labels (sparse scribbles or dense masks).

The trainer is a generator (:func:`train`): it yields :class:`TrainProgress` records and
returns the trained :class:`~napari_unetseg.core.bundle.ModelBundle`, so the CLI drains it
with a progress bar and the Fine-tune widget runs it in a worker thread.

How it works
------------
1. **Labels are scanned once**, band by band (never a whole volume in memory as int64 or
   float32): labeled pixels are counted per class and per spatial *block* (half a patch
   on each axis), and a bounded random sample of their coordinates is kept per class.
2. **Validation is held out spatially**: whole blocks of the labeled area (about
   ``val_fraction`` of the labeled pixels) are never trained on, so validation measures
   how the model does on objects it has not seen rather than on neighbouring pixels of
   the objects it trains on. With too few labels there is no validation, and a message
   says so.
3. **Patches** are centred (with a random offset) on a labeled training pixel of a
   class drawn uniformly, so every patch contains labels and rare classes are
   oversampled. Image patches are read from the array-like input and normalized on the
   fly with the model's :class:`~napari_unetseg.core.normalize.Normalizer` (statistics
   computed once per image, the same transform inference applies).
4. **Augmentation** (torch, on the batch): flips, in-plane 90 degree rotations,
   intensity scale / shift / gamma and gaussian noise; a new model learning from
   scribbles also gets any in-plane rotation and a zoom of 0.75-1.33
   (:func:`.augment.affine_batch`).
5. **Loss**: cross-entropy + soft Dice, both only over labeled pixels (``-1`` = ignore),
   in float32 from log-softmax with epsilons, so a batch that lacks a class gives no NaN.
6. **Optimization**: AdamW, linear warm-up then cosine decay (over the step budget or the
   time budget), gradient clipping, autocast on CUDA; the weights with the best
   validation Dice are kept and returned (the last ones without validation). A new 2D
   model learning from scribbles keeps the mean of its second half's weights instead,
   with batch-norm statistics recomputed on training batches (:mod:`.averaging`). A new
   network's batch-norm running statistics follow its fast-moving weights at a momentum
   of 0.5 for its first steps, down to PyTorch's 0.1 by step 49, so that its validation
   and live previews are right from the start (they do not take part in training).
7. **Threshold** (``match_labels``, set when a teacher labelled every pixel): the model
   predicts its training images once, and the threshold on the object probability that
   reproduces the labels best is folded into its output layer (several classes: a
   weight per object class; :mod:`.threshold`).

Label modes (see docs/architecture.md): ``'sparse'``: 0 = not painted (ignored), 1 = background,
``k >= 2`` = class ``k - 1``. ``'dense'``: 0 = background, ``k`` = class ``k``; when the
model has one foreground class (a 1- or 2-channel model, and the default for a new model
unless ``n_classes`` says otherwise) every value > 0 is that class, so instance masks can
be used as they are.

Fine-tuning: a copy of the given bundle is trained (never the caller's); its
normalization and tile-size hint are kept. When the number of classes differs from the
model's, its output layer (the 1x1 ``head`` convolution) is re-initialized with the new
number of channels and everything else is kept.

Modules
-------
- :mod:`.labels`: reading and checking labels, the class map, the label index, and the
  "can these labels be trained on" checks of the Fine-tune widget (numpy only);
- :mod:`.validation`: the spatial validation split;
- :mod:`.sampling`: patch reading and the class-balanced sampler;
- :mod:`.augment`: augmentation;
- :mod:`.losses`: the masked loss and Dice counts;
- :mod:`.history`: progress records, curves, best weights, learning-rate schedule;
- :mod:`.options`: the arguments of :func:`train` checked, and the defaults;
- :mod:`.trainer`: :class:`Trainer` and :func:`train`.

Importing this package does not import torch (the Fine-tune widget imports it for the
label checks while torch loads in the background): the names of the modules that need
torch load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The public names, and (``name as name``) the private helpers that tests use.
from .history import (
    MAX_HISTORY_POINTS,
    TrainProgress,
    early_best_text,
    few_steps_text,
    kept_start_text,
    score_text,
    start_hint,
)
from .labels import (
    LABEL_MODES,
    MAX_COORDS_PER_CLASS,
    MAX_SCRIBBLE_CLASSES,
    SPARSE_BACKGROUND,
    label_counts,
    problem_with,
)
from .labels import _block_ids as _block_ids
from .labels import _LabelIndex as _LabelIndex
from .labels import _map_classes as _map_classes
from .labels import _pairs as _pairs
from .options import DEFAULT_TIME_LIMIT, KEEP_PRIOR, NEW_MODEL, TrainOptions
from .validation import MIN_VAL_BLOCKS, MIN_VAL_PIXELS
from .validation import _split_validation as _split_validation

if TYPE_CHECKING:
    from .augment import augment_batch
    from .losses import dice_from_counts, hard_dice_counts, masked_loss
    from .run import train
    from .sampling import MAX_VAL_PATCHES
    from .sampling import _Sampler as _Sampler
    from .trainer import FINE_TUNE_LR, Trainer

#: The names of the modules that import torch, by module: loaded on first use.
_LAZY = {
    name: module
    for module, names in {
        "augment": ("augment_batch",),
        "losses": ("dice_from_counts", "hard_dice_counts", "masked_loss"),
        "sampling": ("MAX_VAL_PATCHES", "_Sampler"),
        "trainer": ("FINE_TUNE_LR", "Trainer"),
        "run": ("train",),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once loaded, a plain attribute (which tests may replace)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_TIME_LIMIT",
    "KEEP_PRIOR",
    "FINE_TUNE_LR",
    "LABEL_MODES",
    "MAX_COORDS_PER_CLASS",
    "MAX_HISTORY_POINTS",
    "MAX_SCRIBBLE_CLASSES",
    "MAX_VAL_PATCHES",
    "MIN_VAL_BLOCKS",
    "MIN_VAL_PIXELS",
    "NEW_MODEL",
    "SPARSE_BACKGROUND",
    "TrainOptions",
    "TrainProgress",
    "Trainer",
    "augment_batch",
    "dice_from_counts",
    "hard_dice_counts",
    "early_best_text",
    "few_steps_text",
    "kept_start_text",
    "label_counts",
    "masked_loss",
    "problem_with",
    "score_text",
    "start_hint",
    "train",
]
