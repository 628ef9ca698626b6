"""Segment many image files with one model and one set of settings (no Qt).

The Segment widget's "Apply to folder..." and ``unetseg predict`` run the same engine,
so the same settings give the same labels from either:

1. :func:`plan_batch` (``_batch_plan.py``) turns folders / files and an output choice
   into (input, output, image series) entries and checks them before any work: an empty folder, a missing file, an output
   folder that cannot be written, an output that would overwrite an input or another
   output, or an existing result (unless replacing is allowed) each raise one
   :class:`BatchError` sentence and nothing is written.
2. :func:`segment_files_iter` (a generator, see docs/architecture.md) segments the files
   one by one. It yields :class:`BatchProgress` records (file k of n, tiles done within
   the file; a record with ``finished`` set after each file), and returns a
   :class:`BatchReport`. A file that fails (unreadable, wrong shape for the model, ...)
   gets its one-sentence reason in the report and the others go on. Each output is
   written atomically, with the image's pixel size and the run's provenance (model,
   model file hash, settings: :mod:`napari_unetseg.provenance`), so stopping between
   tiles leaves only complete files.

The model is loaded and hashed once per batch, so the per-file overhead is reading and
writing the TIFFs (see ``benchmarks/bench_batch.py``).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import time
import warnings
from collections.abc import Generator, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._api_models import arguments_of
from ._batch_plan import (
    IMAGE_SUFFIXES,
    LABELS_SUFFIX,
    PROBABILITIES_SUFFIX,
    BatchError,
    Planned,
    list_images,
    output_paths,
    plan_batch,
    shown_name,
)
from ._units import known_spacing
from ._units import time_axis as axis_of_time
from .core.progress import relay

__all__ = [
    "IMAGE_SUFFIXES",
    "LABELS_SUFFIX",
    "PROBABILITIES_SUFFIX",
    "BatchError",
    "BatchProgress",
    "BatchReport",
    "FileResult",
    "Planned",
    "SegmentSettings",
    "list_images",
    "output_paths",
    "plan_batch",
    "segment_files",
    "segment_files_iter",
]


#: The settings that are :func:`napari_unetseg.api.predict_iter`'s keyword arguments
PREDICT_OPTIONS = (
    "object_size",
    "fill_holes",
    "tile_size",
    "overlap",
    "batch_size",
    "device",
    "precision",
    "tta",
    "invert",
)


@dataclass
class SegmentSettings:
    """Every setting of a segmentation run (what the Segment widget shows).

    ``model`` is a shipped or session model name or a model file; ``None`` picks the
    shipped model that fits each image (``nuclei-3d`` for a Z stack, else
    ``nuclei-2d``). The other fields are :func:`napari_unetseg.api.predict_iter`
    arguments, plus ``split_touching`` (instance labels; None: as the model says, see
    :func:`napari_unetseg.api.segment_iter`).
    """

    model: str | None = None
    object_size: float | str | None = "auto"
    fill_holes: bool | None = None
    split_touching: bool | None = None
    tile_size: int | None = None
    overlap: float = 0.25
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "auto"
    tta: bool = False
    #: Dark objects on a bright background: swap dark and bright for the model (None:
    #: the model's setting)
    invert: bool | None = None
    #: Segment this channel alone of a multi-channel image (a nuclear stain among others)
    channel: int | None = None
    #: The image series of a TIFF that holds several (a multi-position OME-TIFF), or
    #: "all": every series of every file (:func:`plan_batch`)
    series: int | str = 0
    #: The axes' names where a file's are wrong or missing, e.g. "TYX" for a movie saved
    #: without them (read as a Z stack); None: the file's own
    axes: str | None = None
    #: The probability map (``unetseg predict --probabilities``) as one map per label
    #: value, background first (a TIFF with a C axis), not the foreground's alone
    class_probabilities: bool = False
    #: The pyramid level of an OME-Zarr or pyramidal TIFF input (0: full size); the labels
    #: have that level's shape and pixel size
    level: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any], caller: str) -> SegmentSettings:
        """The settings named in ``options``; an unknown name is refused in one sentence
        that names the closest setting (not dataclass's TypeError about ``__init__``)."""
        known = [f.name for f in fields(cls)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(
                    f"{caller}() has no setting {name!r}{hint}; its settings are "
                    f"{', '.join(known)}."
                )
        return cls(**options)

    def __post_init__(self) -> None:
        # "14" from a command line and 14.0 from the widget are the same setting.
        size = self.object_size
        if isinstance(size, str) and size.lower() not in ("auto", "off", "none"):
            try:
                self.object_size = float(size)
            except ValueError:
                pass  # check() says why in one sentence

    def predict_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`napari_unetseg.api.predict_iter`."""
        return {name: getattr(self, name) for name in PREDICT_OPTIONS}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        """Raise one ``ValueError`` sentence for a setting no image could run with
        (so a batch fails at once instead of once per file)."""
        from .core.devices import autocast_dtype, resolve_device
        from .core.inference.predict import check_overlap
        from .core.sizing import check_object_size

        check_object_size(self.object_size, (2**31, 2**31))
        check_overlap(self.overlap)
        for name in ("tile_size", "batch_size"):
            value = getattr(self, name)
            several = name == "tile_size" and np.ndim(value) == 1  # one per spatial axis
            values = value if several else [value]
            if value is not None and not all(_whole(v) and v is not True for v in values):
                per_axis = ", or one per spatial axis" if name == "tile_size" else ""
                raise ValueError(
                    f"{name} must be a whole number of at least 1{per_axis}, got {value!r}."
                )
        for name in ("channel", "series", "level"):
            value = getattr(self, name)
            if name == "series" and value == "all":
                continue
            if value is not None and (_whole(value) is None or isinstance(value, bool)):
                also = " (or 'all')" if name == "series" else ""
                raise ValueError(f"{name} must be a whole number from 0{also}, got {value!r}.")
        if self.axes is not None:
            from ._io import check_axes

            check_axes(self.axes)
        if not isinstance(self.class_probabilities, bool | np.bool_):
            raise ValueError(
                f"class_probabilities is True or False, not {self.class_probabilities!r}."
            )
        autocast_dtype(resolve_device(self.device), self.precision)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SegmentSettings:
        """The settings among ``values`` (an argparse namespace's, a provenance record's);
        other keys are left out: :meth:`from_options` refuses them instead."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _whole(value: Any) -> int | None:
    """``value`` as a whole number of 0 or more ("3", 3.0), else None ("two": int()'s
    "invalid literal" was the message)."""
    if isinstance(value, str):
        return int(value) if value.strip().isdigit() else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= 0 else None


class _MapNotWritten(OSError):
    """A file's labels were written, its probability map could not be (a full disk)."""


@dataclass
class BatchProgress:
    """File ``index + 1`` of ``n_files``: ``done`` of ``total`` tiles.

    After each file one record carries the file's :class:`FileResult` in ``finished``
    (so a cancelled run still knows what it completed).
    """

    index: int
    n_files: int
    name: str
    done: int = 0
    total: int = 0
    finished: FileResult | None = None

    #: Steps of the overall progress bar per file (tiles are spread over them).
    STEPS = 100

    @property
    def overall(self) -> tuple[int, int]:
        """``(done, total)`` for one progress bar over the whole batch."""
        within = 1.0 if self.finished else (self.done / self.total if self.total else 0.0)
        return int((self.index + within) * self.STEPS), self.n_files * self.STEPS

    def describe(self) -> str:
        tiles = f", tile {self.done} of {self.total}" if self.total and not self.finished else ""
        return f"file {self.index + 1} of {self.n_files}: {self.name}{tiles}"


@dataclass
class FileResult:
    """One row of the summary: what became of one file."""

    input: str
    output: str | None = None
    objects: int | None = None
    foreground: float | None = None  # percent of the pixels
    seconds: float = 0.0
    error: str | None = None
    model: str | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    series: int = 0  # the image series of the file

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        """The file's name, and its image series when not the first."""
        return shown_name(self.input) + (f" [series {self.series}]" if self.series else "")


@dataclass
class BatchReport:
    """The rows of a batch run, in input order."""

    results: list[FileResult]

    #: ``model``: the model that segmented the file (with no model given, each file gets
    #: the shipped one that fits it: nuclei-2d or nuclei-3d)
    COLUMNS = (
        "file", "series", "model", "objects", "foreground_percent", "seconds", "output", "error",
    )  # fmt: skip

    def __repr__(self) -> str:
        # the dataclass's listed every file's stats, kilobytes of them (API bug bash)
        return f"BatchReport({self.summary()} See .rows(), .failed.)"

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def succeeded(self) -> list[FileResult]:
        return [r for r in self.results if r.ok]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per file with :attr:`COLUMNS` (numbers rounded for reading)."""
        return [
            {
                "file": r.input,
                "series": r.series,
                "model": r.model,
                "objects": r.objects,
                "foreground_percent": None if r.foreground is None else round(r.foreground, 3),
                "seconds": round(r.seconds, 3),
                "output": r.output,
                "error": r.error,
            }
            for r in self.results
        ]

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The summary as CSV text; also written (atomically) to ``path`` when given."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        text = buffer.getvalue()
        if path is not None:
            from .core.files import atomic_write

            atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return text

    def summary(self) -> str:
        n, bad = len(self.results), len(self.failed)
        unit = "image" if any(r.series for r in self.results) else "file"  # series apart
        done = f"Segmented {n - bad} of {n} {unit}{'s' * (n != 1)}"
        return f"{done}; {bad} failed." if bad else f"{done}."


# -- running ------------------------------------------------------------------------------
class _Models:
    """Models of a batch, loaded (and hashed) once each."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}

    def get(self, model: Any) -> tuple[Any, dict[str, Any]]:
        from . import api
        from .provenance import model_reference

        key = os.fspath(model) if isinstance(model, str | os.PathLike) else id(model)
        if key not in self._cache:
            bundle = api.load_model(model)
            self._cache[key] = (bundle, model_reference(model, bundle))
        return self._cache[key]


def _sentence(exc: BaseException) -> str:
    """One sentence for a file's failure."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    if isinstance(exc, MemoryError):
        from .core.guards import MemoryGuardError

        if isinstance(exc, MemoryGuardError) and text:
            return text
        said = f" ({text.rstrip('.')})" if text else ""
        return (
            f"Not enough memory{said}; try object size off, a smaller tile or batch size, "
            "or an OME-Zarr output (written block by block)."
        )
    if not isinstance(exc, ValueError | OSError | KeyError) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def segment_files_iter(
    plan: Sequence[Planned | tuple[Path, Path, Path | None]],
    settings: SegmentSettings,
    *,
    model: Any = None,
) -> Generator[BatchProgress, None, BatchReport]:
    """Segment each planned file (see :func:`plan_batch`); a progress generator.

    ``model`` may pass an already loaded :class:`~napari_unetseg.core.bundle.ModelBundle`
    (e.g. a session model); otherwise ``settings.model`` is loaded (or, when None, the
    shipped model fitting each image). A bad model fails the whole batch at once (it
    would fail every file); anything else fails only its file.
    """
    settings.check()
    models = _Models()
    if model is not None or settings.model is not None:
        models.get(model if model is not None else settings.model)
    results: list[FileResult] = []
    n = len(plan)
    # files whose other series are segmented too: "the first of several is read" misleads
    several = {Path(entry[0]) for entry in plan if len(entry) > 3 and entry[3]}
    for index, entry in enumerate(plan):
        src, dst, pdst = entry[:3]
        # the entry's image series (plan_batch's), recorded with the labels it gives
        series = entry[3] if len(entry) > 3 else settings.series
        settings = replace(settings, series=0 if series == "all" else int(series))
        row = FileResult(input=str(src), series=settings.series)
        t0 = time.perf_counter()
        shown = shown_name(src)  # once: inside a store it reads the store's metadata
        try:
            yield BatchProgress(index, n, shown)
            quiet = Path(src) in several
            yield from _segment_file(
                src, dst, pdst, settings, models, model, row, (index, n, quiet)
            )
        except Exception as exc:  # noqa: BLE001 - one file's failure ends only that file
            row.error = _sentence(exc)
            row.output = row.output if isinstance(exc, _MapNotWritten) else None
        row.seconds = time.perf_counter() - t0
        results.append(row)
        yield BatchProgress(index, n, shown, finished=row)
    return BatchReport(results)


def pick_channel(img: Any, channel: int) -> tuple[Any, str]:
    """The image of one channel (``--channel``; a one-sentence ValueError when there is
    no such channel), and a note naming it. An image without a channel axis is its own
    channel 0 (a folder of DAPI-only files beside two-channel ones failed each of them)."""
    if img.channel_axis is None and channel == 0:
        return img, "one channel: read as channel 0."
    picked = img.one_channel(channel)
    named = (
        img.channel_names[channel]
        if img.channel_names and channel < len(img.channel_names)
        else None
    )
    n = img.data.shape[img.channel_axis]
    # "chosen", said before the run: "segmented" came before a refusal (time-lapse bash)
    note = f"channel {channel} of {n}" + (f" ({named!r})" if named else "") + " chosen."
    return picked, note


def check_fit(img: Any, bundle: Any) -> None:
    """One sentence where the image's axes do not fit the model: several channels for a
    one-channel model (:func:`check_channels`), or time among the axes a 3D model would
    read as its volume (a (T, Y, X) series: its time points would be taken for planes)."""
    check_channels(img, bundle)
    problem = time_for_z(bundle.name, bundle.spatial_dims, img.without_channels().axes)
    if problem:
        raise ValueError(problem)


def guessed_axes_note(img: Any, spatial_dims: int, command: str = "unetseg predict") -> str | None:
    """A note where the file does not name its axes and the guess matters, or None:

    - 3 or 4 planes of a numpy array that tifffile stored as RGB(A) colours (a 3-frame
      movie was averaged to one grey plane; docs bash);
    - a 4D array, read as a series of Z stacks (a stack with channels, ZCYX, was
      segmented as 5 time points of 2 planes; series bash);
    - a stack a 3D model reads as one volume (a movie saved so is segmented, or trained
      on, ``command``, as one volume, its objects joined through time; a plain
      two-channel file as a stack of 2 planes).
    """
    if not getattr(img, "axes_guessed", False):
        return None
    axes, python = img.axes, "in Python read_image(path, axes=...)"
    if "S" in (getattr(img, "file_axes", None) or ""):  # planes tifffile took for colours
        return _colour_guess_note(img, command, python)
    if "T" in axes and "Z" in axes and "S" not in axes:
        return (
            f"its file does not name its axes, so it is read as {axes} (a series of Z "
            f"stacks); if its axes are others, give them ({command} --axes "
            f"{axes.replace('TZ', 'ZC')} --channel N for a stack with channels; {python})."
        )
    if spatial_dims != 3 or "Z" not in axes or "T" in axes:
        return None
    # (colours of a stack: the planes may be time points, not channels)
    others = (
        "" if "S" in axes else f", or {axes.replace('Z', 'C', 1)} --channel N if it holds channels"
    )
    return (
        f"its file does not name its axes, so it is read as {axes} (a Z stack); if its "
        f"first axis is time, give the axes ({command} --axes "
        f"{axes.replace('Z', 'T', 1)}{others}; {python})."
    )


def _colour_guess_note(img: Any, command: str, python: str) -> str:
    """:func:`guessed_axes_note` of planes of a numpy array that tifffile stored as RGB(A)
    colours: 3 or 4 planes (SYX; a 3-frame movie was averaged to one grey plane: docs
    bash), or stacks of them (ZSYX)."""
    file_axes = img.file_axes
    n = img.data.shape[-1] if img.data is not None else "its"
    if file_axes == "SYX":
        return (
            f"its file does not name its axes, so its {n} planes are read as the colours "
            f"of one RGB{'A' * (n == 4)} image (tifffile's guess for an array of {n} "
            f"planes); if they are time points, Z planes or channels, give the axes "
            f"({command} --axes TYX, ZYX or CYX --channel N; {python})."
        )
    given = "the axes in the file's order"
    if file_axes == "ZSYX":  # (5, 3, Y, X)
        given += f" ({command} --axes TZYX, or ZCYX --channel N for channels; {python})"
    else:
        given += f" ({command} --axes ...; {python})"
    return (
        f"its file does not name its axes, so it is read as {img.axes}, {n} planes of each "
        f"taken for RGB colours (tifffile's guess for a numpy array); if they are Z planes "
        f"or channels, give {given}."
    )


def labels_note(img: Any) -> str | None:
    """A note where the input holds labels (an OME-Zarr image-label, our own output, an
    integer file named as labels): they are segmented all the same, said (they were
    without a word; scale-out bug bash), or None."""
    if not getattr(img, "is_labels", False):
        return None
    return (
        "it holds labels (its file says so), not an image; segmented as one all the same: "
        "give the image they were made from to segment it."
    )


def time_for_z(model: str, spatial_dims: int, axes: str, whose: str = "the image") -> str | None:
    """The sentence refusing a 3D model on axes whose volume (the last three) holds time
    (``T``), or None (also used by the Segment widget, with napari's axis labels)."""
    if spatial_dims != 3 or "T" not in axes[-3:].upper():
        return None
    return (
        f"Model {model!r} segments Z stacks, but the axes of {whose} are {axes} (time, no Z): "
        "choose a 2D model (e.g. nuclei-2d), which segments each time point."
    )


def check_channels(img: Any, bundle: Any) -> None:
    """A multi-channel image for a one-channel model: say how to choose one."""
    ca = img.channel_axis
    if ca is None or bundle.in_channels != 1 or img.is_rgb or img.data.shape[ca] == 1:
        return
    n = img.data.shape[ca]
    names = f" ({', '.join(img.channel_names)})" if img.channel_names else ""
    raise ValueError(
        f"The image has {n} channels{names} but model {bundle.name!r} takes one: choose the "
        f"one to segment (unetseg predict --channel N, or channel=N in Python; N from 0 to "
        f"{n - 1})."
    )


def _segment_file(
    src: Path,
    dst: Path,
    pdst: Path | None,
    settings: SegmentSettings,
    models: _Models,
    model: Any,
    row: FileResult,
    place: tuple[int, int, bool],
) -> Generator[BatchProgress, None, None]:
    """Segment one file; ``place``: its index, the number of files, and whether the
    plan holds its other image series too."""
    from . import _io, api
    from .provenance import labels_provenance, what_ran

    index, n, quiet = place
    shown = shown_name(src)  # once, not per tile: inside a store it reads its metadata
    with warnings.catch_warnings():
        if quiet:
            warnings.filterwarnings("ignore", message=r".* image series; the first")
        img = _io.read_image(
            src, series=int(settings.series), axes=settings.axes, level=int(settings.level)
        )
    if settings.level:
        row.notes.append(f"pyramid level {settings.level} read (shape {img.data.shape}).")
    if settings.axes is not None:
        row.notes.append(f"read with axes {img.axes} (axes given).")
    if settings.channel is not None:
        img, note = pick_channel(img, int(settings.channel))
        row.notes.append(note)
    flat = img.without_channels()
    choice = model if model is not None else settings.model
    if choice is None:
        choice, why = api.default_model(img.data.shape, flat.axes, img.channel_axis)
        row.notes.append(f"model {choice} ({why}).")
    bundle, reference = models.get(choice)
    row.model = bundle.name
    check_fit(img, bundle)
    if said := guessed_axes_note(img, bundle.spatial_dims):
        row.notes.append(said)
    if said := labels_note(img):
        row.notes.append(said)
    time_axis = axis_of_time(flat.axes)  # split and counted per time point
    gen = api.segment_iter(
        img.data,
        bundle,
        split_touching=settings.split_touching,
        time_axis=time_axis,
        channel_axis=img.channel_axis,
        scale=known_spacing(flat.scale, flat.units, flat.axes),
        return_probabilities=pdst is not None,
        class_probabilities=pdst is not None and settings.class_probabilities,
        **settings.predict_options(),
    )
    result = yield from relay(gen, lambda rec: BatchProgress(index, n, shown, rec.done, rec.total))
    labels = result.labels
    row.stats = dict(result.stats)
    for message in (
        row.stats.get("input"),
        (row.stats.get("object_size") or {}).get("message"),
        (row.stats.get("confidence") or {}).get("message"),
        (row.stats.get("split") or {}).get("message"),
    ):
        if message:
            row.notes.append(message)
    split = bool(row.stats.get("split_touching"))  # (None: the model's, as done)
    row.objects, row.foreground = count_objects(labels, split, time_axis)
    used = settings.to_dict() | {
        "model": bundle.name,
        "split_touching": split,
        "fill_holes": bundle.fill_holes if settings.fill_holes is None else settings.fill_holes,
        "invert": bundle.invert if settings.invert is None else settings.invert,
    }
    provenance = labels_provenance(reference, used, src)
    provenance["ran"] = what_ran(result.stats)
    geometry = {
        "scale": flat.scale,
        "axes": flat.axes,
        "units": flat.units,
        "translate": flat.translate,
    }
    nifti = {"affine": img.affine, "forms": img.nifti_forms}
    _io.write_labels(dst, labels, provenance=provenance, **nifti, **geometry)
    if said := placement_note(img, dst):
        row.notes.append(said)
    row.output = str(dst)
    if pdst is not None:
        maps = "classes" if settings.class_probabilities else "one"
        if said := placement_note(img, pdst, maps):
            row.notes.append(said)
        names = None
        if settings.class_probabilities:  # the maps' class axis first: C, named by class
            geometry, names = class_axis_geometry(geometry), list(bundle.class_names)
        try:
            _io.write_image(
                pdst, result.probabilities, provenance=provenance, **nifti, **geometry,
                **({"channel_names": names} if names else {}),
            )  # fmt: skip
        except OSError as exc:  # "could not be segmented" for labels that were written
            raise _MapNotWritten(
                f"Its labels were written, its probability map not: {exc}"
            ) from exc
    if settings.series:  # said once it is done: a series that failed was not segmented
        row.notes.append(f"image series {settings.series} segmented.")


def class_axis_geometry(geometry: dict[str, Any]) -> dict[str, Any]:
    """The labels' axes, pixel sizes, units and origin with a class axis (``C``) put
    first, for a map per class."""

    def first(values: Any, value: Any) -> Any:
        return None if values is None else (value, *values)

    return {
        "axes": None if geometry["axes"] is None else "C" + geometry["axes"],
        "scale": first(geometry["scale"], 1.0),
        "units": first(geometry["units"], ""),
        "translate": first(geometry["translate"], 0.0),
    }


def placement_note(img: Any, dst: Any, maps: str | None = None) -> str | None:
    """A note where labels of a NIfTI scan placed in the scanner's space go to a file
    that keeps no placement (a TIFF, an OME-Zarr store: it was lost without a word;
    medical bash), or None. ``maps``: the note of its probability map instead, "one" or
    "classes" (the maps of every class, which go to TIFF only)."""
    from ._nifti import NIFTI_SUFFIXES, placed

    out = os.fspath(dst).lower().rstrip("/\\")
    if not placed(getattr(img, "affine", None)) or out.endswith(NIFTI_SUFFIXES):
        return None
    # (an image-label, scan.ome.zarr/labels/seg, is OME-Zarr too; review)
    zarr = any(part.endswith(".zarr") for part in Path(out).parts)
    if maps is not None:  # (the class maps' TIFF lost it without a word; classes bash)
        way = (
            "the maps of every class are written to TIFF only"
            if maps == "classes"
            else "write it to .nii.gz to have one that overlays the scan in other tools"
        )
        return (
            f"the probability map's {'OME-Zarr store' if zarr else 'TIFF'} keeps the scan's "
            f"voxel sizes, not its NIfTI placement (axes flipped or turned, an origin "
            f"other than 0): {way}."
        )
    kind = "OME-Zarr labels keep" if zarr else "a TIFF keeps"
    return (
        f"{kind} the scan's voxel sizes, not its NIfTI placement (axes flipped or turned, "
        "an origin other than 0): write .nii.gz to have labels that overlay it in other "
        "tools."
    )


def count_objects(labels: Any, instances: bool, time_axis: int | None = None) -> tuple[int, float]:
    """Objects (instance ids, or connected foreground regions) and foreground percent.

    With a ``time_axis``, the regions of each time point are counted and summed, as
    instance ids are (a nucleus in four frames is four objects; regions were joined
    through time, 16 where the frames held 62)."""
    from scipy import ndimage

    arr = np.asarray(labels)
    fg = arr > 0
    if instances:
        objects = len(np.unique(arr[fg]))
    else:
        frames = [fg] if time_axis is None else list(np.moveaxis(fg, time_axis, 0))
        objects = sum(int(ndimage.label(f)[1]) for f in frames if f.any())
    return objects, 100.0 * float(np.count_nonzero(fg)) / max(arr.size, 1)


@arguments_of(SegmentSettings)
def segment_files(
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    **settings: Any,
) -> BatchReport:
    """Segment image files (or folders of them: TIFF, OME-Zarr, NIfTI, PNG, JPEG, BMP) and
    write ``<name>_labels.tif`` files (``.nii.gz`` for NIfTI images).

    Parameters
    ----------
    inputs : paths
        Image files and/or folders.
    output : path, optional
        Folder for the labels (default: beside each image); with one image, a TIFF file.
    overwrite : bool
        Replace napari-unetseg's own earlier results at the outputs' names (without it an
        existing output stops the batch before any work). A file it did not write (your
        ground truth named ``<image>_labels.tif``) is never replaced here; the command
        line's ``--overwrite`` does replace it.
    **settings
        :class:`SegmentSettings` fields: ``model``, ``object_size``, ``fill_holes``,
        ``split_touching``, ``tile_size``, ``overlap``, ``batch_size``, ``device``,
        ``precision``, ``tta``, ``invert``, ``channel``, ``series``, ``axes`` (e.g.
        ``"TYX"`` for movies whose files do not name their axes), ``level`` (a pyramid
        level of OME-Zarr or pyramidal TIFF inputs; 0: full size).

    Returns
    -------
    BatchReport
        One row per file (``.failed`` lists those that could not be segmented, with
        the reason); ``.to_csv(path)`` saves the summary.
    """
    from .api import drain

    chosen = SegmentSettings.from_options(settings, "segment_files")
    chosen.check()  # before the plan makes the output folder
    if chosen.class_probabilities:  # (it would be dropped without a word)
        raise ValueError(
            "segment_files writes labels only; for the maps of every class use "
            "predict(image, model, return_probabilities=True, class_probabilities=True) or "
            "unetseg predict --probabilities PATH --class-probabilities."
        )
    plan = plan_batch(inputs, output, overwrite=overwrite, series=chosen.series)
    return drain(segment_files_iter(plan, chosen))
