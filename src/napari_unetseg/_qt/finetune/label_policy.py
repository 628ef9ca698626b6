"""What the Fine-tune widget's label values mean, and how it talks about them (no Qt).

Scribble values (docs/architecture.md, "Label conventions"): 0 not painted, 1
background, 2.. classes. The functions here take plain values, or a layer only for its
``name`` / ``metadata`` / ``features``, so they are tested without a viewer.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

# The class and stroke colours live in ``napari_unetseg._colours`` (the reader colours
# saved class labels with them too; no Qt there, nor here).
from ..._colours import COLOURED_VALUES as COLOURED_VALUES
from ..._colours import PALETTE as PALETTE
from ..._colours import PREVIEW_COLORS as PREVIEW_COLORS
from ..._colours import SCRIBBLE_COLORS as SCRIBBLE_COLORS
from ..._colours import UNSURE_COLOUR as UNSURE_COLOUR
from ..._colours import scribble_colour as scribble_colour

BACKGROUND, OBJECT = 1, 2
SCRIBBLE_NAMES = {0: "not painted", BACKGROUND: "background", OBJECT: "object"}

#: Metadata key marking a Labels layer made by "New scribble layer".
SCRIBBLE_KEY = "napari-unetseg scribbles"
#: Words in a layer name that say it holds complete masks rather than scribbles.
_DENSE_WORDS = ("ground truth", "groundtruth", "mask", "[unet]", "[unet ")


def colour(rgba: tuple[float, ...]) -> str:
    """``#rrggbb`` of an RGBA tuple in [0, 1]."""
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgba[:3]))


def scribble_names(layer: Any) -> dict[int, str]:
    """Names of the label values: the layer's ``name`` feature, else the defaults."""
    names = dict(SCRIBBLE_NAMES)
    features = layer.features
    if "name" in features and "index" in features:
        names.update(named_values(features, "name"))
    return names


def named_values(features: Any, column: str) -> dict[int, str]:
    """Label value -> name from a layer's features (``index`` and ``column``). Rows
    whose index is no whole number (an empty cell of a CSV table, read as NaN; text)
    or whose name is missing are left out: they raised "cannot convert float NaN to
    integer", which threw away a whole training run (labels bash)."""
    import pandas as pd

    found: dict[int, str] = {}
    for value, name in zip(features["index"], features[column], strict=False):
        if name is None or pd.isna(name) or not str(name).strip():
            continue
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            found[int(value)] = str(name).strip()  # exact past 2**53 (review)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number.is_integer():  # (NaN and inf are no whole numbers)
            found[int(number)] = str(name).strip()
    return found


def generic_class_name(name: str) -> bool:
    """Placeholder names: ours for scribbles and the engine's for new models ("class 2";
    a user's "class A" is a name: Validate left it out; classes bug bash)."""
    return name in ("object", "foreground") or re.fullmatch(r"class \d+", name) is not None


def merged_class_names(model_names: list[str], scribble: dict[int, str]) -> list[str]:
    """Class names for a model trained on scribbles whose values are named ``scribble``.

    The user's names win, except the placeholder "object", which does not replace a real
    name the model already has ("nucleus"). Duplicates keep the model's names.
    """
    merged = []
    for c, theirs in enumerate(model_names):
        mine = scribble.get(c + 1)
        keep = mine is None or (generic_class_name(mine) and not generic_class_name(theirs))
        merged.append(theirs if keep else mine)
    return merged if len(set(merged)) == len(merged) else list(model_names)


def new_model_class_names(labels: Any, scribble: dict[int, str]) -> list[str] | None:
    """The class names a new model trained on these scribbles gets (value k + 1 names
    class k), so that its training sentences name them; None without painted classes."""
    top = int(np.max(labels)) if np.size(labels) else 0
    if top < 2:
        return None
    defaults = ["background"] + [f"class {c}" for c in range(1, top)]
    return merged_class_names(defaults, scribble)


def dense_class_names(labels: Any, layer: Any) -> list[str] | None:
    """Class names for a new model trained on complete masks whose layer names every
    value (features ``index`` with ``class`` or ``name``, as Segment's labels and files
    read back carry): one class per value. None otherwise: the values are then taken as
    object instances of one class (a named tissue ground truth was merged into "class
    1", and the advice was the API's n_classes; classes bug bash)."""
    features = getattr(layer, "features", None)
    if features is None or "index" not in features or SCRIBBLE_KEY in (layer.metadata or {}):
        return None  # (a scribble layer's names say what strokes mean, not classes)
    column = next((c for c in ("class", "name") if c in features), None)
    top = int(np.max(labels)) if np.size(labels) else 0
    if column is None or top < 2:
        return None
    named = named_values(features, column)
    if any(not named.get(v) or generic_class_name(named[v]) for v in range(1, top + 1)):
        return None
    return [named.get(0) or "background"] + [named[v] for v in range(1, top + 1)]


