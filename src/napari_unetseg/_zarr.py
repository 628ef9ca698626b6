"""OME-Zarr input: NGFF 0.4 (zarr v2) and 0.5 (zarr v3), lazily (no torch).

Reading (:func:`read_ome_zarr`) goes through ome-zarr-py's reader: the image's pyramid
levels as dask arrays (level 0 by default), the axes from the ``multiscales`` metadata,
the physical scale and translation from the level's coordinate transformations, the
units from the axes. Nothing is read until a block of the array is asked for.

Labels are written block by block by :class:`napari_unetseg._zarr_labels.LabelsStore`;
how the arrays and axes are described: :mod:`napari_unetseg._zarr_meta`.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._io import ImageData, image_name, is_zarr_path
from ._tiff_read import _channel_axis
from ._units import _unit, one_length_unit

__all__ = [
    "ZarrImageData",
    "ZarrReadError",
    "is_zarr_path",
    "read_ome_zarr",
]

#: The files that hold a zarr group's metadata (v2, v3).
_GROUP_METADATA = (".zattrs", ".zgroup", "zarr.json")


class ZarrReadError(ValueError):
    """A path that is not a readable OME-Zarr image (one sentence, a ``ValueError``)."""


@dataclass
class ZarrImageData(ImageData):
    """:class:`~napari_unetseg._io.ImageData` of one OME-Zarr level, plus the pyramid.

    ``levels`` holds every level (dask arrays, largest first), ``level`` the one in
    ``data``, ``version`` the NGFF version ('0.4' or '0.5'), ``path`` the store, and
    ``labels`` the image-labels found under its ``labels/`` group (name -> levels).
    """

    levels: tuple[Any, ...] = ()
    level: int = 0
    version: str = "0.4"
    path: str = ""
    labels: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: Each image-label's own (scale, translate) at its full resolution
    label_geometry: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )
    #: The store the user named, when the image is a series inside it (bioformats2raw's
    #: layout: ``conv.ome.zarr/0``); else the same as ``path``.
    root: str = ""

    def one_channel(self, index: int) -> ZarrImageData:
        """Channel ``index`` alone, in ``data`` and in every pyramid level (lazily)."""
        picked = super().one_channel(index)
        ca = self.channel_axis
        pick = tuple(index if a == ca else slice(None) for a in range(len(self.axes)))
        return replace(picked, levels=tuple(level[pick] for level in self.levels))


def _nodes(path: Path) -> list[Any]:
    """ome-zarr-py's nodes for a store (the image first), or one clear error."""
    import logging

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    if not path.exists():
        raise FileNotFoundError(f"OME-Zarr store {str(path)!r} does not exist.")
    # ome-zarr-py logs version guesses and label lookups at warning level; they are
    # not the user's problem.
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    try:
        location = parse_url(str(path), mode="r")
        nodes = [] if location is None else list(Reader(location)())
    except Exception as exc:  # noqa: BLE001 - any failure of the parser is one sentence
        raise ZarrReadError(
            f"{str(path)!r} is not a readable OME-Zarr store ({_parser_reason(exc)})."
        ) from exc
    if location is None:
        if _is_zarr_array(path):
            raise ZarrReadError(
                f"{str(path)!r} is a zarr array, not an OME-Zarr image (no multiscales "
                "metadata); open the OME-Zarr store that holds it, or one written with "
                "ome-zarr-py."
            )
        damaged = _damaged_metadata(path)
        if damaged:  # said "not a zarr store" (zarr bug bash)
            raise ZarrReadError(f"{str(path)!r} is a zarr store whose {damaged}.")
        raise ZarrReadError(f"{str(path)!r} is not a zarr store.")
    return nodes


def _parser_reason(exc: Exception) -> str:
    """ome-zarr-py's or zarr's failure on metadata that is not as NGFF and zarr describe
    it, in words about the metadata: a missing entry was the bare key ("(0)",
    "('datasets')"), a wrong type or value Python's own words (fuzzing bash)."""
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, KeyError):
        return f"its metadata has no entry {exc.args[0]!r} where NGFF puts one"
    if isinstance(exc, (TypeError, AttributeError, IndexError, ZeroDivisionError)):
        return f"its metadata is not as NGFF and zarr describe it: {text}"
    return text


