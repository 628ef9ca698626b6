"""A new model's fixed intensity range (a CT window in Hounsfield units), instead of each
image's percentiles: how it is written in a model's normalization (the ``"ops"`` mode's
``scale_linear`` + ``clip``, which a bioimage.io export writes as they are), read back,
put in words, and checked against an image.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .guards import user_level
from .normalize import PERCENTILE_CLIP, checked_axis, strided_sample


def fixed_range(value: Any) -> dict[str, Any]:
    """The normalization of a fixed intensity range ``(low, high)`` (a CT window in
    Hounsfield units, a calibrated quantity): low to 0, high to 1, values beyond clipped,
    the same for every image, whatever else it holds. Per-image percentiles made a CT's
    labels depend on its field of view: padding a scan with air halved its 99.8th
    percentile, and 51 % of the voxels changed label (medical bash). Written as the
    ``"ops"`` mode's bioimage.io operations (``scale_linear`` then ``clip``), which an
    export writes as they are. One-sentence ValueError for a range that is not two
    finite numbers, low below high."""
    try:
        lo, hi = value
        if isinstance(lo, (bool, str)) or isinstance(hi, (bool, str)):
            raise TypeError
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"intensity_range is two numbers, low and high; got {value!r}.") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(
            f"intensity_range must be two finite numbers, low below high; got {lo:g} and {hi:g}."
        )
    with np.errstate(all="ignore"):  # a span float32 cannot scale by (1e-320, 1e308)
        gain, offset = np.float32(1.0 / (hi - lo)), np.float32(-lo / (hi - lo))
        span = np.float32(hi - lo)  # (3e38 wide: the export's test image overflowed)
    if not (np.isfinite(gain) and gain > 0 and np.isfinite(offset) and np.isfinite(span)):
        raise ValueError(
            f"intensity_range {range_text(lo, hi)} spans too much or too little to scale (the "
            "span must be a number that float32 can divide by)."
        )
    return {
        "mode": "ops",
        "per_channel": True,
        "range": [lo, hi],  # as given (the ops' gain and offset round it)
        "ops": [
            {"op": "scale_linear", "gain": 1.0 / (hi - lo), "offset": -lo / (hi - lo)},
            {"op": "clip", "min": 0.0, "max": 1.0},
        ],
    }


#: A fixed range that holds less than this share of an image's values (of a channel's)
#: is refused: everything else is clipped to 0 or 1.
MIN_IN_RANGE = 0.01


def check_in_range(image: Any, value: Any, channel_axis: int | None = None) -> None:
    """Refuse (one sentence) a fixed range that holds almost none of the image's values
    (:func:`outside_range`): the model would learn from an image clipped to one value,
    e.g. a CT window over stored values that lack their rescale intercept (a constant
    image at -1024 trained without a word; review)."""
    said = outside_range(image, value, channel_axis)
    if said is not None:
        raise ValueError(
            f"{said}: everything else would be clipped; give a range of its values (a CT's "
            "values in Hounsfield units)."
        )


def say_outside_range(
    image: Any, normalization: dict[str, Any], model: str, channel_axis: int | None = None
) -> None:
    """Warn where a model of a fixed intensity range gets an image whose values lie
    almost all outside it: every pixel reaches the network as one value (a CT model on
    stored values without their rescale intercept, or on a microscopy image). ``model``:
    its name, for the words."""
    fixed = intensity_range_of(normalization)
    said = None if fixed is None else outside_range(image, fixed, channel_axis)
    if said is not None:
        warnings.warn(
            f"{said}, the range model {model!r} keeps: nearly every pixel reaches it "
            "as 0 or 1; check the image's values (a CT's in Hounsfield units).",
            UserWarning,
            stacklevel=user_level(),
        )


def outside_range(image: Any, value: Any, channel_axis: int | None = None) -> str | None:
    """The words for a fixed range that holds under :data:`MIN_IN_RANGE` of the image's
    (or a channel's) values, read from a strided sample, else None."""
    lo, hi = fixed_range(value)["range"]
    sample = strided_sample(image).astype(np.float64, copy=False)
    if channel_axis is not None:
        sample = np.moveaxis(sample, checked_axis(channel_axis, sample.shape), 0)
    rows = sample.reshape(len(sample) if channel_axis is not None else 1, -1)
    for c, row in enumerate(rows):
        finite = row[np.isfinite(row)]
        inside = float(np.mean((finite >= lo) & (finite <= hi))) if finite.size else 0.0
        if inside < MIN_IN_RANGE:
            of = f"channel {c} of the image" if channel_axis is not None else "the image"
            span = f"{finite.min():g} to {finite.max():g}" if finite.size else "none finite"
            return (
                f"The intensity range {range_text(lo, hi)} holds {inside:.1%} of the values of "
                f"{of} (they are {span})"
            )
    return None


def range_text(low: float, high: float) -> str:
    """``"-1024 to 3000"``: a fixed range in full where it is of ordinary size (``:g``
    wrote 1234567.5 as 1.23457e+06, another range; review)."""

    def plain(v: float) -> str:
        v = float(v)
        ordinary = v == 0 or 1e-4 <= abs(v) < 1e12
        return np.format_float_positional(v, trim="-") if ordinary else f"{v:g}"

    return f"{plain(low)} to {plain(high)}"


def intensity_range_of(norm: dict[str, Any]) -> tuple[float, float] | None:
    """The fixed range of a :func:`fixed_range` normalization, else None."""
    ops = norm.get("ops") if norm.get("mode") == "ops" else None
    if not ops or len(ops) != 2 or [op.get("op") for op in ops] != ["scale_linear", "clip"]:
        return None
    gain, offset = ops[0].get("gain"), ops[0].get("offset")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (gain, offset))
    if not numbers or not 0 < gain < float("inf"):  # (a negative gain is no range)
        return None
    if (ops[1].get("min"), ops[1].get("max")) != (0.0, 1.0):
        return None
    low = -offset / gain
    high = low + 1.0 / gain
    given = norm.get("range")  # as typed (the gain and offset round it), when it agrees
    if isinstance(given, (list, tuple)) and len(given) == 2:
        if np.allclose([float(given[0]), float(given[1])], [low, high], rtol=1e-6, atol=0):
            return float(given[0]), float(given[1])
    return low, high


def describe_normalization(norm: dict[str, Any]) -> str:
    """A model's input normalization in a few words (``unetseg info``)."""
    fixed = intensity_range_of(norm)
    if fixed is not None:
        return f"the fixed range {range_text(*fixed)} mapped to 0 to 1, clipped"
    mode = norm.get("mode")
    if mode == "none":
        return "none (values as they are)"
    if mode == "ops":
        steps = ", ".join(str(op.get("op")) for op in norm.get("ops") or [])
        return f"bioimage.io preprocessing ({steps})"
    each = "each channel" if norm.get("per_channel", True) else "all channels together"
    return (
        f"percentiles {float(norm['low']):g} to {float(norm['high']):g} of each image "
        f"({each}) mapped to 0 to 1, clipped at {PERCENTILE_CLIP[0]:g} and {PERCENTILE_CLIP[1]:g}"
    )