def start_class_names(class_names: list[str]) -> dict[int, str]:
    """Scribble value names for a start model's classes: its real names where it has
    them (fine-tuning a nuclei model, label 2 is "nucleus" rather than "object")."""
    names = dict(SCRIBBLE_NAMES)
    for c, class_name in enumerate(class_names[1:], start=1):
        if not generic_class_name(class_name):
            names[c + 1] = class_name
    return names


def follow_start(
    current: dict[int, str], before: dict[int, str], after: dict[int, str]
) -> dict[int, str] | None:
    """A scribble layer's value names after "Start from" changed from a model that names
    its values ``before`` to one that names them ``after``: the names the old model gave
    follow the new one ("nucleus" becomes "object" for a new model, and back); the others
    stay. A layer whose other values the user named keeps every name: its "nucleus" is
    theirs too (it became "object"; classes bug bash). None when nothing changes."""
    if any(v not in before and not generic_class_name(n) for v, n in current.items() if v > 0):
        return None
    names = dict(current)
    for value, old in before.items():
        new = after.get(value)
        if new is not None and new != old and names.get(value) == old:
            names[value] = new
    return names if names != current else None


def guess_mode(layer: Any) -> str | None:
    """Scribbles for our scribble layers, dense for ground truth / masks and Segment's
    labels (by their record, renamed or saved and opened again: renamed, they were
    taken for scribbles, each nucleus a class of a new model; rounds bash), else None."""
    if layer.metadata.get(SCRIBBLE_KEY):
        return "sparse"
    made = layer.metadata.get("unetseg")
    if isinstance(made, dict) and made.get("model"):
        return "dense"
    name = layer.name.lower()
    if any(word in name for word in _DENSE_WORDS):
        return "dense"
    if "scribble" in name:
        return "sparse"
    return None


def mode_help(mode: str, names: dict[int, str]) -> str:
    """One sentence on what the values of the labels mean in ``mode``."""
    if mode == "sparse":
        return (
            f"Paint a few strokes: 1 = {names[BACKGROUND]}, 2 = {names[OBJECT]} (3, 4... = "
            "more classes); unpainted pixels (0) are ignored."
        )
    return "Complete masks: 0 = background, any other value = object; every pixel counts."


def _looks_like_masks(values: list[int], names: dict[int, str]) -> bool:
    """Whether scribble values look like instance masks (one id per object): many of
    them; where the user named the classes, very many or with gaps (12 named classes
    of 40 px each were taken for masks; classes bug bash)."""
    if len(values) <= 4 or max(values) <= 9:
        return False
    if any(v >= 3 and v in names and not generic_class_name(names[v]) for v in values):
        return len(values) > 20 or max(values) > 2 * len(values)
    return True


#: The painted values the counts line names one by one (each with its brush's link);
#: past them, summed: a mask's ids, not classes anyone paints (review: 12 hid classes).
MOST_VALUES_SHOWN = 64
#: ... and of values that look like a mask's ids (:func:`_looks_like_masks`).
MASK_VALUES_SHOWN = 8


def counts_html(
    counts: dict[int, int],
    mode: str,
    names: dict[int, str],
    problem: str | None,
    warning: str = "#e0a030",
) -> str:
    """The painted-pixel counts as rich text, with ``problem`` (or a hint) below them in
    the ``warning`` colour (the theme's: :func:`~napari_unetseg._qt._plots.warning_colour`)."""
    if mode == "sparse":
        # each class's square a link that selects its brush (a class added with "New
        # class" had no button to paint it again; widget bug bash)
        values = sorted(v for v in counts if v > 0)
        masks = _looks_like_masks(values, names)
        # a mask's ids: a few (61 filled a line 578 px tall, Train far below; UI bash)
        shown = MASK_VALUES_SHOWN if masks else MOST_VALUES_SHOWN
        parts = [
            f"<a href='{v}' style='text-decoration:none'>"
            f"<span style='color:{colour(scribble_colour(v))}'>&#9632;</span></a>"
            f" {names.get(v, f'class {v - 1}')} ({v}): {counts[v]:,} px"  # (value to paint)
            for v in values[:shown]
        ]
        rest = values[shown:]
        if rest:  # one link per value of 102,400 froze the viewer 7-19 s a stroke (bash)
            more = sum(counts[v] for v in rest)
            parts.append(f"and {len(rest):,} more value{'s' * (len(rest) != 1)} ({more:,} px)")
        if masks:
            problem = (problem or "") + (
                " These look like complete masks (many label values): choose 'Dense masks'?"
            )
    else:
        objects = sum(n for v, n in counts.items() if v > 0)
        n_ids = sum(1 for v in counts if v > 0)
        parts = [
            f"background: {counts.get(0, 0):,} px",
            f"objects: {objects:,} px ({n_ids} label value{'s' * (n_ids != 1)})",
        ]
    text = "Painted: " + (" &nbsp; ".join(parts) if parts else "nothing yet")
    if problem:
        text += f"<br><span style='color:{warning}'>{problem.strip()}</span>"
    return text
