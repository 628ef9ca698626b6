"""Small builders for the widgets' forms: one call per control, tooltip included.

The Segment, Fine-tune and Validate widgets build their panels from these (imported as
``ui``), so a panel's ``__init__`` reads as a list of its controls, each with its row
label (:class:`Form`), rather than of setter calls.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ._common import MIN_COMBO_CHARACTERS, shrinkable

#: Least height of a docked widget's scroll area (px) when its controls need more: docked
#: with the other widgets, each still shows a useful part and scrolls for the rest.
MIN_DOCK_HEIGHT = 150

_Field = TypeVar("_Field", bound="QWidget | QLayout")


class _DockScroll(QScrollArea):
    """A vertical scroll area as wide as its page needs, with a modest least height; no
    stop of the Tab key itself (an invisible one after the last button)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def _page_hint(self, hint: Any) -> Any:
        page = self.widget()
        size = page.minimumSizeHint() if hint == "min" else page.sizeHint()
        # Room for the scroll bar as napari's style draws it (wider than its size hint).
        bar = max(
            self.verticalScrollBar().sizeHint().width(),
            self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self),
            self.verticalScrollBar().width() if self.verticalScrollBar().isVisible() else 0,
        )
        size.setWidth(size.width() + bar + 2 * self.frameWidth())
        return size

    def minimumSizeHint(self) -> Any:  # noqa: N802 - Qt API
        size = self._page_hint("min")
        size.setHeight(min(self._page_hint("hint").height(), MIN_DOCK_HEIGHT))
        return size

    def sizeHint(self) -> Any:  # noqa: N802 - Qt API
        return self._page_hint("hint")  # not capped at 24 lines like QScrollArea's

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt API
        # A page whose controls grew (a results table, a longer text) asks its dock
        # again for room; QScrollArea itself only watches the page's size.
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        if watched is self.widget() and event.type() == QEvent.Type.Resize:
            # The page was given another size (it grew results, the scroll bar came or
            # went): QFormLayout would keep its word-wrapped texts' heights from before
            # and cut them. Laid out anew (no loop: that resizes the page no further).
            for layout in self.widget().findChildren(QLayout):
                layout.invalidate()
        return super().eventFilter(watched, event)


