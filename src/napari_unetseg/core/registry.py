"""The model registry: shipped models plus models trained since the process started.

The Segment and Fine-tune widgets share one registry (:data:`REGISTRY`); listeners
are plain callbacks (no Qt here) called whenever the set of models changes, so a model
trained in the Fine-tune widget appears in the Segment widget's list at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from .bundle import ModelBundle

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"


class ModelRegistry:
    def __init__(self, shipped_dir: Path = SHIPPED_DIR) -> None:
        self.shipped_dir = Path(shipped_dir)
        self._session: dict[str, ModelBundle] = {}
        self._trained_on: dict[str, str] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def shipped(self) -> dict[str, Path]:
        """Shipped model names (file stem) and their paths."""
        if not self.shipped_dir.is_dir():
            return {}
        return {p.stem: p for p in sorted(self.shipped_dir.glob("*.pt"))}

    def session(self) -> dict[str, ModelBundle]:
        with self._lock:
            return dict(self._session)

    def names(self) -> list[str]:
        return list(self.shipped()) + [n for n in self.session() if n not in self.shipped()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._session or name in self.shipped())

    def get(self, name: str) -> ModelBundle:
        """The model called ``name`` (a session model, or a freshly loaded shipped one)."""
        with self._lock:
            if name in self._session:
                return self._session[name]
        shipped = self.shipped()
        if name in shipped:
            return ModelBundle.load(shipped[name])
        raise KeyError(name)

    def register(
        self, bundle: ModelBundle, name: str | None = None, trained_on: str | None = None
    ) -> str:
        """Add a model trained (or loaded) in this session; returns its (unique) name.

        ``trained_on`` names the image it was trained on (a layer name), so that a widget
        segmenting that image can offer it first (:meth:`trained_on`).
        """
        base = name or bundle.name or "model"
        with self._lock:
            taken = set(self._session) | set(self.shipped())
            unique, i = base, 2
            while unique in taken:
                unique, i = f"{base} ({i})", i + 1
            bundle.name = unique
            self._session[unique] = bundle
            if trained_on is not None:
                self._trained_on[unique] = trained_on
        self._notify()
        return unique

    def trained_on(self, image: str) -> list[str]:
        """Session models trained on the image called ``image``, oldest first."""
        with self._lock:
            return [n for n, source in self._trained_on.items() if source == image]

    def remove(self, name: str) -> None:
        with self._lock:
            self._session.pop(name, None)
            self._trained_on.pop(name, None)
        self._notify()

    def connect(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def disconnect(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()


#: The process-wide registry used by the API, the CLI and the widgets.
REGISTRY = ModelRegistry()
