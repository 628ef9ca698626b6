"""napari readers for TIFF / OME-TIFF / ImageJ TIFF, OME-Zarr and NIfTI, with physical
pixel sizes.

Each file becomes layers carrying the file's ``scale`` (and ``units`` where napari
supports them, so the scale bar shows µm); channels are split into one layer per channel
(``channel_axis``), RGB(A) files open as one RGB layer, label images (see
:func:`napari_unetseg._io.read_image`) open as Labels layers, and images larger than
:data:`napari_unetseg._io.LAZY_BYTES` open as dask arrays read on demand.

Unreadable files: :func:`napari_get_reader` never raises. For a file with a TIFF
extension that is not a readable TIFF it shows one warning saying why and returns
``None``; npe2 then offers the file to the next compatible reader (another plugin may
read what tifffile cannot) and, when none can, napari adds its own "no reader" message
after ours. Raising from the reader instead would show a traceback dialog and stop
napari from trying the other readers. Files whose headers read fine but whose pixel data
turn out damaged are handled the same way when they are read (warning, then no layer).

This module imports neither torch nor the rest of the plugin's engine.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from . import _io
from .core.guards import check_image_dtype

PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]
LayerData = tuple[Any, dict[str, Any], str]

_SUFFIXES = (".tif", ".tiff")
#: Image series of one TIFF opened as layers (a multi-position file can hold hundreds).
MAX_SERIES = 16
#: Labels whose planes hold at most this many pixels open as one level, paintable, even
#: where the store has a pyramid of them (the Segment widget shows its results alike).
LABELS_PLANE_PIXELS = 4096 * 4096


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """The reader function for TIFF paths, or ``None`` for anything it cannot read.

    Only the file headers are read here; see the module docstring for unreadable files.
    """
    paths = _as_list(path)
    if not paths or not all(str(p).lower().endswith(_SUFFIXES) for p in paths):
        return None
    for p in paths:
        if _io.picture_kind(p):  # a PNG saved as .tif: read as the command line reads it
            continue
        try:
            _io.check_tiff(p)
        except (ValueError, OSError) as exc:
            _warn(exc)
            return None
    return read_tiffs


def napari_get_nifti_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """The reader function for NIfTI images (``.nii`` / ``.nii.gz``: MR, CT), or ``None``.

    Their voxel sizes become the layers' scale, and their affine is kept in the layers'
    ``metadata['nifti_affine']``, so labels made on them are saved on the same affine.
    A file whose header nibabel cannot read gets one warning and ``None``, as for TIFFs.
    """
    paths = _as_list(path)
    if not paths or not all(str(p).lower().endswith(_io.NIFTI_SUFFIXES) for p in paths):
        return None
    import nibabel as nib

    for p in paths:
        try:
            nib.load(os.fspath(p))  # the header only: the voxels are read by read_tiffs
        except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds
            reason = str(exc).strip().rstrip(".") or type(exc).__name__
            _warn(ValueError(f"{os.fspath(p)!r} is not a readable NIfTI file ({reason})."))
            return None
    return read_tiffs


def napari_get_zarr_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """The reader function for OME-Zarr stores (``.zarr`` / ``.ome.zarr``), or ``None``.

    A store that is not an OME-Zarr image gets one warning and ``None`` (napari then
    offers it to the other readers), as for unreadable TIFFs.
    """
    paths = _as_list(path)
    if not paths or not all(_io.is_zarr_path(p) for p in paths):
        return None
    from . import _zarr

    for p in paths:
        try:
            with warnings.catch_warnings():  # said once, when the layers are read
                warnings.simplefilter("ignore", UserWarning)
                _zarr.read_ome_zarr(p)
        except (ValueError, OSError) as exc:
            _warn(exc)
            return None
    return read_zarrs


def _pyramid_labels(levels: Sequence[Any]) -> bool:
    """Whether labels open as their pyramid: only where their planes are large. Small
    ones open as their full resolution alone, which napari lets you paint (it refuses
    multiscale labels), though a store holds a pyramid of them (an image's labels have as
    many levels as it, however small; our own stores have their own pyramid)."""
    return len(levels) > 1 and math.prod(levels[0].shape[-2:]) > LABELS_PLANE_PIXELS


#: The smallest pyramid level (the whole of a one-level image) and the middle plane of the
#: full resolution are read when opened, each up to this size: a damaged chunk there is a
#: warning and no layer, not a traceback out of napari's first draw (zarr bug bash).
PROBE_BYTES = 16 * 2**20


def _check_readable(img: Any) -> None:
    """One sentence (a ``ValueError``) for an image napari could not draw: an axis of
    length 0 (napari's range of it raised), or a damaged chunk in its smallest level."""
    shape = tuple(img.data.shape)
    if 0 in shape:
        raise ValueError(f"{img.path!r} holds an empty image (shape {shape}): nothing to open.")
    itemsize = np.dtype(img.data.dtype).itemsize
    smallest = img.levels[-1]
    if math.prod(smallest.shape) * itemsize <= PROBE_BYTES:
        np.asarray(smallest)  # a ZarrReadError (ValueError) names the damaged array
    if math.prod(shape[-2:]) * itemsize <= PROBE_BYTES:  # the plane napari shows first
        np.asarray(img.data[tuple(n // 2 for n in shape[:-2])])


def read_zarrs(path: PathOrPaths) -> list[LayerData] | None:
    """Layers of OME-Zarr images, lazily: the whole pyramid as one multiscale layer
    (napari reads only the level and tiles on screen), and each image-label of its
    ``labels/`` group as a Labels layer on top."""
    from . import _zarr

    layers: list[LayerData] = []
    for p in _as_list(path):
        try:
            img = _zarr.read_ome_zarr(p)
            _check_readable(img)
        except (ValueError, OSError) as exc:
            _warn(exc)
            continue
        for data, meta, kind in image_layer_data(img):
            if len(img.levels) > 1 and (kind != "labels" or _pyramid_labels(img.levels)):
                data, meta = list(img.levels), {**meta, "multiscale": True}
            layers.append((data, meta, kind))
        flat = img.without_channels()
        for name, levels in img.labels.items():
            scale, translate = img.label_geometry.get(name, (flat.scale, flat.translate))
            same_axes = len(scale) == len(flat.axes)
            meta = {
                "name": f"{img.name} [{name}]",
                "scale": scale,  # the labels' own: they may lie on a coarser grid
                # where the labels live: a command names them instead of a copy
                "metadata": {
                    "axes": flat.axes if same_axes else None,
                    "units": flat.units if same_axes else None,
                    # the image's own labels/ (of a zarr.json opened, its store; of a
                    # bioformats2raw store or a plate, the series read: the top folder's
                    # "labels" did not exist; OME-Zarr interop bash)
                    "zarr_labels": os.path.join(os.path.abspath(img.path), "labels", name),
                },
            }
            if any(translate):
                meta["translate"] = translate
            if same_axes and flat.units is not None and _supports_units():
                # the image's units: a layer without them turns napari's units off
                meta["units"] = tuple(u or "pixel" for u in flat.units)
            if same_axes:
                meta.update(_axis_labels(flat.axes))
            pyramid = _pyramid_labels(levels)
            data = list(levels) if pyramid else levels[0]
            _with_provenance(meta, meta["metadata"]["zarr_labels"], None if pyramid else data)
            meta.update(_stored_colours(meta["metadata"]["zarr_labels"]))
            layers.append((data, {**meta, "multiscale": pyramid}, "labels"))
    return layers or None


def _with_provenance(meta: dict[str, Any], group: str, data: Any) -> None:
    """A label group's record of how it was made, its checksum and its class names, as
    a labels store opened alone has them (labels saved into their image's store reopened
    without them, and a save after that dropped the record)."""
    from . import _zarr

    try:
        with warnings.catch_warnings():  # the store's own warnings were said already
            warnings.simplefilter("ignore", UserWarning)
            provenance = _zarr.read_ome_zarr(group).provenance
    except (ValueError, OSError):
        return
    if provenance:
        _keep_record(meta, provenance, data)
        meta.update(_class_features(provenance))


def _stored_colours(group: str) -> dict[str, Any]:
    """The colours another tool gave its labels (``image-label``'s ``colors``: label
    value and RGBA of 0-255) as a napari colormap; nothing without them (they came in
    napari's cycling colours; OME-Zarr interop bash). ``group``: the image-label's
    folder."""
    import zarr

    from ._colours import label_colours

    try:
        attrs = zarr.open_group(group, mode="r").attrs.asdict()
        label = attrs.get("ome", attrs).get("image-label") or {}
        stored = {int(c["label-value"]): list(c["rgba"]) for c in label.get("colors") or []}
    except Exception:  # noqa: BLE001 - colours are a nicety: napari's own then
        return {}
    # values napari colours without numba, four whole numbers of 0-255 as NGFF writes
    # (a value past 65535 stopped the layer opening, a negative one raised; review)
    fits = all(0 <= v <= 65535 for v in stored) and all(
        len(c) == 4 and all(type(x) is int and 0 <= x <= 255 for x in c) for c in stored.values()
    )
    colours = {v: tuple(x / 255.0 for x in c) for v, c in stored.items()}
    return {"colormap": label_colours(colours)} if stored and fits else {}


def _keep_record(meta: dict[str, Any], provenance: dict[str, Any], data: Any) -> None:
    """Keep a layer's record of how it was made and a checksum of what it held when
    read: a save after painting says the labels were edited."""
    from .provenance import CHECKSUM_KEY, labels_checksum

    meta["metadata"]["unetseg"] = provenance
    meta["metadata"][CHECKSUM_KEY] = labels_checksum(data, lazy=True)


def read_tiffs(path: PathOrPaths) -> list[LayerData] | None:
    """Layer data tuples for one or several TIFF (or NIfTI) files (``None`` when none is
    readable); a large pyramidal TIFF opens as a multiscale layer of all its levels."""
    layers: list[LayerData] = []
    for p in _as_list(path):
        try:
            layers.extend(_tiff_layers(p))
        except (ValueError, OSError) as exc:
            _warn(exc)
    return layers or None


def _tiff_layers(path: str) -> list[LayerData]:
    """The layers of one file: each image series (up to :data:`MAX_SERIES`, named
    ``"name [series k]"`` when there are several), a large pyramidal one as a multiscale
    layer of all its levels, so napari reads only what it shows."""
    tiff = not path.lower().endswith((*_io.NIFTI_SUFFIXES, *_io.PLAIN_SUFFIXES))
    tiff = tiff and not _io.picture_kind(path)
    count = _io.tiff_series(path) if tiff else 1
    if count > MAX_SERIES:
        said = f"{os.path.basename(path)} holds {count} image series; the first {MAX_SERIES}"
        _warn(
            ValueError(
                f"{said} are opened (--series N, api.read_image(path, series=N), reads any)."
            )
        )
    layers: list[LayerData] = []
    for k in range(min(count, MAX_SERIES)):
        with warnings.catch_warnings():  # "only the first series is read": not here
            warnings.filterwarnings("ignore", ".* image series; the first", UserWarning)
            img = _io.read_image(path, series=k) if tiff else _io.read_image(path)
        # napari draws no complex numbers (its NotImplementedError came out of the open)
        check_image_dtype(img.data.dtype, f"{os.path.basename(path)!r}")
        lazy = not isinstance(img.data, np.ndarray)
        levels = _io.tiff_pyramid(path, k) if tiff and lazy else ()
        if count > 1:
            img.name = f"{img.name} [series {k}]"
        for data, meta, kind in image_layer_data(img):
            if levels:
                data, meta = list(levels), {**meta, "multiscale": True}
            if count > 1:  # which series of the file (a command line reads the first)
                meta["metadata"] = _with_series(meta["metadata"], k)
            layers.append((data, meta, kind))
    return layers


def image_layer_data(img: _io.ImageData) -> list[LayerData]:
    """napari layer data tuples for an :class:`~napari_unetseg._io.ImageData`.

    Channels become one layer each through napari's ``channel_axis`` (named after the
    OME channel names when present), RGB(A) samples an ``rgb`` layer, label images a
    Labels layer. ``metadata`` keeps the axes, units and source name.
    """
    flat = img.without_channels()
    meta: dict[str, Any] = {
        "name": img.name,
        "scale": flat.scale,
        "metadata": {"axes": flat.axes, "units": flat.units, "source_axes": img.axes},
    }
    if img.provenance:  # kept, so saving the layer again keeps how it was made
        _keep_record(meta, img.provenance, img.data)
    if img.axes_guessed:  # (a plain multi-page TIFF: Segment's model line says so)
        meta["metadata"]["axes_guessed"] = True
    if img.affine is not None:  # a NIfTI image: labels are saved on its affine
        meta["metadata"]["nifti_affine"] = [list(row) for row in img.affine]
        meta["metadata"]["nifti_forms"] = img.nifti_forms
    if flat.units is not None and _supports_units():
        meta["units"] = tuple(u or "pixel" for u in flat.units)
    meta.update(_axis_labels(flat.axes))
    if img.translate is not None:
        meta["translate"] = flat.translate
    if img.channel_axis is None:
        if img.is_labels:
            meta.update(_class_features(img.provenance))
        return [(img.data, meta, "labels" if img.is_labels else "image")]
    if img.is_rgb:
        return [(img.data, {**meta, "rgb": True}, "image")]
    n = img.data.shape[img.channel_axis]
    names = img.channel_names or tuple(f"C{i}" for i in range(n))
    meta["name"] = [f"{img.name} [{c}]" for c in names]
    meta["channel_axis"] = img.channel_axis
    # Each channel's layer knows which channel of the file it is (a cluster run of the
    # Segment widget reads that channel from the store itself).
    meta["metadata"] = [{**meta["metadata"], "channel": c} for c in range(n)]
    # One colour per channel, as Fiji does, so overlaid channels stay distinguishable.
    if n <= 6:
        meta["colormap"] = ["green", "magenta", "cyan", "yellow", "red", "blue"][:n]
        meta["blending"] = "additive"
    if ((img.provenance or {}).get("settings") or {}).get("class_probabilities"):
        # the maps of every class: probabilities on one scale (each map's own range made
        # 0.29 look as bright as 0.44), the background's hidden (it washed over the
        # others; classes bash)
        meta["contrast_limits"] = [[0.0, 1.0]] * n
        meta["visible"] = [c != 0 for c in range(n)]
    return [(img.data, meta, "image")]


def _class_features(provenance: dict[str, Any] | None) -> dict[str, Any]:
    """napari ``features`` naming the classes of labels a model wrote (the status bar
    then says "class: cytoplasm", and Validate names its rows) and the colours Segment
    gave them (each class in the colour of the strokes that paint it: saved labels came
    back in napari's cycling colours; reproducibility bash); nothing otherwise."""
    from ._colours import PREVIEW_COLORS, label_colours
    from .provenance import recorded_classes

    classes = recorded_classes(provenance)
    if classes is None:
        return {}
    return {
        "features": {"index": list(range(len(classes))), "class": classes},
        "colormap": label_colours(PREVIEW_COLORS),
    }


def _with_series(metadata: Any, series: int) -> Any:
    """Layer metadata (one dict, or one per channel) that also says the file's series."""
    if isinstance(metadata, list):
        return [{**m, "series": series} for m in metadata]
    return {**metadata, "series": series}


def _as_list(path: PathOrPaths) -> list[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


def _axis_labels(axes: str) -> dict[str, tuple[str, ...]]:
    """``axis_labels`` for napari (t, z, y, x: its sliders then say time or z, and the
    widgets tell a time series from a Z stack), where napari takes them and every axis
    is one of those, once; else nothing (napari's numbered defaults)."""
    if not _supports_axis_labels() or not set(axes) <= set("TZYX") or len(set(axes)) < len(axes):
        return {}
    return {"axis_labels": tuple(a.lower() for a in axes)}


def _supports_axis_labels() -> bool:
    """Whether this napari's layers take ``axis_labels`` (napari >= 0.5)."""
    return _layers_take("axis_labels", (0, 5))


def _supports_units() -> bool:
    """Whether this napari's layers take ``units`` (napari >= 0.6)."""
    return _layers_take("units", (0, 6))


@cache
def _layers_take(parameter: str, since: tuple[int, int]) -> bool:
    """Whether napari's Image layer takes ``parameter``: read from its signature when
    napari's layers are loaded (in napari), else from napari's version. Importing them
    to look made a headless read of a TIFF take 0.9 s instead of 0.03 (perf bug bash)."""
    import sys

    layers = sys.modules.get("napari.layers")
    if layers is not None:
        import inspect

        return parameter in inspect.signature(layers.Image.__init__).parameters
    import re
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = re.match(r"(\d+)\.(\d+)", version("napari"))
    except PackageNotFoundError:
        return False
    return found is not None and (int(found[1]), int(found[2])) >= since


def _warn(exc: BaseException) -> None:
    from napari.utils.notifications import show_warning

    show_warning(str(exc))
