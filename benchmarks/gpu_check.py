"""The CUDA paths of the engine and the trainer, checked and timed on a machine with a GPU.

CI has no GPU, so nothing in the test suite runs these paths on a real device. This
script is what a session with a GPU runs (in one call: it is sized for a few minutes on
an H200) and what docs/benchmarks.md's "On a GPU" section records:

1. **agreement**: the shipped models through ``api.predict`` (object size ``auto``) on
   synthetic nuclei, CPU float32 vs CUDA float32 vs CUDA ``precision='auto'``: labels
   equal, Dice against the synthetic truth, and the precision the check chose;
2. **speed**: ``predict_tiled`` on a large 2D image and 3D volume, float32 / bf16 /
   ``auto``, tiles stacked on the host vs cut on the GPU from bands uploaded once
   (:data:`VARIANTS`; the first calls compared layouts, pinning and ``cudnn.benchmark``),
   batch size chosen by the engine; with the share of the time the GPU computes (the
   network alone on the same number of tiles) and MONAI's ``sliding_window_inference`` on
   the same prepared network, batch and dtype;
3. **out of memory**: a real CUDA out-of-memory (``set_per_process_memory_fraction``)
   while the engine's batch size, chosen from the free memory, does not fit: the batch is
   halved until it fits and the labels equal the unconstrained run's; with too little for
   one tile the run moves to the CPU with a warning;
4. **training**: ``api.train`` on CUDA (new 2D and 3D models on dense labels, float32 and
   ``auto``; a 2D model from sparse scribbles, the forest teacher included): steps, time
   per step, validation Dice, Dice of the result on a held-out image, and that the model
   comes back on the CPU and predicts there.

Each part runs on its own (one failing part is reported and the others go on) and every
table is also written to ``--out`` as JSON.

    PYTHONPATH=src python benchmarks/gpu_check.py --out /tmp/gpu [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_training import dice  # benchmarks/ is the script's folder

from napari_unetseg import api
from napari_unetseg.api import drain
from napari_unetseg.core import devices as devices_mod
from napari_unetseg.core.inference import forward as forward_mod
from napari_unetseg.core.inference import inference_network, predict_tiled
from napari_unetseg.core.inference import network as network_mod
from napari_unetseg.core.inference import predict as predict_mod
from napari_unetseg.core.synthetic import synthetic_nuclei
from napari_unetseg.core.synthetic.scribbles import synthetic_scribbles

RESULTS: dict[str, Any] = {}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(_cell(c) for c in r) + " |")
    sys.stdout.flush()


def _cell(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.4g}"
    return str(c)


def images(quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Synthetic nuclei: small cases for agreement, large ones (tiled copies) for speed."""
    a2, t2 = synthetic_nuclei((512, 512) if quick else (1024, 1024), seed=11)
    a3, t3 = synthetic_nuclei((32, 128, 128) if quick else (64, 256, 256), seed=12)
    big2 = (2, 2) if quick else (4, 4)  # 4096 x 4096
    big3 = (1, 2, 2) if quick else (2, 2, 2)  # 128 x 512 x 512
    return {
        "2d": (a2, t2),
        "3d": (a3, t3),
        "2d-large": (np.tile(a2, big2), np.tile(t2, big2)),
        "3d-large": (np.tile(a3, big3), np.tile(t3, big3)),
    }


# --------------------------------------------------------------------------- agreement


def part_agreement(data: dict, device: str) -> None:
    rows = []
    for dims, model in (("2d", "nuclei-2d"), ("3d", "nuclei-3d")):
        image, truth = data[dims]
        runs = {}
        for name, dev, prec in (
            ("cpu fp32", "cpu", "fp32"),
            (f"{device} fp32", device, "fp32"),
            (f"{device} auto", device, "auto"),
        ):
            t0 = time.perf_counter()
            res = drain(api.predict_iter(image, model, device=dev, precision=prec))
            sync(dev)
            runs[name] = res
            rows.append(
                [
                    model,
                    name,
                    res.stats["device"],
                    f"{res.stats['precision']} ({res.stats.get('precision_reason', '')})",
                    round(time.perf_counter() - t0, 2),
                    dice(res.labels, truth),
                    f"{100 * np.mean(res.labels == runs['cpu fp32'].labels):.3f}",
                ]
            )
    RESULTS["agreement"] = rows
    table(
        "Agreement: api.predict on synthetic nuclei",
        ["model", "run", "ran on", "precision (why)", "s", "Dice vs truth", "% labels = cpu fp32"],
        rows,
    )


