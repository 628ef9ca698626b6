""" "Copy as command": the files a run's layers and model live in, and the dialog.

A command needs files. :class:`SessionFiles` finds the file behind a layer (the TIFF or
NIfTI it was opened from, when the layer still holds that file's data) or a model (a shipped
name, or the file a session model was loaded from and still equals), and saves what
lives only in the session (painted labels, a trained model, an image made in napari)
into one folder, asked for once. :class:`CommandDialog` shows the command line and the
Python code (:mod:`napari_unetseg.commands`) and copies the command to the clipboard.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtGui import QFontDatabase, QGuiApplication
from qtpy.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ._common import layer_data

if TYPE_CHECKING:
    from napari.layers import Layer

    from ..commands import Reproduction

#: Layers up to this many bytes are compared with their file before it is named (labels
#: may have been painted since, an image replaced); larger ones are named as they are.
COMPARE_BYTES = 256 << 20


class NoFolder(Exception):
    """The user cancelled choosing where to save the session's layers and model."""


class SessionFiles:
    """Files for a run's layers and model, saving the session-only ones into a folder.

    Parameters
    ----------
    folder : path, optional
        Where to save; when None, a folder dialog asks the first time one is needed.
    parent : QWidget, optional
        Parent of that dialog.
    """

    def __init__(
        self, folder: str | os.PathLike | None = None, parent: QWidget | None = None
    ) -> None:
        self._folder = None if folder is None else Path(folder)
        self._parent = parent
        self.saved: list[str] = []

    def folder(self) -> Path:
        if self._folder is None:
            chosen = QFileDialog.getExistingDirectory(
                self._parent, "Save the session's layers and model for the command in..."
            )
            if not chosen:
                raise NoFolder
            self._folder = Path(chosen)
        return self._folder

    def layer(self, layer: Layer, data: Any = None, axes: str | None = None) -> str:
        """A file holding the layer's data (or ``data``, e.g. a snapshot of painted
        labels): the TIFF it was opened from, the OME-Zarr labels it was read from or
        written to, or a TIFF saved with the layer's pixel size when none holds it.
        ``axes``: the layer's axes as the viewer names them (``TYX``), which the file
        must have too (a run took a time series' axis for time; a copy without the
        axes is read as a Z stack)."""
        from .. import _io

        data = layer_data(layer) if data is None else data
        for source in (_zarr_labels(layer), _source_file(layer)):
            if source is not None and _same_data(layer, data, source, axes=axes):
                return str(source.resolve())
        scale, axes, units = _copy_meta(layer, axes)
        # never over a file (the layer's own source, maybe); a copy an earlier command
        # saved that still holds the data, with the same pixel size, is named again (one
        # saved before copies kept napari's units lacked them)
        path, same = _free(
            self.folder() / f"{_safe(layer.name)}.tif",
            lambda there: _same_data(
                layer, data, there, series=None, size=(scale, units), axes=axes
            ),
        )
        if same:
            return str(path.resolve())
        if layer.__class__.__name__ == "Labels":
            _io.write_labels(path, data, scale=scale, axes=axes, units=units)
        else:
            _io.write_image(path, data, scale=scale, axes=axes, units=units)
        self.saved.append(str(path))
        return str(path)

    def image(self, layer: Layer, axes: str | None = None) -> tuple[str, int]:
        """A file holding an image layer's data, and the image series to read there: 0,
        or the layer's series N of a TIFF that holds several (the command says
        ``--series N``) while the file still holds it; else as :meth:`layer`."""
        series = int((layer.metadata or {}).get("series", 0) or 0)
        source = _source_file(layer)
        data = layer_data(layer)
        if series and source is not None and _same_data(layer, data, source, series, axes=axes):
            return str(source.resolve()), series
        return self.layer(layer, axes=axes), 0

    def store(self, layer: Layer) -> tuple[str, int | None] | None:
        """The OME-Zarr store an image layer shows, and its channel there (None when it
        has none), when the store's full-resolution image is what the layer holds: a
        command names the store instead of a copy of it (a whole slide's would be huge).
        Also a multi-channel TIFF one channel of which the layer holds (the command named
        a copy of that channel, "twochan _C1_.tif"; reproducibility bash)."""
        from .. import _io

        source = getattr(getattr(layer, "source", None), "path", None)
        if getattr(layer, "rgb", False) or not source:
            return None
        if not _io.is_zarr_path(source):
            return _tiff_channel(layer, Path(source))
        try:
            with warnings.catch_warnings():  # which image of the store: said on opening
                warnings.simplefilter("ignore", UserWarning)
                img = _io.read_image(source)
        except (ValueError, OSError):
            return None
        channel = (layer.metadata or {}).get("channel") if img.channel_axis is not None else None
        if channel is not None:
            img = img.one_channel(int(channel))
        if tuple(img.data.shape) != tuple(layer_data(layer).shape):
            return None
        return str(Path(source).resolve()), channel

    def model(self, name: str, bundle: Any = None) -> str:
        """A shipped model's name, or a file holding exactly this model's weights
        (``bundle``, when given, is the model itself, e.g. one trained earlier)."""
        from ..core.registry import REGISTRY
        from ..provenance import model_reference

        if bundle is None and name in REGISTRY.shipped() and name not in REGISTRY.session():
            return name
        bundle = bundle if bundle is not None else REGISTRY.get(name)
        ref = model_reference(name, bundle)
        if ref["model_file"]:
            return ref["model_file"]
        path, _ = _free(self.folder() / f"{_safe(name)}.pt")
        bundle.save(path)
        self.saved.append(str(path))
        return str(path)


