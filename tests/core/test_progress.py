"""core/progress.py: the one drain of the generator protocol."""

from __future__ import annotations

from napari_unetseg import api
from napari_unetseg.core.progress import drain


def _job(n: int):
    yield from range(n)
    return "done"


def test_drain_returns_the_result_and_feeds_every_record() -> None:
    records: list[int] = []
    assert drain(_job(3), records.append) == "done"
    assert records == [0, 1, 2]
    assert drain(_job(0)) == "done"
    assert api.drain is drain  # the API re-exports the same function
