"""NIfTI-1 / NIfTI-2 images in and label images out (``.nii``, ``.nii.gz``), through nibabel.

MR and CT volumes come as NIfTI: a voxel array indexed (i, j, k[, t]) and an affine from
voxel indices to world millimetres. Our axes convention is napari's (T, Z, Y, X), so
:func:`read_nifti` presents the array transposed, (k, j, i) for a volume, with the
header's voxel sizes as the scale. Nothing is resampled or reoriented: the voxels stay
the file's own, and the affine travels with the image (:attr:`ImageData.affine`), so
:func:`write_nifti` writes labels back with the very same affine and 3D Slicer or
ITK-SNAP overlays them on the image exactly. The provenance of labels written here is
kept in a NIfTI comment extension (JSON).
"""

from __future__ import annotations

import gzip
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._units import _CM_PER_UNIT, _convert, _unit, common_unit, one_length_unit
from .core.files import missing_file

#: File endings of NIfTI images (gzipped or not).
NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: nibabel's names of the header's spatial units, as our short unit names. Headers that
#: leave the unit unknown (templates, many converters) are millimetres, as ITK and the
#: MR / CT viewers built on it read them.
_UNITS = {"mm": "mm", "micron": "µm", "meter": "m", "unknown": "mm"}
#: NIfTI's time units, as ours (seconds where the header says none).
_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "µs"}
#: Our time units NIfTI has no code for, in seconds.
_SECONDS = {"min": 60.0, "h": 3600.0, "d": 86400.0}
#: The NIfTI intent code of a label image (NIFTI_INTENT_LABEL).
_INTENT_LABEL = 1002
#: Words of medical label file names besides "label" / "mask": BraTS's ``_seg``,
#: FreeSurfer's ``aseg`` / ``aparc``, BIDS's ``dseg``, ``_gt``, ground truth, annotations
#: (they opened as images, so Validate did not offer them; NIfTI bug bash). Whole words
#: only (``_io.says_labels``'s split): "T1w_masked", a skull-stripped image, was labels.
_MEDICAL_LABEL_WORDS = frozenset(
    {
        "seg", "segs", "segmentation", "segmentations", "segmented", "dseg", "aseg",
        "aparc", "parc", "parcellation", "truth", "gt", "annot", "annotation",
        "annotations",
    }
)  # fmt: skip


def _says_medical_labels(name: str) -> bool:
    from ._io import _WORDS, says_labels

    return says_labels(name) or any(
        w.lower() in _MEDICAL_LABEL_WORDS for w in _WORDS.findall(name)
    )


#: NIfTI extension code of a comment (where the provenance goes).
_COMMENT = 6
_PROVENANCE_KEY = "napari-unetseg provenance"


class NiftiReadError(ValueError):
    """A file that is not a readable NIfTI image (a ``ValueError`` in one sentence)."""


def _axes(ndim: int) -> str:
    return {2: "YX", 3: "ZYX", 4: "TZYX"}[ndim]


