"""The ``unetseg`` command line: batch prediction, training, evaluation, models and info.

Every sub-command is one ``_cmd_<name>`` function plus its ``_add_<name>`` parser, in
the module named after it (``models`` also holds ``export``, ``sample`` and ``info``);
bad input ends with one line on stderr (``unetseg: error: ...``) and exit status 1,
and output files are written atomically so an existing file is never half-overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .. import __version__
from ._base import CLIError, ProgressBar, Terminated, say
from .evaluate import _add_evaluate
from .models import _add_export, _add_info, _add_models, _add_sample
from .predict import _add_predict
from .train import _add_train

__all__ = ["CLIError", "ProgressBar", "build_parser", "main"]


COMMANDS: list[Callable[[Any], None]] = [
    _add_predict,
    _add_models,
    _add_sample,
    _add_train,
    _add_evaluate,
    _add_info,
    _add_export,
]
#: Errors that reach the user as one ``unetseg: error:`` line (a refusal, a missing
#: file, no memory, a training that diverged), not a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, OSError, MemoryError, KeyError, FloatingPointError)


class _Parser(argparse.ArgumentParser):
    """argparse that reads a negative number written with an exponent as a value:
    ``--intensity-range -1e3 3e3`` was refused with "expected 2 arguments" (Python 3.11
    takes "-1e3" for an option; 3.13 reads it as a number, as this does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$", re.I)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unetseg", description="U-Net segmentation of 2D/3D images (napari-unetseg)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _show_warning(message: Any, *_: Any, **__: Any) -> None:
    """Python warnings (NaN pixels, a fallback to the CPU) as one line each on stderr."""
    say(f"warning: {str(message).strip().splitlines()[0]}")


def _stdout_closed() -> int:
    """The reader of stdout went away (``unetseg models | head``): end quietly, as ``ls``
    does, with the status of a process ended by SIGPIPE (128 + 13).

    stdout is pointed at the null device so that Python's final flush of what is still
    buffered does not fail a second time at interpreter exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (stdout replaced, e.g. in tests)
        pass
    return 141


def _parsed(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an option the command does not have is refused with the command's
    own usage and the nearest option it has (the top level's usage said "unetseg [-h]
    [--version] {predict,...}" of `unetseg predict ... --threads 2`; CLI bug bash)."""
    import difflib

    args, extra = parser.parse_known_args(argv)
    if extra:
        command = _commands(parser).choices[args.command]
        options = [o for a in command._actions for o in a.option_strings]
        near = [difflib.get_close_matches(e.split("=")[0], options, n=1) for e in extra]
        hint = "; ".join(f"did you mean {m[0]}?" for m in near if m and m[0].startswith("--"))
        command.error(
            f"unrecognized arguments: {' '.join(extra)}" + (f" ({hint})" if hint else "")
        )
    return args


def _commands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _home_expanded(args: argparse.Namespace) -> argparse.Namespace:
    """Every argument that starts with "~" with the home folder put in, as the shell does
    for a bare word: ``--output=~/x.pt`` and a quoted "~/x" reached us as they were, and
    some commands then wrote into a folder named "~" while saying "wrote ~/x.pt"."""
    for key, value in vars(args).items():
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, key, os.path.expanduser(value))
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            setattr(args, key, [os.path.expanduser(v) if isinstance(v, str) else v for v in value])
    return args


#: Options that name files to write: "-" there made a folder named "-" (many tools
#: read it as standard output).
_WRITTEN = ("output", "csv", "probabilities")


