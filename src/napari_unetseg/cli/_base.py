"""What every ``unetseg`` sub-command shares: the one-line error, progress bars, notes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class CLIError(Exception):
    """An error to report to the user as one line, without a traceback."""


def forwarded(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options ``names`` as keyword arguments of the same names, for the options a
    command passes on to the API unchanged."""
    return {name: getattr(args, name) for name in names}


def check_inputs(paths: Iterable[str]) -> None:
    """Fail before any work when an input file is missing (one line naming it)."""
    for src in paths:
        if not Path(src).is_file():
            raise CLIError(f"Input file {src!r} does not exist.")


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
                leave=False,
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
            self.bar = None


def say(message: str) -> None:
    """A one-line note on stderr (progress bars stay intact)."""
    from tqdm import tqdm

    tqdm.write(f"unetseg: {message}", file=sys.stderr)