def read_nifti(path: str | os.PathLike) -> Any:
    """Read a NIfTI image as :class:`~napari_unetseg._io.ImageData` (whole, in memory).

    The array is the file's, transposed to (Z, Y, X) (or (Y, X), (T, Z, Y, X)); ``scale``
    is the voxel size from the header, in its unit (mm where the header leaves it unknown),
    and ``affine`` the file's voxel-to-world matrix. A volume with one slice is a plane.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    NiftiReadError
        A ``ValueError`` in one sentence: not a NIfTI file, a damaged one, or more than
        four dimensions.
    """
    import nibabel as nib

    from ._io import ImageData, image_name

    path = Path(path)
    if not path.is_file():
        raise missing_file(path)
    try:
        image = nib.load(str(path))
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise ValueError(f"it holds a {type(image).__name__}, not a NIfTI image")
        data = _scaled(image.dataobj)
    except Exception as exc:  # noqa: BLE001 - nibabel and gzip raise many kinds
        # one line: nibabel's second ("could the file be damaged?") was cut off, and the
        # closing bracket with it
        reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
        raise NiftiReadError(f"{str(path)!r} is not a readable NIfTI file ({reason}).") from exc
    header = image.header
    # the voxel size the affine gives (as the writer and the grid checks take it): an
    # sform alone may disagree with pixdim, and its 3 mm slices were read as 1 mm
    sizes = list(header.get_zooms()[: data.ndim])
    columns = np.sqrt((np.asarray(image.affine, float)[:3, :3] ** 2).sum(axis=0))
    sizes[: min(3, data.ndim)] = [
        float(c) if c > 0 else z for c, z in zip(columns, sizes[: min(3, data.ndim)])
    ]
    zooms = tuple(float(f"{z:.6g}") for z in sizes)  # float32 noise
    while data.ndim > 2 and data.shape[-1] == 1:  # trailing singleton axes (a slice)
        data, zooms = data[..., 0], zooms[:-1]
    if data.ndim not in (2, 3, 4):
        raise NiftiReadError(
            f"{str(path)!r} has {data.ndim} dimensions; NIfTI images of 2 to 4 are read."
        )
    axes = _axes(data.ndim)
    if data.ndim == 4 and data.shape[2] == 1:  # one slice over time (cine MR): planes
        data, zooms, axes = data[:, :, 0], (*zooms[:2], zooms[3]), "TYX"
    order = tuple(reversed(range(data.ndim)))
    array = np.ascontiguousarray(data.transpose(order))
    scale = tuple(zooms[i] if zooms[i] > 0 else 1.0 for i in order)
    space, time = _xyzt_units(header, image_name(path))
    unit = _UNITS.get(space)
    step = _TIME_UNITS.get(time, "s")  # the time between volumes (it was always "s")
    units = None if unit is None else tuple(step if a == "T" else unit for a in axes)
    channel_axis = None
    if array.dtype.names:  # RGB24 / RGBA32 (a colour map): samples on a last axis
        array = np.stack([array[f] for f in array.dtype.names], axis=-1)
        axes, scale, channel_axis = axes + "S", scale + (1.0,), array.ndim - 1
        units = None if units is None else units + ("",)
    name = image_name(path)
    intent = int(header.get("intent_code", 0))
    said = intent == _INTENT_LABEL or _says_medical_labels(name)
    if said and array.dtype.kind == "f" and channel_axis is None:
        array = _whole_labels(array)  # 1.0, 2.0, ... as many tools save labels
    is_labels = array.dtype.kind in "biu" and said
    return ImageData(
        array,
        axes,
        scale,
        units,
        channel_axis,
        name,
        is_labels,
        provenance=_read_provenance(header),
        affine=tuple(tuple(float(v) for v in row) for row in image.affine),
        nifti_forms=_forms(header),
    )


def _scaled(dataobj: Any) -> np.ndarray:
    """The voxels with the header's ``scl_slope`` / ``scl_inter`` applied, in the smallest
    type that holds them exactly: a CT stored as int16 with slope 1 and intercept -1024
    (Hounsfield units) stays integer (int32 at most), other scalings are float32. nibabel
    gave float64 for both, four times an int16 volume's memory."""
    slope, inter = (getattr(dataobj, k, None) for k in ("slope", "inter"))
    if slope is None or inter is None or (slope == 1.0 and inter == 0.0):
        return np.asanyarray(dataobj)
    raw = np.asanyarray(dataobj.get_unscaled())
    if raw.dtype.kind in "iu" and float(slope).is_integer() and float(inter).is_integer():
        ends = [int(v) * int(slope) for v in (raw.min(), raw.max())]  # on the way, too
        ends += [v + int(inter) for v in ends]
        for kind in (np.int8, np.int16, np.int32) if min(ends) < 0 else (np.uint8, np.uint16):
            if np.iinfo(kind).min <= min(ends) and max(ends) <= np.iinfo(kind).max:
                out = raw.astype(kind)
                out *= kind(int(slope))  # in place: no float64 copy on the way
                out += kind(int(inter))
                return out
    out = raw.astype(np.float32)
    out *= np.float32(slope)
    out += np.float32(inter)
    return out


def _whole_labels(array: np.ndarray) -> np.ndarray:
    """Float labels of whole, non-negative values as the smallest unsigned integers that
    hold them; other floats (a probability map) as they are."""
    if array.size == 0 or not np.isfinite(array).all():
        return array
    top = float(array.max())
    if float(array.min()) < 0 or top >= 2**31 or not np.array_equal(array, np.round(array)):
        return array
    return array.astype(np.min_scalar_type(int(top)))


