"""Bad-input matrix: the widgets on a real napari viewer (Xvfb) when the user does
unexpected things during a run."""

from __future__ import annotations

import numpy as np
import pytest
from reliability_matrix import assert_one_sentence, case

from napari_unetseg.core.registry import REGISTRY
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

WAIT_MS = 60_000


@pytest.fixture
def segment(make_napari_viewer, tiny_model_2d):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.model_combo.set_model_name(tiny_model_2d)
    widget.batch_spin.setValue(1)  # many small batches: time to act during the run
    return viewer, widget


@pytest.fixture
def finetune(make_napari_viewer):
    """Fine-tune set to train a new tiny model on scribbled nuclei."""
    from napari_unetseg._qt import finetune as fw

    before = set(REGISTRY.session())
    viewer = make_napari_viewer()
    image, truth = synthetic_nuclei((96, 96), seed=0)
    viewer.add_image(image, name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    widget.start_combo.set_model_name(fw.SCRATCH)
    widget.size_combo.setCurrentText("tiny (quick experiments)")
    widget.budget_unit.setCurrentText("steps")
    widget.budget_spin.setValue(8)
    widget.patch_spin.setValue(64)
    widget.batch_spin.setValue(2)
    widget.preview_check.setChecked(False)
    layer = widget.new_scribble_layer()
    layer.data = synthetic_scribbles(truth, seed=0)
    yield viewer, widget
    for name in set(REGISTRY.session()) - before:
        REGISTRY.remove(name)


def _on_first(worker, action):
    """Run ``action`` (in the GUI thread) when the first progress record arrives."""
    done: list[bool] = []

    def once(_record):
        if not done:
            done.append(True)
            action()

    worker.yielded.connect(once)
    return done


def _names(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers]


# -- Segment ---------------------------------------------------------------------------------
@case(
    "gui/segment-image-deleted",
    "Widget",
    "Segment: the image layer is deleted during the run",
    "the run ends; its result is dropped with a status sentence, no layer added",
    refused=False,
)
def test_image_deleted_during_segmentation(qtbot, segment, errors_shown):
    viewer, widget = segment
    other = viewer.add_labels(np.ones((8, 8), np.uint8), name="keep")
    image = viewer.add_image(np.random.default_rng(0).random((256, 256), np.float32), name="im")
    widget.image_combo.set_layer(image)
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        acted = _on_first(widget.run(), lambda: viewer.layers.remove(image))
    assert acted and _names(viewer) == ["keep"] and other.data.sum() == 64
    assert "closed" in widget.status.text() and not errors_shown


@case(
    "gui/segment-image-replaced",
    "Widget",
    "Segment: the image layer's data is replaced (another shape, or the same) during the run",
    "the stale result is dropped with a status sentence; no mismatched labels layer",
)
def test_image_replaced_during_segmentation(qtbot, segment, errors_shown):
    viewer, widget = segment
    image = viewer.add_image(np.random.default_rng(1).random((256, 256), np.float32), name="im")
    widget.image_combo.set_layer(image)

    def replace():
        image.data = np.zeros((40, 50), np.float32)

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        acted = _on_first(widget.run(), replace)
    assert acted
    assert "im [unet]" not in viewer.layers
    assert "got other data during the run" in widget.status.text() and not errors_shown


@case(
    "gui/segment-two-runs",
    "Widget",
    "Segment pressed again while a run is going",
    "ignored (the button is disabled, run() returns None); one output layer",
    refused=False,
)
def test_two_segment_runs_at_once(qtbot, segment):
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((128, 128), np.float32), name="im")
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        first = widget.run()
        assert not widget.run_button.isEnabled()
        second = widget.run()
    assert first is not None and second is None
    assert _names(viewer) == ["im", "im [unet]"]


@case(
    "gui/segment-cancel-repeatedly",
    "Widget",
    "Segment: Cancel pressed five times during a run, then Segment again",
    "one cancel, no layer, no error; the next run works",
    refused=False,
)
def test_cancel_pressed_repeatedly(qtbot, segment, errors_shown):
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(3).random((256, 256), np.float32), name="im")

    def hammer():
        for _ in range(5):
            widget.cancel()
            widget.cancel_button.click()

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        _on_first(widget.run(), hammer)
    assert _names(viewer) == ["im"] and widget.status.text().startswith("Cancelled")
    widget.cancel()  # after the run: nothing to cancel, nothing happens
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.run()
    assert _names(viewer) == ["im", "im [unet]"] and not errors_shown


@case(
    "gui/segment-nan-image",
    "Widget",
    "Segment on an all-NaN image layer, its earlier output present",
    "one error notification (no finite values); the earlier output unchanged",
)
def test_segment_all_nan_layer(qtbot, segment, errors_shown):
    viewer, widget = segment
    image = viewer.add_image(np.random.default_rng(4).random((64, 64), np.float32), name="im")
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.run()
    before = viewer.layers["im [unet]"].data.copy()
    image.data = np.full((64, 64), np.nan, np.float32)
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.run()
    assert len(errors_shown) == 1
    assert_one_sentence(errors_shown[0], "no finite values")
    np.testing.assert_array_equal(viewer.layers["im [unet]"].data, before)


# -- Fine-tune -------------------------------------------------------------------------------
@case(
    "gui/finetune-stop-repeatedly",
    "Widget",
    "Fine-tune: Stop pressed five times during training",
    "training stops once; the best model so far is kept, no error",
    refused=False,
)
def test_stop_pressed_repeatedly(qtbot, finetune, errors_shown):
    _, widget = finetune
    widget.budget_unit.setCurrentText("seconds")
    widget.budget_spin.setValue(120)

    def hammer(record):
        if record.step >= 2:
            for _ in range(5):
                widget.stop()
                widget.stop_button.click()

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.train().yielded.connect(hammer)
    assert widget.trained is not None and widget.trained.history["stopped_early"]
    assert not errors_shown


