"""The ``unetseg`` command line and the Python API call that reproduce a run (no Qt).

The Segment, Fine-tune and Validate widgets' "Copy as command" buttons gather their
current settings and the files their layers and model live in (saving those that live
only in the session), and call :func:`predict_command`, :func:`train_command` or
:func:`evaluate_command`. Each returns a :class:`Reproduction`: the argument list of the
``unetseg`` command (``shell()`` quotes it for a POSIX shell) and the equivalent Python
code, which run the same engine with the same settings as the widget.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .batch import SegmentSettings

__all__ = [
    "Reproduction",
    "evaluate_command",
    "predict_command",
    "repeat_command",
    "train_command",
]


@dataclass
class Reproduction:
    """A command line (``argv``) and Python code that reproduce a run, plus caveats."""

    argv: list[str]
    python: str
    notes: list[str] = field(default_factory=list)

    def shell(self) -> str:
        """The command line, quoted for a POSIX shell (bash, zsh)."""
        return shlex.join(self.argv)

    def text(self) -> str:
        """Everything, as shown in the widgets' dialog: command, Python, notes."""
        notes = "".join(f"# Note: {n}\n" for n in self.notes)
        return f"{notes}# Command line\n{self.shell()}\n\n# Python\n{self.python}"


def _number(value: float) -> str:
    return f"{float(value):g}"