def _xyzt_units(header: Any, name: str) -> tuple[str, str]:
    """The header's space and time units (nibabel's names); none for a code NIfTI does
    not define, with a warning (nibabel's bare KeyError "7" was the whole message
    on every surface; fuzzing bash)."""
    try:
        return header.get_xyzt_units()
    except KeyError:
        code = int(np.asarray(header["xyzt_units"]))
        warnings.warn(
            f"{name}: the NIfTI header's unit code {code} is none NIfTI "
            "defines; the image is read without units.",
            UserWarning,
            stacklevel=4,
        )
        return "", ""


def _forms(header: Any) -> dict[str, Any]:
    """The header's qform and sform with their codes (a matrix is ``None`` where its code
    is 0): written back as they are, labels lie where each viewer puts the image, whether
    it reads the qform (ITK) or the sform (nibabel, FSL) of a file whose two differ."""
    found: dict[str, Any] = {}
    for name, (matrix, code) in (
        ("qform", header.get_qform(coded=True)),
        ("sform", header.get_sform(coded=True)),
    ):
        found[name] = None if matrix is None else [[float(v) for v in row] for row in matrix]
        found[f"{name}_code"] = int(code)
    found["dims"] = int(header["dim"][0])  # a plane stored as one (2) stays one
    try:  # an unknown unit stays unknown in the labels (it read as mm; medical bash)
        found["space_unit"] = str(header.get_xyzt_units()[0])
    except KeyError:  # a code NIfTI does not define (said when read)
        found["space_unit"] = "unknown"
    return found


def _nifti_length(unit: str | None) -> tuple[str | None, float]:
    """The NIfTI length unit (mm, µm or m) for sizes in ``unit``, and the factor to it."""
    if unit is None or unit in _UNITS.values() or unit not in _CM_PER_UNIT:
        return unit, 1.0
    to = "µm" if _CM_PER_UNIT[unit] < _CM_PER_UNIT["µm"] else "mm"
    return to, _convert(1.0, unit, to)


def _placed_image(data: np.ndarray, affine: np.ndarray, forms: dict[str, Any] | None) -> Any:
    """A NIfTI image of ``data`` (labels or a map) on ``affine``: with the image's own qform and sform
    (:func:`_forms`) where they give that affine, else the affine as an aligned sform."""
    import nibabel as nib

    if forms is None:
        return nib.Nifti1Image(data, affine)
    header = nib.Nifti1Header()
    header.set_data_dtype(data.dtype)  # a header's own default is float32
    header.set_data_shape(data.shape)
    _set_forms(header, forms)
    if not int(forms.get("sform_code") or 0) and not int(forms.get("qform_code") or 0):
        # neither form (Analyze-style): the voxel sizes alone, as the image's; the affine
        # nibabel made of them was written as an "aligned" sform, which other viewers
        # place elsewhere than the image (mirrored and shifted in ITK; NIfTI bug bash)
        zooms = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
        header.set_zooms((*zooms[: min(3, data.ndim)], *header.get_zooms()[3:]))
        if np.allclose(header.get_best_affine(), affine):
            return nib.Nifti1Image(data, None, header)
        return nib.Nifti1Image(data, affine)
    best = header.get_best_affine()
    if not np.allclose(best, affine):  # forms of another affine: the affine counts
        return nib.Nifti1Image(data, affine)
    if not int(forms.get("qform_code") or 0):  # an sform alone sets no voxel size
        zooms = np.sqrt((best[:3, :3] ** 2).sum(axis=0))
        header.set_zooms((*zooms[: min(3, data.ndim)], *header.get_zooms()[3:]))
    return nib.Nifti1Image(data, best, header)  # equal: the forms stay as they are


def _set_forms(header: Any, forms: dict[str, Any]) -> None:
    """Put an image's qform and sform (:func:`_forms`) with their codes into ``header``."""
    for name in ("qform", "sform"):
        matrix, code = forms.get(name), int(forms.get(f"{name}_code") or 0)
        setter = getattr(header, f"set_{name}")
        setter(None if matrix is None or code == 0 else np.asarray(matrix, float), code=code)


def nifti_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """How labels written here were made, from the header alone (no voxels read)."""
    import nibabel as nib

    return _read_provenance(nib.load(str(path)).header)


