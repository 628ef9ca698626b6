"""Checks that run before anything large is allocated (numpy only; see docs/reliability.md).

- **Image values**: :func:`check_image_dtype` refuses data that is not real numbers
  (complex, text, objects); :func:`finite_policy` applies the NaN / Inf policy to the
  values read for the normalization statistics: an image without a single finite value
  is refused, some non-finite values give a :class:`NonFiniteWarning` (they are left out
  of the statistics, filled from their nearest finite pixels for the network, and
  labelled background).
- **Class limit**: :func:`check_class_count` refuses label ids that would ask for more
  than :data:`MAX_CLASSES` classes (a stray id like 60000 is not a plan of 59,999
  classes), before a model is built.
- **Memory**: :func:`training_bytes`, :func:`prediction_bytes` and
  :func:`evaluation_bytes` estimate the peak memory of a run; :func:`check_memory`
  refuses with :class:`MemoryGuardError` (a ``MemoryError`` with one sentence) when it
  exceeds what the machine has, instead of letting the operating system kill the
  process. The available bytes come from the caller (e.g. the device's free memory) or,
  for the CPU, from :func:`available_memory` (``/proc/meminfo``, else ``os.sysconf``).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAX_CLASSES",
    "MemoryGuardError",
    "NonFiniteWarning",
    "available_memory",
    "check_class_count",
    "check_image_dtype",
    "check_memory",
    "evaluation_bytes",
    "finite_policy",
    "fmt_bytes",
    "prediction_bytes",
    "training_bytes",
]

#: Most output classes a model may be trained for. Semantic segmentation of biological
#: and medical images uses a handful (a brain atlas a few hundred at most); a label id
#: beyond this is an instance mask or a stray stroke, not a plan of classes.
MAX_CLASSES = 1024

#: Full-resolution feature maps a U-Net level keeps per channel of its width during a
#: forward pass (conv, norm and activation outputs of two convolutions, the skip copy,
#: the up-sampled and concatenated maps of the decoder).
_MAPS_PER_LEVEL = 14
#: Tensors of output size a training step holds at once (logits, probabilities, their
#: gradient; the loss's one-hot target).
_HEAD_TENSORS = 4


class MemoryGuardError(MemoryError):
    """A run that would need more memory than the machine has (one sentence)."""


class NonFiniteWarning(UserWarning):
    """An image holds NaN or infinite values (they are handled as documented)."""


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop always returns


def available_memory() -> int | None:
    """Bytes of RAM available to a new allocation without swapping (None: unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str, available: int | None = None, hint: str = "") -> None:
    """Refuse a run that needs more than ``available`` bytes (default: free RAM).

    Parameters
    ----------
    needed : int
        Estimated peak bytes of the run.
    what : str
        The run, capitalized, e.g. ``"Training"``; starts the sentence.
    available : int, optional
        Bytes the run may use (a device's free memory); RAM when omitted. Unknown
        (None from :func:`available_memory`): nothing is checked.
    hint : str
        What the user can do, appended to the sentence.

    Raises
    ------
    MemoryGuardError
        With one sentence naming both figures.
    """
    if available is None:
        available = available_memory()
    if available is None or needed <= available:
        return
    raise MemoryGuardError(
        f"{what} would need about {fmt_bytes(needed)} of memory but only "
        f"{fmt_bytes(available)} is available{'; ' + hint if hint else ''}."
    )


