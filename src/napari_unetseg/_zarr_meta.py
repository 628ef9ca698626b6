"""How napari-unetseg's OME-Zarr output is described: the NGFF format of a version, the
axes metadata, the options of each array it writes (zarr v3 arrays name their dimensions,
as NGFF 0.5 requires) and the shapes of the pyramid levels. No zarr, no torch at import.
"""

from __future__ import annotations

from typing import Any

#: OME's names for our short unit spellings.
_OME_UNITS = {
    "µm": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "km": "kilometer",
    "pm": "picometer",
    "Å": "angstrom",
    "in": "inch",
    "s": "second",
    "ms": "millisecond",
    "µs": "microsecond",
    "ns": "nanosecond",
    "min": "minute",
    "h": "hour",
    "d": "day",
}
#: ... and back: a unit already spelled as OME spells it.
_FROM_OME = {ome: short for short, ome in _OME_UNITS.items()}
_AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


def _format(version: str) -> Any:
    from ome_zarr.format import FormatV04, FormatV05

    return FormatV05() if str(version) == "0.5" else FormatV04()


def _array_options(version: str, axes: str, ndim: int) -> dict[str, Any]:
    """``create_array`` options of an ``ndim``-dimensional array in a store of NGFF
    ``version`` whose image has ``axes``: zarr v2 chunk keys with "/" (NGFF 0.4, whose
    arrays name no dimensions: ome-zarr-py writes no ``_ARRAY_DIMENSIONS`` either); for
    zarr v3 the axes' names as ``dimension_names``, which NGFF 0.5 requires of every
    array of a multiscale (given to any array with one dimension per axis)."""
    if _format(version).zarr_format == 2:
        return {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
    if len(axes) != ndim:  # a bookkeeping list (e.g. of object names), no image axes
        return {}
    return {"dimension_names": [entry["name"] for entry in _axes_metadata(axes, None)]}


def _axes_metadata(axes: str, units: tuple[str, ...] | None) -> list[dict[str, str]]:
    """NGFF ``axes`` entries (name, type, unit) for axis letters and our unit names."""
    out = []
    for i, a in enumerate(axes):
        entry = {"name": a.lower() if a in _AXIS_TYPES else f"q{i}"}
        if a in _AXIS_TYPES:
            entry["type"] = _AXIS_TYPES[a]
        unit = _short_unit(units[i]) if units is not None else None
        if unit in _OME_UNITS and a in "TZYX":
            entry["unit"] = _OME_UNITS[unit]
        out.append(entry)
    return out


def _short_unit(unit: Any) -> str | None:
    """A unit by our short name, however it was spelled: "um", "micron", "micrometer"
    and napari's pint units are all "µm" (only "µm" itself had been written; the others
    left the axes without a unit)."""
    if unit is None:
        return None
    from ._units import _unit, unit_name

    short = _unit(unit_name(unit))
    return _FROM_OME.get(short.lower(), short)


def check_axes(axes: str, units: tuple[str, ...] | None, version: str = "0.4") -> None:
    """Raise a one-sentence ValueError when OME-Zarr (ome-zarr-py's rules for NGFF
    ``version``) cannot describe these axes: checked before a store is made, so that no
    prediction is computed into a store that could not be finished."""
    from ome_zarr.axes import Axes

    try:
        Axes(_axes_metadata(axes, units), fmt=_format(version)).validate()
    except ValueError as exc:
        raise ValueError(
            f"OME-Zarr cannot describe an image of axes {axes} ({exc}); write a TIFF "
            "instead (--output OUT.tif) or segment one channel or time point of it."
        ) from None


def pyramid_shapes(
    shape: tuple[int, ...], axes: str, min_size: int = 256, max_levels: int = 6
) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels: Y and X halved per level until they fit ``min_size``."""
    shapes = [tuple(shape)]
    yx = [i for i, a in enumerate(axes) if a in "YX"]
    while len(shapes) < max_levels and max(shapes[-1][i] for i in yx) > min_size:
        prev = shapes[-1]
        shapes.append(tuple(-(-s // 2) if i in yx else s for i, s in enumerate(prev)))
    return shapes


def level_step(bigger: tuple[int, ...], smaller: tuple[int, ...]) -> tuple[int, ...]:
    """The whole factor each axis shrinks by from one pyramid level to the next (2 for a
    halved axis, odd lengths rounded either way; 1 for a kept one)."""
    return tuple(max(1, round(b / s)) if s else 1 for b, s in zip(bigger, smaller))


def levels_like(
    image_shapes: list[tuple[int, ...]], shape: tuple[int, ...]
) -> list[tuple[int, ...]] | None:
    """Shapes for labels of ``shape`` that follow their image's pyramid (NGFF: the labels
    of an image have as many levels as it): the image's levels (without their channel
    axis) from the one of the labels' shape on, or None where the image's levels are not
    each the one before shrunk by whole factors (the labels then get their own pyramid,
    :func:`pyramid_shapes`)."""
    shapes = [tuple(int(n) for n in s) for s in image_shapes]
    if tuple(shape) not in shapes:
        return None
    picked = shapes[shapes.index(tuple(shape)) :]
    for bigger, smaller in zip(picked, picked[1:]):
        if len(bigger) != len(smaller):
            return None
        for b, s, f in zip(bigger, smaller, level_step(bigger, smaller)):
            if s not in (b // f, -(-b // f)):
                return None
    return picked
