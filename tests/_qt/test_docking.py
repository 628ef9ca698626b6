"""The three widgets docked together in one window stay readable (real viewer, Xvfb)."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QApplication, QLabel, QScrollArea


def test_docked_together_no_text_is_clipped(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.window._qt_window.resize(1400, 900)
    viewer.window._qt_window.show()
    widgets = [
        viewer.window.add_plugin_dock_widget("napari-unetseg", name)[1]
        for name in ("Segment", "Fine-tune", "Validate")
    ]
    for _ in range(5):
        QApplication.processEvents()
    for widget in widgets:
        area = widget.findChild(QScrollArea)
        page = area.widget()
        # Nothing is cut at the right: the page fits the visible width.
        assert page.width() <= area.viewport().width(), type(widget).__name__
        for label in page.findChildren(QLabel):
            if label.wordWrap() and label.isVisible() and label.text():
                # A wrapped help text gets the height its width needs (it was squeezed
                # to one clipped line before the widgets scrolled in their docks).
                assert label.height() >= label.heightForWidth(label.width()), label.text()
    hint = widgets[2].mode_hint
    assert hint.height() > 2 * hint.fontMetrics().height()  # several lines, all shown


def test_a_page_that_grows_results_keeps_its_texts_whole(make_napari_viewer, qtbot):
    """Validate alone in a small window: its results make the page scroll, and its form's
    wrapped help text kept the height it had before (two of its five lines were cut)."""
    import numpy as np

    viewer = make_napari_viewer()
    viewer.window._qt_window.resize(951, 651)
    viewer.window._qt_window.show()
    truth = np.zeros((5, 40, 48), np.uint8)
    truth[:, 5:18, 6:20] = 1
    truth[1:4, 24:36, 26:42] = 2
    pred = truth.copy()
    pred[:, 5:18, 6:9] = 0
    viewer.add_labels(truth, name="truth")
    viewer.add_labels(pred, name="pred")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
        widget.run()
    for _ in range(5):
        QApplication.processEvents()
    area = widget.findChild(QScrollArea)
    assert area.verticalScrollBar().isVisible()  # the case: the page scrolls now
    for label in area.widget().findChildren(QLabel):
        if label.wordWrap() and label.isVisible() and label.text():
            assert label.height() >= label.heightForWidth(label.width()), label.text()


def test_a_closed_dock_is_collected_without_a_crash(make_napari_viewer, tiny_model_2d):
    """Closing a Segment or Fine-tune dock and collecting garbage crashed the process
    (SIGSEGV): PyQt ran Python hooks on the widget's ``destroyed`` signal while the
    collector freed it. A model registered afterwards reaches the remaining lists only
    (the closed widget's listener leaves quietly; emitting into it crashed as well)."""
    import gc

    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.registry import REGISTRY

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    for name in ("Segment", "Fine-tune", "Segment"):
        dock, _ = viewer.window.add_plugin_dock_widget("napari-unetseg", name)
        viewer.window.remove_dock_widget(dock)
        gc.collect()
    _, kept = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    listeners = len(REGISTRY._listeners)
    added = REGISTRY.register(ModelBundle.create(depth=2, base_channels=4), "after closing")
    try:
        gc.collect()
        assert added in [kept.model_combo.itemText(i) for i in range(kept.model_combo.count())]
        assert len(REGISTRY._listeners) <= listeners
    finally:
        REGISTRY.remove(added)


def test_the_three_docks_fit_a_720_pixel_screen_with_a_long_layer_name(make_napari_viewer):
    """Docked together they asked for a window 783 px tall (each 220 px at least), and a
    layer name of 80 characters quoted in Fine-tune's counts widened its dock until the
    canvas was a 25-px strip at 1024 px (accessibility bug bash)."""
    viewer = make_napari_viewer()
    name = "a_very_long_experiment_name_2024_03_15_plate07_wellB12_field003_DAPI_channel_x"
    image = np.random.default_rng(0).random((64, 64), np.float32)
    viewer.add_image(image, name=name)
    viewer.add_labels((image > 0.7).astype(np.uint16), name=f"{name}_gt")
    window = viewer.window._qt_window
    before = window.minimumSizeHint()
    for dock in ("Segment", "Fine-tune", "Validate"):
        viewer.window.add_plugin_dock_widget("napari-unetseg", dock)
    for _ in range(5):
        QApplication.processEvents()
    hint = window.minimumSizeHint()
    assert hint.height() <= max(before.height(), 640), hint
    assert hint.width() <= 1024 - 250, hint  # room for the canvas at 1024 px


def test_the_keyboard_reaches_cancel_and_the_status_after_run(make_napari_viewer, qtbot):
    """Space on Run moved the focus to "Apply to folder...", which a second Space opened;
    the status line could not be selected by keyboard; Tab went cell by cell through
    Validate's table (accessibility bug bash)."""
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer()
    window = viewer.window._qt_window
    window.show()
    window.activateWindow()  # the keyboard focus goes to the active window only
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    viewer.add_image(np.random.default_rng(1).random((256, 256), np.float32), name="img")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.run_button.setFocus()
    qtbot.waitUntil(widget.run_button.hasFocus, timeout=5000)
    with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
        qtbot.keyClick(widget.run_button, Qt.Key.Key_Space)
        assert widget.cancel_button.hasFocus()
    assert widget.run_button.hasFocus()  # back to Run when the run ends
    flags = widget.status.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByKeyboard
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    _, validate = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    assert not validate.table.tabKeyNavigation()


def test_hints_read_in_either_theme_and_follow_it(make_napari_viewer):
    """The hints' one "gray" had a contrast of 3.2-3.9 against the dark theme's dock and
    2.8-3.2 against the light one (accessibility bug bash): a grey per theme, 5 or more."""
    from napari_unetseg._qt._plots import hint_colour

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    assert widget.model_info.styleSheet() == f"color: {hint_colour('dark')};"
    viewer.theme = "light"
    assert widget.model_info.styleSheet() == f"color: {hint_colour('light')};"
    _, validate = viewer.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    assert validate.mode_hint.styleSheet() == f"color: {hint_colour('light')};"
    viewer.theme = "dark"
    assert validate.mode_hint.styleSheet() == widget.model_info.styleSheet() == "color: #a0a4ab;"


def test_hints_follow_their_own_viewers_theme(make_napari_viewer):
    """Every hint took the theme of whichever viewer changed last: a light viewer's
    hints turned the dark grey when a second viewer went dark."""
    from napari_unetseg._qt._plots import hint_colour

    first = make_napari_viewer()
    _, one = first.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    second = make_napari_viewer()
    _, two = second.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    first.theme = "light"
    assert one.model_info.styleSheet() == f"color: {hint_colour('light')};"
    assert two.model_info.styleSheet() == f"color: {hint_colour('dark')};"
    second.theme = "light"
    first.theme = "dark"
    assert one.model_info.styleSheet() == f"color: {hint_colour('dark')};"
    assert two.model_info.styleSheet() == f"color: {hint_colour('light')};"


def test_hints_follow_the_viewer_of_their_dock_not_the_current_one(make_napari_viewer):
    """A dock added to a viewer while another was napari's current one followed the
    other's theme (review)."""
    from napari_unetseg._qt._plots import hint_colour

    first = make_napari_viewer()
    second = make_napari_viewer()  # napari's current viewer from here on
    _, dock = first.window.add_plugin_dock_widget("napari-unetseg", "Validate")
    first.theme = "light"
    assert dock.mode_hint.styleSheet() == f"color: {hint_colour('light')};"
    second.theme = "dark"
    assert dock.mode_hint.styleSheet() == f"color: {hint_colour('light')};"


def test_segments_result_line_is_scrolled_into_view(make_napari_viewer, qtbot, tiny_model_2d):
    """At napari's default window size the result line sat below Run and Apply to folder,
    out of the dock's view: a user pressing Run saw nothing happen (viewer bug bash)."""
    viewer = make_napari_viewer()
    viewer.window._qt_window.resize(1066, 651)
    viewer.window._qt_window.show()
    viewer.add_image(np.random.default_rng(0).random((64, 64), np.float32), name="img")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.model_combo.set_model_name(tiny_model_2d)
    widget.advanced.expand(animate=False)  # its settings open: the page is long
    area = widget.findChild(QScrollArea)
    with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
        widget.run()
    for _ in range(5):
        QApplication.processEvents()
    assert area.verticalScrollBar().maximum() > 0  # the case: the page scrolls

    def status_in_view() -> bool:
        top = widget.status.mapTo(area.widget(), widget.status.rect().topLeft()).y()
        shown = area.verticalScrollBar().value()
        return shown <= top and top + widget.status.height() <= shown + area.viewport().height()

    qtbot.waitUntil(status_in_view, timeout=3_000)  # (revealed at the next turn)


def test_a_reveal_that_comes_after_its_dock_closed_does_nothing(qtbot):
    """Segment's result line is revealed at the next turn of the event loop: a dock
    closed before it came raised "wrapped C/C++ object of type QLabel has been deleted"
    in the event loop (clean-clone CI)."""
    from qtpy import sip
    from qtpy.QtWidgets import QWidget

    from napari_unetseg._qt import _builders as ui

    page = QWidget()
    label = QLabel("result", page)
    sip.delete(page)  # the label with it
    ui.reveal(label)  # nothing to scroll, and no error


def test_fine_tunes_curve_and_status_come_into_view_when_training_starts(
    make_napari_viewer, qtbot
):
    """In a 1089 x 630 window the curve and status line of a training run were below the
    fold: only the Stop button told that anything ran (GUI bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

    viewer = make_napari_viewer()
    viewer.window._qt_window.resize(1089, 630)
    viewer.window._qt_window.show()
    image, truth = synthetic_nuclei((96, 96), seed=0)
    viewer.add_image(image, name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    widget.size_combo.setCurrentText("tiny (quick experiments)")
    widget.budget_unit.setCurrentText("steps")
    widget.budget_spin.setValue(400)
    widget.new_scribble_layer().data = synthetic_scribbles(truth, seed=0)
    area = widget.findChild(QScrollArea)
    for _ in range(5):
        QApplication.processEvents()
    area.verticalScrollBar().setValue(0)  # the top of the page, where Paint is

    def in_view(part) -> bool:
        top = part.mapTo(area.widget(), part.rect().topLeft()).y()
        shown = area.verticalScrollBar().value()
        return shown <= top and top + part.height() <= shown + area.viewport().height()

    assert area.verticalScrollBar().maximum() > 0 and not in_view(widget.status)  # the case
    assert widget.train() is not None
    try:
        qtbot.waitUntil(lambda: in_view(widget.status), timeout=3_000)
        assert widget.runner.busy  # while it runs
    finally:
        with qtbot.waitSignal(widget.runner.finished, timeout=60_000):
            widget.stop()


def test_no_dock_is_wider_than_a_small_window_can_spare(make_napari_viewer, tiny_model_2d):
    """Fine-tune's dock could not be narrower than 405 px ("tiny (quick experiments)" in
    its folded settings, three paint buttons side by side): in a 751 x 595 window the
    image beside it was 0 px wide (GUI bash); a saved model's long name made it 517 px
    (review)."""
    from napari_unetseg.core.registry import REGISTRY

    long_name = REGISTRY.register(
        REGISTRY.get(tiny_model_2d), "nuclei of the March experiment, fine-tuned on plates 3 to 9"
    )
    try:
        _docks_fit(make_napari_viewer(), long_name)
    finally:
        REGISTRY.remove(long_name)


def _docks_fit(viewer, model_name: str) -> None:
    viewer.window._qt_window.resize(1089, 630)
    viewer.window._qt_window.show()
    for name in ("Segment", "Fine-tune", "Validate"):
        dock, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", name)
        combo = getattr(widget, "model_combo", None) or getattr(widget, "start_combo", None)
        if combo is not None:
            combo.set_model_name(model_name)
        for _ in range(3):
            QApplication.processEvents()
        assert dock.minimumSizeHint().width() <= 340, name
