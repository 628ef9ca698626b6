"""TIFF / OME-TIFF reading (no torch, no napari): the image series, its pyramid level,
axes, pixel sizes (:mod:`napari_unetseg._tiff_meta`), lazily over tifffile's zarr store
when large, and one sentence for a file that cannot be read, including one whose damage
tifffile only logs. :func:`napari_unetseg._io.read_image` hands TIFF paths here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ._tiff_meta import (
    ome_pixels,
    pixel_sizes,
    planes_said,
    recorded_position,
    tidy,
    time_step,
    with_time_step,
)
from .core.files import missing_file


class TiffReadError(ValueError):
    """A file that is not a readable TIFF (a ``ValueError`` with one clear sentence)."""


def _tiff_header(path: Path) -> bool:
    """Whether a file starts as a TIFF does (classic or BigTIFF, either byte order)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head[:2] in (b"II", b"MM") and head[2:4] in (b"*\x00", b"\x00*", b"+\x00", b"\x00+")


def tiff_provenance(path: str | os.PathLike) -> Any:
    """The provenance a TIFF's OME metadata records (None without), from its header, the
    file closed at once (a lazy read kept it open until a garbage collection: a batch
    replacing its results held one descriptor per replaced file; leaks bug bash)."""
    with tifffile.TiffFile(path) as tif:
        return ome_pixels(_ome_xml(tif), 0).get("provenance") or None


def _not_readable(path: str | os.PathLike, reason: Any) -> TiffReadError:
    reason = str(reason).strip().rstrip(".") or type(reason).__name__
    return TiffReadError(f"{str(path)!r} is not a readable TIFF file ({reason}).")


#: The edge of the block of a lazily opened TIFF read when it is opened (a probe).
PROBE_EDGE = 512


