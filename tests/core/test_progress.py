"""core/progress.py: the one drain of the generator protocol."""

from __future__ import annotations

from napari_unetseg import api
from napari_unetseg.core.progress import drain, relay


def _job(n: int):
    yield from range(n)
    return "done"


def test_drain_returns_the_result_and_feeds_every_record() -> None:
    records: list[int] = []
    assert drain(_job(3), records.append) == "done"
    assert records == [0, 1, 2]
    assert drain(_job(0)) == "done"
    assert api.drain is drain  # the API re-exports the same function


def test_relay_maps_records_returns_the_result_and_closes_the_source() -> None:
    closed = []

    def source():
        try:
            yield 1
            yield 2
            return "result"
        finally:
            closed.append(True)

    records: list[int] = []
    assert drain(relay(source(), lambda r: 10 * r), records.append) == "result"
    assert records == [10, 20] and closed == [True]
    stopped = relay(source(), lambda r: r)
    next(stopped)
    stopped.close()  # a cancelled job: the source's finally runs now
    assert closed == [True, True]
