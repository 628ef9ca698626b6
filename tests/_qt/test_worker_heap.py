"""No full garbage collection starts by itself while jobs run, and the young ones run on
the GUI thread; the collector's own settings come back after the last job."""

from __future__ import annotations

import gc

from napari_unetseg._qt import _worker


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

    # 1 s: moves every 150 ms keep it held even when a loaded machine delays a wait
    monkeypatch.setattr(_worker, "QUIET_S", 1.0)
    collected = []
    # full collections only (young ones run on the GUI thread's timer while jobs run)
    monkeypatch.setattr(
        gc, "collect", lambda *a: (not a or a[0] == 2) and collected.append(a) or 0
    )
    before = gc.get_threshold()
    widget = QWidget()
    qtbot.addWidget(widget)

    _worker._hold_full_collections()
    _worker._release_full_collections()
    assert gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS  # not yet
    for _ in range(4):  # the user keeps moving the mouse
        qtbot.wait(150)
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(5, 5),
            QPointF(5, 5),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, move)
    assert not collected
    _worker._hold_full_collections()  # a new job meanwhile
    qtbot.wait(1500)
    assert not collected and gc.get_threshold()[2] == _worker.NO_FULL_COLLECTIONS
    _worker._release_full_collections()
    qtbot.waitUntil(lambda: gc.get_threshold() == before, timeout=3000)
    assert len(collected) == 1 and _worker._HELD["thresholds"] is None


def test_while_jobs_run_cyclic_garbage_is_freed_on_the_gui_thread(qtbot):
    # A job thread that makes cyclic garbage (which may hold Qt objects) must not free
    # it itself: the GUI thread's timer does, and the collector is back after.
    import threading

    from qtpy.QtWidgets import QWidget

    freed_on = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            freed_on.append(threading.current_thread())

    widget = QWidget()
    qtbot.addWidget(widget)
    assert gc.isenabled()
    _worker._hold_full_collections()
    assert not gc.isenabled()

    def job():  # cyclic garbage, far past generation 0's threshold of new objects
        for _ in range(5 * gc.get_threshold()[0]):
            Cycle()

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert freed_on == []  # the job thread did not collect
    qtbot.waitUntil(lambda: bool(freed_on), timeout=3000)
    assert set(freed_on) == {threading.main_thread()}
    _worker._release_full_collections()
    assert gc.isenabled()


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


def test_a_job_starts_while_others_fill_the_thread_pool(qtbot, make_napari_viewer):
    """Qt's shared pool holds as many threads as cores: on 2 cores a third job waited,
    its bar still and Cancel powerless, until another ended (lifecycle bug bash)."""
    import threading

    from qtpy.QtCore import QThreadPool

    make_napari_viewer()  # napari's activity dock, for the progress bars
    pool = QThreadPool.globalInstance()
    before = pool.maxThreadCount()
    release = threading.Event()

    def waiting():
        while not release.wait(0.01):
            yield None

    def quick():
        yield None
        return "ran"

    runners = [_worker.JobRunner() for _ in range(3)]
    try:
        pool.setMaxThreadCount(2)
        for runner in runners[:2]:
            runner.start(waiting)
        got = []
        with qtbot.waitSignal(runners[2].finished, timeout=5000):
            runners[2].start(quick, on_result=got.append)
        assert got == ["ran"]
    finally:
        release.set()
        for runner in runners[:2]:
            if runner.busy:
                with qtbot.waitSignal(runner.finished, timeout=5000):
                    pass
        pool.setMaxThreadCount(before)


def test_records_delivered_while_the_bar_updates_do_not_nest():
    """napari's bar processes pending events while it updates, which delivers the next
    records inside the update: each moved the bar from within, nesting until Python's
    recursion limit under load (CI, two processes). They leave their counts instead."""
    queue = [(i, 5000) for i in range(2, 5001)]
    state: dict = {"busy": False, "pending": None}

    class Bar:  # the events a real bar processes: the next record, delivered at once
        total, n, depth, deepest = None, 0, 0, 0

        def update(self, k: int) -> None:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
            self.n += k
            if queue:
                _worker._advance(self, queue.pop(0), state)
            self.depth -= 1

    bar = Bar()
    _worker._advance(bar, (1, 5000), state)
    assert bar.deepest == 1 and bar.n == 5000 and bar.total == 5000 and not queue
