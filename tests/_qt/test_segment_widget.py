"""The Segment widget on a real napari viewer (Xvfb): runs, cancels, re-runs, errors."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from qtpy.QtCore import Qt

from napari_unetseg import _io, api
from napari_unetseg._qt.model_combo import LOAD_ENTRY
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.registry import REGISTRY

WAIT_MS = 60_000


@pytest.fixture
def segment(make_napari_viewer, tiny_model_2d):
    """A viewer with the Segment widget docked and the tiny model selected."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.model_combo.set_model_name(tiny_model_2d)
    return viewer, widget


def _run_and_wait(qtbot, widget):
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        worker = widget.run()
        assert worker is not None
    assert not widget.runner.busy and widget.run_button.isEnabled()


def _segmented_and_painted(qtbot, viewer, widget):
    """An image "img" segmented, and its labels output painted with a stroke of 7."""
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    first = viewer.layers["img [unet]"]
    first.brush_size = 3
    first.paint((20, 20), 7)
    return first


def test_run_adds_labels_with_the_image_geometry(qtbot, segment):
    viewer, widget = segment
    image = viewer.add_image(
        np.random.default_rng(0).random((90, 130), np.float32),
        name="cells",
        scale=(0.5, 0.25),
        translate=(10.0, -4.0),
    )
    assert widget.image_combo.layer() is image
    assert widget.model_info.text().startswith("2D model, 1 input channel")
    _run_and_wait(qtbot, widget)
    out = viewer.layers["cells [unet]"]
    assert out._type_string == "labels"
    assert out.data.shape == (90, 130)
    assert tuple(out.scale) == (0.5, 0.25) and tuple(out.translate) == (10.0, -4.0)
    assert set(np.unique(out.data)) <= {0, 1}  # two-class model: class labels
    assert "cells" in widget.status.text()


def test_labels_land_on_a_rotated_and_sheared_image(qtbot, segment):
    viewer, widget = segment
    image = viewer.add_image(
        np.random.default_rng(2).random((48, 40), np.float32),
        name="turned",
        scale=(0.5, 0.5),
        rotate=30,
        shear=[0.2],
        affine=np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0], [0.0, 0.0, 1.0]]),
    )
    _run_and_wait(qtbot, widget)
    labels = viewer.layers["turned [unet]"]
    np.testing.assert_allclose(
        labels._data_to_world.affine_matrix, image._data_to_world.affine_matrix
    )


def test_outputs_follow_their_image_set_back_upright(qtbot, segment):
    """A re-run after the image's rotation, shear and affine were undone kept them on the
    outputs replaced in place (drawn askew beside the image; transforms bug bash)."""
    viewer, widget = segment
    widget.prob_check.setChecked(True)
    image = viewer.add_image(
        np.random.default_rng(2).random((48, 40), np.float32),
        name="turned",
        rotate=30,
        shear=[0.2],
        affine=np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 7.0], [0.0, 0.0, 1.0]]),
    )
    _run_and_wait(qtbot, widget)
    image.rotate, image.shear, image.affine = 0, [0.0], np.eye(3)
    _run_and_wait(qtbot, widget)
    for suffix in ("unet", "probability"):
        out = viewer.layers[f"turned [{suffix}]"]
        np.testing.assert_allclose(out._data_to_world.affine_matrix, np.eye(3), atol=1e-12)


def test_a_stack_turned_out_of_the_shown_plane_is_not_segmented_plane_by_plane(
    segment, errors_shown
):
    """Turned about X, napari draws a stack's plane askew; 'Current plane only' then
    segmented data plane 9 under the sliders where napari drew plane 6 (transforms bug
    bash)."""
    viewer, widget = segment
    viewer.add_image(
        np.random.default_rng(5).random((12, 32, 32), np.float32),
        name="stk",
        scale=(2.0, 0.5, 0.5),
        rotate=(10, 0, 0),
    )
    widget.plane_check.setChecked(True)
    assert widget.run() is None
    assert "'stk' is rotated or sheared out of the plane the viewer shows" in errors_shown[-1]
    assert "stk [unet]" not in viewer.layers


def test_second_run_replaces_the_first_output(qtbot, segment):
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(1).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    first = viewer.layers["img [unet]"]
    widget.prob_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    # the labels of the first run, replaced in place, go above the new map (it was added
    # on top of them and hid them: GUI bug bash), and stay active; the map is half opaque
    order = ["img", "img [probability]", "img [unet]"]
    qtbot.waitUntil(lambda: [layer.name for layer in viewer.layers] == order)
    assert viewer.layers.selection.active is viewer.layers["img [unet]"]
    assert viewer.layers["img [probability]"].opacity == 0.6
    assert viewer.layers["img [unet]"] is first  # updated in place
    prob = viewer.layers["img [probability]"]
    assert prob.data.shape == (64, 64) and 0.0 <= prob.data.min() <= prob.data.max() <= 1.0
    _run_and_wait(qtbot, widget)  # and a third run adds nothing either
    assert len(viewer.layers) == 3
    # the map is never offered as an image to segment or to train on
    _, finetune = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    for combo in (widget.image_combo, finetune.image_combo):
        assert [layer.name for layer in combo.layers()] == ["img"]


def test_maps_of_a_first_run_lie_under_its_labels(qtbot, segment):
    """Probability and uncertainty maps went on top at full opacity with additive
    blending: a purple wash over the labels and the image."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(1).random((64, 64), np.float32), name="img")
    widget.prob_check.setChecked(True)
    widget.unc_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    names = [layer.name for layer in viewer.layers]
    assert names == ["img", "img [probability]", "img [uncertainty]", "img [unet]"]
    assert {viewer.layers[n].opacity for n in names[1:3]} == {0.6}


def test_a_3d_model_for_a_plane_is_said_before_any_job(segment, monkeypatch):
    """It failed once the job ran (GUI bug bash); now Run says so and starts nothing."""
    import napari_unetseg._qt.segment_widget as sw

    said: list[str] = []
    monkeypatch.setattr(sw, "notify_error", said.append)
    viewer, widget = segment
    viewer.add_image(np.zeros((32, 32), np.float32), name="plane")
    widget.model_combo.set_model_name("nuclei-3d")
    assert widget.run() is None and not widget.runner.busy
    assert said == [
        "Model 'nuclei-3d' segments Z stacks, and 'plane' is a plane: choose a 2D model "
        "(e.g. nuclei-2d)."
    ]


def test_axes_named_after_the_image_was_chosen_pick_the_default_again(qtbot, segment):
    """A movie whose axes are labelled t, y, x after it was added kept nuclei-3d (three
    axes, "a Z stack") and Run was refused; a model the user chose stays."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(1).random((4, 48, 48), np.float32), name="movie")
    widget._model_chosen_by_user = False
    widget._pick_default_model()
    assert widget.model_combo.model_name() == "nuclei-3d"
    viewer.dims.axis_labels = ("t", "y", "x")
    assert widget.model_combo.model_name() == "nuclei-2d"
    assert "time" in widget.model_info.text() or "Chosen because" in widget.model_info.text()


def test_map_layers_segment_did_not_write_are_kept(qtbot, segment):
    """A layer of the user's named "img [probability]" (a map saved and opened again)
    had its data replaced, and a Labels layer named "img [uncertainty]" was removed, by
    a run with both maps ticked (bug bash): both are kept, the maps go beside them."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(1).random((64, 64), np.float32), name="img")
    mine = np.full((64, 64), 0.25, np.float32)
    own_map = viewer.add_image(mine, name="img [probability]")
    own_labels = viewer.add_labels(np.ones((64, 64), np.uint8), name="img [uncertainty]")
    widget.prob_check.setChecked(True)
    widget.unc_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [probability]"] is own_map and own_map.data is mine
    assert viewer.layers["img [uncertainty]"] is own_labels
    assert viewer.layers["img [probability 2]"].data.max() <= 1.0
    assert "img [uncertainty 2]" in viewer.layers
    assert "'img [probability]' was not made by Segment in this session" in widget.status.text()
    _run_and_wait(qtbot, widget)  # the maps a run wrote are replaced by the next
    assert len(viewer.layers) == 6
    # a map written under a numbered name is a map all the same: not offered as an image
    # to segment (its suffix "probability 2" was not one of the maps')
    offered = [layer.name for layer in widget.image_combo.layers()]
    assert "img [probability 2]" not in offered and "img [uncertainty 2]" not in offered


def test_labels_the_user_painted_on_are_never_overwritten(qtbot, segment):
    """Segment, correct the labels with the brush, run again (say after fine-tuning): the
    corrected layer stays as painted and the new labels go to a layer of their own."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    first = viewer.layers["img [unet]"]
    first.brush_size = 3
    first.paint((20, 20), 7)  # a correction
    painted = first.data.copy()
    assert painted[20, 20] == 7
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [unet]"] is first and np.array_equal(first.data, painted)
    second = viewer.layers["img [unet 2]"]
    assert second.data.shape == (64, 64) and second.data[20, 20] != 7
    assert "'img [unet]' has your painting, so it was kept" in widget.status.text()
    _run_and_wait(qtbot, widget)  # the new output was not painted: replaced in place
    assert viewer.layers["img [unet 2]"] is second
    assert [layer.name for layer in viewer.layers] == ["img", "img [unet]", "img [unet 2]"]
    assert "has your painting" in widget.status.text()


@pytest.mark.parametrize("how", ["console", "new data", "mid stroke"])
def test_edits_without_a_paint_event_are_kept_too(qtbot, segment, how):
    """A run wrote over edits made from the console, over other data set on the layer,
    and over a stroke under way (napari says "paint" once it ends): only painting with
    the tools counted (lifecycle bug bash)."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    first = viewer.layers["img [unet]"]
    if how == "console":
        first.data[0:5, 0:5] = 13
    elif how == "new data":
        cleaned = first.data.copy()
        cleaned[0:5, 0:5] = 13
        first.data = cleaned
    else:
        first._begin_stroke()
    edited = first.data.copy()
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [unet]"] is first and np.array_equal(first.data, edited)
    assert "img [unet 2]" in viewer.layers
    said = "is being painted" if how == "mid stroke" else "has your painting"
    assert said in widget.status.text()
    if how == "mid stroke":
        first._commit_stroke()


def test_labels_segment_did_not_write_are_kept(qtbot, segment):
    """A layer named as the output but not written by Segment in this session (labels
    saved earlier and opened again, painted on) is kept: the labels go to ``[unet 2]``.
    Run replaced its data, painting and all."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    mine = viewer.add_labels(np.zeros((64, 64), np.uint8), name="img [unet]")
    mine.data[20:30, 20:30] = 7
    _run_and_wait(qtbot, widget)
    assert (viewer.layers["img [unet]"].data == 7).sum() == 100
    assert "img [unet 2]" in viewer.layers
    assert "'img [unet]' was not made by Segment in this session, so it was kept" in (
        widget.status.text()
    )


def test_painting_is_kept_when_the_dock_was_closed_and_opened_again(qtbot, segment):
    """Which outputs hold the user's painting is known to every Segment widget: closing
    the dock and opening a new one lost the record, and the next Run painted over."""
    viewer, widget = segment
    _segmented_and_painted(qtbot, viewer, widget)
    viewer.window.remove_dock_widget(widget.parent() or widget)
    _, again = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    assert again is not widget
    again.model_combo.set_model_name(widget.model_combo.model_name())
    _run_and_wait(qtbot, again)
    assert viewer.layers["img [unet]"].data[20, 20] == 7 and "img [unet 2]" in viewer.layers
    _run_and_wait(qtbot, again)  # its own unpainted output is replaced as before
    assert [layer.name for layer in viewer.layers] == ["img", "img [unet]", "img [unet 2]"]


