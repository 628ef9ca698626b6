"""``unetseg train``: train a new model, or fine-tune one, on images and labels."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._base import (
    CLIError,
    ProgressBar,
    Terminated,
    add_axes_option,
    add_invert_option,
    add_series_option,
    check_inputs,
    numbers,
    pixel_size_clash,
    say,
)

#: What ``unetseg train --help`` says the command does (argparse refills the lines).
DESCRIPTION = """\
Train a new U-Net, or fine-tune one (--from), on images and their labels. Sparse labels
(default): 0 not painted, 1 background, 2.. classes. Dense labels: 0 background, k class
k when --n-classes (or --class-names, one per class) says how many; without either,
labels above 1 are taken as instance masks, one foreground class."""


# -- train --------------------------------------------------------------------------------
def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a model on painted labels",
        description=DESCRIPTION,
    )
    p.add_argument(
        "--image",
        "-i",
        action="append",
        required=True,
        metavar="IMG",
        help="training image (TIFF, OME-Zarr, NIfTI, PNG or JPEG); repeat with --labels for "
        "several pairs",
    )
    p.add_argument(
        "--labels",
        "-l",
        action="append",
        required=True,
        metavar="LAB",
        help="labels (TIFF, OME-Zarr, NIfTI or PNG) for the --image in the same position",
    )
    p.add_argument("--output", "-o", help="model file to write (.pt)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output file or --save-as model (else it is kept)",
    )
    p.add_argument(
        "--save-as",
        metavar="NAME",
        help="also save the model as NAME in the saved models, which every later session "
        "lists by name (`unetseg models` shows the folder); --output is then optional",
    )
    p.add_argument(
        "--from",
        dest="model",
        default=None,
        metavar="NAME|PATH",
        help="fine-tune this model (shipped name or file); default: a new model",
    )
    p.add_argument(
        "--channel",
        type=int,
        default=None,
        metavar="N",
        help="train on channel N (from 0) of multi-channel images, e.g. the nuclear stain",
    )
    add_series_option(p)
    add_axes_option(p)
    p.add_argument(
        "--label-mode",
        default="sparse",
        choices=["sparse", "dense"],
        help="sparse: 0 unpainted, 1 background, 2+ classes; dense: 0 background, 1+ classes "
        "(default sparse)",
    )
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: no limit)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds (default 60 when --steps is not given either)",
    )
    p.add_argument(
        "--n-classes",
        type=int,
        default=None,
        help="output classes, background included (default: as many as --class-names "
        "names, else from the labels)",
    )
    p.add_argument(
        "--class-names",
        nargs="+",
        default=None,
        metavar="NAME",
        help="names of the model's classes, background first, e.g. --class-names "
        'background "grey matter" "white matter" (default: class 1, class 2, ...)',
    )
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
        "model records it (default auto: measured; off: fine-tune at the image's scale)",
    )
    _add_network(p)
    p.add_argument(
        "--keep-prior",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="fine-tuning: how strongly the starting model's answers on unpainted pixels are "
        "kept (default 0.3 with scribbles, 0 with dense labels; 0: off)",
    )
    p.add_argument(
        "--teacher",
        default="auto",
        choices=["auto", "forest", "none"],
        help="new model from scribbles: a random forest fitted on the painted pixels first "
        "labels the unpainted ones, and the U-Net trains on all (auto: for sparse labels "
        "when the model is new or --from is one a forest taught; none: the scribbles alone)",
    )
    add_invert_option(p, training=True)
    _add_running(p)
    p.set_defaults(func=_cmd_train)


def _add_network(p: Any) -> None:
    """A new model's network, and the patches, batches and steps it learns from."""
    # core/training/options.py's NEW_MODEL (not imported: it would import torch for --help)
    p.add_argument("--depth", type=int, default=None, help="new model: U-Net levels (default 4)")
    p.add_argument(
        "--base-channels",
        type=int,
        default=None,
        help="new model: channels of the first level (default 16 in 2D, 12 in 3D)",
    )
    p.add_argument(
        "--patch-size",
        type=numbers(int),
        nargs="+",
        default=None,
        help="patch edge(s) (default: chosen for the device, fitted to the images)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="(default: chosen for the device)")
    p.add_argument("--learning-rate", "--lr", type=float, default=None, help="(default: auto)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of labeled pixels held out (as regions) for validation (default 0.1)",
    )
    p.add_argument(
        "--intensity-range",
        type=numbers(float),
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="new model: a fixed intensity range for calibrated values, e.g. a CT window in "
        "Hounsfield units (-160 240, or -1024 3000): LOW becomes 0 and HIGH 1, clipped, for "
        "every image alike, recorded in the model (default: each image's 1st / 99.8th "
        "percentiles, which depend on what else it holds, such as a scan's field of view)",
    )
    p.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="no flips, turns, zooms or intensity changes of the patches (default: augment)",
    )


