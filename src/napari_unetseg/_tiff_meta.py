"""What a TIFF's metadata says besides its pixels (the reader's side; the writer is
``_tiff_write``): OME-XML pixel sizes, channel names and our provenance map annotation,
ImageJ's spacing / unit / frame interval, plain resolution tags, the time step and the
position recorded with labels. :func:`napari_unetseg._io.read_image` puts them together.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import tifffile

from ._tiff_write import PROVENANCE_PREFIX
from ._units import _CM_PER_UNIT, _SPATIAL, TIME_UNITS, _convert, _unit


def _decimal(value: Any) -> float:
    """A number of the metadata: "0.5", or "0,5" as a German writer or a hand edit puts
    it (a Z step of "0,5" was read as 1, a PhysicalSizeX of "0,5" dropped; locale bug
    bash). ``ValueError`` / ``TypeError`` for anything else, as float's."""
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+,\d+\s*", value):
        value = value.replace(",", ".")
    return float(value)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def ome_pixels(xml: str | None, index: int = 0) -> dict[str, Any]:
    """PhysicalSize{X,Y,Z}(+Unit) of OME image ``index`` (tifffile's series of the same
    number), and its image/channel names."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:  # its pixel sizes were lost without a word (bug bash)
        warnings.warn(
            f"The file's OME-XML metadata cannot be read ({exc}): the image is read without "
            "its pixel sizes and names.",
            stacklevel=2,
        )
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
            size = (pixels.get(f"PhysicalSize{ax}") or "").strip()  # "": none given
            try:
                if size:  # an empty unit is OME's default, as a missing one
                    meta[ax] = (_decimal(size), pixels.get(f"PhysicalSize{ax}Unit") or "µm")
            except ValueError:  # said by pixel_sizes, where the file is named
                meta.setdefault("no_numbers", {})[ax] = size
        with contextlib.suppress(ValueError, TypeError):  # the time between frames
            meta["T"] = (
                _decimal(pixels.get("TimeIncrement")),
                pixels.get("TimeIncrementUnit", "s"),
            )
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
    return tidy(px[0]), tidy(px[1])


def tidy(value: float) -> float:
    """``value`` to 12 significant digits: sizes from ratios of integers (resolution
    tags, pyramid levels) then read 0.65 and 0.4, not 0.6499999999999999 and
    0.4000000000000001, far finer than any pixel size is known."""
    return float(f"{value:.12g}")


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
    ``finterval`` in its ``tunit`` (seconds when it gives none, as ImageJ writes no
    ``tunit`` for seconds); None when the file records none (or 0)."""
    step = ome.get("T")
    if step is None and tif.is_imagej:
        meta = tif.imagej_metadata
        with contextlib.suppress(ValueError, TypeError):
            step = (_decimal(meta.get("finterval")), str(meta.get("tunit") or "s"))
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


#: OME's units that are no length, on purpose: such sizes are no pixel sizes (said
#: nowhere, as before).
_NO_LENGTH = frozenset({"pixel", "reference frame"})


