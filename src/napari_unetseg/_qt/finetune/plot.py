"""The live training curve: loss (each step, faint, and smoothed), validation loss and
validation Dice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QVBoxLayout, QWidget

from .._plots import PlotCanvas

#: Steps the x axis spans at first (it doubles when the curve reaches its end): a run of
#: a few minutes takes a few hundred steps, so three or four full redraws, not ten.
FIRST_SPAN = 100

if TYPE_CHECKING:
    import napari

    from .curve import Curve


class CurvePlot:
    """Draws a :class:`~napari_unetseg._qt.finetune.curve.Curve` on a
    :class:`~napari_unetseg._qt._plots.PlotCanvas` (napari's theme colours; only the
    lines' data change on update, so a redraw costs the GUI thread little)."""

    def __init__(self, parent: QWidget, viewer: napari.Viewer) -> None:
        # The plot itself is made at the first run (:attr:`canvas`): matplotlib's figure
        # took 1.7 s of the dock's opening, and an empty plot stood in the dock until
        # then. (warmup.py imports matplotlib in the background meanwhile.)
        self.widget = QWidget(parent)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        self.widget.setToolTip(
            "Training loss (lower is better; faint: each step, bold: smoothed), and on "
            "held-out painted regions the validation loss (dashed, lower is better) and "
            "Dice (higher is better, 1 = perfect). With scribbles the Dice of strokes "
            "inside objects soon reads 1; the validation loss picks the kept model."
        )
        self.widget.setVisible(False)
        self._viewer = viewer
        self._canvas: PlotCanvas | None = None
        self._run_lines: list[Any] = []
        self.n_points = 0

    @property
    def canvas(self) -> PlotCanvas:
        """The plot, made (and shown) when first asked for."""
        if self._canvas is None:
            self._canvas = PlotCanvas(
                self.widget, viewer=self._viewer, xlabel="step", height=190, fixed_height=True
            )
            self.widget.layout().addWidget(self._canvas)
            self.widget.setVisible(True)
        return self._canvas

    def update(self, curve: Curve, final: bool = False) -> None:
        """Show ``curve`` (drawn when the event loop is next idle); ``final`` (the run
        ended): the x axis fits the steps taken instead of the range it grew to."""
        plot = self.canvas
        self._loss_color, self._dice_color = plot.palette()[:2]  # of the current theme
        for line in self._run_lines[len(curve.runs) :]:
            line.remove()
        del self._run_lines[len(curve.runs) :]
        if not curve.loss and not curve.dice and not curve.val_loss:
            plot.clear()
            plot.legend(False)
            self.n_points = 0
            return
        # Names starting with "_" stay out of the legend (matplotlib's convention).
        plot.set_line("_loss", curve.loss_step, curve.loss, color=self._loss_color, alpha=0.3)
        plot.set_line("training loss", curve.loss_step, curve.smooth, color=self._loss_color)
        points = {"marker": "o", "ms": 3}  # one point per validation
        plot.set_line(
            "validation loss", curve.val_loss_step, curve.val_loss, color=self._loss_color,
            ls="--", mfc="none", **points,
        )  # fmt: skip
        plot.set_line(
            "validation Dice", curve.dice_step, curve.dice, color=self._dice_color, **points
        )
        for x in curve.runs[len(self._run_lines) :]:  # where "Continue training" began
            self._run_lines.append(plot.axes.axvline(x, color="gray", ls=":", lw=1))
        ylim = (0.0, max([1.02, *curve.loss, *curve.val_loss]) * 1.03)
        span = FIRST_SPAN if curve.planned is None else max(curve.planned, 1)
        plot.rescale(ylim=ylim, grow=True, min_span=span)
        if final:
            plot.fit_x()
        if not plot.has_legend:  # below the axes: placed inside when the first points
            # came, it covered the validation Dice that rose under it (widget bug bash)
            plot.legend(below=True)
        self.n_points = len(curve.loss) + len(curve.dice) + len(curve.val_loss)