# --------------------------------------------------------------------------- speed


@contextlib.contextmanager
def layout(channels_last: bool) -> Iterator[None]:
    """Force the engine's memory layout on every device (channels-last or PyTorch's)."""
    saved = network_mod.memory_format

    def fmt(device: torch.device, spatial_dims: int) -> torch.memory_format | None:
        if not channels_last:
            return None
        return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d

    network_mod.memory_format = forward_mod.memory_format = fmt
    try:
        yield
    finally:
        network_mod.memory_format = forward_mod.memory_format = saved


def amp(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def median_time(fn: Callable[[], Any], device: str, reps: int) -> tuple[float, Any]:
    out = fn()  # warm-up (kernels, cudnn autotune)
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def network_only(bundle: Any, tiles: int, tile: tuple, bs: int, device: str, dtype: Any) -> float:
    """Seconds the prepared network alone takes for ``tiles`` tiles in batches of ``bs``."""
    net = inference_network(bundle.network, torch.device(device), bundle.spatial_dims)
    fmt = network_mod.memory_format(torch.device(device), bundle.spatial_dims)
    x = torch.randn((bs, bundle.in_channels, *tile), device=device)
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    n_batches = -(-tiles // bs)

    def run() -> None:
        with torch.inference_mode(), amp(device, dtype):
            for _ in range(n_batches):
                torch.softmax(net(x).float(), 1)

    return median_time(run, device, 2)[0]


def monai_time(bundle: Any, image: np.ndarray, tile: tuple, bs: int, device: str, dtype: Any):
    from monai.inferers import sliding_window_inference

    net = inference_network(bundle.network, torch.device(device), bundle.spatial_dims)
    fmt = network_mod.memory_format(torch.device(device), bundle.spatial_dims)

    def predictor(x: torch.Tensor) -> torch.Tensor:
        if fmt is not None:
            x = x.contiguous(memory_format=fmt)
        with amp(device, dtype):
            return torch.softmax(net(x).float(), 1)

    def run() -> np.ndarray:
        x = torch.from_numpy(bundle.normalize(image))[None, None].to(device)
        with torch.inference_mode():
            p = sliding_window_inference(
                x, tile, bs, predictor, overlap=0.25, mode="gaussian", sigma_scale=0.125
            )
        return p.argmax(1)[0].to(torch.uint8).cpu().numpy()

    return median_time(run, device, 2)


#: (precision asked, channels-last, cudnn.benchmark, pinned host memory, tiles cut on the
#: device). The first calls (2026-12-04) measured layouts, pinning and cudnn.benchmark
#: (docs/benchmarks.md); these rows compare tiles stacked on the host with tiles cut on the
#: GPU from bands uploaded once, with the other settings as the engine's defaults.
VARIANTS = (
    ("fp32", True, False, True, False),
    ("fp32", True, False, True, True),
    ("bf16", True, False, True, False),
    ("bf16", True, False, True, True),
    ("auto", True, False, True, False),
    ("auto", True, False, True, True),
)


def part_speed(data: dict, device: str, reps: int, monai: bool) -> None:
    rows = []
    for case, model in (("2d-large", "nuclei-2d"), ("3d-large", "nuclei-3d")):
        image, truth = data[case]
        bundle = api.load_model(model)
        base = None
        for dtype_name, cl, bench, pin, cut in VARIANTS:
            torch.backends.cudnn.benchmark = bench
            predict_mod.PIN_HOST_MEMORY = pin
            predict_mod.CUT_TILES_ON = ("cuda",) if cut else ()
            with layout(cl):
                sec, res = median_time(
                    lambda b=bundle, im=image, d=dtype_name: drain(
                        predict_tiled(b, im, device=device, precision=d)
                    ),
                    device,
                    reps,
                )
                st = res.stats
                dtype = torch.bfloat16 if st["precision"] == "bfloat16" else None
                net_s = network_only(
                    bundle, st["n_tiles"], st["tile_size"], st["batch_size"], device, dtype
                )
                mon = (
                    monai_time(bundle, image, st["tile_size"], st["batch_size"], device, dtype)
                    if monai and cut
                    else (float("nan"), None)
                )
            base = base if base is not None else res.labels
            rows.append(
                [
                    case,
                    f"{image.shape}",
                    f"{dtype_name} ({st['precision']})",
                    "channels-last" if cl else "default",
                    "on" if bench else "off",
                    "pinned" if pin else "pageable",
                    "device" if cut else "host",
                    st["batch_size"],
                    st["n_tiles"],
                    round(sec, 3),
                    f"{image.size / sec / 1e6:.1f}",
                    f"{100 * net_s / sec:.0f}",
                    round(mon[0], 3),
                    f"{100 * np.mean(res.labels == base):.3f}",
                    dice(res.labels, truth),
                ]
            )
            RESULTS["speed"] = rows
            print("speed row:", " | ".join(_cell(c) for c in rows[-1]), flush=True)
        torch.backends.cudnn.benchmark = False
        predict_mod.PIN_HOST_MEMORY = True
        predict_mod.CUT_TILES_ON = ("cuda",)
    table(
        f"Speed: predict_tiled on {device} (median of {reps} warm runs)",
        [
            "case",
            "shape",
            "dtype",
            "layout",
            "cudnn.benchmark",
            "host copy",
            "tiles cut on",
            "batch",
            "tiles",
            "s",
            "M vox/s",
            "% of time in the network",
            "MONAI s (same net, batch)",
            "% labels = first row",
            "Dice vs truth",
        ],
        rows,
    )


# --------------------------------------------------------------------------- out of memory


def part_oom(data: dict, device: str) -> None:
    image, _ = data["3d"]
    bundle = api.load_model("nuclei-3d")
    free_rows = []
    ref = drain(predict_tiled(bundle, image, device=device, precision="fp32", batch_size=8))
    total = torch.cuda.get_device_properties(torch.device(device)).total_memory
    for fraction_gib, bs in ((2.0, 64), (0.06, 4)):
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(fraction_gib * 2**30 / total)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                res = drain(
                    predict_tiled(bundle, image, device=device, precision="fp32", batch_size=bs)
                )
                sec = time.perf_counter() - t0
            free_rows.append(
                [
                    f"{fraction_gib} GiB",
                    bs,
                    res.stats["batch_size"],
                    res.stats["device"],
                    round(sec, 2),
                    f"{100 * np.mean(res.labels == ref.labels):.3f}",
                    "; ".join(str(w.message) for w in caught if w.category is RuntimeWarning)
                    or "-",
                ]
            )
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            free_rows.append([f"{fraction_gib} GiB", bs, "-", "-", "-", "-", f"ERROR {exc!r}"])
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
            torch.cuda.empty_cache()
    RESULTS["oom"] = free_rows
    table(
        "Out of memory: nuclei-3d, memory capped with set_per_process_memory_fraction",
        ["cap", "batch asked", "batch it ran", "ran on", "s", "% labels = uncapped", "warning"],
        free_rows,
    )


# --------------------------------------------------------------------------- training


def part_training(data: dict, device: str, seconds: float) -> None:
    rows = []
    a2, t2 = data["2d"]
    a3, t3 = data["3d"]
    h2, ht2 = synthetic_nuclei(a2.shape, seed=21)
    h3, ht3 = synthetic_nuclei(a3.shape, seed=22)
    runs = [
        ("new 2D, dense", a2, (t2 > 0).astype(np.uint8), "dense", h2, ht2, "fp32"),
        ("new 2D, dense", a2, (t2 > 0).astype(np.uint8), "dense", h2, ht2, "auto"),
        ("new 3D, dense", a3, (t3 > 0).astype(np.uint8), "dense", h3, ht3, "fp32"),
        ("new 3D, dense", a3, (t3 > 0).astype(np.uint8), "dense", h3, ht3, "auto"),
        (
            "new 2D, scribbles",
            a2,
            synthetic_scribbles(t2, 12, 12, seed=3),
            "sparse",
            h2,
            ht2,
            "auto",
        ),
    ]
    for name, image, labels, mode, held, held_truth, prec in runs:
        try:
            t0 = time.perf_counter()
            records = []
            gen = api.train_iter(
                image,
                labels,
                label_mode=mode,
                device=device,
                precision=prec,
                time_limit=seconds,
                seed=0,
            )
            bundle = None
            try:
                while True:
                    records.append(next(gen))
            except StopIteration as stop:
                bundle = stop.value
            sec = time.perf_counter() - t0
            steps = max((r.step for r in records), default=0)
            vals = [r.val_dice for r in records if r.val_dice is not None]
            on = next(bundle.network.parameters()).device
            pred = api.predict(held, bundle, device="cpu", object_size=None)
            hist = bundle.history.get("runs", [bundle.history])[-1]
            rows.append(
                [
                    name,
                    prec,
                    hist.get("precision", "?"),
                    f"{hist.get('patch_size', '?')} x {hist.get('batch_size', '?')}",
                    steps,
                    round(sec, 1),
                    f"{1000 * hist.get('duration_s', sec) / max(steps, 1):.0f}",
                    round(vals[-1], 3) if vals else "-",
                    str(on),
                    dice(pred, held_truth),
                ]
            )
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            traceback.print_exc()
            rows.append([name, prec, "-", "-", "-", "-", "-", "-", "-", f"ERROR {exc!r}"])
        RESULTS["training"] = rows
    table(
        f"Training on {device}: api.train, {seconds:.0f} s budget each",
        [
            "run",
            "precision asked",
            "ran",
            "patch x batch",
            "steps",
            "wall s",
            "ms / step",
            "last val Dice",
            "model returned on",
            "held-out Dice (predicted on CPU)",
        ],
        rows,
    )


@contextlib.contextmanager
def training_layout(channels_last: bool) -> Iterator[None]:
    """Force the layout a training run keeps its network and batches in."""
    saved = devices_mod.training_memory_format

    def fmt(device: torch.device, spatial_dims: int, amp: Any) -> torch.memory_format | None:
        if not channels_last:
            return None
        return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d

    devices_mod.training_memory_format = fmt
    try:
        yield
    finally:
        devices_mod.training_memory_format = saved


def _train_steps(image: np.ndarray, labels: np.ndarray, device: str, prec: str, sec: float):
    bundle = api.train(
        image, labels, label_mode="dense", device=device, precision=prec, time_limit=sec, seed=0
    )
    run = bundle.history.get("runs", [bundle.history])[-1]
    return run["steps"], run["duration_s"]


def part_training_speed(data: dict, device: str, seconds: float, profile: bool) -> None:
    """Step time of new models on dense labels: float32 / bf16 x PyTorch's layout /
    channels-last, then a profile of where a 3D run's time goes."""
    rows = []
    image, truth = data["2d"]  # warm-up: CUDA context, cuDNN, kernels
    _train_steps(image, (truth > 0).astype(np.uint8), device, "fp32", 3)
    for dims in ("2d", "3d"):
        image, truth = data[dims]
        labels = (truth > 0).astype(np.uint8)
        for prec, cl in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)):
            with training_layout(cl):
                steps, dur = _train_steps(image, labels, device, prec, seconds)
            rows.append(
                [
                    dims,
                    prec,
                    "channels-last" if cl else "default",
                    steps,
                    round(dur, 1),
                    f"{1000 * dur / max(steps, 1):.0f}",
                ]
            )
            print("training row:", rows[-1], flush=True)
    RESULTS["training_speed"] = rows
    table(
        f"Training step time on {device} ({seconds:.0f} s runs, validation included)",
        ["dims", "precision", "layout", "steps", "s", "ms / step"],
        rows,
    )
    if not profile:
        return
    import cProfile
    import io
    import pstats

    for dims in ("2d", "3d"):
        image, truth = data[dims]
        prof = cProfile.Profile()
        prof.enable()
        _train_steps(image, (truth > 0).astype(np.uint8), device, "auto", seconds)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print(f"\n### Profile of a {dims} training run on {device} (tottime)\n")
        print(out.getvalue()[-6000:], flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="small images (a try-out on the CPU)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--train-seconds", type=float, default=25.0)
    p.add_argument("--parts", nargs="+", default=["agreement", "oom", "training", "speed"])
    p.add_argument("--no-monai", action="store_true")
    p.add_argument("--profile", action="store_true", help="training_speed: cProfile a run")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    RESULTS["machine"] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "cpu_threads": torch.get_num_threads(),
    }
    print(json.dumps(RESULTS["machine"]))
    data = images(args.quick)
    parts = {
        "agreement": lambda: part_agreement(data, args.device),
        "speed": lambda: part_speed(data, args.device, args.reps, not args.no_monai),
        "oom": lambda: part_oom(data, args.device),
        "training": lambda: part_training(data, args.device, args.train_seconds),
        "training_speed": lambda: part_training_speed(
            data, args.device, args.train_seconds, args.profile
        ),
    }
    for name in args.parts:
        if name == "oom" and not str(args.device).startswith("cuda"):
            print("[oom: skipped, it limits CUDA memory: a GPU part]", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            parts[name]()
        except Exception:  # noqa: BLE001 - report and go on with the next part
            traceback.print_exc()
            RESULTS[name + "_error"] = traceback.format_exc()
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
