"""Tiled inference benchmark: napari-unetseg's ``predict_tiled`` vs MONAI, side by side.

Both engines get the same ``nn.Module`` with the same weights, the same image, the same
input transform (``ModelBundle.normalize``), tile size, overlap, gaussian blending
(sigma = tile / 8), batch size, dtype and thread count, and both turn the blended
softmax probabilities into labels with an argmax. A single full-image forward pass is
timed too where its activations fit in ``--full-max-gb``.

Reported per case (2D and 3D) and overlap:

- voxels/s of each engine and the time ratio, as medians of ``--reps`` warm runs run
  alternately in one process (wall clock and process CPU time: on a shared machine the
  CPU time is the steadier of the two);
- peak memory of one run in a fresh subprocess (``VmHWM`` after resetting it once the
  image and model are loaded; ``torch.cuda.max_memory_allocated`` on CUDA);
- agreement of the labels with MONAI's (and with the full-image pass) and the largest
  difference of the foreground probabilities;
- tiles run, the compute multiplier of the tile grid (tile voxels / image voxels) and
  the achieved FLOP/s (convolution FLOPs counted with ``FlopCounterMode``) vs a peak
  measured with a large matmul.

Plus a 3D scaling series (N, 2N, 4N voxels along Z) giving the bytes of peak memory per
extra voxel, a bf16 vs fp32 comparison on CPUs (or GPUs) that support bf16, and the
import-time check (``import napari_unetseg`` and reading a TIFF import no torch).

Run ``python benchmarks/bench_inference.py --help``; ``--quick`` runs small cases in a
few minutes. See ``benchmarks/README.md`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_unetseg.api import drain
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.guards import fmt_bytes
from napari_unetseg.core.inference import inference_network, predict_tiled
from napari_unetseg.core.inference.network import memory_format
from napari_unetseg.core.synthetic import synthetic_nuclei

HERE = Path(__file__).resolve()


# -- cases ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One benchmark image and model: ``dims``-D U-Net of ``base`` channels, depth 4."""

    name: str
    dims: int
    base: int
    shape: tuple[int, ...]
    tile: int

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)


FULL = {
    "2d": Case("2d", 2, 32, (2048, 2048), 256),
    "3d": Case("3d", 3, 16, (128, 256, 256), 96),
}
QUICK = {
    "2d": Case("2d", 2, 32, (512, 512), 128),
    "3d": Case("3d", 3, 16, (48, 96, 96), 48),
}
MEDIUM = {
    "2d": Case("2d", 2, 32, (1024, 1024), 256),
    "3d": Case("3d", 3, 16, (80, 160, 160), 64),
}
PRESETS = {"full": FULL, "medium": MEDIUM, "quick": QUICK}
# Scaling series: (Z, Y, X) of the smallest volume and the tile; Z is doubled twice. The
# volumes span a 4x range of many megavoxels so that the per-voxel growth stands out of
# the +-20 MiB that a process's peak varies from run to run (allocator, oneDNN), and the
# smallest is 1.5 tiles deep so that every run streams at least two bands: a one-band
# run never reads a band while the model runs, which would show a one-band step (a
# constant) as per-voxel growth.
SCALING = {
    "full": ((144, 256, 256), 96),
    "medium": ((96, 256, 256), 64),
    "quick": ((72, 128, 128), 48),
}


