"""The generator protocol's two helpers: run a progress generator to its result, and
pass one on with its records changed.

Long work in ``core/`` is a generator that yields progress records and returns its
result (docs/architecture.md, "Long work is a generator"). Headless callers (the API,
the CLI, ``core`` functions offering a plain form) finish one with :func:`drain`; a
generator built on another one that reports in other terms uses :func:`relay`.
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


def relay(gen: Generator[Any, Any, R], wrap: Callable[[Any], Any]) -> Generator[Any, None, R]:
    """``yield from gen`` with each record replaced by ``wrap(record)``; returns its result.

    Closing the relay closes ``gen`` (its ``finally`` blocks run at once).
    """
    try:
        while True:
            try:
                record = next(gen)
            except StopIteration as stop:
                return stop.value
            yield wrap(record)
    finally:
        gen.close()
