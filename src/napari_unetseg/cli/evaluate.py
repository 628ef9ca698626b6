"""``unetseg evaluate``: score a prediction against ground truth."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._base import (
    CLIError,
    ProgressBar,
    check_inputs,
    check_table_output,
    forwarded,
    numbers,
    pixel_size_clash,
    say,
)

#: What ``unetseg evaluate --help`` says the command does (argparse refills the lines).
DESCRIPTION = """\
Compare a label prediction with ground truth, per class: Dice, IoU, sensitivity,
specificity, precision, HD95 / ASSD (physical units), clDice and object F1 / panoptic
quality. Dense ground truth: 0 background, k class k. Sparse (scribbles): 0 unlabeled,
1 background, k+1 class k. A time series (a file with a T axis) has its objects and
distances measured in each time point on its own."""


# -- evaluate -----------------------------------------------------------------------------
def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a prediction against ground truth (Dice, IoU, objects, HD95, ...)",
        description=DESCRIPTION,
    )
    p.add_argument(
        "--prediction", "-p", required=True, help="predicted labels (TIFF, OME-Zarr, NIfTI or PNG)"
    )
    p.add_argument(
        "--ground-truth",
        "-g",
        required=True,
        help="ground-truth labels (TIFF, OME-Zarr, NIfTI or PNG)",
    )
    p.add_argument(
        "--mode",
        default="dense",
        choices=["dense", "sparse"],
        help="dense: 0 background, k class k; sparse: painted scribbles (default dense)",
    )
    p.add_argument(
        "--spacing",
        type=numbers(float),
        nargs="+",
        default=None,
        metavar="S",
        help="voxel size per axis, e.g. Z Y X (default: from the files' metadata)",
    )
    p.add_argument(
        "--classes", type=numbers(int), nargs="+", default=None, help="class ids to report"
    )
    p.add_argument(
        "--iou-threshold",
        type=float,
        default=0.5,
        help="object match IoU, inclusive (default 0.5; 0.5001 for panoptic quality as published)",
    )
    p.add_argument(
        "--instances",
        default="auto",
        choices=["auto", "none", "ground_truth", "prediction", "both"],
        help="which file holds instance labels, one id per object (auto: a binary mask "
        "against many labels, or two sets of many ids that disagree)",
    )
    p.add_argument(
        "--no-objects",
        dest="objects",
        action="store_false",
        help="voxel scores only (streams volumes larger than memory)",
    )
    p.add_argument(
        "--time-axis",
        default="auto",
        metavar="AXIS",
        help="axis of time points whose objects and distances are measured one by one "
        "(auto: the files' T axis, if any; none: across time as across space)",
    )
    p.add_argument(
        "--csv",
        default=None,
        metavar="PATH",
        help="also write the table as CSV (an existing score table of this command is "
        "replaced; another file only with --overwrite)",
    )
    p.add_argument(
        "--slices-csv",
        default=None,
        metavar="PATH",
        help="also write the scores of each slice along the first axis (each time point of "
        "a series) and class as CSV: Dice, IoU, sensitivity, precision and counts",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --csv / --slices-csv file whatever it holds",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead (a score that cannot be computed is null; an "
        'infinite HD95 / ASSD, a class on one side only, is the string "inf")',
    )
    p.set_defaults(func=_cmd_evaluate)


def _check_same_size(pred: Any, gt: Any) -> None:
    """Refuse (one sentence) when both files give pixel sizes that disagree."""
    clash = pixel_size_clash(pred, gt)
    if clash is not None:
        raise CLIError(
            f"The prediction's pixel size ({clash[0]}) differs from the ground truth's "
            f"({clash[1]}): give --spacing with the voxel size per axis to measure the "
            "distances in."
        )


def _unit_of(img: Any, spacing: tuple[float, ...]) -> str | None:
    """The ground truth's length unit where ``--spacing`` gives its own pixel sizes
    (Validate's "Copy as command" names them: the distances lost their µm), else None."""
    from .._units import common_unit, same_size

    unit = common_unit(img.units) if img.units is not None else None
    return unit if same_size(img.scale, None, spacing, None) else None


def _physical_spacing(pred: Any, gt: Any) -> tuple[tuple[float, ...] | None, str | None]:
    """Spacing and unit from the files (the ground truth's when both give them, after
    :func:`_check_same_size`)."""
    from .._units import common_unit, known_spacing

    _check_same_size(pred, gt)
    for img in (gt, pred):
        # (the readers give lengths in one unit); a Z without size beside Y, X in µm is
        # no size (its 1 "pixel" was measured as 1 µm)
        if img.units is not None and known_spacing(img.scale, img.units, img.axes) is not None:
            return tuple(img.scale), common_unit(img.units)
    for img in (gt, pred):  # a scale without a unit (OME-Zarr's unit is optional) counts
        spacing = known_spacing(img.scale, img.units, img.axes)
        if spacing is not None:
            return spacing, None
    return None, None


def _time_axis(choice: str, pred: Any, gt: Any) -> int | None:
    """The axis of time points: given as a number, none, or (auto) the files' T axis."""
    if choice == "none":
        return None
    if choice == "auto":
        from .._units import time_axis

        found = [time_axis(img.axes) for img in (gt, pred) if len(img.axes) == img.data.ndim]
        return next((t for t in found if t is not None), None)
    try:
        return int(choice)
    except ValueError:
        raise CLIError(
            f"--time-axis takes auto, none or an axis number, not {choice!r}."
        ) from None


def _class_names(pred: Any, gt: Any) -> dict[int, str]:
    """Class names that a model's labels record (the ground truth's first), as Validate
    names its rows from the layers (rows read 1, 2, 3; NIfTI and classes bug bashes)."""
    from ..provenance import recorded_classes

    names: dict[int, str] = {}
    for img in (pred, gt):
        names.update({c: n for c, n in enumerate(recorded_classes(img.provenance) or []) if c})
    return names


def _timed(pred: Any, gt: Any) -> bool:
    """Whether a file's pixel sizes include a time step (T in seconds beside Y, X in µm):
    read as one more length, it made distances across time points in "µm"."""
    from .._units import TIME_UNITS, _unit, unit_name

    for img in (gt, pred):
        if img.units is not None and any(_unit(unit_name(u)) in TIME_UNITS for u in img.units):
            return True
    return False


def _check_csv_replaceable(path: str, overwrite: bool) -> None:
    """An existing CSV is replaced when it is a score table this command wrote (run
    again, it updates its scores), else only with --overwrite: any other table was
    replaced without a word (train bug bash)."""
    from ..core.metrics import COLUMNS
    from ..core.metrics.result import SLICE_METRICS

    if overwrite or not os.path.isfile(path):
        return
    ours = [",".join([*COLUMNS, "distance_unit"])]
    ours += [",".join([first, "class", *SLICE_METRICS]) for first in ("slice", "time_point")]
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().strip()
    except OSError:
        return  # said when it is written
    if header in ours:
        return
    raise CLIError(
        f"{path!r} exists and is not a score table of unetseg evaluate; it is left as it "
        "is (choose another name, or give --overwrite to replace it)."
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .. import _io, api

    check_inputs([args.prediction, args.ground_truth])
    for table in filter(None, (args.csv, args.slices_csv)):
        check_table_output(table, [args.prediction, args.ground_truth])
        _check_csv_replaceable(table, args.overwrite)
    if (
        args.csv
        and args.slices_csv
        and os.path.abspath(args.csv) == os.path.abspath(args.slices_csv)
    ):
        raise CLIError("--csv and --slices-csv name the same file; give each its own.")
    (pred, pred_note), (gt, gt_note) = map(_io.read_labels, (args.prediction, args.ground_truth))
    from .._nifti import on_grid_of

    pred, grid_note = on_grid_of(pred, gt)
    for note in (pred_note, gt_note, grid_note):
        if note:
            say(note)
    if args.spacing is not None:  # chosen: the files' pixel sizes are not read
        spacing, unit = tuple(args.spacing), _unit_of(gt, tuple(args.spacing))
    else:
        spacing, unit = _physical_spacing(pred, gt)
    time_axis = _time_axis(args.time_axis, pred, gt)
    if args.spacing is None and time_axis is None and _timed(pred, gt):
        say(
            "The files' T axis has a time step, not a length, so distances are in pixels "
            "(give --spacing to measure across time as across space)."
        )
        spacing, unit = None, None
    with ProgressBar("evaluating", unit="%") as bar:
        result = api.drain(
            api.evaluate_iter(
                pred.data,
                gt.data,
                spacing=spacing,
                unit=unit,
                time_axis=time_axis,
                **forwarded(args, "mode", "objects", "classes", "iou_threshold", "instances"),
            ),
            bar,
        )
    names = _class_names(pred, gt)
    result.class_names = names or None  # in --json too (it said null beside named rows)
    if args.csv:
        result.to_csv(args.csv, names)
    written = [args.csv] if args.csv else []
    if args.slices_csv and not result.per_slice:
        why = (
            "the labels are planes, with no slices to score"
            if len(result.shape) < 3
            else "neither layer has an object class to score"
        )
        say(f"--slices-csv not written: {why}.")
    elif args.slices_csv:
        result.slices_to_csv(args.slices_csv, names)
        written.append(args.slices_csv)
    if args.json:  # with what was compared and by what (it said neither; reproducibility)
        from .. import __version__

        said = {"prediction": args.prediction, "ground_truth": args.ground_truth}
        said["software"] = f"napari-unetseg {__version__}"
        print(json.dumps({**said, **result.to_json_dict()}, indent=2, allow_nan=False))
        for note in result.notes:  # on stderr too: a batch's log showed none (CLI bash)
            say(f"note: {note}")
    else:
        print(result.table(names))
    for table in written:
        print(f"wrote {table}", file=sys.stderr if args.json else sys.stdout)
    return 0