@case(
    "gui/finetune-stop-during-forest",
    "Widget",
    "Fine-tune, new model: Stop pressed while the random forest labels the unpainted pixels",
    "the forest ends at the next block; no model is made and the status says so, no error",
    refused=False,
)
def test_stop_during_the_forest_teacher(qtbot, finetune, errors_shown, monkeypatch):
    import time

    from napari_unetseg import forest

    _, widget = finetune
    monkeypatch.setattr(forest, "BLOCK_PIXELS", 1000)  # 12 blocks of the 96 x 96 image
    computed = []
    features = forest.block_features

    def slow(*args, **kwargs):  # a block takes a while, as on a large stack
        computed.append(True)
        # at least until Stop is pressed: a busy machine that delays the press by more
        # than the forest's whole work must not let the forest finish first (a flake)
        request = widget._request
        if request is not None:
            request.stop.wait(timeout=10)
        time.sleep(0.05)
        return features(*args, **kwargs)

    monkeypatch.setattr(forest, "block_features", slow)
    said = []

    def stop_now():
        widget.stop()
        said.append(widget.status.text())

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        _on_first(widget.train(), stop_now)  # the first record: the forest starts
    assert said == ["Stopping: if no training step has been taken yet, no model will be made..."]
    assert widget.trained is None
    assert widget.status.text() == "Stopped before the first training step: no model was made."
    assert len(computed) < len(forest.blocks((96, 96)))  # it did not finish its work
    assert not errors_shown


@case(
    "gui/finetune-two-runs",
    "Widget",
    "Fine-tune: Train pressed again while training",
    "ignored; one model is made",
    refused=False,
)
def test_two_trainings_at_once(qtbot, finetune):
    _, widget = finetune
    before = len(REGISTRY.session())
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        first = widget.train()
        second = widget.train()
    assert first is not None and second is None
    assert len(REGISTRY.session()) == before + 1


@case(
    "gui/finetune-labels-deleted",
    "Widget",
    "Fine-tune: the scribble layer is deleted during training",
    "training finishes on the labels as they were when Train was pressed; no error",
    refused=False,
)
def test_labels_deleted_during_training(qtbot, finetune, errors_shown):
    viewer, widget = finetune
    labels = widget.labels_combo.layer()
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        acted = _on_first(widget.train(), lambda: viewer.layers.remove(labels))
    assert acted and widget.trained is not None and not errors_shown
    assert _names(viewer) == ["cells"]


@case(
    "gui/finetune-image-deleted-preview",
    "Widget",
    "Fine-tune with the live preview: the image is deleted during training",
    "training finishes; no preview is written for the gone image, no error",
    refused=False,
)
def test_image_deleted_during_training_with_preview(qtbot, finetune, errors_shown):
    viewer, widget = finetune
    widget.preview_check.setChecked(True)
    widget.preview_spin.setValue(1)
    image = widget.image_combo.layer()
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        acted = _on_first(widget.train(), lambda: viewer.layers.remove(image))
    assert acted and widget.trained is not None and not errors_shown
    status = widget.status.text()
    assert "image was closed" in status and "paint where it is wrong" not in status


@case(
    "gui/finetune-viewer-closed",
    "Widget",
    "Fine-tune: the viewer is closed during training",
    "training stops at the next step; the worker ends without an error",
    refused=False,
)
def test_viewer_closed_during_training(qtbot, finetune, errors_shown):
    viewer, widget = finetune
    widget.budget_unit.setCurrentText("seconds")
    widget.budget_spin.setValue(300)
    worker = widget.train()
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        _on_first(worker, viewer.close)
    assert not errors_shown


@case(
    "gui/finetune-stray-label",
    "Widget",
    "Fine-tune: Train on scribbles holding one stray label 60000",
    "one error notification naming the label; no run starts",
)
def test_stray_label_in_widget(qtbot, finetune, errors_shown):
    _, widget = finetune
    layer = widget.labels_combo.layer()
    data = layer.data.astype(np.uint16)
    data[0, 0] = 60000
    layer.data = data
    assert widget.train() is None and not widget.runner.busy
    assert len(errors_shown) == 1
    assert_one_sentence(errors_shown[0], "60000")


@case(
    "gui/finetune-labels-wrong-shape",
    "Widget",
    "Fine-tune: a labels layer of another shape than the image",
    "one error notification; no run starts",
)
def test_labels_of_another_shape(qtbot, finetune, errors_shown):
    viewer, widget = finetune
    other = viewer.add_labels(np.ones((30, 30), np.uint8), name="small")
    widget.labels_combo.set_layer(other)
    assert widget.train() is None and not widget.runner.busy
    assert len(errors_shown) == 1
    assert_one_sentence(errors_shown[0], "has shape")


# -- Validate --------------------------------------------------------------------------------
@case(
    "gui/validate-prediction-deleted",
    "Widget",
    "Validate: the prediction layer is deleted during scoring",
    "the run ends without an error overlay for the gone layer; no error",
    refused=False,
)
def test_prediction_deleted_during_validation(qtbot, make_napari_viewer, errors_shown):
    viewer = make_napari_viewer()
    truth = synthetic_nuclei((256, 256), seed=1)[1]
    pred = viewer.add_labels(np.roll(truth, 2, axis=0), name="pred")
    viewer.add_labels(truth, name="truth")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    widget.pred_combo.set_layer(pred)
    widget.gt_combo.set_layer(viewer.layers["truth"])
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        acted = _on_first(widget.run(), lambda: viewer.layers.remove(pred))
    assert acted and "pred [errors]" not in viewer.layers and not errors_shown
