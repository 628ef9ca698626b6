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

    def register(self, bundle: ModelBundle, name: str | None = None) -> str:
        """Add a model trained in this session; returns its (unique) name."""
        base = name or bundle.name or "model"
        with self._lock:
            taken = set(self._session) | set(self.shipped())
            unique, i = base, 2
            while unique in taken:
                unique, i = f"{base} ({i})", i + 1
            bundle.name = unique
            self._session[unique] = bundle
        self._notify()
        return unique

    def remove(self, name: str) -> None:
        with self._lock:
            self._session.pop(name, None)
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