# -- model and image ------------------------------------------------------------------------
def cache_dir(args: argparse.Namespace) -> Path:
    path = Path(args.cache or Path(tempfile.gettempdir()) / "napari-unetseg-bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def trained_bundle(dims: int, base: int, steps: int, cache: Path) -> tuple[ModelBundle, Path]:
    """A U-Net (depth 4) trained briefly on synthetic nuclei, cached as a model file.

    The weights only need to give non-trivial labels, so that agreement figures mean
    something; timing does not depend on them. Training is seeded and single-threaded so
    the same file comes out on every machine.
    """
    path = cache / f"unet{dims}d_base{base}_depth4_steps{steps}.pt"
    if path.is_file():
        return ModelBundle.load(path), path
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=dims, depth=4, base_channels=base)
    shape, crop, batch = (
        ((384, 384), (96, 96), 4) if dims == 2 else ((48, 128, 128), (32, 48, 48), 2)
    )
    pool = []
    for seed in range(3):
        img, lab = synthetic_nuclei(shape, seed=100 + seed)
        pool.append((bundle.normalize(img), (lab > 0).astype(np.int64)))
    rng = np.random.default_rng(0)
    net = bundle.network.train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    print(f"  training the {dims}D model for {steps} steps (cached in {path}) ...", flush=True)
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            x, y = pool[rng.integers(len(pool))]
            at = tuple(
                slice(o, o + c)
                for s, c in zip(shape, crop, strict=True)
                for o in [int(rng.integers(s - c + 1))]
            )
            xs.append(x[at])
            ys.append(y[at])
        logits = net(torch.from_numpy(np.stack(xs))[:, None])
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(np.stack(ys)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    # After so few steps the BatchNorm running averages lag behind the weights (the model
    # segments well in training mode and badly in eval mode): re-estimate them as plain
    # averages over the whole training images.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        for x, _ in pool:
            net(torch.from_numpy(x)[None, None])
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.1
    net.eval()
    torch.set_num_threads(threads)
    bundle.save(path)
    return bundle, path


def case_image(shape: tuple[int, ...], cache: Path) -> tuple[Path, Path]:
    """Synthetic nuclei image (uint16) and its foreground mask, cached as .npy files."""
    key = "x".join(map(str, shape))
    img_path, fg_path = cache / f"nuclei_{key}.npy", cache / f"nuclei_{key}_fg.npy"
    if not img_path.is_file():
        image, labels = synthetic_nuclei(shape, seed=1)
        np.save(fg_path, labels > 0)
        np.save(img_path, image)
    return img_path, fg_path


def stacked_volume(base: Path, factor: int, cache: Path) -> Path:
    """``factor`` mirrored copies of a volume along Z (scaling series), cached."""
    path = base.with_name(f"{base.stem}_z{factor}.npy")
    if not path.is_file():
        vol = np.load(base)
        parts = [vol if i % 2 == 0 else vol[::-1] for i in range(factor)]
        np.save(path, np.concatenate(parts, axis=0))
    return path


# -- engines --------------------------------------------------------------------------------
@dataclass
class Run:
    """What one engine run produced."""

    labels: np.ndarray
    fg: np.ndarray | None = None  # foreground probability 1 - p(background)
    tiles: int = 0


@dataclass
class Settings:
    tile: int
    overlap: float
    batch_size: int
    precision: str = "fp32"
    device: str = "cpu"

    def ours(self) -> dict[str, Any]:
        """These settings as ``predict_tiled`` keyword arguments."""
        return {
            "tile_size": self.tile,
            "overlap": self.overlap,
            "batch_size": self.batch_size,
            "device": self.device,
            "precision": self.precision,
        }

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=torch.device(self.device).type, dtype=dtype)


def run_ours(bundle: ModelBundle, image: np.ndarray, s: Settings, probs: bool = False) -> Run:
    res = drain(predict_tiled(bundle, image, **s.ours(), return_probabilities=probs))
    return Run(res.labels, res.probabilities, res.stats["n_tiles"])


