"""``unetseg predict``: TIFF batches through the batch engine; OME-Zarr outputs and
clusters through ``napari_unetseg.distributed``."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .._batch_plan import shown_name
from ..core.guards import fmt_bytes as _fmt_bytes
from ._base import (
    CLIError,
    ProgressBar,
    add_axes_option,
    add_invert_option,
    add_series_option,
    forwarded,
    numbers,
    say,
)


# -- predict ------------------------------------------------------------------------------
def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict", help="segment images with a model, writing label TIFF, NIfTI or OME-Zarr files"
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=(
            "TIFF / OME-TIFF image(s), OME-Zarr stores (.zarr, .ome.zarr), NIfTI volumes "
            "(.nii, .nii.gz) or PNG / JPEG / BMP planes, or folders of them"
        ),
    )
    p.add_argument(
        "--model",
        "-m",
        default=None,
        help="a shipped or saved model's name, a model file (.pt) or a bioimage.io package "
        "(default: nuclei-3d for a Z stack, else nuclei-2d)",
    )
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="output TIFF or NIfTI file (one input), folder (<name>_labels.tif per image; a "
        "file that fails is reported at the end and the others are still segmented), or "
        "OME-Zarr store written block by block (the input store itself, or "
        "IMAGE.ome.zarr/labels/NAME, adds the labels to it)",
    )
    p.add_argument(
        "--object-size",
        default="auto",
        metavar="auto|PIXELS|off",
        help="diameter of the objects in pixels: the image is resampled to the model's object "
        "size and the labels brought back (default auto: measured; off: the image's scale)",
    )
    p.add_argument(
        "--fill-holes",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="fill holes inside objects, up to four times an object's area (default: the "
        "model's setting)",
    )
    p.add_argument(
        "--channel",
        type=int,
        default=None,
        metavar="N",
        help="segment channel N (from 0) of multi-channel images, e.g. the nuclear stain",
    )
    add_series_option(p, every=True)
    add_axes_option(p)
    p.add_argument("--tile-size", type=int, default=None, help="tile edge in pixels (auto)")
    p.add_argument("--overlap", type=float, default=0.25, help="tile overlap, 0-0.75 (0.25)")
    p.add_argument("--batch-size", type=int, default=None, help="tiles per batch (auto)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps (default auto)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto (default): bf16/fp16 on GPUs and bf16 on CPUs with native bf16 once a "
        "quick check shows the model's labels agree with fp32, else fp32",
    )
    p.add_argument("--tta", action="store_true", help="test-time augmentation with flips")
    add_invert_option(p)
    p.add_argument(
        "--probabilities",
        metavar="PATH",
        help="also write the probability map (a folder, "
        "a .tif or .nii.gz file, or an OME-Zarr store for an OME-Zarr output): the "
        "network's, before holes are filled or touching objects split",
    )
    p.add_argument(
        "--class-probabilities",
        action="store_true",
        help="with --probabilities: one map per label value, background first (a TIFF "
        "with a C axis), not the foreground's alone; for models of several classes",
    )
    p.add_argument(
        "--split-touching",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write instance labels: split touching objects (distance-transform watershed); "
        "default: as the model says (yes for the shipped nuclei models)",
    )
    _add_blocks_options(p)
    p.set_defaults(func=_cmd_predict)


def _add_blocks_options(p: Any) -> None:
    """OME-Zarr outputs written block by block, and dask clusters."""
    big = p.add_argument_group(
        "OME-Zarr and clusters",
        "--output OUT.ome.zarr writes the labels block by block (never the whole volume in "
        "memory); --output naming the OME-Zarr input adds them under its labels/ group. "
        "--scheduler / --workers run the blocks (or, for several inputs, one task per file) "
        "on a dask.distributed cluster. See docs/distributed.md.",
    )
    big.add_argument(
        "--level",
        type=int,
        default=0,
        help="pyramid level of an OME-Zarr or pyramidal TIFF input (default 0: full size)",
    )
    big.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="dask scheduler, e.g. tcp://host:8786"
    )
    big.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="start a local cluster of N single-threaded worker processes",
    )
    big.add_argument(
        "--memory-per-worker",
        default=None,
        metavar="SIZE",
        help="memory limit of each --workers worker, e.g. 1GiB (default: RAM / N)",
    )
    big.add_argument(
        "--block-size",
        type=numbers(int, files_after=True),
        nargs="+",
        default=None,
        metavar="PX",
        help="block edge of the axes after the first spatial one, which is streamed whole: "
        "one value, or one per such axis (Y X of a stack; default 2048 in 2D, 512 in 3D)",
    )
    big.add_argument("--resume", action="store_true", help="finish an interrupted OME-Zarr output")
    big.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OME-Zarr output, or output files napari-unetseg did not "
        "write (its earlier results are replaced anyway)",
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from .. import api, batch
    from .._io import is_zarr_path, labels_group_path

    zarr_out = is_zarr_path(args.output) or labels_group_path(args.output)
    _check_block_options(args, zarr_out)
    if args.scheduler or args.workers is not None or zarr_out:
        return _cmd_predict_blocks(args)

    settings = batch.SegmentSettings.from_dict(vars(args))  # options named like its fields
    settings.check()  # a bad setting is one error line, before any file is written
    _check_class_maps(args)
    # Replacing earlier results is what `predict` has always done (atomically); a file it
    # did not write (someone's volume named as --output) only with --overwrite.
    made = [Path(p) for p in (args.output, args.probabilities) if p and not Path(p).exists()]
    plan = batch.plan_batch(
        args.inputs,
        args.output,
        overwrite=True,
        probabilities=args.probabilities,
        series=args.series,
        replace_any=args.overwrite,
        foreign_option="pass --overwrite",
    )
    try:
        _say_held_in_memory(plan, args.class_probabilities, args.level)
        with _FileBars() as bars:
            report = api.drain(batch.segment_files_iter(plan, settings), bars)
    finally:  # nothing written (all refused, or Ctrl-C first): the plan's folders go again
        for folder in made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    failed = report.failed
    if len(failed) == 1 and len(report.results) == 1:
        raise CLIError(_failure(failed[0], failed[0].name))
    if failed:
        print(
            f"unetseg: error: {len(failed)} of {len(report.results)} images failed:",
            file=sys.stderr,
        )
        for row in failed:
            print(f"  {_failure(row, row.input)}", file=sys.stderr)
        return 1
    return 0


def _failure(row: Any, name: str) -> str:
    """A file's failure, led by the file (and its image series when not the first) unless
    the sentence names the file itself ("x.tif: 'x.tif' is not a readable TIFF")."""
    if not row.series and str(row.input) in row.error:
        return row.error
    where = f" [series {row.series}]" if row.series else ""
    if name.endswith(where):  # a row's name names its series already ("[series 1]" twice)
        where = ""
    return f"{name}{where}: {row.error}"


def _check_class_maps(args: argparse.Namespace) -> None:
    """``--class-probabilities`` where it can be written: with ``--probabilities`` and
    TIFF maps (a folder gets a NIfTI scan's maps as NIfTI); one sentence otherwise,
    before any work or folder is made."""
    from .. import batch
    from .._io import is_zarr_path, labels_group_path
    from .._nifti import NIFTI_SUFFIXES

    if not args.class_probabilities:
        return
    if not args.probabilities:
        raise CLIError("--class-probabilities needs --probabilities PATH (where they go).")
    maps = str(args.probabilities)
    zarr_out = is_zarr_path(args.output) or labels_group_path(args.output)
    if is_zarr_path(maps) and not zarr_out:  # (it was called a batch's output; a bash)
        raise CLIError(
            f"The maps of every class go to TIFF files (a C axis), not the OME-Zarr store "
            f"{maps!r}; name a .tif file or a folder for --probabilities."
        )
    if maps.lower().endswith(NIFTI_SUFFIXES):
        raise CLIError(
            f"The maps of every class go to TIFF files (a C axis), not {maps!r}; name a .tif "
            "file for --probabilities."
        )
    scans = [p for p in batch.list_images(args.inputs) if p.name.lower().endswith(NIFTI_SUFFIXES)]
    if scans and not maps.lower().endswith((".tif", ".tiff")):
        raise CLIError(
            f"The maps of every class go to TIFF files (a C axis), but the folder {maps!r} "
            f"would get those of the NIfTI scan {scans[0].name!r} as NIfTI: segment that "
            "scan on its own with a .tif file for --probabilities, or leave out "
            "--class-probabilities."
        )


def _check_block_options(args: argparse.Namespace, zarr_out: bool) -> None:
    """Options of OME-Zarr outputs and clusters given where they do nothing: one sentence
    (they were ignored without a word)."""
    if not zarr_out:
        for flag, given in (
            ("--block-size", args.block_size is not None),
            ("--resume", args.resume),
        ):
            if given:
                raise CLIError(
                    f"{flag} applies to an OME-Zarr output (--output OUT.ome.zarr), not to "
                    f"{args.output!r}."
                )
    if args.memory_per_worker is not None and args.workers is None:
        raise CLIError("--memory-per-worker applies to the local cluster of --workers N.")


def _files_on_cluster(images: list, args: argparse.Namespace, settings: Any) -> int:
    """One cluster task per input file, each writing a TIFF; 1 if any file failed."""
    from .. import api, batch
    from .. import distributed as dist

    plan = batch.plan_batch(
        images,
        args.output,
        overwrite=True,
        probabilities=args.probabilities,
        series=args.series,
        replace_any=args.overwrite,
        foreign_option="pass --overwrite",
    )
    client = dist.connect(args.scheduler, args.workers, memory_limit=args.memory_per_worker)
    try:
        with ProgressBar("files", unit="file") as bar:
            rows = api.drain(dist.segment_files_on_cluster(client, plan, settings), bar)
    finally:
        dist.close(client)
    failed = [r for r in rows if r["error"]]
    for row in rows:
        for note in row["notes"]:
            say(f"{shown_name(row['input'])}: {note}")
        if not row["error"]:
            print(f"{row['input']} -> {row['output']}: {row['seconds']:.2f} s")
    for row in failed:
        print(f"unetseg: error: {row['input']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_predict_blocks(args: argparse.Namespace) -> int:
    """``predict`` into OME-Zarr and/or on a cluster (``napari_unetseg.distributed``)."""
    from .. import api, batch
    from .. import distributed as dist
    from .._io import is_zarr_path, labels_group_path, read_image

    settings = batch.SegmentSettings.from_dict(vars(args))
    settings.check()
    _check_class_maps(args)
    if args.resume and args.overwrite:
        raise CLIError("Choose --resume or --overwrite, not both.")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be at least 1, got {args.workers}.")
    images = batch.list_images(args.inputs)
    zarr_out = is_zarr_path(args.output) or labels_group_path(args.output)
    if args.series == "all" and zarr_out:
        raise CLIError(
            "--series all writes TIFF labels, one file per series; for an OME-Zarr output "
            "give one series (--series N)."
        )
    if zarr_out and len(images) > 1:
        raise CLIError(
            "With several inputs, --output must be a folder (each file becomes one task "
            "writing <name>_labels.tif)."
        )
    if zarr_out and args.class_probabilities:
        raise CLIError(
            "--class-probabilities writes TIFF maps: write the labels to a TIFF "
            "(--output labels.tif) for them; an OME-Zarr output gets the foreground map "
            "(--probabilities PROBS.ome.zarr)."
        )
    if zarr_out and args.probabilities and not is_zarr_path(args.probabilities):
        raise CLIError(
            "With an OME-Zarr output, --probabilities names an OME-Zarr store too "
            f"(PROBS.ome.zarr), not {args.probabilities!r}."
        )
    if len(images) > 1 or not zarr_out:  # one cluster task per file, TIFF outputs
        return _files_on_cluster(images, args, settings)

    client = None
    src = images[0]
    model = settings.model
    if model is None:
        img = read_image(src, lazy=True, level=args.level, series=args.series, axes=args.axes)
        model, why = api.default_model(
            img.data.shape, img.without_channels().axes, img.channel_axis
        )
        say(f"{shown_name(src)}: model {model} ({why}).")
    if args.scheduler or args.workers:
        client = dist.connect(args.scheduler, args.workers, memory_limit=args.memory_per_worker)
    t0 = time.perf_counter()

    # One bar per stage that has blocks to count: the prediction, then (--split-touching)
    # the split and the numbering of the objects.
    bars = {
        "blocks": ProgressBar(src.name, unit="block"),
        "split": ProgressBar(f"{shown_name(src)}: splitting touching objects", unit="block"),
        "number": ProgressBar(f"{shown_name(src)}: numbering objects", unit="chunk"),
    }

    def show(record: Any) -> None:
        if record.message:
            say(f"{shown_name(src)}: {record.message}")
        if record.stage in bars:
            for stage, other in bars.items():
                if stage != record.stage:
                    other.__exit__()
            bars[record.stage](record)

    try:
        with contextlib.ExitStack() as stack:
            for bar in bars.values():
                stack.enter_context(bar)
            result = api.drain(
                dist.predict_blocks_iter(
                    src,
                    model,
                    args.output,
                    client=client,
                    **forwarded(
                        args,
                        "level",
                        "series",
                        "axes",
                        "block_size",
                        "resume",
                        "overwrite",
                        "channel",
                        "split_touching",
                        "probabilities",
                    ),
                    **settings.predict_options(),
                ),
                show,
            )
    except dist.Superseded as exc:  # a run started on the store since (an 18-line trace)
        if not os.path.exists(args.output):  # deleted meanwhile: no other run (disk bug bash)
            raise CLIError(
                f"{args.output!r} was removed while it was being written, so this run stopped."
            ) from exc
        raise CLIError(
            f"{args.output!r} was taken over by another run (--resume or --overwrite), so "
            "this one stopped; the other run goes on with it."
        ) from exc
    finally:
        if client is not None:
            dist.close(client)
    s = result.stats
    if not s.get("blocks") and s.get("skipped") and "voxels" not in s:  # nothing to do
        print(f"{src} -> {result.output}: already complete")
        return 0
    print(f"{src} -> {result.output}: {_blocks_summary(s, time.perf_counter() - t0)}")
    if (s.get("confidence") or {}).get("message"):
        say(f"{shown_name(src)}: {s['confidence']['message']}")
    return 0


def _blocks_summary(s: dict[str, Any], seconds: float) -> str:
    """What a block run did, from its stats: voxels, time, blocks run / done before / in
    the frame, where, objects and probabilities."""
    where = f"{s['workers']} workers" if s["workers"] else s["device"]
    ran = f" on {where} in {s['precision']}" if s["blocks"] else ""  # none: the split only
    framed = int(s.get("framed") or 0)
    blocks = [f"{s['blocks']} block{'s' * (s['blocks'] != 1)}"]
    if s["skipped"] - framed or not framed:
        blocks.append(f"{s['skipped'] - framed} already done")
    if framed:
        blocks.append(f"{framed} in the frame, left background")
    return (
        f"{s['voxels']:,} voxels in {seconds:.2f} s ({', '.join(blocks)}){ran}"
        + (f"; {s['objects']:,} objects" if "objects" in s else "")
        + (f"; probabilities -> {s['probabilities']}" if "probabilities" in s else "")
    )


#: A TIFF output of an OME-Zarr image of more pixels than this (2 GiB at the 8 bytes per
#: pixel that the README counts) says so before the work starts.
HELD_PIXELS = 2**28


def _say_held_in_memory(plan: Any, class_maps: bool = False, level: int = 0) -> None:
    """A note for each OME-Zarr input whose TIFF output holds the whole result in memory
    for long: a 32768² plate read without a word for 100 s while 10 GB filled (zarr bug
    bash); ``--output OUT.ome.zarr`` writes it block by block. ``class_maps``: the maps of
    every class are held too (4 bytes a pixel and class; not counted; classes bash).
    ``level``: the pyramid level segmented (level 0's pixels were counted; review)."""
    from .._io import is_zarr_path, read_image

    for row in plan:
        if not is_zarr_path(row.image):
            continue
        try:
            with warnings.catch_warnings():  # the reading itself says it again
                warnings.simplefilter("ignore")
                img = read_image(row.image, lazy=True, level=level)
        except (ValueError, OSError):  # said when it is segmented
            continue
        shape = tuple(img.data.shape)
        pixels = math.prod(n for a, n in enumerate(shape) if a != img.channel_axis)
        if pixels > HELD_PIXELS:
            maps = f" and {4 * pixels / 2**30:.0f} GiB for each class's map" * class_maps
            say(
                f"{shown_name(row.image)}: its {pixels:,} pixels are segmented in memory for a "
                f"TIFF output (about {8 * pixels / 2**30:.0f} GiB{maps}); --output "
                "OUT.ome.zarr writes them block by block."
            )


class _FileBars:
    """One tqdm bar per file of a batch, and a line per finished file (batch progress)."""

    def __init__(self) -> None:
        self.bar: ProgressBar | None = None

    def __call__(self, record: Any) -> None:
        row = record.finished
        if row is None:
            if record.total:
                if self.bar is None:
                    self.bar = ProgressBar(record.name, unit="tile")
                self.bar(record)
            return
        self.__exit__()
        for note in row.notes:
            say(f"{shown_name(row.input)}: {note}")
        if row.ok:
            s = row.stats
            # what the labels hold: one id per object, or classes (their regions counted)
            objects = f"{row.objects:,} object{'s' * (row.objects != 1)}"
            objects += " (touching ones split)" if s.get("split_touching") else " (regions)"
            print(
                f"{row.input} -> {row.output}: {s['voxels']:,} voxels in {row.seconds:.2f} s "
                f"({s['voxels'] / max(row.seconds, 1e-9):,.0f} voxels/s) on {s['device']} in "
                f"{s['precision']}, "
                f"peak memory {_fmt_bytes(_peak_rss())}; {objects}"
            )

    def __enter__(self) -> _FileBars:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__()
            self.bar = None


def _peak_rss() -> float:
    """Peak resident memory of this process in bytes."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