def _read_provenance(header: Any) -> dict[str, Any] | None:
    for ext in header.extensions:
        if ext.get_code() != _COMMENT:
            continue
        try:
            found = json.loads(ext.get_content())
        except (ValueError, TypeError):
            continue
        if isinstance(found, dict) and isinstance(found.get(_PROVENANCE_KEY), dict):
            return found[_PROVENANCE_KEY]
    return None


class NotOnGrid(ValueError):
    """Two NIfTI images whose voxels lie in different places (one sentence)."""


def same_grid(a: Any, b: Any) -> bool:
    """Whether two voxel-to-world affines put voxels in the same places (to a thousandth
    of a voxel's size: headers hold float32)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    size = float(np.abs(a[:3, :3]).max()) or 1.0
    return bool(np.allclose(a, b, rtol=0, atol=1e-3 * size))


def placed(affine: Any) -> bool:
    """Whether a voxel-to-world affine does more than scale the voxels: axes flipped,
    turned or swapped, or an origin other than 0 (what a TIFF, which keeps the voxel
    sizes only, loses)."""
    if affine is None:
        return False
    sizes = np.abs(np.diag(np.asarray(affine, dtype=float))[:3])
    return not same_grid(affine, np.diag([*sizes, 1.0]))  # the voxel sizes alone


def onto_grid(
    data: Any,
    affine: Any,
    reference: Any,
    shape: tuple[int, ...],
    names: tuple[str, str] = ("prediction", "ground truth"),
) -> np.ndarray:
    """Labels ``data`` (our axis order, on ``affine``) flipped and transposed onto the
    voxel grid of ``reference`` (an image of ``shape``): a scan saved LAS and its labels
    saved RAS hold the same voxels in other orders, and were compared index by index.
    ``names``: what the two are, for the refusals.

    Raises
    ------
    NotOnGrid
        When no flip or transpose does it (another origin, voxel size or a rotation).
    """
    from nibabel.orientations import (
        apply_orientation,
        inv_ornt_aff,
        io_orientation,
        ornt_transform,
    )

    arr = np.asarray(data)
    ijk = arr.transpose(tuple(reversed(range(arr.ndim))))  # the file's (i, j, k[, t])
    if ijk.ndim == 2:
        ijk = ijk[:, :, None]
    turn = ornt_transform(
        io_orientation(np.asarray(affine)), io_orientation(np.asarray(reference))
    )
    moved = apply_orientation(ijk, turn)
    placed = np.asarray(affine, dtype=float) @ inv_ornt_aff(turn, ijk.shape)
    if not same_grid(placed, reference):
        raise NotOnGrid(
            f"The {_of(names[0])} voxels lie elsewhere than the {_of(names[1])} (their NIfTI "
            "affines differ by more than a flip or transpose of the axes: another origin, "
            "voxel size or rotation); resample one onto the other first."
        )
    if arr.ndim == 2:
        moved = moved[:, :, 0]
    out = np.ascontiguousarray(moved.transpose(tuple(reversed(range(moved.ndim)))))
    if out.shape != tuple(shape):
        raise NotOnGrid(
            f"The {names[0]}, {out.shape} once on the {_of(names[1])} axes, and the "
            f"{names[1]}, {tuple(shape)}, are not the same grid."
        )
    return out


def _of(name: str) -> str:
    """``name``'s possessive: "the image's", "the labels'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def on_grid_of(
    moving: Any, fixed: Any, names: tuple[str, str] = ("prediction", "ground truth")
) -> tuple[Any, str | None]:
    """``moving`` (an ``ImageData``) on ``fixed``'s voxel grid where both are NIfTI
    files whose affines differ by flips or transposes of the axes (LAS beside RAS), and
    a note; two grids no flip matches are refused (they were compared index by index).
    ``names``: what the two are (the prediction and the ground truth; the labels and
    the image they train on)."""
    import dataclasses

    if (moving.affine is None) != (fixed.affine is None):
        # one NIfTI file placed in the scanner's space beside one without a placement (a
        # TIFF): compared voxel by voxel without a word (Dice 0.53 for 0.98 of the same
        # labels as NIfTI; medical bash)
        nifti, other = names if moving.affine is not None else names[::-1]
        if not placed(moving.affine if moving.affine is not None else fixed.affine):
            return moving, None
        is_ = "are" if nifti.endswith("s") else "is"
        return moving, (
            f"The {nifti} {is_} placed in the scanner's space by a NIfTI header (axes flipped "
            f"or turned, an origin other than 0) and the {other} {'have' if other.endswith('s') else 'has'} "
            "no placement (a TIFF keeps voxel sizes only): they are matched voxel by voxel "
            f"as their files store them; save the {other} as NIfTI (.nii.gz) from that scan "
            "to be sure they overlay."
        )
    if moving.affine is None or same_grid(moving.affine, fixed.affine):
        return moving, None
    if moving.channel_axis is not None or fixed.channel_axis is not None:
        return moving, None  # colour label images: no NIfTI case
    if moving.axes not in ("YX", "ZYX", "TZYX"):  # one slice over time: (i, j, t) is no grid
        raise NotOnGrid(
            f"The {_of(names[0])} and the {_of(names[1])} NIfTI affines differ; resample one "
            "onto the other first."
        )
    data = onto_grid(moving.data, moving.affine, fixed.affine, fixed.data.shape, names)
    moved = dataclasses.replace(
        moving, data=data, axes=fixed.axes, scale=fixed.scale, units=fixed.units,
        affine=fixed.affine,
    )  # fmt: skip
    return moved, (
        f"The {_of(names[0])} NIfTI axes are ordered or flipped unlike the {_of(names[1])}: "
        f"{'they were' if names[0].endswith('s') else 'it was'} turned onto the "
        f"{_of(names[1])} voxel grid."
    )


