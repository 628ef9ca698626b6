"""Saving a whole label layer as OME-Zarr labels (the napari writer's ``.zarr`` output).

:func:`save_labels` writes through :class:`napari_unetseg._zarr_labels.LabelsStore`, chunk by
chunk, into a new labels store or under the ``labels/`` group of the OME-Zarr image the
path names (or lies in), replacing an earlier save only once the new one is complete and
never a group another program wrote. No torch.
"""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any

import numpy as np

from ._io import image_name
from ._zarr import ZarrImageData, ZarrReadError, read_ome_zarr
from ._zarr_labels import LabelsStore, reconsolidate
from .core.files import cannot_write

#: Chunk edge of a saved label image along Y and X (and 16 planes along Z): a napari view
#: of one plane reads a few chunks, a pyramid level is built chunk row by chunk row.
SAVE_CHUNK = 512
SAVE_CHUNK_Z = 16


def _store_name(name: str | None, image: str) -> str:
    """An image-label's name for a layer called ``name``: the label's own name when the
    layer is one our reader opened from this image (``"img [nuclei]"``), else the layer's
    name with every character other than letters, digits (any script's: "核" and "細胞"
    were both "labels"), ``.``, ``_`` and ``-`` made ``_``. ``image`` is the image's name
    (:attr:`ZarrImageData.name`)."""
    import re

    text = re.sub(r"[^\w.-]+", "_", _layer_text(name, image)).strip("._")
    return text or "labels"


def _layer_text(name: str | None, image: str) -> str:
    """The name a layer gives its labels before characters are replaced: the label's own
    for a layer our reader opened from this image ("img [nuclei]": "nuclei")."""
    text = (name or "").strip()
    prefix = f"{image} ["
    if text.startswith(prefix) and text.endswith("]"):
        text = text[len(prefix) : -1]
    return text


def _image_at(path: str) -> ZarrImageData | None:
    """The OME-Zarr image (not an image-label) stored at ``path``; None when there is none."""
    return _image_and_note(path)[0]


def _image_and_note(path: str) -> tuple[ZarrImageData | None, str]:
    """:func:`_image_at`, and the reader's note that the store holds several images
    ("" when it does not; not shown: which series is read is said when it is opened)."""
    if not os.path.isdir(path):
        return None, ""
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", UserWarning)
            image = read_ome_zarr(path)
    except (ValueError, OSError):
        return None, ""
    note = " ".join(str(w.message) for w in said if " holds " in str(w.message))
    return (None if image.is_labels else image), note


def _check_fits(
    shape: tuple[int, ...], axes: str, image: str, scale: tuple[float, ...] | None
) -> None:
    """Refuse labels that would not lie on the image (without its channels) under its
    ``labels/``: other axes (a 3D layer saved into a plane's store), or another shape
    covering another extent (a 300 x 300 layer saved into a 256 x 256 image was written;
    zarr bug bash). Labels on a coarser grid of the same extent are kept."""
    found = _image_at(image)
    if found is None:
        return
    keep = [i for i in range(found.data.ndim) if i != found.channel_axis]
    grid = tuple(found.data.shape[i] for i in keep)
    size = "x".join
    if len(grid) != len(shape):
        raise ValueError(
            f"Labels of {len(shape)} dimensions ({size(map(str, shape))}, {axes}) cannot "
            f"be added to the {len(grid)}D image {image!r} ({size(map(str, grid))}); "
            "save them to a new name."
        )
    if grid == shape:
        return
    ours = np.asarray(scale if scale is not None else (1.0,) * len(shape), float)
    theirs = np.asarray([found.scale[i] for i in keep], float)
    if np.allclose(ours * np.asarray(shape), theirs * np.asarray(grid), rtol=0.01):
        return
    raise ValueError(
        f"Labels of shape {size(map(str, shape))} do not cover the image {image!r} "
        f"({size(map(str, grid))}) and would not lie on it; save them to a new name."
    )


