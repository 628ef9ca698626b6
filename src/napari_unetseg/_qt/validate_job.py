"""The worker side of a Validate run and the choices it reads (no Qt).

What the Validate widget offers (label modes, where instances are, the error overlay's
values), how it reads a class list, which columns its table shows, and the job it runs
in a worker thread: :func:`napari_unetseg.api.evaluate_iter`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.metrics import EvaluationProgress, EvaluationResult

ERRORS_SUFFIX = "errors"

#: Overlay values (see ``core.metrics.error_map``): name and colour. Magenta and cyan
#: stay distinct for red-green colour-blind eyes and on dark images.
ERROR_KINDS = {
    1: ("false positive", "#ff3dff"),
    2: ("false negative", "#00e5ff"),
    3: ("wrong class", "#ffd600"),
}

MODES = {
    "dense": (
        "Dense masks",
        "Ground truth: 0 = background, k = class k. Instance labels (one id per object) "
        "against a binary prediction are scored as one class, objects taken from the ids.",
    ),
    "sparse": (
        "Sparse scribbles",
        "Ground truth: 0 = not painted (ignored), 1 = background, k + 1 = class k, as "
        "painted for Fine-tune. Only painted pixels are scored; no object scores.",
    ),
}

#: Choices of the "Instances in" combo: text and ``instances`` argument of evaluate.
INSTANCE_CHOICES = (
    ("auto-detect", "auto"),
    ("neither (labels are classes)", "none"),
    ("ground truth", "ground_truth"),
    ("prediction", "prediction"),
    ("both", "both"),
)


def parse_classes(text: str) -> list[int] | None:
    """``"1, 3-5"`` -> ``[1, 3, 4, 5]``; empty or ``"all"`` -> None.

    Raises
    ------
    ValueError
        For anything else, with one sentence saying what is expected.
    """
    import re

    from ..core.metrics import MAX_CLASSES

    text = text.strip().lower()
    if text in ("", "all"):
        return None
    out: set[int] = set()
    try:
        spaced = re.sub(r"\s*-\s*", "-", text)  # "1 - 3" is "1-3"
        for part in spaced.replace(";", ",").replace(" ", ",").split(","):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            first, last = int(lo), int(hi) if sep else int(lo)
            if first < 0 or last < first:
                raise ValueError(part)
            if last - first + len(out) >= MAX_CLASSES:  # a table row each: the GUI froze
                raise OverflowError
            out.update(range(first, last + 1))
    except OverflowError:
        raise ValueError(
            f"Classes {text!r} are more than {MAX_CLASSES}: list the classes to score, or 'all'."
        ) from None
    except ValueError:
        raise ValueError(
            f"Classes {text!r} are not understood: give ids like '1, 2' or '1-3', or 'all'."
        ) from None
    return sorted(out)


#: The table's column order: the scores people look at first come first (the dock is
#: narrow), then the rest of :data:`~napari_unetseg.core.metrics.COLUMNS`.
FIRST_COLUMNS = ("class", "dice", "iou", "obj_f1", "hd95", "cldice", "obj_pq", "assd")


def columns(result: EvaluationResult) -> list[str]:
    """Columns worth showing, most telling first; without the object / distance ones
    when the run did not compute them."""
    from ..core.metrics import COLUMNS
    from ..core.metrics.report import computed_columns

    return computed_columns(
        result, [*FIRST_COLUMNS, *(c for c in COLUMNS if c not in FIRST_COLUMNS)]
    )


def evaluate_job(
    prediction: Any, ground_truth: Any, **options: Any
) -> Generator[EvaluationProgress, None, EvaluationResult]:
    """The worker's job: :func:`napari_unetseg.api.evaluate_iter` with ``options``."""
    from .. import api

    return (yield from api.evaluate_iter(prediction, ground_truth, **options))


Spacing = tuple[tuple[float, ...], str | None]


def _size_text(scale: tuple[float, ...], unit: str | None) -> str:
    return " x ".join(f"{s:g}" for s in scale) + (f" {unit}" if unit else "")