def _option(argv: list[str], flag: str, value: Any) -> None:
    """Append ``flag value`` unless the value is None (the command's own default)."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        argv += [flag, *(_number(v) if isinstance(v, float) else str(v) for v in value)]
    else:
        argv += [flag, _number(value) if isinstance(value, float) else str(value)]


def _call(target: str, function: str, args: Sequence[str], kwargs: dict[str, Any]) -> str:
    """``target = function(args..., key=repr(value), ...)`` laid out one argument a line."""
    lines = [*args, *(f"{k}={v!r}" for k, v in kwargs.items())]
    body = "".join(f"    {line},\n" for line in lines)
    return f"{target} = {function}(\n{body})\n"


class _Code(str):
    """A Python expression that :func:`_call` writes as is (its repr is itself)."""

    def __repr__(self) -> str:
        return str(self)


def _path(path: str | os.PathLike) -> str:
    return os.fspath(path)


# -- Segment ------------------------------------------------------------------------------
def predict_command(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    settings: SegmentSettings,
) -> Reproduction:
    """``unetseg predict`` (and :func:`napari_unetseg.api.segment_files`) for a run.

    ``settings.model`` must be a shipped model name or a model file.
    """
    if not settings.model:
        raise ValueError("A command needs a model name or a model file.")
    files = [_path(p) for p in inputs]
    argv = ["unetseg", "predict", *files, "--output", _path(output), "--model", settings.model]
    _option(argv, "--channel", settings.channel)
    _option(argv, "--series", settings.series or None)
    _option(argv, "--axes", settings.axes)  # (the Python call below had them, this not)
    _option(argv, "--level", settings.level or None)
    size = settings.object_size
    _option(argv, "--object-size", "off" if size is None else size)
    if settings.fill_holes is not None:
        argv.append("--fill-holes" if settings.fill_holes else "--no-fill-holes")
    _option(argv, "--tile-size", settings.tile_size)
    _option(argv, "--overlap", float(settings.overlap))
    _option(argv, "--batch-size", settings.batch_size)
    _option(argv, "--device", settings.device)
    _option(argv, "--precision", settings.precision)
    if settings.tta:
        argv.append("--tta")
    if settings.invert is not None:
        argv.append("--invert" if settings.invert else "--no-invert")
    if settings.split_touching is not None:
        argv.append("--split-touching" if settings.split_touching else "--no-split-touching")
    kwargs = {"overwrite": True, **settings.to_dict()}
    python = (
        "from napari_unetseg import api\n\n"
        + _call("report", "api.segment_files", [repr(files), repr(_path(output))], kwargs)
        + "print(report.summary())\n"
    )
    return Reproduction(argv, python)


def repeat_command(provenance: dict[str, Any] | None, labels: str | os.PathLike) -> str | None:
    """The ``unetseg predict`` command that makes ``labels`` again from its record, with
    what "auto" chose put in (the object size measured, the precision and device that
    ran: each changes labels); None where the record cannot say (no input file, no
    model, edited by hand). Reviewers had to read ``ran`` beside ``settings`` to rebuild
    it (reproducibility bash). The output is a new file beside ``labels``."""
    record = provenance or {}
    settings, ran = record.get("settings"), record.get("ran") or {}
    if not isinstance(settings, dict) or not record.get("input") or record.get("edited"):
        return None
    known = {f.name for f in fields(SegmentSettings)}
    given = {k: v for k, v in settings.items() if k in known}
    chosen = {"object_size": "object_size_px", "precision": "precision", "device": "device"}
    for key, measured in chosen.items():  # (a cluster's blocks may say "bf16,fp32")
        value = ran.get(measured)
        if given.get(key) == "auto" and value is not None and "," not in str(value):
            given[key] = value
    given["model"] = _model_named(given.get("model"), record.get("model_file"))
    path = Path(labels)
    # the input as the record names it (its file name), found beside the labels: the
    # command ran only from the input's own folder (review)
    beside = path.parent / str(record["input"])
    source = str(beside) if beside.exists() else str(record["input"])  # (a store: a folder)
    from ._io import image_name

    stem = image_name(path)  # (a.ome.zarr -> a, as every output name is made)
    again = path.with_name(f"{stem}_again{path.name[len(stem) :]}")
    try:
        return predict_command([source], again, SegmentSettings(**given)).shell()
    except (TypeError, ValueError):  # a record of another version: no command
        return None


def _model_named(name: Any, file: Any) -> Any:
    """A recorded model as a command names it: by its name where that is the model the
    file was (a shipped or saved one), else by its file where it is still there (a model
    given as a file was named "new", which the command did not know; review)."""
    from .core.registry import REGISTRY

    if isinstance(name, str) and name in REGISTRY:
        here = REGISTRY.source(name)
        if file is None or (here is not None and os.path.abspath(here) == os.path.abspath(file)):
            return name
    return file if isinstance(file, str) and os.path.exists(file) else name


# -- Fine-tune ----------------------------------------------------------------------------
#: A training run's recorded arithmetic (``history["precision"]``), as ``--precision``
#: names it.
PRECISION_NAMES = {"bfloat16": "bf16", "float16": "fp16", "fp32": "fp32", "float32": "fp32"}


def train_command(
    image: str | os.PathLike,
    labels: str | os.PathLike,
    output: str | os.PathLike,
    *,
    model: str | None = None,
    label_mode: str = "sparse",
    steps: int | None = None,
    time_limit: float | None = None,
    learning_rate: float | None = None,
    patch_size: int | None = None,
    batch_size: int | None = None,
    val_fraction: float = 0.1,
    augment: bool = True,
    device: str = "auto",
    seed: int = 0,
    spatial_dims: int | None = None,
    model_config: dict[str, Any] | None = None,
    teacher: str = "auto",
    class_names: Sequence[str] | None = None,
    channel: int | None = None,
    series: int = 0,
    threads: int | None = None,
    invert: bool | None = None,
    intensity_range: Sequence[float] | None = None,
    precision: str = "auto",
) -> Reproduction:
    """``unetseg train`` (and :func:`napari_unetseg.api.train`) for a training run.

    ``model`` is a shipped model name or a model file to fine-tune (None: a new model,
    with ``spatial_dims`` and ``model_config``'s ``depth`` / ``base_channels``);
    ``teacher`` is said only when it is not the default "auto", ``class_names`` and
    ``channel`` (of a multi-channel image, e.g. an OME-Zarr store's) when given, and
    ``series`` when not 0 (the image series of a TIFF that holds several), ``threads``
    when given (a seed repeats the weights at the same CPU thread count), ``invert``
    when not None (the starting model's setting), ``intensity_range`` (a new model's
    fixed range) when given, ``precision`` when not "auto" (a run's, which repeats its
    weights on a computer whose "auto" is another).
    """
    img, lab, out = _path(image), _path(labels), _path(output)
    argv = ["unetseg", "train", "--image", img, "--labels", lab, "--output", out]
    _option(argv, "--channel", channel)
    _option(argv, "--series", series or None)
    _option(argv, "--from", model)
    _option(argv, "--label-mode", label_mode)
    _option(argv, "--steps", steps)
    _option(argv, "--time-limit", None if time_limit is None else float(time_limit))
    _option(argv, "--learning-rate", learning_rate)
    _option(argv, "--patch-size", patch_size)
    _option(argv, "--batch-size", batch_size)
    _option(argv, "--val-fraction", float(val_fraction))
    if not augment:
        argv.append("--no-augment")
    _option(argv, "--device", device)
    _option(argv, "--seed", seed)
    _option(argv, "--threads", threads)
    _option(argv, "--precision", None if precision == "auto" else precision)
    _option(argv, "--dims", spatial_dims)
    config = model_config or {}
    _option(argv, "--depth", config.get("depth"))
    _option(argv, "--base-channels", config.get("base_channels"))
    if teacher != "auto":
        _option(argv, "--teacher", teacher)
    _option(argv, "--class-names", None if class_names is None else list(class_names))
    if invert is not None:
        argv.append("--invert" if invert else "--no-invert")
    fixed = None if intensity_range is None else [float(v) for v in intensity_range]
    if fixed is not None:  # in full, without an exponent: argparse takes "-1e-05" for an
        # option, and "1.23457e+06" was another range (review)
        argv += ["--intensity-range", *(np.format_float_positional(v, trim="-") for v in fixed)]
    kwargs: dict[str, Any] = {
        "model": model,
        "label_mode": label_mode,
        "steps": steps,
        "time_limit": time_limit,
        "learning_rate": learning_rate,
        "patch_size": patch_size,
        "batch_size": batch_size,
        "val_fraction": val_fraction,
        "augment": augment,
        "device": device,
        "seed": seed,
        "spatial_dims": spatial_dims,
    }
    given = {  # said where given (not the default)
        "model_config": dict(model_config) if model_config else None,
        "teacher": None if teacher == "auto" else teacher,
        "class_names": None if class_names is None else list(class_names),
        "invert": None if invert is None else bool(invert),
        "intensity_range": None if fixed is None else tuple(fixed),
        "precision": None if precision == "auto" else precision,
    }
    kwargs.update({k: v for k, v in given.items() if v is not None})
    python = (
        ("import torch\n\n" if threads else "")
        + "from napari_unetseg import api\n\n"
        + (f"torch.set_num_threads({int(threads)})\n" if threads else "")
        + f"image = api.read_image({img!r}{f', series={series}' if series else ''})\n"
        + (f"image = image.one_channel({channel})\n" if channel is not None else "")
        + f"labels = api.read_image({lab!r}).data\n"
        + _call(
            "model",
            "api.train",
            ["image.data", "labels"],
            {
                **kwargs,
                "channel_axis": _Code("image.channel_axis"),
                "scale": _Code("image.without_channels().scale"),
            },
        )
        + f"model.save({out!r})\n"
    )
    notes = []
    if steps is None:
        notes.append(
            "the run is limited by time, so another run takes a different number of "
            "steps; give a number of steps to get the same model again."
        )
    return Reproduction(argv, python, notes)


# -- Validate -----------------------------------------------------------------------------
def evaluate_command(
    prediction: str | os.PathLike,
    ground_truth: str | os.PathLike,
    *,
    mode: str = "dense",
    spacing: Sequence[float] | None = None,
    objects: bool = True,
    classes: Sequence[int] | None = None,
    iou_threshold: float = 0.5,
    instances: str = "auto",
    time_axis: int | None = None,
) -> Reproduction:
    """``unetseg evaluate`` (and :func:`napari_unetseg.api.evaluate`) for a validation."""
    pred, gt = _path(prediction), _path(ground_truth)
    argv = ["unetseg", "evaluate", "--prediction", pred, "--ground-truth", gt]
    _option(argv, "--mode", mode)
    _option(argv, "--spacing", None if spacing is None else [float(s) for s in spacing])
    _option(argv, "--classes", None if classes is None else [int(c) for c in classes])
    _option(argv, "--iou-threshold", float(iou_threshold))
    _option(argv, "--instances", instances)
    _option(argv, "--time-axis", None if time_axis is None else int(time_axis))
    if not objects:
        argv.append("--no-objects")
    kwargs = {
        "mode": mode,
        "spacing": None if spacing is None else tuple(float(s) for s in spacing),
        "objects": objects,
        "classes": None if classes is None else [int(c) for c in classes],
        "iou_threshold": float(iou_threshold),
        "instances": instances,
    }
    if time_axis is not None:
        kwargs["time_axis"] = int(time_axis)
    python = (
        "from napari_unetseg import api\n\n"
        f"prediction = api.read_image({pred!r}).data\n"
        f"ground_truth = api.read_image({gt!r}).data\n"
        + _call("result", "api.evaluate", ["prediction", "ground_truth"], kwargs)
        + "print(result.table())\n"
    )
    return Reproduction(argv, python)
