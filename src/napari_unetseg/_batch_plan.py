"""Planning a batch (:mod:`napari_unetseg.batch`, which re-exports all of this): the
images that folders and files name, where each one's labels go, and the checks made
before any work (one :class:`BatchError` sentence, nothing written)."""

from __future__ import annotations

import errno
import glob
import os
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .core.files import NAME_MAX, missing_file

#: File name endings the batch reads.
IMAGE_SUFFIXES = (".tif", ".tiff")
#: ``<image name>_labels.tif``: what a batch writes for each image.
LABELS_SUFFIX = "labels"
PROBABILITIES_SUFFIX = "probabilities"
#: Name endings of files a folder holds that are not images to segment: our results, and
#: the ground truth of ``unetseg sample`` (a README user's folder got its labels too).
NOT_IMAGES = (f"_{LABELS_SUFFIX}", f"_{PROBABILITIES_SUFFIX}", "_ground_truth")


class BatchError(ValueError):
    """A batch that cannot start (one sentence; nothing was written)."""


# -- planning -----------------------------------------------------------------------------
def list_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: files and OME-Zarr stores as given,
    folders' TIFFs, OME-Zarr stores, NIfTI images and PNG / JPEG / BMP planes (sorted).

    A folder's earlier results (``*_labels.tif``, ``*_probabilities.tif``), the ground
    truth ``unetseg sample`` writes beside its image (``*_ground_truth.tif``) and files
    named as labels (``cells_mask.tif``; NIfTI's ``case_seg``, ``case_gt``, ``aseg``) are
    not images to segment and are left out (a file named on its own is segmented).

    A missing file among others that are there is kept (and warned of): it fails when
    read and is reported with the batch's other failures; one missing file aborted a
    list of hundreds before the first was segmented (CLI bash).

    Raises
    ------
    BatchError
        For a missing path named alone (or all of them missing), a folder with no
        image, or no input at all.
    """
    from ._io import is_zarr_path

    images: list[Path] = []
    missing: list[Path] = []
    for path in _expanded(inputs):
        if path.is_dir() and is_zarr_path(path):  # an OME-Zarr store is one image
            images.append(path)
        elif path.is_dir():
            found = _images_in(path)
            nested = _folders_of_images(path)
            if not found:
                raise BatchError(
                    f"The folder {str(path)!r} holds no images to segment (TIFF, OME-Zarr, "
                    "NIfTI, PNG, JPEG or BMP)"
                    + (f"; {_not_entered(path, nested)}" if nested else ".")
                )
            if nested:  # said, as the images in them are left out
                said = _not_entered(path, nested)
                warnings.warn(f"{path.resolve().name}: {said}", UserWarning, stacklevel=2)
            images.extend(found)
        elif path.is_file():
            images.append(path)
        else:
            missing.append(path)
    if missing and not images:
        raise BatchError(str(missing_file(missing[0], "Input file")))
    if missing:
        named = ", ".join(repr(str(p)) for p in missing[:3]) + (" ..." if len(missing) > 3 else "")
        warnings.warn(
            f"{len(missing)} input{'s' if len(missing) > 1 else ''} not found ({named}): "
            "the other images are segmented and "
            f"{'they are' if len(missing) > 1 else 'it is'} reported as failed at the end.",
            UserWarning,
            stacklevel=2,
        )
        images.extend(missing)
    if not images:
        raise BatchError("No images to segment were given.")
    # one file named twice (or a file and its folder) is segmented once: "two inputs
    # would both write ..." told the user to use separate folders
    unique: dict[Path, Path] = {}
    for path in images:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _images_in(folder: Path) -> list[Path]:
    """The images directly in ``folder`` (OME-Zarr stores among them), sorted; results,
    labels and hidden files left out."""
    from ._io import NIFTI_SUFFIXES, PLAIN_SUFFIXES, image_name, is_zarr_path

    return [
        p
        for p in sorted(folder.iterdir())
        if (
            # a link to a missing file is listed, to fail in one sentence (it was skipped
            # without a word; paths bug bash)
            (p.is_file() or p.is_symlink() and not p.exists() or is_zarr_path(p))
            and p.name.lower().endswith(
                IMAGE_SUFFIXES + PLAIN_SUFFIXES + NIFTI_SUFFIXES + (".zarr",)
            )
            or p.is_dir()
            and is_zarr_path(p)  # a store renamed without .zarr
        )
        and not p.name.startswith(".")
        and not image_name(p).endswith(NOT_IMAGES)
        and not _named_as_labels(p)
    ]


def _folders_of_images(folder: Path) -> list[tuple[Path, Path]]:
    """The sub-folders of ``folder`` (not OME-Zarr stores) with images directly in them
    (an output folder of results inside it is none), each with its first image."""
    from ._io import is_zarr_path

    nested = []
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.name.startswith(".") and not is_zarr_path(sub):
            try:
                found = _images_in(sub)
            except OSError:  # unreadable: nothing to say about it
                continue
            if found:
                nested.append((sub, found[0]))
    return nested


def _not_entered(folder: Path, nested: list[tuple[Path, Path]]) -> str:
    """The clause that says which sub-folders with images a folder's run leaves out."""
    names = ", ".join(repr(p.name) for p, _ in nested[:3]) + (", ..." if len(nested) > 3 else "")
    which = "sub-folder" if len(nested) == 1 else f"{len(nested)} sub-folders"
    from ._io import image_name

    first = nested[0][1]  # its kind of file, for the example
    pattern = os.path.join(str(folder), "**", "*" + first.name[len(image_name(first)) :])
    return (
        f"its {which} with images ({names}) {'is' if len(nested) == 1 else 'are'} not "
        f"entered: name {'it' if len(nested) == 1 else 'them'}, or give a pattern such as "
        f"{pattern!r}."
    )


def _named_as_labels(path: Path) -> bool:
    """A folder's file whose name says labels, as the readers open it (a BraTS case's
    ``_seg`` was segmented as an image; NIfTI bug bash)."""
    from ._io import NIFTI_SUFFIXES, image_name, says_labels
    from ._nifti import _says_medical_labels

    name = image_name(path)
    nifti = path.name.lower().endswith(NIFTI_SUFFIXES)
    return _says_medical_labels(name) if nifti else says_labels(name)


def _expanded(inputs: Iterable[str | os.PathLike]) -> Iterable[Path]:
    """The paths ``inputs`` name, a pattern (``"images/*.tif"``, ``**`` for subfolders)
    expanded where no file has that name: Windows shells and quoted arguments leave the
    expansion to the program. One path alone is taken as a list of it (a folder's name
    was read letter by letter: "Input file 's' does not exist"; API bug bash)."""
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    for item in inputs:
        if not isinstance(item, str | os.PathLike):
            raise BatchError(
                f"The inputs are paths of image files or folders, not {type(item).__name__} "
                "objects (segment arrays with predict)."
            )
        path = Path(item).expanduser()
        text = str(path)
        if path.exists() or not glob.has_magic(text):
            yield path
            continue
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise BatchError(f"No file matches the pattern {text!r}.")
        yield from (Path(m) for m in matches)


def output_paths(
    images: Sequence[Path],
    output: str | os.PathLike | None,
    suffix: str = LABELS_SUFFIX,
    series: int = 0,
) -> list[Path]:
    """``<name>_<suffix>.tif`` beside each image (``output`` None) or in the folder
    ``output``; with one image, ``output`` may be the TIFF file to write. The labels and
    probabilities of a NIfTI image are NIfTI (``<name>_labels.nii.gz``, on the image's
    affine), as MR and CT viewers overlay them; a ``.nii`` / ``.nii.gz`` output names
    that file. Image series N > 0 of a TIFF holding several gets
    ``<name>_series<N>_<suffix>.tif``."""
    from ._io import NIFTI_SUFFIXES

    def name(p: Path) -> str:
        nifti = p.name.lower().endswith(NIFTI_SUFFIXES)
        which = f"_series{series}" if series else ""
        return f"{_stem(p)}{which}_{suffix}" + (".nii.gz" if nifti else ".tif")

    if output is None:
        return [p.with_name(name(p)) for p in images]
    out = Path(output).expanduser()
    if out.name.lower().endswith(IMAGE_SUFFIXES + NIFTI_SUFFIXES):
        if len(images) != 1:
            raise BatchError("With several inputs, the output must be a folder, not a file.")
        return [out]
    _check_folder_name(out, suffix)
    return [out / name(p) for p in images]


def _stem(path: Path) -> str:
    """The name an image's outputs start with: the file's, or for an image inside an
    OME-Zarr store (a plate's field, a bioformats2raw series) the store's with where it
    lies (``plate_A2_field_1``): fields of a plate were all named after their field
    number, so two fields given by path were refused as "images with the same name"
    (zarr bug bash)."""
    import re

    from ._io import image_name

    if not _inside_store(path):
        return image_name(path)
    from ._zarr import _image_title

    title = _image_title(path).replace("/", "")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("_.") or image_name(path)


def shown_name(path: str | os.PathLike) -> str:
    """A file's name as messages show it; an image inside an OME-Zarr store with where it
    lies (``plate_A2_field_1``: messages said "1:" for a plate's field)."""
    path = Path(path)
    return _stem(path) if _inside_store(path) else path.name


def _inside_store(path: Path) -> bool:
    """Whether ``path`` is an image inside an OME-Zarr store, not the store itself."""
    return not path.name.lower().endswith(".zarr") and any(
        q.name.lower().endswith(".zarr") for q in path.parents
    )


#: File endings an output may not have (image, array and table files that the batch
#: cannot write): such a name was made a folder of that name. Other names with a dot
#: (``results.v2``, ``run.2024-05``) stay folders.
NOT_WRITTEN = frozenset(
    ".png .jpg .jpeg .bmp .gif .webp .jp2 .npy .npz .h5 .hdf5 .n5 .mrc .czi .nd2 .lif "
    ".ims .mha .mhd .nrrd .nii .gz .csv .json .txt .pt".split()
)


def _check_folder_name(out: Path, suffix: str) -> None:
    """Refuse an output that names a file of a format the batch cannot write (``l.png``,
    ``l.npy``), rather than making a folder of that name (an existing folder stays one),
    and an OME-Zarr store (a TIFF went into a folder named ``out.ome.zarr``, or inside the
    input store, beside its arrays)."""
    from ._io import is_zarr_path

    if is_zarr_path(out):
        raise BatchError(
            f"The output {str(out)!r} is an OME-Zarr store, and a batch writes TIFF or NIfTI "
            "files: name a folder, or write into the store with `unetseg predict IMAGE "
            f"--output {out}`."
        )
    store = next((p for p in out.parents if p.name.lower().endswith(".zarr")), None)
    if store is not None:  # (it was called a store, and the fix offered was this command)
        raise BatchError(  # (the command offered was refused with several inputs; review)
            f"The output {str(out)!r} lies inside the OME-Zarr store {str(store)!r}, where "
            "TIFF or NIfTI files do not belong: name a folder outside it (the labels of an "
            "OME-Zarr image go into its own store with `unetseg predict IMAGE.ome.zarr "
            "--output IMAGE.ome.zarr`)."
        )
    ext = out.suffix
    if ext.lower() not in NOT_WRITTEN or out.is_dir():
        return
    formats = "a TIFF (.tif, .tiff, .ome.tif)"
    if suffix == LABELS_SUFFIX:
        formats += " or NIfTI (.nii, .nii.gz)"
    raise BatchError(
        f"The output {str(out)!r} names a {ext} file, which cannot be written: name {formats} "
        "file or a folder (`unetseg predict` also writes OME-Zarr: --output OUT.ome.zarr)."
    )


#: How a result that exists may be replaced, as refusals name it by default.
REPLACE_OPTION = "--overwrite, or overwrite=True in Python"
#: How a file napari-unetseg did not write may be replaced, as refusals name it.
FOREIGN_OPTION = (  # segment_files never replaces one: replace_any is plan_batch's alone
    "replace it with `unetseg predict --overwrite`, or in Python with "
    "napari_unetseg.batch.plan_batch(..., overwrite=True, replace_any=True) and "
    "napari_unetseg.batch.segment_files_iter"
)


def plan_batch(
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    probabilities: str | os.PathLike | None = None,
    series: int | str = 0,
    replace_any: bool = False,
    replace_option: str = REPLACE_OPTION,
    foreign_option: str = FOREIGN_OPTION,
) -> list[Planned]:
    """Check a batch before any work; returns ``(image, labels, probabilities, series)``
    for each image (:class:`Planned`).

    Parameters
    ----------
    inputs : paths
        Image files and/or folders (their TIFFs, see :func:`list_images`).
    output : path, optional
        Folder for the label files (created when missing); None writes each beside its
        image. With one image it may be the TIFF file to write.
    overwrite : bool
        Allow replacing result files that already exist (never an input image).
    probabilities : path, optional
        Also write probability maps into this folder (with one image: or this TIFF).
    series : int or "all"
        The image series segmented in TIFFs holding several (named in the outputs:
        ``<name>_series<N>_labels.tif``); "all": every series of each file, one entry
        each (the TIFFs' headers are read).
    replace_any : bool
        With ``overwrite``, also replace files napari-unetseg did not write (the command
        line's ``--overwrite``); else only its earlier results are replaced.
    replace_option, foreign_option : str
        How the caller allows replacing earlier results, and files napari-unetseg did not
        write ("" where it cannot), as the refusals name them (the Segment widget's dialog
        names its checkbox; the command line's option was named there).

    Raises
    ------
    BatchError
        One sentence saying why the batch cannot run; nothing has been written.
    """
    files = list_images(inputs)
    # a file as the output: of one input only (output_paths refuses several)
    one_file = output is not None and output_paths(files, output)[0] == Path(output).expanduser()
    if series == "all":
        entries = [(path, k) for path in files for k in range(_series_in(path))]
        if len(entries) > len(files) and one_file:
            raise BatchError(
                "Every image series is written to a file of its own: the output must be a "
                f"folder, not {os.fspath(output)!r}."
            )
    else:
        entries = [(path, int(series)) for path in files]
    images = [path for path, _ in entries]
    labels = [output_paths([path], output, series=k)[0] for path, k in entries]
    probs: list[Path | None] = [None] * len(entries)
    if probabilities is not None and len(entries) > 1:  # ("two inputs ... the same name")
        maps = Path(probabilities).expanduser()
        if output_paths(images[:1], maps)[0] == maps:
            raise BatchError(
                f"With several images, the probability maps go to a folder, not the file "
                f"{os.fspath(probabilities)!r}."
            )
    if probabilities is not None:
        probs = [
            output_paths([path], probabilities, PROBABILITIES_SUFFIX, k)[0] for path, k in entries
        ]
    for lab, prob in zip(labels, probs, strict=True):
        if prob is not None and prob.resolve() == lab.resolve():  # (not "two inputs")
            raise BatchError(
                f"The labels and the probabilities would both be written to {str(lab)!r}; "
                "give the probabilities another name or folder."
            )
    _check_outputs(images, labels + [p for p in probs if p is not None], overwrite, replace_option)
    if overwrite and not replace_any:  # a user's own file (a named one too) is never one
        _check_ours(labels + [p for p in probs if p is not None], foreign_option)
    return [
        Planned(path, lab, prob, k)
        for (path, k), lab, prob in zip(entries, labels, probs, strict=True)
    ]


class Planned(NamedTuple):
    """One image of a batch: its file, where its labels (and probabilities) go, and the
    image series of the file it is."""

    image: Path
    labels: Path
    probabilities: Path | None
    series: int = 0


def _series_in(path: Path) -> int:
    """How many image series a file holds (1 for all but TIFFs; an unreadable TIFF is
    reported when it is segmented)."""
    from ._io import tiff_series

    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        return 1
    try:
        return tiff_series(path)
    except (ValueError, OSError):
        return 1


def _file_id(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of an existing file: a hard link's other name has the same."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _check_outputs(
    images: list[Path], outputs: list[Path], overwrite: bool, replace_option: str = REPLACE_OPTION
) -> None:
    inputs: dict[Any, Path] = {p.resolve(): p for p in images}
    inputs.update({_file_id(p): p for p in images if _file_id(p) is not None})
    seen: set[Path] = set()
    for out in outputs:
        key = out.resolve()
        same = inputs.get(key) or inputs.get(_file_id(out))
        if same is not None:
            raise BatchError(
                f"The output {str(out)!r} would overwrite the input image "
                f"{str(same)!r}; choose another output."
            )
        if key in seen:
            raise BatchError(
                f"Two inputs would both write {str(out)!r} (images with the same name); "
                "segment them into separate folders."
            )
        seen.add(key)
    for out in outputs:
        size = len(os.fsencode(out.name))  # not str.encode: surrogates of non-UTF-8 bytes
        if size > NAME_MAX:
            raise BatchError(
                f"The output name {out.name[:40]!r}... is {size} bytes "
                f"long, more than the {NAME_MAX} a file name may have; rename the input image "
                "or name the output file."
            )
    for folder in dict.fromkeys(p.parent for p in outputs):
        check_writable(folder)
    existing = [p for p in outputs if p.exists()]
    if existing and not overwrite:
        n = len(existing)
        raise BatchError(
            f"{n} result file{'s' * (n > 1)} already exist{'s' * (n == 1)} "
            f"(first: {str(existing[0])!r}); choose another output folder or allow "
            f"replacing them ({replace_option})."
        )


def _check_ours(labels: list[Path], foreign_option: str = FOREIGN_OPTION) -> None:
    """Refuse to replace a label (or probability) file this plugin did not write (no
    provenance in it): ``<name>_labels.tif`` beside an image is as often the user's ground
    truth, which "replace earlier results" overwrote, and a file named as the output
    someone's volume, which ``predict -o`` overwrote."""
    from ._io import NIFTI_SUFFIXES
    from ._nifti import nifti_provenance
    from ._tiff_read import tiff_provenance

    for path in labels:
        if not path.is_file():  # nothing there, or a folder (refused where it is written)
            continue
        try:  # the header only: a NIfTI file is read whole by read_image
            nifti = path.name.lower().endswith(NIFTI_SUFFIXES)
            ours = bool(nifti_provenance(path) if nifti else tiff_provenance(path))
        except Exception:  # noqa: BLE001 - unreadable (nibabel raises many kinds): not ours
            ours = False
        if not ours:
            own = f" (or {foreign_option})" if foreign_option else ""
            raise BatchError(
                f"{str(path)!r} exists and was not written by napari-unetseg (your own labels?): "
                f"it is not replaced; choose another output{own}."
            )


def check_writable(folder: Path) -> None:
    """Create ``folder`` when missing and prove a file can be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".unetseg-write-test-{uuid.uuid4().hex[:8]}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        # a file where the folder would be (-o /dev/null, -o a.tif/x.tif) said "file
        # exists", a folder of the system (/proc) "no such file or directory"
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None
        )
        if blocker is not None:
            what = "it" if blocker == folder else repr(str(blocker))
            raise BatchError(
                f"Cannot write into {str(folder)!r} as a folder: {what} is a file, not a folder."
            ) from exc
        reason = exc.strerror or type(exc).__name__
        if folder.is_dir() and exc.errno == errno.ENOENT:
            reason = "the system does not let files be made there"
        raise BatchError(
            f"Cannot write to the output folder {str(folder)!r} ({reason.lower()})."
        ) from exc
