"""Device choice, mixed precision and out-of-memory detection."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def available_devices() -> list[str]:
    """Devices present on this machine, CPU first: ``['cpu', 'cuda:0', ..., 'mps']``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` (or None) -> CUDA if present, else Apple MPS, else CPU; checks the
    others exist (None was "Device None is not available"; API bug bash)."""
    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device).lower()
    present = available_devices()
    if name == "auto":
        for prefix in ("cuda", "mps"):
            match = [d for d in present if d.startswith(prefix)]
            if match:
                return torch.device(match[0])
        return torch.device("cpu")
    if name == "cuda":
        name = "cuda:0"
    if name not in present:
        raise ValueError(
            f"Device {device!r} is not available on this machine (available: {', '.join(present)})."
        )
    return torch.device(name)


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for a precision setting, or None for full float32.

    ``'auto'`` means bf16 on CUDA devices that support it, fp16 on other CUDA devices,
    and float32 on CPU/MPS. Inference resolves ``'auto'`` through
    :func:`napari_unetseg.core.precision.choose_precision` instead, which also uses bf16
    on CPUs with native bf16 once a check shows the model's labels agree with float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is not supported on the CPU; use bf16 or fp32.")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast
    makes training 1.5-1.6x faster (docs/benchmarks.md)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for training: like :func:`autocast_dtype`, except that
    ``'auto'`` also picks bf16 on CPUs with native bf16 support."""
    if precision == "auto" and device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return autocast_dtype(device, precision)


def precision_name(dtype: torch.dtype | None) -> str:
    """``'fp32'``, ``'bf16'`` or ``'fp16'`` for an autocast dtype (None: float32)."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def training_precision_words(
    device: torch.device, amp_dtype: torch.dtype | None, precision: str
) -> str:
    """A training run's arithmetic in a few words, saying why float32 where ``'auto'``
    could have picked bf16 on a faster CPU."""
    if amp_dtype is None and device.type == "cpu" and precision == "auto":
        return "fp32 (this CPU has no native bf16)"
    return precision_name(amp_dtype)


def training_memory_format(
    device: torch.device, spatial_dims: int, amp_dtype: torch.dtype | None
) -> torch.memory_format | None:
    """The layout a training run keeps its network and batches in (None: PyTorch's own).

    Channels-last for 3D float32 training on the CPU: a step of the default 3D U-Net
    (batch 2 x 32 x 64 x 64) took 653 ms instead of 1,116 ms on an AVX2 CPU without native
    bf16, where ``precision='auto'`` trains in float32 (docs/benchmarks.md). In 2D it was
    slower (359 against 330 ms), so 2D float32 on the CPU keeps PyTorch's layout. bf16
    training, which ``'auto'`` picks on CPUs with native bf16, runs channels-last: on a
    Zen 4 core pair a new model's step (validation included) took 80 instead of 121 ms in
    2D and 571 instead of 1,043 ms in 3D. On CUDA (an H200) channels-last was faster in
    every case: 2D 37 -> 27 ms per step in bf16 (48 -> 28 in float32), 3D 71 -> 43
    (70 -> 49).
    """
    if device.type not in ("cpu", "cuda"):
        return None
    if device.type == "cpu" and spatial_dims == 2 and amp_dtype is None:
        return None
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device``; a no-op for float32."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an allocator out-of-memory on any device."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in msg or "can't allocate memory" in msg or "not enough memory" in msg
    )


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes (None when it cannot be known)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        from .guards import available_memory

        return available_memory()
    return None


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity where the system says it (a
    container or `taskset` limited to 4 of 64 cores), else all the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # (macOS and Windows have no affinity call)
        return os.cpu_count() or 1


def use_thread_count(threads: int | None) -> None:
    """Take the viewer's torch thread count in a worker thread (a pool thread keeps the
    count it was started with, so a count set in the viewer since was not used: Segment
    and Fine-tune pass the count of the moment Run / Train is pressed). None: as it is."""
    if threads:
        torch.set_num_threads(int(threads))


#: One thread at a time builds a network under :func:`own_random_state`.
_RANDOM_STATE = threading.RLock()


@contextlib.contextmanager
def own_random_state(seed: int | None = None) -> Iterator[None]:
    """torch's global random numbers as the caller had them after the block: a network
    built inside (its default initialization draws from them) under ``seed``, or from
    numbers the caller never sees. One thread at a time: trainings in threads restored
    each other's state, and seeded runs were not their seed's (7 of 12; loading a model
    changed the caller's next numbers; API concurrency bash)."""
    with _RANDOM_STATE, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield
