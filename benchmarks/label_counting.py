"""Counting a scribble layer's painted pixels (the Fine-tune widget does it after every
stroke, in the GUI thread): ``core.training.labels.label_counts``, a chunk at a time
with chunks without painted pixels skipped, against the former count of all painted
pixels at once (``np.flatnonzero`` over the whole layer; written out here).

    python benchmarks/label_counting.py          # ~1 min, about 4 GB of memory

Prints the best of three runs of each on three layers; nothing is asserted (the counts
are checked equal).
"""

from __future__ import annotations

import time

import numpy as np

from napari_unetseg.core.training.labels import label_counts


def at_once(data: np.ndarray) -> dict[int, int]:
    """The former count: every painted pixel of the layer gathered first."""
    flat = data.ravel()
    painted = flat[np.flatnonzero(flat)]
    zeros = flat.size - painted.size
    found = {int(v): int(n) for v, n in enumerate(np.bincount(painted)) if n}
    return {0: zeros, **found} if zeros else found


def best(function, data: np.ndarray, runs: int = 3) -> tuple[float, dict[int, int]]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function(data)
        times.append(time.perf_counter() - started)
    return min(times), result


def layers():
    """(description, layer): a slide's scribble layer as painted, and dense masks."""
    two = np.zeros((20000, 20000), np.uint8)
    two[100:200, 100:300] = 1
    two[5000:5100, 7000:7300] = 2
    yield "20,000 x 20,000 uint8, two strokes", two
    del two
    spread = np.zeros((20000, 20000), np.uint8)
    spread[::40, ::2] = 1  # a painted row in every chunk of 2^20 pixels
    spread[20::40, ::5] = 2
    yield "20,000 x 20,000 uint8, strokes in every chunk (1.8 % painted)", spread
    del spread
    rng = np.random.default_rng(0)
    yield (
        "8,000 x 8,000 uint16, dense masks of 5,000 ids",
        rng.integers(0, 5000, (8000, 8000)).astype(np.uint16),
    )


def main() -> None:
    print("| layer | all painted pixels at once (s) | a chunk at a time (s) | ratio |")
    print("|---|---|---|---|")
    for what, data in layers():
        before, expected = best(at_once, data)
        after, counted = best(label_counts, data)
        assert counted == expected
        print(f"| {what} | {before:.3f} | {after:.3f} | {before / after:.1f} x |", flush=True)


if __name__ == "__main__":
    main()
