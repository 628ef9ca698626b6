"""What every ``unetseg`` sub-command shares: the one-line error, progress bars, notes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a SLURM time limit) ends a command as Ctrl-C does:
    temporary files removed, one line said; it left them and said nothing (CLI bug bash)."""


class CLIError(Exception):
    """An error to report to the user as one line, without a traceback."""


def forwarded(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options ``names`` as keyword arguments of the same names, for the options a
    command passes on to the API unchanged."""
    return {name: getattr(args, name) for name in names}


def numbers(
    kind: type[int] | type[float], files_after: bool = False
) -> Callable[[str], int | float]:
    """The argparse type of an option that takes several numbers (``--shape 64 64``).
    ``files_after``: the command takes file names without an option, and a word that is
    no number is most often the file name after the numbers, which the option took as
    its own: "invalid int value: 'x.tif'" did not say so (the file name goes before the
    option, or after ``--``)."""
    whole = "a whole number" if kind is int else "a number"

    def convert(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            try:
                float(text)
                numeric = True
            except ValueError:
                numeric = False
            where = (
                "; the option takes numbers only, so a file name goes before it (or after --)"
                if files_after and not numeric
                else ""
            )
            raise argparse.ArgumentTypeError(f"{text!r} is not {whole}{where}") from None

    convert.__name__ = kind.__name__  # argparse names the type in other messages
    return convert


def add_invert_option(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """``--invert`` / ``--no-invert``: dark objects on a bright background, swapped for a
    model of bright ones (``predict``), or for the model trained (``train``)."""
    what = (
        "swap dark and bright before training, as `predict --invert` does; the model "
        "records it and predicts so by default (default: the --from model's setting, off "
        "for a new model)"
        if training
        else "swap dark and bright for a model of bright objects (the shipped nuclei "
        "models), e.g. a grey brightfield image of nuclei (default: the model's setting, on "
        "for a model trained with --invert)"
    )
    parser.add_argument(
        "--invert",
        default=None,
        action=argparse.BooleanOptionalAction,
        help=f"dark objects on a bright background: {what}",
    )


def add_series_option(parser: argparse.ArgumentParser, every: bool = False) -> None:
    """``--series N``: the image series of TIFFs that hold several (``predict``, ``train``);
    with ``every``, ``--series all`` too (each series of each file)."""

    def series(text: str) -> int | str:
        if every and text.strip().lower() == "all":
            return "all"
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a series number{' or all' if every else ''}, got {text!r}"
            ) from None

    parser.add_argument(
        "--series",
        type=series,
        default=0,
        metavar="N|all" if every else "N",
        help="image series N (from 0) of TIFFs that hold several, e.g. multi-position OME-TIFFs"
        + (
            "; all: every series, each to its own file (series 0 to <name>_labels.tif, "
            "series N to <name>_series<N>_labels.tif)"
            if every
            else ""
        ),
    )


def add_axes_option(parser: argparse.ArgumentParser) -> None:
    """``--axes``: name the axes of files that name them wrongly or not at all."""
    parser.add_argument(
        "--axes",
        default=None,
        metavar="AXES",
        help="the axes of the input in the file's order (a NIfTI file's as read: Z Y X), one "
        "letter each from T C Z Y X, e.g. TYX: for files that do not name them (a plain "
        "multi-page TIFF is read as a Z "
        "stack, a 4D one as T Z Y X, and 3 or 4 planes as RGB colours, so a movie saved "
        "from numpy needs --axes TYX)",
    )


def check_inputs(paths: Iterable[str]) -> None:
    """Fail before any work when an input file is missing (one line naming it)."""
    from .._io import is_zarr_path

    for src in paths:
        path = Path(src)
        # an OME-Zarr image, or a folder inside one (labels/NAME, a bioformats2raw series)
        store = path.is_dir() and is_zarr_path(path)
        if path.is_dir() and not store:  # (it said "does not exist" of a folder)
            raise CLIError(
                f"{src!r} is a folder, not an image file (nor an OME-Zarr store); name the "
                "files in it."
            )
        if not (path.is_file() or store):
            raise CLIError(f"Input file {src!r} does not exist.")


def check_table_output(path: str, inputs: Iterable[str]) -> None:
    """Fail before any work when a table (CSV) output would replace an input or a file
    that is not a table (one line naming it)."""
    out = Path(path)
    for src in inputs:
        if out.exists() and Path(src).exists() and out.resolve() == Path(src).resolve():
            raise CLIError(f"{path!r} is an input; choose another file for the table.")
    if out.is_dir():
        raise CLIError(f"{path!r} is a folder; name a .csv file for the table.")
    if out.exists() and out.suffix.lower() not in (".csv", ".txt", ".tsv"):
        raise CLIError(
            f"{path!r} exists and is not a table file; it is left as it is (choose a .csv)."
        )


#: Seconds between the progress bar's states written to a log (stderr not a terminal).
LOG_INTERVAL_S = 30.0


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
                total=total,
                desc=self.desc,
                unit=self.unit,
                file=sys.stderr,
                # a log file (stderr not a terminal) keeps the bar's last state on a line
                # of its own: the next note was written onto it (wheel bug bash)
                leave=not _is_terminal(sys.stderr),
                dynamic_ncols=True,
                # in a log, a state every LOG_INTERVAL_S: a 10 s training wrote 64 of
                # them (an overnight one megabytes on one line; CLI bash)
                mininterval=0.1 if _is_terminal(sys.stderr) else LOG_INTERVAL_S,
                # (tqdm's monitor forced one every 10 s besides; review)
                maxinterval=10.0 if _is_terminal(sys.stderr) else LOG_INTERVAL_S,
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
            self.bar = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed
        return False


def say(message: str) -> None:
    """A one-line note on stderr (progress bars stay intact)."""
    from tqdm import tqdm

    tqdm.write(f"unetseg: {message}", file=sys.stderr)


def _declared(img: Any) -> tuple[tuple[float, ...], str] | None:
    """A file's pixel sizes along the axes with its physical unit, and that unit; None
    without one."""
    from .._units import common_unit

    unit = common_unit(img.units) if img.units is not None else None
    if unit is None:
        return None
    return tuple(float(s) for s, u in zip(img.scale, img.units, strict=True) if u == unit), unit


def pixel_size_clash(first: Any, second: Any) -> tuple[str, str] | None:
    """The declared pixel sizes of two files (``ImageData``, channel axis left out) as
    text ("2 x 2 µm") where both declare one and they disagree, else None."""
    from .._units import same_size

    a, b = _declared(first), _declared(second)
    if a is None or b is None or len(a[0]) != len(b[0]) or same_size(*a, *b):
        return None
    return tuple(f"{' x '.join(f'{s:g}' for s in sizes)} {unit}" for sizes, unit in (a, b))
