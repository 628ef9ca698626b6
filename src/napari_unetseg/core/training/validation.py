"""The validation split: whole blocks of the labeled area held out from training.

Validation measures how the model does on objects it has not seen rather than on
neighbouring pixels of the objects it trains on, so whole *blocks* (half a patch on each
axis) are held out, about ``val_fraction`` of the labeled pixels. With too few labels
there is no validation, and a message says so.
"""

from __future__ import annotations

import numpy as np

from .labels import _LabelIndex

#: Fewest labeled pixels (and labeled blocks) that can be split for validation.
MIN_VAL_PIXELS = 64
MIN_VAL_BLOCKS = 3


def _split_validation(
    index: _LabelIndex, val_fraction: float, rng: np.random.Generator
) -> tuple[list[set[int]], str]:
    """Choose validation blocks per source; returns (val block sets, message).

    Whole blocks are taken in random order until about ``val_fraction`` of the labeled
    pixels are held out. A split is accepted when validation has background and some
    foreground and training keeps at least half of every class; otherwise (too few
    labels) there is no validation and the message says why.
    """
    none: list[set[int]] = [set() for _ in index.sources]
    if val_fraction <= 0:
        return none, ""
    totals = index.class_totals()
    blocks = [
        (s, b) for s, counts in enumerate(index.counts) for b in np.flatnonzero(counts.sum(1))
    ]
    total = int(totals.sum())
    if total < MIN_VAL_PIXELS or len(blocks) < MIN_VAL_BLOCKS:
        return none, (
            f"Only {total} labeled pixels in {len(blocks)} region(s): too few to hold some out "
            "for validation, so the model trains on all of them without validation. Paint "
            "more, in several places, to get a validation score."
        )
    target = val_fraction * total
    for _ in range(20):
        order = rng.permutation(len(blocks))
        val = [set() for _ in index.sources]
        held = np.zeros_like(totals)
        for k in order:
            s, b = blocks[k]
            add = index.counts[s][b]
            if held.sum() and held.sum() + add.sum() > 2 * target:
                continue
            val[s].add(int(b))
            held = held + add
            if held.sum() >= target:
                break
        if held[0] > 0 and held[1:].sum() > 0 and np.all(totals - held >= 0.5 * totals):
            return val, ""
    return none, (
        "The labels could not be split into training and validation regions that both "
        "contain background and objects, so the model trains on all of them without "
        "validation. Paint in more places to get a validation score."
    )