def pixel_sizes(tif: Any, series: Any, ome: dict[str, Any]) -> tuple[dict[str, float], str]:
    """Pixel size per spatial axis letter (only those declared) and their unit."""
    spatial = {a: v for a, v in ome.items() if a in _SPATIAL}
    for axis, text in ome.get("no_numbers", {}).items():
        # X="abc" beside a Y of 0.5 µm took Y's size without a word (fuzzing bash)
        planes = axis in "XY"
        warnings.warn(
            f"{tif.filehandle.name}: its OME PhysicalSize{axis} {text!r} is no number; "
            + ("the image is read without pixel sizes." if planes else "the Z step is unknown."),
            UserWarning,
            stacklevel=4,
        )
        if planes:
            return {}, "pixel"
    if spatial.keys() & {"X", "Y"} and not spatial.keys() >= {"X", "Y"}:
        # one of X / Y given (some writers give PhysicalSizeX only): square pixels
        given = spatial.get("X") or spatial["Y"]
        spatial.setdefault("X", given)
        spatial.setdefault("Y", given)
    # Sizes in a unit that is no length ("pixel", "reference frame") are no sizes: X / Y
    # in pixels beside Z in µm were read as µm (TIFF bug bash).
    lengths = {a: (s, u) for a, (s, u) in spatial.items() if _unit(u) in _CM_PER_UNIT}
    unknown = {str(u) for _, u in spatial.values() if _unit(u) not in {*_CM_PER_UNIT, *_NO_LENGTH}}
    if unknown or len(lengths.keys() & {"X", "Y"}) == 1:
        # X in "furlong" beside Y in µm was left out without a word: pixels 2:1 (fuzzing)
        if unknown:
            warnings.warn(
                f"{tif.filehandle.name}: its OME unit {', '.join(map(repr, sorted(unknown)))} "
                "is no length napari-unetseg knows; the image is read without pixel sizes.",
                UserWarning,
                stacklevel=4,
            )
        return {}, "pixel"
    # (and a Z step in µm beside planes of no size is no voxel size either)
    spatial = lengths if lengths.keys() & {"X", "Y"} or not spatial.keys() & {"X", "Y"} else {}
    if spatial:
        unit = _unit(next(iter(spatial.values()))[1])
        # OME may give each axis its own unit; express them all in the first one's.
        return {a: _convert(s, _unit(u), unit) for a, (s, u) in spatial.items()}, unit
    page = series.keyframe
    res = _resolution(page)
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij:
        return _imagej_sizes(ij, res, series.axes)
    if res is not None and page.resolutionunit == tifffile.RESUNIT.CENTIMETER:
        return {"Y": tidy(res[0] * 1e4), "X": tidy(res[1] * 1e4)}, "µm"
    return {}, "pixel"


def _imagej_sizes(
    ij: dict[str, Any], res: tuple[float, float] | None, axes: str
) -> tuple[dict[str, float], str]:
    """Pixel sizes of an ImageJ file: X / Y from the resolution tags, Z from ``spacing``,
    in ``unit`` (Y in ``yunit`` and Z in ``zunit`` where ImageJ wrote them, converted:
    a Z of 500 nm beside X in µm was read as 500 µm). An axis without its value is 1
    unit, as ImageJ itself reads it (it writes no ``spacing`` for a voxel depth of 1, and
    resolution tags of 1 for 1 unit per pixel), once a unit is given: a Z of 1 "pixel"
    beside X / Y in µm would be no Z step. A stack that says ``images=`` and no
    ``slices=`` (tifffile's axis I) takes ``spacing`` as ImageJ does, as its Z step.
    Inches are ImageJ's unit for a picture's dots per inch (72 dpi from a JPEG or a
    screenshot), a print setting like a plain TIFF's dpi, so they give no pixel size."""
    unit = _unit(str(ij.get("unit", "pixel")))
    if "Z" not in axes:
        axes = axes.replace("I", "Z")  # read as Z (_tiff_read._normalize_axes)
    sizes: dict[str, float] = {}
    if res is not None and (res != (1.0, 1.0) or unit not in ("pixel", "in")):
        sizes.update(Y=res[0], X=res[1])
    with contextlib.suppress(ValueError, TypeError):  # not a number: no Z size
        if ij.get("spacing") is not None and "Z" in axes:  # 0 too: said, not 1
            sizes["Z"] = _decimal(ij["spacing"])
    if not sizes or unit == "in" or unit not in _CM_PER_UNIT:
        return {}, "pixel"  # "pixel", "a.u." or a lone "µ": no length, no pixel size
    for axis, key in (("Y", "yunit"), ("Z", "zunit")):
        own = _unit(str(ij.get(key) or unit))
        if axis in sizes and own != unit:
            sizes[axis] = _convert(sizes[axis], own, unit)
    return {a: sizes.get(a, 1.0) for a in _SPATIAL if a in axes}, unit


def planes_said(tif: Any) -> str | None:
    """What a TIFF's own metadata says its image holds, in words ("its ImageJ metadata
    says 16 images"), for the message about a file whose pages end before that; None
    when it says nothing we can count (OME-XML is written at a file's end, so a cut
    file has lost it)."""
    if tif.is_imagej and tif.imagej_metadata and tif.imagej_metadata.get("images"):
        return f"its ImageJ metadata says {tif.imagej_metadata['images']} images"
    shaped = tif.shaped_metadata if tif.is_shaped else None
    if shaped and shaped[0].get("shape"):
        size = " x ".join(str(n) for n in shaped[0]["shape"])
        return f"its description says an image of {size} pixels"
    return None