def _add_running(p: Any) -> None:
    """Where and how the training runs: device, seed, threads."""
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps (default auto)")
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: torch's choice); a --seed repeats a run's weights at the "
        "same thread count and precision, which the model's history records",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="training arithmetic: auto (default) is bf16 on GPUs and on CPUs with native "
        "bf16, else fp32; name the one a model records (unetseg info) to repeat its weights "
        "on another computer",
    )


def _train_postfix(rec: Any) -> str | None:
    parts = [] if rec.loss is None else [f"loss {rec.loss:.3f}"]
    if rec.best_val_loss is not None:  # scribbles: the loss chooses, Dice soon reads 1
        parts.append(f"val loss {rec.best_val_loss:.3f}")
    if rec.best_val_dice is not None:
        parts.append(f"val Dice {rec.best_val_dice:.3f}")
    return ", ".join(parts) or None


#: The training API's arguments that the command spells as options (--time-limit ...).
_OPTIONS = (
    "n_classes",
    "label_mode",
    "time_limit",
    "val_fraction",
    "patch_size",
    "batch_size",
    "learning_rate",
    "keep_prior",
    "class_names",
)


#: Arguments also spelled as options in refusals only (words prose may hold too).
_REFUSAL_OPTIONS = ("object_size", "depth", "base_channels", "seed")


def _option_words(text: str, options: tuple[str, ...] = _OPTIONS) -> str:
    """An API sentence in the command's words: ``n_classes=5`` -> ``--n-classes 5``,
    "time_limit must be ..." -> "--time-limit must be ..."."""
    names = "|".join(options)
    text = re.sub(  # a quoted value: label_mode='dense' -> --label-mode dense
        rf"\b({names})=(['\"])([^'\"]*)\2",
        lambda m: "--" + m.group(1).replace("_", "-") + " " + m.group(3),
        text,
    )
    text = re.sub(
        rf"\b({names})\b(=?)",
        lambda m: "--" + m.group(1).replace("_", "-") + " " * bool(m.group(2)),
        text,
    )
    return re.sub(r"\bsteps must\b", "--steps must", text)  # not "300 steps"


@contextlib.contextmanager
def _options_named() -> Iterator[None]:
    """Refusals of the training API with its option names in the command's words."""
    try:
        yield
    except ValueError as exc:
        raise CLIError(_option_words(str(exc), _OPTIONS + _REFUSAL_OPTIONS)) from None


