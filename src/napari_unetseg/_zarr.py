"""OME-Zarr input and output: NGFF 0.4 (zarr v2) and 0.5 (zarr v3), lazily (no torch).

Reading (:func:`read_ome_zarr`) goes through ome-zarr-py's reader: the image's pyramid
levels as dask arrays (level 0 by default), the axes from the ``multiscales`` metadata,
the physical scale and translation from the level's coordinate transformations, the
units from the axes. Nothing is read until a block of the array is asked for.

Writing labels (:class:`LabelsStore`) is block by block, never the whole volume in
memory: :meth:`LabelsStore.create` makes an empty chunked level-0 array (chunks equal to
the prediction blocks, so concurrent writers never share a chunk) and a small "blocks
written" array that lets an interrupted run resume; blocks are written straight into the
store; :meth:`LabelsStore.finish` downsamples the pyramid chunk by chunk, only then writes
the OME metadata (``multiscales`` + ``image-label``, through ome-zarr-py), so a store
without metadata is an unfinished run, and last removes the "blocks written" array. The
labels go either to a new ``OUT.ome.zarr`` or, for an OME-Zarr input, under its
``labels/`` group. How the arrays and axes are described: :mod:`napari_unetseg._zarr_meta`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._io import ImageData, image_name, is_zarr_path
from ._tiff_read import _channel_axis
from ._units import _unit, one_length_unit
from ._zarr_meta import (
    _array_options,
    _axes_metadata,
    _format,
    check_axes,
    level_step,
    levels_like,
    pyramid_shapes,
)

__all__ = [
    "LabelsStore",
    "ZarrImageData",
    "ZarrReadError",
    "is_zarr_path",
    "read_ome_zarr",
]

#: The "blocks written" array inside an unfinished (resumable) labels store; removed when
#: the store is finished, so that no reader takes it for a pyramid level.
BLOCKS = "unetseg_blocks"


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


def _image_levels(image: str, shape: tuple[int, ...]) -> list[list[int]] | None:
    """The level shapes for labels of ``shape`` added to the OME-Zarr ``image``: its own
    pyramid's (:func:`~napari_unetseg._zarr_meta.levels_like`), or None."""
    try:
        img = read_ome_zarr(image)
    except (ValueError, OSError):
        return None
    ca = img.channel_axis
    shapes = [tuple(n for a, n in enumerate(lv.shape) if a != ca) for lv in img.levels]
    like = levels_like(shapes, tuple(shape))
    return None if like is None else [list(s) for s in like]


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
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise ZarrReadError(f"{str(path)!r} is not a readable OME-Zarr store ({reason}).") from exc
    if location is None:
        if _is_zarr_array(path):
            raise ZarrReadError(
                f"{str(path)!r} is a zarr array, not an OME-Zarr image (no multiscales "
                "metadata); open the OME-Zarr store that holds it, or one written with "
                "ome-zarr-py."
            )
        raise ZarrReadError(f"{str(path)!r} is not a zarr store.")
    return nodes


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
    scale, translate = _transform(meta, level, data.ndim, node)
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
    label_nodes = {
        n.metadata.get("name") or f"labels {i}": n
        for i, n in enumerate(nodes[1:])
        if any(isinstance(s, Label) for s in n.specs) and n.data
    }
    labels = {name: _checked_levels(n) for name, n in label_nodes.items()}
    # where each image-label lies: its own transformations (they may differ from the
    # image's: labels drawn at a coarser grid)
    label_geometry = {
        name: tuple(
            tuple(v * f for v, f in zip(values, factors[-len(values) :]))
            for values in _transform(n.metadata, 0, labels[name][0].ndim, n)
        )
        for name, n in label_nodes.items()
    }
    return ZarrImageData(
        provenance=_provenance(path) if is_label else None,
        data=data,
        axes=axes,
        scale=scale,
        units=units,
        channel_axis=channel_axis,
        name=title if not is_label else path.name,
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

    def __init__(self, array: Any, where: str) -> None:
        self.array, self.where = array, where
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        try:
            return np.asarray(self.array[index])
        except Exception as exc:  # noqa: BLE001 - codecs raise anything (RuntimeError, ...)
            reason = str(exc).strip().rstrip(".") or type(exc).__name__
            raise ZarrReadError(
                f"{self.where} cannot be read: a chunk is damaged or unreadable ({reason})."
            ) from exc


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
        checked = _CheckedChunks(array, repr(where))
        levels.append(da.from_array(checked, chunks=lazy.chunks, name=f"checked-{lazy.name}"))
    return tuple(levels)


def _provenance(path: Path) -> dict[str, Any] | None:
    """The provenance a labels store made by this plugin records (None otherwise)."""
    import zarr

    try:
        info = zarr.open_group(str(path), mode="r").attrs.get("unetseg") or {}
    except Exception:  # noqa: BLE001 - a store we cannot open as a group records nothing
        return None
    provenance = info.get("provenance") if isinstance(info, dict) else None
    return provenance if isinstance(provenance, dict) else None


# -- writing ------------------------------------------------------------------------------


class LabelsStore:
    """A labels OME-Zarr written block by block (see the module docstring).

    ``path`` is the labels group: a standalone ``OUT.ome.zarr`` or
    ``IMAGE.ome.zarr/labels/NAME``. Instances are small and picklable (they hold paths
    and plain values), so cluster workers open the store themselves.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path).rstrip("/\\")

    # -- creation -----------------------------------------------------------------------
    @staticmethod
    def target(
        output: str | os.PathLike, source: ZarrImageData | None, name: str = "unet"
    ) -> tuple[str, str | None]:
        """Where labels for ``output`` go: (labels group, image store or None).

        ``--output`` naming the OME-Zarr input itself means "add an image-label under
        its ``labels/`` group"; anything else is a standalone store.
        """
        out = os.path.abspath(os.fspath(output).rstrip("/\\"))
        named = {os.path.abspath(p) for p in (source.path, source.root) if p} if source else ()
        if out in named:
            image = os.path.abspath(source.path)  # a bioformats2raw store: its series
            return os.path.join(image, "labels", name), image
        return out, None

    @staticmethod
    def label_name(model: str, channel: int | None = None) -> str:
        """The name of a block run's labels under an image store's ``labels/`` group: the
        model's, with the channel (``nuclei-2d-c1``) where one channel of several is
        segmented, so that a run on another channel adds labels instead of replacing them."""
        return model if channel is None else f"{model}-c{int(channel)}"

    @classmethod
    def exists(cls, path: str | os.PathLike) -> bool:
        return os.path.exists(os.fspath(path))

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        block_grid: tuple[int, ...],
        axes: str,
        scale: tuple[float, ...],
        units: tuple[str, ...] | None,
        translate: tuple[float, ...] | None,
        version: str = "0.4",
        dtype: Any = np.uint8,
        settings: dict[str, Any] | None = None,
        overwrite: bool = False,
        image: str | None = None,
        provenance: dict[str, Any] | None = None,
        labels: bool = True,
    ) -> LabelsStore:
        """Make an empty labels store (no OME metadata yet: that marks it unfinished).

        ``labels=False`` makes a plain image store instead (a probability map): no
        ``image-label`` metadata when it is finished.

        ``image``: the OME-Zarr image whose ``labels/`` group ``path`` is in.
        ``provenance``: how the labels are made (:mod:`napari_unetseg.provenance`), kept
        in the store's ``unetseg`` attributes and read back as ``ImageData.provenance``.
        """
        import zarr

        check_axes(axes, units, version)
        path = os.fspath(path).rstrip("/\\")
        if cls.check_replaceable(path, overwrite):
            shutil.rmtree(path)
        fmt = _format(version)
        if image is not None:  # the image's labels/ group, made a zarr group if new
            zarr.open_group(os.path.dirname(path), mode="a", zarr_format=fmt.zarr_format)
        group = zarr.open_group(path, mode="w", zarr_format=fmt.zarr_format)
        group.create_array(
            "0",
            shape=tuple(shape),
            chunks=tuple(chunks),
            dtype=dtype,
            fill_value=0,
            **_array_options(version, axes, len(shape)),
        )
        group.create_array(
            BLOCKS,
            shape=tuple(block_grid),
            chunks=(1,) * len(block_grid),
            dtype="u1",
            fill_value=0,
            **_array_options(version, axes, len(block_grid)),
        )
        group.attrs["unetseg"] = {
            "complete": False,
            "blocks": [int(n) for n in block_grid],
            "axes": axes,
            "scale": [float(s) for s in scale],
            "units": None if units is None else list(units),
            "translate": None if translate is None else [float(t) for t in translate],
            "version": str(version),
            "settings": json.loads(json.dumps(settings or {})),
            "provenance": json.loads(json.dumps(provenance)) if provenance else None,
            "labels": bool(labels),
            # an image's labels follow its pyramid level for level (None: their own)
            "levels": _image_levels(image, shape) if image is not None and labels else None,
        }
        return cls(path)

    # -- state ----------------------------------------------------------------------------
    def _group(self, mode: str = "r") -> Any:
        import zarr

        return zarr.open_group(self.path, mode=mode)

    @property
    def info(self) -> dict[str, Any]:
        """What :meth:`create` recorded (axes, scale, settings, ``complete``)."""
        try:
            info = self._group().attrs.get("unetseg")
        except Exception:  # noqa: BLE001 - not a zarr group at all
            info = None
        if info is None:
            raise ZarrReadError(
                f"{self.path!r} exists and was not written by napari-unetseg; it is left as "
                "it is (choose a new name)."
            )
        return dict(info)

    def level0(self, mode: str = "r+") -> Any:
        import zarr

        return zarr.open_array(os.path.join(self.path, "0"), mode=mode)

    def blocks_done(self) -> np.ndarray:
        """Boolean grid: which blocks are already written (all of them once the store is
        finished: :meth:`finish` removes the array that records them)."""
        import zarr

        where = os.path.join(self.path, BLOCKS)
        info = self.info
        if not os.path.exists(where) and info.get("complete") and "blocks" in info:
            return np.ones(tuple(info["blocks"]), dtype=bool)
        return np.asarray(zarr.open_array(where, mode="r")[...]) > 0

    def mark_done(self, index: tuple[int, ...]) -> None:
        """Mark a block written (only after its labels are: a block marked done is
        always complete)."""
        import zarr

        zarr.open_array(os.path.join(self.path, BLOCKS), mode="r+")[tuple(index)] = 1

    def set_info(self, **values: Any) -> None:
        """Record ``values`` in the store's ``unetseg`` attributes (e.g. a pass finished)."""
        info = self.info
        info.update(values)
        self._group("r+").attrs["unetseg"] = json.loads(json.dumps(info))

    @classmethod
    def check_replaceable(cls, path: str, overwrite: bool) -> bool:
        """Whether a store is at ``path`` to be replaced (False: nothing there); refused
        in one sentence when it exists without ``overwrite``, or is not ours (an image)."""
        if not os.path.exists(path):
            return False
        if not overwrite:
            raise FileExistsError(
                f"{path!r} exists; pass --overwrite to replace it or --resume to finish it."
            )
        cls(path).info  # noqa: B018 - refuses a store we did not write (an image)
        return True

    def create_scratch(
        self, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any
    ) -> Any:
        """A working array inside the store (replaced if it exists), removed by
        :meth:`drop_scratch` before the store is finished."""
        info = self.info
        extra = _array_options(info["version"], info["axes"], len(shape))
        return self._group("r+").create_array(
            name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0, overwrite=True, **extra
        )

    def drop_scratch(self, *names: str) -> None:
        for name in names:
            shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)

    # -- finishing ------------------------------------------------------------------------
    def level_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of the store's pyramid levels, level 0 first: its image's levels
        where it is an image's labels (recorded by :meth:`create`), else halvings of Y and
        X (:func:`pyramid_shapes`)."""
        info = self.info
        if info.get("levels"):
            return [tuple(int(n) for n in s) for s in info["levels"]]
        return pyramid_shapes(tuple(self.level0(mode="r").shape), info["axes"])

    def pyramid_tasks(self) -> list[tuple[int, tuple[slice, ...]]]:
        """(level, region) pairs that build the pyramid, chunk rows of each new level.

        Level ``n`` needs level ``n - 1`` complete, so the caller runs them level by
        level (:meth:`build_level` does one region).
        """
        base = self.level0(mode="r")
        shapes = self.level_shapes()
        tasks = []
        for n, shape in enumerate(shapes[1:], start=1):
            chunks = tuple(min(c, s) for c, s in zip(base.chunks, shape))
            for start in np.ndindex(*(math.ceil(s / c) for s, c in zip(shape, chunks))):
                region = tuple(
                    slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(start, chunks, shape)
                )
                tasks.append((n, region))
        return tasks

    def prepare_levels(self) -> None:
        """Create the empty arrays of levels 1.. (before :meth:`build_level` runs)."""
        info = self.info
        group = self._group("r+")
        base = group["0"]
        extra = _array_options(info["version"], info["axes"], base.ndim)
        for n, shape in enumerate(self.level_shapes()[1:], start=1):
            chunks = tuple(min(c, s) for c, s in zip(base.chunks, shape))
            group.create_array(
                str(n),
                shape=shape,
                chunks=chunks,
                dtype=base.dtype,
                fill_value=0,
                overwrite=True,
                **extra,
            )

    def build_level(self, level: int, region: tuple[slice, ...]) -> None:
        """Fill ``region`` of ``level`` from level ``level - 1`` (every other pixel of a
        halved axis, every k-th of one shrunk k times: nearest-neighbour, so label values
        stay label values)."""
        import zarr

        src = zarr.open_array(os.path.join(self.path, str(level - 1)), mode="r")
        dst = zarr.open_array(os.path.join(self.path, str(level)), mode="r+")
        read = tuple(
            slice(r.start * k, min(r.stop * k, s), k)
            for r, k, s in zip(region, level_step(src.shape, dst.shape), src.shape)
        )
        dst[region] = np.asarray(src[read])

    def finish(self, name: str = "labels", image: str | None = None) -> None:
        """Write the OME metadata (pyramid already built): the store is complete.

        With ``image`` (the OME-Zarr input), the labels are also listed in its
        ``labels/`` group so viewers show them over the image.
        """
        with warnings.catch_warnings():
            # ome-zarr-py >= 0.14 builds a deprecated Scaler as a default argument when
            # its writer is imported: a warning about its own code, not about ours.
            warnings.filterwarnings("ignore", "Call to deprecated class Scaler")
            from ome_zarr.writer import add_metadata, get_metadata, write_multiscales_metadata

        info = self.info
        axes = info["axes"]
        fmt = _format(info["version"])
        group = self._group("r+")
        scale = [float(s) for s in info["scale"]]
        offset = [float(t) for t in (info["translate"] or [0.0] * len(axes))]
        datasets = []
        shapes = self.level_shapes()
        for n, shape in enumerate(shapes):
            f = [float(k) for k in level_step(shapes[0], shape)]
            # Pixel centres of level n sit (2**n - 1) / 2 level-0 pixels further in.
            shift = [o + (k - 1) * s / 2 for o, k, s in zip(offset, f, scale)]
            transforms: list[dict[str, Any]] = [
                {"type": "scale", "scale": [s * k for s, k in zip(scale, f)]}
            ]
            if any(shift):
                transforms.append({"type": "translation", "translation": shift})
            datasets.append({"path": str(n), "coordinateTransformations": transforms})
        units = tuple(info["units"]) if info["units"] else None
        write_multiscales_metadata(
            group, datasets, fmt=fmt, axes=_axes_metadata(axes, units), name=name
        )
        # The image-label metadata (write_label_metadata does the same for a group it
        # finds under labels/; a standalone store has no such parent).
        if info.get("labels", True):
            label: dict[str, Any] = {"version": fmt.version}
            if image is not None:  # the image it lies on (ome-zarr's Reader looks for it)
                label["source"] = {"image": "../../"}
            add_metadata(group, {"image-label": label}, fmt=fmt)
        info["complete"] = True
        group.attrs["unetseg"] = info
        # Only now, the store being complete (--resume then has nothing to do): the
        # bookkeeping array would be taken for a pyramid level by readers that list the
        # group's arrays (napari's builtin reader, generic zarr tools).
        if BLOCKS in group:
            del group[BLOCKS]
        if image is not None:
            import zarr

            parent = zarr.open_group(os.path.dirname(self.path), mode="r+")
            listed = list(get_metadata(parent).get("labels", []))
            if name not in listed:
                listed.append(name)
            listing: dict[str, Any] = {"labels": listed}
            if fmt.zarr_format == 3:  # NGFF 0.5: every OME group's "ome" names its version
                listing["version"] = fmt.version  # (ome-zarr-py's write_labels omits it)
            add_metadata(parent, listing, fmt=fmt)
