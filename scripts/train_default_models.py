"""Train the shipped default models ``nuclei-2d`` and ``nuclei-3d`` on synthetic nuclei.

Reproduces ``src/napari_unetseg/models/nuclei-2d.pt`` / ``nuclei-3d.pt`` (bit for bit only
on the same machine type and thread count: CPU kernels and the time budget decide how
many steps run) and measures them on held-out synthetic images of several kinds, which
is what ``models/MODEL_CARD.md`` reports.

    nohup python scripts/train_default_models.py --which 2d > 2d.log &   # resumable
    python scripts/train_default_models.py --which 2d --time-limit 60 --out /tmp/try
    python scripts/train_default_models.py --evaluate-only   # re-measure shipped files

Refining stages (``--refine KIND``, see :data:`REFINES`) train the model in ``--out``
further on a new pool with a kind of image it failed on; they stack, and a later stage
keeps each earlier stage's kind in a quarter of its pool. The shipped ``nuclei-2d``:

    python scripts/train_default_models.py --which 2d --time-limit 5400 --out DIR
    python scripts/train_default_models.py --which 2d --refine --time-limit 2100 \
        --chunk 1050 --out DIR            # resumable from DIR/nuclei-2d.refine.ckpt.pt
    python scripts/train_default_models.py --which 2d --refine tissue --time-limit 1800 \
        --chunk 900 --threads 2 --out DIR  # from DIR/nuclei-2d.refine-tissue.ckpt.pt

(``--refine plain`` is a control: the same schedule on a new pool with nothing new;
``--refine more`` is longer training of that kind, after the others. ``--widen N`` first
widens the starting model to N base channels without changing what it computes.)

On a GPU (``--device cuda``) a 3D stage takes minutes instead of hours: the wider
``nuclei-3d`` candidate of the model card ran 19,295 steps in 6 minutes on an H200, its
pool of 112 volumes drawn by ``--workers 16`` processes in 38 s (165 s in one process).

Training runs in chunks (``--chunk`` seconds, a cosine cycle each with a decaying peak
learning rate); after each chunk the model is written to ``<out>/<name>.ckpt.pt``, and a
new run of the same command resumes from it with the time that is left. The training
pool is cached in ``<out>/<name>.pool.npz``.

**Scale.** Every model records the object size it was trained for
(``ModelBundle.object_size``): training images are drawn with nuclei diameters from 4 to
80 px (2D; 4-60 px in 3D, Z steps 1-4x the pixel size), then measured with the same
estimator that prediction uses (:func:`napari_unetseg.core.scale.estimate_object_size`)
and resampled so their nuclei have the model's diameter (isotropic in 3D). The model
thus learns the scale it will be given, estimator errors included.

Training data: a pool of images drawn with widely varied generator options
(:func:`random_nuclei_options`: sizes, shapes, crowding, dim/saturated nuclei, uneven
background, blur, noise, 8/16-bit/float ranges), dense labels with touching nuclei
separated by a one-pixel background seam (so connected components of the prediction
give separate objects more often), and the training engine's own augmentation.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
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
from napari_unetseg.core.scale import (  # noqa: E402
    estimate_object_size,
    resample,
    scale_factors,
    scaled_shape,
)
from napari_unetseg.core.synthetic import random_nuclei_options, synthetic_nuclei  # noqa: E402
from napari_unetseg.core.training import train  # noqa: E402
from napari_unetseg.core.unet import UNet, widened  # noqa: E402

MODELS_DIR = ROOT / "src" / "napari_unetseg" / "models"

#: Per model: architecture, training pool, patch/batch, tile hint.
SPECS: dict[str, dict[str, Any]] = {
    "2d": {
        "name": "nuclei-2d",
        "unet": {"spatial_dims": 2, "depth": 4, "base_channels": 16, "norm": "batch"},
        "pool": 160,
        "shape": (256, 256),  # after rescaling to the model's object size
        "diameter": 20.0,  # the model's object size (inscribed diameter, px)
        "range": (4.0, 80.0),  # nuclei diameters drawn before rescaling
        "patch": (128, 128),
        "batch": 4,
        "tile": (256, 256),
    },
    "3d": {
        "name": "nuclei-3d",
        "unet": {"spatial_dims": 3, "depth": 4, "base_channels": 8, "norm": "batch"},
        "pool": 56,
        "shape": (40, 112, 112),
        "diameter": 16.0,
        "range": (4.0, 60.0),
        "patch": (32, 64, 64),
        "batch": 2,
        "tile": (48, 128, 128),
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
    "textured (nucleoli, chromocenters, rim)": {
        "nucleoli": 0.8,
        "chromocenters": 0.8,
        "rim": 0.4,
        "texture": 0.5,
    },
    "very large (radius 30-40 px)": {"radius": (30.0, 40.0), "density": 0.25},
    "half empty field": {"occupied": 0.5},
    "faint cell bodies (cytoplasm 8 %)": {"cytoplasm": 0.08},
    "textured tissue (10 %)": {"tissue": 0.1},
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


def pool_options(rng: np.random.Generator, ndim: int, diameter: float) -> dict[str, Any]:
    """Generator options for one training image: the varied defaults plus inner structure,
    empty regions and (3D) strong axial blur, with nuclei of about ``diameter`` px."""
    opts = random_nuclei_options(rng, ndim=ndim)
    r0 = diameter / 2.0 / 1.2
    opts["radius"] = (r0, r0 * rng.uniform(1.1, 1.6))
    opts["nucleoli"] = float(rng.uniform(0.2, 0.9)) if rng.random() < 0.5 else 0.0
    opts["chromocenters"] = float(rng.uniform(0.2, 1.2)) if rng.random() < 0.5 else 0.0
    opts["rim"] = float(rng.uniform(0.1, 0.8)) if rng.random() < 0.3 else 0.0
    opts["occupied"] = float(rng.uniform(0.3, 0.8)) if rng.random() < 0.25 else 1.0
    if ndim == 3:
        opts["z_scale"] = float(np.exp(rng.uniform(0.0, np.log(4.0))))
        opts["axial_blur"] = float(rng.uniform(2.5, 6.0))
        opts["attenuation"] = float(rng.uniform(0.0, 0.6))
    return opts


def to_model_scale(
    image: np.ndarray, instances: np.ndarray, spec: dict[str, Any], z_scale: float
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Resample an image and its instances as prediction would: estimate, rescale."""
    ndim = image.ndim
    est = estimate_object_size(image) if instances.any() else None
    if est is None or est.diameter is None:
        return image, separated_foreground(instances), None
    spacing = (z_scale, 1.0, 1.0) if ndim == 3 else None
    factors = scale_factors(est.diameter, spec["diameter"], ndim, spacing=spacing)
    shape = scaled_shape(image.shape, factors)
    if shape != image.shape:
        image = resample(image, shape).astype(
            image.dtype if image.dtype.kind == "f" else np.float32
        )
        instances = resample(instances, shape, order=0)
    # A badly estimated size can blow an image up: keep at most twice the target shape.
    crop = tuple(
        slice(max(0, (n - 2 * t) // 2), max(0, (n - 2 * t) // 2) + 2 * t)
        for n, t in zip(image.shape, spec["shape"])
    )
    image, instances = image[crop], instances[crop]
    return image, separated_foreground(instances), est.diameter


def pool_image(
    spec: dict[str, Any], seed: int, i: int, cytoplasm: float = 0.0, tissue: float = 0.0
) -> tuple[np.ndarray, np.ndarray, str]:
    """Image ``i`` of the training pool at model scale, its labels and a log line; each
    image draws from its own seeded streams, so the pool is the same in any order."""
    ndim = len(spec["shape"])
    lo, hi = spec["range"]
    rng = np.random.default_rng([seed, i])
    diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    opts = pool_options(rng, ndim, diameter)
    if rng.random() < 0.04:
        opts["n_nuclei"] = 0  # empty fields: background, noise, shading only
    # Its own stream, so a pool without cell bodies is the one stage 1 drew.
    rng_cells = np.random.default_rng([seed, i, 11])
    if rng_cells.random() < cytoplasm:
        opts["cytoplasm"] = float(np.exp(rng_cells.uniform(np.log(0.02), np.log(0.15))))
    rng_tissue = np.random.default_rng([seed, i, 13])
    if rng_tissue.random() < tissue:
        opts["tissue"] = float(np.exp(rng_tissue.uniform(np.log(0.03), np.log(0.4))))
    zs = float(opts.get("z_scale", 1.0))
    ratio = diameter / spec["diameter"]
    shape = [int(round(t * ratio)) for t in spec["shape"]]
    if ndim == 3:
        shape[0] = int(round(shape[0] / zs))
        shape[1:] = [min(s, 448) for s in shape[1:]]
    else:
        shape = [min(s, 1024) for s in shape]
    shape = tuple(max(s, 8) for s in shape)
    img, inst = synthetic_nuclei(shape, seed=seed * 10_000 + i, **opts)
    img, lab, est = to_model_scale(img, inst, spec, zs)
    line = (
        f"  pool {i:3d}: drawn {shape}, diameter {diameter:.1f} px, estimated "
        f"{est if est is None else round(est, 1)}, at model scale {img.shape}"
    )
    return img, lab, line


def make_pool(
    spec: dict[str, Any],
    seed: int,
    cytoplasm: float = 0.0,
    tissue: float = 0.0,
    workers: int = 1,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The training pool; ``cytoplasm`` is the share of images with faint cell bodies,
    ``tissue`` the share with textured tissue behind the nuclei. ``workers`` processes
    draw it (the same pool for any number)."""
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    n = spec["pool"]
    draw = functools.partial(pool_image, spec, seed, cytoplasm=cytoplasm, tissue=tissue)
    images, labels = [], []
    with ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as ex:
        drawn = ex.map(draw, range(n)) if ex is not None else map(draw, range(n))
        for i, (img, lab, line) in enumerate(drawn):
            images.append(img)
            labels.append(lab)
            if i % 10 == 0:
                print(line, flush=True)
    return images, labels


def cached_pool(
    spec: dict[str, Any],
    seed: int,
    cache: Path,
    cytoplasm: float = 0.0,
    tissue: float = 0.0,
    workers: int = 1,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if cache.is_file():
        with np.load(cache) as data:
            n = len([k for k in data.files if k.startswith("image_")])
            return [data[f"image_{i}"] for i in range(n)], [data[f"label_{i}"] for i in range(n)]
    images, labels = make_pool(spec, seed, cytoplasm, tissue, workers)
    arrays = {f"image_{i}": a for i, a in enumerate(images)}
    arrays.update({f"label_{i}": a for i, a in enumerate(labels)})
    np.savez(cache, **arrays)
    return images, labels


def test_set(
    kind: str,
    ndim: int,
    n: int,
    kinds: dict[str, dict[str, Any]] | None = None,
    seed: int = TEST_SEED,
) -> list[tuple[np.ndarray, np.ndarray, tuple[float, ...] | None]]:
    """Held-out images of one kind of ``kinds`` (default :data:`TEST_KINDS`): (image,
    instances, pixel size per axis). Another ``seed`` (far from the training seeds and
    from :data:`TEST_SEED`) draws a second, independent test set."""
    kinds = TEST_KINDS if kinds is None else kinds
    shape = (256, 256) if ndim == 2 else (32, 128, 128)
    if kind.startswith("very large"):
        shape = (512, 512) if ndim == 2 else (48, 256, 256)
    out = []
    for i in range(n):
        opts = dict(kinds[kind])
        seed_i = seed + 100 * list(kinds).index(kind) + i
        if opts.pop("_random", False):
            opts = random_nuclei_options(seed_i, ndim=ndim)
        if ndim == 3:
            opts.setdefault("z_scale", 2.0)
            if "radius" in opts and not kind.startswith("very large"):
                # keep nuclei inside a 32-plane volume
                opts["radius"] = tuple(min(r, 12.0) for r in opts["radius"])
        image, truth = synthetic_nuclei(shape, seed=seed_i, **opts)
        scale = (float(opts["z_scale"]), 1.0, 1.0) if ndim == 3 else None
        out.append((image, truth, scale))
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
        for image, truth, scale in test_set(kind, bundle.spatial_dims, n_per_kind):
            pred = api.predict(image, bundle, scale=scale) > 0
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
            f"  {kind:<40} Dice {results[kind]['dice']:.3f}  F1 {results[kind]['object_f1']:.3f}"
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


def _drain(gen: Any) -> ModelBundle:
    """Run a training generator, printing its messages and a line per validation."""
    last = [0.0]

    def show(rec: Any) -> None:
        if rec.message:
            print("  " + rec.message, flush=True)
        if rec.val_dice is not None or rec.elapsed - last[0] > 60:
            last[0] = rec.elapsed
            print(
                f"  step {rec.step:5d}  {rec.elapsed:6.0f} s  loss {rec.loss or float('nan'):.3f}  "
                f"val Dice {rec.val_dice if rec.val_dice is not None else float('nan'):.3f}  "
                f"lr {rec.lr:.2e}",
                flush=True,
            )

    return api.drain(gen, show)


#: Stage 2 (``--refine``): the stage-1 model in ``--out`` trained further on a new pool
#: where half of the images have faint cell bodies and debris around the nuclei
#: (labelled background), at a lower learning rate. The stage-1 model segmented the faint
#: cytoplasm of real DNA-stained cells as nuclei (BBBC007: 292 of 1388 objects outside
#: any nucleus; benchmarks/faint_cells.py).
REFINE = {"seed_offset": 100, "cytoplasm": 0.5, "peak_lr": 5e-4}
#: Stage 2 of another kind (``--refine tissue``): half of the pool with textured tissue
#: behind the nuclei (labelled background). nuclei-3d marked the tissue of a light-sheet
#: stack of cleared brain as nuclei (benchmarks/look_unlabelled.py), and synthetic volumes
#: with tissue at 10 % of the nuclei's brightness drop it to precision 0.18.
REFINE_TISSUE = {"seed_offset": 300, "tissue": 0.5, "peak_lr": 3e-4}
#: A control (``--refine plain``): the same schedule on a new pool without any new kind,
#: to tell a stage's gain from that of the extra training itself.
REFINE_PLAIN = {"seed_offset": 500, "peak_lr": 3e-4}
#: More training on a fresh pool with nothing new (``--refine more``): the control above
#: showed nuclei-3d under-trained, so a last, longer stage draws a new pool (earlier
#: stages' kinds kept at :data:`KEEP_EARLIER`) at a lower learning rate.
REFINE_MORE = {"seed_offset": 700, "peak_lr": 2e-4}
REFINES = {
    "cytoplasm": REFINE,
    "tissue": REFINE_TISSUE,
    "plain": REFINE_PLAIN,
    "more": REFINE_MORE,
}


#: What each refining stage adds to its pool, in the model's history and log lines.
STAGE_WORDS = {
    "cytoplasm": "faint cell bodies",
    "tissue": "textured tissue",
    "plain": "nothing new (a control)",
    "more": "nothing new (more training on fresh data)",
}
#: A later stage keeps each earlier stage's kind in its pool at this share, so the model
#: does not forget it (nuclei-2d's tissue stage keeps faint cell bodies in a quarter).
KEEP_EARLIER = 0.25


def _refine_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The refining stage's settings asked for (None: stage 1)."""
    if not args.refine:
        return None
    return REFINES[args.refine]


def earlier_stages(history: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages a model went through before its last one, oldest first, each with its
    ``kind`` (``None`` for stage 1). Models refined before stages could stack kept only
    ``stage1`` and said the kind in ``started_from``."""
    if "stages" in history:
        return list(history["stages"])
    if "stage1" not in history:
        return []
    return [{**history["stage1"], "kind": None}]


def stage_kinds(history: dict[str, Any]) -> list[str]:
    """The refining kinds a model has been through, oldest first (its last one included)."""
    kinds = [s["kind"] for s in earlier_stages(history) if s.get("kind")]
    last = history.get("kind")
    if last is None and "stage1" in history and "stages" not in history:
        said = str(history.get("started_from", ""))
        last = next((k for k, words in STAGE_WORDS.items() if words in said), None)
    return kinds + ([last] if last else [])


def _start(spec: dict[str, Any], args: argparse.Namespace, ckpt: Path) -> ModelBundle:
    """The model a run starts from: its checkpoint, the stage-1 model, or a new U-Net."""
    if ckpt.is_file():
        bundle = ModelBundle.load(ckpt)
        print(f"  resuming from {ckpt} ({bundle.history.get('total_s', 0):.0f} s done)")
        return bundle
    if args.refine:
        first = args.out / f"{spec['name']}.pt"
        bundle = ModelBundle.load(first)
        h = bundle.history
        kinds = stage_kinds(h)
        if args.refine in kinds:
            raise SystemExit(
                f"{first} was refined on {STAGE_WORDS[args.refine]} already: give --out "
                "the folder of a model without that stage."
            )
        last = {k: h.get(k) for k in ("total_s", "total_steps", "chunks", "started_from")}
        stages = earlier_stages(h) + [{**last, "kind": kinds[-1] if kinds else None}]
        print(
            f"  refining {first} ({len(stages)} stage(s) so far: "
            + ", ".join(f"{s['total_steps']} steps" for s in stages)
            + ")"
        )
        bundle.history = {
            "total_s": 0.0,
            "total_steps": 0,
            "chunks": [],
            "stages": stages,
            "stage1": stages[0],
            "kind": args.refine,
        }
        if args.widen:
            before = bundle.network.config["base_channels"]
            bundle.network = widened(bundle.network, args.widen, seed=args.seed)
            bundle.history["widened"] = {"from": before, "to": args.widen, "noise": 0.01}
            print(f"  widened from {before} to {args.widen} base channels (same function)")
        return bundle
    torch.manual_seed(args.seed)
    bundle = ModelBundle.from_network(
        UNet(n_classes=2, **spec["unet"]),
        class_names=["background", "nucleus"],
        tile_size=spec["tile"],
        name=spec["name"],
    )
    bundle.history = {"total_s": 0.0, "total_steps": 0, "chunks": []}
    return bundle


def train_one(which: str, args: argparse.Namespace) -> ModelBundle:
    """Train in chunks, resuming from ``<out>/<name>[.refine].ckpt.pt`` when it exists."""
    spec = dict(SPECS[which])
    if args.pool:
        spec["pool"] = args.pool
    args.out.mkdir(parents=True, exist_ok=True)
    refine = _refine_spec(args)
    stage = (
        ""
        if refine is None
        else {"cytoplasm": ".refine"}.get(args.refine, f".refine-{args.refine}")
    )
    ckpt = args.out / f"{spec['name']}{stage}.ckpt.pt"
    t0 = time.perf_counter()
    offset = (0 if which == "2d" else 1) + (refine["seed_offset"] if refine else 0)
    shares = {"cytoplasm": 0.0, "tissue": 0.0}
    if refine:
        earlier = stage_kinds(ModelBundle.load(args.out / f"{spec['name']}.pt").history)
        shares.update({k: KEEP_EARLIER for k in earlier if k in shares and k != args.refine})
        shares.update({k: v for k, v in refine.items() if k in shares})
        print(f"  pool shares: {shares}", flush=True)
    images, labels = cached_pool(
        spec,
        args.seed + offset,
        args.out / f"{spec['name']}{stage}.pool.npz",
        **shares,
        workers=args.workers,
    )
    print(
        f"{spec['name']}: {len(images)} training images at model scale, ready in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    bundle = _start(spec, args, ckpt)
    peak = (args.refine_lr or refine["peak_lr"]) if refine else 2e-3
    while bundle.history["total_s"] < args.time_limit - 30:
        k = len(bundle.history["chunks"])
        budget = min(args.chunk, args.time_limit - bundle.history["total_s"])
        lr = peak * 0.6**k
        print(f"{spec['name']}: chunk {k + 1}, {budget:.0f} s, peak lr {lr:.1e}", flush=True)
        totals = dict(bundle.history)
        trained = _drain(
            train(
                images,
                labels,
                model=bundle,
                label_mode="dense",
                time_limit=budget,
                patch_size=spec["patch"],
                batch_size=spec["batch"],
                learning_rate=lr,
                val_fraction=0.05,
                device=args.device,
                seed=args.seed + k,
            )
        )
        h = trained.history
        chunk = {
            "steps": h.get("steps"),
            "seconds": h.get("duration_s"),
            "best_val_dice": h.get("best_val_dice"),
            "peak_lr": lr,
        }
        trained.history = {
            **h,
            "total_s": totals["total_s"] + float(h.get("duration_s") or budget),
            "total_steps": totals["total_steps"] + int(h.get("steps") or 0),
            "chunks": totals["chunks"] + [chunk],
            **{k: totals[k] for k in ("stage1", "stages", "kind") if k in totals},
        }
        trained.name = spec["name"]
        trained.class_names = ["background", "nucleus"]
        trained.tile_size = spec["tile"]
        trained.save(ckpt)
        bundle = trained
        print(f"  chunk done: {chunk}; checkpoint {ckpt}", flush=True)
    # A refined model keeps the shrink exponent chosen for the model it started from
    # (benchmarks/shrink_exponent.py), which the training data do not decide.
    kept = {k: v for k, v in (bundle.object_size or {}).items() if k == "shrink_exponent"}
    bundle.set_object_size(
        {
            "diameter": spec["diameter"],
            "spacing": [1.0] * len(spec["shape"]),
            "source": "training data rescaled by scale.estimate_object_size",
            **kept,
        }
    )
    bundle.history["purpose"] = (
        "shipped default model, trained by scripts/train_default_models.py on synthetic nuclei"
    )
    bundle.history["threads"] = torch.get_num_threads()
    if args.refine:
        stages = bundle.history["stages"]
        done = ", then ".join(
            f"{s['total_steps']} steps in {s['total_s']:.0f} s"
            + (f" on {STAGE_WORDS[s['kind']]}" if s.get("kind") else "")
            for s in stages
        )
        bundle.history["started_from"] = (
            f"the model after {len(stages)} stage(s) ({done}; first "
            f"{stages[0]['started_from']}), refined on a pool with {STAGE_WORDS[args.refine]}"
        )
        if "widened" in bundle.history:
            w = bundle.history["widened"]
            bundle.history["started_from"] += (
                f" after widening from {w['from']} to {w['to']} base channels"
                " (core.unet.widened: the same function, more capacity)"
            )
    else:
        bundle.history["started_from"] = f"random initialization (torch seed {args.seed})"
    h = bundle.history
    print(
        f"{spec['name']}: {h['total_steps']} steps in {h['total_s']:.0f} s over "
        f"{len(h['chunks'])} chunks, {torch.get_num_threads()} thread(s)",
        flush=True,
    )
    return bundle


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--which", nargs="+", choices=["2d", "3d"], default=["2d", "3d"])
    p.add_argument(
        "--time-limit",
        type=float,
        default=4200.0,
        help="training seconds per model (default 4200 = 70 min)",
    )
    p.add_argument("--pool", type=int, default=None, help="training images (default per model)")
    p.add_argument("--chunk", type=float, default=900.0, help="seconds per checkpointed chunk")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers", type=int, default=1, help="processes drawing the pool (the same pool)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=MODELS_DIR)
    p.add_argument("--eval-images", type=int, default=4, help="held-out images per kind")
    p.add_argument("--evaluate-only", action="store_true", help="measure the existing files")
    p.add_argument(
        "--refine",
        nargs="?",
        const="cytoplasm",
        choices=sorted(REFINES),
        default=None,
        help="refine the model in --out further on a new pool with faint cell bodies "
        "(cytoplasm, the default), textured tissue, or nothing new (plain, a control; "
        "more, longer training); stages stack",
    )
    p.add_argument(
        "--refine-lr",
        type=float,
        default=None,
        help=f"peak learning rate of stage 2's first chunk (default {REFINE['peak_lr']})",
    )
    p.add_argument(
        "--widen",
        type=int,
        default=None,
        metavar="CHANNELS",
        help="with --refine: first widen the model to CHANNELS base channels, keeping "
        "what it computes (core.unet.widened), so the stage trains a larger network",
    )
    p.add_argument(
        "--real",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure on stardist's example images (see evaluate_real)",
    )
    args = p.parse_args(argv)
    if args.widen and not args.refine:
        p.error("--widen needs --refine (it widens the model a stage starts from)")
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
            bundle.split_touching = True  # nuclei: segmenting splits touching ones
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
