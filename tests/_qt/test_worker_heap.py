"""No full garbage collection starts by itself while jobs run; the thresholds come back
after the last one."""

from __future__ import annotations

import gc

import pytest

from napari_unetseg._qt import _worker


@pytest.fixture(autouse=True)
def no_collection_waiting():
    """Start from the collector's own thresholds: an earlier test's job may have left
    its held-back collection waiting for a quiet moment."""
    waiting = _worker._QuietCollection._instance
    if waiting is not None:
        waiting.timer.stop()
    _worker._collect_and_restore()
    yield


def test_full_collections_held_while_jobs_run_and_released_after_the_last(monkeypatch):
    # without a Qt application to wait in, the postponed collection runs at once
    monkeypatch.setattr(_worker._QuietCollection, "start", classmethod(lambda cls: False))
    before = gc.get_threshold()
    _worker._hold_full_collections()
    _worker._hold_full_collections()  # a second job
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS
    assert gc.get_threshold()[:2] == before[:2]  # the young generations as before
    _worker._release_full_collections()
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS  # one job still runs
    _worker._release_full_collections()
    assert gc.get_threshold() == before and _worker._HELD["jobs"] == 0


def test_the_held_collection_waits_for_a_quiet_moment(qtbot, monkeypatch):
    # With a Qt application the postponed full collection runs once mouse and keyboard
    # have been left alone for QUIET_S seconds; input meanwhile pushes it back, and a
    # job that starts meanwhile keeps it held.
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication, QWidget

    monkeypatch.setattr(_worker, "QUIET_S", 0.3)
    collected = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(a) or 0)
    before = gc.get_threshold()
    widget = QWidget()
    qtbot.addWidget(widget)

    _worker._hold_full_collections()
    _worker._release_full_collections()
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS  # not yet
    for _ in range(4):  # the user keeps moving the mouse
        qtbot.wait(150)
        move = QMouseEvent(
            QEvent.Type.MouseMove, QPointF(5, 5), QPointF(5, 5), Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, move)
    assert not collected
    _worker._hold_full_collections()  # a new job meanwhile
    qtbot.wait(600)
    assert not collected and gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS
    _worker._release_full_collections()
    qtbot.waitUntil(lambda: gc.get_threshold() == before, timeout=3000)
    assert len(collected) == 1 and _worker._HELD["thresholds"] is None


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