def test_a_layer_whose_axis_labels_name_channels_is_refused(
    qtbot, segment, monkeypatch, tiny_model_2d
):
    """A (2, Y, X) layer labelled c, y, x was segmented as two planes, and a (Z, C, Y, X)
    one by nuclei-3d with its channels as Z (0 % foreground), without a word (series
    bash); the model line called it "a series of planes (CYX)"."""
    import napari_unetseg._qt.segment_widget as module

    errors: list[str] = []
    monkeypatch.setattr(module, "notify_error", lambda e, *a: errors.append(str(e)))
    viewer, widget = segment
    data = np.random.default_rng(3).random((2, 32, 32), np.float32)
    viewer.add_image(data, name="two", axis_labels=("c", "y", "x"))
    widget._model_chosen_by_user = False
    widget.image_combo.set_layer(viewer.layers["two"])
    widget._pick_default_model()
    assert widget.model_combo.model_name() == "nuclei-2d"
    assert "series of planes" not in widget._default_reason
    # the model line says what Run will (it said "a Z stack" of a ZCYX layer; time-lapse bash)
    assert "its axis 0 holds channels (labelled c)" in widget.model_info.text()
    assert widget.run() is None
    assert len(errors) == 1 and "'two' has its channels on axis 0 (labelled c)" in errors[0]
    assert "channel_axis=0" in errors[0] and [layer.name for layer in viewer.layers] == ["two"]
    # ... in the dock too (its line kept the last image's result; ecosystem bash)
    assert widget.status.text() == f"Not segmented: {errors[0]}"
    viewer.add_image(np.zeros((4, 2, 32, 32), np.float32), name="zc", axis_labels="zcyx")
    widget.image_combo.set_layer(viewer.layers["zc"])
    assert not widget.status.text().startswith("Not segmented")  # another choice (review)
    assert widget.run() is None and "on axis 1 (labelled c)" in errors[-1]
    assert "its axis 1 holds channels (labelled c)" in widget.model_info.text()
    # the plane on show is one channel's: segmented (review)
    widget.image_combo.set_layer(viewer.layers["two"])
    widget.model_combo.set_model_name(tiny_model_2d)
    widget.plane_check.setChecked(True)
    with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
        assert widget.run() is not None
    assert len(errors) == 2 and "two [unet]" in viewer.layers


def test_a_colour_looking_stack_is_refused_in_one_sentence(qtbot, segment, monkeypatch):
    """napari reads a last axis of 3 values as colour from 31 pixels, the engine from 16:
    a 24 x 24 x 3 layer shown as a stack was segmented as colour and its 2D labels
    failed to land on it (a traceback, and "Segmenting..." for ever)."""
    import napari_unetseg._qt.segment_widget as module

    errors: list[str] = []
    monkeypatch.setattr(module, "notify_error", lambda e, *a: errors.append(str(e)))
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((24, 24, 3), np.float32), name="small")
    assert not viewer.layers["small"].rgb
    assert widget.run() is None
    assert len(errors) == 1 and "looks like a colour image but napari shows it" in errors[0]
    assert "rgb=True" in errors[0] and [layer.name for layer in viewer.layers] == ["small"]
    viewer.add_image(np.zeros((32, 32, 1), np.float32), name="one")  # a channel of one
    widget.image_combo.set_layer(viewer.layers["one"])
    assert widget.run() is None and "holds one channel on its last axis" in errors[-1]


def test_a_result_that_cannot_be_shown_is_an_error_not_a_stuck_status(qtbot, segment, monkeypatch):
    """Whatever fails while the result is put into layers is one notification, and the
    status says the run failed (it said "Segmenting..." for ever)."""
    import napari_unetseg._qt._worker as worker_module

    errors: list[str] = []
    monkeypatch.setattr(worker_module, "notify_error", lambda e, *a: errors.append(str(e)))
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((32, 32), np.float32), name="img")

    def broken(*args):
        raise ValueError("could not broadcast")

    monkeypatch.setattr(widget, "_show_result", broken)
    _run_and_wait(qtbot, widget)
    assert errors == ["could not broadcast"] and widget.status.text().startswith("Failed")


def test_an_rgb_plane_beside_a_z_stack_gets_the_2d_model(qtbot, make_napari_viewer):
    """With a stack's axis labels z, y, x in the viewer, a photograph added after it
    was given nuclei-3d ("the image is a Z stack"), which then refused it."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 64, 64), np.float32), name="stack")
    viewer.dims.axis_labels = ("z", "y", "x")
    photo = viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="photo", rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(photo)
    assert widget.model_combo.model_name() == "nuclei-2d"
    assert "the image is a plane" in widget.model_info.text()
    widget.image_combo.set_layer(viewer.layers["stack"])
    assert widget.model_combo.model_name() == "nuclei-3d"


def test_each_layer_is_read_by_its_own_axis_labels(qtbot, make_napari_viewer):
    """A time series opened beside a TZYX hyperstack: the viewer's labels end in z, y, x,
    the series' own are t, y, x. Segment chose nuclei-3d for it ("a Z stack") and let it
    run across time; Validate scored it across time. Labels typed on the viewer's
    sliders count for a layer that has all of the viewer's axes, where they are not
    another layer's own (napari copies those onto the sliders)."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 3, 32, 32), np.float32), name="4d", axis_labels="tzyx")
    series = viewer.add_image(np.zeros((3, 32, 32), np.float32), name="series", axis_labels="tyx")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(series)
    assert widget.model_combo.model_name() == "nuclei-2d"
    widget.model_combo.set_model_name("nuclei-3d")
    assert "time, no Z" in widget.problem(series)
    _, validate = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    truth = viewer.add_labels(np.zeros((3, 32, 32), np.uint8), name="truth", axis_labels="tyx")
    assert validate.options(truth)["time_axis"] == 0
    plain = viewer.add_labels(np.zeros((2, 3, 32, 32), np.uint8), name="plain")
    assert validate.options(plain)["time_axis"] is None  # the sliders show 4d's labels
    viewer.dims.axis_labels = ("t", "q", "y", "x")  # typed on the sliders
    assert validate.options(plain)["time_axis"] == 0


def test_a_stack_is_not_read_by_the_labels_napari_took_from_another_layer(make_napari_viewer):
    """Beside a TYX layer the viewer's labels are t, y, x (napari takes them from the
    layer): a Z stack with napari's numbered labels was read as time, given nuclei-2d and
    refused nuclei-3d ("axes are TYX (time, no Z)")."""
    from napari_unetseg._qt._common import named_axes

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 32, 32), np.float32), name="movie", axis_labels="tyx")
    stack = viewer.add_image(np.zeros((8, 64, 64), np.float32), name="stack")
    assert tuple(viewer.dims.axis_labels) == ("t", "y", "x")
    assert named_axes(viewer, stack) is None and named_axes(viewer, viewer.layers[0]) == "TYX"
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.image_combo.set_layer(stack)
    assert widget.model_combo.model_name() == "nuclei-3d"
    assert widget.problem(stack) is None
    _, finetune = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    finetune.image_combo.set_layer(stack)
    assert finetune._stack()


def test_fill_holes_stays_as_ticked_when_another_image_is_chosen(qtbot, make_napari_viewer):
    """Choosing another image picks the default model again; when that is the same
    model, the user's "Fill holes" tick stays (it was reset to the model's default)."""
    viewer = make_napari_viewer()
    for name in ("first", "second"):
        viewer.add_image(np.zeros((64, 64), np.float32), name=name)
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    model = widget.model_combo.model_name()
    ticked = not widget.fill_check.isChecked()
    widget.fill_check.setChecked(ticked)
    widget.image_combo.set_layer(viewer.layers["first"])
    widget.image_combo.set_layer(viewer.layers["second"])
    assert widget.model_combo.model_name() == model
    assert widget.fill_check.isChecked() is ticked and widget.settings().fill_holes is ticked


def test_split_touching_is_ticked_as_the_model_says(qtbot, segment):
    """The nuclei models split touching objects by default (one label per nucleus: object
    F1 0.77 -> 0.88 on DSB 2018); a model without that setting gives classes; the same
    model chosen again keeps the user's tick."""
    import napari_unetseg.api as api_module
    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    viewer.add_image(np.zeros((64, 64), np.float32), name="plane")
    widget.model_combo.set_model_name("nuclei-2d")
    # ticked as the model says: the model's setting (None), as `unetseg predict` has it
    assert widget.split_check.isChecked() and widget.settings().split_touching is None
    tissue = ModelBundle.create(spatial_dims=2, n_classes=2, depth=2, base_channels=4)
    name = REGISTRY.register(tissue, "tissue")
    widget.model_combo.set_model_name(name)
    assert not widget.split_check.isChecked() and widget.settings().split_touching is None
    widget.split_check.setChecked(True)
    assert widget.settings().split_touching is True  # asked for
    widget.model_combo.set_model_name("nuclei-2d")
    widget.split_check.setChecked(False)
    widget.image_combo.set_layer(viewer.layers["plane"])
    assert not widget.split_check.isChecked()  # (the same model again: as the user set)
    assert widget.settings().split_touching is False
    # a result too large to split in memory by default is left as classes, and said, as
    # the API does (the widget's tick was passed as asked: split anyway; review)
    widget.split_check.setChecked(True)
    img, _ = synthetic_nuclei((96, 96), seed=3)
    widget.image_combo.set_layer(viewer.add_image(img, name="nuclei"))
    assert widget.settings().split_touching is None
    api_module.SPLIT_AUTO_VOXELS, limit = 1000, api_module.SPLIT_AUTO_VOXELS
    try:
        _run_and_wait(qtbot, widget)
    finally:
        api_module.SPLIT_AUTO_VOXELS = limit
    assert viewer.layers["nuclei [unet]"].data.max() == 1
    assert "Touching objects were not split: 9,216 voxels" in widget.status.text()
    assert "tick \u201cSplit touching objects\u201d for one" not in widget.status.text()
    # clicked (off and on): asked for, so split whatever the size (it could not be)
    widget.split_check.click()
    widget.split_check.click()
    assert widget.split_check.isChecked() and widget.settings().split_touching is True
    api_module.SPLIT_AUTO_VOXELS = 1000
    try:
        _run_and_wait(qtbot, widget)
    finally:
        api_module.SPLIT_AUTO_VOXELS = limit
    assert viewer.layers["nuclei [unet]"].data.max() > 1


def test_painting_undone_is_no_painting(qtbot, segment):
    """A stroke on the labels undone with Ctrl-Z leaves them as the model made them: the
    next run updates them in place instead of keeping them as the user's."""
    viewer, widget = segment
    first = _segmented_and_painted(qtbot, viewer, widget)
    first.undo()
    assert first.data[20, 20] != 7
    _run_and_wait(qtbot, widget)
    assert [layer.name for layer in viewer.layers] == ["img", "img [unet]"]
    assert viewer.layers["img [unet]"] is first
    assert "has your painting" not in widget.status.text()
    rerun = first.data.copy()
    first.redo()  # the stroke undone before the run is not stamped on the new labels
    np.testing.assert_array_equal(first.data, rerun)
    first.undo()  # nor the old labels' values put back
    np.testing.assert_array_equal(first.data, rerun)
    first.paint((20, 20), 7)  # painted, undone, redone: the painting is back
    first.undo()
    first.redo()
    _run_and_wait(qtbot, widget)
    assert "img [unet 2]" in viewer.layers and first.data[20, 20] == 7


def test_enter_in_a_field_runs_unless_run_is_disabled(qtbot, segment):
    """Enter in a field (the object size typed in) presses Run (it did nothing)."""
    from qtpy.QtCore import Qt

    viewer, widget = segment
    qtbot.keyClick(widget.size_spin, Qt.Key.Key_Return)  # no image: Run is disabled
    assert not widget.runner.busy and [layer.name for layer in viewer.layers] == []
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        qtbot.keyClick(widget.size_spin, Qt.Key.Key_Return)
    assert "img [unet]" in viewer.layers