def _normalized_input(bundle: ModelBundle, image: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(bundle.normalize(image))[None, None].to(device)


def _labels_from_probabilities(p: torch.Tensor, probs: bool) -> Run:
    """Argmax labels (uint8) and optional foreground probability of a (1, K, ...) map."""
    labels = p[0].argmax(0).to(torch.uint8).cpu().numpy()
    fg = (1.0 - p[0, 0]).float().cpu().numpy() if probs else None
    return Run(labels, fg)


def run_monai(
    bundle: ModelBundle,
    image: np.ndarray,
    s: Settings,
    probs: bool = False,
    prepared: bool = False,
) -> Run:
    """MONAI's ``sliding_window_inference`` on the normalized image, softmax per tile.

    ``prepared``: give MONAI the network as our engine prepares it (BatchNorm folded,
    channels-last), to separate what the engine's loop contributes from what the
    network preparation does.
    """
    from monai.inferers import sliding_window_inference

    device = torch.device(s.device)
    if prepared:
        net = inference_network(bundle.network, device, bundle.spatial_dims)
        fmt = memory_format(device, bundle.spatial_dims)
    else:
        net, fmt = bundle.network.eval().to(device), None
    tiles = 0

    def predictor(x: torch.Tensor) -> torch.Tensor:
        nonlocal tiles
        tiles += x.shape[0]
        if fmt is not None:
            x = x.contiguous(memory_format=fmt)
        return torch.softmax(net(x).float(), 1)

    x = _normalized_input(bundle, image, s.device)
    with torch.inference_mode(), s.autocast():
        p = sliding_window_inference(
            x,
            (s.tile,) * bundle.spatial_dims,
            s.batch_size,
            predictor,
            overlap=s.overlap,
            mode="gaussian",
            sigma_scale=0.125,
        )
    del x
    run = _labels_from_probabilities(p, probs)
    run.tiles = tiles
    return run


def run_full(bundle: ModelBundle, image: np.ndarray, s: Settings, probs: bool = False) -> Run:
    net = bundle.network.eval().to(s.device)
    x = _normalized_input(bundle, image, s.device)
    with torch.inference_mode(), s.autocast():
        p = torch.softmax(net(x).float(), 1)
    del x
    run = _labels_from_probabilities(p, probs)
    run.tiles = 1
    return run


def run_monai_prepared(
    bundle: ModelBundle, image: np.ndarray, s: Settings, probs: bool = False
) -> Run:
    return run_monai(bundle, image, s, probs, prepared=True)


def run_ours_defaults(
    bundle: ModelBundle, image: np.ndarray, s: Settings, probs: bool = False
) -> Run:
    """Our engine with every setting at its default (precision 'auto', batch size
    'auto', the model's tile, overlap 0.25, gaussian blending): what a user gets."""
    res = drain(predict_tiled(bundle, image, device=s.device, return_probabilities=probs))
    return Run(res.labels, res.probabilities, res.stats["n_tiles"])


def run_monai_defaults(
    bundle: ModelBundle, image: np.ndarray, s: Settings, probs: bool = False
) -> Run:
    """MONAI's ``sliding_window_inference`` with its defaults (sw_batch_size 1, overlap
    0.25, constant blending, fp32) and the model's tile as ``roi_size``."""
    from monai.inferers import sliding_window_inference

    net = bundle.network.eval().to(s.device)
    x = _normalized_input(bundle, image, s.device)
    with torch.inference_mode():
        p = sliding_window_inference(
            x, tuple(bundle.tile_size), 1, lambda t: torch.softmax(net(t), 1)
        )
    del x
    return _labels_from_probabilities(p, probs)


ENGINES: dict[str, Callable[..., Run]] = {
    "ours": run_ours,
    "monai": run_monai,
    "monai-prepared": run_monai_prepared,
    "full": run_full,
}


def full_fits(bundle: ModelBundle, shape: tuple[int, ...], max_gb: float) -> bool:
    """Whether a whole-image forward is possible and its activations fit the budget."""
    if any(n % bundle.divisor for n in shape):
        return False
    # About a dozen full-resolution feature maps are alive at the peak of a U-Net.
    return math.prod(shape) * bundle.config["base_channels"] * 4 * 12 <= max_gb * 2**30


# -- measurements ---------------------------------------------------------------------------
def _bind(engine: Callable[..., Run], *args: Any) -> Callable[[], Run]:
    """``engine(*args)`` as a no-argument function (for the timing loop)."""
    return lambda: engine(*args)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_alternating(
    fns: dict[str, Callable[[], Any]], reps: int, device: str
) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each function: one warm-up each, then ``reps``
    rounds in rotating order so that drifts in machine load hit every engine alike."""
    names = list(fns)
    for name in names:
        fns[name]()
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            sync(device)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {
        n: {
            "wall_s": statistics.median(wall[n]),
            "cpu_s": statistics.median(cpu[n]),
            "wall_all": wall[n],
            "cpu_all": cpu[n],
        }
        for n in names
    }


def tile_flops(bundle: ModelBundle, tile: int, device: str) -> int:
    """FLOPs of one forward pass on one tile (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros((1, bundle.in_channels) + (tile,) * bundle.spatial_dims, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        bundle.network.eval().to(device)(x)
    return int(counter.get_total_flops())


def peak_flops(device: str, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """Best FLOP per CPU-second (per second on a GPU) of an ``n`` x ``n`` matmul.

    CPU seconds (all threads of this process) rather than wall seconds, so that other
    processes on a shared machine do not lower the figure.
    """
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    clock = time.perf_counter if device.startswith("cuda") else time.process_time
    best = math.inf
    for _ in range(7):
        sync(device)
        t0 = clock()
        a @ b
        sync(device)
        best = min(best, clock() - t0)
    return 2 * n**3 / best


def bf16_supported(device: str) -> bool:
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def agreement(a: Run, b: Run) -> dict[str, float]:
    out = {"labels_equal": float((a.labels == b.labels).mean())}
    if a.fg is not None and b.fg is not None:
        out["max_abs_prob_diff"] = float(np.abs(a.fg - b.fg).max())
    return out


# -- memory: one run per fresh subprocess ---------------------------------------------------
def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one engine run's peak memory in this (fresh) process."""
    import resource

    torch.set_num_threads(spec["threads"])
    bundle = ModelBundle.load(spec["model"])
    image = np.load(spec["image"])
    s = Settings(**spec["settings"])
    gc.collect()
    cuda = s.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    reset = _reset_peak_rss()
    rss0 = (_status_kib("VmRSS") or 0) * 1024
    t0 = time.perf_counter()
    run = ENGINES[spec["engine"]](bundle, image, s)
    seconds = time.perf_counter() - t0
    if reset:
        peak = (_status_kib("VmHWM") or 0) * 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (
            1 if sys.platform == "darwin" else 1024
        )
    out = {
        "peak_rss": peak,
        "rss_before": rss0,
        "seconds": seconds,
        "tiles": run.tiles,
        "exact_reset": reset,
    }
    if cuda:
        out["cuda_peak"] = torch.cuda.max_memory_allocated() - base
    return out


def measure_memory(
    engine: str, model: Path, image: Path, s: Settings, threads: int
) -> dict[str, Any]:
    spec = {
        "engine": engine,
        "model": str(model),
        "image": str(image),
        "settings": asdict(s),
        "threads": threads,
    }
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory worker for {engine} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- import time ----------------------------------------------------------------------------
def import_time(code: str) -> dict[str, Any]:
    """Total ``-X importtime`` microseconds of a snippet and whether torch was imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    top, modules = 0, set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        modules.add(name.strip())
        # Nesting is shown by indentation after the one separating space: only top-level
        # imports add their cumulative time (nested ones are already inside it).
        if not name[1:].startswith(" "):
            top += int(cumulative)
    wall = proc.stdout.strip().splitlines()
    return {
        "total_import_s": top / 1e6,
        "torch_imported": any(m == "torch" for m in modules),
        "n_modules": len(modules),
        "stdout": wall[-1] if wall else "",
    }


IMPORT_SNIPPETS = {
    "import napari_unetseg": "import napari_unetseg",
    "read a TIFF through napari_unetseg._reader": (
        "import sys\n"
        "from napari_unetseg import _reader\n"
        "layers = _reader.napari_get_reader({path!r})({path!r})\n"
        "print(len(layers), 'torch' in sys.modules)"
    ),
}


# -- report ---------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    meta: dict[str, Any] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, title: str, text: str) -> None:
        block = f"### {title}\n\n{text}\n"
        self.sections.append(block)
        print("\n" + block, flush=True)


def machine_info(threads: int, device: str) -> dict[str, Any]:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": threads,
        "device": device,
        "python": platform.python_version(),
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    flags = cpu_flags()
    info["bf16_cpu_flags"] = sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    info["bf16_supported"] = bf16_supported(device)
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    try:
        import monai

        info["monai"] = monai.__version__
    except ImportError:
        info["monai"] = None
    return info


# -- the benchmark sections -----------------------------------------------------------------
@contextlib.contextmanager
def progress(what: str) -> Iterator[None]:
    print(f"- {what} ...", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)


_KEY = {True: "cuda_peak", False: "peak_rss"}


def _pct(x: float) -> str:
    return f"{x * 100:.3f} %"


def _agreement_row(case: Case, overlap: float, runs: dict[str, Run], truth: np.ndarray) -> list:
    ours, monai, full = runs["ours"], runs["monai"], runs.get("full")
    fg = ours.labels > 0
    dice = 2 * (fg & truth).sum() / max(fg.sum() + truth.sum(), 1)
    return [
        case.name,
        overlap,
        _pct(agreement(ours, monai)["labels_equal"]),
        f"{agreement(ours, monai)['max_abs_prob_diff']:.2g}",
        _pct(agreement(ours, full)["labels_equal"]) if full else "n/a",
        _pct(agreement(monai, full)["labels_equal"]) if full else "n/a",
        f"{fg.mean() * 100:.1f} %",
        f"{dice:.3f}",
    ]


def _speed_row(case: Case, overlap: float, tiles: dict[str, int], times: dict[str, dict]) -> list:
    o, m = times["ours"], times["monai"]
    prep = times.get("monai-prepared")
    full = times.get("full")
    return [
        case.name,
        overlap,
        f"{tiles['ours']} / {tiles['monai']}",
        f"{tiles['ours'] * case.tile**case.dims / case.voxels:.2f}",
        f"{case.voxels / o['wall_s'] / 1e6:.3f} M",
        f"{case.voxels / m['wall_s'] / 1e6:.3f} M",
        f"{case.voxels / full['wall_s'] / 1e6:.3f} M" if full else "n/a",
        f"{o['wall_s']:.2f} / {m['wall_s']:.2f} = **{o['wall_s'] / m['wall_s']:.2f}**",
        f"{o['cpu_s']:.2f} / {m['cpu_s']:.2f} = **{o['cpu_s'] / m['cpu_s']:.2f}**",
        f"{prep['cpu_s'] / m['cpu_s']:.2f}" if prep else "n/a",
    ]


def _flop_row(
    case: Case, overlap: float, tiles: dict[str, int], flops_tile: int, times: dict, peak: float
) -> list:
    total = {e: tiles[e] * flops_tile for e in ("ours", "monai")}
    per_cpu = {e: total[e] / times[e]["cpu_s"] for e in total}
    return [
        case.name,
        overlap,
        f"{flops_tile / 1e9:.1f}",
        f"{total['ours'] / 1e12:.2f} / {total['monai'] / 1e12:.2f}",
        f"{per_cpu['ours'] / 1e9:.0f} / {per_cpu['monai'] / 1e9:.0f}",
        f"{total['ours'] / times['ours']['wall_s'] / 1e9:.0f} / "
        f"{total['monai'] / times['monai']['wall_s'] / 1e9:.0f}",
        f"{peak / 1e9:.0f}",
        f"{per_cpu['ours'] / peak * 100:.0f} % / {per_cpu['monai'] / peak * 100:.0f} %",
    ]


def _memory_rows(case: Case, mems: dict[str, dict], cuda: bool) -> list[list]:
    rows = []
    for engine, m in mems.items():
        peak = m[_KEY[cuda]]
        grown = peak - (0 if cuda else m["rss_before"])
        rows.append(
            [case.name, engine, fmt_bytes(peak), fmt_bytes(grown), f"{grown / case.voxels:.1f}"]
        )
    return rows


def _bf16_row(case: Case, overlap: float, r32: Run, r16: Run, times: dict) -> list:
    a = agreement(r16, r32)
    t32, t16 = times["fp32"], times["bf16"]
    return [
        case.name,
        overlap,
        f"{t32['wall_s']:.2f} / {t16['wall_s']:.2f}",
        f"{t32['wall_s'] / t16['wall_s']:.2f}x",
        f"{t32['cpu_s'] / t16['cpu_s']:.2f}x",
        _pct(a["labels_equal"]),
        f"{a['max_abs_prob_diff']:.2g}",
    ]


TABLES = {
    "speed": (
        "Throughput and time ratio (median of warm runs, alternated in one process)",
        [
            "case",
            "overlap",
            "tiles ours / MONAI",
            "compute multiplier",
            "ours vox/s",
            "MONAI vox/s",
            "full-image vox/s",
            "wall s: ours / MONAI = ratio",
            "CPU s: ours / MONAI = ratio",
            "MONAI fed our prepared net: CPU s / MONAI",
        ],
    ),
    "memory": (
        "Peak memory (one run per fresh subprocess)",
        ["case", "engine", "peak", "peak above loaded image+model", "bytes per image voxel"],
    ),
    "agreement": (
        "Agreement (fp32)",
        [
            "case",
            "overlap",
            "labels equal ours vs MONAI",
            "max abs prob diff",
            "ours vs full image",
            "MONAI vs full image",
            "foreground (ours)",
            "Dice vs synthetic truth",
        ],
    ),
    "flops": (
        "Compute",
        [
            "case",
            "overlap",
            "GFLOP per tile",
            "TFLOP per image ours / MONAI",
            "GFLOP per CPU-s ours / MONAI",
            "GFLOP/s wall ours / MONAI",
            "peak GFLOP per CPU-s (fp32 matmul)",
            "% of peak ours / MONAI",
        ],
    ),
    "defaults": (
        "Default settings: ours (precision auto) vs MONAI sliding_window_inference (its defaults, fp32)",
        [
            "case",
            "ours ran",
            "wall s ours / MONAI",
            "speed-up (wall)",
            "speed-up (CPU)",
            "labels equal",
        ],
    ),
    "bf16": (
        "bf16 vs fp32 (ours)",
        [
            "case",
            "overlap",
            "wall s fp32 / bf16",
            "speed-up (wall)",
            "speed-up (CPU)",
            "labels equal",
            "max abs prob diff",
        ],
    ),
}


def bench_cases(args: argparse.Namespace, rep: Report, cases: dict[str, Case]) -> None:
    """Every case at every overlap: agreement, alternated timing, memory, FLOPs, bf16."""
    cache = cache_dir(args)
    cuda = args.device.startswith("cuda")
    rows: dict[str, list] = {k: [] for k in TABLES}
    peak = peak_flops(args.device)
    rep.data["peak_flops"] = {"fp32": peak}
    if bf16_supported(args.device):
        rep.data["peak_flops"]["bf16"] = peak_flops(args.device, torch.bfloat16)
    for case in (cases[c] for c in args.cases):
        bundle, model_path = trained_bundle(
            case.dims, case.base, args.train_steps[case.dims], cache
        )
        img_path, fg_path = case_image(case.shape, cache)
        image, truth = np.load(img_path), np.load(fg_path)
        flops_tile = tile_flops(bundle, case.tile, args.device)
        fits = full_fits(bundle, case.shape, args.full_max_gb)
        for overlap in args.overlaps:
            s = Settings(case.tile, overlap, args.batch_size, "fp32", args.device)
            label = f"{case.name} {'x'.join(map(str, case.shape))}, tile {case.tile}, overlap {overlap}"
            names = ["ours", "monai"] + (["full"] if fits else [])
            with progress(f"{label}: agreement ({', '.join(names)})"):
                runs = {n: ENGINES[n](bundle, image, s, True) for n in names}
            rows["agreement"].append(_agreement_row(case, overlap, runs, truth))
            tiles = {n: r.tiles for n, r in runs.items()}
            del runs
            names += [] if args.no_prepared_monai else ["monai-prepared"]
            if args.no_full and "full" in names:
                names.remove("full")
            fns = {n: _bind(ENGINES[n], bundle, image, s) for n in names}
            with progress(f"{label}: timing {', '.join(fns)} x {args.reps}"):
                times = time_alternating(fns, args.reps, args.device)
            rep.data.setdefault("times", {})[f"{case.name}@{overlap}"] = times
            rows["speed"].append(_speed_row(case, overlap, tiles, times))
            rows["flops"].append(_flop_row(case, overlap, tiles, flops_tile, times, peak))
            if overlap == args.overlaps[0]:
                engines = ["ours", "monai"] + (["full"] if fits else [])
                with progress(
                    f"{label}: peak memory of {', '.join(engines)} (fresh subprocesses)"
                ):
                    mems = {
                        e: measure_memory(e, model_path, img_path, s, args.threads)
                        for e in engines
                    }
                rep.data.setdefault("memory", {})[case.name] = mems
                rows["memory"] += _memory_rows(case, mems, cuda)
        if bf16_supported(args.device) and not args.no_bf16:
            s32 = Settings(case.tile, args.overlaps[0], args.batch_size, "fp32", args.device)
            s16 = Settings(case.tile, args.overlaps[0], args.batch_size, "bf16", args.device)
            with progress(f"{case.name}: bf16 vs fp32 (ours)"):
                r32, r16 = run_ours(bundle, image, s32, True), run_ours(bundle, image, s16, True)
                fns = {
                    "fp32": _bind(run_ours, bundle, image, s32),
                    "bf16": _bind(run_ours, bundle, image, s16),
                }
                times = time_alternating(fns, args.reps, args.device)
            rep.data.setdefault("bf16", {})[case.name] = {"times": times, **agreement(r16, r32)}
            rows["bf16"].append(_bf16_row(case, args.overlaps[0], r32, r16, times))
    for key, (title, header) in TABLES.items():
        if rows.get(key):
            rep.add(title, table(header, rows[key]))


def bench_defaults(args: argparse.Namespace, rep: Report, cases: dict[str, Case]) -> None:
    """Both engines with their default settings: ours (precision 'auto', auto batch,
    the model's tile) vs MONAI's sliding_window_inference (fp32, batch 1, constant
    blending), alternated, with the label agreement."""
    cache = cache_dir(args)
    rows: list[list[Any]] = []
    for case in (cases[c] for c in args.cases):
        bundle, _ = trained_bundle(case.dims, case.base, args.train_steps[case.dims], cache)
        bundle.tile_size = (case.tile,) * case.dims
        img_path, _ = case_image(case.shape, cache)
        image = np.load(img_path)
        s = Settings(case.tile, 0.25, 1, "fp32", args.device)
        with progress(f"{case.name}: defaults, ours vs MONAI"):
            ours = drain(predict_tiled(bundle, image, device=args.device))
            a = agreement(Run(ours.labels), run_monai_defaults(bundle, image, s))
            fns = {
                "ours": _bind(run_ours_defaults, bundle, image, s),
                "monai": _bind(run_monai_defaults, bundle, image, s),
            }
            times = time_alternating(fns, args.reps, args.device)
        ratio = times["monai"]["wall_s"] / times["ours"]["wall_s"]
        cpu_ratio = times["monai"]["cpu_s"] / times["ours"]["cpu_s"]
        st = ours.stats
        rep.data.setdefault("defaults", {})[case.name] = {
            "times": times,
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            **a,
            "precision": st["precision"],
            "tile": st["tile_size"],
            "batch": st["batch_size"],
        }
        rows.append(
            [
                case.name,
                f"{st['precision']}, tile {st['tile_size'][0]}, batch {st['batch_size']}",
                f"{times['ours']['wall_s']:.2f} / {times['monai']['wall_s']:.2f}",
                f"{ratio:.2f}x",
                f"{cpu_ratio:.2f}x",
                _pct(a["labels_equal"]),
            ]
        )
    title, header = TABLES["defaults"]
    rep.add(title, table(header, rows))


def bench_scaling(args: argparse.Namespace, rep: Report) -> None:
    cache = cache_dir(args)
    (z, y, x), tile = SCALING[args.size]
    if args.scaling_shape:
        z, y, x = args.scaling_shape
        tile = args.scaling_tile or tile
    bundle, model_path = trained_bundle(3, 16, args.train_steps[3], cache)
    base_img, _ = case_image((z, y, x), cache)
    s = Settings(tile, args.overlaps[0], args.batch_size, "fp32", args.device)
    key = "cuda_peak" if args.device.startswith("cuda") else "peak_rss"
    rows, points = [], {"ours": [], "monai": []}
    for factor in (1, 2, 4):
        path = base_img if factor == 1 else stacked_volume(base_img, factor, cache)
        voxels = factor * z * y * x
        with progress(f"scaling {factor * z}x{y}x{x}: peak memory of ours and MONAI"):
            mems = {e: measure_memory(e, model_path, path, s, args.threads) for e in points}
        for e, m in mems.items():
            points[e].append((voxels, m[key]))
        rows.append(
            [
                f"{factor * z}x{y}x{x}",
                f"{voxels / 1e6:.2f} M",
                fmt_bytes(mems["ours"][key]),
                fmt_bytes(mems["monai"][key]),
                f"{mems['monai'][key] / mems['ours'][key]:.2f}x",
                f"{voxels / mems['ours']['seconds'] / 1e6:.3f} M / {voxels / mems['monai']['seconds'] / 1e6:.3f} M",
            ]
        )
    slopes = {e: float(np.polyfit(*zip(*pts, strict=True), 1)[0]) for e, pts in points.items()}
    rep.data["scaling"] = {"points": points, "bytes_per_voxel": slopes}
    rep.add(
        f"3D scaling series (tile {tile}, overlap {args.overlaps[0]}, Z doubled twice)",
        table(
            [
                "volume",
                "voxels",
                "ours peak",
                "MONAI peak",
                "MONAI / ours",
                "vox/s ours / MONAI (cold run)",
            ],
            rows,
        )
        + "\n\n"
        + table(
            ["engine", "bytes of peak memory per extra voxel (least squares)"],
            [[e, f"{v:.1f}"] for e, v in slopes.items()]
            + [["ours / MONAI", f"{slopes['ours'] / slopes['monai']:.2f}"]],
        ),
    )


def bench_imports(rep: Report) -> None:
    import tifffile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "image.tif")
        tifffile.imwrite(path, np.zeros((256, 256), np.uint16))
        for what, code in IMPORT_SNIPPETS.items():
            try:
                r = import_time(code.format(path=path))
            except subprocess.CalledProcessError as exc:
                rows.append([what, "failed", (exc.stderr or "").strip()[-200:], ""])
                continue
            torch_used = "yes" if r["torch_imported"] else "no"
            rows.append([what, f"{r['total_import_s'] * 1000:.0f} ms", r["n_modules"], torch_used])
    rep.data["imports"] = rows
    rep.add(
        "Import time (`python -X importtime`, sum of top-level cumulative times)",
        table(["what", "import time", "modules imported", "torch imported"], rows),
    )


# -- command line ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        choices=list(PRESETS),
        default="full",
        help="case sizes: full (the issue's: 2D 2048^2, 3D 128x256x256), medium, quick",
    )
    p.add_argument("--quick", action="store_true", help="same as --size quick (a few minutes)")
    p.add_argument(
        "--only",
        nargs="+",
        default=["cases", "defaults", "scaling", "imports"],
        choices=["cases", "defaults", "scaling", "imports"],
        help="which sections to run",
    )
    p.add_argument("--cases", nargs="+", default=["2d", "3d"], choices=["2d", "3d"])
    p.add_argument("--shape-2d", type=int, nargs=2, default=None, metavar=("Y", "X"))
    p.add_argument("--shape-3d", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"))
    p.add_argument("--tile-2d", type=int, default=None)
    p.add_argument("--tile-3d", type=int, default=None)
    p.add_argument("--scaling-shape", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"))
    p.add_argument("--scaling-tile", type=int, default=None)
    p.add_argument("--overlaps", type=float, nargs="+", default=[0.25, 0.5])
    p.add_argument("--reps", type=int, default=3, help="timed warm runs per engine (>= 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every engine")
    p.add_argument("--batch-size", type=int, default=1, help="tiles per forward, every engine")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument(
        "--full-max-gb", type=float, default=3.0, help="memory budget of the full-image pass"
    )
    p.add_argument("--no-full", action="store_true", help="do not time the full-image pass")
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 comparison")
    p.add_argument(
        "--no-prepared-monai",
        action="store_true",
        help="do not time MONAI fed our prepared (BatchNorm-folded, channels-last) network",
    )
    p.add_argument("--train-steps-2d", type=int, default=60)
    p.add_argument("--train-steps-3d", type=int, default=40)
    p.add_argument("--cache", default=None, help="folder for cached images and models")
    p.add_argument("--json", default=None, help="also write all figures to this JSON file")
    p.add_argument("--markdown", default=None, help="also write the tables to this file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.train_steps = {2: args.train_steps_2d, 3: args.train_steps_3d}
    if args.quick:
        args.size = "quick"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    torch.set_num_threads(args.threads)
    cases = dict(PRESETS[args.size])
    for name, shape, tile in (
        ("2d", args.shape_2d, args.tile_2d),
        ("3d", args.shape_3d, args.tile_3d),
    ):
        c = cases[name]
        cases[name] = Case(name, c.dims, c.base, tuple(shape or c.shape), tile or c.tile)
    rep = Report(meta=machine_info(args.threads, args.device))
    rep.meta["command"] = "python " + " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:]))
    rep.meta["cases"] = {k: asdict(v) for k, v in cases.items() if k in args.cases}
    print(json.dumps(rep.meta, indent=1), flush=True)
    t0 = time.perf_counter()
    if "cases" in args.only:
        bench_cases(args, rep, cases)
    if "defaults" in args.only:
        bench_defaults(args, rep, cases)
    if "scaling" in args.only:
        bench_scaling(args, rep)
    if "imports" in args.only:
        bench_imports(rep)
    rep.meta["total_s"] = time.perf_counter() - t0
    print(f"\ntotal {rep.meta['total_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"meta": rep.meta, **rep.data}, indent=1, default=str)
        )
    if args.markdown:
        Path(args.markdown).write_text("\n".join(rep.sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