def _read_pairs(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    """The images (their --series, one --channel) and each one's labels, on its grid."""
    from .. import _io
    from .._nifti import on_grid_of

    if args.series < 0:
        raise CLIError(f"--series must be 0 or more, got {args.series}.")
    images = [_io.read_image(src, series=args.series, axes=args.axes) for src in args.image]
    if args.channel is not None:
        try:
            images = [img.one_channel(args.channel) for img in images]
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    labels = []
    for src, img, img_src in zip(args.labels, images, args.image):
        read, note = _io.read_labels(src)
        # NIfTI labels saved in another orientation: turned onto the image's voxels, as
        # evaluate does (they trained mirrored, without a word; NIfTI bug bash)
        read, grid_note = on_grid_of(read, img, ("labels", "image"))
        # labels saved with another pixel size: painted on another grid (evaluate refused
        # the same pair, training took it without a word; train bug bash)
        clash = pixel_size_clash(read, img.without_channels())
        if clash is not None:
            raise CLIError(
                f"The labels {Path(src).name} have pixels of {clash[0]}, their image "
                f"{Path(img_src).name} of {clash[1]}: give labels drawn on the image's own "
                "pixels (resampled onto its grid)."
            )
        labels.append(read.data)
        for said in (note, grid_note):
            if said:
                say(said)
    _say_other_pixel_sizes(images, args.image)
    return images, labels


def _say_other_pixel_sizes(images: list[Any], paths: list[str]) -> None:
    """Say where the images' pixel sizes differ: training takes the first image's for all
    (its object size and scale are recorded), and trained on 2 µm pixels as if they were
    0.5 µm without a word (training fuzz bash)."""
    first = images[0].without_channels()
    for img, path in zip(images[1:], paths[1:]):
        clash = pixel_size_clash(img.without_channels(), first)
        if clash is not None:
            say(
                f"{Path(path).name} has pixels of {clash[0]}, {Path(paths[0]).name} of "
                f"{clash[1]}: the model is trained and recorded as if every image had "
                f"{Path(paths[0]).name}'s (resample them onto one pixel size first to "
                "train on like objects)."
            )


def _cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import api
    from .._units import common_unit, known_spacing, time_axis
    from ..core.training import early_best_text, few_steps_text, score_text, start_hint

    if args.output is None and args.save_as is None:
        raise CLIError("Give --output FILE.pt, --save-as NAME, or both: where the model goes.")
    out = Path(args.output) if args.output is not None else None
    if out is not None and out.suffix.lower() != ".pt":
        raise CLIError(f"--output {str(out)!r} must be a model file ending in .pt.")
    if out is not None:
        _check_output(out, args.overwrite)
    if args.save_as is not None:
        _check_save_name(args.save_as, args.overwrite)
    if len(args.image) != len(args.labels):
        raise CLIError(
            f"Got {len(args.image)} --image but {len(args.labels)} --labels; give one "
            "--labels per --image."
        )
    check_inputs(args.image + args.labels)
    if args.threads is not None:
        _set_threads(args)
    model = api.load_model(args.model) if args.model else None
    images, labels = _read_pairs(args)
    axes = {img.channel_axis for img in images}
    flat = images[0].without_channels()
    dims = _dims_for(args.dims, model, flat.axes, args.image[0])
    _say_guessed_axes(flat, model, dims, args.image[0])
    patch = (
        args.patch_size[0] if args.patch_size and len(args.patch_size) == 1 else args.patch_size
    )
    t0 = time.perf_counter()

    advised: list[str] = []

    def show(rec: Any) -> None:
        bar(rec)
        if rec.message:
            tqdm.write(f"unetseg: {_option_words(rec.message)}", file=sys.stderr)
        if rec.advice and rec.advice not in advised:  # once, as soon as it is known
            advised.append(rec.advice)
            tqdm.write(f"unetseg: {_option_words(rec.advice)}", file=sys.stderr)

    title = out.name if out is not None else args.save_as
    stop = threading.Event()
    received: list[int] = []
    with (
        _options_named(),
        _stop_on_interrupt(stop, received),
        ProgressBar(f"training {title}", unit="step", postfix=_train_postfix) as bar,
    ):
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
                precision=args.precision,
                seed=args.seed,
                spatial_dims=dims,
                model_config={
                    k: v
                    for k, v in (("depth", args.depth), ("base_channels", args.base_channels))
                    if v is not None
                }
                or None,
                channel_axis=axes.pop() if len(axes) == 1 else None,
                object_size=args.object_size,
                scale=known_spacing(flat.scale, flat.units, flat.axes),
                unit=common_unit(flat.units),
                time_axis=time_axis(flat.axes),
                keep_prior=args.keep_prior,
                teacher=args.teacher,
                class_names=args.class_names,
                invert=args.invert,
                intensity_range=args.intensity_range,
                stop=stop,
            ),
            show,
        )
    if not bundle.history.get("steps"):
        if stop.is_set():  # Ctrl-C: "give a longer --time-limit" was no advice
            print("unetseg: no model was written.", file=sys.stderr)  # (the run said why)
            return 130
        # the forest teaches scribbles only: dense runs were told of it (training fuzz)
        taught = bundle.history.get("teacher") not in (None, "none")
        went = "reading and the forest teacher" if taught else "reading the images"
        raise CLIError(
            f"No training step was taken (the time went to {went}), so no model was "
            "written; give a longer --time-limit."
        )
    _name_and_stop(bundle, received, args, out)
    written = [] if out is None else [_save_new(bundle, out, args.overwrite)]
    if args.save_as is not None:
        written.append(api.save_model(bundle, args.save_as))
    h = bundle.history
    score = score_text(h, digits=3)
    score = f", {score}" if score else ""
    where = " and ".join(map(str, written))
    print(f"wrote {where}: {h['steps']} steps in {time.perf_counter() - t0:.1f} s{score}")
    if args.save_as is not None:
        print(
            f"unetseg: saved as {args.save_as!r}: `--model {shlex.quote(args.save_as)}` names it.",
            file=sys.stderr,
        )
    for hint in (few_steps_text(h), early_best_text(h), start_hint(h, bundle.class_names)):
        if hint and hint not in advised:  # (the start model's said while it trained)
            print(hint, file=sys.stderr)
    return _stopped_early(received, h["steps"])


