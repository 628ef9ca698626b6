"""Experiments on training a new model from scribbles (issue #14), reproducible.

Trains ``api.train(image, scribbles, label_mode="sparse", seed=0)`` on a case of
``bench_accuracy.py`` (same scribbles, same scoring on the unpainted part) with a FIXED
number of steps (the machine is shared, so a time budget gives noisy step counts), under
named variants, and appends one JSON line per run to ``--log``. A variant is a set of
``api.train`` keywords plus, for things that are not keywords, temporary changes of
module constants (restored after the run).

    OMP_NUM_THREADS=1 python benchmarks/explore_scribbles.py --case mni152-gm-2d \
        --steps 600 --variants baseline no-dice

The random forest's figure is printed once per case for comparison; ``--also-painted``
also scores the painted part without its painted pixels (is the gap extrapolation?).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_accuracy as bench  # noqa: E402
import real_data  # noqa: E402

from napari_unetseg import api  # noqa: E402

Patch = tuple[str, str, Any]  # (module, attribute, value)


def _balanced_loss(dice: bool = True) -> Any:
    """Masked loss whose cross-entropy weighs each painted class equally (per batch)."""
    import torch
    import torch.nn.functional as F

    from napari_unetseg.core.training import losses

    def loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
        logits2 = losses._two_class_logits(logits.float())
        n = logits2.shape[1]
        mask = target >= 0
        counts = torch.bincount(target[mask], minlength=n).float()
        weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
        weight = weight / weight.sum().clamp_min(1e-12) * (counts > 0).sum()
        ce = F.cross_entropy(logits2, target, weight=weight, ignore_index=-1, reduction="sum")
        ce = ce / (weight[target[mask]].sum()).clamp_min(1e-12)
        if not dice:
            return ce
        full = losses.masked_loss(logits, target, eps)
        plain = F.cross_entropy(logits2, target, ignore_index=-1, reduction="sum")
        return ce + (full - plain / mask.sum().clamp_min(1))

    return loss


def _ce_only() -> Any:
    import torch.nn.functional as F

    from napari_unetseg.core.training import losses

    def loss(logits: Any, target: Any, eps: float = 1e-5) -> Any:
        logits2 = losses._two_class_logits(logits.float())
        return F.cross_entropy(logits2, target, ignore_index=-1)

    return loss


def _stem_unet(sigmas: tuple[float, ...], norm: bool = True) -> Any:
    """A UNet class whose input first becomes fixed multiscale features (exploration)."""
    import torch
    import torch.nn.functional as F

    from napari_unetseg.core.unet import UNet

    class Stem(torch.nn.Module):
        def __init__(self, spatial_dims: int, channels: int) -> None:
            super().__init__()
            self.sd, self.sigmas = spatial_dims, sigmas
            for i, sigma in enumerate(sigmas):
                r = max(1, int(round(3 * sigma)))
                t = torch.arange(-r, r + 1, dtype=torch.float32)
                k = torch.exp(-0.5 * (t / sigma) ** 2)
                self.register_buffer(f"k{i}", k / k.sum(), persistent=False)
            n = channels * (1 + 3 * len(sigmas))
            bn = torch.nn.BatchNorm2d if spatial_dims == 2 else torch.nn.BatchNorm3d
            self.norm = bn(n) if norm else torch.nn.Identity()

        def blur(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            c, r = x.shape[1], (len(k) - 1) // 2
            for axis in range(self.sd):
                shape = [1] * self.sd
                shape[axis] = len(k)
                w = k.view(1, 1, *shape).repeat(c, 1, *([1] * self.sd)).to(x.dtype)
                pad = [0] * (2 * self.sd)
                pad[2 * (self.sd - 1 - axis)] = pad[2 * (self.sd - 1 - axis) + 1] = r
                conv = F.conv2d if self.sd == 2 else F.conv3d
                x = conv(F.pad(x, pad, mode="replicate"), w, groups=c)
            return x

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            feats = [x]
            prev = x
            for i in range(len(self.sigmas)):
                g = self.blur(x, getattr(self, f"k{i}"))
                grads = torch.gradient(g, dim=list(range(2, 2 + self.sd)))
                mag = torch.sqrt(sum(d * d for d in grads) + 1e-8)
                feats += [g, prev - g, mag]
                prev = g
            return self.norm(torch.cat(feats, 1))

    class StemUNet(UNet):
        def __init__(self, spatial_dims: int = 2, in_channels: int = 1, **kw: Any) -> None:
            n = in_channels * (1 + 3 * len(sigmas))
            super().__init__(spatial_dims=spatial_dims, in_channels=n, **kw)
            self.config["in_channels"] = in_channels
            self.stem = Stem(spatial_dims, in_channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(self.stem(x))

    return StemUNet


def _geometric_only() -> Any:
    """``augment_batch`` without its intensity changes (flips and rotations only)."""
    import torch

    def flips(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> Any:
        nd = x.ndim - 2
        r = torch.rand(x.shape[0], nd + 1, generator=gen)
        xs, ys = [], []
        square = x.shape[-1] == x.shape[-2]
        for i in range(x.shape[0]):
            xi, yi = x[i], y[i]
            axes = [a for a in range(nd) if r[i, a] < 0.5]
            if axes:
                xi, yi = torch.flip(xi, [a + 1 for a in axes]), torch.flip(yi, axes)
            k = int(r[i, nd] * 4) if square else 2 * int(r[i, nd] * 2)
            if k % 4:
                xi, yi = torch.rot90(xi, k, (nd - 1, nd)), torch.rot90(yi, k, (nd - 2, nd - 1))
            xs.append(xi)
            ys.append(yi)
        return torch.stack(xs), torch.stack(ys)

    return flips


def _with_affine(scale: float = 1.33, rotate: bool = True, twice: bool = False) -> Any:
    """``augment_batch``, then a random in-plane rotation and zoom (log-uniform in
    ``[1/scale, scale]``) of image and labels; ``twice``: intensity changes twice."""
    import math

    import torch
    import torch.nn.functional as F

    from napari_unetseg.core.training import augment

    def aug(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> Any:
        x, y = augment.augment_batch(x, y, gen)
        if twice:
            x, y = augment.augment_batch(x, y, gen)
        b, nd = x.shape[0], x.ndim - 2
        r = torch.rand(b, 2, generator=gen)
        zoom = torch.exp((r[:, 0] * 2 - 1) * math.log(scale))
        angle = r[:, 1] * 2 * math.pi if rotate else torch.zeros(b)
        theta = torch.zeros(b, nd, nd + 1)
        for d in range(nd):
            theta[:, d, d] = zoom
        c, s = torch.cos(angle), torch.sin(angle)
        # in-plane: the last two axes (grid order is x, y[, z])
        theta[:, 0, 0], theta[:, 0, 1] = c * zoom, -s * zoom
        theta[:, 1, 0], theta[:, 1, 1] = s * zoom, c * zoom
        grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        yy = (y + 1).unsqueeze(1).float()
        yy = F.grid_sample(yy, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        return x, yy.squeeze(1).long() - 1

    return aug


def _variants() -> dict[str, tuple[dict[str, Any], list[Patch]]]:
    """Named variants: ``api.train`` keywords and module patches."""
    t = "napari_unetseg.core.training"
    return {
        "stem": ({}, [(f"{t}.trainer", "UNet", _stem_unet((1.0, 2.0, 4.0, 8.0)))]),
        "stem-d2": (
            {"model_config": {"depth": 2}},
            [(f"{t}.trainer", "UNet", _stem_unet((1.0, 2.0, 4.0, 8.0)))],
        ),
        "no-intensity": ({}, [(f"{t}.trainer", "augment_batch", _geometric_only())]),
        "no-rotate-zoom": ({}, [(f"{t}.trainer", "affine_batch", lambda x, y, g: (x, y))]),
        "twice": ({}, [(f"{t}.trainer", "augment_batch", _with_affine(1.0, False, True))]),
        "ce-only": ({}, [(t, "masked_loss", _ce_only())]),
        "balanced": ({}, [(t, "masked_loss", _balanced_loss())]),
        "balanced-ce-only": ({}, [(t, "masked_loss", _balanced_loss(dice=False))]),
        "patch64": ({"patch_size": 64}, []),
        "patch32": ({"patch_size": 32}, []),
        "baseline": ({}, []),
        "fp32": ({"precision": "fp32"}, []),
        "no-augment": ({"augment": False}, []),
        "lr5e-4": ({"learning_rate": 5e-4}, []),
        "lr1e-2": ({"learning_rate": 1e-2}, []),
        "no-transitions": ({}, [(f"{t}.sampling", "TRANSITION_SHARE", 0.0)]),
        "depth2": ({"model_config": {"depth": 2}}, []),
        "depth3": ({"model_config": {"depth": 3}}, []),
        "instance-norm": ({"model_config": {"norm": "instance"}}, []),
        "group-norm": ({"model_config": {"norm": "group"}}, []),
        "dropout": ({"model_config": {"dropout": 0.3}}, []),
        "no-val": ({"val_fraction": 0.0}, []),
    }


@contextlib.contextmanager
def patched(patches: list[Patch]) -> Iterator[None]:
    """Set module attributes for the duration of a run."""
    saved = []
    for module, name, value in patches:
        mod = importlib.import_module(module)
        saved.append((mod, name, getattr(mod, name)))
        setattr(mod, name, value)
    try:
        yield
    finally:
        for mod, name, value in reversed(saved):
            setattr(mod, name, value)


def run_variant(
    loaded: real_data.Loaded,
    scribbles: np.ndarray,
    steps: int,
    keywords: dict[str, Any],
    patches: list[Patch],
    seed: int = 0,
    save: str | None = None,
) -> dict[str, Any]:
    """Train with fixed steps, predict, score; the record of the run."""
    image, truth, case = loaded.image, loaded.foreground, loaded.case
    painted = bench.painted_region(case, image.shape)
    start = time.perf_counter()
    with patched(patches):
        model = api.train(
            image, scribbles, label_mode="sparse", steps=steps, seed=seed, **keywords
        )
    seconds = time.perf_counter() - start
    ours = bench.predict_foreground(image, model, {})
    if save:
        np.save(save, ours)
    h = model.history
    losses = (h.get("curve") or {}).get("loss", [])
    tail = float(np.mean(losses[-20:])) if len(losses) else None
    return {
        "scores": bench.foreground_scores(ours, truth, ~painted),
        "painted_part": bench.foreground_scores(ours, truth, painted & (scribbles == 0)),
        "steps": h.get("steps"),
        "best_step": h.get("best_step"),
        "train_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / max(1, h.get("steps") or 1), 4),
        "final_loss": tail,
        "best_val_dice": h.get("best_val_dice"),
        "val_curve": h.get("val_curve"),
        "rotate_zoom": h.get("rotate_zoom", False),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--variants", nargs="+", default=["baseline"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--log", default=str(HERE / "results" / "explore_scribbles.jsonl"))
    parser.add_argument("--no-forest", action="store_true")
    parser.add_argument("--save", action="store_true", help="predictions to /tmp/*.npy")
    args = parser.parse_args(argv)
    known = _variants()
    loaded = real_data.load_case(args.case)
    scribbles = bench.make_scribbles(loaded)
    painted = bench.painted_region(loaded.case, loaded.image.shape)
    print(
        f"{args.case}: {loaded.image.shape}, painted background {(scribbles == 1).sum()}, "
        f"object {(scribbles == 2).sum()}",
        flush=True,
    )
    if not args.no_forest:
        forest = bench.forest_foreground(loaded.image, scribbles)
        s = bench.foreground_scores(forest, loaded.foreground, ~painted)
        print(
            f"  random forest: Dice {s['dice']:.3f} sens {s['sensitivity']:.3f} "
            f"prec {s['precision']:.3f}",
            flush=True,
        )
    for name in args.variants:
        keywords, patches = known[name] if name in known else _parse(name)
        for seed in args.seeds:
            save = (
                f"/tmp/explore_{args.case}_{name}_{seed}_{args.steps}.npy" if args.save else None
            )
            rec = run_variant(loaded, scribbles, args.steps, keywords, patches, seed, save)
            if any(name == "affine_batch" for _, name, _ in patches):
                rec["rotate_zoom"] = False  # the model file says what the trainer meant
            rec.update(
                case=args.case,
                variant=name,
                seed=seed,
                requested_steps=args.steps,
                when=time.strftime("%Y-%m-%d %H:%M"),
            )
            s, p = rec["scores"], rec["painted_part"]
            print(
                f"  {name:24s} seed {seed}: Dice {s['dice']:.3f} sens {s['sensitivity']:.3f} "
                f"prec {s['precision']:.3f} | painted part {p['dice']:.3f} | "
                f"{rec['steps']} steps {rec['train_seconds']} s loss {rec['final_loss']:.3f}",
                flush=True,
            )
            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            with open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")


def _parse(text: str) -> tuple[dict[str, Any], list[Patch]]:
    """``key=value,key=value`` as train keywords (values read as Python literals)."""
    import ast

    keywords: dict[str, Any] = {}
    for part in text.split(","):
        key, value = part.split("=", 1)
        keywords[key] = ast.literal_eval(value)
    return keywords, []


if __name__ == "__main__":
    main()