def test_deleted_layers_are_freed_after_runs(qtbot, segment):
    """Each run's worker stays in napari's task list for the session, and its signals
    kept the widget's callbacks, which hold the layers and their data: 15 runs on layers
    deleted afterwards kept 15 images alive (leaks bug bash)."""
    import gc
    import weakref

    viewer, widget = segment
    freed = []
    for k in range(3):
        layer = viewer.add_image(np.random.default_rng(k).random((64, 64), np.float32))
        _run_and_wait(qtbot, widget)
        freed.append(weakref.ref(layer))
        del layer
        viewer.layers.clear()
        qtbot.wait(10)
    gc.collect()
    assert [ref() for ref in freed] == [None, None, None]


def test_cancel_stops_and_leaves_no_layer(qtbot, segment):
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((512, 512), np.float32), name="big")
    widget.batch_spin.setValue(1)  # one 64-pixel tile per batch: ~100 batches
    cancelled_after: list[int] = []

    def cancel_on_first_batch(record):
        if not cancelled_after:
            cancelled_after.append(record.done)
            assert not widget.run_button.isEnabled() and widget.cancel_button.isEnabled()
            widget.cancel()

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        worker = widget.run()
        worker.yielded.connect(cancel_on_first_batch)
    assert cancelled_after and cancelled_after[0] < 100
    assert "big [unet]" not in viewer.layers
    assert [layer.name for layer in viewer.layers] == ["big"]
    assert widget.status.text().startswith("Cancelled")
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_closing_the_dock_mid_run_stops_it(qtbot, segment):
    """napari's close button takes the widget out of the window without deleting it: the
    run stops there, as Cancel does, instead of running on unseen."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((512, 512), np.float32), name="big")
    widget.batch_spin.setValue(1)  # ~100 batches
    closed_after: list[int] = []

    def close_on_first_batch(record):
        if not closed_after:
            closed_after.append(record.done)
            viewer.window.remove_dock_widget(widget)

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        worker = widget.run()
        worker.yielded.connect(close_on_first_batch)
    assert closed_after and worker.abort_requested
    assert [layer.name for layer in viewer.layers] == ["big"]


def test_stack_with_2d_model_all_planes_or_current_plane(qtbot, segment, monkeypatch):
    viewer, widget = segment
    stack = viewer.add_image(
        np.random.default_rng(3).random((4, 48, 40), np.float32), name="stack", scale=(2, 1, 1)
    )
    widget.prob_check.setChecked(True)
    assert widget.plane_check.isEnabled()
    widget.plane_check.setChecked(True)
    viewer.dims.set_point(0, 2 * 2.0)  # world Z = 4 -> plane 2
    _run_and_wait(qtbot, widget)
    prob = viewer.layers["stack [probability]"].data
    assert prob.shape == (4, 48, 40)
    assert (prob[2] > 0).all()  # softmax probabilities are never exactly 0
    assert not prob[[0, 1, 3]].any()  # the other planes were not computed
    assert "stack (plane 2): " in widget.status.text()
    # another plane with touching objects split: their ids need a wider type than the
    # labels so far, and plane 2 stays
    first = viewer.layers["stack [unet]"].data.copy()
    widget.split_check.setChecked(True)
    viewer.dims.set_point(0, 0.0)
    _run_and_wait(qtbot, widget)
    labels = viewer.layers["stack [unet]"].data
    assert labels.dtype.itemsize > first.dtype.itemsize
    assert np.array_equal(labels[2], first[2]) and not labels[[1, 3]].any()
    assert "stack (plane 0): " in widget.status.text()
    widget.split_check.setChecked(False)
    # the viewer shows no plane of the last two axes: refused, nothing changes
    refused: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", refused.append)
    for change, shown in (
        (lambda: setattr(viewer.dims, "order", (1, 0, 2)), "planes of other axes"),
        (lambda: setattr(viewer.dims, "ndisplay", 3), "a 3D view"),
    ):
        viewer.dims.order, viewer.dims.ndisplay = (0, 1, 2), 2
        change()
        assert widget.run() is None and not widget.runner.busy
        assert shown in refused[-1] and "untick it to segment the whole stack" in refused[-1]
    viewer.dims.order, viewer.dims.ndisplay = (0, 1, 2), 2
    assert np.array_equal(viewer.layers["stack [unet]"].data, labels)
    # sliders past the stack (a longer layer beside it): its end plane was segmented
    # and named as the one shown (bug bash); refused now
    longer = viewer.add_image(np.zeros((12, 48, 40), np.float32), name="longer", scale=(2, 1, 1))
    viewer.dims.set_point(0, 2 * 9.0)
    assert widget.run() is None and not widget.runner.busy
    assert "The sliders are outside 'stack'" in refused[-1]
    viewer.layers.remove(longer)
    viewer.dims.set_point(0, 0.0)
    assert np.array_equal(viewer.layers["stack [unet]"].data, labels)
    viewer.dims.axis_labels = ("z", "y", "x")  # named axes: named planes
    viewer.dims.order = (1, 0, 2)
    assert widget.run() is None
    assert "segments a y-x plane" in refused[-1] and "shows z-x planes" in refused[-1]
    viewer.dims.order = (0, 1, 2)
    _run_and_wait(qtbot, widget)
    assert "stack (z 0): " in widget.status.text()
    # All planes, written into the same layers.
    widget.plane_check.setChecked(False)
    _run_and_wait(qtbot, widget)
    assert (viewer.layers["stack [probability]"].data > 0).all()
    assert tuple(viewer.layers["stack [unet]"].scale) == tuple(stack.scale)
    # a 3D model reads the whole stack: the box is off and says so
    widget.model_combo.set_model_name("nuclei-3d")
    assert not widget.plane_check.isEnabled()
    assert "3D model" in widget.plane_check.toolTip()


def test_lazy_image_gives_a_lazily_written_output(qtbot, segment, monkeypatch):
    import dask.array as da

    from napari_unetseg._qt import segment_job

    viewer, widget = segment
    data = np.random.default_rng(6).random((2, 96, 64), np.float32)
    viewer.add_image(da.from_array(data, chunks=(1, 48, 64)), name="lazy")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)  # "very large"
    widget.split_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    out = viewer.layers["lazy [unet]"].data
    assert not isinstance(out, np.ndarray) and out.shape == (2, 96, 64)
    assert "not split" in widget.status.text()  # and the user is told why
    # Same labels as segmenting the numpy array.
    widget.image_combo.set_layer(viewer.add_image(data, name="eager"))
    widget.split_check.setChecked(False)
    _run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(np.asarray(out[:]), viewer.layers["eager [unet]"].data)


def test_a_plane_of_a_lazy_stack_goes_into_lazy_outputs_and_keeps_the_others(
    qtbot, segment, monkeypatch
):
    """'Current plane only' on a large lazy stack made a full in-memory output before
    showing the plane (8000 planes of 2048 x 2048: 31 GiB, "Unable to allocate"); after a
    whole-stack run stored lazily, a plane's run wiped the other planes without a word;
    and on planes shown as a pyramid it failed with "inhomogeneous shape" (multiscale
    bash). Lowered limits stand for the sizes."""
    import dask.array as da
    import zarr

    from napari_unetseg._qt import segment_job

    viewer, widget = segment
    data = np.random.default_rng(8).random((4, 48, 40), np.float32)
    stack = viewer.add_image(da.from_array(data, chunks=(1, 48, 40)), name="lazy")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)
    widget.plane_check.setChecked(True)
    widget.prob_check.setChecked(True)
    viewer.dims.set_point(0, 1.0)
    _run_and_wait(qtbot, widget)
    out = viewer.layers["lazy [unet]"].data
    prob = viewer.layers["lazy [probability]"].data
    assert isinstance(out, zarr.Array) and out.shape == (4, 48, 40)
    assert isinstance(prob, zarr.Array) and prob.nchunks_initialized == 1  # plane 1's alone
    one = np.asarray(prob[1]).copy()
    assert (one > 0).all() and not np.asarray(prob[[0, 2, 3]]).any()
    viewer.dims.set_point(0, 3.0)  # another plane: written in place, plane 1 stays
    _run_and_wait(qtbot, widget)
    assert viewer.layers["lazy [probability]"].data is prob
    assert np.array_equal(prob[1], one) and (np.asarray(prob[3]) > 0).all()
    widget.prob_check.setChecked(False)
    # a whole-stack run stored lazily, then a plane whose split ids need a wider type:
    # the stack's labels are kept and the plane goes to "[unet 2]"
    widget.plane_check.setChecked(False)
    _run_and_wait(qtbot, widget)
    whole = np.asarray(viewer.layers["lazy [unet]"].data[:]).copy()
    widget.plane_check.setChecked(True)
    widget.split_check.setChecked(True)
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1 << 30)  # split in memory
    viewer.dims.set_point(0, 2.0)
    _run_and_wait(qtbot, widget)
    assert np.array_equal(np.asarray(viewer.layers["lazy [unet]"].data[:]), whole)
    assert "where this plane's result cannot be added, so it was kept" in widget.status.text()
    assert viewer.layers["lazy [unet 2]"].data.shape == (4, 48, 40)
    # planes shown as a pyramid: the plane's level 0 goes into the output
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)
    monkeypatch.setattr(segment_job, "PYRAMID_PLANE_PIXELS", 20 * 20)
    monkeypatch.setattr(segment_job, "PYRAMID_TOP_EDGE", 24)
    widget.split_check.setChecked(False)
    widget.prob_check.setChecked(True)
    for name in ("lazy [unet]", "lazy [unet 2]", "lazy [probability]"):
        viewer.layers.remove(name)
    _run_and_wait(qtbot, widget)
    shown = viewer.layers["lazy [probability]"]
    assert shown.multiscale and shown.data[0].shape == (4, 48, 40)
    assert (np.asarray(shown.data[0][2]) > 0).all() and not np.asarray(shown.data[0][1]).any()
    assert viewer.layers["lazy [unet]"].multiscale
    viewer.dims.set_point(0, 0.0)  # a second plane joins the first (review: "[unet 2]")
    _run_and_wait(qtbot, widget)
    shown = viewer.layers["lazy [probability]"]
    assert (np.asarray(shown.data[0][0]) > 0).all() and (np.asarray(shown.data[0][2]) > 0).all()
    assert not np.asarray(shown.data[0][1]).any()
    assert "lazy [unet 2]" not in viewer.layers and "kept" not in widget.status.text()
    assert stack in viewer.layers


def test_a_whole_slide_sized_result_is_shown_as_a_pyramid(qtbot, segment, monkeypatch):
    # napari reads a 2D layer's whole plane to draw it: a lazily written result of a
    # whole-slide image is shown as levels, read only where napari looks
    import dask.array as da

    from napari_unetseg._qt import segment_job

    viewer, widget = segment
    data = np.random.default_rng(7).random((160, 224), np.float32)
    viewer.add_image(da.from_array(data, chunks=(80, 112)), name="slide")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)
    monkeypatch.setattr(segment_job, "PYRAMID_PLANE_PIXELS", 100 * 100)
    monkeypatch.setattr(segment_job, "PYRAMID_TOP_EDGE", 64)
    _run_and_wait(qtbot, widget)
    layer = viewer.layers["slide [unet]"]
    assert layer.multiscale
    assert [lv.shape for lv in layer.data] == [(160, 224), (80, 112), (40, 56)]
    full = np.asarray(layer.data[0])
    np.testing.assert_array_equal(np.asarray(layer.data[2]), full[::4, ::4])
    # a second run replaces it; a small result then is a plain layer again
    monkeypatch.setattr(segment_job, "PYRAMID_PLANE_PIXELS", 1 << 30)
    _run_and_wait(qtbot, widget)
    assert not viewer.layers["slide [unet]"].multiscale


def test_split_touching_and_uncertainty_outputs(qtbot, segment):
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(4).random((64, 80), np.float32), name="img")
    widget.split_check.setChecked(True)
    widget.unc_check.setChecked(True)
    assert widget.tta_check.isChecked() and not widget.tta_check.isEnabled()
    _run_and_wait(qtbot, widget)
    labels = viewer.layers["img [unet]"].data
    assert labels.dtype == np.int32
    assert "objects" in widget.status.text()
    assert viewer.layers["img [unet]"].features.empty  # object ids are no classes
    unc = viewer.layers["img [uncertainty]"].data
    assert unc.shape == (64, 80) and unc.min() >= 0


def test_error_during_run_is_a_notification(qtbot, segment, errors_shown):
    viewer, widget = segment
    three = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4, in_channels=3)
    name = REGISTRY.register(three, "three-channel test model")  # for colour, given grey
    try:
        widget.model_combo.set_model_name(name)
        grey = np.random.default_rng(5).integers(0, 255, (40, 40), dtype=np.uint8)
        viewer.add_image(grey, name="photo")
        _run_and_wait(qtbot, widget)
    finally:
        REGISTRY.remove(name)
    assert len(errors_shown) == 1
    assert errors_shown[0].startswith("Segmentation failed: ")
    assert "3 input channels" in errors_shown[0] and "\n" not in errors_shown[0]
    assert "photo [unet]" not in viewer.layers


def test_non_model_file_gives_a_notification(segment, tmp_path, errors_shown, tiny_model_2d):
    _, widget = segment
    bogus = tmp_path / "notes.pt"
    bogus.write_text("this is not a model")
    assert widget.model_combo.load_file(bogus) is None
    assert len(errors_shown) == 1
    assert "not a napari-unetseg model file" in errors_shown[0]
    assert widget.model_combo.model_name() == tiny_model_2d  # the choice is kept


def test_model_file_is_loaded_into_the_registry(segment, tmp_path):
    _, widget = segment
    path = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).save(tmp_path / "mine.pt")
    name = widget.model_combo.load_file(path)
    try:
        assert name == "mine" and name in REGISTRY
        assert widget.model_combo.model_name() == "mine"
        # the same file again is that model, not "mine (2)" (bug bash)
        widget.model_combo.set_model_name("nuclei-2d")
        assert widget.model_combo.load_file(path) == "mine"
        assert widget.model_combo.model_name() == "mine" and "mine (2)" not in REGISTRY
    finally:
        REGISTRY.remove(name)


def test_a_loaded_model_file_written_anew_is_read_again_and_named_by_its_file(segment, tmp_path):
    """Two files with one model name inside were two look-alike entries, and a loaded
    file written anew went on predicting with the copy read before (model bug bash)."""
    _, widget = segment
    combo = widget.model_combo
    a, b = (ModelBundle.create(spatial_dims=2, depth=2, base_channels=4) for _ in range(2))
    for bundle in (a, b):
        bundle.name = "cells"
    first = combo.load_file(a.save(tmp_path / "a.pt"))
    other = combo.load_file(b.save(tmp_path / "b.pt"))
    try:
        assert (first, other) == ("cells", "cells (2)")
        tips = [
            combo.itemData(combo.findText(n), Qt.ItemDataRole.ToolTipRole) for n in (first, other)
        ]
        assert [tip.split(" (right-click")[0] for tip in tips] == [
            f"Loaded from {tmp_path / 'a.pt'}",
            f"Loaded from {tmp_path / 'b.pt'}",
        ]
        tip = combo.itemData(combo.findText("nuclei-2d"), Qt.ItemDataRole.ToolTipRole)
        assert tip.startswith("Shipped with napari-unetseg: ") and tip.endswith("nuclei-2d.pt")
        b.save(tmp_path / "a.pt")  # a.pt written anew, as b
        os.utime(tmp_path / "a.pt", ns=(1, 1))
        again = api.load_model(first)  # what a Segment run loads
        assert again is not a and again.name == "cells"
        assert all(
            torch.equal(p, q)
            for p, q in zip(again.network.state_dict().values(), b.network.state_dict().values())
        )
        assert combo.load_file(tmp_path / "a.pt") == first  # its entry, not "cells (3)"
    finally:
        REGISTRY.remove(first)
        REGISTRY.remove(other)


def test_a_saved_model_whose_file_was_deleted_is_refused_before_the_run(segment):
    viewer, widget = segment
    layer = viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    saved = REGISTRY.save_as(ModelBundle.create(spatial_dims=2, depth=2, base_channels=4), "mine")
    widget.model_combo.set_model_name("mine")
    saved.unlink()
    assert widget.problem(layer) == (
        "The model 'mine' is no longer in the saved-models folder (its file was deleted or "
        "renamed); choose another model."
    )
    assert widget.model_combo.findText("mine") < 0 and widget.problem(layer) is None


def test_model_list_follows_the_registry_from_any_thread(qtbot, segment):
    _, widget = segment
    combo = widget.model_combo
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    names: list[str] = []
    # A model trained in a worker thread (as the Fine-tune widget does) appears at once.
    thread = threading.Thread(target=lambda: names.append(REGISTRY.register(bundle, "fresh")))
    thread.start()
    thread.join()
    try:
        qtbot.waitUntil(lambda: combo.findText("fresh") >= 0, timeout=5000)
        assert combo.itemText(combo.count() - 1) == LOAD_ENTRY
    finally:
        REGISTRY.remove(names[0])
    qtbot.waitUntil(lambda: combo.findText("fresh") < 0, timeout=5000)


def test_layer_list_follows_the_viewer(segment):
    viewer, widget = segment
    combo = widget.image_combo
    assert combo.count() == 0 and not widget.run_button.isEnabled()
    a = viewer.add_image(np.zeros((8, 8)), name="a")
    viewer.add_labels(np.zeros((8, 8), int), name="not an image")
    b = viewer.add_image(np.zeros((8, 8)), name="b")
    assert [combo.itemText(i) for i in range(combo.count())] == ["b", "a"]
    combo.set_layer(a)
    a.name = "renamed"
    assert combo.itemText(1) == "renamed" and combo.layer() is a
    viewer.layers.remove(b)
    assert combo.layers() == [a] and combo.layer() is a
    assert widget.run_button.isEnabled()
    viewer.layers.remove(a)
    assert combo.layer() is None and not widget.run_button.isEnabled()


def test_default_model_follows_the_image_until_the_user_picks(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    viewer.add_image(np.zeros((8, 64, 64), np.uint16), name="stack")
    assert widget.model_combo.model_name() == "nuclei-3d"
    assert "Z stack" in widget.model_info.text()
    widget.image_combo.set_layer(viewer.add_image(np.zeros((64, 64), np.uint16), name="plane"))
    assert widget.model_combo.model_name() == "nuclei-2d"
    assert "plane" in widget.model_info.text()
    widget.model_combo.set_model_name("nuclei-3d")  # the user's choice sticks
    widget.image_combo.set_layer(viewer.add_image(np.zeros((32, 32), np.uint16), name="p2"))
    assert widget.model_combo.model_name() == "nuclei-3d"
    assert "Chosen because" not in widget.model_info.text()


def test_the_result_line_gives_each_class_its_share(qtbot, segment):
    """A model with three classes besides the background: the line names each one's share
    (a foreground share alone would lump meat, rice and vegetables together)."""
    viewer, widget = segment
    bundle = ModelBundle.create(depth=2, base_channels=4, n_classes=4)
    bundle.class_names = ["plate", "meat", "rice", "vegetables"]
    name = REGISTRY.register(bundle, "four classes")
    widget.model_combo.set_model_name(name)
    viewer.add_image(np.random.default_rng(0).random((64, 64), np.float32), name="meal")
    _run_and_wait(qtbot, widget)
    labels = viewer.layers["meal [unet]"].data
    shares = [100 * np.mean(labels == k) for k in (1, 2, 3)]
    assert widget.status.text().startswith(
        f"meal: Classes: meat {shares[0]:.1f} %, rice {shares[1]:.1f} %, "
        f"vegetables {shares[2]:.1f} % of the pixels ("
    )
    # the status bar names the class under the cursor
    layer = viewer.layers["meal [unet]"]
    for value in np.unique(labels):
        y, x = np.argwhere(labels == value)[0]
        said = str(layer.get_status((float(y), float(x)))["coordinates"])
        assert f"class: {bundle.class_names[value]}" in said


def test_a_several_class_model_adds_a_probability_layer_per_class(qtbot, segment, tmp_path):
    """ "Probability map" of a model of several classes gave 1 - p(background) alone: the
    classes' own maps were not to be had in the GUI (classes bash)."""
    from napari_unetseg import api

    viewer, widget = segment
    bundle = ModelBundle.create(depth=2, base_channels=4, n_classes=3)
    bundle.class_names = ["plate", "meat", "rice"]
    name = REGISTRY.register(bundle, "three classes")
    widget.model_combo.set_model_name(name)
    image = np.random.default_rng(0).random((64, 64), np.float32)
    viewer.add_image(image, name="meal")
    widget.prob_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    _, maps = api.predict(image, bundle, return_probabilities=True, class_probabilities=True)
    for k, cls in ((1, "meat"), (2, "rice")):
        layer = viewer.layers[f"meal [probability {cls}]"]
        np.testing.assert_allclose(layer.data, maps[k], atol=1e-6)
        assert tuple(layer.contrast_limits) == (0.0, 1.0)
    assert "meal [probability]" not in viewer.layers  # one map per class instead
    widget.model_combo.set_model_name(name)
    # the command names the maps of the classes too
    notes = widget.copy_command(folder=str(tmp_path)).reproduction.notes
    assert any("--probabilities PATH.tif --class-probabilities" in n for n in notes)
    REGISTRY.remove(name)


