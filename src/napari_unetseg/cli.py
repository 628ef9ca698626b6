"""The ``unetseg`` command line: batch prediction, training, evaluation, models and info.

Every sub-command is one ``_cmd_<name>`` function plus its ``_add_<name>`` parser;
bad input ends with one line on stderr (``unetseg: error: ...``) and exit status 1,
and output files are written atomically so an existing file is never half-overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .core.guards import fmt_bytes as _fmt_bytes


class CLIError(Exception):
    """An error to report to the user as one line, without a traceback."""


class ProgressBar:
    """A tqdm bar on stderr fed with progress records (``done``/``total`` or ``step``).

    The bar appears with the first record, so a command that fails while checking its
    input prints its one error line and nothing else. ``postfix`` turns a record into
    the text shown after the bar (e.g. loss and validation Dice while training).
    """

    def __init__(
        self, desc: str, unit: str = "it", postfix: Callable[[Any], str | None] | None = None
    ) -> None:
        self.desc, self.unit, self.postfix = desc, unit, postfix
        self.bar: Any = None

    def __call__(self, record: Any) -> None:
        from tqdm import tqdm

        done = getattr(record, "done", None)
        if done is None:
            done = getattr(record, "step", 0)
        total = getattr(record, "total", None) or getattr(record, "total_steps", None)
        if self.bar is None:
            self.bar = tqdm(
                total=total, desc=self.desc, unit=self.unit, file=sys.stderr, leave=False,
                dynamic_ncols=True,
            )
        self.bar.update(done - self.bar.n)
        text = self.postfix(record) if self.postfix else None
        if text:
            self.bar.set_postfix_str(text, refresh=False)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


# -- predict ------------------------------------------------------------------------------
def _add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="segment images with a model, writing label TIFFs")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="TIFF / OME-TIFF image(s) or OME-Zarr stores (.zarr, .ome.zarr), or folders of them",
    )
    p.add_argument(
        "--model",
        "-m",
        default=None,
        help="shipped model name or model file (default: nuclei-3d for a Z stack, else nuclei-2d)",
    )
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="output TIFF (one input) or folder (<name>_labels.tif per image); a file that "
        "fails is reported at the end and the others are still segmented",
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
        help="fill holes inside objects (default: the model's setting)",
    )
    p.add_argument("--tile-size", type=int, default=None, help="tile edge in pixels")
    p.add_argument("--overlap", type=float, default=0.25, help="tile overlap fraction [0, 1)")
    p.add_argument("--batch-size", type=int, default=None, help="tiles per batch (auto)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto (default): bf16/fp16 on GPUs and bf16 on CPUs with native bf16 once a "
        "quick check shows the model's labels agree with fp32, else fp32",
    )
    p.add_argument("--tta", action="store_true", help="test-time augmentation with flips")
    p.add_argument(
        "--probabilities", default=None, metavar="PATH", help="also write the probability map"
    )
    p.add_argument(
        "--split-touching",
        action="store_true",
        help="write instance labels: split touching objects (distance-transform watershed)",
    )
    big = p.add_argument_group(
        "OME-Zarr and clusters",
        "--output OUT.ome.zarr writes the labels block by block (never the whole volume in "
        "memory); --output naming the OME-Zarr input adds them under its labels/ group. "
        "--scheduler / --workers run the blocks (or, for several inputs, one task per file) "
        "on a dask.distributed cluster. See docs/distributed.md.",
    )
    big.add_argument("--level", type=int, default=0, help="pyramid level of an OME-Zarr input")
    big.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="dask scheduler, e.g. tcp://host:8786"
    )
    big.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="start a local cluster of N single-threaded worker processes",
    )
    big.add_argument(
        "--memory-per-worker", default=None, metavar="SIZE",
        help="memory limit of each --workers worker, e.g. 1GiB (default: RAM / N)",
    )
    big.add_argument(
        "--block-size", type=int, nargs="+", default=None, metavar="PX",
        help="block edge of the axes after the first spatial one (default 2048 in 2D, 512 in 3D)",
    )
    big.add_argument(
        "--resume", action="store_true", help="finish an interrupted OME-Zarr output"
    )
    big.add_argument(
        "--overwrite", action="store_true", help="replace an existing OME-Zarr output"
    )
    p.set_defaults(func=_cmd_predict)


def _say(message: str) -> None:
    """A one-line note on stderr (progress bars stay intact)."""
    from tqdm import tqdm

    tqdm.write(f"unetseg: {message}", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> int:
    from . import api, batch
    from ._io import is_zarr_path

    if args.scheduler or args.workers or is_zarr_path(args.output) or args.level:
        return _cmd_predict_blocks(args)

    settings = batch.SegmentSettings.from_dict(vars(args))  # options named like its fields
    settings.check()  # a bad setting is one error line, before any file is written
    # Replacing earlier results is what `predict` has always done (atomically).
    plan = batch.plan_batch(
        args.inputs, args.output, overwrite=True, probabilities=args.probabilities
    )
    with _FileBars() as bars:
        report = api.drain(batch.segment_files_iter(plan, settings), bars)
    failed = report.failed
    if len(failed) == 1 and len(report.results) == 1:
        raise CLIError(f"{Path(failed[0].input).name}: {failed[0].error}")
    if failed:
        print(
            f"unetseg: error: {len(failed)} of {len(report.results)} files could not be "
            "segmented:",
            file=sys.stderr,
        )
        for row in failed:
            print(f"  {row.input}: {row.error}", file=sys.stderr)
        return 1
    return 0


def _cmd_predict_blocks(args: argparse.Namespace) -> int:
    """``predict`` into OME-Zarr and/or on a cluster (``napari_unetseg.distributed``)."""
    from . import api, batch
    from . import distributed as dist
    from ._io import is_zarr_path, read_image

    settings = batch.SegmentSettings.from_dict(vars(args))
    settings.check()
    if args.resume and args.overwrite:
        raise CLIError("Choose --resume or --overwrite, not both.")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be at least 1, got {args.workers}.")
    images = batch.list_images(args.inputs)
    zarr_out = is_zarr_path(args.output)
    if not zarr_out and (args.level or len(images) == 1 and not args.scheduler and not args.workers):
        raise CLIError(f"--level needs an OME-Zarr output (--output OUT.ome.zarr), not {args.output!r}.")
    if zarr_out and len(images) > 1:
        raise CLIError(
            "With several inputs, --output must be a folder (each file becomes one task "
            "writing <name>_labels.tif)."
        )
    if zarr_out and (args.probabilities or args.split_touching):
        option = "--probabilities" if args.probabilities else "--split-touching"
        raise CLIError(f"{option} is not available with an OME-Zarr output; write TIFFs instead.")
    client = None
    if len(images) > 1 or not zarr_out:  # one cluster task per file, TIFF outputs
        plan = batch.plan_batch(
            images, args.output, overwrite=True, probabilities=args.probabilities
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
                _say(f"{Path(row['input']).name}: {note}")
            if not row["error"]:
                print(f"{row['input']} -> {row['output']}: {row['seconds']:.2f} s")
        for row in failed:
            print(f"unetseg: error: {row['input']}: {row['error']}", file=sys.stderr)
        return 1 if failed else 0

    src = images[0]
    model = settings.model
    if model is None:
        img = read_image(src, lazy=True, level=args.level)
        model, why = api.default_model(img.data.shape, img.without_channels().axes, img.channel_axis)
        _say(f"{src.name}: model {model} ({why}).")
    if args.scheduler or args.workers:
        client = dist.connect(args.scheduler, args.workers, memory_limit=args.memory_per_worker)
    t0 = time.perf_counter()

    def show(record: Any) -> None:
        if record.message:
            _say(f"{src.name}: {record.message}")
        if record.stage == "blocks":
            bar(record)

    try:
        with ProgressBar(src.name, unit="block") as bar:
            result = api.drain(
                dist.predict_blocks_iter(
                    src,
                    model,
                    args.output,
                    level=args.level,
                    client=client,
                    block_size=args.block_size,
                    resume=args.resume,
                    overwrite=args.overwrite,
                    **settings.predict_options(),
                ),
                show,
            )
    finally:
        if client is not None:
            dist.close(client)
    s = result.stats
    if not s.get("blocks") and s.get("skipped"):
        print(f"{src} -> {result.output}: already complete")
        return 0
    where = f"{s['workers']} workers" if s["workers"] else s["device"]
    print(
        f"{src} -> {result.output}: {s['voxels']:,} voxels in {time.perf_counter() - t0:.2f} s "
        f"({s['blocks']} blocks, {s['skipped']} already done) on {where} in {s['precision']}"
    )
    return 0


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
            _say(f"{Path(row.input).name}: {note}")
        if row.ok:
            s = row.stats
            print(
                f"{row.input} -> {row.output}: {s['voxels']:,} voxels in {row.seconds:.2f} s "
                f"({s['voxels'] / max(row.seconds, 1e-9):,.0f} voxels/s) on {s['device']} in "
                f"{s['precision']}, "
                f"peak memory {_fmt_bytes(_peak_rss())}"
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


# -- models -------------------------------------------------------------------------------
def _add_models(sub: Any) -> None:
    p = sub.add_parser("models", help="list the shipped models")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from . import api

    rows = api.list_models()
    if not rows:
        print("No models are installed.")
    for row in rows:
        bundle = api.load_model(row["name"])
        print(f"{row['name']:<16} {bundle.summary()}  ({row['path']})")
    return 0


# -- export -------------------------------------------------------------------------------
def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write a model as a bioimage.io model package (for ilastik, deepImageJ, the zoo)"
    )
    p.add_argument("model", help="model name (see `unetseg models`), .pt file or bioimage.io package")
    p.add_argument("--format", choices=["bioimageio"], default="bioimageio")
    p.add_argument("--output", "-o", required=True, help="package to write (.zip)")
    p.add_argument(
        "--test-image", help="TIFF whose first plane/volume becomes the test tensors (default: synthetic nuclei)"
    )
    p.add_argument("--author", action="append", help="author name (repeat for several)")
    p.add_argument("--license", default="CC-BY-4.0", help="SPDX licence id (default CC-BY-4.0)")
    p.add_argument("--description", help="one-sentence description")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from . import _io, api

    out = Path(args.output)
    if out.suffix.lower() != ".zip":
        raise CLIError(f"--output {args.output!r} must end in .zip (a bioimage.io package).")
    bundle = api.load_model(args.model)
    image = _io.read_image(args.test_image) if args.test_image else None
    spatial = image.without_channels() if image is not None else None
    unit = None
    if spatial is not None and spatial.units:
        unit = spatial.units[-1]
    path = bundle.export_bioimageio(
        out,
        test_image=None if image is None else image.data,
        channel_axis=None if image is None else image.channel_axis,
        pixel_size=None if spatial is None or not spatial.units else spatial.scale,
        unit=unit,
        authors=args.author,
        license=args.license,
        description=args.description,
    )
    print(f"wrote {path} (bioimage.io model package of {bundle.name!r})")
    return 0


# -- sample -------------------------------------------------------------------------------
def _add_sample(sub: Any) -> None:
    p = sub.add_parser(
        "sample", help="write a synthetic nuclei image (and its ground truth) to try things"
    )
    p.add_argument("output", help="image TIFF to write; the ground truth goes to <stem>_ground_truth.tif")
    p.add_argument("--shape", type=int, nargs="+", default=[512, 512], help="Y X or Z Y X")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from . import _io
    from .core.synthetic import synthetic_nuclei

    if len(args.shape) not in (2, 3):
        raise CLIError("--shape takes 2 (Y X) or 3 (Z Y X) sizes.")
    image, labels = synthetic_nuclei(tuple(args.shape), seed=args.seed)
    out = Path(args.output)
    axes = "YX" if image.ndim == 2 else "ZYX"
    _io.write_image(out, image, axes=axes)
    lab = out.with_name(out.name.split(".")[0] + "_ground_truth.tif")
    _io.write_labels(lab, labels, axes=axes)
    print(f"wrote {out} and {lab} ({'x'.join(map(str, image.shape))})")
    return 0


# -- train --------------------------------------------------------------------------------
def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a model on painted labels",
        description="Train a new U-Net, or fine-tune one (--from), on images and their labels. "
        "Sparse labels (default): 0 not painted, 1 background, 2.. classes. Dense labels: "
        "0 background, k class k (instance masks count as one foreground class).",
    )
    p.add_argument(
        "--image",
        "-i",
        action="append",
        required=True,
        metavar="IMG",
        help="training image (TIFF); repeat with --labels for several pairs",
    )
    p.add_argument(
        "--labels",
        "-l",
        action="append",
        required=True,
        metavar="LAB",
        help="labels TIFF for the --image in the same position",
    )
    p.add_argument("--output", "-o", required=True, help="model file to write (.pt)")
    p.add_argument(
        "--from",
        dest="model",
        default=None,
        metavar="NAME|PATH",
        help="fine-tune this model (shipped name or file); default: a new model",
    )
    p.add_argument("--label-mode", default="sparse", choices=["sparse", "dense"])
    p.add_argument("--steps", type=int, default=None, help="optimizer steps")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds (default 60 when --steps is not given either)",
    )
    p.add_argument("--n-classes", type=int, default=None, help="output classes (default: auto)")
    p.add_argument(
        "--dims",
        type=int,
        choices=[2, 3],
        default=None,
        help="new model: 2D or 3D (default: from the image)",
    )
    p.add_argument(
        "--object-size",
        default="auto",
        metavar="auto|PIXELS|off",
        help="object diameter in pixels: fine-tuning resamples to the model's size; a new "
        "model records it (default auto: measured)",
    )
    p.add_argument("--depth", type=int, default=None, help="new model: U-Net levels")
    p.add_argument(
        "--base-channels", type=int, default=None, help="new model: channels of the first level"
    )
    p.add_argument("--patch-size", type=int, nargs="+", default=None, help="patch edge(s)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", "--lr", type=float, default=None)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of labeled pixels held out (as regions) for validation",
    )
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument(
        "--keep-prior",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="fine-tuning: how strongly the starting model's answers on unpainted pixels are "
        "kept (default 0.3 with scribbles, 0 with dense labels; 0: off)",
    )
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train)


def _train_postfix(rec: Any) -> str | None:
    parts = [] if rec.loss is None else [f"loss {rec.loss:.3f}"]
    if rec.best_val_dice is not None:
        parts.append(f"val Dice {rec.best_val_dice:.3f}")
    return ", ".join(parts) or None


def _cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import _io, api

    out = Path(args.output)
    if out.suffix.lower() != ".pt":
        raise CLIError(f"--output {str(out)!r} must be a model file ending in .pt.")
    if len(args.image) != len(args.labels):
        raise CLIError(
            f"Got {len(args.image)} --image but {len(args.labels)} --labels; give one "
            "--labels per --image."
        )
    for src in args.image + args.labels:  # fail before any work when an input is missing
        if not Path(src).is_file():
            raise CLIError(f"Input file {src!r} does not exist.")
    model = api.load_model(args.model) if args.model else None
    images = [_io.read_image(src) for src in args.image]
    labels = [_io.read_image(src).data for src in args.labels]
    axes = {img.channel_axis for img in images}
    patch = (
        args.patch_size[0] if args.patch_size and len(args.patch_size) == 1 else args.patch_size
    )
    t0 = time.perf_counter()

    def show(rec: Any) -> None:
        bar(rec)
        if rec.message:
            tqdm.write(f"unetseg: {rec.message}", file=sys.stderr)

    with ProgressBar(f"training {out.name}", unit="step", postfix=_train_postfix) as bar:
        bundle = api.drain(
            api.train_iter(
                [img.data for img in images],
                labels,
                model=model,
                label_mode=args.label_mode,
                n_classes=args.n_classes,
                steps=args.steps,
                time_limit=args.time_limit,
                patch_size=patch,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                val_fraction=args.val_fraction,
                augment=args.augment,
                device=args.device,
                seed=args.seed,
                spatial_dims=args.dims,
                model_config={
                    k: v for k, v in (("depth", args.depth), ("base_channels", args.base_channels))
                    if v is not None
                } or None,
                channel_axis=axes.pop() if len(axes) == 1 else None,
                object_size=args.object_size,
                scale=images[0].without_channels().scale,
                keep_prior=args.keep_prior,
            ),
            show,
        )
    bundle.name = out.stem
    bundle.save(out)
    h = bundle.history
    best = h.get("best_val_dice")
    score = "" if best is None else f", best validation Dice {best:.3f}"
    print(f"wrote {out}: {h['steps']} steps in {time.perf_counter() - t0:.1f} s{score}")
    return 0


# -- evaluate -----------------------------------------------------------------------------
def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a prediction against ground truth (Dice, IoU, objects, HD95, ...)",
        description="Compare a label prediction with ground truth, per class: Dice, IoU, "
        "sensitivity, specificity, precision, HD95 / ASSD (physical units), clDice and "
        "object F1 / panoptic quality. Dense ground truth: 0 background, k class k. "
        "Sparse (scribbles): 0 unlabeled, 1 background, k+1 class k.",
    )
    p.add_argument("--prediction", "-p", required=True, help="predicted labels (TIFF)")
    p.add_argument("--ground-truth", "-g", required=True, help="ground-truth labels (TIFF)")
    p.add_argument("--mode", default="dense", choices=["dense", "sparse"])
    p.add_argument(
        "--spacing",
        type=float,
        nargs="+",
        default=None,
        metavar="S",
        help="voxel size per axis, e.g. Z Y X (default: from the files' metadata)",
    )
    p.add_argument("--classes", type=int, nargs="+", default=None, help="class ids to report")
    p.add_argument("--iou-threshold", type=float, default=0.5, help="object match IoU")
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
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the table as CSV")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(func=_cmd_evaluate)


def _physical_spacing(*images: Any) -> tuple[tuple[float, ...] | None, str | None]:
    """Spacing and unit from the first file that declares a physical pixel size."""
    for img in images:
        if img.units is not None:
            from ._io import common_unit

            return tuple(img.scale), common_unit(img.units)
    return None, None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from . import _io, api

    for src in (args.prediction, args.ground_truth):
        if not Path(src).is_file():
            raise CLIError(f"Input file {src!r} does not exist.")
    pred = _io.read_image(args.prediction)
    gt = _io.read_image(args.ground_truth)
    spacing, unit = _physical_spacing(gt, pred)
    if args.spacing is not None:
        spacing, unit = tuple(args.spacing), None
    with ProgressBar("evaluating", unit="%") as bar:
        result = api.drain(
            api.evaluate_iter(
                pred.data,
                gt.data,
                mode=args.mode,
                spacing=spacing,
                objects=args.objects,
                classes=args.classes,
                iou_threshold=args.iou_threshold,
                instances=args.instances,
                unit=unit,
            ),
            bar,
        )
    if args.csv:
        result.to_csv(args.csv)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, allow_nan=False))
    else:
        print(result.table())
    if args.csv:
        print(f"wrote {args.csv}", file=sys.stderr if args.json else sys.stdout)
    return 0


# -- info ---------------------------------------------------------------------------------
def _add_info(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="describe a TIFF: shape, axes, pixel size and, for labels written by "
        "napari-unetseg, the model, its file hash and the settings that made them",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="TIFF / OME-TIFF file(s)")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from . import _io
    from .provenance import describe

    for i, src in enumerate(args.files):
        img = _io.read_image(src, lazy=True)
        sizes = ", ".join(
            f"{a} {s:g}{'' if img.units is None else ' ' + img.units[k]}"
            for k, (a, s) in enumerate(zip(img.axes, img.scale, strict=True))
        )
        kind = "labels" if img.is_labels else "image"
        print(("\n" if i else "") + f"{src}: {kind}, {'x'.join(map(str, img.data.shape))} "
              f"{img.data.dtype}, axes {img.axes}")
        print(f"pixel size: {sizes if img.units is not None else 'not recorded'}")
        for line in describe(img.provenance):
            print(line)
    return 0


COMMANDS: list[Callable[[Any], None]] = [
    _add_predict, _add_models, _add_sample, _add_train, _add_evaluate, _add_info, _add_export,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unetseg", description="U-Net segmentation of 2D/3D images (napari-unetseg)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _show_warning(message: Any, *_: Any, **__: Any) -> None:
    """Python warnings (NaN pixels, a fallback to the CPU) as one line each on stderr."""
    _say(f"warning: {str(message).strip().splitlines()[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("unetseg: interrupted; no output was left half-written.", file=sys.stderr)
        return 130
    except CLIError as exc:
        print(f"unetseg: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, OSError, MemoryError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"unetseg: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
