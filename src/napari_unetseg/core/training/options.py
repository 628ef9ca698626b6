"""The settings of a run: :func:`~napari_unetseg.core.training.train`'s arguments checked,
and the defaults (budget, architecture of a new model, patch and batch size per device).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .labels import LABEL_MODES

if TYPE_CHECKING:
    import torch

    from ..bundle import ModelBundle

#: Architecture of a model trained from scratch, per spatial dimensionality.
NEW_MODEL: dict[int, dict[str, Any]] = {
    2: {"depth": 4, "base_channels": 16, "norm": "batch"},
    3: {"depth": 4, "base_channels": 12, "norm": "batch"},
}
#: Weight of the starting model's answers on unpainted pixels when fine-tuning on scribbles
#: (``keep_prior=None``). A trade-off measured in docs/benchmarks.md (Accuracy on real data):
#: more keeps good objects from shrinking, less lets strokes correct a model that is wrong.
KEEP_PRIOR = 0.3
#: Default time budget (seconds) when neither ``steps`` nor ``time_limit`` is given.
DEFAULT_TIME_LIMIT = 60.0


@dataclass(frozen=True)
class WholeImage:
    """In ``statistics_of``: the image a training image was cropped from (its painted
    region). Its statistics normalize the crop as they are, as prediction on the whole
    image takes them: the crop's own put a confocal stack's 99.8th percentile 21 % of
    its span higher, and training saw the nuclei dimmer than they are predicted."""

    image: Any


@dataclass
class TrainOptions:
    """The arguments of :func:`~napari_unetseg.core.training.train` besides the data, checked.

    Raises ValueError for a bad value; without ``steps`` and ``time_limit`` the budget is
    :data:`DEFAULT_TIME_LIMIT` seconds.
    """

    model: ModelBundle | None
    label_mode: str
    n_classes: int | None
    steps: int | None
    time_limit: float | None
    patch_size: int | Sequence[int] | None
    batch_size: int | None
    learning_rate: float | None
    val_fraction: float
    augment: bool
    device: str | torch.device
    seed: int
    stop: threading.Event | None
    preview_image: Any
    preview_every: int
    spatial_dims: int | None
    channel_axis: int | None
    eval_every: int | None
    model_config: dict[str, Any] | None
    precision: str = "auto"
    keep_prior: float | None = None
    intensity_augment: bool = True
    match_labels: bool = False
    class_names: Sequence[str] | None = None
    time_axis: int | None = None
    intensity_range: Any = None
    #: The images whose statistics normalize the training images (the originals of
    #: images resampled to the model's scale, as prediction takes them; a
    #: :class:`WholeImage` for a painted crop), or None.
    statistics_of: Any = None

    def __post_init__(self) -> None:
        from ..devices import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        steps, time_limit = self.steps, self.time_limit
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}.")
        check_budget(steps, time_limit)
        check_whole("n_classes", self.n_classes)
        check_model_config(self.model_config)
        check_class_names(self.class_names)
        check_sampling(self.val_fraction, self.batch_size, self.keep_prior)
        if steps is None and time_limit is None:
            self.time_limit = DEFAULT_TIME_LIMIT
        check_intensity_range(self.intensity_range, self.model is not None)


def check_intensity_range(value: Any, fine_tuning: bool, invert: Any = False) -> None:
    """Refuse (one sentence) a fixed intensity range that is not two finite numbers, low
    below high, one given for fine-tuning (a model keeps its own normalization), or one
    beside ``invert`` (the range is of the image's own values)."""
    if value is None:
        return
    from ..intensity import fixed_range

    fixed_range(value)
    if fine_tuning:
        raise ValueError(
            "A fixed intensity range (intensity_range, --intensity-range) sets a new "
            "model's normalization; a model fine-tuned keeps its own (train a new model "
            "for a fixed range)."
        )
    if invert:
        raise ValueError(
            "A fixed intensity range (intensity_range, --intensity-range) does not go with "
            "invert (--invert): the range is of the image's own values (give the range of "
            "its values as they are, without invert)."
        )


def check_model_config(config: dict[str, Any] | None) -> None:
    """Refuse settings the U-Net does not have, and a depth under 1, before any work."""
    from ..unet import unet_settings, unknown_settings

    if not config:
        return
    unknown = unknown_settings(config)
    if unknown:
        raise ValueError(
            f"model_config has settings the U-Net does not have ({', '.join(unknown)}); "
            f"it takes {', '.join(sorted(unet_settings()))}."
        )
    depth = config.get("depth", 1)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a whole number of at least 1, got {depth!r}.")


def check_class_names(names: Any) -> None:
    """Refuse class names (unless None) that are not distinct, non-empty texts."""
    if names is None:
        return
    if isinstance(names, str) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(
            f"class_names must be a list of non-empty names, background first; got {names!r}."
        )
    if len({n.strip() for n in names}) != len(names):
        raise ValueError(f"class_names must name every class differently; got {list(names)!r}.")


def check_whole(name: str, value: Any) -> None:
    """Refuse a value (unless None) that is not a whole number of at least 1."""
    import math

    if value is None:
        return
    number = None if isinstance(value, (bool, str)) else value
    try:
        ok = math.isfinite(float(number)) and float(number) == int(number) and int(number) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")


def check_budget(steps: Any, time_limit: Any) -> None:
    """Refuse a step count that is not a whole number of at least 1, or a time limit that
    is not a positive, finite number of seconds (NaN and infinity would never run out)."""
    import math

    check_whole("steps", steps)
    if time_limit is not None and (
        isinstance(time_limit, str) or not math.isfinite(float(time_limit)) or time_limit <= 0
    ):
        raise ValueError(
            f"time_limit must be a positive, finite number of seconds, got {time_limit!r}."
        )


def check_sampling(val_fraction: Any, batch_size: Any, keep_prior: Any) -> None:
    """Refuse a validation share outside [0, 1), a batch under 1 and a negative prior
    weight, each in one sentence (the API checks them before the forest teacher runs:
    ``--val-fraction 1.5`` was refused only after it; CLI bug bash)."""
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}.")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    if keep_prior is not None and not float(keep_prior) >= 0:
        raise ValueError(f"keep_prior must be 0 or more, got {keep_prior!r}.")


