"""The heap is frozen for the collector while jobs run, and thawed after the last one."""

from __future__ import annotations

import gc

from napari_unetseg._qt import _worker


def test_heap_frozen_while_jobs_run_and_thawed_after_the_last():
    gc.unfreeze()
    _worker._freeze_heap()
    _worker._freeze_heap()  # a second job
    assert gc.get_freeze_count() > 0
    _worker._thaw_heap()
    assert gc.get_freeze_count() > 0  # one job still runs
    _worker._thaw_heap()
    assert gc.get_freeze_count() == 0 and _worker._FROZEN["jobs"] == 0