def _damaged_metadata(path: Path) -> str | None:
    """Half a sentence naming a metadata file of ``path`` that is not valid JSON (a copy
    cut short), or None."""
    for name in (".zattrs", ".zgroup", "zarr.json"):
        try:
            json.loads((path / name).read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            return f"metadata file {name} is damaged ({str(exc).rstrip('.')})"
    return None


def _is_zarr_array(path: Path) -> bool:
    """Whether ``path`` holds a bare zarr array (v2 ``.zarray``, v3 ``node_type`` array)."""
    if (path / ".zarray").is_file():
        return True
    try:
        return json.loads((path / "zarr.json").read_text()).get("node_type") == "array"
    except (OSError, ValueError, AttributeError):
        return False


def _is_image(node: Any) -> bool:
    from ome_zarr.reader import Multiscales

    return any(isinstance(s, Multiscales) for s in node.specs) and bool(node.data)


def _axes(meta: dict[str, Any], ndim: int) -> tuple[str, tuple[str | None, ...]]:
    """Axis letters (TCZYX, Q for others) and the unit per axis from ``multiscales``."""
    raw = meta.get("axes") or ["t", "c", "z", "y", "x"][-ndim:]
    letters, units = [], []
    for ax in raw:
        name = ax.get("name", "") if isinstance(ax, dict) else str(ax)
        kind = ax.get("type", "") if isinstance(ax, dict) else ""
        letter = name.upper() if name.upper() in "TCZYX" and len(name) == 1 else ""
        if not letter:
            letter = {"channel": "C", "time": "T"}.get(kind, "Q")
        letters.append(letter)
        unit = ax.get("unit") if isinstance(ax, dict) else None
        units.append(_unit(str(unit)) if unit else None)
    return "".join(letters), tuple(units)


def _scale_and_shift(transforms: Any, ndim: int) -> tuple[list[float], list[float]]:
    """The ``scale`` and ``translation`` of one list of NGFF coordinate transformations
    (identity where it gives none, or gives the wrong number of values)."""
    scale, translate = [1.0] * ndim, [0.0] * ndim
    for t in transforms if isinstance(transforms, list) else []:
        if not isinstance(t, dict):
            continue
        if t.get("type") == "scale" and len(t.get("scale", [])) == ndim:
            scale = [float(v) for v in t["scale"]]
        elif t.get("type") == "translation" and len(t.get("translation", [])) == ndim:
            translate = [float(v) for v in t["translation"]]
    return scale, translate


def _transform(
    meta: dict[str, Any], level: int, ndim: int, node: Any = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Scale and translation of one level: its dataset's transformations, then those the
    ``multiscales`` entry declares for every level (NGFF 0.4 / 0.5), if any."""
    per_level = meta.get("coordinateTransformations") or []
    scale, translate = _scale_and_shift(per_level[level] if level < len(per_level) else [], ndim)
    whole, shift = _scale_and_shift(
        _multiscales_entry(node).get("coordinateTransformations"), ndim
    )
    return (
        tuple(s * w for s, w in zip(scale, whole)),
        tuple(t * w + d for t, w, d in zip(translate, whole, shift)),
    )


def _multiscales_entry(node: Any) -> dict[str, Any]:
    """The first ``multiscales`` entry of a node's attributes (under ``ome`` in 0.5)."""
    attrs = getattr(getattr(node, "zarr", None), "root_attrs", None) or {}
    attrs = attrs.get("ome", attrs) if isinstance(attrs, dict) else {}
    entries = attrs.get("multiscales") if isinstance(attrs, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else {}
    return first if isinstance(first, dict) else {}


def read_ome_zarr(path: str | os.PathLike, level: int = 0) -> ZarrImageData:
    """Open an OME-Zarr image lazily with its axes, scale and units.

    Parameters
    ----------
    path : str or path
        The image's store (``.zarr`` / ``.ome.zarr``; NGFF 0.4 or 0.5), or one of its
        image-labels (``image.ome.zarr/labels/NAME``), or the metadata file of either
        (``zarr.json``, ``.zattrs``, ``.zgroup``).
    level : int
        Pyramid level for ``data`` (0: full resolution).

    Raises
    ------
    FileNotFoundError
        If the store does not exist.
    ZarrReadError
        A ``ValueError`` in one sentence: not a zarr store, no image in it, no such level.
    """
    root = Path(os.fspath(path).rstrip("/\\"))
    if root.name in _GROUP_METADATA and root.is_file():  # a store's metadata file picked
        root = root.parent  # in a file dialog: the store it describes
    path, title = _series_of(root)
    nodes = _nodes(path)
    # the node of this very group: ome-zarr's Reader gives an image-label's image (its
    # ``source``) first
    here = [n for n in nodes if os.path.abspath(str(n.zarr.path)) == os.path.abspath(path)]
    nodes = here + [n for n in nodes if n not in here]
    if not nodes or not _is_image(nodes[0]):
        if (_group_meta(path).get("unetseg") or {}).get("complete") is False:
            raise ZarrReadError(  # said "not an OME-Zarr image" (zarr bug bash)
                f"{str(path)!r} is labels napari-unetseg did not finish (a run stopped "
                "midway): the same unetseg predict command with --resume finishes them."
            )
        raise ZarrReadError(
            f"{str(path)!r} is not an OME-Zarr image (it holds no multiscales image)."
        )
    node = nodes[0]
    levels = _checked_levels(node)
    if not isinstance(level, (int, np.integer)) or not 0 <= level < len(levels):
        raise ZarrReadError(
            f"{str(path)!r} has pyramid levels 0 to {len(levels) - 1}; level {level!r} does "
            "not exist."
        )
    data = levels[level]
    meta = node.metadata
    axes, axis_units = _axes(meta, data.ndim)
    if len(axes) != data.ndim:
        raise ZarrReadError(
            f"{str(path)!r} declares {len(axes)} axes for an array of {data.ndim} dimensions."
        )
    try:
        scale, translate = _transform(meta, level, data.ndim, node)
    except (TypeError, ValueError) as exc:  # said without the store (fuzzing bash)
        raise ZarrReadError(
            f"{str(path)!r} has a coordinate transformation that is not numbers ({exc})."
        ) from exc
    units = None
    if any(u for a, u in zip(axes, axis_units) if a in "TZYX"):
        units = tuple(
            (u or "pixel") if a in "ZYX" else ("" if a == "C" else (u or "pixel"))
            for a, u in zip(axes, axis_units)
        )
    # one length unit, as the TIFF reader gives (Z in µm beside Y, X in nm: 2, 500, 500
    # had no unit in common and made the stack 250 times too thin)
    factors = (1.0,) * len(scale)
    if units is not None:
        one, units = one_length_unit(scale, units)
        factors = tuple(n / o if o else 1.0 for n, o in zip(one, scale))
        scale, translate = one, tuple(t * f for t, f in zip(translate, factors))
    channel_axis = _channel_axis(axes, rgb=False)
    names = meta.get("channel_names")
    if channel_axis is None or not names or len(names) != data.shape[channel_axis]:
        names = None
    from ome_zarr.reader import Label

    is_label = any(isinstance(s, Label) for s in node.specs)
    # by the group's name, as labels/ lists it: the free-text multiscales name of two
    # groups may be the same ("image"), and one of them was lost (zarr bug bash)
    label_nodes = {
        Path(str(n.zarr.path).rstrip("/\\")).name or f"labels {i}": n
        for i, n in enumerate(nodes[1:])
        # a label opened by its own path has none: the others are its image's siblings
        if any(isinstance(s, Label) for s in n.specs) and n.data and not is_label
    }
    labels = {name: _checked_levels(n) for name, n in label_nodes.items()}
    # where each image-label lies: its own transformations (they may differ from the
    # image's: labels drawn at a coarser grid), in its own units where it names them (nm
    # labels of an image in µm and nm were shown 1000 times too small; zarr bug bash)
    label_geometry = {
        name: _label_geometry(n, labels[name][0].ndim, factors, units)
        for name, n in label_nodes.items()
    }
    return ZarrImageData(
        # labels and probability maps this plugin wrote record how (a probability store
        # said "No napari-unetseg provenance" where its TIFF said it: docs bug bash)
        provenance=_provenance(path),
        data=data,
        axes=axes,
        scale=scale,
        units=units,
        channel_axis=channel_axis,
        # a labels store of its own is named without ".ome.zarr", as an image is (review)
        name=title if not is_label or path.name.lower().endswith(".zarr") else path.name,
        is_labels=is_label and data.dtype.kind in "biu",
        translate=translate if any(translate) else None,
        channel_names=tuple(names) if names else None,
        levels=levels,
        level=int(level),
        version=str(nodes[0].zarr.version),
        path=str(path),
        labels=labels,
        label_geometry=label_geometry,
        root=str(root),
    )


def _label_geometry(
    node: Any, ndim: int, factors: tuple[float, ...], units: tuple[str, ...] | None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """An image-label's scale and translation in the units the image is read in: from
    the label's own units where it has them, else the image's conversion ``factors``."""
    from ._units import to_units

    own = _axes(node.metadata, ndim)[1]
    return tuple(
        to_units(values, own, units)
        if units is not None and any(own)
        else tuple(v * f for v, f in zip(values, factors[-len(values) :]))
        for values in _transform(node.metadata, 0, ndim, node)
    )


def _series_of(root: Path) -> tuple[Path, str]:
    """The image of a store and its name.

    A store whose root holds no image but others inside it opens at the first of them,
    with a warning when there are more: a bioformats2raw store (series ``0``, ``1``, ...),
    an HCS plate (the first field of its first well) or one well; it is named after the
    store. An image opened by its own path inside one is named with where it lies ("conv
    [series 1]", "plate [A/2 field 0]").
    """
    meta, title = _group_meta(root), image_name(root)
    if "bioformats2raw.layout" in meta:
        try:
            listed = [str(v) for v in _group_meta(root / "OME")["series"]]
        except (KeyError, TypeError):  # no OME group or list: the numbered groups
            listed = sorted((p.name for p in root.iterdir() if p.name.isdigit()), key=int)
        what = "image series"
    elif "plate" in meta:
        listed = [str(w.get("path")) for w in meta["plate"].get("wells") or []]
        listed = [f"{w}/{_first_field(root / w)}" for w in listed[:1]] + listed[1:]
        what = "wells"
    elif "well" in meta:
        listed = [str(i.get("path")) for i in meta["well"].get("images") or []]
        what = "fields"
        if "plate" in _group_meta(root.parent.parent):
            title = f"{image_name(root.parent.parent)} [{root.parent.name}/{root.name}]"
    else:
        return root, _image_title(root)
    if not listed:
        raise ZarrReadError(f"{str(root)!r} holds no image ({what} listed: none).")
    if len(listed) > 1:
        warnings.warn(
            f"{root} holds {len(listed)} {what}; the first ({listed[0]}) is read: "
            f"open {root / listed[1]} and so on to read the others.",
            UserWarning,
            stacklevel=3,
        )
    return root / listed[0], title


def _first_field(well: Path) -> str:
    images = _group_meta(well).get("well", {}).get("images") or [{"path": "0"}]
    return str(images[0].get("path"))


def _image_title(path: Path) -> str:
    """An image's name: its store's, with where it lies inside a bioformats2raw store or
    a plate."""
    if "bioformats2raw.layout" in _group_meta(path.parent):
        return f"{image_name(path.parent)} [series {path.name}]"
    plate = path.parent.parent.parent  # plate/row/column/field
    if "well" in _group_meta(path.parent) and "plate" in _group_meta(plate):
        well = f"{path.parent.parent.name}/{path.parent.name}"
        return f"{image_name(plate)} [{well} field {path.name}]"
    return image_name(path)


def _group_meta(path: Path) -> dict[str, Any]:
    """A zarr group's attributes (NGFF 0.5's under ``ome`` merged in); {} for anything
    that is not a group."""
    import zarr

    if not path.is_dir():
        return {}
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # noqa: BLE001 - not a zarr group
        return {}
    ome = attrs.get("ome")
    return {**attrs, **ome} if isinstance(ome, dict) else attrs


class _CheckedChunks:
    """One pyramid level's zarr array, read so that a damaged chunk is one sentence
    (a :class:`ZarrReadError`) instead of a codec's traceback deep in dask."""

    def __init__(self, array: Any, folder: str) -> None:
        self.array, self.where, self.folder = array, repr(folder), folder
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        try:
            return np.asarray(self.array[index])
        except Exception as exc:  # noqa: BLE001 - codecs raise anything (RuntimeError, ...)
            reason = str(exc).strip().rstrip(".") or type(exc).__name__
            which = self._damaged(index)
            raise ZarrReadError(
                f"{self.where} cannot be read: {which or 'a chunk'} is damaged or unreadable "
                f"({reason})."
            ) from exc

    #: Chunks at most read one by one to find the damaged one.
    MAX_PROBED = 64

    def _damaged(self, index: Any) -> str | None:
        """The damaged chunk among those ``index`` covers, named with its file (the store's
        own, to replace or re-copy), found by reading them one at a time; None when it
        cannot be told (the error said only "a chunk is damaged"; distributed bash)."""
        try:
            region = [
                range(*sl.indices(n)) if isinstance(sl, slice) else range(int(sl), int(sl) + 1)
                for sl, n in zip(np.index_exp[index], self.shape, strict=False)
            ]
            region += [range(n) for n in self.shape[len(region) :]]
            grid = [
                range(r.start // c, (max(r.stop, r.start + 1) - 1) // c + 1)
                for r, c in zip(region, self.array.chunks, strict=True)
            ]
        except (TypeError, ValueError, AttributeError):  # an index of another kind
            return None
        for count, at in enumerate(itertools.product(*grid)):
            if count >= self.MAX_PROBED:
                return None
            block = tuple(
                slice(i * c, min((i + 1) * c, n))
                for i, c, n in zip(at, self.array.chunks, self.shape, strict=True)
            )
            try:
                self.array[block]
            except Exception:  # noqa: BLE001 - this is the one
                return f"chunk {', '.join(map(str, at))}" + self._file_of(at)
        return None

    def _file_of(self, at: tuple[int, ...]) -> str:
        """`` (file 'path')`` of the chunk at grid position ``at``, where it is found."""
        keys = [sep.join(map(str, at)) for sep in ("/", ".")]
        for key in [*keys, "c/" + keys[0]]:  # zarr 2 ('/' or '.'), zarr 3
            path = os.path.join(self.folder, key)
            if os.path.isfile(path):
                return f" (file {path!r})"
        return ""


def _checked_levels(node: Any) -> tuple[Any, ...]:
    """The node's levels as dask arrays whose reads fail in one sentence (ome-zarr-py's
    own arrays when the levels cannot be opened this way, e.g. a remote store)."""
    import dask.array as da
    import zarr
    from ome_zarr.reader import Multiscales

    spec = next((s for s in node.specs if isinstance(s, Multiscales)), None)
    if spec is None or len(spec.datasets) != len(node.data):
        return tuple(node.data)
    levels = []
    for lazy, name in zip(node.data, spec.datasets):
        where = os.path.join(str(node.zarr.path), name)
        try:
            array = zarr.open_array(where, mode="r")
        except Exception:  # noqa: BLE001 - not a local array: keep ome-zarr-py's
            return tuple(node.data)
        checked = _CheckedChunks(array, where)
        levels.append(da.from_array(checked, chunks=lazy.chunks, name=f"checked-{lazy.name}"))
    return tuple(levels)


def _provenance(path: Path) -> dict[str, Any] | None:
    """The provenance a labels or probability store made by this plugin records (None
    otherwise)."""
    import zarr

    try:
        info = zarr.open_group(str(path), mode="r").attrs.get("unetseg") or {}
    except Exception:  # noqa: BLE001 - a store we cannot open as a group records nothing
        return None
    provenance = info.get("provenance") if isinstance(info, dict) else None
    return provenance if isinstance(provenance, dict) else None