def write_nifti(
    path: str | os.PathLike,
    data: Any,
    scale: tuple[float, ...] | None = None,
    affine: Any = None,
    provenance: dict[str, Any] | None = None,
    units: tuple[str, ...] | None = None,
    axes: str | None = None,
    translate: tuple[float, ...] | None = None,
    forms: dict[str, Any] | None = None,
    *,
    labels: bool = True,
) -> Path:
    """Write labels (Y, X), (Z, Y, X), (T, Y, X) or (T, Z, Y, X) as a NIfTI label image,
    atomically; with ``labels=False`` an intensity map shaped like them (a probability
    map) as a float32 image on the same affine (probability maps were TIFF only, and
    their affine lost).

    Parameters
    ----------
    path : str or path
        ``.nii`` or ``.nii.gz`` file; its folder is created when missing.
    data : array-like
        Non-negative integer labels in our axis order (or the map); stored as the smallest of uint8 /
        uint16 / uint32 that holds them, transposed back to the file's (i, j, k, t).
    scale : tuple of float, optional
        Voxel size per axis, used when there is no ``affine``.
    affine : 4 x 4 array-like, optional
        The image's voxel-to-world matrix (:attr:`ImageData.affine` of a NIfTI input),
        so the labels lie exactly on it.
    provenance : dict, optional
        How the labels were made (:mod:`napari_unetseg.provenance`), kept in a comment
        extension that :func:`read_nifti` returns as ``provenance``.
    units : tuple of str, optional
        Unit per axis (the image's): µm, mm or m go into the header, so labels of a
        microscopy image keep their size (default: mm, NIfTI's usual unit); the time
        axis's s, ms or µs too (minutes, hours and days as seconds).
    axes : str, optional
        The labels' axes (default: from their dimensions, ``ZYX`` for three): ``TYX``
        is written as one slice over time, not as a volume whose depth is time.
    translate : tuple of float, optional
        Where the first voxel lies (napari's ``translate``), for labels without an
        ``affine``: the affine's offset.
    forms : dict, optional
        The image's qform and sform with their codes (:attr:`ImageData.nifti_forms` of a
        NIfTI input), written as they are: without them the labels carry ``affine`` as
        their sform alone, and a viewer that reads the image's qform (ITK) places them
        elsewhere when the image's two differ.

    Raises
    ------
    ValueError
        Labels that are not integers >= 0, or data of fewer than 2 or more than 4 dimensions.
    """
    from ._tiff_write import _label_dtype

    arr = np.asarray(data)
    if arr.ndim not in (2, 3, 4):
        what = "labels" if labels else "images"
        raise ValueError(f"NIfTI {what} need 2 to 4 dimensions, got {arr.ndim}.")
    arr = arr.astype(_label_dtype(arr, "NIfTI") if labels else np.float32, copy=False)
    where = {"scale": scale, "affine": affine, "units": units, "translate": translate}
    return _write_nifti(path, arr, where, axes, forms, provenance, _INTENT_LABEL * labels)


