"""Reduced precision for inference where it is safe: ``precision="auto"``.

bf16 autocast runs the U-Net 2-2.35x faster than float32 on CPUs with native bf16
(AVX512-BF16 / AMX) and fp16/bf16 is the norm on CUDA, with labels that agree with
float32 on 99.9+ % of the pixels for the shipped models (docs/benchmarks.md). Whether a
*given* model keeps that agreement is not guaranteed (a model whose classes are nearly
tied everywhere flips labels under bf16 rounding), so ``'auto'`` only picks the reduced
precision once a quick check has shown it on this model and device:

1. the candidate dtype: bf16 on CUDA devices that support it, else fp16; bf16 on CPUs
   with native bf16; nothing elsewhere (MPS, older CPUs) -> float32;
2. the check: one calibration input (synthetic nuclei at the model's input size,
   normalized like prediction normalizes) runs through the network in float32 and in
   the candidate dtype; the candidate is used when at least :data:`MIN_AGREEMENT` of
   the labels agree;
3. on CUDA the candidate must also be faster: a batch of calibration inputs, as many as
   prediction batches (:func:`~napari_unetseg.core.inference.forward.auto_batch_size`),
   is timed in both precisions through the network as inference prepares it, and
   float32 is kept unless the candidate takes under :data:`MIN_SPEEDUP` of its time. On
   an H200 the shipped 2D model ran 1.13x faster in bf16 and the 3D model (8 base
   channels) 1.11x slower, where the engine's time is mostly outside the network; on
   CPUs with native bf16 both ran 2-2.35x faster, so the CPU is not timed;
4. the result is cached per model weights (a hash of the tensors) and device, for the
   life of the process, so the check costs a few forward passes once per model; and on
   disk (:data:`CACHE_DIR_ENV`, else the user's cache folder), keyed by the machine and
   torch's version too, as each ``unetseg predict`` is a new process that spent a
   second on the check again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import devices as dev
from .bundle import ModelBundle
from .devices import precision_name

#: Fraction of calibration labels that must agree with float32 for ``'auto'`` to use
#: the reduced precision.
MIN_AGREEMENT = 0.999

#: On CUDA, the reduced precision is used only where it takes under this share of
#: float32's time on the calibration batch.
MIN_SPEEDUP = 0.95

#: Calibration input edge per spatial axis (rounded up to a size the model accepts).
CALIBRATION_SHAPE = {2: (256, 256), 3: (32, 96, 96)}


@dataclass(frozen=True)
class PrecisionChoice:
    """The autocast dtype chosen for a run, and why (one sentence for a status line)."""

    dtype: torch.dtype | None
    reason: str
    agreement: float | None = None

    @property
    def name(self) -> str:
        return precision_name(self.dtype)


_CACHE: dict[tuple[str, str, str], PrecisionChoice] = {}
_LOCK = threading.Lock()

#: Environment variable naming the folder of the on-disk cache of ``'auto'`` checks
#: (empty: no disk cache); default: the user's cache folder.
CACHE_DIR_ENV = "NAPARI_UNETSEG_CACHE"


def candidate_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision ``'auto'`` would try on ``device`` (None: none)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and dev.cpu_has_native_bf16():
        return torch.bfloat16
    return None


def weights_fingerprint(network: torch.nn.Module) -> str:
    """A hash of every parameter and buffer: two networks with equal weights share it."""
    h = hashlib.sha1(usedforsecurity=False)
    for name, tensor in network.state_dict().items():
        h.update(name.encode())
        h.update(
            tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        )
    return h.hexdigest()


def calibration_input(bundle: ModelBundle) -> np.ndarray:
    """A normalized (1, C, *spatial) float32 batch of synthetic nuclei for the check."""
    from .synthetic import synthetic_nuclei

    # Sizes the network accepts (our U-Net: multiples of its divisor; a foreign network:
    # its minimum plus a multiple of its step).
    shape = bundle.fit_tile(CALIBRATION_SHAPE[bundle.spatial_dims])
    options: dict[str, Any] = {}
    if bundle.object_size is not None:
        r = float(bundle.object_size["diameter"]) / 2
        options["radius"] = (max(2.0, 0.7 * r), max(3.0, 1.3 * r))
    image, _ = synthetic_nuclei(shape, seed=0, **options)
    c = bundle.in_channels
    if c == 1:
        return bundle.normalize(image)[None, None].astype(np.float32)
    # Channels of a multi-channel model: the nuclei, then mirrored copies of them.
    stack = np.stack([image if i % 2 == 0 else image[..., ::-1] for i in range(c)])
    return bundle.normalize(stack, channel_axis=0)[None].astype(np.float32)


def _labels(network: torch.nn.Module, x: torch.Tensor, n_classes: int) -> torch.Tensor:
    logits = network(x).float()
    return logits[:, 0] > 0 if n_classes == 1 else logits.argmax(1)


def check_agreement(
    bundle: ModelBundle,
    network: torch.nn.Module,
    device: torch.device,
    dtype: torch.dtype,
) -> float:
    """Share of calibration labels that agree between float32 and ``dtype`` autocast."""
    x = torch.from_numpy(calibration_input(bundle)).to(device)
    with torch.inference_mode():
        ref = _labels(network, x, bundle.n_classes)
        with dev.autocast(device, dtype):
            low = _labels(network, x, bundle.n_classes)
    return float((ref == low).float().mean())


def choose_precision(
    bundle: ModelBundle,
    device: torch.device,
    precision: str = "auto",
    network: torch.nn.Module | None = None,
) -> PrecisionChoice:
    """The autocast dtype for inference with ``bundle`` on ``device``.

    ``'fp32'``, ``'bf16'`` and ``'fp16'`` are taken as asked (see
    :func:`~napari_unetseg.core.devices.autocast_dtype`); ``'auto'`` runs the cached
    agreement check described in the module docstring.

    Parameters
    ----------
    network : torch.nn.Module, optional
        The network as it will run (e.g. BatchNorm folded, on ``device``); default: the
        bundle's own network in evaluation mode.
    """
    explicit = dev.autocast_dtype(device, precision)  # validates the name
    if precision != "auto":
        return PrecisionChoice(explicit, f"{precision_name(explicit)} as asked")
    candidate = candidate_dtype(device)
    if candidate is None:
        return PrecisionChoice(None, f"fp32 (no fast reduced precision on {device.type})")
    key = (weights_fingerprint(bundle.network), str(device), precision_name(candidate))
    with _LOCK:  # one check per model and device, even from several threads
        choice = _CACHE.get(key) or _from_disk(key, device, candidate)
        if choice is None:
            if network is None:  # a copy: the caller's network may be training elsewhere
                network = copy.deepcopy(bundle.network).eval().to(device)
            agreement = check_agreement(bundle, network, device, candidate)
            times = check_speed(bundle, device, candidate) if agreement >= MIN_AGREEMENT else None
            choice = decide(candidate, device, agreement, times)
            _to_disk(key, device, choice)
        _CACHE[key] = choice
    return choice


def _disk_file() -> Path | None:
    """The JSON file of checks made by earlier processes (None: no disk cache)."""
    given = os.environ.get(CACHE_DIR_ENV)
    if given is not None:
        return Path(given).expanduser() / "precision.json" if given else None
    import platformdirs

    return platformdirs.user_cache_path("napari-unetseg", appauthor=False) / "precision.json"


def _disk_key(key: tuple[str, str, str], device: torch.device) -> str:
    """A check's key on disk: weights, device, dtype, torch's version and the machine
    (the CPU's model, or the GPU's name), as another CPU or torch may round otherwise."""
    if device.type == "cuda":
        machine = torch.cuda.get_device_name(device)
    else:
        machine = _cpu_model() or platform.machine()
    return "|".join((*key, torch.__version__, machine))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _read_disk(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: checked again
        return {}
    return found if isinstance(found, dict) else {}


def _from_disk(
    key: tuple[str, str, str], device: torch.device, candidate: torch.dtype
) -> PrecisionChoice | None:
    path = _disk_file()
    entry = _read_disk(path).get(_disk_key(key, device)) if path is not None else None
    if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str):
        return None
    agreement = entry.get("agreement")
    return PrecisionChoice(
        candidate if entry.get("reduced") else None,
        entry["reason"],
        float(agreement) if isinstance(agreement, (int, float)) else None,
    )


def _to_disk(key: tuple[str, str, str], device: torch.device, choice: PrecisionChoice) -> None:
    path = _disk_file()
    if path is None:
        return
    from .files import atomic_write

    found = _read_disk(path)
    found[_disk_key(key, device)] = {
        "reduced": choice.dtype is not None,
        "reason": choice.reason,
        "agreement": choice.agreement,
    }
    try:
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(found), encoding="utf-8"))
    except OSError:  # a read-only cache folder: the check runs again next time
        pass


def decide(
    candidate: torch.dtype,
    device: torch.device,
    agreement: float,
    times: tuple[float, float] | None = None,
) -> PrecisionChoice:
    """``'auto'``'s choice from the checks: the share of calibration labels that agree, and
    the seconds per batch in float32 and in the candidate (None: not timed)."""
    name = precision_name(candidate)
    if agreement < MIN_AGREEMENT:
        reason = (
            f"fp32 (auto: {name} agreed with fp32 on only {agreement:.2%} of "
            f"calibration labels, below {MIN_AGREEMENT:.1%})"
        )
        return PrecisionChoice(None, reason, agreement)
    if times is not None and times[1] >= MIN_SPEEDUP * times[0]:
        reason = (
            f"fp32 (auto: {name} was not faster on {device}: "
            f"{1000 * times[1]:.1f} ms against {1000 * times[0]:.1f} ms per batch)"
        )
        return PrecisionChoice(None, reason, agreement)
    reason = f"{name} (auto: {agreement:.2%} of calibration labels agree with fp32"
    if times is not None:
        reason += f", {times[0] / times[1]:.2f}x faster"
    return PrecisionChoice(candidate, reason + ")", agreement)


def clear_cache() -> None:
    """Forget every cached check, in memory and on disk (tests; a changed machine)."""
    with _LOCK:
        _CACHE.clear()
        path = _disk_file()
        if path is not None:
            path.unlink(missing_ok=True)


def check_speed(
    bundle: ModelBundle, device: torch.device, dtype: torch.dtype, reps: int = 5
) -> tuple[float, float] | None:
    """Seconds per calibration batch in float32 and in ``dtype`` on a CUDA device (median
    of ``reps`` alternated runs after a warm-up), through the network as inference
    prepares it; None off CUDA, or when the batch does not fit in the device's memory."""
    if device.type != "cuda":
        return None
    import time

    from .inference.forward import auto_batch_size
    from .inference.network import inference_network, memory_format

    network = inference_network(bundle.network, device, bundle.spatial_dims)
    x = torch.from_numpy(calibration_input(bundle)).to(device)
    batch = auto_batch_size(bundle, tuple(x.shape[2:]), device)
    x = x.repeat(batch, *([1] * (x.dim() - 1)))
    fmt = memory_format(device, bundle.spatial_dims)
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    runs: dict[Any, list[float]] = {None: [], dtype: []}
    try:
        with torch.inference_mode():
            for i in range(reps + 1):
                for amp in runs:
                    torch.cuda.synchronize(device)
                    t0 = time.perf_counter()
                    with dev.autocast(device, amp):
                        network(x)
                    torch.cuda.synchronize(device)
                    if i:  # the first round warms up kernels and caches
                        runs[amp].append(time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is expected
        if not dev.is_out_of_memory(exc):
            raise
        dev.empty_cache(device)
        return None
    return float(np.median(runs[None])), float(np.median(runs[dtype]))