def test_a_model_trained_on_the_image_becomes_its_default(make_napari_viewer):
    """Paint, train, segment: the model just trained on this image is offered first,
    without overriding a model the user picked, and only for that image (not for an
    image of the same name in another viewer, as when the record was keyed by name)."""
    from napari_unetseg._qt._common import layer_key

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    meal = viewer.add_image(np.zeros((64, 64), np.uint16), name="meal")
    other = viewer.add_image(np.zeros((64, 64), np.uint16), name="other")
    second = make_napari_viewer()
    _, elsewhere = second.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    second.add_image(np.zeros((64, 64), np.uint16), name="meal")  # same name, other image
    widget.image_combo.set_layer(meal)
    assert widget.model_combo.model_name() == "nuclei-2d"
    name = REGISTRY.register(
        ModelBundle.create(depth=2, base_channels=4), "tissue", trained_on=layer_key(meal)
    )
    try:
        assert widget.model_combo.model_name() == name  # picked as the list changed
        assert "trained on 'meal' in this session" in widget.model_info.text()
        assert elsewhere.model_combo.model_name() == "nuclei-2d"
        meal.name = "meal renamed"  # still the image it was trained on
        widget.image_combo.set_layer(other)
        assert widget.model_combo.model_name() == "nuclei-2d"
        widget.image_combo.set_layer(meal)
        assert widget.model_combo.model_name() == name
        widget.model_combo.set_model_name("nuclei-3d")  # the user's choice sticks
        newer = REGISTRY.register(
            ModelBundle.create(depth=2, base_channels=4), "tissue", trained_on=layer_key(meal)
        )
        REGISTRY.remove(newer)
        assert widget.model_combo.model_name() == "nuclei-3d"
    finally:
        REGISTRY.remove(name)


def test_object_size_is_used_and_reported(qtbot, segment):
    viewer, widget = segment
    bundle = REGISTRY.get(widget.model_combo.model_name())
    bundle.set_object_size(16.0)
    viewer.add_image(np.random.default_rng(0).random((64, 96), np.float32), name="img")
    widget.size_spin.setValue(8.0)
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [unet]"].data.shape == (64, 96)
    assert "8 px (given)" in widget.size_info.text() and "resampled" in widget.size_info.text()


