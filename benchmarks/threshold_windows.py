"""The foreground threshold matched on random windows of a large training image, against
matching it on the whole image.

After a new model trains on a forest teacher's labels, the model predicts its training
images and takes the threshold that agrees best with those labels
(``core/training/threshold.py``). Images of more than ``MATCH_VOXELS`` voxels are matched
on random windows of them (about ``MATCH_VOXELS`` predicted voxels); before, they were
predicted whole (31 s of a run's budget for an 8192 x 8192 slide on two cores) or, over
67 M voxels, not matched at all.

Part 1, the same network matched both ways (real volumes, the benchmark's scribbles,
``api.train``'s defaults, a new 3D and a 2D plane-by-plane model): the trainer's matching
is run on the whole training image, as shipped for these sizes, and, on copies of the
network before it, on windows with a budget of ``--shares`` of the image's voxels.
Prints each threshold and its Dice on the unpainted part.

Part 2, a synthetic slide of ``--slide`` pixels a side, a new 2D model with a ``--budget``
s time limit: wall time, steps and threshold with the whole-image match of before
(``MATCH_VOXELS`` raised to the former limit) and with windows.

    OMP_NUM_THREADS=2 python benchmarks/threshold_windows.py \\
        --json benchmarks/results/threshold-windows.json

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import bench_accuracy as bench
import numpy as np
import real_data
import scribble_draws

from napari_unetseg import api
from napari_unetseg.core.training import threshold
from napari_unetseg.core.training import trainer as trainer_module

CASES = ("mni152-gm-3d-1mm", "mni152-wm-3d-1mm")


def _with_budget(voxels: int, work):
    """``work()`` with ``threshold.MATCH_VOXELS`` set to ``voxels``."""
    kept = threshold.MATCH_VOXELS
    threshold.MATCH_VOXELS = voxels
    try:
        return work()
    finally:
        threshold.MATCH_VOXELS = kept


def _threshold(history: dict) -> float | None:
    """The matched threshold a training history records (None: not matched)."""
    return (history.get("threshold") or {}).get("threshold")


def matched_both_ways(case: str, dims: int, seed: int, shares: list[float]) -> dict:
    """Train a new model on a case's scribbles; match its threshold on windows (each
    share) and on the whole image; the thresholds and Dice on the unpainted part."""
    windows: list[tuple[float, object, dict | None]] = []
    original = trainer_module.Trainer._match_threshold

    def both(self) -> str:
        self.network.eval()
        voxels = threshold._voxels(self.pairs)
        for share in shares:
            twin = copy.deepcopy(self.bundle)
            record, _ = _with_budget(
                int(share * voxels),
                lambda twin=twin: threshold.match_threshold(
                    twin,
                    self.pairs,
                    self.class_map.targets,
                    self.device,
                    self.batch,
                    seed=int(self.options.seed),
                ),  # fmt: skip
            )
            windows.append((share, twin, record))
        return original(self)

    trainer_module.Trainer._match_threshold = both
    try:
        loaded = real_data.load_case(case)
        scribbles = bench.make_scribbles(loaded, seed=seed)
        model = api.train(
            loaded.image, scribbles, label_mode="sparse", seed=0, spatial_dims=dims,
            time_limit=scribble_draws.SECONDS[dims],
        )  # fmt: skip
    finally:
        trainer_module.Trainer._match_threshold = original
    truth = loaded.foreground
    scored = ~bench.painted_region(loaded.case, loaded.image.shape)

    def dice(bundle) -> float:
        found = bench.predict_foreground(loaded.image, bundle, {})
        return round(bench.foreground_scores(found, truth, scored)["dice"], 4)

    row = {
        "case": case,
        "dims": dims,
        "seed": seed,
        "voxels": int(np.prod(loaded.image.shape)),
        "steps": model.history["steps"],
        "whole": {"threshold": _threshold(model.history), "dice": dice(model)},
        "windows": [
            {
                "share": share,
                "threshold": None if rec is None else rec.get("threshold"),
                "matched_voxels": None if rec is None else rec.get("matched_voxels"),
                "dice": dice(twin),
            }
            for share, twin, rec in windows
        ],
    }
    return row


def slide(edge: int, budget: float) -> np.ndarray:
    """A synthetic slide: noise with bright discs of radius 30, and strokes in a corner."""
    rng = np.random.default_rng(0)
    tile = (rng.random((2048, 2048)) * 60).astype(np.uint8)
    yy, xx = np.mgrid[:2048, :2048]
    for cy in range(50, 2048, 120):
        for cx in range(50, 2048, 120):
            tile[(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] += 120
    reps = -(-edge // 2048)
    image = np.tile(tile, (reps, reps))[:edge, :edge]
    labels = np.zeros(image.shape, np.uint8)
    labels[45:55, 40:60] = 2
    labels[165:175, 170:180] = 2
    labels[100:103, 0:1000] = 1
    labels[300:303, 0:1000] = 1
    return image, labels


def timed_slide(edge: int, budget: float) -> list[dict]:
    """Train on the synthetic slide with the former whole-image match and with windows."""
    image, labels = slide(edge, budget)
    rows = []
    for how, voxels in (("whole (before)", threshold.MAX_MATCH_MAPS), ("windows", None)):
        started = time.perf_counter()
        model = _with_budget(
            voxels or threshold.MATCH_VOXELS,
            lambda: api.train(image, labels, label_mode="sparse", time_limit=budget),
        )
        h = model.history
        rows.append(
            {
                "slide": edge,
                "budget_s": budget,
                "match": how,
                "wall_s": round(time.perf_counter() - started, 1),
                "steps": h["steps"],
                "threshold": _threshold(h),
                "matched_voxels": (h.get("threshold") or {}).get("matched_voxels"),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--dims", nargs="+", type=int, default=[3, 2])
    parser.add_argument("--seed", type=int, default=0, help="scribble draw")
    parser.add_argument("--shares", nargs="+", type=float, default=[0.5, 0.125])
    parser.add_argument("--slide", type=int, default=8192)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--skip-slide", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    out: dict = {"cases": [], "slide": []}
    for case in args.cases:
        for dims in args.dims:
            row = matched_both_ways(case, dims, args.seed, args.shares)
            out["cases"].append(row)
            w = "; ".join(
                f"windows {r['share']:g}: t {r['threshold']} Dice {r['dice']:.3f} "
                f"({r['matched_voxels']} voxels)"
                for r in row["windows"]
            )
            print(
                f"{case} {dims}D s{args.seed} ({row['steps']} steps): whole: t "
                f"{row['whole']['threshold']} Dice {row['whole']['dice']:.3f}; {w}",
                flush=True,
            )
    if not args.skip_slide:
        out["slide"] = timed_slide(args.slide, args.budget)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