def _one_image(path: str) -> ZarrImageData | None:
    """:func:`_image_at`, refusing a plate, well or series store of several images: labels
    saved there went to its first image whichever field they were made on (zarr bug
    bash). A store of one image inside (a one-series bioformats2raw store) takes them."""
    found, several = _image_and_note(path)  # "holds 3 wells; the first ..."
    if found is not None and several and os.path.abspath(found.path) != os.path.abspath(path):
        raise ValueError(
            f"{path!r} holds several images (a plate, well or series store), not one: save "
            "the labels into the folder of the image they were made on (its first is "
            f"{found.path!r})."
        )
    return found


def _saving_target(path: str, name: str | None) -> tuple[str, str | None, str, str, str | None]:
    """(labels group, image store or None, label name, NGFF version, the layer's text
    the label is named after, or None where the path names it) for saving to ``path``.

    ``path`` naming an OME-Zarr image (one not written by napari-unetseg) means "add the
    labels under its ``labels/`` group", as ``unetseg predict --output`` does for its
    input; so does a new name inside the image's folder or its ``labels/`` group (where a
    save dialog goes when the image's name is typed), the label then named after it. An
    earlier save is replaced where it is; any other path is a new standalone labels store
    (NGFF 0.4).
    """
    if os.path.exists(path):
        try:
            info: dict[str, Any] | None = LabelsStore(path).info
        except ZarrReadError:
            info = None
        labels_of = os.path.dirname(os.path.dirname(path))
        if info is not None:  # an earlier save, standalone or an image's label
            image = labels_of if os.path.basename(os.path.dirname(path)) == "labels" else None
            if image is not None and _image_at(image) is None:
                image = None
            label = os.path.basename(path) if image else name or image_name(path)
            return path, image, label, str(info.get("version", "0.4")), None
        found = _one_image(path)
        if found is None:
            raise ValueError(
                f"{path!r} exists and is not an OME-Zarr image napari-unetseg can add "
                "labels to; it is left as it is (choose a new name)."
            )
        label, text = _store_name(name, found.name), _layer_text(name, found.name)
        return os.path.join(found.path, "labels", label), found.path, label, found.version, text
    parent = os.path.dirname(path)
    if os.path.basename(parent) == "labels":
        parent = os.path.dirname(parent)
    found = _one_image(parent)
    if found is not None:
        label = _store_name(image_name(path), found.name)
        return os.path.join(found.path, "labels", label), found.path, label, found.version, None
    return path, None, name or image_name(path), "0.4", None


def save_labels(
    path: str | os.PathLike,
    labels: Any,
    *,
    axes: str | None = None,
    scale: tuple[float, ...] | None = None,
    units: tuple[str, ...] | None = None,
    translate: tuple[float, ...] | None = None,
    provenance: dict[str, Any] | None = None,
    name: str | None = None,
) -> str:
    """Save a whole label image as OME-Zarr labels (multiscale, ``image-label``), chunk by
    chunk (a lazy array is never read whole); returns the labels group written.

    ``path`` is a new or earlier-saved ``OUT.ome.zarr`` (a standalone labels store, NGFF
    0.4), or an OME-Zarr image: then the labels go to its ``labels/NAME`` group (``name``,
    see :func:`_store_name`; the image's NGFF version), listed there for viewers. An
    earlier save is replaced only once the new one is complete; a group that
    napari-unetseg did not write is never replaced (one-sentence ``ValueError``), nor is
    anything written for labels that are not whole, non-negative numbers.
    """
    from ._tiff_write import _default_axes, _label_dtype

    path = os.path.abspath(os.fspath(path).rstrip("/\\"))
    shape = tuple(int(s) for s in labels.shape)
    axes = (axes or _default_axes(len(shape))).upper()
    if len(axes) != len(shape):
        raise ValueError(f"axes {axes!r} do not match the labels' {len(shape)} dimensions.")
    target, image, label, version, layer_text = _saving_target(path, name)
    if image is not None:
        _check_fits(shape, axes, image, None if scale is None else tuple(scale))
    if os.path.exists(target):
        _check_same_layer(target, LabelsStore(target).info, layer_text, name)
    dtype = _label_dtype(labels, "OME-Zarr")
    chunks = tuple(
        min(s, SAVE_CHUNK if a in "YX" else SAVE_CHUNK_Z if a == "Z" else 1)
        for s, a in zip(shape, axes)
    )
    grid = tuple(-(-s // c) for s, c in zip(shape, chunks))
    partial = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.saving")
    try:
        store = LabelsStore.create(
            partial,
            shape=shape,
            chunks=chunks,
            block_grid=grid,
            axes=axes,
            scale=tuple(scale) if scale is not None else (1.0,) * len(shape),
            units=units,
            translate=translate,
            version=version,
            dtype=dtype,
            overwrite=True,
            image=image,
            provenance=provenance,
            settings={"layer": layer_text} if layer_text else None,
        )
        level0 = store.level0()
        for index in np.ndindex(*grid):
            region = tuple(
                slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape)
            )
            level0[region] = np.asarray(labels[region]).astype(dtype, copy=False)
            store.mark_done(index)
        store.prepare_levels()
        for level, region in store.pyramid_tasks():
            store.build_level(level, region)
        store.finish(name=label, image=image)
        _swap_in(partial, target)
        if image is not None:  # the store's cached listing names the partial store
            reconsolidate(image)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):  # "[Errno 28] No space left on device", or the
            # hidden partial store named (disk bug bash): the store saved to, in a sentence
            raise cannot_write(exc, target) from exc
        raise
    return target


