"""Physical units of TIFF / OME axes: short names, aliases and conversions (reader and writer)."""

from __future__ import annotations

from typing import Any

_UNIT_ALIASES = {
    "pixel": "pixel",  # ImageJ writes "Pixel" (napari's units refused it: a traceback)
    "pixels": "pixel",
    "px": "pixel",
    "micron": "µm",
    "microns": "µm",
    "um": "µm",
    "\\u00b5m": "µm",
    "μm": "µm",  # Greek mu -> micro sign, the spelling OME uses
    "micrometer": "µm",
    "nanometer": "nm",
    "millimeter": "mm",
    # the rest of OME-Zarr's (NGFF's) names for lengths we convert: "meter" was no
    # length, and 0.5 nm pixels given as 5e-10 meter were dropped as no size (review)
    "picometer": "pm",
    "centimeter": "cm",
    "meter": "m",
    "kilometer": "km",
    "micrometre": "µm",
    "nanometre": "nm",
    "millimetre": "mm",
    "metre": "m",
    "inch": "in",  # ImageJ's spelling; OME's is "in"
    "inches": "in",
    "angstrom": "Å",
    # time (OME-XML's short names; OME-Zarr spells them out)
    "second": "s",
    "seconds": "s",
    "sec": "s",
    "msec": "ms",  # ImageJ's time units ("tunit") are free text: its usual spellings
    "hr": "h",
    "hrs": "h",
    "millisecond": "ms",
    "microsecond": "µs",
    "\\u00b5s": "µs",  # ImageJ escapes µ in its metadata ("\u00B5s" was no unit)
    "μs": "µs",
    "us": "µs",
    "usec": "µs",
    "nsec": "ns",
    "nanosecond": "ns",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
}
#: Time units by short name: a time axis's step, never a pixel size.
TIME_UNITS = frozenset({"s", "ms", "µs", "ns", "min", "h", "d"})
#: Length units we can turn into TIFF resolution tags (pixels per centimetre).
_CM_PER_UNIT = {
    "pm": 1e-10,
    "Å": 1e-8,
    "nm": 1e-7,
    "µm": 1e-4,
    "mm": 0.1,
    "cm": 1.0,
    "in": 2.54,
    "m": 100.0,
    "km": 1e5,  # OME's unit list has it (satellite and aerial images)
}
_SPATIAL = "ZYX"


def unit_name(unit: Any) -> str:
    """A unit as its short name: napari's pint units (``µm``) or a plain string."""
    return f"{unit:~}" if hasattr(unit, "dimensionality") else str(unit)


def common_unit(units: Any) -> str | None:
    """The one physical unit of several axes, by short name; None when the axes have
    none (``''``, ``'pixel'``) or differ. A time axis's unit (``s``) is not a length and
    is left out."""
    names = {_unit(unit_name(u)) for u in units or ()} - {"", "pixel", "px"} - TIME_UNITS
    return names.pop() if len(names) == 1 else None


def one_length_unit(scale: Any, units: Any) -> tuple[tuple[float, ...], Any]:
    """``scale`` and ``units`` with every length in the first length axis's unit (Z in µm
    beside Y, X in nm: 2 µm, 500 nm, 500 nm became 2, 500, 500 with no unit in common,
    and distances 1000 times too long). Other axes (time, channels, pixels) as they are."""
    scale = tuple(float(s) for s in scale)
    if units is None or len(units) != len(scale):  # not one unit per axis: as they are
        return scale, units
    names = [_unit(unit_name(u)) for u in units]
    lengths = [n for n in names if n in _CM_PER_UNIT]
    if len(set(lengths)) <= 1:
        return scale, units
    to = lengths[0]
    converted = tuple(_convert(s, n, to) if n in _CM_PER_UNIT else s for s, n in zip(scale, names))
    return converted, tuple(to if n in _CM_PER_UNIT else u for n, u in zip(names, units))


def to_units(values: Any, units: Any, to: Any) -> tuple[float, ...]:
    """``values`` (sizes or offsets, one per axis, in ``units``) in the units ``to``,
    axis by axis where both are lengths; other entries as they are. Both unit lists are
    aligned on the last axes (labels may have fewer axes than their image)."""
    values = tuple(float(v) for v in values)
    if not units or not to:
        return values
    src, dst = list(units)[-len(values) :], list(to)[-len(values) :]
    out = []
    for k, v in enumerate(values):
        a = _unit(unit_name(src[k])) if k < len(src) and src[k] else ""
        b = _unit(unit_name(dst[k])) if k < len(dst) and dst[k] else ""
        out.append(_convert(v, a, b) if a in _CM_PER_UNIT and b in _CM_PER_UNIT else v)
    return tuple(out)