# -- image values ----------------------------------------------------------------------------
def check_image_dtype(dtype: Any, what: str = "The image") -> None:
    """Refuse data that is not real numbers (complex, text, objects, dates).

    Complex images are refused rather than silently reduced to their real part: whether
    the magnitude, the phase or the real part is meant is the user's choice.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(
            f"{what} is complex-valued ({dtype}); convert it to real numbers first "
            "(e.g. its magnitude with numpy.abs)."
        )
    if dtype.kind not in "biuf":
        raise ValueError(f"{what} has data of type {dtype}; numbers are needed.")


def _percent(share: float) -> str:
    """A share as a percentage of two significant digits, never in e-notation ("1e+02%"
    was 99.99 %): 0.0012%, 3.4%, 99.99%."""
    pct = 100.0 * share
    if pct >= 99.0 and share < 1.0:
        return f"{min(pct, 99.99):.2f}%"
    return f"{pct:.2g}%" if pct < 10 else f"{pct:.0f}%"


def finite_policy(sample: np.ndarray, what: str = "The image") -> np.ndarray:
    """Apply the NaN / Inf policy to values read for the normalization statistics.

    Returns the finite values. Raises ValueError when there are none (an all-NaN image
    has nothing to segment); warns (:class:`NonFiniteWarning`) when some are NaN or
    infinite: they are left out of the statistics, the network sees them filled from
    their nearest finite pixels (``normalize.fill_nearest``), and their labels are
    background (``sizing.predict_framed``).
    """
    sample = np.asarray(sample)
    if sample.dtype.kind not in "fc":
        return sample
    finite = np.isfinite(sample)
    n_bad = int(sample.size - np.count_nonzero(finite))
    if not n_bad:
        return sample
    if n_bad == sample.size:
        raise ValueError(
            f"{what} has no finite values (all NaN or infinite), so there is nothing to "
            "segment or learn from."
        )
    warnings.warn(
        f"{what} has NaN or infinite values ({_percent(n_bad / sample.size)} of the "
        "values sampled): they are left out of the normalization and treated as "
        "background.",
        NonFiniteWarning,
        stacklevel=user_level(),  # (it named core/scale.py, deep inside; API bug bash)
    )
    return sample[finite]


def user_level() -> int:
    """The ``stacklevel`` that names the first caller outside this package (a warning
    said at the user's line, whether they called predict, segment or segment_iter)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def ours(frame: Any) -> bool:  # (a dataclass's generated __init__ is "<string>")
        name = frame.f_code.co_filename
        if name == "<string>" and frame.f_back is not None:
            return os.path.abspath(frame.f_back.f_code.co_filename).startswith(package)
        return os.path.abspath(name).startswith(package)

    frame, level = sys._getframe(1), 1
    while frame is not None and ours(frame):
        frame, level = frame.f_back, level + 1
    return level


