"""The model picker of the Segment and Fine-tune widgets: :class:`ModelComboBox` lists
:data:`~napari_unetseg.core.registry.REGISTRY` (shipped, saved and session models),
updated live from any thread and re-read when a model file changes on disk, plus a
"Load model file..." entry that adds a file to the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtGui import QContextMenuEvent
from qtpy.QtWidgets import QComboBox, QFileDialog, QMenu, QWidget

from ..core.registry import file_stamp
from ._common import is_deleted, notify_error

if TYPE_CHECKING:
    from ..core.bundle import ModelBundle

LOAD_ENTRY = "Load model file..."


class _RegistryBridge(QObject):
    """Carries registry notifications (from any thread) into the GUI thread."""

    changed = Signal()


#: Model files loaded in this session (resolved path) -> the name they were registered
#: under: loading one again selects it (the registry reads it again when it was written
#: anew since).
_LOADED: dict[str, str] = {}


class ModelComboBox(QComboBox):
    """Pick a model by name from the shared registry, or load a model file.

    The list shows :data:`REGISTRY` names (shipped models, the user's saved models, then
    session models: trained in the Fine-tune widget or loaded from files) and a last
    "Load model file..." entry.
    It refreshes whenever the registry changes, whichever thread changed it (the change
    is re-emitted as a queued Qt signal, so the combo is only touched in the GUI thread).
    Choosing "Load model file..." opens a file dialog; a loaded file becomes a session
    model (so the other widgets see it too) and is selected. The context menu (right
    click, or the menu key) forgets a session model (:meth:`forget`): each Fine-tune run
    kept one in memory until napari closed.

    ``leading_items`` are extra entries listed before the models (e.g. the Fine-tune
    widget's "New model (from scratch)"); :meth:`model_name` returns their text like a
    model name, and :meth:`bundle` does not know them.

    Signals
    -------
    modelChanged(str)
        The selected model name ("" when there is none).
    listChanged()
        The list was made anew (a model was trained, loaded or removed).
    """

    modelChanged = Signal(str)
    listChanged = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        with_load_entry: bool = True,
        leading_items: Iterable[str] = (),
    ) -> None:
        super().__init__(parent)
        from ..core.registry import REGISTRY
        from ._common import shrinkable

        shrinkable(self)  # a long saved model's name: 517 px for 63 characters (review)
        self._registry = REGISTRY
        self._with_load = with_load_entry
        self._leading = list(leading_items)
        self._last = ""
        self._summaries: dict[str, str] = {}
        self._dims: dict[str, tuple[int, int, int]] = {}  # spatial dims, channels, labels
        self._stamps: dict[str, tuple[int, int] | None] = {}  # the files read for them
        self._bridge = _RegistryBridge(self)
        # Auto connection: direct in the GUI thread, queued from a worker thread.
        self._bridge.changed.connect(self.refresh)
        bridge = self._bridge

        def on_registry_change() -> None:
            if is_deleted(bridge):  # the widget was deleted: stop listening
                REGISTRY.disconnect(on_registry_change)
                return
            bridge.changed.emit()

        self._listener = on_registry_change
        # Stops listening at the first change after Qt deleted the widget (above): no hook
        # on ``destroyed``, which PyQt ran while the garbage collector freed a closed dock's
        # widget, crashing the process (SIGSEGV); and no emit on a deleted bridge, which
        # crashed it too.
        REGISTRY.connect(on_registry_change)
        self.activated.connect(self._on_activated)
        self.currentIndexChanged.connect(self._on_index_changed)
        self.refresh()

    def model_name(self) -> str:
        """The selected model name ("" when none is available)."""
        text = self.currentText()
        return "" if text == LOAD_ENTRY else text

    def set_model_name(self, name: str) -> None:
        """Select a listed model by name."""
        i = self.findText(name)
        if i < 0:
            raise KeyError(f"Model {name!r} is not in the list.")
        self.setCurrentIndex(i)

    def refresh(self) -> None:
        """Re-list the registry's models, keeping the selection when it still exists."""
        current = self.model_name() or self._last
        names = [*self._leading, *self._registry.names()]
        # a saved model may have been saved anew under its name: read it again
        self._summaries.clear()
        self._dims.clear()
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        session = self._registry.session()
        for i, name in enumerate(names):  # which file, for two models of one name
            tip = self._registry.origin(name)
            if name in session:
                tip += " (right-click the chooser to forget it and free its memory)"
            self.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        if self._with_load:
            if names:
                self.insertSeparator(len(names))
            self.addItem(LOAD_ENTRY)
        if current in names:
            self.setCurrentIndex(names.index(current))
        elif names:
            self.setCurrentIndex(0)
        self.blockSignals(False)
        self._on_index_changed()
        self.listChanged.emit()

    def load_file(self, path: str | os.PathLike) -> str | None:
        """Load a model file into the registry and select it.

        Returns the model's name, or None after an error notification (not a model file,
        unreadable, ...).
        """
        from ..api import load_model_file

        key = os.path.realpath(path)
        known = _LOADED.get(key)
        if known is not None and known in self._registry.session() and os.path.isfile(key):
            self.set_model_name(known)  # the same file again: its entry, not "good (2)"
            return known
        try:
            bundle = load_model_file(path)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
            notify_error(exc, "Could not load the model")
            self._restore()
            return None
        name = self._registry.register(
            bundle, name=bundle.name, source=Path(key), load=load_model_file
        )
        _LOADED[key] = name
        self.refresh()
        self.set_model_name(name)
        return name

    def forgettable(self) -> str | None:
        """The selected model when it is a session model (trained or loaded in this
        session), which :meth:`forget` can drop; None otherwise."""
        name = self.model_name()
        return name if name and name in self._registry.session() else None

    def forget(self, name: str) -> None:
        """Drop the session model ``name`` from every chooser, freeing its memory (a file
        it was loaded from or saved to stays, and lists again when it is a saved model);
        a run already using it goes on."""
        self._registry.forget(name)
        for path, loaded in list(_LOADED.items()):
            if loaded == name:
                del _LOADED[path]

    def context_menu(self) -> QMenu:
        """The chooser's context menu: "Forget" for a session model (disabled, saying
        why, for the others)."""
        menu = QMenu(self)
        name = self.forgettable()
        if name is None:
            action = menu.addAction("Forget model (only models of this session)")
            action.setEnabled(False)
        else:
            action = menu.addAction(f"Forget {name!r} (frees its memory)")
            action.triggered.connect(lambda: self.forget(name))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt's name
        self.context_menu().exec(event.globalPos())
        event.accept()

    def bundle(self) -> ModelBundle:
        """The selected model (loads a shipped file; call from a worker for big models)."""
        return self._registry.get(self.model_name())

    def unavailable(self) -> str | None:
        """Why the selected model can no longer be loaded (its file in the saved-models
        folder deleted or renamed since it was listed), in one sentence; None when it
        can. The choosers are re-listed. A run started and then failed, saying the name
        was "neither a model name nor an existing model file" (model bug bash)."""
        name = self.model_name()
        if not name or name in self._leading or name in self._registry:
            return None
        self._registry.changed()
        return (
            f"The model {name!r} is no longer in the saved-models folder (its file was "
            "deleted or renamed); choose another model."
        )

    def describe(self) -> str:
        """The selected model in one line (:meth:`ModelBundle.summary`, cached per name),
        or why it cannot be read."""
        name = self.model_name()
        if name not in self._summaries:
            try:
                self._stamps[name] = self._stamp(name)
                bundle = self.bundle()
                # rounds of fine-tuning apart (:meth:`ModelBundle.lineage`)
                said = [bundle.summary(), bundle.lineage()]
                self._summaries[name] = "; ".join(filter(None, said))
            except Exception as exc:  # noqa: BLE001 - shown in place of the description
                return f"Cannot read this model: {exc}"
        return self._summaries[name]

    def spatial_dims(self) -> int | None:
        """2 or 3 for the selected model (cached per name); None when it cannot be read."""
        return self._shape_of(0)

    def in_channels(self) -> int | None:
        """The selected model's input channels (cached per name); None when unreadable."""
        return self._shape_of(1)

    def n_classes(self) -> int:
        """The selected model's classes, the background's included (cached per name; 2
        when unreadable)."""
        return self._shape_of(2) or 2

    def _shape_of(self, which: int) -> int | None:
        name = self.model_name()
        if name not in self._dims:
            try:
                self._stamps[name] = self._stamp(name)
                bundle = self.bundle()
                self._dims[name] = (
                    int(bundle.spatial_dims),
                    int(bundle.in_channels),
                    int(bundle.n_labels),
                )
            except Exception:  # noqa: BLE001 - describe() says why
                return None
        return self._dims[name][which]

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        """Before the list opens: re-list when the models on disk changed meanwhile (a
        model saved by ``unetseg train --save-as`` in a terminal, a file deleted), in
        every widget (the registry tells them all; the others stayed stale), and read the
        selected model again when its file was saved anew under its name (a 3D model
        saved over a 2D one was still described as 2D)."""
        listed = [self.itemText(i) for i in range(self.count())]
        if [*self._leading, *self._registry.names()] != [
            t for t in listed if t and t != LOAD_ENTRY
        ]:
            self._registry.changed()
        elif self._stamp(self.model_name()) != self._stamps.get(self.model_name()):
            self.refresh()
        super().showPopup()

    def _stamp(self, name: str) -> tuple[int, int] | None:
        """When the file of a model was last written, and its size (None for a model
        trained in this session or an unknown one)."""
        path = self._registry.source(name)
        return None if path is None else file_stamp(path)

    def _on_activated(self, index: int) -> None:
        if self.itemText(index) != LOAD_ENTRY:
            return
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load a napari-unetseg model or a bioimage.io package",
            "",
            "Models (*.pt *.zip *.yaml);;U-Net models (*.pt);;bioimage.io packages (*.zip *.yaml);;All files (*)",
        )
        if path:
            self.load_file(path)
        else:
            self._restore()

    def _restore(self) -> None:
        """Back to the last real model after "Load model file..." was cancelled/failed."""
        i = self.findText(self._last) if self._last else -1
        self.setCurrentIndex(i if i >= 0 else (0 if self.count() > 1 else -1))

    def _on_index_changed(self, *_: Any) -> None:
        name = self.model_name()
        if name and name != self._last:
            self._last = name
            self.modelChanged.emit(name)


__all__ = ["LOAD_ENTRY", "ModelComboBox"]