def _name_and_stop(bundle: Any, received: list[int], args: argparse.Namespace, out: Any) -> None:
    """The model's name (--save-as, else the output's stem), and the record of a run a
    Ctrl-C or SIGTERM stopped early, with what was asked: a SLURM time limit's model at
    the final path read as a finished run in `unetseg info` (CLI bash)."""
    bundle.name = args.save_as if args.save_as is not None else out.stem
    history = bundle.history
    if not received:
        return
    how = "SIGTERM" if received[0] == signal.SIGTERM else "Ctrl-C"
    asked = [f"{args.steps} steps"] if args.steps is not None else []
    asked += [f"{args.time_limit:g} s"] if args.time_limit is not None else []
    history["stopped"] = f"by {how} at step {history['steps']}" + (
        f" ({' or '.join(asked)} asked)" if asked else ""
    )


def _stopped_early(received: list[int], steps: int) -> int:
    """The exit status of a training that wrote its model: 130 / 143 where a Ctrl-C or
    SIGTERM stopped it early, said in a line (a script could not tell it from a finished
    run: it exited 0; CLI bug bash), else 0."""
    if not received:
        return 0
    terminated = received[0] == signal.SIGTERM
    print(
        f"unetseg: {'terminated' if terminated else 'interrupted'} at step {steps}; "
        "the best model so far was written.",
        file=sys.stderr,
    )
    return 143 if terminated else 130


def _set_threads(args: argparse.Namespace) -> None:
    """torch's threads: --threads, at most the CPU cores this process may use (1000
    threads on 2 cores took a minute a step, without a word; CLI bug bash)."""
    if args.threads < 1:
        raise CLIError(f"--threads must be 1 or more, got {args.threads}.")
    import torch

    from ..core.devices import usable_cores

    cores = usable_cores()
    if args.threads > cores:
        cores_here = f"{cores} CPU core{'s' if cores != 1 else ''} this process may use"
        used = "it is" if cores == 1 else f"{cores} are"
        say(f"--threads {args.threads} is more than the {cores_here}; {used} used.")
        args.threads = cores
    torch.set_num_threads(args.threads)


def _save_new(bundle: Any, out: Path, overwrite: bool) -> Path:
    """Write the model to ``out``; without --overwrite, to ``NAME-2.pt`` (-3, ...) where
    a file appeared at ``out`` during the training (another run to the same output: it
    replaced that run's model without a word), said in one line."""
    if overwrite:
        return bundle.save(out)
    for n in range(1, 1000):
        path = out if n == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
        try:
            written = bundle.save(path, replace=False)
        except FileExistsError:
            continue
        if n > 1:
            say(
                f"{str(out)!r} appeared during the training (another run?); it is kept, and this model was written to {str(path)!r}."
            )
        return written
    raise CLIError(f"--output {str(out)!r} and its numbered alternatives all exist.")


