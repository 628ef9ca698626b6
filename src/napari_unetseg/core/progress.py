"""The generator protocol's one helper: run a progress generator to its result.

Long work in ``core/`` is a generator that yields progress records and returns its
result (docs/architecture.md, "Long work is a generator"). Headless callers (the API,
the CLI, ``core`` functions offering a plain form) finish one with :func:`drain`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

R = TypeVar("R")


def drain(gen: Generator[Any, Any, R], callback: Callable[[Any], Any] | None = None) -> R:
    """Run a progress generator to the end and return its result.

    ``callback``, when given, is called with every progress record.
    """
    while True:
        try:
            record = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(record)