def test_the_size_line_and_status_describe_only_an_open_chosen_image(qtbot, segment):
    """The size line and the status went on describing an image that was removed (and
    the size line another image than the chosen one)."""
    viewer, widget = segment
    REGISTRY.get(widget.model_combo.model_name()).set_object_size(16.0)
    first = viewer.add_image(np.random.default_rng(0).random((64, 96), np.float32), name="a")
    widget.size_spin.setValue(8.0)
    _run_and_wait(qtbot, widget)
    said = widget.size_info.text()
    assert "8 px (given)" in said and "a:" in widget.status.text()
    other = viewer.add_image(np.zeros((32, 32), np.float32), name="b")
    widget.image_combo.set_layer(other)
    assert widget.size_info.text() == "" and "a:" in widget.status.text()
    widget.image_combo.set_layer(first)
    assert widget.size_info.text() == said  # its own line again
    viewer.layers.remove(first)
    assert widget.image_combo.layer() is not first
    assert widget.size_info.text() == "" and widget.status.text() == ""


def test_a_frame_around_the_image_is_said_and_left_background(qtbot, segment):
    """A zero-padded mosaic: the frame is background and the size line says so."""
    viewer, widget = segment
    inside = 1 + np.random.default_rng(0).random((64, 96), np.float32)
    viewer.add_image(np.pad(inside, ((10, 10), (0, 30))), name="mosaic")
    _run_and_wait(qtbot, widget)
    labels = viewer.layers["mosaic [unet]"].data
    assert labels.shape == (84, 126) and not labels[:10].any() and not labels[:, 96:].any()
    assert "A frame of value 0 (10-30 px wide)" in widget.size_info.text()