@contextlib.contextmanager
def _stop_on_interrupt(stop: threading.Event, received: list[int] | None = None) -> Iterator[None]:
    """A first Ctrl-C or SIGTERM ends the training at the next step and the best model
    so far is written, as the widget's Stop does (a Ctrl-C threw the whole run away); a
    second one abandons it. The signals taken are added to ``received``."""
    received = [] if received is None else received

    def on_interrupt(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        stop.set()
        received.append(signum)
        from tqdm import tqdm

        again = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        tqdm.write(  # (print wrote it onto the progress bar's line)
            "unetseg: stopping at the next step; the best model so far is written "
            f"({again} again to abandon it).",
            file=sys.stderr,
        )

    previous = {}
    # SIGTERM too (a SLURM time limit, `timeout`: the whole run was lost); Ctrl-C ignored
    # (a background job) stays ignored, as asked
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        try:
            previous[signum] = signal.signal(signum, on_interrupt)
        except ValueError:  # not the main thread: not ours to take
            break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say_guessed_axes(flat: Any, model: Any, dims: int | None, source: str) -> None:
    """Say where a 3D model is trained on a stack whose file does not name its axes (a
    movie saved from numpy reads as a Z stack)."""
    from ..batch import guessed_axes_note

    volume = model.spatial_dims if model is not None else dims or (3 if "Z" in flat.axes else 2)
    if said := guessed_axes_note(flat, volume, "unetseg train"):
        say(f"{source}: {said}")


def _dims_for(dims: int | None, model: Any, axes: str, source: str) -> int | None:
    """The model's dims for a file's axes: a time series of planes (TYX) trains a 2D
    model (not time as depth); a 3D model or --dims 3 on one is refused."""
    from ..batch import time_for_z

    if model is not None and dims is not None and dims != model.spatial_dims:
        raise CLIError(  # it was ignored without a word (train bug bash)
            f"--dims {dims} is for a new model; {model.name!r} is a {model.spatial_dims}D "
            "model, and fine-tuning keeps its dimensions: leave --dims out, or leave --from "
            "out for a new model."
        )
    if "T" not in axes[-3:] or "Z" in axes:
        return dims
    if dims is None and model is None:
        say(f"{source}: its axes are {axes} (time, no Z): a 2D model, trained on each time point.")
        return 2
    if model is None:
        if dims == 3:
            raise CLIError(
                f"--dims 3 trains a Z-stack model, but {source}'s axes are {axes} (time, no "
                "Z): leave --dims out (or give 2) to train on each time point."
            )
        return dims
    problem = time_for_z(model.name, model.spatial_dims, axes, str(source))
    if problem is not None:
        raise CLIError(problem)
    return dims


def _check_save_name(name: str, overwrite: bool = False) -> None:
    """Refuse a --save-as name, or a saved-models folder that cannot be written, before
    training rather than after (one sentence); a saved model of that name without
    --overwrite, as an existing --output (it was replaced without a word)."""
    from ..core.registry import REGISTRY

    try:
        path = REGISTRY.saving_path(name)
    except ValueError as exc:
        raise CLIError(f"--save-as: {exc}") from None
    if path.exists() and not overwrite:
        raise CLIError(
            f"--save-as: a saved model {path.stem!r} exists ({path}); give --overwrite to "
            "replace it, or another name."
        )


def _check_output(out: Path, overwrite: bool = False) -> None:
    """Refuse an --output the model could not be written to, or an existing model file
    without --overwrite (one was replaced without a word: hours of training), before
    training."""
    from .._batch_plan import BatchError, check_writable

    if out.is_dir():
        raise CLIError(f"--output {str(out)!r} is a folder; name a model file ending in .pt.")
    if out.is_symlink() and not out.exists() and not overwrite:
        # said as "appeared during the training (another run?)" after it (training fuzz)
        raise CLIError(
            f"--output {str(out)!r} is a link to {os.readlink(out)!r}, which does not exist; "
            "give --overwrite to replace the link, or another name."
        )
    if out.exists() and not overwrite:
        raise CLIError(
            f"--output {str(out)!r} exists; give --overwrite to replace it, or another name."
        )
    try:
        check_writable(out.parent)
    except BatchError as exc:
        raise CLIError(f"--output: {exc}") from None
