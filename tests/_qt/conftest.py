"""No Qt test leaves a held-back garbage collection to run inside the next one."""

from __future__ import annotations

import pytest

from napari_unetseg._qt import _worker


@pytest.fixture(autouse=True)
def no_collection_left_waiting():
    """A job's end leaves a full collection waiting for a quiet moment
    (``_worker._QuietCollection``); it runs here, on the GUI thread, after napari closed
    the test's viewers, not in the middle of the next test. The next test then also
    starts from the collector's own thresholds."""
    yield
    _worker._QuietCollection.now()


@pytest.fixture
def quick_new_model():
    """Set a Fine-tune widget to train a tiny new model for a few steps (a test's run)."""

    def set_up(widget, steps: int, patch: int) -> None:
        from napari_unetseg._qt import finetune as fw

        widget.start_combo.set_model_name(fw.SCRATCH)
        widget.size_combo.setCurrentText("tiny (quick experiments)")
        widget.budget_unit.setCurrentText("steps")
        widget.budget_spin.setValue(steps)
        widget.patch_spin.setValue(patch)

    return set_up
