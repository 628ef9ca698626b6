"""Run a progress generator in a napari worker thread, wired to Run / Cancel buttons.

Every long computation of the plugin is a generator (it yields progress records and
returns a result, see docs/architecture.md). :class:`JobRunner` runs one such job at a time through
napari's ``create_worker``, which puts a progress bar in napari's activity dock:

- while the job runs, the Run button is disabled and the Cancel button enabled;
- each yielded record updates the progress bar (``done``/``total``, ``step``/``total``
  or a custom ``progress`` function) and is passed to ``on_progress``;
- Cancel calls ``worker.quit()``: the worker stops asking the generator for more at the
  next yield (for prediction: the next batch of tiles), the generator is closed (its
  ``finally`` blocks run), ``on_cancel`` is called and ``on_result`` is NOT, so no
  half-made output reaches a layer;
- an exception inside the job becomes one napari error notification (one sentence, see
  :func:`~napari_unetseg._qt._common.user_message`) and ``on_error``; warnings raised
  in the job (e.g. an out-of-memory fallback to the CPU) become warning notifications.

All callbacks run in the GUI thread, so they may touch layers and widgets.

Example
-------
>>> runner = JobRunner(run_button, cancel_button)          # doctest: +SKIP
>>> runner.start(my_generator_function, arg, description="Training",
...              on_progress=plot_loss, on_result=add_layers)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import QApplication, QPushButton, QWidget

from ._common import at_next_turn, is_deleted, notify_error, qt_deleted


@dataclass
class JobFailed:
    """What a job returns instead of raising (so napari shows no traceback dialog)."""

    error: Exception


def default_progress(record: Any) -> tuple[int, int] | None:
    """``(done, total)`` from a progress record (``done``/``step`` and ``total``)."""
    total = getattr(record, "total", None)
    done = getattr(record, "done", getattr(record, "step", None))
    if isinstance(total, int) and isinstance(done, int):
        return done, total
    return None


class JobRunner(QObject):
    """Runs one generator job at a time in a worker thread (see the module docstring).

    Parameters
    ----------
    run_button, cancel_button : QPushButton, optional
        Disabled / enabled while a job runs; Cancel is connected to :meth:`cancel`.
    parent : QObject, optional
    stop_button : QPushButton, optional
        Without ``cancel_button``: the caller's own button that ends a job its way
        (Fine-tune's Stop, which keeps the model): enabled while a job runs and given
        the keyboard focus as Cancel is.

    Signals
    -------
    started()
        A job started.
    finished()
        A job ended (result, error or cancel), after the callbacks ran and the layers
        they add at the next turn of the event loop were added.
    """

    started = Signal()
    finished = Signal()

    def __init__(
        self,
        run_button: QPushButton | None = None,
        cancel_button: QPushButton | None = None,
        parent: QObject | None = None,
        stop_button: QPushButton | None = None,
    ) -> None:
        super().__init__(parent)
        self._run_button = run_button
        self._cancel_button = cancel_button
        self._stop_button = cancel_button or stop_button  # on while a job runs
        self._refocus = False  # Cancel had the focus when pressed: Run gets it back
        # Closing napari deletes the widgets while a job may still run: the first of its
        # callbacks that meets a deleted widget asks the job to stop and skips the rest
        # (``_guarded_slot``). No Python hook on ``destroyed``: PyQt ran such hooks while
        # the garbage collector freed a closed dock's widget, and the process crashed
        # (SIGSEGV) at the next collection.
        self._alive: dict[str, Any] = {"yes": True, "worker": None}
        if cancel_button is not None:
            cancel_button.setEnabled(False)
            cancel_button.clicked.connect(self.cancel)
        #: What a job does when the widget is taken out of the window while it runs (the
        #: dock's close button: napari un-parents the widget and keeps it, so nothing is
        #: deleted and the job would run on unseen): stop it, as Cancel does, by default.
        self.on_closed: Callable[[], None] = self.cancel
        if isinstance(parent, QWidget):
            parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (
            event.type() == QEvent.Type.ParentChange
            and self.busy
            and isinstance(watched, QWidget)
            and watched.parent() is None
        ):
            self.on_closed()
        return False

    @property
    def worker(self) -> Any:
        """The running job's worker (None when idle)."""
        return self._alive["worker"]

    @worker.setter
    def worker(self, worker: Any) -> None:
        self._alive["worker"] = worker

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self.worker is not None

    def start(
        self,
        function: Callable[..., Generator[Any, Any, Any]],
        *args: Any,
        description: str = "Working",
        on_progress: Callable[[Any], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        error_context: str = "",
        progress: Callable[[Any], tuple[int, int] | None] = default_progress,
        **kwargs: Any,
    ) -> Any:
        """Run ``function(*args, **kwargs)`` (a generator function) in a worker thread.

        Parameters
        ----------
        function : generator function
            The job; it runs entirely in the worker thread.
        description : str
            Label of the activity-dock progress bar.
        on_progress, on_result, on_error, on_cancel : callable, optional
            GUI-thread callbacks for each yielded record, the returned value, an
            exception (after its notification) and a cancel.
        error_context : str
            Prefix of the error notification, e.g. ``"Segmentation failed"``.
        progress : callable
            Maps a record to ``(done, total)`` for the progress bar (or None).

        Returns the started ``GeneratorWorker`` (also :attr:`worker` until it ends);
        raises ``RuntimeError`` if a job is already running.
        """
        from napari.qt.threading import create_worker

        if self.busy:
            raise RuntimeError("A job is already running; wait for it or cancel it.")

        def guarded() -> Generator[Any, Any, Any]:
            try:
                return (yield from function(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - reported as a notification
                return JobFailed(exc)

        job = guarded()

        def run() -> Generator[Any, Any, Any]:
            return (yield from job)

        worker = create_worker(
            run,
            _start_thread=False,
            _progress={"desc": description},
            _connect={"errored": lambda exc: None},  # guarded() never raises; no re-raise
        )
        pbar = worker.pbar
        bar: dict[str, Any] = {"busy": False, "pending": None}  # see _advance

        alive = self._alive

        def guarded_slot(slot: Callable[..., None]) -> Callable[..., None]:
            return _guarded_slot(slot, alive, worker, self)

        @guarded_slot
        def on_yielded(record: Any) -> None:
            # The record first, the bar after: napari's progress bar may process pending
            # events while it updates, which can deliver the job's result in the middle of
            # this call (the result must not overtake a record already being handled).
            if on_progress is not None:
                on_progress(record)
            _advance(pbar, progress(record), bar)

        @guarded_slot
        def on_returned(value: Any) -> None:
            if isinstance(value, JobFailed):
                notify_error(value.error, error_context)
                if on_error is not None:
                    on_error(value.error)
            elif on_result is not None:
                try:
                    on_result(value)
                except Exception as exc:  # noqa: BLE001 - showing it failed: say so, once
                    if isinstance(exc, RuntimeError) and qt_deleted(exc):
                        raise
                    notify_error(exc, error_context)
                    if on_error is not None:
                        on_error(exc)

        def on_finished() -> None:
            job.close()  # runs the job's finally blocks now, not whenever it is collected
            guarded_slot(finish)()
            # ``finished`` comes one turn of the event loop later, after the layers that
            # ``on_result`` handed to the next turn (see ``output_layer``) have been added.
            at_next_turn(after_results)

        def finish() -> None:
            self.worker = None
            self._set_busy(False)
            if worker.abort_requested and on_cancel is not None:
                on_cancel()

        def after_results() -> None:
            _release_full_collections()
            _disconnect(worker, on_yielded, on_returned, on_finished)  # (see _disconnect)
            guarded_slot(lambda: self.finished.emit())()  # the runner may be gone by now

        worker.yielded.connect(on_yielded)
        worker.returned.connect(on_returned)
        worker.finished.connect(on_finished)
        self.worker = worker
        self._set_busy(True)
        _hold_full_collections()
        _make_room()
        worker.start()
        self.started.emit()
        return worker

    def cancel(self) -> None:
        """Ask the running job to stop at its next yield (no result is delivered)."""
        if self.worker is not None:
            self.worker.quit()
            if self._cancel_button is not None:
                self._refocus = self._cancel_button.hasFocus()
                self._cancel_button.setEnabled(False)

    def stopping(self, button: QPushButton) -> None:
        """The caller's Stop ``button`` was pressed (and is turned off): when it had the
        keyboard focus, Run gets it back at the end, as after Cancel (it stayed on the
        next button in the chain, "Copy as command"; review bash)."""
        self._refocus = button.hasFocus()

    def _set_busy(self, busy: bool) -> None:
        """Run off and Cancel on while a job runs, and back; the keyboard focus goes
        from the one turned off to the other: disabled first, Run gave it to the next
        button in the chain ("Apply to folder..."), which a second Space then pressed
        (accessibility bug bash)."""
        run, cancel = self._run_button, self._stop_button
        if run is None or cancel is None:
            for button, on in ((run, not busy), (cancel, busy)):
                if button is not None:
                    button.setEnabled(on)
            return
        off, on = (run, cancel) if busy else (cancel, run)
        focused, self._refocus = off.hasFocus() or (not busy and self._refocus), False
        on.setEnabled(True)  # before the other is disabled: the focus can go to it
        if focused:
            on.setFocus(Qt.FocusReason.OtherFocusReason)
        off.setEnabled(False)


def _disconnect(worker: Any, *slots: Callable[..., None]) -> None:
    """Take ``slots`` off the ended ``worker``'s signals (each connected once): napari
    keeps every worker in its task list for the session, and the signals kept these
    callbacks, which hold a run's layers and data (each run's images stayed in memory
    after their layers were deleted; leaks bug bash)."""
    for signal, slot in zip((worker.yielded, worker.returned, worker.finished), slots):
        try:
            signal.disconnect(slot)
        except (TypeError, RuntimeError):  # gone with the worker, or never connected
            pass


def _make_room() -> None:
    """A thread of Qt's shared pool for the job now: the pool holds as many threads as
    cores, so on 2 cores a third job (Validate while Segment and Fine-tune run) waited,
    its bar still, and Cancel could not end it until another job did (lifecycle bug
    bash)."""
    from qtpy.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount() >= pool.maxThreadCount():
        pool.setMaxThreadCount(pool.activeThreadCount() + 1)


def _orphan(alive: dict[str, Any], worker: Any) -> None:
    """The runner's widgets are gone: stop the job at its next yield, skip its callbacks."""
    alive["yes"] = False
    if worker is not None:
        worker.quit()


def _guarded_slot(
    slot: Callable[..., None], alive: dict[str, Any], worker: Any, owner: QObject
) -> Callable[..., None]:
    """``slot``, skipped once the widgets are gone: the runner ``owner`` deleted by Qt
    (closing napari), or a widget the slot uses (deleted C++ objects raise a RuntimeError
    in PyQt and PySide alike; napari may delete a dock's children before the runner
    itself). Either asks the job to stop."""

    def call(*args: Any) -> None:
        if alive["yes"] and is_deleted(owner):
            _orphan(alive, worker)
        if not alive["yes"]:
            return
        try:
            slot(*args)
        except RuntimeError as exc:
            if not qt_deleted(exc):
                raise
            _orphan(alive, worker)

    return call


def _advance(pbar: Any, counts: tuple[int, int] | None, bar: dict[str, Any]) -> None:
    """Move the activity-dock bar to ``counts`` = (done, total), if given.

    napari's bar may process pending events while it updates, which delivers the next
    records inside this call: each moved the bar again from within, and with records
    queued faster than a loaded GUI thread drew them the calls nested until Python's
    recursion limit (a RecursionError in CI, the suite in two processes). A record that
    arrives meanwhile only leaves its counts (``bar["pending"]``), drawn when the update
    returns."""
    if counts is None or counts[1] <= 0:
        return
    if bar["busy"]:
        bar["pending"] = counts
        return
    bar["busy"] = True
    try:
        while counts is not None:
            done, total = counts
            if pbar.total != total:
                pbar.total = total
            pbar.update(done - pbar.n)
            counts, bar["pending"] = bar["pending"], None
    finally:
        bar["busy"] = False


#: Jobs running now, and the collector's thresholds from before the first of them.
_HELD: dict[str, Any] = {"jobs": 0, "thresholds": None}
#: Generation 2's threshold while jobs run: no full collection starts by itself.
NO_FULL_COLLECTIONS = 1 << 30


def _hold_full_collections() -> None:
    """No full garbage collection starts by itself while a job runs.

    A job allocates, so Python's cyclic collector runs now and then, in whichever thread
    allocates. A full (generation 2) collection walks napari's whole object graph with
    the GIL held: 100-280 ms of a frozen viewer on this machine (docs/benchmarks.md). The
    young generations, where a job's own garbage lives, are still collected as usual;
    reference counting frees everything else meanwhile. (``gc.freeze`` did the same but,
    undone at the end, made the next allocation start a full collection at once: the
    collector then compared the whole heap with the few objects it had last counted.)
    """
    if _HELD["thresholds"] is None:  # else still held: the last job's collection waits
        _HELD["thresholds"] = gc.get_threshold()
        first, second, _ = _HELD["thresholds"]
        gc.set_threshold(first, second, NO_FULL_COLLECTIONS)
    if _HELD["jobs"] == 0:
        _GuiThreadCollections.start()
    _HELD["jobs"] += 1


def _release_full_collections() -> None:
    """The last running job ended: the postponed full collection runs once the user
    leaves mouse and keyboard alone (:class:`_QuietCollection`), then the collector's
    own thresholds come back."""
    _HELD["jobs"] = max(0, _HELD["jobs"] - 1)
    if _HELD["jobs"] > 0:
        return
    _GuiThreadCollections.stop()
    if _HELD["thresholds"] is not None and not _QuietCollection.start():
        _collect_and_restore()


def _collect_and_restore() -> None:
    if _HELD["jobs"] == 0 and _HELD["thresholds"] is not None:
        gc.collect()
        gc.set_threshold(*_HELD["thresholds"])
        _HELD["thresholds"] = None


#: While jobs run, the GUI thread looks this often (ms) whether a young collection is due.
YOUNG_EVERY_MS = 100


class _GuiThreadCollections(QObject):
    """While jobs run, every cyclic garbage collection runs on the GUI thread.

    Python's collector runs in whichever thread allocates past its threshold, and a job
    thread allocates most. Cyclic garbage can hold Qt or vispy objects (a dock closed, a
    layer removed meanwhile); freed on a job thread, they crash Qt or corrupt vispy's
    command queue (napari#1029). So while jobs run the automatic collector is off
    (``gc.disable``) and a timer on the GUI thread collects the young generations when
    their thresholds say so, as the collector would; the full one stays held (above).
    Without a Qt application nothing changes. A collector that was already off stays off.
    """

    _instance: _GuiThreadCollections | None = None

    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setInterval(YOUNG_EVERY_MS)
        self.timer.timeout.connect(self._collect)

    @classmethod
    def start(cls) -> None:
        if QApplication.instance() is None or not gc.isenabled():
            return
        if cls._instance is None:
            cls._instance = cls()
        gc.disable()
        cls._instance.timer.start()

    @classmethod
    def stop(cls) -> None:
        if cls._instance is not None and cls._instance.timer.isActive():
            cls._instance.timer.stop()
            gc.enable()

    def _collect(self) -> None:
        first, second, _ = gc.get_threshold()
        young, older, _ = gc.get_count()
        if older >= second:
            gc.collect(1)
        elif young >= first:
            gc.collect(0)


#: Seconds without mouse, wheel or keyboard input before the postponed collection runs.
QUIET_S = 1.5


class _QuietCollection(QObject):
    """Runs the full collection that jobs held back at a quiet moment.

    Jobs leave the collector owing one: generation 2 counted every young collection of
    the job, so restoring the threshold at once made the next allocation walk napari's
    whole heap (250-350 ms of a frozen viewer) just as the result layer appeared. It runs
    instead once nobody has touched mouse, wheel or keyboard for :data:`QUIET_S` seconds
    (an application event filter, installed only while waiting), like a browser's
    idle-time collection; a job that starts meanwhile holds it back again.
    """

    INPUT = (
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.KeyPress,
        QEvent.Type.KeyRelease,
    )
    _instance: _QuietCollection | None = None

    def __init__(self) -> None:
        super().__init__()
        self.last_input = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._check)

    @classmethod
    def start(cls) -> bool:
        """Wait for a quiet moment (False without a Qt application: collect now)."""
        app = QApplication.instance()
        if app is None:
            return False
        if cls._instance is None:
            cls._instance = cls()
        self = cls._instance
        self.last_input = time.monotonic()
        app.installEventFilter(self)
        self.timer.start(int(QUIET_S * 1000))
        return True

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
        if event.type() in self.INPUT:
            self.last_input = time.monotonic()
        return False

    def _check(self) -> None:
        wait = QUIET_S - (time.monotonic() - self.last_input)
        if wait > 0 and _HELD["jobs"] == 0:
            self.timer.start(int(wait * 1000) + 1)
            return
        self.now()

    @classmethod
    def now(cls) -> None:
        """Stop waiting and run the held collection at once (nothing while a job runs:
        its end starts the wait again)."""
        self = cls._instance
        if self is not None:
            self.timer.stop()
            app = QApplication.instance()
            if app is not None:
                app.removeEventFilter(self)
        _collect_and_restore()