def check_run_options(spatial_dims: Any, seed: Any, learning_rate: Any) -> None:
    """Refuse a model dimensionality other than 2 or 3, a seed that is not a whole
    number of 0 or more, and a learning rate that is not positive and finite (0 would
    train nothing), each in one sentence."""
    import math

    if spatial_dims is not None and spatial_dims not in (2, 3):
        raise ValueError(
            f"spatial_dims must be 2 or 3 (or None: from the image), got {spatial_dims!r}."
        )
    whole = isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
    if not (whole and seed >= 0):  # None too: torch.manual_seed took it for a TypeError
        raise ValueError(f"seed must be a whole number of 0 or more, got {seed!r}.")
    if seed >= 2**32:  # the forest's and torch's own limits (their errors reached the user)
        raise ValueError(f"seed must be below 2**32 (4294967296), got {seed!r}.")
    if learning_rate is not None:
        try:
            ok = not isinstance(learning_rate, (bool, str)) and math.isfinite(float(learning_rate))
            ok = ok and float(learning_rate) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"learning_rate must be a positive, finite number, got {learning_rate!r}."
            )


def _patch_and_batch(
    spatial_dims: int,
    device: torch.device,
    spatial_shapes: list[tuple[int, ...]],
    div: int,
    patch_size: int | Sequence[int] | None,
    batch_size: int | None,
) -> tuple[tuple[int, ...], int]:
    """The patch size (requested or default, fitted to the images) and the batch size."""
    auto_patch, auto_batch = _default_patch_batch(spatial_dims, device, spatial_shapes, div)
    batch = int(batch_size or auto_batch)
    if patch_size is None:
        return auto_patch, batch
    if isinstance(patch_size, (int, np.integer)):
        req = (patch_size,) * spatial_dims
    else:
        req = tuple(patch_size)
    if len(req) != spatial_dims or min(req) < 1:
        raise ValueError(
            f"patch_size must be a positive int or {spatial_dims} ints, got {patch_size!r}."
        )
    return _fit_patch(req, np.max(np.array(spatial_shapes), axis=0), div), batch


def patch_note(
    requested: int | Sequence[int] | None, fitted: tuple[int, ...], div: int
) -> str | None:
    """The sentence saying that the patch size asked for was changed to ``fitted`` (it
    was changed without a word: a 100 became 104, a 300 on a 128-pixel image 128)."""
    if requested is None:
        return None
    if isinstance(requested, (int, np.integer)):
        requested = (requested,) * len(fitted)
    asked = tuple(int(r) for r in requested)
    if asked == tuple(fitted):
        return None
    return (
        f"The patch size asked for, {'x'.join(map(str, asked))}, became "
        f"{'x'.join(map(str, fitted))}: each edge a multiple of {div} (the network halves "
        "it at each level) and no larger than the largest image needs."
    )


def _default_patch_batch(
    spatial_dims: int, device: torch.device, spatial_shapes: list[tuple[int, ...]], div: int
) -> tuple[tuple[int, ...], int]:
    """Patch size and batch size for the device, no larger than the images need."""
    gpu = device.type in ("cuda", "mps")
    if spatial_dims == 2:
        patch, batch = ((256, 256), 16) if gpu else ((128, 128), 4)
    else:
        patch, batch = ((64, 128, 128), 2) if gpu else ((32, 64, 64), 2)
    biggest = np.max(np.array(spatial_shapes), axis=0)
    return _fit_patch(patch, biggest, div), batch


def _fit_patch(patch: Sequence[int], biggest: np.ndarray, div: int) -> tuple[int, ...]:
    def up(n: int) -> int:
        return max(div, -(-int(n) // div) * div)

    return tuple(min(up(p), up(s)) for p, s in zip(patch, biggest, strict=True))