class DockWidget(QWidget):
    """The base of the plugin's dock widgets (Segment, Fine-tune, Validate).

    ``napari_viewer`` is injected by napari when the widget is opened from the Plugins
    menu; the widget asks for at least :attr:`MIN_WIDTH` pixels, so its forms and help
    texts stay readable in a fresh dock.
    """

    MIN_WIDTH = 300

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        warm_up()

    def sizeHint(self) -> Any:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), self.MIN_WIDTH))
        return hint

    def enter_button(self) -> QPushButton | None:
        """The button that Enter presses (Run, Train), or None; widgets override it."""
        return None

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Enter in a field of the widget (a number typed into a box, a name, a chosen
        layer) presses :meth:`enter_button` when it is enabled, and Enter on a focused
        button presses that one: it did nothing, as a dock is no dialog (bug bash)."""
        plain = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        focused = self.focusWidget()
        # not from a table (Validate's results): Enter there ran the evaluation again (UI
        # bash); a table's rows are read and copied, not a form's field
        table = isinstance(focused, QAbstractItemView)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not plain and not table:
            pressed = focused if isinstance(focused, QPushButton) else self.enter_button()
            if pressed is not None and pressed.isEnabled() and pressed.isVisibleTo(self):
                pressed.click()
                event.accept()
                return
        super().keyPressEvent(event)


#: What the jobs import: the API (and with it torch and scipy), then what they import
#: late (provenance for saved labels, scikit-image for thresholds and watershed, the
#: random forest that teaches a new model).
JOB_MODULES = (
    "napari_unetseg.api",
    "napari_unetseg.provenance",
    "skimage.filters",
    "skimage.morphology",
    "skimage.segmentation",
    "skimage.feature",
    "sklearn.ensemble",
)


def warm_up() -> None:
    """Import the jobs' modules in a background thread, once, when a dock opens.

    The first job would otherwise import them (over 800 modules, torch among them,
    about 1 s) while the viewer waits for its result: the import itself holds the GIL in
    long stretches, and the objects it leaves make Python's garbage collector walk
    napari's whole heap right after (200-300 ms of a frozen viewer each). Opening the
    dock is the moment a short wait is expected; the dock shows at once regardless.
    The same thread computes vispy's dash patterns, which the first Labels layer of a
    process would otherwise compute in the GUI thread (:func:`_make_dash_patterns`).
    """
    missing = [name for name in JOB_MODULES if name not in sys.modules]
    atlas = _dash_patterns_missing()
    if not missing and not atlas:
        return

    def load() -> None:
        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the job imports it again and reports why
                pass
        if atlas:
            _make_dash_patterns()

    threading.Thread(target=load, name="unetseg-warm-up", daemon=True).start()


def _dash_patterns_missing() -> bool:
    try:  # vispy's private cache: without it (another vispy), nothing to warm
        from vispy.visuals.line.dash_atlas import _make_pattern

        return _make_pattern.cache_info().currsize == 0
    except (ImportError, AttributeError):
        return False


def _make_dash_patterns() -> None:
    """vispy's line visual computes its dash patterns once per process (they are cached):
    80-100 ms that the first result Labels layer (Segment's, Validate's) made the viewer
    wait on a slow machine, its first add taking 310 ms instead of 150-175 ms. Pure numpy,
    so it can run beside the viewer."""
    from vispy.visuals.line.dash_atlas import DashAtlas

    try:
        DashAtlas()
    except Exception:  # noqa: BLE001 - an optimization only; vispy builds it when needed
        pass


def scroll_page(widget: QWidget) -> QWidget:
    """Give a dock widget a vertical scroll area; returns the page to lay controls on.

    Docked together with other widgets, a widget gets less height than its controls
    need. In a scroll area it scrolls instead, and its word-wrapped help texts keep the
    height their width needs (the scroll area sizes the page by height-for-width)
    rather than being squeezed to one clipped line; the area is never narrower than
    the page, so nothing is cut at the right either.
    """
    area = _DockScroll(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    page = QWidget(area)
    area.setWidget(page)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    return page


class DecimalSpinBox(QDoubleSpinBox):
    """A decimal spin box that takes both "." and "," as the decimal point: under a German
    locale "12.5" read as 125 (the dot taken as a thousands separator) and "0.3" as 0,
    under an English one "0,7" was dropped, silently (locale bug bash); the plugin's own
    commands and papers write a dot, the locale a comma."""

    def _as_locale(self, text: str) -> str:
        point = self.locale().decimalPoint()
        other = "," if point == "." else "."
        if point in text or re.search(rf"{re.escape(other)}\d{{3}}(?!\d)", text):
            return text  # "1,234.5", or "1,200" typed in full: a thousands separator
        return text.replace(other, point)

    def validate(self, text: str, pos: int) -> Any:
        # the typed text stays as typed ("1,2" on the way to "1,200" became "1.2", and
        # the next digits were refused as too many decimals; review bash)
        # a "," read both ways while typing: "1,20" is on its way to "1,200" too
        check = super().validate  # (no zero-argument super() inside a comprehension)
        states = [check(t, pos)[0] for t in dict.fromkeys((self._as_locale(text), text))]
        return (max(states, key=lambda state: int(getattr(state, "value", state))), text, pos)

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt API
        return super().valueFromText(self._as_locale(text))


class SizeSpinBox(DecimalSpinBox):
    """An object size in pixels, or "auto" (measure it) or "off" (the image's own scale):
    one step down from 1 px is auto, one more off; both may be typed ("0" is auto). A size
    under 1 px, which no run takes, becomes 1 px as it is typed in (it was taken and
    refused only at the run), and off could not be chosen at all (object-size bug bash)."""

    OFF, AUTO = -1.0, 0.0
    _WORDS = {"auto": AUTO, "off": OFF}

    def __init__(self, parent: QWidget, hi: float, tip: str) -> None:
        super().__init__(parent)
        self.setDecimals(1)
        self.setRange(self.OFF, hi)
        self.setValue(self.AUTO)
        self.setSpecialValueText("off")  # the minimum
        self.setToolTip(tip)

    def setting(self) -> float | str | None:
        """The object size as the API takes it: a number of pixels, "auto", or None (off)."""
        value = self.value()
        return None if value < 0 else "auto" if value == 0 else value

    @staticmethod
    def _bare(text: str) -> str:
        return re.sub(r"\s*px\s*$", "", text.strip(), flags=re.IGNORECASE)

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt API
        # Qt's step (it selects the text too); then no size under 1 px, which no run
        # takes (the arrows went from 1.5 px to 0.5 px: review): down from a size, 1 px
        # then auto, never past them (PageDown jumped to off); up from auto, 1 px at least
        before = self.value()
        super().stepBy(steps)
        after = self.value()
        if before >= 1 and after < 1:
            target = 1.0 if before > 1 else self.AUTO
        elif before <= self.AUTO < after < 1:
            target = 1.0
        else:
            return
        self.setValue(target)
        self.selectAll()

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt API
        return "auto" if value == self.AUTO else f"{super().textFromValue(value)} px"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt API
        bare = self._bare(text).lower()
        if bare in self._WORDS:
            return self._WORDS[bare]
        value = super().valueFromText(bare)
        return self.AUTO if value == 0 else max(1.0, value)  # "0": auto, as it always was

    def validate(self, text: str, pos: int) -> Any:
        from qtpy.QtGui import QValidator

        bare = self._bare(text).lower()
        if bare in self._WORDS:
            return (QValidator.State.Acceptable, text, pos)
        if bare.isalpha() and any(word.startswith(bare) for word in self._WORDS):
            return (QValidator.State.Intermediate, text, pos)  # on its way to a word
        if bare.startswith("-"):
            return (QValidator.State.Invalid, text, pos)
        state = super().validate(bare, pos)[0]
        if state == QValidator.State.Acceptable and 0 < super().valueFromText(bare) < 1:
            state = QValidator.State.Intermediate  # "0.5": 1 px once typed in (fixup)
        return (state, text, pos)

    def fixup(self, text: str) -> str:
        bare = self._bare(text)
        try:
            small = 0 < super().valueFromText(bare) < 1
        except (TypeError, ValueError):
            small = False
        return self.textFromValue(1.0) if small else text


def spin_box(
    parent: QWidget,
    lo: float,
    hi: float,
    value: float = 0,
    *,
    step: float = 1,
    decimals: int | None = None,
    auto: bool = False,
    suffix: str = "",
    tip: str = "",
) -> Any:
    """A spin box: integers, or decimals with ``decimals`` digits (a QDoubleSpinBox).

    ``auto`` shows "auto" at the minimum (read as "choose for me").
    """
    box = QSpinBox(parent) if decimals is None else DecimalSpinBox(parent)
    if decimals is not None:
        box.setDecimals(decimals)  # before the range, which it rounds
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    if auto:
        box.setSpecialValueText("auto")
    if suffix:
        box.setSuffix(suffix)
    if tip:
        box.setToolTip(tip)
    return box


def combo_box(parent: QWidget, items: Iterable[Any], tip: str = "") -> QComboBox:
    """A combo of ``items``: texts, or ``(text, data)`` pairs, :func:`~._common.shrinkable`
    when its longest text is longer than :data:`~._common.MIN_COMBO_CHARACTERS` (short
    ones keep their own width)."""
    combo = QComboBox(parent)
    longest = 0
    for item in items:
        text, data = item if isinstance(item, tuple) else (item, None)
        combo.addItem(text, data)
        longest = max(longest, len(str(text)))
    if longest > MIN_COMBO_CHARACTERS:
        shrinkable(combo)
    if tip:
        combo.setToolTip(tip)
    return combo


def check_box(parent: QWidget, text: str, tip: str = "", checked: bool = False) -> QCheckBox:
    box = QCheckBox(text, parent)
    box.setChecked(checked)
    if tip:
        box.setToolTip(tip)
    return box


def button(
    parent: QWidget, text: str, tip: str = "", slot: Callable[..., Any] | None = None
) -> QPushButton:
    """A push button; ``slot`` is called (without arguments) when it is clicked."""
    btn = QPushButton(text, parent)
    if tip:
        btn.setToolTip(tip)
    if slot is not None:
        btn.clicked.connect(lambda *_: slot())
    return btn


def wrapped(label: QLabel) -> QLabel:
    """Word-wrapped, growing in height, and never widening its dock: a long word (a
    quoted layer name of 60 characters) set the dock's minimum width for good, and
    could push the window past the screen; such a word is cut at the right instead."""
    label.setWordWrap(True)
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    label.setSizePolicy(policy)
    return label


#: A second look, this many ms after :func:`reveal`, for a page whose layout settles later.
REVEAL_AGAIN_MS = 300


def reveal(widget: QWidget) -> None:
    """Scroll the dock's page (:func:`scroll_page`) so that ``widget`` is in view, now
    and once more :data:`REVEAL_AGAIN_MS` later (a layout that settled after the first
    look left Segment's result line out of view once, in a full test run on a loaded
    machine); a widget Qt deleted meanwhile (its dock closed before a delayed call came)
    is left."""
    from qtpy.QtCore import QTimer

    _reveal_now(widget)
    QTimer.singleShot(REVEAL_AGAIN_MS, lambda: _reveal_now(widget))


def _reveal_now(widget: QWidget) -> None:
    """:func:`reveal`'s one look."""
    from ._common import is_deleted

    if is_deleted(widget):
        return
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        page = parent.widget()
        if page is not None and page.layout() is not None:
            page.layout().activate()  # a text just set (a result line) takes its height
        parent.ensureWidgetVisible(widget)


#: The hint labels alive per viewer (their dock's), restyled when that viewer's theme
#: changes: a second viewer's theme is not theirs.
_HINTS: weakref.WeakKeyDictionary[Any, weakref.WeakSet[QLabel]] = weakref.WeakKeyDictionary()


def hint_label(parent: QWidget, text: str = "") -> QLabel:
    """Grey, word-wrapped explanatory text that grows in height instead of being cut, in
    a grey that reads in the viewer's theme (:func:`~._plots.hint_colour`: the one
    "gray" of before had a contrast of 2.8-3.9; accessibility bug bash), and follows it."""
    label = wrapped(QLabel(text, parent))
    viewer = _viewer(parent)
    if viewer is not None:
        if viewer not in _HINTS:
            _HINTS[viewer] = weakref.WeakSet()
            viewer.events.theme.connect(_restyle_hints)
        _HINTS[viewer].add(label)
    label.setStyleSheet(_hint_style(None if viewer is None else viewer.theme))
    return label


def _viewer(parent: QWidget | None = None) -> Any:
    """The viewer of the dock ``parent`` is in (its :class:`DockWidget`'s; napari's
    current one was another viewer's for a dock added to a viewer not current: review),
    else napari's current one, or None. napari's own object, not a plugin's proxy (its
    theme events come from that object)."""
    widget = parent
    while widget is not None:
        viewer = getattr(widget, "viewer", None)
        if viewer is not None and hasattr(viewer, "theme"):
            return getattr(viewer, "__wrapped__", viewer)
        widget = widget.parentWidget()
    try:
        import napari

        return napari.current_viewer()
    except Exception:  # noqa: BLE001 - no viewer (a bare Qt test)
        return None


def _hint_style(theme: str | None) -> str:
    from ._plots import hint_colour

    return f"color: {hint_colour(str(theme or 'dark'))};"


def _restyle_hints(event: Any) -> None:
    from ._common import is_deleted

    style = _hint_style(getattr(event, "value", None))
    for label in list(_HINTS.get(getattr(event, "source", None), ())):
        if not is_deleted(label):
            label.setStyleSheet(style)


def status_label(parent: QWidget, text: str = "") -> QLabel:
    """A word-wrapped status line (results, errors) the user can select and copy, with
    the mouse or the keyboard (it could be neither; accessibility bug bash), named for
    screen readers."""
    label = wrapped(QLabel(text, parent))
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextBrowserInteraction
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    label.setAccessibleName("Status")
    return label


def header(parent: QWidget, text: str) -> QLabel:
    """A bold section title ("1. Paint")."""
    label = QLabel(f"<b>{text}</b>", parent)
    label.setContentsMargins(0, 6, 0, 0)
    return label


def row(*items: QWidget | tuple[QWidget, int], stretch_end: bool = False) -> QHBoxLayout:
    """Widgets side by side; ``(widget, stretch)`` gives one a stretch factor;
    ``stretch_end`` keeps them at the left."""
    layout = QHBoxLayout()
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        layout.addWidget(widget, stretch)
    if stretch_end:
        layout.addStretch(1)
    return layout


class Form(QFormLayout):
    """A form filled as its controls are made, so each row label stands where its
    control is built: ``self.size_spin = rows.add("Object size", spin_box(...))``.

    In a narrow dock a row's control goes under its label rather than widen the dock
    (Fine-tune's folded settings kept it 405 px wide, the image squeezed to nothing
    beside it in a small window; GUI bash)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)

    def add(self, label: str, field: _Field) -> _Field:
        """A row ``label`` | ``field`` (a widget or a layout); returns ``field``."""
        self.addRow(label, field)
        return field

    def span(self, field: _Field) -> _Field:
        """A row of ``field`` alone, across the label column too; returns ``field``."""
        self.addRow(field)
        return field


def collapsible(parent: QWidget, title: str, content: QFormLayout) -> QCollapsible:
    """``content`` folded away under ``title`` (e.g. "Advanced settings").

    Folded, its controls take no keyboard focus: Tab went through nine hidden controls
    (and the arrow keys changed their values unseen) on the way to Run."""
    box = QWidget(parent)
    box.setLayout(content)
    # folded: an arrow to the right, as most programs show it (superqt's "▲" pointed up)
    fold = QCollapsible(title, parent, expandedIcon="▼", collapsedIcon="▶")
    fold.addWidget(box)
    policies: dict[QWidget, Qt.FocusPolicy] = {}

    def focus_when_open(open_: bool) -> None:
        for child in box.findChildren(QWidget):
            if not open_:
                policies.setdefault(child, child.focusPolicy())
                child.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            elif child in policies:
                child.setFocusPolicy(policies.pop(child))

    # superqt's toggle button, made after the controls it folds: Tab reached it after
    # them (jumping back up); it leads them now, and says what it does
    toggle = fold.findChild(QPushButton, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if toggle is not None:
        toggle.setToolTip(f"Show or hide the {title[0].lower()}{title[1:]}.")
        chain = [toggle] + [
            w
            for w in box.findChildren(QWidget)
            if w.focusPolicy() & Qt.FocusPolicy.TabFocus
            and w.window() is box.window()  # not a combo box's popup list
            and not isinstance(w.parentWidget(), QAbstractSpinBox | QComboBox)  # innards
        ]
        for first, then in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, then)
    fold.toggled.connect(focus_when_open)
    focus_when_open(fold.isExpanded())
    return fold
