"""What a TIFF's metadata says besides its pixels (the reader's side; the writer is
``_tiff_write``): OME-XML pixel sizes, channel names and our provenance map annotation,
ImageJ's spacing / unit / frame interval, plain resolution tags, the time step and the
position recorded with labels. :func:`napari_unetseg._io.read_image` puts them together.
"""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import tifffile

from ._tiff_write import PROVENANCE_PREFIX
from ._units import _SPATIAL, TIME_UNITS, _convert, _unit


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def ome_pixels(xml: str | None, index: int = 0) -> dict[str, Any]:
    """PhysicalSize{X,Y,Z}(+Unit) of OME image ``index`` (tifffile's series of the same
    number), and its image/channel names."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    images = [e for e in root.iter() if _local(e.tag) == "Image"]
    image = images[index] if index < len(images) else None
    if image is None:
        return {}
    pixels = next((e for e in image if _local(e.tag) == "Pixels"), None)
    names = [image.get("Name", "")]
    meta: dict[str, Any] = {}
    if pixels is not None:
        for ax in _SPATIAL:
            size = pixels.get(f"PhysicalSize{ax}")
            with contextlib.suppress(ValueError):  # not a number: no size for that axis
                if size is not None:
                    meta[ax] = (float(size), pixels.get(f"PhysicalSize{ax}Unit", "µm"))
        with contextlib.suppress(ValueError, TypeError):  # the time between frames
            meta["T"] = (float(pixels.get("TimeIncrement")), pixels.get("TimeIncrementUnit", "s"))
        channels = [c.get("Name", "") for c in pixels if _local(c.tag) == "Channel"]
        names += channels
        if all(channels):
            meta["channels"] = tuple(channels)
    meta["names"] = " ".join(names)
    provenance = _provenance(root)
    if provenance:
        meta["provenance"] = provenance
    return meta


def _provenance(root: ET.Element) -> dict[str, Any]:
    """The ``unetseg:*`` entries of the OME map annotations (JSON objects/lists decoded)."""
    out: dict[str, Any] = {}
    for element in root.iter():
        key = element.get("K", "") if _local(element.tag) == "M" else ""
        if key.startswith(PROVENANCE_PREFIX):
            value: Any = element.text or ""
            if value.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            out[key[len(PROVENANCE_PREFIX) :]] = value
    return out


def _resolution(page: Any) -> tuple[float, float] | None:
    """(Y, X) pixel size from the resolution tags, in the tags' own unit."""
    try:
        xr = page.tags["XResolution"].value
        yr = page.tags.get("YResolution", page.tags["XResolution"]).value
    except KeyError:
        return None
    px = [r[1] / r[0] if r[0] else 0.0 for r in (yr, xr)]
    if min(px) <= 0:
        return None
    return px[0], px[1]


def recorded_position(
    provenance: dict[str, Any] | None, ndim: int, channel_axis: int | None
) -> tuple[dict[str, Any], tuple[float, ...] | None]:
    """The provenance without ``translate``, and that translation (where our writer
    recorded the image's first pixel: napari's ``translate``) when it fits the axes."""
    provenance = dict(provenance or {})
    value = provenance.pop("translate", None)
    try:
        shift = [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return provenance, None
    if channel_axis is not None and len(shift) == ndim - 1:
        shift.insert(channel_axis, 0.0)  # recorded without the channels
    ok = len(shift) == ndim and all(np.isfinite(shift))
    return provenance, tuple(shift) if ok else None


def time_step(tif: Any, ome: dict[str, Any]) -> tuple[float, str] | None:
    """The time between frames and its unit: OME's ``TimeIncrement`` or ImageJ's
    ``finterval`` (seconds); None when the file records none (or 0)."""
    step = ome.get("T")
    if step is None and tif.is_imagej:
        with contextlib.suppress(ValueError, TypeError):
            step = (float(tif.imagej_metadata.get("finterval")), "s")
    if step is None or not step[0] > 0 or not np.isfinite(step[0]):
        return None
    unit = _unit(str(step[1]))
    return (step[0], unit) if unit in TIME_UNITS else None


def with_time_step(
    axes: str,
    scale: tuple[float, ...],
    units: tuple[str, ...] | None,
    channel_axis: int | None,
    step: tuple[float, str],
) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """``scale`` and ``units`` with the time axis's step (the other axes as they were)."""
    t = axes.index("T")
    if units is None:
        units = tuple("" if i == channel_axis else "pixel" for i in range(len(axes)))
    scale = scale[:t] + (step[0],) + scale[t + 1 :]
    return scale, units[:t] + (step[1],) + units[t + 1 :]


def pixel_sizes(tif: Any, series: Any, ome: dict[str, Any]) -> tuple[dict[str, float], str]:
    """Pixel size per spatial axis letter (only those declared) and their unit."""
    spatial = {a: v for a, v in ome.items() if a in _SPATIAL}
    if spatial.keys() & {"X", "Y"} and not spatial.keys() >= {"X", "Y"}:
        # one of X / Y given (some writers give PhysicalSizeX only): square pixels
        given = spatial.get("X") or spatial["Y"]
        spatial.setdefault("X", given)
        spatial.setdefault("Y", given)
    if spatial:
        unit = _unit(next(iter(spatial.values()))[1])
        # OME may give each axis its own unit; express them all in the first one's.
        return {a: _convert(s, _unit(u), unit) for a, (s, u) in spatial.items()}, unit
    page = series.keyframe
    res = _resolution(page)
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij:
        unit = _unit(str(ij.get("unit", "pixel")))
        sizes: dict[str, float] = {}
        if res is not None and res != (1.0, 1.0):
            sizes.update(Y=res[0], X=res[1])
        if ij.get("spacing") and "Z" in series.axes:
            sizes["Z"] = float(ij["spacing"])
        if sizes and unit != "pixel":
            return sizes, unit
        return {}, "pixel"
    if res is not None and page.resolutionunit == tifffile.RESUNIT.CENTIMETER:
        return {"Y": res[0] * 1e4, "X": res[1] * 1e4}, "µm"
    return {}, "pixel"
