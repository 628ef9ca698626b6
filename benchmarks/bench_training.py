"""Training benchmark: engine overhead and how fast fine-tuning on scribbles pays off.

1. **Overhead.** Steps per second of :func:`napari_unetseg.core.training.train` (patch
   sampling from an image, on-the-fly normalization, augmentation, masked CE + Dice,
   gradient clipping, LR schedule) against a bare PyTorch loop (pre-made tensors,
   cross-entropy, AdamW) over the same model, patch and batch size. The two are run in
   alternating blocks so that load from other processes hits both alike; the ratio of
   the medians is reported. Target: engine overhead < 15 %.
2. **Fine-tuning on scribbles.** Sparse scribbles (a stroke in each of 10 nuclei, 10
   background strokes) on one synthetic 512 x 512 image of each of two kinds
   (:data:`KINDS`); fine-tune the shipped ``nuclei-2d`` for 30 / 60 / 120 s of CPU time
   budget (and, for the first kind, train a new model for 120 s), reporting the engine's
   validation Dice (held-out scribble regions) and the Dice against the full ground
   truth of a *different* image of the same kind. A last series paints corrections
   instead (dabs of the true class on 40 pixels the shipped model gets wrong, plus the
   strokes), as a user fixing the model's mistakes would.

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py            # ~16 min
    OMP_NUM_THREADS=1 python benchmarks/bench_training.py --quick    # ~1 min

Prints a Markdown table for ``docs/benchmarks.md``. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from napari_unetseg import api  # noqa: E402
from napari_unetseg.core.bundle import ModelBundle  # noqa: E402
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles  # noqa: E402
from napari_unetseg.core.training import NEW_MODEL, train  # noqa: E402
from napari_unetseg.core.unet import UNet  # noqa: E402

#: Fine-tuning images: a hard kind inside the default model's training range (dim,
#: noisy, blurry, crowded nuclei with strongly uneven light) and tiny nuclei at the
#: edge of it (radius 2-3.5 px), where the default model is weaker.
KINDS = {
    "hard (dim, noisy, blurry, crowded)": {
        "radius": (6.0, 11.0),
        "density": 0.4,
        "cluster_fraction": 0.6,
        "photons": 20.0,
        "blur": 1.8,
        "illumination": 0.6,
        "dim_fraction": 0.25,
    },
    "tiny nuclei (radius 2-3.5 px)": {"radius": (2.0, 3.5), "density": 0.3},
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs (shared), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), Python {platform.python_version()}"
    )


def overhead(blocks: int, steps_per_block: int) -> dict[str, float]:
    """Median steps/s of the engine and of a bare loop, alternating blocks."""
    image, truth = synthetic_nuclei((512, 512), seed=3)
    scribbles = synthetic_scribbles(truth, 10, 10, seed=0)
    patch, batch = (128, 128), 4
    torch.manual_seed(0)
    engine_net = UNet(spatial_dims=2, n_classes=2, **NEW_MODEL[2])
    bare_net = UNet(spatial_dims=2, n_classes=2, **NEW_MODEL[2])
    bare_net.load_state_dict(engine_net.state_dict())
    gen = train(
        image,
        scribbles,
        model=ModelBundle.from_network(engine_net),
        steps=10**6,
        patch_size=patch,
        batch_size=batch,
        val_fraction=0.0,
        device="cpu",
    )
    next(gen)  # setup: label scan, normalizer statistics (not part of the step rate)
    x = torch.randn(batch, 1, *patch)
    y = torch.randint(0, 2, (batch, *patch))
    opt = torch.optim.AdamW(bare_net.parameters(), lr=1e-3)
    bare_net.train()

    def bare_steps(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            loss = F.cross_entropy(bare_net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return n / (time.perf_counter() - t0)

    def engine_steps(n: int) -> float:
        t0 = time.perf_counter()
        start = None
        for rec in gen:
            start = rec.step if start is None else start
            if rec.step - start >= n:
                return (rec.step - start) / (time.perf_counter() - t0)
        raise RuntimeError("the engine stopped early")

    bare_steps(2)
    engine_steps(2)  # warm-up both (allocator, first-call costs)
    bare, eng = [], []
    for _ in range(blocks):
        bare.append(bare_steps(steps_per_block))
        eng.append(engine_steps(steps_per_block))
    gen.close()
    b, e = statistics.median(bare), statistics.median(eng)
    return {"bare": b, "engine": e, "overhead": b / e - 1}


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred > 0, truth > 0
    return float(2 * (p & t).sum() / max(p.sum() + t.sum(), 1))


def corrections(
    image: np.ndarray, truth: np.ndarray, model: ModelBundle, n: int = 40, seed: int = 0
) -> np.ndarray:
    """Scribbles like a user fixing the model: dabs of the true class on its mistakes.

    ``n`` dabs (disks of radius 2) centred on random pixels the model gets wrong, each
    painting the true class there (2 = nucleus, 1 = background) only where the truth
    has that class, plus the usual interior strokes (10 nuclei, 10 background strokes).
    """
    rng = np.random.default_rng(seed)
    out = synthetic_scribbles(truth, 10, 10, seed=seed)
    wrong = np.argwhere((api.predict(image, model) > 0) != (truth > 0))
    yy, xx = np.mgrid[-2:3, -2:3]
    disk = yy**2 + xx**2 <= 4
    for y, x in wrong[rng.choice(len(wrong), min(n, len(wrong)), replace=False)]:
        fg = truth[y, x] > 0
        ys, xs = y + yy[disk], x + xx[disk]
        ok = (ys >= 0) & (xs >= 0) & (ys < truth.shape[0]) & (xs < truth.shape[1])
        ys, xs = ys[ok], xs[ok]
        same = (truth[ys, xs] > 0) == fg
        out[ys[same], xs[same]] = 2 if fg else 1
    return out


def fine_tuning(
    kind: str, budgets: list[float], scratch: float | None, painting: str = "interior strokes"
) -> list[dict]:
    """Fine-tune (and train from scratch) on scribbles of one image of a kind."""
    image, truth = synthetic_nuclei((512, 512), seed=11, **KINDS[kind])
    test_image, test_truth = synthetic_nuclei((512, 512), seed=12, **KINDS[kind])
    base = api.load_model("nuclei-2d")
    if painting == "interior strokes":
        scribbles = synthetic_scribbles(truth, 10, 10, seed=0)
    else:
        scribbles = corrections(image, truth, base)
    kind = f"{kind}, {painting}"
    rows = [
        {
            "kind": kind,
            "run": "nuclei-2d as shipped",
            "budget": 0,
            "steps": 0,
            "val_dice": None,
            "test_dice": dice(api.predict(test_image, base), test_truth),
        }
    ]
    runs = [("fine-tune nuclei-2d", b, base) for b in budgets]
    if scratch:
        runs.append(("new model", scratch, None))
    for name, budget, model in runs:
        bundle = api.train(image, scribbles, model=model, time_limit=budget, device="cpu")
        rows.append(
            {
                "kind": kind,
                "run": name,
                "budget": budget,
                "steps": bundle.history["steps"],
                "val_dice": bundle.history["best_val_dice"],
                "test_dice": dice(api.predict(test_image, bundle), test_truth),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short run (fewer blocks, 30 s only)")
    p.add_argument("--overhead-only", action="store_true", help="skip the fine-tuning runs")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"Machine: {machine()}\n", flush=True)
    o = overhead(blocks=3 if args.quick else 6, steps_per_block=5 if args.quick else 10)
    print("| loop (2D U-Net depth 4, base 16, batch 4 x 128 x 128, CPU) | steps/s |")
    print("|---|---|")
    print(f"| bare PyTorch (fixed tensors, CE, AdamW) | {o['bare']:.2f} |")
    print(
        f"| napari-unetseg engine (sampling, normalization, augmentation, CE + Dice) "
        f"| {o['engine']:.2f} |"
    )
    print(f"| **engine overhead** | **{100 * o['overhead']:.1f} %** |\n", flush=True)
    if args.overhead_only:
        return 0
    budgets = [30.0] if args.quick else [30.0, 60.0, 120.0]
    rows = []
    for i, kind in enumerate(KINDS):
        scratch = None if args.quick or i else 120.0
        rows += fine_tuning(kind, budgets, scratch)
    if not args.quick:
        rows += fine_tuning(list(KINDS)[1], budgets, None, painting="corrections")
    print(
        "| image kind | run | time budget (s) | steps | validation Dice (held-out scribbles) "
        "| Dice on another image (full ground truth) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        vd = "-" if r["val_dice"] is None else f"{r['val_dice']:.3f}"
        print(
            f"| {r['kind']} | {r['run']} | {r['budget']:.0f} | {r['steps']} | {vd} "
            f"| {r['test_dice']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