def _write_nifti(
    path: str | os.PathLike,
    arr: np.ndarray,
    where: dict[str, Any],
    axes: str | None,
    forms: dict[str, Any] | None,
    provenance: dict[str, Any] | None,
    intent: int,
) -> Path:
    """Write ``arr`` (our axis order) as a NIfTI file on ``where``'s affine (or scale,
    units and translate), with ``intent`` and the provenance (the body of
    :func:`write_nifti`)."""
    import nibabel as nib

    from .core.files import atomic_write

    scale, affine, units, translate = (where[k] for k in ("scale", "affine", "units", "translate"))
    if scale is not None and units is not None:
        # Z in µm beside Y, X in nm: all in the first one's unit (no unit in common was
        # written as mm, 65 nm pixels as 65 mm); the offset alike
        same, units = one_length_unit(scale, units)
        if translate is not None:
            translate = tuple(t * (n / o if o else 1.0) for t, n, o in zip(translate, same, scale))
        scale = same
    if axes is not None and axes.upper() == "TYX":  # one slice over time: (T, 1, Y, X)
        arr = arr[:, None]
        scale = None if scale is None else (scale[0], 1.0, *scale[1:])
        translate = None if translate is None else (translate[0], 0.0, *translate[1:])
        units = None if units is None else (units[0], *units[1:2], *units[1:])
    data = np.asfortranarray(arr.transpose(tuple(reversed(range(arr.ndim)))))
    if affine is not None and data.ndim == 2 and (forms or {}).get("dims") != 2:
        # On a volume's affine a plane is its one slice (k = 0): written (i, j, 1) like the
        # one-slice volumes :func:`read_nifti` reads as planes, so viewers that compare the
        # dimensions of image and labels accept them; a plane stored as a plane (2
        # dimensions) stays one (its labels were (i, j, 1); medical bash).
        data = data[:, :, None]
    space = common_unit(units)
    if affine is None:
        # NIfTI knows mm, µm and m: a size in nm, Å, cm or inches is converted (it was
        # written as that many mm).
        space, factor = _nifti_length(space)
        sizes = [factor * s for s in list(reversed(scale or (1.0,) * arr.ndim))[:3]]
        affine = np.diag([*sizes, *([1.0] * (3 - len(sizes))), 1.0])
        if translate is not None:  # where the first voxel lies (it was the origin)
            offset = [factor * float(t) for t in reversed(translate)][:3]
            affine[: len(offset), 3] = offset
    image = _placed_image(data, np.asarray(affine, dtype=np.float64), forms)
    named = {v: k for k, v in _UNITS.items() if k != "unknown"}
    # a volume has no time axis: its time unit unknown, as the scan's ("sec" was made up
    # for labels of a 3D file whose header said none; medical bash)
    step, time = 1.0 if scale is None else float(scale[0]), "sec" if arr.ndim == 4 else "unknown"
    if arr.ndim == 4:  # without units, none: a time step of 1 is no second
        t_unit = _unit(units[0]) if units else ""
        time = {v: k for k, v in _TIME_UNITS.items()}.get(t_unit, "sec" if units else "unknown")
        step *= _SECONDS.get(t_unit, 1.0)
    # without units (a TIFF without pixel sizes), none: "mm" made pixels of 1 mm up
    # (series bash); a header's unknown unit is then read as mm, as ITK reads it
    space_unit = named.get(space, "mm") if space else "unknown"
    if (forms or {}).get("space_unit") == "unknown" and space_unit == "mm":
        space_unit = "unknown"  # the image's header left it so (read as mm, as ITK does)
    image.header.set_xyzt_units(space_unit, time)
    image.header.set_intent(intent)
    if scale is not None and arr.ndim == 4:
        zooms = list(image.header.get_zooms())
        zooms[3] = step
        image.header.set_zooms(zooms)
    if provenance:
        text = json.dumps({_PROVENANCE_KEY: provenance})
        image.header.extensions.append(nib.nifti1.Nifti1Extension(_COMMENT, text.encode()))
    payload = image.to_bytes()
    if str(path).lower().endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))
