"""Train the shipped default models ``nuclei-2d`` and ``nuclei-3d`` on synthetic nuclei.

Reproduces ``src/napari_unetseg/models/nuclei-2d.pt`` / ``nuclei-3d.pt`` (bit for bit only
on the same machine type and thread count: CPU kernels and the time budget decide how
many steps run) and measures them on held-out synthetic images of several kinds, which
is what ``models/MODEL_CARD.md`` reports.

    python scripts/train_default_models.py                  # both, 7 min each, 1 thread
    python scripts/train_default_models.py --which 2d --time-limit 60 --out /tmp/try
    python scripts/train_default_models.py --evaluate-only   # re-measure shipped files

Training data: a pool of images drawn with widely varied generator options
(:func:`random_nuclei_options`: sizes, shapes, crowding, dim/saturated nuclei, uneven
background, blur, noise, 8/16-bit/float ranges), dense labels with touching nuclei
separated by a one-pixel background seam (so connected components of the prediction
give separate objects more often), and the training engine's own augmentation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from napari_unetseg import api  # noqa: E402
from napari_unetseg.core.bundle import ModelBundle  # noqa: E402
from napari_unetseg.core.synthetic import random_nuclei_options, synthetic_nuclei  # noqa: E402
from napari_unetseg.core.training import train  # noqa: E402
from napari_unetseg.core.unet import UNet  # noqa: E402

MODELS_DIR = ROOT / "src" / "napari_unetseg" / "models"

#: Per model: architecture, training pool, patch/batch, tile hint.
SPECS: dict[str, dict[str, Any]] = {
    "2d": {
        "name": "nuclei-2d",
        "unet": {"spatial_dims": 2, "depth": 4, "base_channels": 16, "norm": "batch"},
        "pool": 96,
        "shape": (256, 256),
        "radius": (3.5, 24.0),
        "patch": (128, 128),
        "batch": 4,
        "tile": (256, 256),
    },
    "3d": {
        "name": "nuclei-3d",
        "unet": {"spatial_dims": 3, "depth": 4, "base_channels": 8, "norm": "batch"},
        "pool": 40,
        "shape": (32, 96, 96),
        "radius": (3.0, 12.0),
        "patch": (16, 64, 64),
        "batch": 2,
        "tile": (32, 128, 128),
    },
}

#: Held-out test sets: generator options on top of the defaults ("varied" draws them).
TEST_KINDS: dict[str, dict[str, Any]] = {
    "typical": {},
    "varied (training distribution)": {"_random": True},
    "small, crowded": {"radius": (3.5, 6.0), "density": 0.5, "cluster_fraction": 0.8},
    "large, sparse": {"radius": (18.0, 28.0), "density": 0.15},
    "low SNR": {"photons": 8.0, "read_noise": 0.06},
    "blurry, uneven light": {"blur": 2.5, "illumination": 0.7, "haze": 0.3, "background": 0.25},
    "8-bit, saturated": {"dtype": "uint8", "saturated_fraction": 0.25, "headroom": 1.4},
}
TEST_SEED = 1_000_000  # far from the training seeds


def separated_foreground(instances: np.ndarray) -> np.ndarray:
    """Foreground mask with a one-pixel background seam where two nuclei touch.

    Where nuclei ``a < b`` touch, the pixels of ``b`` next to ``a`` become background, so
    the seam is one pixel wide and only one side of each contact loses a pixel.
    """
    seam = np.zeros(instances.shape, bool)
    for axis in range(instances.ndim):
        n = instances.shape[axis]
        lo = [slice(None)] * instances.ndim
        hi = [slice(None)] * instances.ndim
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        a, b = instances[tuple(lo)], instances[tuple(hi)]
        seam[tuple(hi)] |= (a > 0) & (a < b)
        seam[tuple(lo)] |= (b > 0) & (b < a)
    return ((instances > 0) & ~seam).astype(np.uint8)


def make_pool(spec: dict[str, Any], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, labels = [], []
    ndim = len(spec["shape"])
    for i in range(spec["pool"]):
        rng = np.random.default_rng([seed, i])
        opts = random_nuclei_options(rng, ndim=ndim)
        lo = float(np.exp(rng.uniform(np.log(spec["radius"][0]), np.log(spec["radius"][1]))))
        opts["radius"] = (lo, lo * rng.uniform(1.1, 1.8))
        img, inst = synthetic_nuclei(spec["shape"], seed=seed * 10_000 + i, **opts)
        images.append(img)
        labels.append(separated_foreground(inst))
    return images, labels


def test_set(kind: str, ndim: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    shape = (256, 256) if ndim == 2 else (32, 128, 128)
    out = []
    for i in range(n):
        opts = dict(TEST_KINDS[kind])
        seed = TEST_SEED + 100 * list(TEST_KINDS).index(kind) + i
        if opts.pop("_random", False):
            opts = random_nuclei_options(seed, ndim=ndim)
        if ndim == 3:
            opts.setdefault("z_scale", 2.0)
            if "radius" in opts:  # keep nuclei inside a 32-plane volume
                opts["radius"] = tuple(min(r, 12.0) for r in opts["radius"])
        out.append(synthetic_nuclei(shape, seed=seed, **opts))
    return out


def object_f1(truth: np.ndarray, pred_instances: np.ndarray, threshold: float = 0.5) -> float:
    """F1 of objects matched at IoU > threshold (such matches are unique)."""
    n_t, n_p = int(truth.max()), int(pred_instances.max())
    if n_t == 0 and n_p == 0:
        return 1.0
    both = (truth > 0) & (pred_instances > 0)
    pairs, inter = np.unique(
        truth[both].astype(np.int64) * (n_p + 1) + pred_instances[both], return_counts=True
    )
    t_area = np.bincount(truth.ravel(), minlength=n_t + 1)
    p_area = np.bincount(pred_instances.ravel(), minlength=n_p + 1)
    ti, pi = pairs // (n_p + 1), pairs % (n_p + 1)
    iou = inter / (t_area[ti] + p_area[pi] - inter)
    tp = int((iou > threshold).sum())
    return 2 * tp / max(n_t + n_p, 1)


def evaluate(bundle: ModelBundle, n_per_kind: int) -> dict[str, dict[str, float]]:
    from skimage.measure import label as components

    try:
        from napari_unetseg.postprocess import split_touching
    except ImportError:  # pragma: no cover - postprocessing is optional here
        split_touching = None
    results = {}
    for kind in TEST_KINDS:
        dice, f1_cc, f1_split = [], [], []
        for image, truth in test_set(kind, bundle.spatial_dims, n_per_kind):
            pred = api.predict(image, bundle) > 0
            t = truth > 0
            dice.append(2 * (pred & t).sum() / max(pred.sum() + t.sum(), 1))
            f1_cc.append(object_f1(truth, components(pred, connectivity=1)))
            if split_touching is not None:
                f1_split.append(object_f1(truth, split_touching(pred)))
        results[kind] = {
            "dice": float(np.mean(dice)),
            "object_f1": float(np.mean(f1_cc)),
            "object_f1_split": float(np.mean(f1_split)) if f1_split else None,
            "images": n_per_kind,
        }
        print(
            f"  {kind:<32} Dice {results[kind]['dice']:.3f}  F1 {results[kind]['object_f1']:.3f}"
            + (f"  F1 (split) {results[kind]['object_f1_split']:.3f}" if f1_split else ""),
            flush=True,
        )
    return results


def evaluate_real(bundle: ModelBundle, folder: Path) -> dict[str, float] | None:
    """Dice / object F1 on the real example of the StarDist package, when available.

    ``folder`` is ``stardist/data/images`` of the stardist wheel (``pip download
    stardist==0.9.2 --no-deps`` and unzip): ``img2d.tif`` is a fluorescence image from the
    2018 Data Science Bowl with its instance mask ``mask2d.tif``; ``img3d.tif`` is a
    synthetic 3D stack made by a different generator than ours.
    """
    import tifffile
    from skimage.measure import label as components

    stem = "2d" if bundle.spatial_dims == 2 else "3d"
    img_path, mask_path = folder / f"img{stem}.tif", folder / f"mask{stem}.tif"
    if not (img_path.is_file() and mask_path.is_file()):
        return None
    image, truth = tifffile.imread(img_path), tifffile.imread(mask_path)
    pred = api.predict(image, bundle) > 0
    t = truth > 0
    result = {
        "image": img_path.name,
        "dice": float(2 * (pred & t).sum() / max(pred.sum() + t.sum(), 1)),
        "object_f1": object_f1(truth, components(pred, connectivity=1)),
    }
    try:
        from napari_unetseg.postprocess import split_touching

        result["object_f1_split"] = object_f1(truth, split_touching(pred))
    except ImportError:  # pragma: no cover
        pass
    print(
        f"  {'real: ' + img_path.name:<32} "
        + "  ".join(f"{k} {v:.3f}" for k, v in result.items() if k != "image"),
        flush=True,
    )
    return result


def train_one(which: str, args: argparse.Namespace) -> ModelBundle:
    spec = SPECS[which]
    t0 = time.perf_counter()
    images, labels = make_pool(spec, args.seed + (0 if which == "2d" else 1))
    print(
        f"{spec['name']}: {len(images)} training images {spec['shape']} generated in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    torch.manual_seed(args.seed)
    bundle = ModelBundle.from_network(
        UNet(n_classes=2, **spec["unet"]),
        class_names=["background", "nucleus"],
        tile_size=spec["tile"],
        name=spec["name"],
    )
    gen = train(
        images,
        labels,
        model=bundle,
        label_mode="dense",
        time_limit=args.time_limit,
        patch_size=spec["patch"],
        batch_size=spec["batch"],
        learning_rate=2e-3,
        val_fraction=0.05,
        device=args.device,
        seed=args.seed,
    )
    last = 0.0
    while True:
        try:
            rec = next(gen)
        except StopIteration as done:
            trained = done.value
            break
        if rec.message:
            print("  " + rec.message, flush=True)
        if rec.val_dice is not None or rec.elapsed - last > 30:
            last = rec.elapsed
            print(
                f"  step {rec.step:5d}  {rec.elapsed:6.0f} s  loss {rec.loss or float('nan'):.3f}  "
                f"val Dice {rec.val_dice if rec.val_dice is not None else float('nan'):.3f}  "
                f"lr {rec.lr:.2e}",
                flush=True,
            )
    trained.name = spec["name"]
    trained.class_names = ["background", "nucleus"]
    trained.history["purpose"] = (
        "shipped default model, trained by scripts/train_default_models.py on synthetic nuclei"
    )
    trained.history["threads"] = torch.get_num_threads()
    trained.history["started_from"] = f"random initialization (torch seed {args.seed})"
    h = trained.history
    print(
        f"{spec['name']}: {h['steps']} steps in {h['duration_s']:.0f} s "
        f"(best val Dice {h['best_val_dice']}), {torch.get_num_threads()} thread(s)",
        flush=True,
    )
    return trained


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--which", nargs="+", choices=["2d", "3d"], default=["2d", "3d"])
    p.add_argument(
        "--time-limit",
        type=float,
        default=420.0,
        help="training seconds per model (default 420 = 7 min)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=MODELS_DIR)
    p.add_argument("--eval-images", type=int, default=4, help="held-out images per kind")
    p.add_argument("--evaluate-only", action="store_true", help="measure the existing files")
    p.add_argument(
        "--real",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure on stardist's example images (see evaluate_real)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = {}
    for which in args.which:
        path = args.out / f"{SPECS[which]['name']}.pt"
        if args.evaluate_only:
            bundle = ModelBundle.load(path)
        else:
            bundle = train_one(which, args)
        print(f"{bundle.name}: held-out synthetic test sets", flush=True)
        t0 = time.perf_counter()
        results = evaluate(bundle, args.eval_images)
        if args.real is not None:
            results["real"] = evaluate_real(bundle, args.real)
        print(f"  (evaluated in {time.perf_counter() - t0:.0f} s)", flush=True)
        if not args.evaluate_only:
            bundle.history["evaluation"] = results
            bundle.save(path)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
        report[bundle.name] = {
            "evaluation": results,
            "history": {
                k: v
                for k, v in bundle.history.items()
                if k not in ("curve", "val_curve", "evaluation")
            },
        }
    print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