def test_an_unsure_model_says_so_with_the_result(qtbot, segment):
    """A model whose answers all sit near 0.5 marks the image but is sure of nothing:
    the result line says so and points to fine-tuning."""
    from constant_models import constant_model

    viewer, widget = segment
    bundle = constant_model(0.6, REGISTRY.get(widget.model_combo.model_name()))
    viewer.add_image(np.random.default_rng(0).random((64, 96), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    assert (viewer.layers["img [unet]"].data == 1).all()
    status = widget.status.text()
    assert status.startswith("img: ") and "\nThe model is unsure on this image: only 0% " in status
    assert "fine-tuning" in status and "unsure" not in widget.size_info.text()
    # One click sets Fine-tune up for it: this image, this model, a layer to paint on.
    assert widget.finetune_button.isVisibleTo(widget)
    made_by = widget.model_combo.model_name()
    widget.model_combo.set_model_name("nuclei-2d")  # the box changed after the run
    tune = widget.fine_tune_here()
    assert tune.image_combo.layer() is viewer.layers["img"]
    assert tune.start_combo.model_name() == made_by  # the model that made the labels
    widget.model_combo.set_model_name(made_by)
    scribbles = tune.labels_combo.layer()
    assert scribbles is viewer.layers["img scribbles"] and scribbles.data.shape == (64, 96)
    assert viewer.layers.selection.active is scribbles and scribbles.mode == "paint"
    # a second click reuses the unpainted layer
    viewer.layers.selection.active = viewer.layers["img"]
    assert widget.fine_tune_here().labels_combo.layer() is scribbles
    assert [layer.name for layer in viewer.layers].count("img scribbles") == 1
    assert not any(layer.name.startswith("img scribbles ") for layer in viewer.layers)
    assert viewer.layers.selection.active is scribbles
    # the model gone from the lists since (a saved model's file deleted): Fine-tune opens
    # all the same, on the image (KeyError: "not in the list"; lifecycle bug bash)
    tune.start_combo.removeItem(tune.start_combo.findText(made_by))
    assert widget.fine_tune_here().image_combo.layer() is viewer.layers["img"]
    tune.start_combo.refresh()
    # A sure result hides the button again.
    constant_model(0.95, bundle)
    _run_and_wait(qtbot, widget)
    assert "unsure" not in widget.status.text()
    assert not widget.finetune_button.isVisibleTo(widget)


def _tiny_fine_tune(viewer, preview: bool):
    """A nuclei image "img", Fine-tune docked to train a new tiny model on it for 2 steps,
    strokes painted; returns the Fine-tune widget and the scribble layer."""
    from napari_unetseg._qt.finetune import SCRATCH
    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

    image, mask = synthetic_nuclei((96, 96), seed=0)
    viewer.add_image(image, name="img")
    _, tune = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    tune.start_combo.set_model_name(SCRATCH)
    tune.size_combo.setCurrentText("tiny (quick experiments)")
    tune.budget_unit.setCurrentText("steps")
    tune.budget_spin.setValue(2)
    tune.preview_check.setChecked(preview)
    tune.new_scribble_layer()
    strokes = viewer.layers["img scribbles"]
    strokes.data = synthetic_scribbles(mask, seed=0)
    return tune, strokes


def test_an_unsure_model_trained_on_the_image_points_to_continue_training(
    qtbot, segment, tiny_model_2d
):
    """A model just trained on this image and unsure on it was sent to fine-tune, and
    the button opened a fine-tuning from it on a new, empty layer (journey bash): the
    hint and the button say Continue training, and the click selects the strokes it
    was trained on."""
    from constant_models import constant_model

    viewer, widget = segment
    tune, strokes = _tiny_fine_tune(viewer, preview=False)
    with qtbot.waitSignal(tune.runner.finished, timeout=WAIT_MS):
        assert tune.train() is not None
    constant_model(0.6, tune.trained)  # unsure everywhere
    widget.image_combo.set_layer(viewer.layers["img"])
    widget.model_combo.set_model_name(tune.trained_name)
    _run_and_wait(qtbot, widget)
    status = widget.status.text()
    assert "it was trained on this image: a few more strokes where it is unsure" in status
    assert "fine-tuning it on a few painted dots" not in status
    assert widget.finetune_button.text() == "Continue training on this image..."
    viewer.layers.selection.active = viewer.layers["img"]
    assert widget.fine_tune_here() is tune
    assert tune.labels_combo.layer() is strokes
    assert viewer.layers.selection.active is strokes
    assert strokes.mode == "paint" and "then press Continue training" in tune.status.text()
    assert [layer.name for layer in viewer.layers if "scribbles" in layer.name] == [strokes.name]
    # a newer model trained on it since: Fine-tune continues that one, so the older one
    # is sent to fine-tune (it was promised a Continue that trained the newest; review)
    from napari_unetseg._qt._common import layer_key

    newer = REGISTRY.register(
        constant_model(0.6), "newer", trained_on=layer_key(viewer.layers["img"])
    )
    try:
        _run_and_wait(qtbot, widget)
        assert widget.finetune_button.text() == "Fine-tune on this image..."
        assert "fine-tuning it on a few painted dots" in widget.status.text()
    finally:
        REGISTRY.remove(newer)
    # another model unsure on it (the fixture's): fine-tuning, as before
    constant_model(0.6, REGISTRY.get(tiny_model_2d))
    widget.model_combo.set_model_name(tiny_model_2d)
    _run_and_wait(qtbot, widget)
    assert "fine-tuning it on a few painted dots" in widget.status.text()
    assert widget.finetune_button.text() == "Fine-tune on this image..."


def test_new_labels_hide_fine_tunes_preview_until_the_next_training(qtbot, segment):
    """An earlier model's preview outlines, cut straight at the previewed region's edge,
    lay over Segment's new labels and were read as theirs (journey bash): a run hides
    the image's preview and unsure layers; the next training shows its preview again."""
    viewer, widget = segment
    tune, _ = _tiny_fine_tune(viewer, preview=True)

    def train():
        with qtbot.waitSignal(tune.runner.finished, timeout=WAIT_MS):
            assert tune.train() is not None

    train()
    preview = viewer.layers["img [preview]"]
    assert preview.visible
    widget.image_combo.set_layer(viewer.layers["img"])
    _run_and_wait(qtbot, widget)
    assert not preview.visible and viewer.layers["img [unet]"].visible
    assert "img [preview]" in viewer.layers  # hidden, not removed
    train()
    assert viewer.layers["img [preview]"].visible


def test_an_rgb_layer_is_segmented_as_grey(qtbot, segment):
    """A PNG-like RGB layer (napari opens it with ``rgb=True``) and a one-channel model:
    the labels cover the plane and the size line says the image was taken as grey."""
    viewer, widget = segment
    plane = (np.random.default_rng(0).random((64, 96)) * 255).astype(np.uint8)
    layer = viewer.add_image(np.stack([plane] * 3, axis=-1), name="photo", rgb=True)
    assert layer.rgb
    _run_and_wait(qtbot, widget)
    assert viewer.layers["photo [unet]"].data.shape == (64, 96)
    assert widget.size_info.text().startswith(
        "The RGB image is grey (R = G = B): one channel is used."
    )


def test_a_colour_is_chosen_for_a_fluorescence_rgb_layer(qtbot, segment, tmp_path):
    """An RGB export of a two-stain image (nuclei in blue, another stain in red) was
    segmented on the mean of its colours, with no way to choose the nuclear stain (Dice
    0.973 against 0.986 on blue; colour bug bash). The Colour row, shown for colour
    layers and one-channel models only, segments the chosen colour alone, as
    ``channel=2`` does, and the provenance and the copied command name it."""
    from napari_unetseg import api

    viewer, widget = segment
    rng = np.random.default_rng(3)
    rgb = (rng.random((64, 80, 3)) * 200).astype(np.uint8)
    rgb[..., 2] = 0
    rgb[20:40, 30:50, 2] = 250
    grey = viewer.add_image(rgb[..., 0], name="grey")
    widget.image_combo.set_layer(grey)
    assert not widget.colour_combo.isVisibleTo(widget)  # a grey layer: no colour to choose
    layer = viewer.add_image(rgb, name="two stains", rgb=True)
    widget.image_combo.set_layer(layer)
    assert widget.colour_combo.isVisibleTo(widget)
    widget.colour_combo.setCurrentIndex(widget.colour_combo.findText("blue"))
    _run_and_wait(qtbot, widget)
    out = viewer.layers["two stains [unet]"]
    model = widget.model_combo.model_name()
    expected = api.predict(rgb, model, channel_axis=2, channel=2)
    np.testing.assert_array_equal(out.data, expected)
    assert out.metadata["unetseg"]["settings"]["channel"] == 2
    command = widget.copy_command(folder=str(tmp_path)).reproduction.argv
    assert command[command.index("--channel") + 1] == "2"
    from napari_unetseg import _io, cli

    assert cli.main(command[1:]) == 0  # the command gives the widget's labels
    written = command[command.index("--output") + 1]
    np.testing.assert_array_equal(_io.read_image(written).data, expected)
    widget.colour_combo.setCurrentIndex(widget.colour_combo.findText("auto"))
    assert widget.settings().channel is None


def _open_store(viewer, path, data, axes):
    """``data`` written as an OME-Zarr store at ``path`` and opened with our reader."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    write_image(data, group, axes=axes, fmt=FormatV04(), scale_factors=())
    [layer] = viewer.open(str(path), plugin="napari-unetseg")
    return layer


def test_a_big_ome_zarr_layer_is_segmented_into_its_own_store(
    qtbot, segment, monkeypatch, tmp_path, tiny_model_2d
):
    from napari_unetseg import _zarr, api
    from napari_unetseg._qt import segment_job

    viewer, widget = segment
    data = np.random.default_rng(7).random((3, 80, 96)).astype(np.float32)
    store = tmp_path / "big.ome.zarr"
    layer = _open_store(viewer, store, data, "zyx")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)  # "bigger than memory"
    widget.image_combo.set_layer(layer)
    _run_and_wait(qtbot, widget)
    out = viewer.layers["big [unet]"].data
    assert not isinstance(out, np.ndarray)  # read lazily from the store
    assert "labels/" in widget.status.text()
    written = _zarr.read_ome_zarr(store)
    assert list(written.labels) == [api.load_model(tiny_model_2d).name]
    np.testing.assert_array_equal(
        np.asarray(out), api.predict(data, tiny_model_2d, object_size=None)
    )
    # where they live, for the commands that name them (Validate's)
    where = viewer.layers["big [unet]"].metadata["zarr_labels"]
    assert where == str(store / "labels" / api.load_model(tiny_model_2d).name)
    # planes of a whole slide's size: shown as levels, the store's and halvings of them
    monkeypatch.setattr(segment_job, "PYRAMID_PLANE_PIXELS", 50 * 50)
    monkeypatch.setattr(segment_job, "PYRAMID_TOP_EDGE", 48)
    _run_and_wait(qtbot, widget)
    shown = viewer.layers["big [unet]"]
    assert shown.multiscale and [lv.shape for lv in shown.data] == [(3, 80, 96), (3, 40, 48)]
    np.testing.assert_array_equal(np.asarray(shown.data[0]), np.asarray(out))
    # a plane segmented in memory: the store's labels are kept (a plane's run replaced
    # them with zeros but for the plane; multiscale bash), and the plane's labels do
    # not say they live in the store
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1 << 40)
    widget.plane_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    assert viewer.layers["big [unet]"].metadata["zarr_labels"] == where
    assert "where this plane's result cannot be added, so it was kept" in widget.status.text()
    assert "zarr_labels" not in viewer.layers["big [unet 2]"].metadata


def _run_and_cancel_at_first_record(qtbot, widget):
    """Run, and press Cancel once the first progress record comes."""
    cancelled = []

    def cancel_on_first_block(record):
        if not cancelled:
            cancelled.append(record)
            widget.cancel()

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        worker = widget.run()
        worker.yielded.connect(cancel_on_first_block)
    assert cancelled and widget.status.text() == "Cancelled; no layer was changed."


def test_a_first_run_into_the_store_cancelled_leaves_the_store_as_it_was(
    qtbot, segment, monkeypatch, tmp_path
):
    """A cancelled first run left an empty labels/ group (no labels list) in the user's
    image store (big-data bash)."""
    from napari_unetseg._qt import segment_job
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")
    data = np.stack([synthetic_nuclei((128, 128), seed=i)[0] for i in range(6)])
    store = tmp_path / "cells.ome.zarr"
    layer = _open_store(viewer, store, data.astype(np.float32), "zyx")
    before = sorted(str(p.relative_to(store)) for p in store.rglob("*"))
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)  # "bigger than memory"
    widget.image_combo.set_layer(layer)
    _run_and_cancel_at_first_record(qtbot, widget)
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*")) == before


def test_a_run_into_the_store_cancelled_half_way_leaves_the_earlier_labels(
    qtbot, segment, monkeypatch, tmp_path
):
    """A second run replaced the first's labels in the store block by block: cancelled,
    the layer showing the first run's labels showed the unfinished blocks and the store
    listed no labels, under "no layer was changed" (a sixth of the nuclei left)."""
    from napari_unetseg import _zarr
    from napari_unetseg._qt import segment_job
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")
    data = np.stack([synthetic_nuclei((128, 128), seed=i)[0] for i in range(6)])
    store = tmp_path / "cells.ome.zarr"
    layer = _open_store(viewer, store, data.astype(np.float32), "zyx")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)  # "bigger than memory"
    widget.image_combo.set_layer(layer)
    _run_and_wait(qtbot, widget)
    first = np.asarray(viewer.layers["cells [unet]"].data)
    assert first.any() and not (store / "labels" / "nuclei-2d.unfinished").exists()
    _run_and_cancel_at_first_record(qtbot, widget)
    np.testing.assert_array_equal(np.asarray(viewer.layers["cells [unet]"].data), first)
    assert list(_zarr.read_ome_zarr(store).labels) == ["nuclei-2d"]
    assert sorted(os.listdir(store / "labels")) == [".zattrs", ".zgroup", "nuclei-2d"]
    # a cluster's block still running at the cancel writes a chunk after it: no store
    # of ours there, the next run writes there anyway
    (store / "labels" / "nuclei-2d.unfinished" / "0").mkdir(parents=True)
    (store / "labels" / "nuclei-2d.unfinished" / "0" / "0.0.0").write_bytes(b"late")
    _run_and_wait(qtbot, widget)
    assert "Written block by block" in widget.status.text(), widget.status.text()
    np.testing.assert_array_equal(np.asarray(viewer.layers["cells [unet]"].data), first)
    assert sorted(os.listdir(store / "labels")) == [".zattrs", ".zgroup", "nuclei-2d"]


def test_touching_objects_of_a_big_ome_zarr_layer_are_split_in_its_store(
    qtbot, segment, monkeypatch, tmp_path
):
    from napari_unetseg._qt import segment_job
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.postprocess import split_stack

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")
    data = synthetic_nuclei((128, 160), seed=2)[0].astype(np.float32)
    layer = _open_store(viewer, tmp_path / "cells.ome.zarr", data, "yx")
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 1000)  # "bigger than memory"
    widget.image_combo.set_layer(layer)
    _run_and_wait(qtbot, widget)
    semantic = np.asarray(viewer.layers["cells [unet]"].data)
    widget.split_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    assert "labels/" in widget.status.text()
    assert "touching ones split apart" in widget.status.text(), widget.status.text()
    split = np.asarray(viewer.layers["cells [unet]"].data)
    expected = split_stack(semantic, tuple(layer.scale), 2)  # what a one-process run splits
    fg = split > 0
    assert np.array_equal(fg, expected > 0) and len(np.unique(expected)) > 10
    pairs = np.unique(np.stack([split[fg], expected[fg]]), axis=1).shape[1]
    assert pairs == len(np.unique(split[fg])) == len(np.unique(expected[fg]))


def test_copy_as_command_names_an_ome_zarr_store_instead_of_copying_it(
    qtbot, segment, monkeypatch, tmp_path, tiny_model_2d
):
    # a whole slide's store copied into a TIFF for the command would be as big as the
    # store: the command names the store (and its channel), and writes into it as Run does
    from napari_unetseg import _zarr, api, cli
    from napari_unetseg._qt import segment_job

    viewer, widget = segment
    widget.model_combo.set_model_name(tiny_model_2d)
    data = np.random.default_rng(8).random((2, 48, 64)).astype(np.float32)
    store = tmp_path / "two.ome.zarr"
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(data, group, axes="cyx", fmt=FormatV04(), scale_factors=())
    first, magenta = viewer.open(str(store), plugin="napari-unetseg")  # a layer per channel
    widget.image_combo.set_layer(magenta)
    rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
    argv = rep.argv
    assert argv[2] == str(store.resolve()) and argv[argv.index("--channel") + 1] == "1"
    assert not list((tmp_path / "saved").glob("*.tif"))  # no copy of the image
    assert argv[argv.index("--output") + 1].endswith("two_labels.tif")
    assert cli.main([*argv[1:], "--object-size", "off"]) == 0
    monkeypatch.setattr(segment_job, "LAZY_OUTPUT_BYTES", 100)  # Run writes into the store
    rep = widget.copy_command(folder=str(tmp_path / "saved")).reproduction
    assert rep.argv[rep.argv.index("--output") + 1] == str(store.resolve())
    assert cli.main([*rep.argv[1:], "--object-size", "off"]) == 0
    name = api.load_model(tiny_model_2d).name
    # under the store's labels/ group, named by model and channel
    assert list(_zarr.read_ome_zarr(store).labels) == [f"{name}-c1"]
    # Run on the other channel adds its labels instead of replacing channel 1's.
    widget.image_combo.set_layer(first)
    _run_and_wait(qtbot, widget)
    assert sorted(_zarr.read_ome_zarr(store).labels) == [f"{name}-c0", f"{name}-c1"]


def test_a_3d_model_on_a_time_series_is_refused(qtbot, segment, monkeypatch):
    """Axes named t, y, x: a 3D model chosen by hand would take time for Z (the command
    line refuses it too); a 2D model runs."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(4).random((3, 40, 48), np.float32), name="movie")
    viewer.dims.axis_labels = ("t", "y", "x")
    refused: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", refused.append)
    widget.model_combo.set_model_name("nuclei-3d")
    assert widget.run() is None and "(time, no Z): choose a 2D model" in refused[-1]
    assert [layer.name for layer in viewer.layers] == ["movie"]
    widget.model_combo.set_model_name("nuclei-2d")
    _run_and_wait(qtbot, widget)
    assert viewer.layers["movie [unet]"].data.shape == (3, 40, 48)


def test_folded_settings_take_no_keyboard_focus(segment):
    """Tab went through the nine controls folded under "Advanced settings" (and the
    arrow keys changed them unseen); folded, they take no focus, unfolded as before."""
    from qtpy.QtCore import Qt

    _, widget = segment
    assert not widget.advanced.isExpanded()
    assert widget.tile_spin.focusPolicy() == Qt.FocusPolicy.NoFocus
    widget.advanced.expand(animate=False)
    assert widget.tile_spin.focusPolicy() != Qt.FocusPolicy.NoFocus
    widget.advanced.collapse(animate=False)
    assert widget.tile_spin.focusPolicy() == Qt.FocusPolicy.NoFocus
    # Its toggle says what it does and leads the folded controls in the Tab order (Tab
    # reached it after them, jumping back up: bug bash).
    from qtpy.QtWidgets import QPushButton

    toggle = widget.advanced.findChild(
        QPushButton, options=Qt.FindChildOption.FindDirectChildrenOnly
    )
    assert toggle.toolTip() == "Show or hide the advanced settings."
    # folded, its arrow points right (superqt's pointed up; GUI bash)
    fold = widget.advanced

    def ink(icon):  # the glyph's shape (its colour follows the theme)
        from qtpy.QtGui import QImage

        image = icon.pixmap(32, 32).toImage().convertToFormat(QImage.Format.Format_Alpha8)
        bits = np.frombuffer(image.constBits().asarray(image.sizeInBytes()), np.uint8)
        return bits.reshape(image.height(), image.bytesPerLine())[:, : image.width()] / 255

    mask = ink(fold.collapsedIcon())
    half = mask.shape[1] // 2
    assert mask[:, :half].sum() > 1.3 * mask[:, half:].sum()  # a base on the left: it points right
    widget.advanced.expand(animate=False)
    after = toggle.nextInFocusChain()
    while after.focusPolicy() & Qt.FocusPolicy.TabFocus == 0:
        after = after.nextInFocusChain()
    assert widget.advanced.isAncestorOf(after) and after is not toggle


def test_an_image_given_other_data_during_the_run_gets_no_labels_of_the_old(qtbot, segment):
    """New data of the same shape got the labels of the data segmented (bug bash)."""
    viewer, widget = segment
    layer = viewer.add_image(np.random.default_rng(3).random((64, 64), np.float32), name="img")
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        assert widget.run() is not None
        layer.data = np.zeros((64, 64), np.float32)  # before the result reaches the widget
    assert "img [unet]" not in [lay.name for lay in viewer.layers]
    assert "got other data during the run" in widget.status.text()
    _run_and_wait(qtbot, widget)  # the same data throughout: labels as ever
    assert "img [unet]" in [lay.name for lay in viewer.layers]


def test_the_labels_of_a_channel_layer_record_its_channel(qtbot, segment, tmp_path):
    """The record named the two-channel file with no channel, which `unetseg predict`
    refuses ("2 channels"; reproducibility bug bash); it names the channel and what ran."""
    from napari_unetseg import _io

    viewer, widget = segment
    two = np.random.default_rng(4).random((2, 48, 48)).astype(np.float32)
    path = _io.write_image(tmp_path / "mc.tif", two, axes="CYX")
    _, second = viewer.open(str(path), plugin="napari-unetseg")
    widget.image_combo.set_layer(second)
    _run_and_wait(qtbot, widget)
    [out] = [lay for lay in viewer.layers if lay.name.endswith("[unet]")]
    record = out.metadata["unetseg"]
    assert record["settings"]["channel"] == 1 and record["input"] == "mc.tif"
    assert record["ran"]["device"] == "cpu"


def test_the_command_of_a_plane_run_says_its_object_size_was_the_planes(segment, tmp_path):
    """The plane's labels differed from the command's on that plane (up to 632 of 16,384
    pixels) and the note said only "segments every plane" (reproducibility bug bash)."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(5).random((3, 48, 48), np.float32), name="st")
    widget.plane_check.setChecked(True)
    notes = widget.copy_command(folder=str(tmp_path)).reproduction.notes
    assert any("measures the object size on the whole stack" in n for n in notes), notes
    # and its labels of the plane may differ a little: intensities scaled by the stack's
    # (21 pixels differed once, unsaid; reproducibility bash)
    assert any("may differ from the run's by a few pixels" in n for n in notes), notes


def test_the_command_of_a_plane_run_passes_the_size_measured_on_it(qtbot, segment, tmp_path):
    """After a run on one plane, the command passes the object size measured there, so it
    gives that plane's labels (it measured the whole stack, here mostly small nuclei)."""
    from napari_unetseg import _io, cli
    from napari_unetseg.core.scale import estimate_object_size
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    planes = [
        synthetic_nuclei((128, 128), seed=s, radius=r, dtype="float32")[0]
        for s, r in ((1, (4, 6)), (2, (14, 18)), (3, (14, 18)))
    ]
    stack = np.stack(planes)
    viewer.add_image(stack, name="st")
    widget.model_combo.set_model_name("nuclei-2d")
    widget.plane_check.setChecked(True)
    viewer.dims.set_point(0, 1)
    _run_and_wait(qtbot, widget)
    shown = np.asarray(viewer.layers["st [unet]"].data)
    rep = widget.copy_command(folder=str(tmp_path)).reproduction
    size = float(rep.argv[rep.argv.index("--object-size") + 1])
    assert size == pytest.approx(estimate_object_size(planes[1]).diameter, abs=0.01)
    assert abs(size - estimate_object_size(stack).diameter) > 5  # what the stack measures
    assert any("the last run measured on plane 1 alone" in n for n in rep.notes), rep.notes
    assert cli.main(rep.argv[1:]) == 0
    out = np.asarray(_io.read_image(rep.argv[rep.argv.index("--output") + 1]).data)[1] > 0
    plane = (shown[1] if shown.ndim == 3 else shown) > 0
    assert np.count_nonzero(out != plane) <= 0.002 * plane.size


def test_the_dna_stain_channel_is_chosen_first(make_napari_viewer, tmp_path):
    """Opened before the widget, a DAPI / GFP / mCherry file left mCherry on top, and
    Segment ran on it: 0 % foreground without a word (RGB bug bash)."""
    import tifffile

    channels = np.random.default_rng(0).random((3, 48, 48)).astype(np.float32)
    path = tmp_path / "three.ome.tif"
    tifffile.imwrite(path, channels, ome=True, photometric="minisblack",
                     metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP", "mCherry"]}})  # fmt: skip
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-unetseg")
    assert viewer.layers[-1].name == "three [mCherry]"  # the top layer
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    assert widget.image_combo.layer().name == "three [DAPI]"
    viewer.add_image(np.zeros((48, 48), np.float32), name="other")  # the choice is kept
    assert widget.image_combo.layer().name == "three [DAPI]"


def test_copy_as_command_follows_the_layers_scale_and_axes(segment, tmp_path):
    """The command named the TIFF a stack was opened from after its Z step was changed
    in napari (22 objects in the widget, 17 from the command), and saved a time series
    labelled t, y, x as a Z stack (bug bash): the file is named only while it gives the
    layer's pixel size and axes; else a copy that does is saved."""
    from napari_unetseg import _io

    viewer, widget = segment
    src = _io.write_image(
        tmp_path / "stack.tif",
        np.random.default_rng(5).random((4, 32, 32), np.float32),
        axes="ZYX",
        scale=(0.5, 0.5, 0.5),
        units=("µm",) * 3,
    )
    [layer] = viewer.open(str(src), plugin="napari-unetseg")
    widget.image_combo.set_layer(layer)

    def image_named() -> str:
        return widget.copy_command(folder=str(tmp_path / "saved")).reproduction.argv[2]

    assert image_named() == str(src.resolve())
    layer.scale = (4.0, 0.5, 0.5)
    named = image_named()
    assert named != str(src.resolve())
    assert _io.read_image(named).scale == pytest.approx((4.0, 0.5, 0.5))
    movie = viewer.add_image(np.random.default_rng(6).random((3, 32, 32), np.float32), name="m")
    movie.axis_labels = ("t", "y", "x")
    widget.image_combo.set_layer(movie)
    assert _io.read_image(image_named()).axes == "TYX"


def test_objects_of_a_series_are_said_over_its_time_points(qtbot, segment):
    """ "2333 objects" of a 20-frame movie read as one frame's (time-lapse bash): the
    count of a series says over how many time points, and about how many in each."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    movie = np.stack([synthetic_nuclei((96, 96), seed=s)[0] for s in range(3)])
    layer = viewer.add_image(movie, name="movie")
    layer.axis_labels = ("t", "y", "x")
    widget.image_combo.set_layer(layer)
    widget.model_combo.set_model_name("nuclei-2d")
    widget.split_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    n = int(viewer.layers["movie [unet]"].data.max())
    assert n > 3
    each = f"{n / 3:.{0 if n >= 30 else 1}f}"
    assert f"movie: {n:,} objects over 3 time points, {each} in each on average (" in (
        widget.status.text()
    )


def test_the_status_line_shows_the_share_done_while_a_run_goes_on(qtbot, segment):
    """A 100-frame movie said "Segmenting 'big'..." for minutes (the bar is in napari's
    activity dock; time-lapse bash): the status line counts up to 100 %."""
    viewer, widget = segment
    viewer.add_image(np.random.default_rng(0).random((3, 128, 128), np.float32), name="img")
    seen = []
    show = widget._progress

    def progress(started, record, split=False):
        show(started, record, split)
        seen.append(widget.status.text())

    widget._progress = progress
    _run_and_wait(qtbot, widget)
    assert seen and seen[-1] == "Segmenting 'img'... 100 %"
    assert all(text.startswith("Segmenting 'img'... ") for text in seen)
    assert widget.status.text().startswith("img: ")  # the result's line after it
    # a block run's later stages count again from 0: named (review); a split in memory
    # comes after the prediction's 100 %
    from napari_unetseg.distributed import BlockProgress

    widget._progress("Segmenting 'img'...", BlockProgress(1, 2, stage="split"))
    assert widget.status.text() == "Segmenting 'img'... splitting touching objects 50 %"
    widget._progress("Segmenting 'img'...", BlockProgress(2, 2), split=True)
    assert widget.status.text() == "Segmenting 'img'... 100 %; finishing..."


def test_one_object_half_the_image_across_is_said_with_the_result(qtbot, segment):
    """A brain MR segmented by a nuclei model as one object: the advice to train a new
    model was only in the grey size line (medical bash); it is on the result's line."""
    viewer, widget = segment
    yy, xx = np.mgrid[:160, :150]
    organ = ((yy - 80) ** 2 / 70**2 + (xx - 75) ** 2 / 60**2 < 1) * 100.0
    noise = np.random.default_rng(0).normal(10, 3, organ.shape)
    viewer.add_image((organ + noise).astype(np.float32), name="organ")
    widget.model_combo.set_model_name("nuclei-2d")
    _run_and_wait(qtbot, widget)
    said = "The image shows one object half its width or more across: if it is no nucleus"
    assert said in widget.status.text() and said not in widget.size_info.text()
    assert widget.size_info.text().startswith("Object size auto:")


def test_a_series_count_of_few_objects_says_a_fraction_per_time_point():
    """ "3 objects over 20 time points, about 0 in each" (review)."""
    from napari_unetseg._qt.segment_job import _summary

    labels = np.zeros((20, 8, 8), np.uint16)
    labels[0, 0, :3] = [1, 2, 3]
    said = _summary(labels, True, {"seconds": 1.0, "device": "cpu"}, frames=20)
    assert said == "3 objects over 20 time points, 0.1 in each on average (1.0 s on cpu)."
    none = _summary(labels * 0, True, {"seconds": 1.0, "device": "cpu"}, frames=20)
    assert none == "0 objects over 20 time points, none in each on average (1.0 s on cpu)."


def test_the_result_line_times_the_whole_run_not_the_prediction_alone(tiny_model_2d):
    """The line said the prediction's 2.7 s of a 7.5 s run that measured the objects and
    split them (viewer bug bash)."""
    from napari_unetseg._qt.segment_job import SegmentRequest, segment_job
    from napari_unetseg.core.progress import drain
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = synthetic_nuclei((256, 256), seed=0)[0].astype(np.float32)
    request = SegmentRequest(image=image, model=tiny_model_2d, split=True, options={})
    result = drain(segment_job(request))
    whole, predicted = result.stats["run_seconds"], result.stats["seconds"]
    assert whole > predicted
    assert result.summary.endswith(f"({whole:.1f} s on cpu).")


def test_a_run_uses_the_viewers_thread_count_of_the_moment(qtbot, segment, monkeypatch):
    """A pool thread keeps the torch thread count it was started with: a count set in
    the viewer afterwards was not used by Segment (concurrency bug bash); the run takes
    the count of the moment Run is pressed, as Fine-tune does."""
    import torch

    from napari_unetseg import api

    viewer, widget = segment
    viewer.add_image(np.random.default_rng(1).random((48, 48), np.float32), name="img")
    seen: list[int] = []
    load = api.load_model
    monkeypatch.setattr(
        api, "load_model", lambda *a, **k: (seen.append(torch.get_num_threads()), load(*a, **k))[1]
    )
    before = torch.get_num_threads()
    try:
        for count in (1, 2, 1):
            torch.set_num_threads(count)
            _run_and_wait(qtbot, widget)
    finally:
        torch.set_num_threads(before)
    from itertools import groupby

    assert [count for count, _ in groupby(seen)] == [1, 2, 1]  # (a few loads per run)


def test_an_image_of_the_users_named_like_a_map_is_offered(qtbot, segment):
    """An image named "scan [probability]" (a user's own name) was left out of every
    image list: Run stayed off with "Open an image first." (undo bug bash); the maps a
    run makes are still left out."""
    viewer, widget = segment
    scan = viewer.add_image(
        np.random.default_rng(3).random((64, 64), np.float32), name="scan [probability]"
    )
    assert widget.image_combo.layer() is scan and widget.run_button.isEnabled()
    widget.prob_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    made = viewer.layers["scan [probability] [probability]"]
    assert made not in widget.image_combo.layers() and scan in widget.image_combo.layers()


def test_split_objects_get_napari_colours_and_the_users_colours_stay(qtbot, segment):
    """Re-run with split touching objects kept the class colours (101 of 132 objects in
    one grey), and colours the user set on the output were replaced by the next run
    (labels bash)."""
    from napari.utils.colormaps import CyclicLabelColormap, DirectLabelColormap

    viewer, widget = segment
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    out = viewer.layers["img [unet]"]
    assert isinstance(out.colormap, DirectLabelColormap)  # classes: the strokes' colours
    widget.split_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [unet]"] is out
    assert isinstance(out.colormap, CyclicLabelColormap)  # objects: napari's colours
    widget.split_check.setChecked(False)
    _run_and_wait(qtbot, widget)
    assert isinstance(out.colormap, DirectLabelColormap)
    red = DirectLabelColormap(color_dict={None: (0, 0, 0, 0), 1: (1.0, 0.0, 0.0, 1.0)})
    out.colormap = red
    _run_and_wait(qtbot, widget)
    assert viewer.layers["img [unet]"] is out
    assert np.allclose(out.colormap.color_dict[1], (1.0, 0.0, 0.0, 1.0))  # theirs


def test_an_output_replaced_in_place_is_redrawn_once(make_napari_viewer, monkeypatch):
    """Re-running set the output's scale, translate, rotate, shear and affine again
    though they had not changed: six whole redraws where one was needed (1.5 s at
    8000 x 8000; GUI-thread bash). A placement that did change is still set."""
    from napari_unetseg._qt._common import output_layer

    viewer = make_napari_viewer()
    image = viewer.add_image(
        np.zeros((64, 64), np.float32), name="img", scale=(0.5, 0.5), translate=(3, 1)
    )
    out = output_layer(viewer, image, "unet", np.zeros((64, 64), np.uint8))
    redraws = []
    original = out.refresh
    monkeypatch.setattr(out, "refresh", lambda *a, **k: (redraws.append(1), original(*a, **k)))
    assert output_layer(viewer, image, "unet", np.ones((64, 64), np.uint8)) is out
    assert len(redraws) == 1 and out.data.all()
    image.translate = (5, 1)
    output_layer(viewer, image, "unet", np.zeros((64, 64), np.uint8))
    assert tuple(out.translate) == (5.0, 1.0) and tuple(out.scale) == (0.5, 0.5)


def test_an_image_closed_during_its_second_run_says_its_result_was_dropped(qtbot, segment):
    """The line "The image was closed; its result was dropped." was wiped at once by the
    first run's line being forgotten (labels bash): the status was empty."""
    viewer, widget = segment
    image = viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    assert widget.status.text().startswith("img: ")
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        assert widget.run() is not None
        viewer.layers.remove(image)
    assert widget.status.text() in (  # stopped at its next batch, or ended already
        "The image was closed; its result was dropped.",
        "The image was closed; its run was stopped.",
    )


def test_a_run_whose_image_is_closed_stops_at_its_next_batch(qtbot, segment):
    """Deleting the image mid-run let the run go on to its end (22 % -> 31 % -> done, 6 s
    of CPU) before its result was dropped (GUI bash)."""
    viewer, widget = segment
    image = viewer.add_image(np.random.default_rng(3).random((8, 96, 96), np.float32), name="img")
    widget.tile_spin.setValue(32)  # many batches of tiles
    records = []

    def close_at_first(record):
        records.append(record)
        if len(records) == 1:
            viewer.layers.remove(image)

    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        worker = widget.run()
        worker.yielded.connect(close_at_first)
    assert widget.status.text() == "The image was closed; its run was stopped."
    last = records[-1]
    assert last.done < last.total  # it did not go on to the end
    assert [layer.name for layer in viewer.layers] == []


def test_object_size_box_offers_auto_and_off_and_takes_no_size_under_a_pixel(qtbot, segment):
    """The box could not choose off (the image's own scale) and took 0.1-0.9 px, refused
    only when the run began (object-size bug bash)."""
    from qtpy.QtTest import QTest

    viewer, widget = segment
    box = widget.size_spin
    REGISTRY.get(widget.model_combo.model_name()).set_object_size(16.0)
    assert box.text() == "auto" and widget.settings().object_size == "auto"
    box.stepDown()
    assert box.text() == "off" and widget.settings().object_size is None
    box.stepUp()
    box.stepUp()
    assert box.text() == "1.0 px" and widget.settings().object_size == 1.0
    box.setValue(1.5)
    box.stepDown()  # not 0.5 px, which the run refuses (review)
    assert widget.settings().object_size == 1.0
    assert box.lineEdit().selectedText() == "1.0 px"  # a digit typed replaces it
    box.stepDown()
    assert widget.settings().object_size == "auto"
    box.setValue(5.0)
    box.stepBy(-10)  # PageDown: 1 px, not past it to off
    assert widget.settings().object_size == 1.0

    def typed(text):
        box.lineEdit().selectAll()
        QTest.keyClicks(box.lineEdit(), text)
        QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)
        return widget.settings().object_size

    assert typed("off") is None and typed("auto") == "auto"
    assert typed("12.5") == 12.5 and box.text() == "12.5 px"
    assert typed("0.5") == 1.0 and typed("0") == "auto" and typed("-3") == 3.0  # no minus
    assert typed("14 px") == 14.0
    typed("off")
    viewer.add_image(np.random.default_rng(0).random((64, 96), np.float32), name="img")
    _run_and_wait(qtbot, widget)
    assert "off" in widget.size_info.text() and "own scale" in widget.size_info.text()


def test_dark_objects_box_segments_dark_nuclei_and_the_size_line_suggests_it(qtbot, segment):
    """Dark nuclei on a bright background: the size line says so, and the box swaps dark
    and bright for the model, as invert=True does."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")
    img, _ = synthetic_nuclei((128, 128), seed=5, radius=(8, 10))
    viewer.add_image(img.max() - img, name="dark")
    _run_and_wait(qtbot, widget)
    assert "dark objects on a bright background" in widget.size_info.text()
    widget.invert_check.setChecked(True)
    assert widget.settings().invert is True
    _run_and_wait(qtbot, widget)
    expected = api.segment(img.max() - img, "nuclei-2d", invert=True)  # split, as ticked
    np.testing.assert_array_equal(viewer.layers["dark [unet]"].data, expected)
    assert "dark objects" not in widget.size_info.text()
    # Fine-tune opened on it trains with them swapped too (its model then keeps it)
    tune = widget.fine_tune_here()
    assert tune.settings.invert_check.isChecked() and tune.settings.options(False, 2)["invert"]
    # the tick stays from one model to another, and follows a model that swaps them
    widget.model_combo.set_model_name("nuclei-3d")
    assert widget.invert_check.isChecked()
    swapping = REGISTRY.get("nuclei-2d")
    swapping.invert = True
    name = REGISTRY.register(swapping, "dark nuclei model")
    widget.invert_check.setChecked(False)
    widget.model_combo.set_model_name(name)
    assert widget.invert_check.isChecked()
    widget.model_combo.set_model_name("nuclei-2d")
    assert not widget.invert_check.isChecked()
    tune.settings.start_combo.set_model_name(name)
    assert tune.settings.invert_check.isChecked()


def test_the_dark_objects_hint_offers_the_run_with_dark_and_bright_swapped(
    qtbot, segment, monkeypatch
):
    """With the dark-objects hint the useful action is the run with the box the other way
    (polarity bash: the result offered Fine-tune when the model was unsure instead)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    viewer, widget = segment
    widget.model_combo.set_model_name("nuclei-2d")
    img, _ = synthetic_nuclei((128, 128), seed=5, radius=(8, 10))
    viewer.add_image(img.max() - img, name="dark")
    _run_and_wait(qtbot, widget)
    assert not widget.swap_button.isHidden() and widget.finetune_button.isHidden()
    assert widget.swap_button.text() == "Segment again with dark objects"
    # narrow enough not to widen the dock (its longer words did; UI bash)
    assert widget.swap_button.sizeHint().width() < widget.MIN_WIDTH
    other = REGISTRY.register(REGISTRY.get("nuclei-2d"), "another model")
    widget.model_combo.set_model_name(other)  # the run again is the last run's
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        assert widget.segment_swapped() is not None
    assert widget.swap_button.isHidden() and widget.invert_check.isChecked()
    assert widget.model_combo.model_name() == "nuclei-2d"
    expected = api.segment(img.max() - img, "nuclei-2d", invert=True)  # split, as ticked
    np.testing.assert_array_equal(viewer.layers["dark [unet]"].data, expected)
    # the other way round: bright nuclei segmented with the box ticked
    widget.image_combo.set_layer(viewer.add_image(img, name="bright"))
    _run_and_wait(qtbot, widget)
    assert "bright objects" in widget.swap_button.text() and not widget.swap_button.isHidden()
    # shown under its own image only (it stayed under another and ran the old; review)
    widget.image_combo.set_layer(viewer.layers["dark"])
    assert widget.swap_button.isHidden() and widget.finetune_button.isHidden()
    widget.image_combo.set_layer(viewer.layers["bright"])
    assert not widget.swap_button.isHidden()
    # a cancelled swap run gives the button back
    widget.runner.started.connect(widget.cancel)
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.segment_swapped()
    widget.runner.started.disconnect(widget.cancel)
    assert "Cancelled" in widget.status.text() and not widget.swap_button.isHidden()
    # the last run's model gone: said, not run with another
    import napari_unetseg._qt.segment_widget as segment_widget

    said: list[str] = []
    monkeypatch.setattr(segment_widget, "notify_info", said.append)
    last = widget._last_run
    widget._last_run = (last[0], "a model since removed", last[2])
    assert widget.segment_swapped() is None and "no longer listed" in said[0]
    widget._last_run = last
    with qtbot.waitSignal(widget.runner.finished, timeout=WAIT_MS):
        widget.segment_swapped()
    assert not widget.invert_check.isChecked() and widget.swap_button.isHidden()
    np.testing.assert_array_equal(
        viewer.layers["bright [unet]"].data, api.segment(img, "nuclei-2d")
    )
    # the image given other data: the button was of the data segmented (review)
    widget.invert_check.setChecked(True)
    _run_and_wait(qtbot, widget)
    assert not widget.swap_button.isHidden()
    viewer.layers["bright"].data = img.copy()
    assert widget.segment_swapped() is None and widget.swap_button.isHidden()
    assert not widget.runner.busy
    viewer.layers.remove("bright")  # closed: the button of its run goes with it
    assert widget.swap_button.isHidden() and widget.segment_swapped() is None


def test_a_stack_whose_file_names_no_axes_says_what_to_choose_for_a_movie(
    make_napari_viewer, tmp_path
):
    """A movie saved from numpy (a plain multi-page TIFF) opens as a Z stack and got
    nuclei-3d without a word that the axes were only guessed."""
    import tifffile

    tifffile.imwrite(tmp_path / "movie.tif", np.zeros((6, 64, 64), np.uint16))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    viewer.open(str(tmp_path / "movie.tif"), plugin="napari-unetseg")
    assert widget.model_combo.model_name() == "nuclei-3d"
    assert "its file does not name its axes: if the first is time, choose nuclei-2d" in (
        widget.model_info.text()
    )
    named = _io.write_image(tmp_path / "stack.tif", np.zeros((6, 64, 64), np.uint16), axes="ZYX")
    widget.image_combo.set_layer(viewer.open(str(named), plugin="napari-unetseg")[0])
    assert "Z stack" in widget.model_info.text()
    assert "does not name its axes" not in widget.model_info.text()


def test_the_result_line_counts_regions_and_names_the_way_to_one_label_per_object():
    """ "Foreground: 29.7 % of the pixels" of 253 nuclei said neither how many there were
    nor how to have one label each (GUI bash)."""
    from scipy import ndimage

    from napari_unetseg._qt.segment_job import SegmentRequest, segment_job
    from napari_unetseg.core.progress import drain
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = synthetic_nuclei((256, 256), seed=0)[0].astype(np.float32)
    result = drain(segment_job(SegmentRequest(image=image, model="nuclei-2d", options={})))
    regions = ndimage.label(np.asarray(result.labels) > 0)[1]
    assert regions > 10
    assert f", {regions:,} connected regions (" in result.summary
    assert result.summary.endswith(
        "tick \u201cSplit touching objects\u201d for one label per object."
    )
    empty = drain(segment_job(SegmentRequest(image=np.zeros((64, 64), np.float32),
                                             model="nuclei-2d", options={})))  # fmt: skip
    assert empty.summary.startswith("Foreground: none (")
    from napari_unetseg._qt import segment_job as job

    big = job._summary(np.asarray(result.labels), False, {"seconds": 1.0}, ["bg", "fg"])
    assert "connected regions" in big
    job.COUNT_MAX_VOXELS, before = 1000, job.COUNT_MAX_VOXELS
    try:  # labels too large to count in memory: the share alone, and the hint
        big = job._summary(np.asarray(result.labels), False, {"seconds": 1.0}, ["bg", "fg"])
    finally:
        job.COUNT_MAX_VOXELS = before
    assert "connected" not in big and big.startswith("Foreground: ") and "Split" in big