def _copy_meta(
    layer: Layer, named: str | None = None
) -> tuple[tuple[float, ...], str | None, Any]:
    """The scale, axes and units a copy of ``layer`` is saved with (``named``: its axes
    as the viewer names them, before those the file had)."""
    meta = layer.metadata or {}
    axes = meta.get("axes") if isinstance(meta.get("axes"), str) else None
    axes = _file_axes(named) or axes
    units = meta.get("units")
    if units is None and getattr(layer, "units", None) is not None:
        # napari's own units (a layer added with units=...): the copy lost them, and
        # the command then measured a Z step the widget was given (bug bash)
        from .._units import unit_name

        names = tuple(unit_name(u) for u in layer.units)
        units = None if all(n in ("pixel", "px", "") for n in names) else names
    ndim = layer.ndim
    axes = axes if axes is not None and len(axes) == ndim else None
    units = units if units is not None and len(units) == ndim else None
    scale = tuple(float(s) for s in layer.scale)
    if getattr(layer, "rgb", False):
        axes, scale = (axes or "YX"[-ndim:].rjust(ndim, "Z")) + "S", (*scale, 1.0)
        units = None if units is None else (*units, "")
    return scale, axes, units


def _file_axes(named: str | None) -> str | None:
    """Axis letters a TIFF can hold (``TYX``), or None (other letters, or none)."""
    if named and set(named) <= set("TCZYX") and len(set(named)) == len(named):
        return named
    return None


def _same_scale(img: Any, layer: Layer) -> bool:
    """Whether a file gives the layer's pixel size: a Z step corrected in napari made a
    command that named the file segment it with the file's (bug bash)."""
    own = [float(s) for a, s in zip(img.axes, img.scale) if a not in "CS"]
    scale = [float(s) for s in layer.scale]
    return len(own) == len(scale) and bool(np.allclose(own, scale, rtol=1e-4))


def _same_axes(img: Any, axes: str | None) -> bool:
    """Whether a file has the axes the viewer names (axis labels t, y, x given in
    napari: a file of Z, Y, X was segmented as a stack, not a time series)."""
    named = _file_axes(axes)
    return named is None or "".join(a for a in img.axes if a not in "CS") == named.replace("C", "")


def _safe(name: str) -> str:
    """A file name from a layer or model name, as Save spells it (``cells (3)``: it was
    ``cells _3_``; rounds bash)."""
    from ..core.registry import safe_model_name

    try:
        return safe_model_name(name)
    except ValueError:  # nothing usable left
        return "layer"


def _free(path: Path, same: Callable[[Path], bool] | None = None) -> tuple[Path, bool]:
    """``path``, or ``NAME 2.tif``, ``NAME 3.tif``, ...: the first that is free, or the
    first that already holds what is to be saved (``same``), and whether it does."""
    stem, suffix = path.name[: -len(path.suffix)], path.suffix
    n = 1
    while path.exists():
        if same is not None and path.is_file() and same(path):
            return path, True
        n += 1
        path = path.with_name(f"{stem} {n}{suffix}")
    return path, False


def _tiff_channel(layer: Layer, source: Path) -> tuple[str, int] | None:
    """The multi-channel TIFF a channel layer was opened from (our reader's one layer per
    channel) and that channel, where the file's channel still holds the layer's data
    (as :func:`_same_data` compares); None otherwise."""
    channel = (layer.metadata or {}).get("channel")
    if channel is None or _source_file(layer) is None:
        return None
    if not _same_data(layer, layer_data(layer), source, channel=int(channel)):
        return None
    return str(source.resolve()), int(channel)


