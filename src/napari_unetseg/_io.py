"""Image input and output with physical pixel sizes (no torch, no napari): TIFF /
OME-TIFF (read in :mod:`napari_unetseg._tiff_read`), OME-Zarr, NIfTI and pictures.

:func:`read_image` opens a TIFF with its axes, pixel size and units, lazily (a dask array
over tifffile's zarr store) when the image is larger than :data:`LAZY_BYTES`.
:func:`write_labels` / :func:`write_image` write compressed OME-TIFFs whose pixel size
:func:`read_image` reads back, atomically: the file is written under a temporary name in
the same folder and renamed over the target only when complete, so an existing file is
never left half-overwritten.

Where the pixel size comes from, first match wins:

1. OME-XML ``PhysicalSizeX/Y/Z`` (+ ``...Unit``, default µm);
2. ImageJ metadata: ``spacing`` (Z) and ``unit``, with X/Y from the resolution tags;
3. plain TIFF resolution tags when the resolution unit is centimetres (converted to µm).
   Dots-per-inch values are ignored: they are print settings (72/96/300 dpi), not
   microscope pixel sizes.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._nifti import NIFTI_SUFFIXES
from ._tiff_read import TiffReadError, _tiff_header, check_tiff, read_tiff
from ._tiff_read import tiff_pyramid as tiff_pyramid  # re-exported: the reader, batches
from ._tiff_read import tiff_series as tiff_series
from ._tiff_write import PROVENANCE_PREFIX, write_image, write_labels
from ._units import _CM_PER_UNIT, _convert, _unit, unit_name
from ._units import common_unit as common_unit  # the one unit rule, re-exported
from .core.files import missing_file
from .core.guards import user_level

__all__ = [
    "LAZY_BYTES",
    "ImageData",
    "TiffReadError",
    "check_tiff",
    "image_name",
    "read_image",
    "PROVENANCE_PREFIX",
    "write_image",
    "write_labels",
]

#: Images whose uncompressed size exceeds this many bytes are opened lazily.
LAZY_BYTES = 1 << 30

_TIFF_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif")
#: Plain 2D image files (a grey or RGB(A) plane, no pixel size) read with imageio: photos
#: and exports of microscopy images, and datasets such as the Data Science Bowl 2018.
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: What :func:`read_image` reads, in words, for the message about any other file.
READ_FORMATS = "TIFF, OME-TIFF, OME-Zarr, NIfTI, PNG, JPEG, BMP, GIF or WebP"
#: Words of a name (camelCase split too: "nucleiMask" is nuclei, Mask; "label001" is
#: label, 001).
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


_LABEL_WORDS = frozenset({"label", "labels", "labelmap", "labelmaps", "mask", "masks"})


#: Pixel sizes a file can mean, in metres: from a tenth of a picometre (atomic
#: resolution is tens of picometres) to 10,000 km (a planet's map). A damaged or lying
#: header's 1e300 µm resampled the image to nothing without a word (fuzzing bash).
PLAUSIBLE_METRES = (1e-13, 1e7)
#: The same without a length unit (numbers of unknown units, "pixel").
PLAUSIBLE_NUMBERS = (1e-9, 1e9)


#: The most two spatial axes' pixel sizes differ in one image (a light-sheet stack's Z
#: step is some hundred times its pixel; serial sections 5 mm apart at 0.25 µm, 20,000).
MOST_ANISOTROPY = 1e5


def _sizes(scale: tuple[float, ...], units: Any, axes: str) -> dict[int, tuple[float, bool]]:
    """The positive pixel sizes of the spatial axes (Z, Y, X): in metres (True) where
    their unit is a length, else as given (False)."""
    found = {}
    for i, (size, axis) in enumerate(zip(scale, axes, strict=False)):
        if axis not in "ZYX" or not np.isfinite(size) or size <= 0:
            continue
        unit = _unit(unit_name(units[i])) if units is not None and i < len(units) else ""
        metres = unit in _CM_PER_UNIT
        found[i] = (_convert(size, unit, "m") if metres else size, metres)
    return found


def _implausible(sizes: dict[int, tuple[float, bool]]) -> list[int]:
    """The spatial axes among ``sizes`` (:func:`_sizes`) whose pixel size no instrument
    makes (:data:`PLAUSIBLE_METRES`)."""
    found = []
    for i, (size, metres) in sizes.items():
        low, high = PLAUSIBLE_METRES if metres else PLAUSIBLE_NUMBERS
        if not low <= size <= high:
            found.append(i)
    return found


def _lopsided(
    sizes: dict[int, tuple[float, bool]], scale: tuple[float, ...], units: Any, axes: str
) -> str | None:
    """Why the spatial axes' pixel sizes ``sizes`` (:func:`_sizes` of ``scale``) cannot
    all be right (one of 0.5 pm beside one of 0.5 µm resampled the image a million-fold;
    fuzzing bash), or None."""
    kinds = {metres for _, metres in sizes.values()}
    if len(sizes) < 2 or len(kinds) > 1:
        return None
    values = [size for size, _ in sizes.values()]
    if max(values) <= MOST_ANISOTROPY * min(values):
        return None
    said = ", ".join(f"{axes[i]} {scale[i]:g}{_unit_after(units, i)}" for i in sizes)
    return (
        f"the file's pixel sizes ({said}) differ {max(values) / min(values):,.0f}-fold "
        "between axes, which no microscope or scanner makes; the image is read without "
        "pixel sizes."
    )


def _unit_after(units: Any, i: int) -> str:
    """`` µm`` for a size of axis ``i`` in µm; nothing without a unit."""
    name = unit_name(units[i]) if units is not None and i < len(units) else ""
    return f" {name}" if name and name != "pixel" else ""


def says_labels(name: str) -> bool:
    """Whether a file, image or channel name says it holds labels: a word "label(s)",
    "labelmap" or "mask(s)" ("cells_labels", "nucleiMask", "label001"). Words that only contain them
    do not ("EdU labeling", "Phalloidin-labelled", "Unmasked widefield" opened as
    Labels layers)."""
    return any(w.lower() in _LABEL_WORDS for w in _WORDS.findall(name))


@dataclass
class ImageData:
    """An image array with the axes and physical pixel size its file declares.

    Attributes
    ----------
    data : array-like
        A numpy array, or a dask array for a lazily opened file (``None`` in the result
        of :meth:`without_channels`, which describes the axes only).
    axes : str
        One letter per axis of ``data``: ``T`` time, ``Z``, ``C`` channel, ``Y``, ``X``,
        ``S`` colour samples (RGB), ``Q`` other.
    scale : tuple of float
        Pixel size per axis (1.0 where unknown or not spatial).
    units : tuple of str, optional
        Unit per axis (``'µm'``, ``'pixel'`` where unknown, ``''`` for channels);
        ``None`` when the file declares no physical size at all.
    channel_axis : int, optional
        Index of the channel (``C``) or RGB sample (``S``) axis.
    name : str
        File name without the TIFF extension.
    is_labels : bool
        Integer image that is a label image (see :func:`read_image`).
    translate : tuple of float, optional
        Position of the first pixel, where known.
    channel_names : tuple of str, optional
        One name per channel (e.g. "DAPI") where the OME metadata gives them.
    provenance : dict, optional
        How labels written by this plugin were made (model, model file hash,
        settings; see :mod:`napari_unetseg.provenance`), from the OME map annotation.
    affine : tuple of tuples, optional
        A NIfTI input's 4 x 4 voxel-to-world matrix (of the file's own (i, j, k) axes),
        so labels written as NIfTI lie exactly on the image.
    nifti_forms : dict, optional
        A NIfTI input's qform and sform with their codes (``qform``, ``qform_code``,
        ``sform``, ``sform_code``), written back with its labels as they are.
    axes_guessed : bool
        The file does not name its axes (a plain multi-page TIFF): ``Z`` and ``T`` were
        guessed (a movie saved from numpy reads as a Z stack), or 3 or 4 planes were taken
        for RGB(A) colours (tifffile's guess for such an array); :meth:`with_axes` names
        them.
    file_axes : str, optional
        The file's own axis order where the reader moved its colour samples last (a
        planar RGB TIFF's ``SYX``, read as ``YXS``): the order :meth:`with_axes` names.
    """

    data: Any
    axes: str
    scale: tuple[float, ...]
    units: tuple[str, ...] | None
    channel_axis: int | None
    name: str
    is_labels: bool
    translate: tuple[float, ...] | None = None
    channel_names: tuple[str, ...] | None = None
    provenance: dict[str, Any] | None = None
    affine: tuple[tuple[float, ...], ...] | None = None
    nifti_forms: dict[str, Any] | None = None
    axes_guessed: bool = False
    file_axes: str | None = None

    def __post_init__(self) -> None:
        # A pixel size of 0, below 0 or NaN in a file's metadata is no size. The image is
        # read without pixel sizes, with a warning (one axis in pixels beside others in
        # µm would make a false anisotropy; without sizes a stack's Z step is measured
        # from its objects), instead of resampling by 0 or by NaN later.
        bad = [i for i, s in enumerate(self.scale) if not (np.isfinite(s) and s > 0)]
        sizes = _sizes(self.scale, self.units, self.axes)
        bad += [i for i in _implausible(sizes) if i not in bad]
        if not bad:
            lopsided = _lopsided(sizes, self.scale, self.units, self.axes)
            if lopsided is not None:
                warnings.warn(f"{self.name}: {lopsided}", UserWarning, stacklevel=user_level())
                self.scale, self.units = (1.0,) * len(self.scale), None
            return
        letters = ", ".join(self.axes[i] for i in sorted(bad))
        values = ", ".join(f"{self.scale[i]:g}{_unit_after(self.units, i)}" for i in sorted(bad))
        warnings.warn(
            f"{self.name}: the file gives a pixel size of {values} along {letters}, which is "
            "not a size; the image is read without pixel sizes.",
            UserWarning,
            stacklevel=user_level(),
        )
        self.scale, self.units = (1.0,) * len(self.scale), None

    @property
    def is_rgb(self) -> bool:
        """Colour samples (3 or 4 of them) on the last axis, as napari shows RGB(A)."""
        return (
            self.channel_axis is not None
            and self.channel_axis == len(self.axes) - 1
            and self.axes[-1] == "S"
            and self.data is not None
            and self.data.shape[-1] in (3, 4)
        )

    def one_channel(self, index: int) -> ImageData:
        """The image of channel ``index`` alone (lazy arrays stay lazy).

        Raises
        ------
        ValueError
            In one sentence, when the image has no channel axis or no such channel.
        """
        from .core.normalize import one_channel

        if self.channel_axis is None:
            raise ValueError(f"Channel {index} was asked for, but the image has no channel axis.")
        picked = one_channel(self.data, self.channel_axis, index)
        return replace(self.without_channels(), data=picked)

    def with_axes(self, axes: str) -> ImageData:
        """The same image with its axes named ``axes`` (letters of ``TCZYX``, one per
        axis, ending in ``YX`` or ``YXC``): for a file that names them wrongly or not at
        all (a (T, Y, X) movie saved from numpy reads as a Z stack).

        The pixel size, unit and position of an axis whose letter stays are kept; a
        renamed axis has none (1, in pixels). Channel names stay with an unmoved channel
        axis.

        Raises
        ------
        ValueError
            In one sentence, when ``axes`` does not fit the image.
        """
        axes = check_axes(axes)
        if axes in (self.axes, self.file_axes):  # named as read: no longer a guess
            return replace(self, axes_guessed=False)
        shape = tuple(self.data.shape)
        if len(axes) != len(shape):
            raise ValueError(
                f"The axes {axes} name {len(axes)} axes, but the image {self.name!r} has "
                f"{len(shape)} ({' x '.join(map(str, shape))}, read as {self.axes})."
            )
        if self.file_axes is not None and axes.endswith("YX"):  # the file's order (SYX)
            return self._in_file_order().with_axes(axes)
        colour = [i for i, (a, b) in enumerate(zip(axes, self.axes, strict=True)) if "S" in (a, b)]
        # colours stay colours (a PNG given a movie's TYX: 3 colours taken for X; review),
        # unless tifffile guessed them from a numpy array's 3 or 4 planes
        guess = self.axes_guessed and all(self.axes[i] == "S" for i in colour)
        if not guess and any(self.axes[i] != "S" or axes[i] not in "SC" for i in colour):
            raise ValueError(
                f"The axes {axes} do not fit the image {self.name!r}: its axis of colours "
                f"(its axes: {self.axes}) stays S (or C, to take its colours as channels)."
            )
        if "S" in axes and not axes.endswith("S"):  # colours last, as napari shows RGB
            at = axes.index("S")
            order = (*(i for i in range(len(axes)) if i != at), at)
            return self._transposed(order).with_axes(axes.replace("S", "") + "S")
        same = [a == b for a, b in zip(axes, self.axes, strict=True)]
        channel_axis = next((i for i, a in enumerate(axes) if a in "CS"), None)
        units = self.units
        if units is not None:
            units = tuple(
                u if keep else ("" if a == "C" else "pixel")
                for u, keep, a in zip(units, same, axes, strict=True)
            )
        kept_channel = channel_axis is not None and channel_axis == self.channel_axis
        return replace(
            self,
            axes=axes,
            scale=tuple(s if keep else 1.0 for s, keep in zip(self.scale, same, strict=True)),
            units=units,
            channel_axis=channel_axis,
            translate=None
            if self.translate is None
            else tuple(t if keep else 0.0 for t, keep in zip(self.translate, same, strict=True)),
            channel_names=self.channel_names if kept_channel else None,
            axes_guessed=False,
        )

    def _in_file_order(self) -> ImageData:
        """The image with its axes in the file's order (:attr:`file_axes`), colours where
        the file has them."""
        assert self.file_axes is not None
        order = tuple(self.axes.index(a) for a in self.file_axes)
        return self._transposed(order)

    def _transposed(self, order: tuple[int, ...]) -> ImageData:
        """The image with its axes (and their sizes, units, origin) in ``order``."""

        def pick(values: Any) -> Any:
            return None if values is None else tuple(values[i] for i in order)

        axes = "".join(self.axes[i] for i in order)
        return replace(
            self,
            data=self.data.transpose(order),
            axes=axes,
            scale=pick(self.scale),
            units=pick(self.units),
            translate=pick(self.translate),
            channel_axis=None if self.channel_axis is None else order.index(self.channel_axis),
            file_axes=None,
        )

    def without_channels(self) -> ImageData:
        """The same description for the array without its channel axis.

        ``data`` is ``None``: this describes outputs (labels, probabilities) that have
        the image's shape without channels, e.g. to write them with the image's scale.
        """
        ca = self.channel_axis
        if ca is None:
            return replace(self, data=None)
        drop = [i for i in range(len(self.axes)) if i != ca]
        return replace(
            self,
            data=None,
            axes="".join(self.axes[i] for i in drop),
            scale=tuple(self.scale[i] for i in drop),
            units=None if self.units is None else tuple(self.units[i] for i in drop),
            channel_axis=None,
            channel_names=None,
            translate=None if self.translate is None else tuple(self.translate[i] for i in drop),
            file_axes=None,  # (its colours gone: with_axes failed on 'substring not found')
        )


def check_axes(axes: Any) -> str:
    """``axes`` (e.g. ``"tyx"``) as upper-case letters of ``TCZYX``, each once, ending in
    ``YX`` or ``YXC`` (the order the engine reads), or ``YXS`` (RGB colours, where the
    file has them); else one ``ValueError`` sentence."""
    text = str(axes).strip().upper()
    if (
        not set(text) <= set("TCZYXS")
        or len(set(text)) != len(text)
        or "C" in text
        and "S" in text
        or not text.endswith(("YX", "YXC", "YXS"))
    ):
        raise ValueError(
            f"Axes {axes!r} are not axes napari-unetseg reads: give one letter per axis of "
            "the image from T (time), C (channel), Z, Y, X, each once, Y and X last (or "
            "before C, or S for RGB colours), e.g. TYX for a movie or ZCYX."
        )
    return text


# -- reading --------------------------------------------------------------------------
#: The metadata files that make a folder a zarr group or array (zarr v2, zarr v3)
ZARR_MARKERS = (".zgroup", ".zarray", ".zattrs", "zarr.json")


def is_zarr_path(path: str | os.PathLike) -> bool:
    """Whether a path names a zarr store (``.zarr`` / ``.ome.zarr``), an existing folder
    inside one (a series of a bioformats2raw store: ``conv.ome.zarr/1``), or an existing
    folder that holds zarr metadata whatever its name (a store renamed ``plate1``)."""
    text = os.fspath(path).rstrip("/\\")
    if text.lower().endswith(".zarr"):
        return True
    if os.path.basename(text) in ZARR_MARKERS and os.path.isfile(text):
        return True  # a store's metadata file, picked in a file dialog: the store
    if not os.path.isdir(text):
        return False
    parts = Path(text).parts
    return any(p.lower().endswith(".zarr") for p in parts[:-1]) or any(
        os.path.isfile(os.path.join(text, m)) for m in ZARR_MARKERS
    )


def labels_group_path(path: str | os.PathLike) -> bool:
    """Whether a path names a label group of an OME-Zarr image, new or not
    (``img.ome.zarr/labels/NAME``): ``unetseg predict --output`` adds labels there under
    that name (not the napari writer's "labels as TIFF", which refuses a TIFF there)."""
    parent = os.path.dirname(os.fspath(path).rstrip("/\\"))
    return os.path.basename(parent) == "labels" and is_zarr_path(os.path.dirname(parent))


def image_name(path: str | os.PathLike) -> str:
    """A file's name without its TIFF or zarr extension (``a.ome.tif`` -> ``a``)."""
    name = Path(os.fspath(path).rstrip("/\\")).name
    for suffix in _TIFF_SUFFIXES + PLAIN_SUFFIXES + NIFTI_SUFFIXES + (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


#: How a PNG, JPEG, BMP or GIF file starts, whatever its name says.
_PICTURE_MAGIC = {
    b"\x89PNG": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"BM": ".bmp",
    b"GIF8": ".gif",
}


def picture_kind(path: str | os.PathLike) -> str | None:
    """The extension of a PNG / JPEG / BMP / GIF file named as something else (a PNG
    saved as ``.tif``), from its first bytes; None for any other file."""
    path = Path(path)
    if path.name.lower().endswith(PLAIN_SUFFIXES):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    return next((ext for magic, ext in _PICTURE_MAGIC.items() if head.startswith(magic)), None)


def read_image(
    path: str | os.PathLike,
    lazy: bool | None = None,
    level: int = 0,
    series: int = 0,
    axes: str | None = None,
) -> ImageData:
    """Read an image series of a TIFF / OME-TIFF (the first by default) with its axes and
    pixel size (or a PNG / JPEG / BMP plane).

    An OME-Zarr store (``.zarr`` / ``.ome.zarr``) is opened with
    :func:`napari_unetseg._zarr.read_ome_zarr` instead: always lazily, at pyramid
    ``level``.

    Parameters
    ----------
    path : str or path
        A TIFF, OME-TIFF or ImageJ TIFF file, an OME-Zarr store, a NIfTI image
        (``.nii`` / ``.nii.gz``, read whole with :func:`napari_unetseg._nifti.read_nifti`:
        its (i, j, k) voxel axes reversed to (Z, Y, X), so ``nibabel``'s
        ``get_fdata()`` is ``data.T``; labels are written back in the file's own order),
        or a PNG, JPEG or BMP plane (grey or RGB(A), no pixel size: read whole with
        imageio).
    lazy : bool, optional
        ``True``: return a dask array reading tiles/pages on demand (tifffile's zarr
        store); ``False``: read the whole array; ``None`` (default): lazy when the
        uncompressed image is larger than :data:`LAZY_BYTES` (1 GiB).
    level : int
        Pyramid level of an OME-Zarr store or of a pyramidal (OME-)TIFF; its pixel size
        is level 0's times how much smaller the level is.
    series : int
        Image series of a TIFF holding several (a multi-position OME-TIFF); reading the
        first of several says in a warning that there are others.
    axes : str, optional
        The axes' names, in the file's order (a NIfTI file's as read: Z, Y, X), where the
        file's are wrong or missing, e.g. ``"TYX"`` for a movie saved without axes (read
        as a Z stack; 3 or 4 frames as RGB colours): :meth:`ImageData.with_axes`.

    Returns
    -------
    ImageData
        ``is_labels`` is true for integer images whose file name has the word "label"
        or "mask" (:func:`says_labels`), or whose OME image/channel name does (our
        writer names the channel "labels").

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not an image file it can read (TIFF, OME-Zarr, NIfTI, PNG, JPEG, BMP;
        one sentence, with the reason), or ``axes`` do not fit it.
    """
    if axes is not None:
        check_axes(axes)  # before a slow read
    img = _read_any(path, lazy, level, series)
    return img if axes is None else img.with_axes(axes)


def _read_any(path: str | os.PathLike, lazy: bool | None, level: int, series: int) -> ImageData:
    """:func:`read_image` without its ``axes``."""
    _check_one_image(path, level, series)
    if is_zarr_path(path):
        from ._zarr import read_ome_zarr

        return read_ome_zarr(path, level=level)
    path = Path(path)
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        from ._nifti import read_nifti

        return read_nifti(path)
    if not path.is_file():
        raise missing_file(path)
    picture = picture_kind(path)
    if path.name.lower().endswith(PLAIN_SUFFIXES) or picture:
        return _read_plain(path, picture)
    if not path.name.lower().endswith(_TIFF_SUFFIXES) and not _tiff_header(path):
        how = "convert it to OME-TIFF or OME-Zarr (Fiji's Bio-Formats, bioformats2raw)."
        if path.suffix.lower() in (".hdr", ".img"):  # an Analyze / NIfTI pair (NIfTI bug bash)
            how = "save it as one .nii.gz file (nibabel, FSL's fslchfiletype, 3D Slicer)."
        raise TiffReadError(
            f"{str(path)!r} is not a file napari-unetseg reads ({READ_FORMATS}); {how}"
        )
    return read_tiff(path, lazy, level, series, LAZY_BYTES)


def read_labels(path: str | os.PathLike, lazy: bool | None = None) -> tuple[ImageData, str]:
    """:func:`read_image` for a label image, and one sentence when it was converted.

    A mask saved as a picture is RGB(A): with R = G = B it becomes that grey value per
    pixel (a white-on-black mask: objects 255, background 0); otherwise every colour is one
    label (black is 0, the others 1, 2, ... in the order of their RGB values), as in the
    coloured instance masks that viewers and annotation tools export. Alpha is ignored.
    """
    read = read_image(path, lazy=lazy)
    img = _planes_not_colours(read)
    # 3 planes named as a stack, not as Z: evaluate then measured them per time point
    # from a TYX prediction while this said "(ZYX" (time-lapse bash)
    stack = img.axes if img.axes != "ZYX" else f"a stack of {img.data.shape[0]}"
    planes = (
        f"{img.name}: its planes, which tifffile saved as RGB colours, are read as label "
        f"planes ({stack}; a colour-coded mask reads as colours from a PNG)."
        if img is not read
        else ""
    )
    indices = _labels_of_palette(path, img)
    if indices is not None:  # its class ids, not its colours renumbered (a swap: bug bash)
        labels_image = replace(img.without_channels(), data=indices, is_labels=True)
        return labels_image, ""
    ca = img.channel_axis
    if ca is not None and not img.is_rgb and img.data.shape[ca] == 1:
        # labels written as t,c,z,y,x with one c (as ome-zarr-py's tools do) did not
        # match their prediction, where a TIFF's lone channel is dropped (5D bug bash)
        img = img.one_channel(0)
    lossy = ""
    if os.fspath(path).lower().endswith((".jpg", ".jpeg")):  # 42 "objects" of edge noise
        lossy = (
            f" {img.name}: JPEG keeps values only roughly, so a mask saved as JPEG has grey "
            "values along its edges that count as other labels; save masks as PNG or TIFF."
        )
    if not img.is_rgb:
        return img, f"{planes}{lossy}".strip()
    rgb = np.asarray(img.data)[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        labels, note = rgb[..., 0], "its grey values (R = G = B) are the labels"
    else:
        bits = 8 * rgb.dtype.itemsize
        code = (
            (rgb[..., 0].astype(np.int64) << (2 * bits))
            | (rgb[..., 1].astype(np.int64) << bits)
            | rgb[..., 2].astype(np.int64)
        )
        colours, ids = np.unique(code, return_inverse=True)
        ids = ids.reshape(code.shape) + (0 if colours[0] == 0 else 1)  # black is 0
        labels = ids.astype(np.uint16 if ids.max() < 2**16 else np.uint32)
        objects = len(colours) - (colours[0] == 0)
        note = f"its {objects} colours other than black are {objects} labels"
    labels_image = replace(img.without_channels(), data=labels, is_labels=True)
    return labels_image, f"{img.name}: an RGB label image; {note}.{lossy}"


def _planes_not_colours(img: ImageData) -> ImageData:
    """Labels of 3 or 4 planes saved from numpy, which tifffile stored as RGB(A) colours,
    as the stack of planes they are (a 3-frame ground truth was read as 703 colour-coded
    labels of one plane; series bash); other images as they are."""
    # 3 planes: a Z stack; stacks of 3 planes (ZSYX): time points of stacks, as a plain
    # 4D file reads (taken for RGB-coded labels, 15 planes became 5; review)
    named = {"SYX": "ZYX", "ZSYX": "TZYX"}.get(img.file_axes or "")
    if not img.axes_guessed or named is None:
        return img
    return replace(img.with_axes(named), axes_guessed=True)


def _labels_of_palette(path: str | os.PathLike, img: ImageData) -> np.ndarray | None:
    """The colour indices of an indexed-colour picture read as colours (its name did not
    say labels): they are its labels. Annotation tools save class masks so (index 1 the
    background stroke, 2 the nucleus); renumbered by their colours' RGB values, classes
    swapped places."""
    if not img.is_rgb or not os.fspath(path).lower().endswith(PLAIN_SUFFIXES):
        return None
    try:
        return _palette_indices(Path(path), labels=True)
    except Exception:  # noqa: BLE001 - read as a picture already; its colours then
        return None


def _read_plain(path: Path, extension: str | None = None) -> ImageData:
    """A PNG, JPEG, BMP, GIF or WebP file as one plane (``YX``, or ``YXS`` for RGB(A);
    grey with alpha is its grey plane), pixel size 1. ``extension`` is the file's true
    kind when its name says another (:func:`picture_kind`).

    A grey image saved as RGB stays RGB here: the one-channel models take it as grey
    (``core.normalize.grey_for_model``), as they do an RGB TIFF.
    """
    import imageio.v3 as iio

    suffix = extension or path.suffix
    kind = suffix.lstrip(".").upper().replace("JPG", "JPEG").replace("WEBP", "WebP")
    try:
        data = _palette_indices(path)
        if data is None:
            data = np.asarray(iio.imread(path, extension=suffix))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
        raise TiffReadError(
            f"{str(path)!r} is not a readable {kind} file ({reason or type(exc).__name__})."
        ) from exc
    if data.ndim > 2 and data.shape[0] == 1:  # a GIF of one frame: (1, Y, X, 3)
        data = data[0]
    if data.ndim == 3 and data.shape[-1] == 2:  # grey and alpha: the grey plane
        data = data[..., 0]
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        axes, channel_axis = "YXS", 2
    elif data.ndim == 2:
        axes, channel_axis = "YX", None
    else:
        raise TiffReadError(
            f"{str(path)!r} holds an image of shape {data.shape}: a {kind} file is read as "
            "one grey or RGB(A) plane; save a stack as TIFF."
        )
    name = image_name(path)
    is_labels = data.dtype.kind in "biu" and channel_axis is None and says_labels(name)
    return ImageData(data, axes, (1.0,) * data.ndim, None, channel_axis, name, is_labels)


def _palette_indices(path: Path, labels: bool = False) -> np.ndarray | None:
    """The pixel values of an indexed-colour (palette) image where they are what it holds:
    a label map (read as labels, or the file name says label or mask: annotation tools
    such as labelme or CVAT save masks so) or a grey palette. None otherwise (imageio then
    shows its colours, as an RGB image), and for an animation (its frames are refused)."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode != "P" or getattr(img, "n_frames", 1) > 1:
            return None
        indices = np.asarray(img)
        palette = np.asarray(img.getpalette() or [], np.int64)
    colours = palette[: 3 * (len(palette) // 3)].reshape(-1, 3)
    used = np.unique(indices)
    grey = bool(used.max(initial=0) < len(colours)) and all((colours[i] == i).all() for i in used)
    return indices if labels or grey or says_labels(path.name) else None


def _check_one_image(path: str | os.PathLike, level: int, series: int) -> None:
    """Refuse, in one sentence, a ``series`` of a file that holds one image (an OME-Zarr
    store, NIfTI, PNG...) and a ``level`` of one that has no pyramid (NIfTI, PNG...)."""
    name = os.fspath(path).lower()
    one_image = name.endswith((*NIFTI_SUFFIXES, *PLAIN_SUFFIXES))
    if series and (is_zarr_path(path) or one_image):
        where = "; a bioformats2raw store's series N is its folder STORE/N"
        raise ValueError(
            f"{os.fspath(path)!r} is not a TIFF of several image series: series {series} "
            f"does not exist{where if is_zarr_path(path) else ''}."
        )
    if one_image and level != 0:
        raise ValueError(
            f"{str(Path(path))!r} is an image with one level; --level {level} does not exist."
        )


def lazily_inverted(array: Any) -> Any:
    """``array`` with dark and bright swapped (``invert``,
    :func:`~napari_unetseg.core.normalize.inverted`): an in-memory numpy array as a new
    one; anything else (dask, zarr, a memmap) as a lazy dask array, so a large image is
    never read whole (a block run, a whole-slide image)."""
    from .core.normalize import inverted

    if type(array) is not np.ndarray and not hasattr(array, "map_blocks"):
        import dask.array as da

        array = da.from_array(array, chunks=getattr(array, "chunks", None) or "auto")
    return inverted(array)
