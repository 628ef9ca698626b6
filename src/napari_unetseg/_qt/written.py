"""Which labels layers Segment wrote, and whether they still hold only what it wrote.

A run replaces the data of its labels output (``"<image> [unet]"``) only while that layer
holds the model's labels: changed since (painted and not every stroke undone, edited from
the console, given other data, a stroke under way), or a layer of that name Segment did
not write in this session (labels saved earlier and opened again), it is the user's, and
the run's labels go to ``"<image> [unet 2]"``. The record is shared by
every Segment widget, so a dock closed and opened again knows it, and holds the layers
themselves (not napari's short-lived plugin proxies of them).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..provenance import CHECKSUM_BYTES, labels_checksum, weights_sha256
from ._common import real_layer

if TYPE_CHECKING:
    from napari.layers import Labels

# Labels outputs up to CHECKSUM_BYTES get a checksum when written, so that painting undone
# (Ctrl-Z) is told from painting kept; larger or lazy outputs count as the user's once
# painted, undone or not.


class _WrittenLabels:
    """The labels layers Segment wrote in this session, shared by every Segment widget (a
    dock closed and opened again knows them): what each held when written, and whether
    the user painted on it since. A run replaces such a layer's data only while it holds
    the model's labels; any other layer of the output's name is kept."""

    def __init__(self) -> None:
        # What each output held when written (a checksum), to tell undone strokes.
        self._checksums: weakref.WeakKeyDictionary[Labels, int | None] = (
            weakref.WeakKeyDictionary()
        )
        self._painted: weakref.WeakSet[Labels] = weakref.WeakSet()
        # The data object each output was given: other data set since is the user's
        self._data: weakref.WeakKeyDictionary[Labels, Any] = weakref.WeakKeyDictionary()
        # The probability and uncertainty maps Segment wrote (images: never painted)
        self._maps: weakref.WeakSet[Any] = weakref.WeakSet()

    def wrote(self, layer: Labels) -> None:
        """``layer`` now holds a run's labels."""
        layer = real_layer(layer)
        if layer not in self._checksums:  # a paint event marks it as the user's
            layer.events.paint.connect(self._on_paint)
        self._painted.discard(layer)
        self._checksums[layer] = _checksum(layer.data)
        self._data[layer] = reference(layer.data)

    def checksum(self, layer: Labels) -> int | None:
        """The checksum of what the last run wrote into ``layer`` (None: none taken)."""
        return self._checksums.get(real_layer(layer))

    def wrote_map(self, layer: Any) -> None:
        """``layer`` now holds a run's probability or uncertainty map."""
        self._maps.add(real_layer(layer))

    def keeps_map(self, layer: Any) -> str | None:
        """Why a run must not replace a map layer's data (half a sentence), or None."""
        if real_layer(layer) in self._maps:
            return None
        return "was not made by Segment in this session"

    def _on_paint(self, event: Any) -> None:
        self._painted.add(event.source)

    def keeps(self, layer: Any) -> str | None:
        """Why a run must not replace ``layer``'s data (half a sentence), or None.

        Painted since written and not every stroke undone: napari's undo emits no event
        (and its history is private), so the labels are compared with what was written,
        by checksum; where there is none (large or lazy labels), a paint counts."""
        layer = real_layer(layer)
        if layer not in self._checksums:
            return "was not made by Segment in this session"
        if getattr(layer, "_block_history", False) or getattr(layer, "_staged_history", None):
            # a stroke under way: napari says "paint" only once it ends (the result
            # replaced the part painted so far; lifecycle bug bash)
            return "is being painted"
        written = self._checksums[layer]
        if written is not None:
            # edits without a paint event count too: from the console or a script, or
            # other data set on the layer (a run wrote over them; lifecycle bug bash)
            changed = _checksum(layer.data) != written
        else:  # large or lazy labels: a paint, or other data set on the layer
            changed = layer in self._painted or self._data[layer]() is not layer.data
        return "has your painting" if changed else None


#: The one record of Segment's labels outputs (see :class:`_WrittenLabels`).
WRITTEN = _WrittenLabels()


_checksum = labels_checksum


def unedited_output(
    layer: Any, model: str | None, weights: Callable[[], Any] | None = None
) -> str | None:
    """Why ``model`` must not be fine-tuned on ``layer`` (a sentence), or None: the layer
    holds the labels Segment made with that very model, unedited. Fine-tune offered them
    as its labels after a run, and training on them ended at a "best validation Dice
    1.00" that taught the model nothing (GUI bug bash). ``weights``: gives the model's
    bundle, whose weights are compared with the record's where the names differ (the
    model saved under another name made them; review)."""
    layer = real_layer(layer)
    record = (getattr(layer, "metadata", None) or {}).get("unetseg") or {}
    if model is None or not isinstance(record, dict) or WRITTEN.keeps(layer) is not None:
        return None
    same = record.get("model") == model
    if not same and weights is not None and record.get("weights_sha256"):
        same = record["weights_sha256"] == weights_sha256(weights())
    if not same:
        return None
    return (
        f"{layer.name!r} holds {model}'s own labels, unedited: training it on them teaches "
        "it nothing; correct them where they are wrong first, or paint strokes on a new "
        "scribble layer."
    )


def reference(data: Any) -> Any:
    """A weak reference to ``data`` where it takes one, else a strong one."""
    try:
        return weakref.ref(data)
    except TypeError:
        return lambda: data


__all__ = ["CHECKSUM_BYTES", "WRITTEN", "reference", "unedited_output"]
