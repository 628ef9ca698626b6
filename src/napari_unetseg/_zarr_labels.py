"""OME-Zarr labels output, written block by block (no torch).

Writing labels (:class:`LabelsStore`) is block by block, never the whole volume in
memory: :meth:`LabelsStore.create` makes an empty chunked level-0 array (chunks equal to
the prediction blocks, so concurrent writers never share a chunk) and a small "blocks
written" array that lets an interrupted run resume; blocks are written straight into the
store; :meth:`LabelsStore.finish` downsamples the pyramid chunk by chunk, only then writes
the OME metadata (``multiscales`` + ``image-label``, through ome-zarr-py), so a store
without metadata is an unfinished run, and last removes the "blocks written" array. The
labels go either to a new ``OUT.ome.zarr`` or, for an OME-Zarr input, under its
``labels/`` group. Reading: :mod:`napari_unetseg._zarr`; how the arrays and axes are
described: :mod:`napari_unetseg._zarr_meta`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from typing import Any

import numpy as np

from ._zarr import ZarrImageData, ZarrReadError, read_ome_zarr
from ._zarr_meta import (
    _array_options,
    _axes_metadata,
    _format,
    check_axes,
    level_step,
    levels_like,
    pyramid_shapes,
)
from .core.files import cannot_write

__all__ = ["BLOCKS", "LabelsStore"]

#: The "blocks written" array inside an unfinished (resumable) labels store; removed when
#: the store is finished, so that no reader takes it for a pyramid level.
BLOCKS = "unetseg_blocks"


def _image_pyramid(
    image: str, axes: str, shape: tuple[int, ...]
) -> tuple[list[list[int]] | None, list[list[float]] | None]:
    """For labels of ``shape`` (axes ``axes``) added to the OME-Zarr ``image``: the level
    shapes of its own pyramid (:func:`~napari_unetseg._zarr_meta.levels_like`), and how
    far each of those levels lies from the labels' first, per labels axis, in the image's
    units (the image read once for both). Pyramids made by averaging shift their smaller
    levels by half a pixel of the level above (ome-zarr-py's writer), those made by taking
    every other pixel do not: the labels' levels follow their image's, whichever it is.
    (None, None) where the labels get a pyramid of their own; shifts None where the
    image's levels give no transformations to read."""
    from pathlib import Path

    from ._zarr import _axes, _group_meta, _scale_and_shift

    try:
        img = read_ome_zarr(image)
    except (ValueError, OSError):
        return None, None
    ca = img.channel_axis
    shapes = [tuple(n for a, n in enumerate(lv.shape) if a != ca) for lv in img.levels]
    like = levels_like(shapes, tuple(shape))
    if like is None:
        return None, None
    multiscales = _group_meta(Path(image)).get("multiscales") or [{}]
    meta = multiscales[0] if isinstance(multiscales[0], dict) else {}
    datasets = meta.get("datasets") or []
    if len(datasets) != len(shapes):
        return [list(s) for s in like], None
    ndim = len(img.levels[0].shape)
    letters, _ = _axes(meta, ndim)
    first = shapes.index(tuple(shape))
    where = [
        _scale_and_shift(d.get("coordinateTransformations"), ndim)[1] for d in datasets[first:]
    ]
    index = [letters.index(a) if a in letters else None for a in axes]
    shifts = [[0.0 if i is None else t[i] - where[0][i] for i in index] for t in where]
    return [list(s) for s in like], shifts


def _in_image_units(
    image: str, axes: str, scale: Any, translate: Any, units: tuple[str, ...]
) -> tuple[tuple[float, ...], tuple[float, ...] | None, tuple[str, ...]]:
    """Labels' geometry in the unit the image itself gives each axis (Z in µm beside Y, X
    in nm): ome-zarr-py and napari-ome-zarr read no units, so labels written in one unit
    lay 1000 times off the image there (zarr bug bash)."""
    from pathlib import Path

    from ._units import _CM_PER_UNIT, _unit, to_units
    from ._zarr import _axes, _group_meta

    multiscales = _group_meta(Path(image)).get("multiscales") or [{}]
    raw = multiscales[0].get("axes") if isinstance(multiscales[0], dict) else None
    if not raw:
        return tuple(scale), translate, units
    letters, image_units = _axes(multiscales[0], len(raw))
    own = dict(zip(letters, image_units))
    target = tuple(
        own.get(a) or u if _unit(str(u)) in _CM_PER_UNIT else u for a, u in zip(axes, units)
    )
    moved = None if translate is None else to_units(translate, units, target)
    return to_units(scale, units, target), moved, target


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
        its ``labels/`` group" (named ``name``), and ``IMAGE.ome.zarr/labels/NAME`` the
        same under a name of one's own (it was refused, and ``labels/NAME.zarr`` made a
        store that ``labels/`` does not list; zarr bug bash); anything else is a
        standalone store.
        """
        out = os.path.abspath(os.fspath(output).rstrip("/\\"))
        named = {os.path.abspath(p) for p in (source.path, source.root) if p} if source else ()
        image = os.path.abspath(source.path) if source else None  # bioformats2raw: its series
        if out in named:
            return os.path.join(image, "labels", name), image
        folder = os.path.dirname(out)
        if os.path.basename(folder) == "labels" and os.path.dirname(folder) in named:
            return os.path.join(image, "labels", os.path.basename(out)), image
        inside = next((p for p in named if out.startswith(p + os.sep)), None)
        if inside is not None:  # a store in the image's folder, not listed (cluster bash)
            raise ValueError(
                f"The output {os.fspath(output)!r} lies inside the image store {inside!r}, "
                "where OME-Zarr viewers do not look for labels: name the image store itself "
                f"(its labels/ group), {os.path.join(image, 'labels', 'NAME')!r}, or a store "
                "outside it."
            )
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

        if image is not None and units is not None:
            scale, translate, units = _in_image_units(image, axes, scale, translate, units)
        check_axes(axes, units, version)
        path = os.fspath(path).rstrip("/\\")
        if cls.check_replaceable(path, overwrite):
            shutil.rmtree(path)
        try:
            fmt = _format(version)
            if image is not None:  # the image's labels/ group, made a zarr group if new,
                # listed at once: a first run stopped early left a bare group, and
                # validators then refused the user's image (OME-Zarr interop bash)
                zarr.open_group(os.path.dirname(path), mode="a", zarr_format=fmt.zarr_format)
                _relist(os.path.dirname(path), fmt)
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
            # an image's labels follow its pyramid level for level, where its levels lie
            # (None: a pyramid of their own)
            levels, shifts = (
                _image_pyramid(image, axes, shape)
                if image is not None and labels
                else (None, None)
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
                "levels": levels,
                "level_shifts": shifts,
            }
        except BaseException as exc:
            # a store half made (a full disk: its group without our record) was "not
            # written by napari-unetseg", refused by --resume and --overwrite alike, and
            # the error named no store (disk bug bash)
            shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, OSError):
                raise cannot_write(exc, path) from exc
            raise
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
                "it is (choose a new name: in napari, rename the layer; on the command "
                "line, give --output IMAGE.ome.zarr/labels/NAME)."
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
        # a store we did not write first: "pass --overwrite" was said of a folder that
        # --overwrite then refused (distributed bash)
        cls(path).info  # noqa: B018 - refuses a store we did not write (an image)
        if not overwrite:
            raise FileExistsError(
                f"{path!r} exists; pass --overwrite (overwrite=True in Python) to replace it "
                "or --resume (resume=True) to finish it."
            )
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
            from ome_zarr.writer import add_metadata, write_multiscales_metadata

        info = self.info
        axes = info["axes"]
        fmt = _format(info["version"])
        group = self._group("r+")
        scale = [float(s) for s in info["scale"]]
        offset = [float(t) for t in (info["translate"] or [0.0] * len(axes))]
        datasets = []
        shapes = self.level_shapes()
        # Level n takes every k-th pixel from the first (build_level): its pixel i is
        # level 0's pixel k * i, on the same origin; an image's labels follow the image's
        # own levels instead (averaged pyramids shift by half a pixel of the level above)
        shifts = info.get("level_shifts") or []
        if len(shifts) != len(shapes):
            shifts = [[0.0] * len(axes)] * len(shapes)
        for n, shape in enumerate(shapes):
            f = [float(k) for k in level_step(shapes[0], shape)]
            transforms: list[dict[str, Any]] = [
                {"type": "scale", "scale": [s * k for s, k in zip(scale, f)]}
            ]
            shift = [o + d for o, d in zip(offset, shifts[n])]
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
        if image is not None:  # (a store written beside its place: refreshed once moved;
            # the whole store was walked twice per save)
            here = os.path.basename(self.path) == name
            _relist(os.path.dirname(self.path), fmt, add=name, refresh=here)

    def move_onto(self, path: str | os.PathLike) -> LabelsStore:
        """Put this finished store of an image's ``labels/`` group in the place of
        ``path`` (another of that group, an earlier run's, removed first; or new), under
        that name in the group's listing and in its own metadata. A run that replaces
        earlier labels writes beside them and moves onto them only once complete, so a
        run cancelled half-way leaves the earlier labels as they were."""
        from ome_zarr.writer import add_metadata, get_metadata

        path = os.fspath(path).rstrip("/\\")
        name = os.path.basename(path)
        fmt = _format(self.info["version"])
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(self.path, path)
        moved = LabelsStore(path)
        group = moved._group("r+")
        multiscales = [dict(m, name=name) for m in get_metadata(group).get("multiscales", [])]
        add_metadata(group, {"multiscales": multiscales}, fmt=fmt)
        _relist(os.path.dirname(path), fmt, add=name, drop=os.path.basename(self.path))
        return moved


def _relist(
    folder: str, fmt: Any, add: str | None = None, drop: str | None = None, refresh: bool = True
) -> None:
    """List ``add`` (and no longer ``drop``) in the image's ``labels/`` group at ``folder``
    (without ``add``: its listing as it is, written where it has none), and refresh the
    store's consolidated metadata where ``add`` is given and ``refresh`` (not for a store
    still under another folder name: it is refreshed once moved in place)."""
    import zarr
    from ome_zarr.writer import add_metadata, get_metadata

    parent = zarr.open_group(folder, mode="r+", use_consolidated=False)
    listed = [n for n in get_metadata(parent).get("labels", []) if n != drop]
    if add is not None and add not in listed:
        listed.append(add)
    listing: dict[str, Any] = {"labels": listed}
    if fmt.zarr_format == 3:  # NGFF 0.5: every OME group's "ome" names its version
        listing["version"] = fmt.version  # (ome-zarr-py's write_labels omits it)
    add_metadata(parent, listing, fmt=fmt)
    if add is not None and refresh:
        reconsolidate(os.path.dirname(folder))


def reconsolidate(image: str) -> None:
    """Refresh the consolidated metadata (a cached listing of a store's groups, written
    by ngff-zarr and others: ``.zmetadata``, or ``consolidated_metadata`` in a
    ``zarr.json``) of the image folder and of each zarr group above it that has some:
    labels added to such a store were on disk, but zarr and OME-Zarr validators that read
    the cache did not see them (OME-Zarr interop bash)."""
    import json
    import warnings

    import zarr

    here = os.path.abspath(image)
    while any(os.path.isfile(os.path.join(here, f)) for f in (".zgroup", "zarr.json")):
        v3 = os.path.join(here, "zarr.json")
        try:
            if os.path.isfile(os.path.join(here, ".zmetadata")):
                zarr.consolidate_metadata(here, zarr_format=2)
            elif os.path.isfile(v3):
                with open(v3, encoding="utf-8") as f:
                    cached = json.load(f).get("consolidated_metadata") is not None
                if cached:
                    with warnings.catch_warnings():  # "not part of the format 3 spec"
                        warnings.filterwarnings("ignore", "Consolidated metadata")
                        zarr.consolidate_metadata(here, zarr_format=3)
        except Exception as exc:  # noqa: BLE001 - the labels are saved: a refresh that
            # fails (a codec missing here, a read-only folder above) must not lose them
            warnings.warn(
                f"The labels are saved, but the consolidated metadata of {here!r} could "
                f"not be refreshed ({exc}); readers that use it may not list them.",
                UserWarning,
                stacklevel=2,
            )
        up = os.path.dirname(here)
        if up == here:
            break
        here = up
