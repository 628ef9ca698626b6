"""The model registry: shipped models, the user's saved models, and models trained (or
loaded) since the process started.

The Segment and Fine-tune widgets share one registry (:data:`REGISTRY`); listeners
are plain callbacks (no Qt here) called whenever the set of models changes, so a model
trained in the Fine-tune widget appears in the Segment widget's list at once.

**Saved models** are the ``.pt`` files of one folder, :func:`user_models_dir` (the
user's data folder, e.g. ``~/.local/share/napari-unetseg/models`` on Linux, or
``$NAPARI_UNETSEG_MODELS``): a model saved there (:meth:`ModelRegistry.save_as`, the
Fine-tune widget's "Save model...", ``unetseg train --save-as``) is listed by name in every
later session, by the widgets, the API and the CLI alike. A shipped name wins over a
saved file of the same name.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bundle import ModelBundle

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"
#: Environment variable naming the folder of saved models (instead of the user's data
#: folder): a lab's shared folder, or a test's own.
MODELS_DIR_ENV = "NAPARI_UNETSEG_MODELS"


def user_models_dir() -> Path:
    """The folder of saved models (it may not exist yet)."""
    given = os.environ.get(MODELS_DIR_ENV)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_data_path("napari-unetseg", appauthor=False) / "models"


class ModelRegistry:
    def __init__(
        self,
        shipped_dir: Path = SHIPPED_DIR,
        saved_dir: Callable[[], Path | None] | Path | None = user_models_dir,
    ) -> None:
        self.shipped_dir = Path(shipped_dir)
        self._saved_dir = saved_dir
        self._session: dict[str, ModelBundle] = {}
        self._trained_on: dict[str, str] = {}
        self._sources: dict[str, _Source] = {}  # session models loaded from files
        self._forgotten: set[str] = set()  # names not given again (:meth:`forget`)
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def shipped(self) -> dict[str, Path]:
        """Shipped model names (file stem) and their paths."""
        if not self.shipped_dir.is_dir():
            return {}
        return {p.stem: p for p in sorted(self.shipped_dir.glob("*.pt"))}

    @property
    def saved_dir(self) -> Path | None:
        """The folder of saved models (None: this registry keeps none)."""
        folder = self._saved_dir() if callable(self._saved_dir) else self._saved_dir
        return None if folder is None else Path(folder)

    def saved(self) -> dict[str, Path]:
        """Saved model names (file stem) and their paths; shipped names left out."""
        folder = self.saved_dir
        if folder is None or not folder.is_dir():
            return {}
        shipped = self.shipped()
        try:
            # any case of the suffix: a model saved as "cells.PT" is listed as "cells"
            found = [p for p in folder.iterdir() if p.suffix.lower() == ".pt"]
            files = sorted(found, key=lambda p: p.stem.lower())
        except OSError:  # an unreadable folder lists nothing
            return {}
        return {p.stem: p for p in files if p.stem not in shipped and p.is_file()}

    def hidden(self) -> list[Path]:
        """Files in the saved-models folder named as a shipped model ("nuclei-3d.pt"
        copied there by hand): the shipped model is the one its name loads."""
        folder, shipped = self.saved_dir, self.shipped()
        if folder is None or not folder.is_dir():
            return []
        try:
            return sorted(
                p for p in folder.iterdir() if p.suffix.lower() == ".pt" and p.stem in shipped
            )
        except OSError:
            return []

    def session(self) -> dict[str, ModelBundle]:
        with self._lock:
            return dict(self._session)

    def names(self) -> list[str]:
        """Shipped, then saved, then session models (a session model saved under its own
        name is listed once)."""
        listed = [*self.shipped(), *self.saved()]
        return listed + [n for n in self.session() if n not in listed]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._session or name in self.shipped() or name in self.saved()

    def get(self, name: str) -> ModelBundle:
        """The model called ``name``: a session model, or one freshly loaded from its
        shipped or saved file.

        A session model loaded from a file whose file was written anew since (a model
        trained again to the same path in a terminal) is read again from it: the copy
        read before was used silently (model bug bash). A deleted file leaves the copy.
        """
        with self._lock:
            bundle, source = self._session.get(name), self._sources.get(name)
        if bundle is not None:
            return bundle if source is None else self._current(name, bundle, source)
        shipped = self.shipped()
        if name in shipped:
            return ModelBundle.load(shipped[name])
        saved = self.saved()
        if name in saved:
            bundle = ModelBundle.load(saved[name])
            bundle.name = name  # as listed: the file's name, whatever it was trained as
            return bundle
        raise KeyError(name)

    def _current(self, name: str, bundle: ModelBundle, source: _Source) -> ModelBundle:
        """``bundle``, or its file read again when written anew since it was read."""
        stamp = file_stamp(source.path)
        if stamp is None or stamp == source.stamp:
            return bundle
        fresh = source.load(source.path)
        fresh.name = name
        with self._lock:
            if self._session.get(name) is bundle:  # not removed or replaced meanwhile
                self._session[name] = fresh
                self._sources[name] = _Source(source.path, stamp, source.load)
        self._notify()  # the widgets describe the model anew
        return fresh

    def source(self, name: str) -> Path | None:
        """The file a model is read from (shipped, saved, or a session model loaded from
        a file); None for a model trained in this session or an unknown name."""
        with self._lock:
            if name in self._session:
                source = self._sources.get(name)
                return None if source is None else source.path
        return self.shipped().get(name) or self.saved().get(name)

    def origin(self, name: str) -> str:
        """Where a listed model comes from, in a few words with its file (a tooltip)."""
        with self._lock:
            session, source = name in self._session, self._sources.get(name)
        if session and source is not None:
            return f"Loaded from {source.path}"
        if session:
            return "Trained in this session"
        if name in self.shipped():
            return f"Shipped with napari-unetseg: {self.shipped()[name]}"
        saved = self.saved().get(name)
        return f"Saved model: {saved}" if saved is not None else ""

    def save_as(self, bundle: ModelBundle, name: str | None = None) -> Path:
        """Save ``bundle`` into the saved-models folder as ``<name>.pt`` (replacing a
        saved model of that name), so later sessions list it; returns the file.

        Raises
        ------
        ValueError
            When this registry has no such folder, or the name is a shipped model's
            or makes no file name.
        """
        own = safe_model_name(bundle.name or "model")  # its own name, made a file name
        path = self.saving_path(name if name is not None else own, bundle)
        path = save_listed(bundle, path)
        self._notify()
        return path

    def saving_path(self, name: str, bundle: ModelBundle | None = None) -> Path:
        """The file :meth:`save_as` writes for ``name``, checked before any work is done:
        a usable name (:func:`model_file_stem`; ``cells.pt`` is ``cells``), not a
        shipped model's nor another model's of this session (``bundle`` may save under
        its own session name), in a saved-models folder that can be written (created
        when missing).

        Raises
        ------
        ValueError
            One sentence saying which of these fails.
        """
        folder = self.saved_dir
        if folder is None:
            raise ValueError("This registry keeps no saved models.")
        stem = model_file_stem(name)
        shipped = {n.lower(): n for n in self.shipped()}
        if stem.lower() in shipped:
            same = shipped[stem.lower()]
            spelt = "" if same == stem else f" ({same!r}, in another case)"
            raise ValueError(f"{stem!r} is a shipped model's name{spelt}; choose another name.")
        other_model = self.session().get(stem)
        if (
            other_model is not None
            and other_model is not bundle
            and not self._same_file(stem, bundle)
        ):
            # the name would load the session's model here, the file in later sessions
            raise ValueError(
                f"{stem!r} is the name of another model of this session; choose another name."
            )
        # one file on macOS and Windows: saving "cells" replaced "Cells" there, not here
        other = next((n for n in self.saved() if n.lower() == stem.lower() and n != stem), None)
        if other is not None:
            raise ValueError(
                f"A saved model {other!r} exists, and names that differ only in case are one "
                f"file on macOS and Windows; save as {other!r} to replace it, or choose "
                "another name."
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError("not writable")
        except OSError as exc:
            why = "it is a file" if folder.is_file() else (exc.strerror or str(exc)).lower()
            raise ValueError(
                f"Models cannot be saved in {str(folder)!r} ({why}); set "
                f"{MODELS_DIR_ENV} to a folder you can write to."
            ) from None
        return folder / f"{stem}.pt"

    def _same_file(self, name: str, bundle: ModelBundle | None) -> bool:
        """Whether ``bundle`` was read from the file the session model ``name`` was
        loaded from (saving that file's model under its name was refused as another
        model's; review bash)."""
        with self._lock:
            source = self._sources.get(name)
        read_from = getattr(bundle, "source", None)
        if source is None or not read_from:
            return False
        return os.path.realpath(read_from) == os.path.realpath(source.path)

    def register(
        self,
        bundle: ModelBundle,
        name: str | None = None,
        trained_on: str | None = None,
        source: Path | None = None,
        load: Callable[[Path], ModelBundle] | None = None,
    ) -> str:
        """Add a model trained (or loaded) in this session; returns its (unique) name.

        ``trained_on`` names the image it was trained on (a key of its layer, e.g.
        ``_qt._common.layer_key``), so that a widget segmenting that image can offer it
        first (:meth:`trained_on`). ``source`` is the file it was loaded from, read again
        with ``load`` (default :meth:`ModelBundle.load`) when written anew (:meth:`get`).
        """
        base = name or bundle.name or "model"
        on_disk = set(self.shipped()) | set(self.saved())
        with self._lock:
            taken = set(self._session) | self._forgotten | on_disk
            unique, i = base, 2
            while unique in taken:
                unique, i = f"{base} ({i})", i + 1
            bundle.name = unique
            self._session[unique] = bundle
            if trained_on is not None:
                self._trained_on[unique] = trained_on
            if source is not None:
                path = Path(source)
                self._sources[unique] = _Source(path, file_stamp(path), load or ModelBundle.load)
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
            self._sources.pop(name, None)
        self._notify()

    def forget(self, name: str) -> None:
        """Drop the session model ``name`` (the user's "Forget"), freeing its memory; the
        name is not given to another model of this session, so that a name met before
        (the model a widget last segmented with) never means another model."""
        with self._lock:
            if name in self._session:
                self._forgotten.add(name)
        self.remove(name)

    def was_forgotten(self, name: str) -> bool:
        """Whether the session model ``name`` was forgotten (:meth:`forget`)."""
        with self._lock:
            return name in self._forgotten

    def connect(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def disconnect(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def changed(self) -> None:
        """Tell the listeners that the models on disk changed (a file saved into the
        saved-models folder by other means than :meth:`save_as`)."""
        self._notify()

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()


@dataclass(frozen=True)
class _Source:
    """The file a session model was loaded from, when it was last written, its reader."""

    path: Path
    stamp: tuple[int, int] | None
    load: Callable[[Path], ModelBundle]


def file_stamp(path: Path) -> tuple[int, int] | None:
    """When ``path`` was last written and its size; None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def safe_model_name(name: str) -> str:
    """``name`` as a file stem: letters, digits, ``. _ -`` and spaces kept.

    Raises
    ------
    ValueError
        When nothing usable is left.
    """
    stem = re.sub(r"[^\w.\- ()]+", "_", str(name)).strip(" .")
    if not stem:
        raise ValueError(f"{name!r} cannot name a model file; choose another name.")
    return stem


#: The longest model name (bytes of its file stem): file systems allow 255 per name.
MAX_NAME_BYTES = 200


def model_file_stem(name: str) -> str:
    """The file stem a model called ``name`` is saved under: the name itself, without a
    ``.pt`` ending. A name that would have to change (``lab/cells``: a path, not a name)
    or is too long is refused, so that the model is found again by the name given.

    Raises
    ------
    ValueError
        One sentence naming a usable spelling.
    """
    text = str(name).strip()
    if text.lower().endswith(".pt"):
        text = text[:-3].strip()
    stem = safe_model_name(text)
    if stem != text:
        raise ValueError(
            f"{name!r} is not a usable model name; letters, digits, spaces and "
            f"'. _ - ( )' are (e.g. {stem!r})."
        )
    if len(stem.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"The model name is {len(stem)} characters long; choose one of at most "
            f"{MAX_NAME_BYTES}."
        )
    return stem


#: The process-wide registry used by the API, the CLI and the widgets.
REGISTRY = ModelRegistry()


def save_listed(bundle: ModelBundle, path: Path) -> Path:
    """Write ``bundle`` to ``path`` in the saved-models folder named inside as it is
    listed there (the file's stem; ``bundle`` itself keeps its name): labels made with
    its file named it by its session name, no name a later session knows
    (reproducibility bash). Returns the file written."""
    listed = copy.copy(bundle)
    listed.name = Path(path).stem
    return listed.save(path)
