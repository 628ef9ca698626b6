"""Segmentation metrics: voxel, object, boundary and centerline scores, 2D and 3D.

- :mod:`.labels`: reading label arrays slab by slab, checks, the dense/sparse conventions.
- :mod:`.instances`: how a pair is read (classes, or instance labels of one class),
  including ``instances='auto'``.
- :mod:`.counting`: confusion counts chunk by chunk (memmap / zarr / dask volumes are
  never loaded whole), Dice/IoU/... from counts, the error overlay.
- :mod:`.objects`: connected components and one-to-one object matching (F1, PQ, split,
  merged).
- :mod:`.morphology`, :mod:`.surface`: boundaries, HD95 / ASSD in physical units,
  clDice.
- :mod:`.columns`, :mod:`.result`, :mod:`.report`: score names, the result type and its
  text / CSV / JSON forms.
- :mod:`.evaluate`: :func:`evaluate` and its generator form :func:`evaluate_iter`.

Empty classes never raise: a ratio whose denominator is zero is NaN (shown "n/a"), e.g.
Dice and IoU of a class absent from both prediction and ground truth. A class present
in only one of them scores 0 (Dice, IoU) and its boundary distances are infinite.
"""

from .columns import COLUMNS, COUNT_COLUMNS, OBJECT_METRICS, SHAPE_METRICS, VOXEL_METRICS
from .counting import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    WRONG_CLASS,
    confusion_counts,
    error_map,
    ratio_metrics,
)
from .evaluate import EvaluationProgress, evaluate, evaluate_iter
from .instances import INSTANCE_MODES, MAX_CLASSES, MIN_INSTANCES
from .labels import MODES
from .morphology import boundary
from .objects import ObjectScores, label_components, match_objects
from .report import format_value, plain_value
from .result import EvaluationResult
from .surface import cldice, distance_transform, soft_skeleton, surface_distances

__all__ = [
    "COLUMNS",
    "COUNT_COLUMNS",
    "FALSE_NEGATIVE",
    "FALSE_POSITIVE",
    "INSTANCE_MODES",
    "MAX_CLASSES",
    "MIN_INSTANCES",
    "MODES",
    "OBJECT_METRICS",
    "SHAPE_METRICS",
    "VOXEL_METRICS",
    "WRONG_CLASS",
    "EvaluationProgress",
    "EvaluationResult",
    "ObjectScores",
    "boundary",
    "cldice",
    "confusion_counts",
    "distance_transform",
    "error_map",
    "evaluate",
    "evaluate_iter",
    "format_value",
    "label_components",
    "match_objects",
    "plain_value",
    "ratio_metrics",
    "soft_skeleton",
    "surface_distances",
]
