"""A matplotlib plot for dock widgets, drawn in napari's colours.

:class:`PlotCanvas` embeds one matplotlib figure (``FigureCanvasQTAgg``) in a Qt widget
and styles it like the viewer's theme (background, text and grid colours from
``napari.utils.theme``), following theme changes. Lines are kept by name and only their
data change on update, so a live curve (e.g. a training loss) redraws in milliseconds:

>>> plot = PlotCanvas(viewer=viewer, xlabel="step", ylabel="loss")   # doctest: +SKIP
>>> plot.set_line("loss", steps, losses)                            # doctest: +SKIP
>>> plot.append("loss", [step], [loss])   # live: add points          # doctest: +SKIP

Used by the Validate widget (per-slice Dice) and meant for the Fine-tune widget's loss
curve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ._common import qt_deleted

if TYPE_CHECKING:
    import napari

#: Line colours that read well on napari's dark background, in order.
PALETTE = ("#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#90a4ae")
#: The same hues, dark enough for napari's light background (the dark theme's light blue
#: and orange had a contrast of 1.4 and 1.2 against it; these 3 or more).
LIGHT_PALETTE = ("#0b5fa5", "#b34700", "#2e7d32", "#ad1457", "#6a1b9a", "#8d6e00", "#455a64")


def palette_for(colors: dict[str, str]) -> tuple[str, ...]:
    """The line colours for a theme's colours (:func:`theme_colors`): dark hues on a
    light panel, light hues on a dark one."""
    r, g, b = (int(colors["panel"][i : i + 2], 16) for i in (1, 3, 5))
    return LIGHT_PALETTE if 0.299 * r + 0.587 * g + 0.114 * b > 128 else PALETTE


def warning_colour(theme: str = "dark") -> str:
    """Text colour of a warning in a dock of napari ``theme``: orange on the dark panel,
    a dark orange on the light one (the dark theme's #e0a030 had a contrast of 1.85
    there; this one 5.2)."""
    return "#8f4e00" if palette_for(theme_colors(theme)) is LIGHT_PALETTE else "#e0a030"


def hint_colour(theme: str = "dark") -> str:
    """Text colour of a dock's grey hints in napari ``theme``: contrast 5 or more against
    both the dock and the viewer's background (the one "gray" of before had 3.2-3.9 in
    the dark theme and 2.8-3.2 in the light one; accessibility bug bash)."""
    return "#55595e" if palette_for(theme_colors(theme)) is LIGHT_PALETTE else "#a0a4ab"


def theme_colors(theme: str = "dark") -> dict[str, str]:
    """Background, panel, text and grid colours (hex) of a napari theme.

    ``'system'`` resolves to the system's light/dark choice; an unknown name to dark.
    """
    from napari.utils.theme import get_system_theme, get_theme

    if theme == "system":
        theme = get_system_theme()
    try:
        t = get_theme(theme)
    except (KeyError, ValueError):
        t = get_theme("dark")
    return {
        "background": t.background.as_hex(),
        "panel": t.foreground.as_hex(),
        "text": t.text.as_hex(),
        "grid": t.primary.as_hex(),
        "edge": t.secondary.as_hex(),
        "highlight": t.current.as_hex(),
    }


class PlotCanvas(QWidget):
    """One matplotlib axes in a Qt widget, in the viewer's theme.

    Parameters
    ----------
    parent : QWidget, optional
    viewer : napari.Viewer, optional
        Its theme is used and followed; without a viewer the dark theme is used.
    xlabel, ylabel, title : str
        Axis labels and title.
    height : int
        Minimum height in pixels.
    fixed_height : bool
        Keep exactly ``height`` (a live plot: each resize is a full redraw, and a dock
        resizes its contents whenever a status line or progress bar comes and goes).

    Attributes
    ----------
    figure, axes, canvas
        The matplotlib figure, its axes and the Qt canvas, for anything not wrapped here.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        viewer: napari.Viewer | None = None,
        xlabel: str = "",
        ylabel: str = "",
        title: str = "",
        height: int = 180,
        fixed_height: bool = False,
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.2, 2.0), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setParent(self)
        if fixed_height:
            self.canvas.setFixedHeight(height)
            vertical = QSizePolicy.Policy.Fixed
        else:
            self.canvas.setMinimumHeight(height)
            vertical = QSizePolicy.Policy.Expanding
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, vertical)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, vertical)
        self.axes = self.figure.add_subplot(111)
        self._lines: dict[str, Any] = {}
        self._marker: Any = None
        self._legend: Any = None
        self._legend_below = False
        self._colors = theme_colors("dark")
        # Our own idle timer rather than canvas.draw_idle(): a timer owned by this widget
        # dies with it, so a draw queued just before the widget closes never runs on a
        # deleted canvas.
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.setInterval(0)
        self._draw_timer.timeout.connect(self._draw_now)
        self._laid_out: tuple | None = None
        self._background: Any = None
        self._grown: tuple[float, float] | None = None  # x range of a growing plot
        self._canvas_size: tuple[int, int] | None = None
        self._background_view: tuple | None = None
        # A draw matplotlib makes by itself (a resize of the canvas) paints the figure
        # without the lines: they are drawn again over it (Validate's per-slice curves
        # were gone after the dock grew with a table of three classes).
        self._own_draw = False
        self.canvas.mpl_connect("draw_event", self._on_full_draw)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.set_labels(xlabel, ylabel, title)
        self._viewer = viewer
        if viewer is not None:
            # napari's events hold bound methods weakly: the connection goes with this
            # object. (A ``destroyed`` hook that disconnected it held a bound method, so
            # the garbage collector ran it on a half-freed widget: a crash.)
            viewer.events.theme.connect(self._on_theme)
        self.apply_theme(viewer.theme if viewer is not None else "dark")

    # -- content ----------------------------------------------------------------------------
    def set_labels(
        self, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None
    ) -> None:
        """Set the axis labels and/or title (None leaves one unchanged)."""
        if xlabel is not None:
            self.axes.set_xlabel(xlabel)
        if ylabel is not None:
            self.axes.set_ylabel(ylabel)
        if title is not None:
            self.axes.set_title(title, fontsize="medium")
        self.relayout()

    def set_line(self, name: str, x: Sequence[float], y: Sequence[float], **style: Any) -> Any:
        """Show (or replace the data of) the line called ``name``; returns the Line2D.

        ``style`` goes to ``axes.plot`` when the line is new (colour: the next of
        :data:`PALETTE`; ``label`` defaults to ``name`` for the legend).
        """
        line = self._lines.get(name)
        if line is None:
            colours = self.palette()
            style.setdefault("color", colours[len(self._lines) % len(colours)])
            style.setdefault("label", name)
            style.setdefault("lw", 1.2)
            # Animated: drawn over a cached background (see _draw_now), not by canvas.draw.
            (line,) = self.axes.plot(x, y, animated=True, **style)
            self._lines[name] = line
        else:
            line.set_data(x, y)
        self.rescale()
        return line

    def append(self, name: str, x: Sequence[float], y: Sequence[float], **style: Any) -> Any:
        """Add points to the end of line ``name`` (made on first use)."""
        line = self._lines.get(name)
        if line is None:
            return self.set_line(name, x, y, **style)
        old_x, old_y = line.get_data()
        return self.set_line(name, np.r_[old_x, x], np.r_[old_y, y])

    def line(self, name: str) -> Any:
        """The Line2D called ``name`` (KeyError if there is none)."""
        return self._lines[name]

    def names(self) -> list[str]:
        """Names of the lines shown, in the order they were made."""
        return list(self._lines)

    def clear(self) -> None:
        """Remove every line and the marker (labels and limits stay)."""
        for name in list(self._lines):
            self._lines.pop(name).remove()
        self._grown = None
        self.set_marker(None)
        self.redraw()

    def set_marker(self, x: float | None) -> None:
        """A vertical line at ``x`` (e.g. the slice shown in the viewer); None hides it."""
        if x is None:
            if self._marker is not None:
                self._marker.remove()
                self._marker = None
        elif self._marker is None:
            self._marker = self.axes.axvline(
                x, color=self._colors["text"], lw=1, ls="--", zorder=0, animated=True
            )
        else:
            self._marker.set_xdata([x, x])
        self.redraw()

    @property
    def has_legend(self) -> bool:
        """Whether a legend is shown (in the axes or below them)."""
        return self._legend is not None

    def legend(self, show: bool = True, below: bool = False) -> None:
        """Show a legend of the named lines (styled in the theme), or hide it.

        ``below``: under the axes, in rows of up to two names (three were cut off at a
        narrow dock's edge), where it cannot cover a curve (inside the axes,
        matplotlib's best place still hid the points of curves that span the whole y
        range, or rose into it later).
        """
        old = self._legend
        if old is None and not (show and self._lines):
            return  # nothing shown, nothing to show: no new layout, no full redraw
        if old is not None:
            old.remove()
            self._legend = None
        if show and self._lines:
            c = self._colors
            style = {"fontsize": "small", "frameon": True}
            style.update(facecolor=c["panel"], edgecolor=c["edge"])
            if below:
                # names starting with "_" stay out, as in the axes' own legend
                lines = [ln for ln in self._lines.values() if not ln.get_label().startswith("_")]
                legend = self.figure.legend(
                    handles=lines, loc="outside lower center", ncols=min(len(lines), 2), **style
                )
            else:
                legend = self.axes.legend(**style)
            for text in legend.get_texts():
                text.set_color(c["text"])
            self._legend, self._legend_below = legend, below
        self.relayout()

    def rescale(
        self, ylim: tuple[float, float] | None = None, grow: bool = False, min_span: float = 0.0
    ) -> None:
        """Fit the axes to the data (``ylim`` fixes the y range, e.g. (0, 1) for scores).

        ``grow`` (a curve that gains points, e.g. a training loss): the x range starts at
        least ``min_span`` wide and doubles only when the data reach its end, so most
        updates keep the axes and redraw just the lines (a full redraw costs the viewer
        30-100 ms). Once a plot grows, later fits keep growing until :meth:`clear`.
        """
        self.axes.set_autoscalex_on(True)
        self.axes.relim()
        self.axes.autoscale_view()
        grown = self._grown
        if grow or grown is not None:
            lo, hi = self.axes.get_xlim()
            if grown is not None and hi <= grown[1]:
                # the margin on the left moves with the span: ignored
                self.axes.set_xlim(*grown)
            else:
                wide = hi if grown is None else hi + (hi - lo)
                self._grown = (lo, max(wide, lo + min_span))
                self.axes.set_xlim(*self._grown)
        if ylim is not None:
            self.axes.set_ylim(*ylim)
        self.redraw()

    def fit_x(self) -> None:
        """Fit a growing x range to the data (a live curve that is complete)."""
        self._grown = None
        self.rescale(ylim=self.axes.get_ylim())

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        """Call ``callback(x, y)`` (data coordinates) when the plot is clicked."""

        def handler(event: Any) -> None:
            if event.inaxes is self.axes and event.xdata is not None:
                callback(float(event.xdata), float(event.ydata))

        self.canvas.mpl_connect("button_press_event", handler)

    def redraw(self) -> None:
        """Draw when the Qt event loop is next idle (cheap to call often)."""
        self._draw_timer.start()

    def _draw_now(self) -> None:
        # A full draw (axes, ticks, texts) costs the GUI thread tens of milliseconds, more
        # on a loaded machine; the lines alone a few. So the figure without its lines is
        # cached and, while the axes stay the same, only the lines are drawn over it
        # (matplotlib's blitting). The constrained-layout solver, about half of a full
        # draw, runs only when what it depends on changed (size, labels, legend, the y
        # range's magnitude).
        key = self._layout_key()
        view = (key, self.axes.get_xlim(), self.axes.get_ylim(), len(self.axes.get_children()))
        try:
            if self._background is None or view != self._background_view:
                if key != self._laid_out:
                    self.figure.set_layout_engine("constrained")
                self._own_draw = True
                try:
                    self.canvas.draw()  # everything but the animated lines
                finally:
                    self._own_draw = False
                if key != self._laid_out:
                    self._laid_out = key
                    self.figure.set_layout_engine("none")
                self._background = self.canvas.copy_from_bbox(self.figure.bbox)
                self._background_view = view
            else:
                self.canvas.restore_region(self._background)
            for artist in [*self._lines.values(), self._marker]:
                if artist is not None:
                    self.axes.draw_artist(artist)
            self.canvas.blit(self.figure.bbox)
        except RuntimeError:  # the canvas went with its window while a draw was queued
            self._draw_timer.stop()

    def _on_full_draw(self, _event: Any) -> None:
        """matplotlib drew the whole figure itself (its canvas was resized): the lines
        are not in it, so they are drawn again over a new background."""
        if not self._own_draw:
            self._background = None
            self.redraw()

    def _layout_key(self) -> tuple:
        """What the layout depends on besides texts and the legend (which reset it)."""
        lo, hi = self.axes.get_ylim()
        digits = len(f"{max(abs(lo), abs(hi)):.0f}")
        return (self.canvas.width(), self.canvas.height(), digits, lo < 0)

    def relayout(self) -> None:
        """Lay the figure out again at the next draw (labels, legend or theme changed)."""
        self._laid_out = None
        self._background = None
        self.redraw()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        # A resized canvas makes matplotlib redraw without the (animated) lines: lay out
        # and draw them. A dock re-applies its layout often without changing the canvas
        # (a status line, a progress bar): no full redraw then.
        super().resizeEvent(event)
        size = (self.canvas.width(), self.canvas.height())
        if size != self._canvas_size:
            self._canvas_size = size
            self.relayout()

    # -- theme -------------------------------------------------------------------------------
    def palette(self) -> tuple[str, ...]:
        """The line colours of the current theme (:func:`palette_for`)."""
        return palette_for(self._colors)

    def apply_theme(self, theme: str) -> None:
        """Colour the figure like napari's ``theme`` ('dark', 'light', 'system', ...);
        lines drawn in the other theme's palette take this one's colour of their rank."""
        before = palette_for(self._colors) if getattr(self, "_colors", None) else PALETTE
        c = self._colors = theme_colors(theme)
        after = palette_for(c)
        for line in getattr(self, "_lines", {}).values():
            colour = str(line.get_color()).lower()
            if colour in before:
                line.set_color(after[before.index(colour)])
        self.figure.set_facecolor(c["background"])
        ax = self.axes
        ax.set_facecolor(c["panel"])
        for spine in ax.spines.values():
            spine.set_color(c["edge"])
        ax.tick_params(colors=c["text"], which="both", labelsize="small")
        ax.xaxis.label.set_color(c["text"])
        ax.yaxis.label.set_color(c["text"])
        ax.title.set_color(c["text"])
        ax.grid(True, color=c["grid"], lw=0.6, alpha=0.8)
        ax.set_axisbelow(True)
        if self._marker is not None:
            self._marker.set_color(c["text"])
        if self._legend is not None:
            self.legend(below=self._legend_below)
        self.relayout()

    def _on_theme(self, event: Any = None) -> None:
        if self._viewer is None:
            return
        try:
            self.apply_theme(self._viewer.theme)
        except RuntimeError as exc:
            if not qt_deleted(exc):
                raise
            self._viewer.events.theme.disconnect(self._on_theme)


__all__ = [
    "LIGHT_PALETTE",
    "PALETTE",
    "PlotCanvas",
    "palette_for",
    "theme_colors",
    "warning_colour",
]
