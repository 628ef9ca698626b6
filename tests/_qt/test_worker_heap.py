"""No full garbage collection starts by itself while jobs run; the thresholds come back
after the last one."""

from __future__ import annotations

import gc

from napari_unetseg._qt import _worker


def test_full_collections_held_while_jobs_run_and_released_after_the_last():
    before = gc.get_threshold()
    _worker._hold_full_collections()
    _worker._hold_full_collections()  # a second job
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS
    assert gc.get_threshold()[:2] == before[:2]  # the young generations as before
    _worker._release_full_collections()
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS  # one job still runs
    _worker._release_full_collections()
    assert gc.get_threshold() == before and _worker._HELD["jobs"] == 0


def test_a_dock_imports_the_job_modules_in_a_background_thread(monkeypatch):
    import sys
    import threading

    from vispy.visuals.line.dash_atlas import _make_pattern

    from napari_unetseg._qt import _builders

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.setattr(_builders, "JOB_MODULES", ("no_such_module_here", "colorsys"))
    _make_pattern.cache_clear()
    _builders.warm_up()
    for thread in threading.enumerate():
        if thread.name == "unetseg-warm-up":
            thread.join(30)
    # a module that fails to import is left to the job (which reports it), the rest load
    assert "colorsys" in sys.modules
    # and the first Labels layer finds vispy's dash patterns computed
    assert _make_pattern.cache_info().currsize > 0