def spacing_note(
    prediction: Spacing, ground_truth: Spacing, time_axis: int | None = None
) -> str | None:
    """A sentence when the two layers' pixel sizes (scale, unit) differ: the distances
    are measured with the ground truth's (the CLI refuses instead; here the layers are on
    screen and a run is cheap to repeat), and the pixels paired index by index, which the
    viewer does not show lying on one another (advice audit). Where only the steps of
    the ``time_axis`` differ, a sentence of time steps, which enter no distance (they were
    called pixel sizes that distances are measured with; movies bash). None when they
    agree."""
    from .._units import same_size

    (p_scale, p_unit), (g_scale, g_unit) = prediction, ground_truth
    if len(p_scale) != len(g_scale) or same_size(p_scale, p_unit, g_scale, g_unit):
        return None
    also = ""
    if time_axis is not None and 0 <= time_axis < len(p_scale):
        space = [a for a in range(len(p_scale)) if a != time_axis]
        steps = (p_scale[time_axis], g_scale[time_axis])
        p_scale, g_scale = tuple(p_scale[a] for a in space), tuple(g_scale[a] for a in space)
        if same_size(p_scale, p_unit, g_scale, g_unit):
            return (
                f"The layers' time steps differ (prediction {steps[0]:g}, ground truth "
                f"{steps[1]:g}): they are scored time point for time point, though on "
                "screen they do not lie on one another."
            )
        if steps[0] != steps[1]:  # the sizes without the time step, no length (review)
            also = f"; their time steps too, {steps[0]:g} and {steps[1]:g}"
    return (
        f"The layers' pixel sizes differ (prediction {_size_text(p_scale, p_unit)}, ground "
        f"truth {_size_text(g_scale, g_unit)}{also}): they are scored pixel for pixel, though on "
        "screen they do not lie on one another, and distances are measured with the ground "
        "truth's."
    )


def shared_unit(prediction: Spacing, ground_truth: Spacing) -> tuple[Spacing, Spacing]:
    """The two layers' pixel sizes, one's unit given to the other when only one has a
    unit and the sizes are the same numbers: a mask added from an array or a plain TIFF
    has the image's scale but no unit, and its pixel sizes were said to differ ("0.3 x
    0.3 µm, ground truth 0.3 x 0.3") and its distances given in scale units (journey
    bash)."""
    from .._units import same_size

    (p_scale, p_unit), (g_scale, g_unit) = prediction, ground_truth
    if (p_unit is None) != (g_unit is None) and same_size(p_scale, None, g_scale, None):
        unit = p_unit or g_unit
        return (p_scale, unit), (g_scale, unit)
    return prediction, ground_truth


def split_note(prediction: Any, result: Any) -> str | None:
    """A sentence when objects of the prediction each cover several reference objects and
    the prediction is Segment's labels made without splitting touching objects (by their
    record): one label per class gave a real stack's nuclei objects F1 0.585 (3 merged),
    where the box gives 0.809 at the same Dice, and Validate did not name it (journey
    bash)."""
    record = (getattr(prediction, "metadata", None) or {}).get("unetseg")
    settings = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(settings, dict) or settings.get("split_touching", True):
        return None
    if len(result.foreground) > 1 or len(record.get("classes") or ()) > 2:
        return None  # the box would merge the classes into objects (api.segment says)
    merged = sum(int(scores.get("merged", 0)) for scores in (result.objects or {}).values())
    if merged < 2:
        return None
    return (
        f"{merged} predicted objects each cover several reference objects: tick 'Split "
        "touching objects' in Segment and run it again for one label per object."
    )


def swapped_note(prediction: Any, ground_truth: Any) -> str | None:
    """A sentence when the ground truth is a segmentation of ours and the prediction is
    not: the layers may have been chosen the wrong way round, which Dice and IoU do not
    show (they are symmetric) but sensitivity, precision and the overlay's colours do."""
    from ._common import segmentation_of_ours

    if not segmentation_of_ours(ground_truth) or segmentation_of_ours(prediction):
        return None
    return (
        f"The ground truth {ground_truth.name!r} is a segmentation made by this plugin and "
        f"the prediction {prediction.name!r} is not: if they are the wrong way round, swap "
        "them (Dice and IoU stay the same, but sensitivity and precision, and the false "
        "positives and negatives, trade places)."
    )


def value_names(*layers: Any) -> dict[int, str]:
    """Names of label values from the layers' features (``index`` with ``class`` or
    ``name``: the Segment widget's labels carry their model's class names), the first
    layer's first; placeholders ("class 2", "object", "not painted") are left out."""
    from .finetune.label_policy import SCRIBBLE_NAMES, generic_class_name, named_values

    names: dict[int, str] = {}
    for layer in reversed(layers):
        features = getattr(layer, "features", None)
        if features is None or "index" not in features:
            continue
        column = next((c for c in ("class", "name") if c in features), None)
        if column is None:
            continue
        for value, text in named_values(features, column).items():
            if not generic_class_name(text) and text != SCRIBBLE_NAMES[0]:
                names[value] = text
    return names