def _check_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an empty value (an unset shell variable: ``-o "$OUT"`` wrote into the
    current folder, ``predict "$IMG"`` segmented every image there) and "-" for an
    output, in one sentence naming the option."""
    for action in _commands(parser).choices[args.command]._actions:
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        name = (
            max(action.option_strings, key=len)
            if action.option_strings
            else str(action.metavar or action.dest).upper()
        )
        if any(v == "" for v in values):
            raise CLIError(f"{name} is empty (an unset shell variable?); give it a value.")
        if action.dest in _WRITTEN and "-" in values:
            raise CLIError(
                f"{name} '-' (standard output) is not written to; name a file or folder."
            )
        windows = next((v for v in values if _windows_path(v, action.dest in _WRITTEN)), None)
        if windows is not None:  # "does not exist", or a file named "C:\out\labels.tif"
            raise CLIError(
                f"{name} '{windows}' is a Windows path; here folders are separated by '/' "
                "(a Windows drive is /mnt/c/... under WSL)."
            )


def _windows_path(value: Any, written: bool) -> bool:
    """Whether ``value`` is a Windows path on a system that has none: a drive letter
    ("C:\\data"), or for an output any backslash (a file of that name was made; locale
    bug bash). Never on Windows."""
    if os.sep == "\\" or not isinstance(value, str) or os.path.exists(value):
        return False
    drive = len(value) > 2 and value[0].isalpha() and value[1] == ":" and value[2] in "\\/"
    if drive and os.path.isdir(value[:2]):  # a folder named "d:" here (review bash)
        return False
    return drive or (written and "\\" in value)


@contextlib.contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while a command runs (where
    no one else handles it), and exits 143 as a terminated process does."""

    def on_term(signum: int, frame: Any) -> None:
        raise Terminated

    previous = None
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            previous = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread: not ours to take
            previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    import logging
    import warnings

    # tifffile logs what it finds wrong in a file as it reads it; the one sentence we say
    # about an unreadable file is the user's message (a stray log line came before it)
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _home_expanded(_parsed(parser, argv))
    try:
        with warnings.catch_warnings(), _terminated_as_interrupted():
            warnings.simplefilter("default")
            # files the libraries leave to the garbage collector (bioimageio.spec's open
            # package) are not the user's concern
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.showwarning = _show_warning
            _check_values(parser, args)
            rc = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return rc
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt as exc:
        ended = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"unetseg: {ended}; {_left_unfinished(args)}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except CLIError as exc:
        print(f"unetseg: error: {_command_words(exc, argv)}", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        from ..core.files import os_error_sentence

        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        msg = os_error_sentence(exc) or msg  # "[Errno 30] Read-only file system: ..."
        said = _command_words(msg, argv)
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            # a run that failed midway (a scheduler lost, a disk full): what it left, and
            # how to finish it (dask's "Timed out trying to connect" said neither)
            left = _left_unfinished(args)
            said += f" ({left})" if "unfinished" in left else ""
        print(f"unetseg: error: {said}", file=sys.stderr)
        return 1


def _left_unfinished(args: argparse.Namespace) -> str:
    """What an interrupted command left: the OME-Zarr labels it left unfinished (the
    blocks written so far stay, marked unfinished) and how to finish them, or that it
    left nothing half-written. Read from the stores themselves: a run stopped before its
    store was made was said to leave it unfinished, and ``--resume`` beside the
    ``--overwrite`` it ran with is refused (distributed bug bash)."""
    from pathlib import Path

    from .._zarr_labels import LabelsStore

    output = str(getattr(args, "output", None) or "").rstrip("/\\")
    inputs = [str(i).rstrip("/\\") for i in getattr(args, "inputs", None) or ()]
    if args.command != "predict" or not output:
        return "no output was left half-written."
    store = Path(output)
    # labels under the input store's labels/ group (the image is intact), or a store
    candidates = (
        [*store.glob("labels/*"), *store.glob("*/labels/*")] if output in inputs else [store]
    )
    unfinished = []
    for path in candidates:
        try:
            if not LabelsStore(path).info.get("complete", True):
                unfinished.append(str(path))
        except (OSError, ValueError):  # not ours, or nothing there
            continue
    if not unfinished:
        return "no output was left half-written."
    how = "with --resume instead of --overwrite" if args.overwrite else "with --resume"
    named = " and ".join(repr(path) for path in unfinished)
    return f"{named} is unfinished; the same command {how} finishes it."


def _command_words(message: object, argv: Sequence[str] = ()) -> str:
    """A refusal with the API's spelling of an option the commands have in theirs (RGB
    bug bash: train and export said "choose one with channel=N"; ``--level -1`` said
    "level must be ...", ``--tile-size 0`` "tile_size must be ...": the option given in
    ``argv`` is named as typed)."""
    text = str(message).replace(", or channel=N in Python", "")  # "--channel N in Python"
    text = text.replace("channel=N", "--channel N")
    name = text.split(" ", 1)[0]
    option = "--" + name.replace("_", "-")
    # only a refusal of the value typed: "object_size diameter must be positive, got -3"
    # of a model file's record was put on an --object-size 20 the user typed (review)
    typed = _typed_values(argv, option) if name.isidentifier() else []
    if any(_said(value, text) for value in typed):
        text = option + text[len(name) :]
    return text


def _said(value: str, text: str) -> bool:
    """Whether ``text`` names ``value``: the same number ("got 0.0" of 0; "-3.0" is not
    3), or the same word, quoted or not (a digit inside another number was taken for the
    value typed; review)."""
    try:
        number = float(value)
    except ValueError:
        number = None
    for token in re.findall(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[\w.-]+", text):
        if token == value:
            return True
        try:
            if number is not None and float(token) == number:
                return True
        except ValueError:
            continue
    return False


def _typed_values(argv: Sequence[str], option: str) -> list[str]:
    """The values given to ``option`` in ``argv`` (``--x=v`` or ``--x v [w]``)."""
    values = []
    for i, arg in enumerate(argv):
        if arg.startswith(option + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == option:
            values += [a for a in argv[i + 1 : i + 3] if not a.startswith("--")][:2]
    return [v for v in values if v]
