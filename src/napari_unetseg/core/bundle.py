"""Model files: a U-Net with everything needed to use it correctly.

A model file (``.pt``) is one ``torch.save`` of a plain dict of tensors and plain values:

- ``format`` / ``format_version``: identifies the file;
- ``config``: the :class:`~napari_unetseg.core.unet.UNet` constructor arguments;
- ``state_dict``: the weights;
- ``normalization``: the input normalization parameters (see ``normalize.py``);
- ``class_names``, ``tile_size`` (a hint for inference), ``name``;
- ``object_size`` (optional): the object diameter the model was trained for (see
  ``scale.py``), the relative pixel size of its training grid, and how far larger
  objects are shrunk to it (``shrink_exponent``, 1 when absent: all the way); files
  without it predict at the image's own scale;
- ``history``: training curves, data shapes, label mode, seed, duration.

Files are loaded with ``torch.load(..., weights_only=True)`` so a model file can never
run code, and saved atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
import torch

from .devices import own_random_state
from .files import atomic_write
from .foreign import ForeignNetwork
from .intensity import intensity_range_of, range_text
from .normalize import (
    DEFAULT_NORMALIZATION,
    OPS,
    Layout,
    Normalizer,
    TimeNormalizers,
    resolve_layout,
)
from .unet import UNet, unknown_settings

MODEL_FORMAT = "napari-unetseg-model"
FORMAT_VERSION = 1
DEFAULT_TILE = {2: 256, 3: 96}


def finetuned_name(name: str) -> str:
    """The name of a model fine-tuned from the model ``name``: ``"<name>-finetuned"``.

    The registry's `` (2)`` suffix and an earlier ``-finetuned`` are dropped first, so
    fine-tuning a fine-tuned model does not pile up suffixes.
    """
    return re.sub(r"(-finetuned)?( \(\d+\))?$", "", name) + "-finetuned"


class ModelFileError(ValueError):
    """A file that is not a usable napari-unetseg model."""


def _plain(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain Python values for the file."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _checked_object_size(value: Any, spatial_dims: int) -> dict[str, Any]:
    """Validate and complete a bundle's ``object_size`` record."""
    if isinstance(value, (int, float)):
        value = {"diameter": float(value)}
    if not isinstance(value, dict):
        raise ModelFileError("object_size must be a number or a dict with a 'diameter'.")
    try:
        diameter = float(value["diameter"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError("object_size needs a numeric 'diameter'.") from exc
    if not np.isfinite(diameter) or diameter <= 0:
        raise ModelFileError(f"object_size diameter must be positive, got {diameter!r}.")
    try:
        shrink = float(value.get("shrink_exponent", 1.0))
    except (TypeError, ValueError) as exc:
        raise ModelFileError("object_size shrink_exponent must be a number.") from exc
    if not 0 < shrink <= 1:
        raise ModelFileError(f"object_size shrink_exponent must be in (0, 1], got {shrink!r}.")
    spacing = value.get("spacing") or [1.0] * spatial_dims
    spacing = [float(s) for s in list(spacing)[-spatial_dims:]]
    if len(spacing) != spatial_dims or min(spacing) <= 0:
        spacing = [1.0] * spatial_dims
    return {
        "diameter": diameter,
        "spacing": spacing,
        "pixel_size": value.get("pixel_size"),
        "unit": value.get("unit"),
        "source": value.get("source", "unknown"),
        "shrink_exponent": shrink,
    }


#: The type each optional field of a model file must have (a list's items: the second).
_FIELDS: dict[str, tuple[type | tuple[type, ...], type | tuple[type, ...] | None]] = {
    "config": (dict, None),  # (a list raised AttributeError's traceback; review)
    "normalization": (dict, None),
    "class_names": ((list, tuple), str),
    "tile_size": ((list, tuple), int),
    "history": (dict, None),
    "object_size": (dict, None),
}


def _check_fields(data: dict[str, Any], where: str) -> None:
    """Refuse (one sentence) a model file whose fields have other types than ours write:
    a hand-edited package record or file gave a TypeError, or class names "abc" read as
    three names."""
    problem = None
    version = data.get("format_version", 0)
    # a whole number (inf gave OverflowError's traceback, True and 1.9 were taken; array
    # bug bash)
    if isinstance(version, bool) or not isinstance(version, (int, float)):
        problem = f"format_version {version!r} is not a whole number"
    elif not (math.isfinite(version) and float(version).is_integer() and version >= 0):
        problem = f"format_version {version!r} is not a whole number"
    for key, (kind, item) in _FIELDS.items():
        value = data.get(key)
        if problem or value is None:
            continue
        if not isinstance(value, kind):
            problem = f"{key} is {value!r}, not a {_kind_name(kind)}"
        elif item is not None and not all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        ):
            problem = f"{key} holds {value!r}, not only {item.__name__} values"
    problem = problem or _value_problem(data)
    if problem:
        raise ModelFileError(f"{where}is a damaged napari-unetseg model file ({problem}).")


def _check_network_settings(data: dict[str, Any], where: str) -> None:
    """Refuse network settings this version's U-Net does not take, naming them (the
    refusal read "UNet.__init__() got an unexpected keyword argument ...")."""
    config = data.get("config")
    if not isinstance(config, dict):
        return
    unknown = unknown_settings(config)
    if unknown:
        raise ModelFileError(
            f"{where}names network settings this napari-unetseg does not know "
            f"({', '.join(unknown)}): it was written by a newer or another version."
        )


def _network(data: dict[str, Any]) -> UNet:
    """The U-Net a model file's ``config`` describes (its weights not loaded yet).

    Raises
    ------
    ValueError
        Saying the file has no ``config`` or ``state_dict`` entry (the message was the
        bare key, "('config')"), or that its settings are not a U-Net's ("'<' not
        supported between instances of 'str' and 'int'"; fuzzing bash).
    """
    missing = [key for key in ("config", "state_dict") if key not in data]
    if missing:
        raise ValueError(f"it has no {' nor '.join(missing)} entry")
    config = data["config"]
    try:
        with own_random_state():  # (its weights are the file's: none of the caller's)
            return UNet(**config)
    except TypeError as exc:  # (a ValueError names its setting and value itself)
        raise ValueError(f"its network {_wrong_setting(config)}") from exc


def _wrong_setting(config: Any) -> str:
    """Which U-Net setting of ``config`` has the wrong kind of value, in a few words."""
    if not isinstance(config, dict):
        return f"settings {config!r} are not a table of settings"
    for key, param in inspect.signature(UNet).parameters.items():
        value, default = config.get(key, param.default), param.default
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric != (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return f"setting {key} is {value!r}, not a {'number' if numeric else 'name'}"
        if isinstance(default, int) and numeric and not isinstance(value, int):
            return f"setting {key} is {value!r}, not a whole number"
    return "settings are not a U-Net's"


def _check_weight_types(network: torch.nn.Module, given: Any) -> None:
    """Refuse weights of whole numbers where the network has real ones: torch's loading
    turned an int64 tensor into floats without a word, and the model segmented
    everything as background (fuzzing bash). Raises ValueError naming the tensor."""
    own = network.state_dict()
    for key, tensor in dict(given).items():
        mine = own.get(key)
        if isinstance(tensor, torch.Tensor) and mine is not None and mine.is_floating_point():
            if not tensor.is_floating_point():
                raise ValueError(f"its weights {key} are {str(tensor.dtype)[6:]} numbers")


def _check_variances(network: torch.nn.Module) -> None:
    """Refuse a normalization layer's negative variance, which no training makes (its
    square root is NaN: labels all background; fuzzing bash)."""
    for key, tensor in network.state_dict().items():
        if key.endswith("running_var") and bool((tensor < 0).any()):
            raise ValueError(f"its {key} holds negative variances")


#: The normalization modes a model may name (``core.normalize``).
NORMALIZATION_MODES = ("percentile", "ops", "none")


def _value_problem(data: dict[str, Any]) -> str | None:
    """Values of the right type that no model of ours holds: an unknown normalization
    mode failed only at predict, a tile of 0 pixels predicted 96 x 96 as 4096 tiles."""
    norm = data.get("normalization") or {}
    mode = norm.get("mode", "percentile")
    if mode not in NORMALIZATION_MODES:
        return f"normalization mode {mode!r} is none of {', '.join(NORMALIZATION_MODES)}"
    steps = norm.get("ops") if mode == "ops" else []
    if not isinstance(steps, (list, tuple)) or not all(
        isinstance(o, dict) and o.get("op") in OPS for o in steps
    ):
        return f"normalization ops {steps!r} are not a list of {', '.join(OPS)}"
    if mode == "percentile":  # (checked when predicting, blamed on the image; bug bash)
        low, high = norm.get("low", 1.0), norm.get("high", 99.8)
        numbers = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in (low, high)
        )
        if not numbers or not 0 <= low < high <= 100:
            return f"normalization percentiles {low!r} and {high!r} are not 0 <= low < high <= 100"
    tile = data.get("tile_size")
    if tile is not None and not all(t >= 8 for t in tile):
        return f"tile_size {list(tile)!r} holds sizes under 8 pixels"
    dims = (data.get("config") or {}).get("spatial_dims")
    if tile and dims in (2, 3) and len(tile) != dims:
        return f"tile_size {list(tile)!r} is not {dims} sizes for a {dims}D model"
    for flag in ("fill_holes", "split_touching", "invert"):
        value = data.get(flag)
        if value is not None and not isinstance(value, bool):
            return f"{flag} {value!r} is not true or false"
    return None


def _zip_damage(path: Path) -> str | None:
    """Why a file saved as torch saves (a zip archive) is damaged, or None: torch checks
    no checksum, so a copy with a few bytes changed loaded and predicted other labels
    without a word (paths bug bash)."""
    if not _starts_as_zip(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        return "is not a napari-unetseg model file (it is damaged or truncated)"
    if bad is None:
        return None
    return (
        f"is damaged: the checksum of its part {bad!r} does not match (copy it again, or "
        "use an earlier copy)"
    )


def _starts_as_zip(path: Path) -> bool:
    """Whether a file starts as a zip archive does (how torch saves): one that then
    fails to load is a model file cut short or damaged."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return (
        "list"
        if isinstance(kind, tuple)
        else {"dict": "mapping"}.get(kind.__name__, kind.__name__)
    )


@dataclass
class ModelBundle:
    """A network plus its configuration, normalization, class names and history."""

    #: Our :class:`UNet`, or a predict-only :class:`ForeignNetwork` (e.g. from a
    #: bioimage.io package), which can be used for prediction but not trained or saved.
    network: UNet | ForeignNetwork
    normalization: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    class_names: list[str] = field(default_factory=list)
    tile_size: tuple[int, ...] | None = None
    history: dict[str, Any] = field(default_factory=dict)
    name: str = "unet"
    source: str | None = None  # where it was loaded from (path), for display only
    #: ``{"diameter": X pixels, "spacing": relative pixel size per spatial axis,
    #: "pixel_size": physical pixel size or None, "unit": str or None, "source": str}``
    object_size: dict[str, Any] | None = None
    #: Fill holes inside predicted objects by default (e.g. nucleoli in nuclei).
    fill_holes: bool = False
    #: The objects of its classes are separate things (nuclei, cells): segmenting splits
    #: touching ones into one label each by default (``api.segment``, the Segment
    #: widget, ``unetseg predict``); a fine-tuned model keeps its start model's setting.
    split_touching: bool = False
    #: Trained on images with dark and bright swapped (dark objects on a bright
    #: background, ``invert``): prediction swaps them too unless told otherwise.
    invert: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.network, (UNet, ForeignNetwork)):
            raise TypeError("ModelBundle.network must be a napari_unetseg UNet or ForeignNetwork.")
        self.normalization = {**DEFAULT_NORMALIZATION, **(self.normalization or {})}
        if not self.class_names:
            n = self.n_classes
            self.class_names = (
                ["background", "foreground"]
                if n == 1
                else ["background"] + [f"class {i}" for i in range(1, n)]
            )
        if self.tile_size is None:
            self.tile_size = (DEFAULT_TILE[self.spatial_dims],) * self.spatial_dims
        self.tile_size = self.fit_tile(self.tile_size)
        self.set_object_size(self.object_size)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_network(cls, network: UNet, **config: Any) -> ModelBundle:
        """Wrap a freshly built :class:`UNet`.

        Keyword arguments are the other fields: ``normalization``, ``class_names``,
        ``tile_size``, ``history``, ``name``.
        """
        return cls(network=network, **config)

    @classmethod
    def create(cls, **unet_config: Any) -> ModelBundle:
        """Build a new, untrained model from :class:`UNet` arguments."""
        return cls(network=UNet(**unet_config))

    # -- properties ---------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return dict(self.network.config)

    @property
    def spatial_dims(self) -> int:
        return self.network.spatial_dims

    @property
    def n_classes(self) -> int:
        return self.network.n_classes

    @property
    def in_channels(self) -> int:
        return self.network.in_channels

    @property
    def divisor(self) -> int:
        return self.network.divisor()

    @property
    def trainable(self) -> bool:
        """False for a predict-only network from elsewhere (see ``foreign.py``)."""
        return isinstance(self.network, UNet)

    @property
    def halo(self) -> tuple[int, ...]:
        """Output pixels at each tile border that the tiler must not trust, per axis."""
        return getattr(self.network, "halo", (0,) * self.spatial_dims)

    def fit_tile(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        """Per axis, the smallest input size the network accepts that is at least ``sizes``."""
        if isinstance(self.network, ForeignNetwork):
            return tuple(self.network.valid_size(a, int(n)) for a, n in enumerate(sizes))
        div = self.divisor
        return tuple(max(div, -(-int(n) // div) * div) for n in sizes)

    @property
    def n_labels(self) -> int:
        """Number of label values a prediction can take (background included)."""
        return max(2, self.n_classes)

    def set_object_size(self, value: Any) -> None:
        """Record (validated) the object size the model is for; None forgets it.

        ``value``: a diameter in pixels, or a dict with ``diameter`` and optionally
        ``spacing``, ``pixel_size``, ``unit``, ``source`` (see ``scale.py``).
        """
        self.object_size = (
            None if value is None else _checked_object_size(value, self.spatial_dims)
        )

    def summary(self) -> str:
        """One line for people: dimensionality, input channels and classes.

        E.g. ``"2D model, 1 input channel; classes: background, nucleus"`` (the widgets'
        model descriptions and ``unetseg models``).
        """
        chans = self.in_channels
        fixed = intensity_range_of(self.normalization)
        return (
            f"{self.spatial_dims}D model, {chans} input channel{'s' * (chans > 1)}; "
            f"classes: {', '.join(self.class_names)}"
            + ("; dark objects (dark and bright swapped)" if self.invert else "")
            + (f"; intensities {range_text(*fixed)}" if fixed else "")
            + ("" if self.trainable else " (imported, predict only)")
        )

    def lineage(self) -> str:
        """What a fine-tuned model was fine-tuned from, and for how many steps (e.g.
        ``"fine-tuned from 'nuclei-2d' for 134 steps"``; a file named by its stem), or
        "" for a model trained new. Rounds of fine-tuning were listed with one same
        description (rounds bash)."""
        history = self.history or {}
        start = history.get("started_from")
        if not isinstance(start, str) or not start:
            return ""
        if re.search(r"[/\\]|\.(pt|zip)$", start):  # a file, on any system
            start = PureWindowsPath(start).stem if "\\" in start else Path(start).stem
        elif not re.fullmatch(r"[\w.\- ()]{1,200}", start):  # a sentence (shipped models)
            return ""
        steps = history.get("steps")
        said = f" for {steps} step{'' if steps == 1 else 's'}" if steps else ""
        return f"fine-tuned from {start!r}{said}"

    def __repr__(self) -> str:
        """One line (the dataclass's own printed every weight tensor's network and the
        training history: 120 kB for ``print(model)`` in a notebook)."""
        steps = (self.history or {}).get("steps")
        trained = "" if steps is None else f"; trained {steps} steps"
        return f"ModelBundle({self.name!r}: {self.summary()}{trained})"

    def copy(self) -> ModelBundle:
        return copy.deepcopy(self)

    # -- normalization ------------------------------------------------------------------
    def layout(self, shape: tuple[int, ...], channel_axis: int | None = None) -> Layout:
        return resolve_layout(shape, self.spatial_dims, self.in_channels, channel_axis)

    def normalizer(
        self, image: Any, channel_axis: int | None = None, time_axis: int | None = None
    ) -> Normalizer | TimeNormalizers:
        """The normalizer (statistics of ``image``) that prediction and training apply;
        with ``time_axis`` (of ``image``, one of its leading axes) each time point's own
        (:class:`~napari_unetseg.core.normalize.TimeNormalizers`)."""
        layout = self.layout(image.shape, channel_axis)
        ndim = len(image.shape)
        if time_axis is None or time_axis % ndim not in layout.leading_axes:
            return Normalizer.from_image(image, layout, self.normalization)
        t = time_axis % ndim
        frame = self.layout(
            tuple(1 if a == t else n for a, n in enumerate(image.shape)), channel_axis
        )
        return TimeNormalizers.from_series(image, layout, frame, t, self.normalization)

    def normalize(self, image: Any, channel_axis: int | None = None) -> np.ndarray:
        """The exact float32 input transform :func:`predict` applies, on a whole image.

        Returns the image with the channel axis first when the model has one
        (``(C, ..., *spatial)``), else the image's shape, so any other engine can be fed
        identical input.
        """
        layout = self.layout(image.shape, channel_axis)
        norm = Normalizer.from_image(image, layout, self.normalization)
        arr = np.asarray(image)
        if layout.channel_axis is None:
            return norm(arr[None])[0]
        return norm(np.moveaxis(arr, layout.channel_axis, 0))

    # -- files --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if not self.trainable:
            raise ModelFileError(
                f"Model {self.name!r} was imported for prediction only and cannot be saved as a "
                "napari-unetseg model file; keep using its original package."
            )
        state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        return {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "config": _plain(self.config),
            "state_dict": state,
            "normalization": _plain(self.normalization),
            "class_names": list(self.class_names),
            "tile_size": list(self.tile_size or []),
            "history": _plain(self.history),
            **({"object_size": _plain(self.object_size)} if self.object_size else {}),
            "fill_holes": bool(self.fill_holes),
            **({"split_touching": True} if self.split_touching else {}),
            **({"invert": True} if self.invert else {}),
        }

    def save(self, path: str | os.PathLike, replace: bool = True) -> Path:
        """Write the model file atomically (temporary file, then rename); with
        ``replace=False`` a file at ``path`` (even one made meanwhile) is never replaced
        (:class:`FileExistsError`)."""
        data = self.to_dict()
        return atomic_write(path, lambda tmp: torch.save(data, tmp), replace=replace)

    def export_bioimageio(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write a bioimage.io model package (``.zip``) of this model.

        Needs the ``bioimageio`` extra; see :func:`napari_unetseg.bioimageio.export_bioimageio`
        for the options (test image, pixel size, authors, licence, ...).
        """
        # Imported here: bioimageio.spec lives outside core, which is numpy + torch only.
        from ..bioimageio import export_bioimageio

        return export_bioimageio(self, path, **options)

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> ModelBundle:
        where = f"{source!r} " if source else "This "
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            why = ""
            if isinstance(data, dict) and data and all(hasattr(v, "shape") for v in data.values()):
                # torch.save(net.state_dict()): said nothing of what it was
                why = (
                    " (it holds bare PyTorch weights, a state dict, without the network and "
                    "normalization a model file records)"
                )
            raise ModelFileError(f"{where}is not a napari-unetseg model file{why}.")
        version = data.get("format_version", 0)
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            # before the fields: a newer format's were called "damaged" (paths bug bash)
            raise ModelFileError(
                f"{where}was written by a newer napari-unetseg (format {version}); please upgrade."
            )
        _check_fields(data, where)
        _check_network_settings(data, where)
        try:
            network = _network(data)
            _check_weight_types(network, data["state_dict"])
            network.load_state_dict(data["state_dict"])
            _check_variances(network)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            # torch heads a list of mismatched tensors, one a line: keep the first.
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = lines[1 if len(lines) > 1 else 0].rstrip(".") if lines else repr(exc)
            if len(reason) > 160:  # "Missing key(s) in state_dict: ..." lists every key
                reason = reason[:150].rsplit(",", 1)[0] + ", ..."
            more = f", and {len(lines) - 2} more" if len(lines) > 2 else ""
            raise ModelFileError(
                f"{where}is a damaged napari-unetseg model file ({reason}{more})."
            ) from exc
        if not all(torch.isfinite(t).all() for t in network.state_dict().values()):
            # a run that diverged: its labels were all background, or the image was said
            # to have no finite values (array bug bash)
            raise ModelFileError(
                f"{where}holds weights that are not finite (NaN or infinite: a training "
                "that diverged); train it again, or use an earlier copy."
            )
        network.eval()
        return cls(
            network=network,
            normalization=dict(data.get("normalization") or {}),
            class_names=list(data.get("class_names") or []),
            tile_size=tuple(data.get("tile_size") or ()) or None,
            history=dict(data.get("history") or {}),
            name=str(data.get("name") or "unet"),
            source=source,
            object_size=dict(data["object_size"]) if data.get("object_size") else None,
            fill_holes=bool(data.get("fill_holes", False)),
            split_touching=bool(data.get("split_touching", False)),
            invert=bool(data.get("invert", False)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelBundle:
        """Load a model file safely (``weights_only=True``: a file cannot run code).

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ModelFileError
            If the file is not a napari-unetseg model (or would need to run code).
        """
        path = Path(path).expanduser()
        if path.is_dir():
            raise ModelFileError(f"{str(path)!r} is a folder, not a model file.")
        if not path.is_file():
            raise FileNotFoundError(f"Model file {str(path)!r} does not exist.")
        damage = _zip_damage(path)
        if damage:
            raise ModelFileError(f"{str(path)!r} {damage}.")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling errors, bad zips, truncated files, ...
            reason = (
                "it would run code when loaded"
                # torch names weights_only in every refusal; only a global is code
                if "Unsupported global" in str(exc) or "Unsupported class" in str(exc)
                else "it cannot be read as a PyTorch file"
            )
            if isinstance(exc, zipfile.BadZipFile) or (
                reason != "it would run code when loaded" and _starts_as_zip(path)
            ):  # torch's own reader fails on a cut file with a RuntimeError or an OSError
                reason = "it is damaged or truncated"
            raise ModelFileError(
                f"{str(path)!r} is not a napari-unetseg model file ({reason})."
            ) from exc
        bundle = cls.from_dict(data, source=str(path))
        if bundle.name == "unet":
            bundle.name = path.stem
        return bundle