def read_tiff(path: Path, lazy: bool | None, level: int, which: int, lazy_bytes: int) -> Any:
    """:func:`~napari_unetseg._io.read_image` of image series ``which`` of a TIFF file
    (an :class:`~napari_unetseg._io.ImageData`; lazy when ``lazy`` is None and the image
    is larger than ``lazy_bytes``)."""
    from ._io import ImageData, image_name, says_labels

    with _reading(path) as damage, tifffile.TiffFile(path) as tif:
        series_count = len(tif.series)
        series = _image_series(tif, path, which, damage)
        _say_pages_left(tif, series, path)
        chosen = _level(series, level, path)
        squeeze = _one_plane(series)
        present = _present_planes(series, chosen, squeeze, damage)
        shape = tuple(chosen.get_shape(True) if squeeze else chosen.shape)
        full = tuple(series.get_shape(True) if squeeze else series.shape)
        raw_axes = series.get_axes(True) if squeeze else series.axes
        axes = _normalize_axes(raw_axes, shape)
        guessed = bool(set(raw_axes) & set("IQ"))  # tifffile's unknown axes, named here
        dtype = np.dtype(series.dtype)
        ome_meta = ome_pixels(_ome_xml(tif), which)
        sizes, unit = pixel_sizes(tif, series, ome_meta)
        step = time_step(tif, ome_meta)
        sizes = _level_sizes(sizes, axes, full, shape)
        ome_names = ome_meta.get("names", "")
        channel_names = ome_meta.get("channels") or None
        rgb = series.keyframe.photometric == tifffile.PHOTOMETRIC.RGB
        alpha = _grey_alpha(series.keyframe, axes)
        if lazy is None:
            lazy = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > lazy_bytes
        data = None if lazy else chosen.asarray(squeeze=squeeze or None)
        if present is not None:
            data = None if data is None else data[present]
            shape = (*shape[: len(present) - 1], present[-1].stop, *shape[len(present) :])
            if channel_names and axes[len(present) - 1] == "C":
                channel_names = channel_names[: present[-1].stop]
    if which == 0:
        _say_other_series(series_count, path, shape)
    if lazy:
        with _reading(path, say_planes=False):
            data = _open_lazy(path, level, which, squeeze)
            data = data if present is None else data[present]
            # the middle of the middle plane, which napari shows first: a file whose
            # pixel data are damaged is one sentence here, not a codec's traceback out of
            # napari's first draw (nor a lazy image `unetseg info` calls fine); at most
            # PROBE_EDGE pixels a side (a whole-slide plane is gigabytes), read in this
            # thread (a dask client about, e.g. on a cluster's worker, would be handed
            # tifffile's store, which it cannot send)
            middle = tuple(n // 2 for n in data.shape[:-2]) + tuple(
                slice(max(0, n // 2 - PROBE_EDGE // 2), n // 2 + PROBE_EDGE // 2)
                for n in data.shape[-2:]
            )
            data[middle].compute(scheduler="synchronous")
    if data.shape != shape:  # tifffile squeezes consistently; guard against surprises
        raise _not_readable(path, f"its data shape {data.shape} differs from its header {shape}")
    order = _samples_last(axes, rgb)
    file_axes = None
    if order is not None:
        file_axes = axes  # the order --axes names (a numpy array's SYX, not our YXS)
        data, axes = data.transpose(order), "".join(axes[i] for i in order)
        shape = tuple(shape[i] for i in order)
        # 3 or 4 planes of a numpy array saved as they are: tifffile took them for RGB(A)
        # colours (a 3-frame movie was averaged to one grey plane; docs bash)
        guessed = guessed or series.kind == "shaped"

    if alpha:  # grey with alpha is its grey plane, as a PNG is (it was two channels)
        data, axes = data[..., 0], axes[:-1]
        shape = shape[:-1]
    channel_axis = _channel_axis(axes, rgb)
    scale = tuple(float(sizes.get(a, 1.0)) for a in axes)
    units = None
    if sizes:
        units = tuple(
            unit if a in sizes else ("" if i == channel_axis else "pixel")
            for i, a in enumerate(axes)
        )
    provenance, translate = recorded_position(ome_meta.get("provenance"), len(axes), channel_axis)
    if step is not None and "T" in axes:
        scale, units = with_time_step(axes, scale, units, channel_axis, step)
    name = image_name(path)
    integer = dtype.kind in "biu"
    is_labels = integer and (says_labels(name) or says_labels(ome_names))
    if channel_axis is None or channel_names is None or len(channel_names) != shape[channel_axis]:
        channel_names = None
    return ImageData(
        data,
        axes,
        scale,
        units,
        channel_axis,
        name,
        is_labels,
        channel_names=channel_names,
        provenance=provenance or None,
        translate=translate,
        axes_guessed=guessed,
        file_axes=file_axes,
    )


def check_tiff(path: str | os.PathLike) -> None:
    """Check that ``path`` opens as a TIFF with an image, reading only its headers.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    TiffReadError
        A ``ValueError`` saying in one sentence why the file is not a readable TIFF.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file(path)
    with _reading(path) as damage, tifffile.TiffFile(path) as tif:
        _image_series(tif, path, 0, damage)


#: tifffile's error for a description tag (270) whose text lies past the file's end: an
#: OME-TIFF cut short (its OME-XML is written after the pixels) read as a plain TIFF,
#: two positions as one Z stack and no pixel size, without a word (fuzzing bash)
_LOST_TEXT = "TiffTag 270 @"


def _cut_in_description(text: str) -> bool:
    """Whether tifffile's log line says the description's text lies past the file's end
    (not a description of a wrong data type, whose file reads well without it)."""
    return _LOST_TEXT in text and "invalid value offset" in text


class _Damage(logging.Filter):
    """What tifffile logs, in this thread, about a damaged file while reading it: a chain
    of pages that breaks off (a next-page offset past the file's end: a file cut short by
    a failed copy or download), metadata promising more pages than there are. tifffile
    then reads the pages before the break as the whole image, a single plane where the
    file says 16, and only logs it."""

    #: tifffile's errors (not its warnings, which come with files that read well) about
    #: the chain of pages, ImageJ data past the file's end, a shape that is not there
    _SIGNS = ("TiffPages", "corrupted file", "shaped series failed to reshape")

    #: tifffile's warnings that an OME file's planes are not those its metadata counts:
    #: planes past the count left out, planes missing read as zeros (a multi-file OME-TIFF
    #: without one of its files); the image is read, and this is said
    _PLANES = ("OME series expected", "Missing data are zeroed")

    def __init__(self, shown: int = logging.NOTSET) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.said: list[str] = []
        self.planes: list[str] = []
        self.shown = shown  # the level tifffile's log showed before we listened
        self.gaps: tuple[str, int, int, int] | None = None  # see _present_planes
        self.complete = False  # the series read has all its pages (_present_planes)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.thread == self.thread and record.levelno >= logging.ERROR:
            if any(sign in text for sign in self._SIGNS) or _cut_in_description(text):
                self.said.append(text)
        if record.thread == self.thread and any(sign in text for sign in self._PLANES):
            self.planes.append(text.split("> ", 1)[-1])
        return record.levelno >= self.shown  # tifffile's own logging goes on as it was

    def warn_planes(self, path: Path) -> None:
        """Say (a warning) that the planes read are not all the file holds, or not all
        there (dropped or zero-filled without a word before; TIFF bug bash)."""
        if self.gaps is not None:
            axis, counted, kept, holes = self.gaps
            inside = f"{holes} plane{'s' if holes > 1 else ''} the metadata counts"
            if kept < counted:
                what = (
                    f"the file's OME metadata counts {counted} planes along its {axis} axis, "
                    f"but its pages hold the first {kept} only (the file may be cut short): "
                    f"{'that one is' if kept == 1 else f'those {kept} are'} read"
                    + (f"; {inside} before those are missing, read as zeros" if holes else "")
                )
            else:
                what = (
                    f"{inside} {'are' if holes > 1 else 'is'} not among the file's pages (a "
                    "multi-file OME-TIFF missing a file?): read as zeros"
                )
            warnings.warn(f"{path.name}: {what}.", stacklevel=4)
        for text in dict.fromkeys(self.planes):
            if "Missing data are zeroed" in text:
                if self.gaps is not None or self.complete:
                    continue  # said above, or another series' (tifffile reads them all)
                what = f"{text.split('.')[0]}: those planes are read as zeros"
            else:
                what = f"{text}: only the planes its metadata counts are read"
            warnings.warn(
                f"{path.name}: the file's OME metadata and its pages disagree ({what}).",
                stacklevel=4,
            )

    def check(self, path: Path, tif: Any = None) -> None:
        """Refuse, in one sentence, a file that tifffile found damaged."""
        if not self.said:
            return
        said = planes_said(tif) if tif is not None else None
        n = len(tif.pages) if tif is not None else 0
        if said is not None and said.endswith(f"says {n} images"):
            said = None  # all its pages are there: their pixel data are not (bash)
        if said is not None:
            what = f"{said}, but the file holds {n} page{'' if n == 1 else 's'}"
        else:
            first = next((t for t in self.said if "TiffPages" in t), self.said[0])
            message = first.split("> ", 1)[-1][:80]
            broken = "TiffPages" in first
            what = f"its pages break off: {message}" if broken else f"tifffile says: {message}"
            if not broken and _cut_in_description(first):
                what = "its metadata (the image description) lies past the file's end"
        raise _not_readable(path, f"it looks truncated or damaged; {what}")


@contextlib.contextmanager
def _reading(path: Path, say_planes: bool = True) -> Iterator[_Damage]:
    """Turn any failure of tifffile (or zlib, struct, OS errors on damaged files) into a
    :class:`TiffReadError` that names the file and the reason, and refuse a file whose
    damage tifffile only logs (:class:`_Damage`)."""
    log = logging.getLogger("tifffile")
    level = log.level
    damage = _Damage(shown=log.getEffectiveLevel())
    log.addFilter(damage)
    if log.getEffectiveLevel() > logging.WARNING:  # silenced (the CLI): heard, not shown
        log.setLevel(logging.WARNING)
    try:
        yield damage
    except TiffReadError:
        raise
    except struct.error as exc:  # "unpack requires a buffer of 4 bytes" (fuzzing bash)
        raise _not_readable(path, "it ends inside its header: the file is cut short") from exc
    except Exception as exc:
        raise _not_readable(path, exc) from exc
    finally:
        log.removeFilter(damage)
        log.setLevel(level)
    damage.check(path)
    if say_planes:  # (the lazy read of a file read once already said it: twice, bash)
        damage.warn_planes(path)


def _ome_xml(tif: Any) -> str | None:
    """The OME-XML of a file: tifffile's, or a first page's description that begins as
    OME-XML but does not parse (tifffile then takes the file for a plain TIFF, and its
    pixel sizes were lost without a word): :func:`ome_pixels` says it is unreadable."""
    if tif.is_ome:
        return tif.ome_metadata
    description = (tif.pages[0].description or "") if len(tif.pages) else ""
    head = description.lstrip()[:400]
    return description if head.startswith("<?xml") and "<OME" in head else None


def _image_series(tif: Any, path: Path, index: int = 0, damage: _Damage | None = None) -> Any:
    """Image series ``index`` of a TIFF (the first by default), or one sentence why not
    (``damage``: what tifffile logged while finding the series)."""
    series = tif.series
    if not series:
        raise _not_readable(path, "it holds no image")
    if not isinstance(index, (int, np.integer)) or not 0 <= index < len(tif.series):
        raise TiffReadError(
            f"{str(path)!r} holds image series 0 to {len(tif.series) - 1}; series {index!r} "
            "does not exist."
        )
    series = tif.series[index]
    if series.keyframe is None or 0 in series.shape or not series.shape:
        which = "first" if index == 0 else f"series {index}'s"
        raise _not_readable(path, f"its {which} image is empty")
    if damage is not None:  # after those: "holds no image" / "is empty" say it plainer
        damage.check(path, tif)
    return series


def _present_planes(
    series: Any, chosen: Any, squeeze: bool, damage: _Damage
) -> tuple[slice, ...] | None:
    """The index that leaves out the trailing planes an OME file's metadata counts but its
    pages do not hold (an acquisition stopped early, a file cut short): the last channels,
    Z planes or time points, along the first axis with more than one entry (recorded in
    ``damage`` to be said, as are missing planes before them, read as zeros). None when
    nothing is missing at the end. They were read as zeros: a made-up channel was offered
    to ``--channel`` and segmented (bad-input bash)."""
    pages = getattr(series, "_pages", None)
    damage.complete = bool(pages) and all(p is not None for p in pages)
    if damage.complete or not pages or series.keyframe is None:
        return None
    lead = series.shape[: len(series.shape) - len(series.keyframe.shape)]
    if not lead or int(np.prod(lead)) != len(pages):
        return None
    first = next((i for i, n in enumerate(lead) if n > 1), None)
    if first is None or chosen.shape[first] != series.shape[first]:
        return None
    missing = np.array([p is None for p in pages]).reshape(lead)
    missing = np.moveaxis(missing, first, 0).reshape(lead[first], -1)
    held = np.flatnonzero(~missing.all(axis=1))
    kept = int(held[-1]) + 1 if held.size else lead[first]
    axis = "CZT".find(series.axes[first])  # tifffile's letters; ours where they differ
    name = ("channel", "Z", "time")[axis] if axis >= 0 else series.axes[first]
    damage.gaps = (name, lead[first], kept, int(missing[:kept].sum()))
    if kept == lead[first]:
        return None
    at = first if not squeeze else sum(1 for n in series.shape[:first] if n > 1)
    return (slice(None),) * at + (slice(0, kept),)


def _level(series: Any, level: int, path: Path) -> Any:
    """Pyramid level ``level`` of a series (the series itself at level 0)."""
    count = len(series.levels)
    if not isinstance(level, (int, np.integer)) or not 0 <= level < count:
        # (a TiffReadError, so that _reading passes it on as it is: a ValueError)
        if count == 1:
            raise TiffReadError(
                f"{str(path)!r} is an image with one level; --level {level} does not exist."
            )
        raise TiffReadError(
            f"{str(path)!r} has pyramid levels 0 to {count - 1}; level {level!r} does not exist."
        )
    return series.levels[level]


def _level_sizes(
    sizes: dict[str, float], axes: str, full: tuple[int, ...], shape: tuple[int, ...]
) -> dict[str, float]:
    """Pixel sizes of a pyramid level: level 0's times how much smaller it is."""
    return {
        a: tidy(size * full[axes.index(a)] / shape[axes.index(a)]) if a in axes else size
        for a, size in sizes.items()
    }


def _say_other_series(count: int, path: Path, shape: tuple[int, ...]) -> None:
    """Warn, in one sentence, that only the first of ``count`` image series is read (a
    multi-position OME-TIFF, a slide scan's label or overview picture)."""
    if count > 1:
        size = " x ".join(str(n) for n in shape)
        warnings.warn(
            f"{path.name} holds {count} image series; the first ({size}) is read: napari "
            "opens them all, --series N (api.read_image(path, series=N)) reads another.",
            UserWarning,
            stacklevel=3,
        )


def _say_pages_left(tif: Any, series: Any, path: Path) -> None:
    """Warn when an ImageJ file's metadata counts fewer planes than it holds pages
    ("images=16, slices=5": tifffile reads 5 planes, and 11 were dropped without a word;
    fuzzing bash)."""
    if not tif.is_imagej or len(tif.series) != 1:
        return
    planes = math.prod(series.shape) // max(1, math.prod(series.keyframe.shape))
    pages = len(tif.pages)
    if planes < pages:
        warnings.warn(
            f"{path.name}: its ImageJ metadata counts {planes} planes, but the file holds "
            f"{pages} pages; only the first {planes} are read.",
            UserWarning,
            stacklevel=4,
        )


def tiff_series(path: str | os.PathLike) -> int:
    """How many image series a TIFF holds (headers only)."""
    path = Path(path)
    with _reading(path), tifffile.TiffFile(path) as tif:
        return len(tif.series)


def tiff_pyramid(path: str | os.PathLike, series: int = 0) -> tuple[Any, ...]:
    """Every pyramid level of a TIFF's first series as a lazy dask array (largest first),
    or ``()`` when it has one level: napari shows such a file as a multiscale layer and
    reads only the tiles on screen."""
    path = Path(path)
    with _reading(path) as damage, tifffile.TiffFile(path) as tif:
        found = _image_series(tif, path, series, damage)
        count, squeeze = len(found.levels), _one_plane(found)
        axes = _normalize_axes(found.get_axes(True) if squeeze else found.axes)
        order = _samples_last(axes, found.keyframe.photometric == tifffile.PHOTOMETRIC.RGB)
    if count < 2:
        return ()
    with _reading(path):
        levels = tuple(_open_lazy(path, n, series, squeeze) for n in range(count))
    return levels if order is None else tuple(level.transpose(order) for level in levels)


def _normalize_axes(axes: str, shape: tuple[int, ...] = ()) -> str:
    """Give tifffile's unknown axes (``I`` image sequence, ``Q`` other) readable names.

    A plain multi-page TIFF is almost always a Z stack, and a second unknown axis time:
    named from the plane outwards, so a (T, Z, Y, X) array saved from Python reads TZYX,
    the order the engine takes (the last three axes are the volume). But a plane with its channels last, as numpy and scikit-image save a (Y, X, 2) array,
    reads as pages 2 pixels wide: two to four "pixels" after a plane of 16 or more are
    channels.
    """
    if len(axes) == 3 and axes[0] in "IQ" and axes[1:] == "YX" and len(shape) == 3:
        if shape[2] <= 4 and min(shape[:2]) >= 16:
            return "YXC"
    out: list[str] = []
    for a in reversed(axes):
        if a in "IQ":
            a = next((c for c in "ZT" if c not in axes and c not in out), "Q")
        out.append(a)
    return "".join(reversed(out))


def _one_plane(series: Any) -> bool:
    """Whether a series is one plane with leading axes of 1 that tifffile keeps: it
    squeezes them away in all but "shaped" series (a numpy array saved as it is), so a
    plane saved as ``img[None]`` would read as a Z stack of 1 while the same plane from
    ImageJ or as OME reads as a plane (and picked a 3D model)."""
    plane = series.get_axes(True)
    return series.kind == "shaped" and plane in ("YX", "YXS") and plane != series.axes


def _samples_last(axes: str, rgb: bool) -> tuple[int, ...] | None:
    """The axis order that moves an RGB image's samples last (a planar RGB TIFF stores
    them as planes, SYX), as napari shows RGB and :attr:`~napari_unetseg._io.ImageData.is_rgb` reads it;
    None when they are last already or it is no RGB image."""
    if not rgb or "S" not in axes or axes.endswith("S"):
        return None
    s = axes.index("S")
    return tuple(i for i in range(len(axes)) if i != s) + (s,)


def _grey_alpha(page: Any, axes: str) -> bool:
    """Whether a page is one grey sample and an alpha sample (its last axis, S)."""
    alpha = (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)
    return (
        axes.endswith("S")
        and page.photometric == tifffile.PHOTOMETRIC.MINISBLACK
        and page.samplesperpixel == 2
        and tuple(page.extrasamples) in ((alpha[0],), (alpha[1],))
    )


def _channel_axis(axes: str, rgb: bool) -> int | None:
    if "C" in axes:
        return axes.index("C")
    if "S" in axes and (rgb or axes.endswith("S")):
        return axes.index("S")
    return None


def _open_lazy(path: Path, level: int = 0, series: int = 0, squeeze: bool = False) -> Any:
    """A dask array over tifffile's zarr store of one pyramid level (reads only the
    tiles asked for); ``squeeze``: without the axes of 1 (:func:`_one_plane`)."""
    import dask.array as da  # both are dependencies of the plugin (pyproject.toml)
    import zarr

    store = tifffile.imread(path, aszarr=True, series=series, level=level, squeeze=squeeze or None)
    return da.from_zarr(zarr.open(store, mode="r"))