def known_spacing(scale: Any, units: Any, axes: str | None = None) -> tuple[float, ...] | None:
    """``scale`` as a pixel size, or None when it says nothing: every entry 1 and no
    physical unit (a file without a pixel size, a layer at napari's default scale), or
    sizes known for some of the last three axes only (an OME-TIFF with PhysicalSizeX/Y but
    no PhysicalSizeZ: its Z reads 1 "pixel" beside 0.1 µm, which is no Z step). With None,
    prediction measures a stack's Z step from its objects. Lengths in several units are
    given in one (a layer's Z in µm beside Y, X in nm: its Z step was read 1000 times too
    small, and the stack squashed 16 times in Z; object-size bug bash). ``axes`` (letters,
    where known) leave time and channels out whatever their unit: a movie's time axis
    without a step reads 1 "pixel", and its 0.5 µm pixels were no size (series bash)."""
    scale, units = one_length_unit(scale, units)
    values = tuple(float(s) for s in scale)
    if all(v == 1.0 for v in values) and common_unit(units) is None:
        return None
    return None if _partly_known(units, axes) else values


def _partly_known(units: Any, axes: str | None = None) -> bool:
    """Whether the last three axes (a 3D model's volume; channels and time left out) mix
    axes with a length unit and axes in pixels: only ratios of sizes matter to
    resampling, and the ratio to a pixel axis is unknown."""
    names = [unit_name(u).strip() for u in units or ()]
    if axes is not None and len(axes) == len(names):
        names = [n for n, a in zip(names, axes) if a.upper() not in "TCS"]
    names = [_unit(n) for n in names if n and _unit(n) not in TIME_UNITS][-3:]
    pixels = [n in ("pixel", "px") for n in names]
    return any(pixels) and not all(pixels)


def length_unit(unit: Any) -> str | None:
    """A length unit's short name whatever its spelling (``microns``, Greek ``μm``,
    ``micrometre``: ``µm``; ``inch``: ``in``), or None for no length (pixels, time,
    an unknown word)."""
    if unit is None or not str(unit_name(unit)).strip():
        return None
    short = _unit(unit_name(unit))
    return short if short in _CM_PER_UNIT else None


def convert_length(value: float, unit: str, to: str) -> float:
    """``value`` in the length unit ``unit`` (a short name) as ``to``."""
    return _convert(float(value), unit, to)


def _unit(unit: str) -> str:
    u = unit.strip()
    return _UNIT_ALIASES.get(u.lower(), u) if u else "pixel"


def _convert(value: float, unit: str, to: str) -> float:
    if unit == to or unit not in _CM_PER_UNIT or to not in _CM_PER_UNIT:
        return value
    # 12 digits: 250 nm is 0.25 µm, not 0.24999999999999997
    return float(f"{value * _CM_PER_UNIT[unit] / _CM_PER_UNIT[to]:.12g}")


#: Two pixel sizes this close (a share of the larger) are the same size.
SIZE_TOLERANCE = 0.01


def same_size(a: Any, a_unit: str | None, b: Any, b_unit: str | None) -> bool:
    """Whether pixel sizes ``a`` (in ``a_unit``) and ``b`` (in ``b_unit``) agree within
    :data:`SIZE_TOLERANCE` per axis, ``a`` converted to ``b``'s unit first (500 nm is
    0.5 µm). Sizes in units that do not convert into each other never agree."""
    if (a_unit or None) != (b_unit or None) and not (
        a_unit in _CM_PER_UNIT and b_unit in _CM_PER_UNIT
    ):
        return False
    if len(a) != len(b):
        return False
    pairs = [
        (_convert(float(x), a_unit, b_unit) if a_unit and b_unit else float(x), float(y))
        for x, y in zip(a, b)
    ]
    return all(abs(x - y) <= SIZE_TOLERANCE * max(abs(x), abs(y)) for x, y in pairs)


def time_axis(axes: str | None) -> int | None:
    """The axis of time points among axis letters (``TYX`` -> 0), or None: without a T,
    or with fewer than three axes (time and a plane). Objects and distances are measured,
    and touching objects split, inside each time point."""
    if not axes or "T" not in axes.upper() or len(axes) < 3:
        return None
    return axes.upper().index("T")