def _source_file(layer: Layer) -> Path | None:
    """The TIFF or NIfTI file a layer was opened from (None: none, or no longer there)."""
    from .. import _io

    source = getattr(getattr(layer, "source", None), "path", None)
    suffixes = (".tif", ".tiff", *_io.NIFTI_SUFFIXES)
    if source and str(source).lower().endswith(suffixes) and Path(source).is_file():
        return Path(source)
    return None


def _zarr_labels(layer: Layer) -> Path | None:
    """The OME-Zarr labels (``IMAGE.ome.zarr/labels/NAME`` or a labels store) a Labels
    layer was read from or written to (None: none, or no longer there)."""
    path = (layer.metadata or {}).get("zarr_labels")
    if layer.__class__.__name__ != "Labels" or not path or not Path(path).is_dir():
        return None
    return Path(path)


def _same_data(
    layer: Layer,
    data: Any,
    path: Path,
    series: int | None = 0,
    size: Any = None,
    axes: str | None = None,
    channel: int | None = None,
) -> bool:
    """Whether image ``series`` of the file still holds ``data`` and it is the layer's
    series (``None``: a file of ours, series 0 whatever the layer's). Same shape, and
    same values for in-memory data up to :data:`COMPARE_BYTES` (an image replaced by a
    processed copy of its shape, labels painted since); larger or lazy data by shape.
    ``size``: the (scale, units) a new copy would have, which the file must give too (a
    copy saved before copies kept napari's units was named again without them).
    A file the layer was opened from must give its current pixel size and ``axes``
    (:func:`_same_scale`, :func:`_same_axes`). ``channel``: that channel of the file
    (a multi-channel TIFF's layer of one channel)."""
    from .. import _io
    from .._units import common_unit

    if series is not None and (layer.metadata or {}).get("series", 0) != series:
        return False
    try:
        with warnings.catch_warnings():  # a check: what the file holds was said on opening
            warnings.simplefilter("ignore", UserWarning)
            img = _io.read_image(path, lazy=True, series=series or 0)
        if channel is not None:
            if img.channel_axis is None:
                return False
            img = img.one_channel(channel)
    except (ValueError, OSError):
        return False
    if tuple(img.data.shape) != tuple(data.shape):
        return False
    if (series is not None and not _same_scale(img, layer)) or not _same_axes(img, axes):
        return False
    if size is not None and not (
        len(img.scale) == len(size[0])
        and np.allclose(img.scale, size[0], rtol=1e-4)
        and common_unit(img.units) == common_unit(size[1])
    ):
        return False
    if not isinstance(data, np.ndarray) or data.nbytes > COMPARE_BYTES:
        return True
    return bool(np.array_equal(np.asarray(img.data), data))


class CommandDialog(QDialog):
    """Shows a :class:`~napari_unetseg.commands.Reproduction`; copies the command line."""

    def __init__(
        self, reproduction: Reproduction, saved: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Command that reproduces this run")
        self.reproduction = reproduction
        intro = "The command line is on the clipboard. It, and the Python code, repeat this run."
        if saved:
            intro += " Saved for them: " + ", ".join(saved) + "."
        label = QLabel(intro, self)
        label.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        # unwrapped: a break inside "--device auto" read as two arguments
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setPlainText(reproduction.text())
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setMinimumSize(560, 320)
        copy_cmd = QPushButton("Copy command", self)
        copy_cmd.clicked.connect(lambda: _copy(reproduction.shell()))
        copy_py = QPushButton("Copy Python", self)
        copy_py.clicked.connect(lambda: _copy(reproduction.python))
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (copy_cmd, copy_py, close):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        _copy(reproduction.shell())


def _copy(text: str) -> None:
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(text)


def show_command(
    parent: QWidget,
    build: Callable[[SessionFiles], Reproduction],
    folder: str | os.PathLike | None = None,
) -> CommandDialog | None:
    """Build a run's command (saving session-only inputs) and show it; None if cancelled.

    ``build`` gets the :class:`SessionFiles` to name its layers and model with. Errors
    (e.g. a folder that cannot be written) become one notification.
    """
    from ._common import notify_error

    files = SessionFiles(folder, parent)
    try:
        reproduction = build(files)
    except NoFolder:
        return None
    except (ValueError, OSError, KeyError) as exc:
        notify_error(exc, "Could not make the command")
        return None
    dialog = CommandDialog(reproduction, files.saved, parent)
    dialog.setModal(False)
    dialog.show()
    return dialog