def _check_same_layer(
    target: str, earlier: dict[str, Any], text: str | None, layer: str | None
) -> None:
    """Refuse to replace an image's labels saved from another layer whose name gives the
    same group name ("a b" and "a_b"): a save replaced the other layer's labels. ``text``:
    the layer's name as :func:`_layer_text` reads it (the layer our reader opened from
    that group, "img [nuclei]", is the layer that saved "nuclei")."""
    saved_from = (earlier.get("settings") or {}).get("layer")
    if text and saved_from and saved_from != text:
        raise ValueError(
            f"{target!r} holds the labels saved from the layer {saved_from!r}; rename the "
            f"layer {layer!r} to save it beside them."
        )


def _swap_in(partial: str, target: str) -> None:
    """Put the complete store ``partial`` at ``target``, replacing an earlier one only now."""
    old = f"{partial}.old"
    if os.path.exists(target):
        os.replace(target, old)
    os.replace(partial, target)
    shutil.rmtree(old, ignore_errors=True)


def write_image_store(
    path: str | os.PathLike, image: Any, axes: str, labels: Any = None, label_name: str = "labels"
) -> None:
    """Write ``image`` as a new OME-Zarr image (NGFF 0.4, zarr v2, a pyramid of two
    levels) with ome-zarr-py, ``labels`` as its image-label ``label_name``: a store to
    try the block-by-block and cluster commands on (``unetseg sample x.ome.zarr``; the
    docs' examples had none to run on). Written beside ``path`` and moved in place once
    complete, replacing what was there."""
    import zarr

    write_image, _ = _ome_writers()
    target = os.fspath(path).rstrip("/\\")
    partial = f"{target}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        group = zarr.open_group(partial, mode="w", zarr_format=2)
        write_image(np.asarray(image), group, **_sample_options(axes))
        if labels is not None:
            add_image_labels(group, labels, axes, label_name)
        _swap_in(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def add_image_labels(group: Any, labels: Any, axes: str, name: str) -> None:
    """Write ``labels`` as image-label ``name`` of the OME-Zarr image ``group`` (a zarr
    group or its path), beside the labels it has (ome-zarr-py, NGFF 0.4)."""
    import zarr

    if not hasattr(group, "attrs"):
        group = zarr.open_group(os.fspath(group), mode="r+")
    _, write_labels = _ome_writers()
    # scaler=None: its default is a deprecated Scaler (5 levels, a warning)
    write_labels(np.asarray(labels), group, name=name, scaler=None, **_sample_options(axes))
    listed = group["labels"].attrs.get("labels") or []  # a name listed before, once (review)
    group["labels"].attrs["labels"] = list(dict.fromkeys(listed))


def _sample_options(axes: str) -> dict[str, Any]:
    from ome_zarr.format import FormatV04

    return {"axes": axes.lower(), "fmt": FormatV04(), "scale_factors": (2,)}


def _ome_writers() -> tuple[Any, Any]:
    """ome-zarr-py's ``write_image`` and ``write_labels``, imported without the warning
    its default argument (a deprecated Scaler) gives."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Call to deprecated class Scaler")
        from ome_zarr.writer import write_image, write_labels
    return write_image, write_labels