# -- classes ---------------------------------------------------------------------------------
def dtype_of(array: Any) -> np.dtype:
    """The data type of an array-like without reading it (numpy, dask, zarr, lists):
    ``getattr(x, "dtype", np.asarray(x).dtype)`` read a whole lazy array for its default
    (every chunk of an image written from a session, twice; GUI-thread bash)."""
    dtype = getattr(array, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(array).dtype


def check_id_range(chunk: np.ndarray, name: str = "labels") -> None:
    """Refuse label ids of 2**63 or more (whole-number floats or uint64), which int64
    turns into negative numbers: training then said "negative values
    (-9223372036854775803)" of a uint64 id (training fuzz bash).

    Raises
    ------
    ValueError
        Naming the largest value; ``chunk`` holds finite whole numbers (checked before).
    """
    if not chunk.size:
        return
    if chunk.dtype.kind == "f" and np.abs(chunk).max() >= 2.0**63:
        top = f"a value of {chunk.flat[np.abs(chunk).argmax()]:.3g}"  # -1e20 with its sign
    elif chunk.dtype == np.uint64 and chunk.max() >= 2**63:
        top = f"a label id of 2**63 or more ({int(chunk.max())})"
    else:
        return
    raise ValueError(f"There is {top} in the {name}; label ids must be below 2**63.")


def check_class_count(n_classes: int, top_label: int, mode: str, limit: int = MAX_CLASSES) -> None:
    """Refuse labels whose ids ask for more than ``limit`` classes.

    ``top_label`` is the largest label value, named in the sentence; ``mode`` the label
    mode (``'sparse'`` scribbles or ``'dense'`` masks), which decides the advice.
    """
    if n_classes <= limit:
        return
    advice = (
        "repaint it with a smaller label, or use dense mode if the layer holds object "
        "masks (one id per object)"
        if mode == "sparse"
        else "if it holds one id per object, train one foreground class (leave the class "
        "count unset)"
    )
    raise ValueError(
        f"The labels contain the value {top_label}, which would ask for {n_classes:,} "
        f"classes (at most {limit:,}): {advice}."
    )


# -- memory estimates ------------------------------------------------------------------------
def _unet_feature_values(
    spatial: Sequence[int], base_channels: int, depth: int, spatial_dims: int
) -> int:
    """Feature-map values one U-Net forward pass holds for one input of ``spatial``."""
    voxels = math.prod(int(s) for s in spatial)
    total = 0
    for level in range(int(depth)):
        width = int(base_channels) * 2**level
        total += _MAPS_PER_LEVEL * width * voxels // (2 ** (level * spatial_dims))
    return total


def training_bytes(
    patch: Sequence[int],
    batch: int,
    n_classes: int,
    *,
    base_channels: int,
    depth: int,
    in_channels: int = 1,
    n_parameters: int = 0,
) -> int:
    """Peak bytes of a training step: activations kept for the backward pass, the output
    tensors (classes x patch voxels x batch), the batch itself, and the weights with
    their gradients and Adam moments (float32 throughout, an upper bound under autocast).

    Measured on the CPU (torch 2.13, U-Nets of depth 4) it is 1.2 to 1.9 times the
    growth of the peak resident memory of a step: a margin, not a refusal of runs that fit.
    """
    sd = len(patch)
    voxels = math.prod(int(p) for p in patch)
    features = _unet_feature_values(patch, base_channels, depth, sd)
    head = _HEAD_TENSORS * max(2, int(n_classes)) * voxels
    inputs = (int(in_channels) + 2) * voxels  # image, labels, mask
    per_sample = features + head + inputs
    return 4 * (int(batch) * per_sample + 4 * int(n_parameters))


def prediction_bytes(
    output_voxels: int,
    tile: Sequence[int],
    batch: int,
    n_classes: int,
    *,
    base_channels: int,
    depth: int,
    band_voxels: int,
    label_bytes: int = 1,
    maps: int = 0,
    write_labels: bool = True,
    in_channels: int = 1,
) -> tuple[int, int]:
    """Peak bytes of a tiled prediction as ``(host, device)``.

    Host: the labels (unless written into a given ``out``), ``maps`` float32 image-sized
    maps (probabilities, uncertainty) and the reader's float32 buffers: the band being
    read and normalized, one more band (tiles cut on a GPU keep their bands until the
    device has them) and three batches of tiles (two queued, one running). Device: the
    blending accumulators (``(n_classes + 1) x band_voxels``) and one batch of tiles
    through the network (no gradients: half the maps a training step keeps). On the CPU
    both are RAM.
    """
    sd = len(tile)
    features = _unet_feature_values(tile, base_channels, depth, sd) // 2
    tiles = int(batch) * 4 * (features + 2 * max(2, int(n_classes)) * math.prod(tile))
    accumulators = 4 * (max(1, int(n_classes)) + 1) * int(band_voxels)
    images = int(output_voxels) * ((label_bytes if write_labels else 0) + 4 * int(maps))
    reader = 4 * int(in_channels) * (2 * int(band_voxels) + 3 * int(batch) * math.prod(tile))
    return images + reader, tiles + accumulators


#: Bytes an evaluation needs besides its arrays (dask's chunks in flight, the counting
#: pass's buffers): 130-240 MiB measured for voxel counts of 4 to 67 million pixels.
EVALUATION_OVERHEAD = 256 << 20


def evaluation_bytes(
    voxels: int, itemsizes: Sequence[int], objects: bool, errors: bool = False
) -> int:
    """Peak bytes of an evaluation: with ``objects``, both volumes in memory plus 30
    bytes a voxel for the per-class masks, connected components (int32 per side), the
    object matching and the boundaries (measured: 20-28 bytes a voxel besides the two
    uint8 volumes, 2D 6144 x 6144 and 3D 128 x 512 x 512; docs/reliability.md); voxel
    counts alone stream and need :data:`EVALUATION_OVERHEAD`. ``errors`` adds the uint8
    overlay."""
    need = EVALUATION_OVERHEAD + (int(voxels) if errors else 0)
    if objects:
        need += int(voxels) * (sum(int(i) for i in itemsizes) + 30)
    return need
