"""The trainer: a :class:`Trainer` offers the named steps of a run (:mod:`.run` drives them).

:class:`Trainer` sets a run up (model, labels, validation, optimizer) and offers its
steps: an optimizer step, an evaluation, a preview, a progress record and the finish.
:func:`.run._run` is the loop that calls them within the budget. Optimization: AdamW, linear
warm-up then cosine decay (over the step budget or the time budget), gradient clipping,
autocast on CUDA; the weights with the best validation Dice are kept and returned (the
last ones without validation), or for a new 2D model on scribbles the mean of the second
half's weights with settled batch-norm statistics (:mod:`.averaging`; 2D models);
with ``match_labels`` the object threshold is then matched to the labels (:mod:`.threshold`).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from .. import devices as dev
from .. import guards
from ..bundle import ModelBundle, finetuned_name
from ..devices import own_random_state
from ..inference import predict_tiled
from ..intensity import fixed_range
from ..normalize import of_resampled
from ..progress import drain
from ..unet import UNet
from .augment import affine_batch, augment_batch
from .averaging import (
    AVERAGE_FROM,
    NORM_BATCHES,
    NORM_MOMENTUM,
    _WeightAverage,
    norm_momentum,
    set_norm_momentum,
)
from .history import KEPT_START, TrainProgress, _History, _lr_at, start_hint, unlearned_note
from .labels import (
    _LabelIndex,
    _map_classes,
    _present_classes,
    as_list,
    check_images_vary,
    missing_classes_note,
    training_pairs,
)
from .losses import dice_from_counts, hard_dice_counts
from .options import NEW_MODEL, TrainOptions, WholeImage, _patch_and_batch, patch_note
from .prior import COUNTED_BATCHES, StartModel
from .sampling import MAX_VAL_PATCHES, _Sampler
from .threshold import folded_anything, match_plan, match_threshold, prediction_voxels
from .validation import _split_validation

#: A run stops with an error after this many optimizer steps in a row whose gradients
#: were not finite (each is skipped, the weights unchanged). A rare one happens in bf16
#: (a 3D brain volume, patches 16 x 64 x 64: one step in about 10-50), and taking it
#: turned every weight into NaN.
MAX_UNFINITE_STEPS = 20
#: The thinnest in-plane edge (pixels) of the images on which a new model's patches are
#: turned and zoomed (:func:`~napari_unetseg.core.training.augment.affine_batch`).
MIN_TURN_EDGE = 16

#: Least time between two progress records without news (seconds).
RECORD_INTERVAL_S = 0.1
#: Most of a time budget kept for the predictions after the last step (_reserve). The
#: former rule, half a training step per batch, kept 217 s of a 122 s budget on the brain
#: template at 1 mm (a 2D model stopped after 10 steps; the tail took 30 s).
RESERVE_SHARE = 0.5
#: The passes after the last step (batch-norm statistics in training mode, the threshold's
#: prediction) take about this many times a validation's time per voxel (1.8 measured on
#: a 256 x 256 scribble run, 2026-12-06).
TAIL_SLOWER = 2.0
#: Default peak learning rate for fine-tuning a trained model (2e-3 for a new one).
FINE_TUNE_LR = 1e-4


@contextlib.contextmanager
def grad_on() -> Iterator[None]:
    """Gradients on for the block, whatever the caller set: under ``torch.no_grad()``
    (or ``set_grad_enabled(False)``, ``inference_mode()``) training stopped at its first
    step with torch's "element 0 of tensors does not require grad" (API concurrency
    bash). Per step, not around the generator: the caller's setting holds between."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def _without_inference_tensors(network: torch.nn.Module) -> None:
    """A start model loaded under ``torch.inference_mode()`` holds inference tensors,
    which training cannot update ("Inplace update to inference tensor outside
    InferenceMode"): replaced by normal copies."""
    state = network.state_dict()
    if any(t.is_inference() for t in state.values()):
        network.load_state_dict({k: t.clone() for k, t in state.items()}, assign=True)


class Trainer:
    """One training run: set up on construction, then stepped by :func:`train`.

    Parameters
    ----------
    images, labels : array-like or list of array-likes
        As for :func:`train`.
    options : TrainOptions
        The other arguments of :func:`train`.
    started : float
        ``time.perf_counter()`` when the run started (elapsed times count from there).

    Notes
    -----
    The steps, in the order :func:`train` calls them: :meth:`opening_record`, then while
    :meth:`budget_used` gives a fraction: :meth:`optimize_step`, :meth:`evaluate` when
    :meth:`evaluation_due`, :meth:`preview` when :meth:`preview_due`, :meth:`record`;
    last :meth:`end_training` and :meth:`finish`.
    """

    def __init__(self, images: Any, labels: Any, options: TrainOptions, started: float) -> None:
        self.options = options
        self.started = started
        self.device = dev.resolve_device(options.device)
        self.rng = np.random.default_rng(options.seed)
        # A given bundle that was never trained (no history) is trained like a new model.
        self.fine_tune = options.model is not None and bool(options.model.history)
        # The loss is the package's ``masked_loss``, looked up there so that replacing it
        # (tests do, to run out of memory on purpose) reaches the trainer.
        package = importlib.import_module(__package__)
        self.loss_fn: Callable[..., torch.Tensor] = package.masked_loss
        # Steps skipped because their gradients were not finite: in all, and in a row.
        self.skipped = self.unfinite = 0
        self._setup_data(images, labels)
        self._setup_model()
        self._setup_validation()
        self._setup_optimizer()
        self.history = _History("loss" if options.label_mode == "sparse" else "dice")
        self.step = 0
        self.pending: list[float] = []  # losses since the last record
        self.last_record_t = -1.0
        self.next_eval_t = self.eval_seconds
        self.stopped = False

    # -- setup -------------------------------------------------------------------------------
    def _setup_data(self, images: Any, labels: Any) -> None:
        """Pairs, patch and batch size, the class map and the label index."""
        o = self.options
        self.bundle: ModelBundle | None = None if o.model is None else o.model.copy()
        if self.bundle is not None:  # read from no file: its start's file was named as the
            self.bundle.source = None  # start of every model fine-tuned from it (rounds bash)
        sd, in_ch, self.pairs = training_pairs(
            o.model, images, labels, o.spatial_dims, o.channel_axis
        )
        self.spatial_dims, self.in_channels = sd, in_ch
        self.config = {**NEW_MODEL[sd], **(o.model_config or {})}
        div = self.bundle.divisor if self.bundle else 2 ** (int(self.config["depth"]) - 1)
        shapes = [p.spatial for p in self.pairs]
        self.patch, self.batch = _patch_and_batch(
            sd, self.device, shapes, div, o.patch_size, o.batch_size
        )
        self.patch_note = patch_note(o.patch_size, self.patch, div)
        self.block = tuple(max(1, p // 2) for p in self.patch)
        model_classes = self.bundle.n_classes if self.bundle else None
        self.class_map = _map_classes(
            self.pairs, o.label_mode, o.n_classes, model_classes, self.block[0]
        )
        self._check_memory()
        self.index = _LabelIndex(self.pairs, self.class_map, self.block, self.rng)
        self.totals = self.index.class_totals()
        self.present = _present_classes(self.totals, self.class_map.n_eff, o.label_mode)
        # a class without strokes that a new model (or one grown by the labels' numbers)
        # gets an output for; fine-tuning may leave some of the model's classes unpainted
        grown = self.bundle is None or self.class_map.n_eff > self.bundle.n_classes
        self.gaps = (
            missing_classes_note(self.present, self.class_map.n_eff, o.label_mode, o.class_names)
            if grown
            else None
        )

    def _check_memory(self) -> None:
        """Refuse a run whose training step would not fit (core/guards.py), before the
        label index and the network are built."""
        config = self.bundle.config if self.bundle else self.config
        params = sum(p.numel() for p in self.bundle.network.parameters()) if self.bundle else 0
        # On a GPU out-of-memory halves the batch (down to 1) before giving up.
        batch = self.batch if self.device.type == "cpu" else 1
        needed = guards.training_bytes(
            self.patch,
            batch,
            self.class_map.n_classes,
            base_channels=int(config["base_channels"]),
            depth=int(config["depth"]),
            in_channels=self.in_channels,
            n_parameters=params,
        )
        guards.check_memory(
            needed,
            "Training",
            dev.free_memory_bytes(self.device),
            hint="choose a smaller patch size or batch size",
        )

    def _setup_model(self) -> None:
        """A new network, or the copy to fine-tune (a new head for a new class count)."""
        o, n_classes = self.options, self.class_map.n_classes
        self.new_head, self.head_note = False, ""
        with own_random_state(o.seed), grad_on():
            if self.bundle is not None:  # (loaded under the caller's inference_mode)
                _without_inference_tensors(self.bundle.network)
            if self.bundle is None:
                sd = self.spatial_dims
                net = UNet(
                    spatial_dims=sd,
                    in_channels=self.in_channels,
                    n_classes=n_classes,
                    **self.config,
                )
                self.bundle = ModelBundle.from_network(net, name=f"unet-{sd}d")
                if o.intensity_range is not None:  # a CT window: the same for every image
                    self.bundle.normalization = fixed_range(o.intensity_range)
            elif n_classes != self.bundle.n_classes:
                self.new_head = True
                old = list(self.bundle.class_names)
                both = min(self.bundle.n_classes, n_classes) >= 2
                self.head_note = (
                    f"The start model's output goes from {self.bundle.n_classes} to "
                    f"{n_classes} classes"
                    + (", keeping what it knew of the classes both have." if both else ".")
                )
                self.bundle.network.replace_head(n_classes)
                if n_classes > 2:  # classes of objects: split, their ids would say none
                    self.bundle.split_touching = False
                self.bundle.class_names = []
                self.bundle.__post_init__()  # default class names for the new count
                # the start model's names for its classes ("nucleus" became "class 1")
                keep = min(len(old), len(self.bundle.class_names))
                self.bundle.class_names[:keep] = old[:keep]
        if o.class_names is not None:
            self._name_classes(list(o.class_names))
        if self.fine_tune:
            self.bundle.name = finetuned_name(o.model.name)
        originals = [] if o.statistics_of is None else as_list(o.statistics_of)

        def statistics(image: Any, i: int, *axes: Any) -> Any:
            """An image resampled to the model's scale: its statistics as prediction
            chooses them (from the enlarged copy, hot pixels moved the 99.8th percentile
            from 230 to 20,000, and training saw its nuclei at 0; its preview was empty;
            review)."""
            original = originals[i] if i < len(originals) else image
            if isinstance(original, WholeImage):
                return self.bundle.normalizer(original.image, *axes)
            own = self.bundle.normalizer(image, *axes)
            if original is image:
                return own
            return of_resampled(own, self.bundle.normalizer(original, *axes))

        for i, pair in enumerate(self.pairs):
            pair.normalizer = statistics(pair.image, i, o.channel_axis, o.time_axis)
        self.preview_normalizer = None  # the preview's, given after the images'
        if o.preview_image is not None and len(originals) > len(self.pairs):
            self.preview_normalizer = statistics(o.preview_image, len(self.pairs))
        check_images_vary(self.pairs)

    def _name_classes(self, names: list[str]) -> None:
        """The model's classes named as the caller says (one name per class)."""
        expected = len(self.bundle.class_names)
        if len(names) != expected:
            raise ValueError(
                f"class_names gives {len(names)} names for a model of {expected} classes "
                f"({', '.join(self.bundle.class_names)}): give one per class, the "
                "background first."
            )
        self.bundle.class_names = [n.strip() for n in names]

    def _setup_validation(self) -> None:
        """The validation split, the sampler and the fixed validation patches."""
        self.val, message = _split_validation(
            self.index, float(self.options.val_fraction), self.rng
        )
        self.sampler = _Sampler(
            self.pairs,
            self.index,
            self.class_map,
            self.val,
            self.patch,
            self.rng,
            transitions=self.options.label_mode == "sparse",
        )
        self.val_data = self.sampler.validation(MAX_VAL_PATCHES)
        notes = (self.head_note, self.class_map.message, message, self.gaps, self.patch_note)
        self.messages = [m for m in notes if m]

    def _setup_optimizer(self) -> None:
        """Network on the device, autocast, optimizer, schedule and evaluation cadence."""
        o = self.options
        self.network = self.bundle.network.to(self.device)
        self.network.train()
        self.amp_dtype = dev.training_autocast_dtype(self.device, o.precision)
        # weights and batches in the faster layout; finish() gives the weights back plain
        self.layout = dev.training_memory_format(self.device, self.spatial_dims, self.amp_dtype)
        if self.layout is not None:
            self.network.to(memory_format=self.layout)
        self.prior = StartModel.wanted(self.network, o, self.fine_tune, self.new_head)
        self._start_advice: str | None = None  # (:meth:`start_advice`, said once known)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        # A trained model is changed gently: a few strokes say little about boundaries,
        # and a high rate trades its boundaries for theirs (docs/benchmarks.md, Accuracy).
        self.lr0 = float(o.learning_rate or (FINE_TUNE_LR if self.fine_tune else 2e-3))
        self.opt = torch.optim.AdamW(self.network.parameters(), lr=self.lr0, weight_decay=1e-4)
        self.warmup = min(20, max(1, (int(o.steps) if o.steps else 200) // 10))
        self.eval_every = o.eval_every
        if self.eval_every is None:
            self.eval_every = max(5, int(o.steps) // 10) if o.steps else 0
        self.eval_seconds = float(o.time_limit) / 15 if o.time_limit else None
        self.gen = torch.Generator().manual_seed(int(o.seed))
        # A new model learning from a few strokes also gets any rotation and zoom: it
        # would learn the strokes' surroundings by heart (docs/benchmarks.md, Accuracy).
        # Not on images thinner than MIN_TURN_EDGE in an in-plane axis: a turned patch
        # of a 1 x 200 strip held no labelled pixel in half of the steps (training edge
        # bash: the model took most of the painted background for objects).
        thin = any(min(p.spatial[-2:]) < MIN_TURN_EDGE for p in self.pairs)
        self.turn_and_zoom = o.label_mode == "sparse" and not self.fine_tune and not thin
        # A 2D one's last weights are close to chance among its checkpoints: it keeps the
        # mean of the second half's instead, with settled batch-norm statistics
        # (averaging.py; in 3D, with a few hundred steps, the mean was worse).
        average = self.turn_and_zoom and self.spatial_dims == 2
        self.averaging = _WeightAverage() if average else None
        self.frac = 0.0
        # what end_training kept: the mean's record, the threshold, and the validation
        # Dice of the weights as kept (mean or checkpoint, threshold folded in)
        self.averaged: str | None = None
        self.threshold: dict[str, Any] | None = None
        self.kept_dice: float | None = None
        self.kept_loss: float | None = None
        self.val_counts: Any = None  # per class, of the last validation
        # voxels predicted after the last step: the threshold's prediction of the training
        # images (the mean's batch-norm batches come on top: _tail_voxels), and what a
        # forward pass costs, measured by each validation (_validate)
        k = self.class_map.n_classes
        # the windows of a large image are drawn now: their time is kept from the budget
        self.match_windows = (
            match_plan(self.pairs, k, self.class_map.targets, int(o.seed))
            if o.match_labels
            else None
        )
        self.match_voxels = (
            prediction_voxels(self.pairs, k, self.match_windows) if o.match_labels else 0
        )
        self.forward_s_per_voxel: float | None = None
        self.validate_s = 0.0
        self._validate_times: list[float] = []  # seconds of each validation
        self.pin = self.device.type == "cuda"
        self.val_x = self.val_y = None
        if self.val_data is not None:
            self.val_x = self._laid_out(self._to_device(self.val_data[0]))
            self.val_y = self._to_device(self.val_data[1])

    def _to_device(self, arr: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(arr)
        return (t.pin_memory() if self.pin else t).to(self.device, non_blocking=self.pin)

    def _laid_out(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch in the run's layout (:attr:`layout`)."""
        return x if self.layout is None else x.contiguous(memory_format=self.layout)

    # -- the steps ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def budget_used(self) -> float | None:
        """Fraction of the budget used before the next step; None when the run must end.

        The run ends when ``stop`` is set (then :attr:`stopped` is True) or when the step
        or time budget is spent.
        """
        o = self.options
        elapsed = self.elapsed()
        if o.stop is not None and o.stop.is_set():
            self.stopped = True
            return None
        if o.steps is not None and self.step >= int(o.steps):
            return None
        if o.time_limit is not None and elapsed >= float(o.time_limit) - self._reserve(elapsed):
            return None
        return max(
            self.step / int(o.steps) if o.steps else 0.0,
            elapsed / float(o.time_limit) if o.time_limit else 0.0,
        )

    def _tail_voxels(self) -> int:
        """Voxels the network predicts after the last step (batch-norm batches of the
        mean, the threshold's prediction of the training images)."""
        norm = NORM_BATCHES * self.batch * math.prod(self.patch) if self.averaging else 0
        return norm + self.match_voxels

    def _reserve(self, elapsed: float) -> float:
        """Seconds kept at the end of a time budget for what follows the last step.

        The forward passes of :meth:`_tail_voxels` at the speed the latest validation
        measured, plus two validations (the last one and that of the model as kept).
        Before any validation, half a step's time per batch. At most
        :data:`RESERVE_SHARE` of the budget: a large training image must not leave the
        model without steps (the run then ends a little after its budget).
        """
        tail = self._tail_voxels()
        if not tail:  # the validation of the model as kept (the last step's may be too)
            if self.val_x is None or not self.validate_s:
                return 0.0
            return min(2 * self.validate_s, RESERVE_SHARE * float(self.options.time_limit or 0))
        if self.forward_s_per_voxel is not None:
            reserve = TAIL_SLOWER * tail * self.forward_s_per_voxel + 2 * self.validate_s
        elif self.step >= 10:
            reserve = 0.5 * elapsed / self.step * tail / (self.batch * math.prod(self.patch))
        else:
            return 0.0
        return min(reserve, RESERVE_SHARE * float(self.options.time_limit or 0.0))

    def optimize_step(self, frac: float) -> TrainProgress | None:
        """One optimizer step on a sampled batch, at budget fraction ``frac``.

        Returns None after a step; after running out of memory, a record saying that the
        batch size was halved (the step is not taken). Raises MemoryError when out of
        memory with one patch per batch.
        """
        self.frac = frac
        lr = _lr_at(self.step, frac, self.lr0, self.warmup)
        for g in self.opt.param_groups:
            g["lr"] = lr
        if not self.fine_tune:  # running statistics that keep up with fast-moving weights
            set_norm_momentum(self.network, norm_momentum(self.step))
        xb, yb = self.sampler.sample(self.batch)
        try:
            loss = self._optimize(xb, yb)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
            if not dev.is_out_of_memory(exc):
                raise
            return self._halve_batch(exc)
        self.step += 1
        self.pending.append(loss)
        self.history.add_loss(self.step, loss)
        return None

    def _optimize(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One optimizer step on a batch; returns its loss."""
        with grad_on():
            return self._step(xb, yb)

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """:meth:`_optimize`'s step, with gradients on."""
        x, y = self._to_device(xb), self._to_device(yb)
        if self.prior is not None:  # its agreement, on the strokes as painted
            self.prior.count(self._laid_out(x), y, self.device, self.amp_dtype)
        if self.options.augment:
            x, y = augment_batch(x, y, self.gen, intensity=self.options.intensity_augment)
            if self.turn_and_zoom:
                x, y = affine_batch(x, y, self.gen)
        x = self._laid_out(x)
        with dev.autocast(self.device, self.amp_dtype):
            logits = self.network(x)
        loss = self.loss_fn(logits, y)
        if self.prior is not None:
            loss = loss + self.prior.loss(logits, x, y, self.device, self.amp_dtype)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:  # fp16 autocast: scale the loss against underflow
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
            if torch.isfinite(norm):
                self.opt.step()
                self.unfinite = 0
            else:  # as GradScaler does for fp16: skip the step, keep the weights numbers
                self._skip_unfinite_step()
        return float(loss.detach())

    def _skip_unfinite_step(self) -> None:
        """Count a step whose gradients were not finite (not taken); refuse to go on when
        it happens :data:`MAX_UNFINITE_STEPS` times in a row."""
        self.opt.zero_grad(set_to_none=True)
        self.unfinite += 1
        self.skipped += 1
        if self.unfinite >= MAX_UNFINITE_STEPS:
            # (it named precision='fp32' to users of the widget and the CLI, which have no
            # such setting, and of a run in fp32 already; advice audit)
            reduced = (
                " or full precision (precision='fp32' in the Python API)"
                if self.amp_dtype is not None
                else ""
            )
            raise FloatingPointError(
                f"Training diverged: the gradients were not finite in {self.unfinite} steps "
                "in a row; try a smaller learning rate (Fine-tune's advanced settings, "
                f"--learning-rate, learning_rate=){reduced}."
            )

    def _halve_batch(self, exc: BaseException) -> TrainProgress:
        self.opt.zero_grad(set_to_none=True)
        dev.empty_cache(self.device)
        if self.batch == 1:
            raise MemoryError(
                f"Out of memory on {self.device} with one {'x'.join(map(str, self.patch))} "
                "patch per batch; choose a smaller patch size or train on the CPU."
            ) from exc
        self.batch //= 2
        return self.record(
            None, message=f"Out of memory on {self.device}: batch size reduced to {self.batch}."
        )

    def evaluation_due(self, now: float) -> bool:
        """Whether to validate after this step (every ``eval_every`` steps, else by time);
        a run that averages its weights also takes them at these steps, with or without
        validation."""
        if self.val_x is None and self.averaging is None:
            return False
        if self.eval_every:
            return self.step % self.eval_every == 0
        return self.next_eval_t is not None and now >= self.next_eval_t

    def evaluate(self, now: float | None = None) -> tuple[float | None, float | None]:
        """Validate the current weights; returns (loss, Dice) and keeps the best weights.

        In the second half of the budget a run that averages its weights adds them to the
        mean. ``now`` (seconds since the start) schedules the next time-based evaluation.
        Without validation data, returns (None, None).
        """
        if self.averaging is not None and self.frac >= AVERAGE_FROM:
            self.averaging.add(self.network, self.step)
        if now is not None and self.next_eval_t is not None:
            self.next_eval_t = now + self.eval_seconds
        if self.val_x is None:
            return None, None
        val_loss, val_dice = self._validate()
        self.history.add_validation(self.step, val_loss, val_dice, self.network)
        return val_loss, val_dice

    def evaluate_start(self) -> None:
        """Fine-tuning on scribbles: the starting weights are a candidate too (step 0), kept
        when no step does better on the held-out strokes (cells3d: docs/benchmarks.md)."""
        if (
            self.fine_tune
            and not self.new_head
            and self.history.select == "loss"
            and self.val_x is not None
        ):
            loss, dice = self._validate()
            self.history.add_validation(0, loss, dice, self.network)

    def _validate(self) -> tuple[float, float | None]:
        """Loss and Dice of the current weights on the validation patches."""
        network, batch = self.network, self.batch
        network.eval()
        loss_sum, counts = 0.0, None
        started = time.perf_counter()
        with torch.inference_mode(), dev.autocast(self.device, self.amp_dtype):
            for i in range(0, len(self.val_x), batch):
                logits = network(self.val_x[i : i + batch])
                loss = self.loss_fn(logits, self.val_y[i : i + batch])
                loss_sum += float(loss) * len(logits)
                c = hard_dice_counts(logits, self.val_y[i : i + batch])
                counts = c if counts is None else counts + c
        network.train()
        self.val_counts = counts  # per class: what the last validation matched
        # The median of the validations' times after the first (which warms up): one
        # slowed by another process (2 cores shared) was 50 times the others, kept half
        # the budget for the tail and ended a 60 s run after 33 s (train bug bash).
        self._validate_times.append(time.perf_counter() - started)
        self.validate_s = float(np.median(self._validate_times[1:] or self._validate_times))
        voxels = self.val_x.numel() // self.val_x.shape[1]
        self.forward_s_per_voxel = self.validate_s / voxels
        return loss_sum / len(self.val_x), dice_from_counts(counts)

    def preview_due(self) -> bool:
        """Whether this step computes a preview (every ``preview_every`` steps)."""
        o = self.options
        return (
            o.preview_image is not None
            and bool(o.preview_every)
            and self.step % int(o.preview_every) == 0
        )

    def preview(self) -> np.ndarray:
        """The current model's labels for the preview image (tiled, like inference)."""
        result = drain(
            predict_tiled(
                self.bundle,
                self.options.preview_image,
                device=self.device,
                batch_size=self.batch,
                normalizer=self.preview_normalizer,
            )
        )
        self.network.train()
        return np.asarray(result.labels)

    def record_due(self, now: float) -> bool:
        """Whether a record without news is due (at most one every 0.1 s)."""
        return now - self.last_record_t >= RECORD_INTERVAL_S

    def opening_record(self) -> TrainProgress:
        """The first record: what is trained, on what, and the notices of the setup."""
        o, totals = self.options, self.totals
        names = self.bundle.class_names
        per_class = ", ".join(f"{names[c]}: {int(totals[c]):,}" for c in self.present)
        what = "Fine-tuning" if self.fine_tune else "Training a"
        regions = sum(len(v) for v in self.val) if self.val_x is not None else 0
        held = f", validating on {regions} held-out region(s)" if regions else ""
        if regions and o.match_labels:  # the forest fitted every stroke, held-out ones too
            held += " of the random forest's labels (its agreement, not an unseen truth)"
        intro = (
            f"{what} {self.spatial_dims}D model on {int(totals.sum()):,} labeled pixels "
            f"({per_class}), patches {'x'.join(map(str, self.patch))}, batch {self.batch}, "
            f"on {self.device} in "
            f"{dev.training_precision_words(self.device, self.amp_dtype, o.precision)}{held}."
        )
        message = " ".join([intro, *self.messages])
        return TrainProgress(
            0, o.steps, None, None, None, None, 0.0, self.elapsed(), o.time_limit, message=message
        )

    def record(
        self,
        loss: float | None,
        val_loss: float | None = None,
        val_dice: float | None = None,
        preview: np.ndarray | None = None,
        message: str = "",
    ) -> TrainProgress:
        """A progress record of the current step."""
        o = self.options
        return TrainProgress(
            step=self.step,
            total_steps=int(o.steps) if o.steps else None,
            loss=loss,
            val_loss=val_loss,
            val_dice=val_dice,
            # the kept model's own once it is settled (a threshold folded in, the mean of
            # weights): the bar's last "val loss" was the step's, the summary the kept
            # model's (0.908 beside 0.935; medical bash)
            best_val_dice=self.history.best_dice if self.kept_dice is None else self.kept_dice,
            lr=self.opt.param_groups[0]["lr"],
            elapsed=self.elapsed(),
            time_limit=o.time_limit,
            preview=preview,
            message=message,
            best_val_loss=self.history.chosen_loss
            if self.kept_dice is None or self.history.chosen_loss is None
            else self.kept_loss,
            advice=self.start_advice(),
        )

    def start_advice(self) -> str:
        """The starting model's disagreement with the strokes (:func:`start_hint`) once
        its first batches are counted, so the user can stop and start a new model a few
        seconds in instead of at the end (journey bash: a nuclei model fine-tuned 30 s
        on whole cells said so only afterwards); "" before, or without a start model."""
        if self.prior is None or self.prior.batches < COUNTED_BATCHES:
            return ""
        if self._start_advice is None:
            agreement = {"start_agreement": self.prior.agreement()}
            self._start_advice = start_hint(agreement, self.bundle.class_names)
        return self._start_advice

    def progress(
        self, now: float, val_loss: float | None, val_dice: float | None, preview: Any
    ) -> TrainProgress:
        """The record of the steps since the last one (their mean loss)."""
        rec = self.record(float(np.mean(self.pending)), val_loss, val_dice, preview)
        self.pending = []
        self.last_record_t = now
        return rec

    def end_training(self) -> TrainProgress | None:
        """Last validation, then the averaged weights (settled) or the best ones back;
        the closing record, if any."""
        val_loss = val_dice = None
        if self.step > 0 and self.history.last_eval_step != self.step:
            if self.val_x is not None or self.averaging is not None:
                self.frac = 1.0  # the budget is spent
                val_loss, val_dice = self.evaluate()
        if self.averaging is not None:
            self.averaged = self.averaging.apply(self.network, self._norm_batches)
        if self.averaged is None and self.history.best_state is not None:
            self.network.load_state_dict(self.history.best_state)
        if self.stopped and self.step == 0:  # ("keeping the best model" of none)
            message = "Stopped before the first training step."
        elif self.stopped:
            kept = "the mean of the weights" if self.averaged else "the best model"
            message = f"Stopped: keeping {kept} so far."
        else:
            message = f"Kept the {self.averaged}." if self.averaged else ""
        if self.history.kept_start:
            message = f"{message} {KEPT_START}".strip()
        if self.options.match_labels and self.step > 0:
            message = f"{message} {self._match_threshold()}".strip()
        folded = folded_anything(self.threshold)
        h = self.history
        best_earlier = h.best_state is not None and h.best_step != h.last_eval_step
        changed = self.averaged is not None or folded or best_earlier
        if self.val_x is not None and self.step > 0 and (changed or self.val_counts is None):
            # the validation figures of the model the user gets, not of a step before (the
            # last validation's, where it is that step's model as it is)
            self.network.eval()
            kept_loss, kept_dice = self._validate()
            if self.averaged is not None or folded:
                val_loss, val_dice = kept_loss, kept_dice
                self.kept_dice, self.kept_loss = val_dice, val_loss
        if self.val_x is not None and self.step > 0:
            said = unlearned_note(
                self.val_counts, list(self.bundle.class_names), self.options.label_mode
            )
            message = f"{message} {said}".strip()
        if self.pending or val_loss is not None or message:
            loss = float(np.mean(self.pending)) if self.pending else None
            return self.record(loss, val_loss, val_dice, None, message)
        return None

    def _match_threshold(self) -> str:
        """Fold into the model the threshold that reproduces its training labels best
        (:func:`.threshold.match_threshold`); returns the sentence for the user."""
        self.network.eval()
        self.threshold, message = match_threshold(
            self.bundle,
            self.pairs,
            self.class_map.targets,
            self.device,
            self.batch,
            seed=int(self.options.seed),
            windows=self.match_windows,
        )
        return message

    def _norm_batches(self) -> Iterator[torch.Tensor]:
        """:data:`NORM_BATCHES` training batches, flipped and turned but not otherwise
        changed, for batch-norm statistics (under the run's autocast)."""
        gen = torch.Generator().manual_seed(int(self.options.seed) + 1)
        with dev.autocast(self.device, self.amp_dtype):
            for _ in range(NORM_BATCHES):
                xb, yb = self.sampler.sample(self.batch)
                x, _ = augment_batch(
                    self._to_device(xb), self._to_device(yb), gen, intensity=False
                )
                yield self._laid_out(x)

    def finish(self) -> ModelBundle:
        """The trained bundle: on the CPU, in eval mode, with this run in its history."""
        self.network.eval().cpu().to(memory_format=torch.contiguous_format)
        set_norm_momentum(self.network, NORM_MOMENTUM)  # as a fresh network's, for later runs
        o, h, model = self.options, self.history, self.options.model
        run = {
            "label_mode": o.label_mode,
            "precision": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "fp32",
            "n_classes": self.class_map.n_classes,
            "instances_as_one_class": self.class_map.collapse,
            "seed": int(o.seed),
            # a seed repeats a run only at the same thread count (other weights otherwise)
            "threads": torch.get_num_threads(),
            "steps": self.step,
            "duration_s": round(self.elapsed(), 2),
            "device": str(self.device),
            "patch_size": list(self.patch),
            "batch_size": self.batch,
            "learning_rate": self.lr0,
            "augment": bool(o.augment),
            "rotate_zoom": bool(o.augment and self.turn_and_zoom),
            "intensity_augment": bool(o.augment and o.intensity_augment),
            "keep_prior": self.prior.weight if self.prior is not None else 0.0,
            "data_shapes": [list(map(int, p.image.shape)) for p in self.pairs],
            "labeled_pixels": [int(v) for v in self.totals],
            "val_fraction": float(o.val_fraction),
            "validation": self.val_x is not None,
            "best_step": h.best_step if h.best_state is not None else self.step,
            "best_val_dice": h.best_dice,
            "best_val_loss": h.best_loss if math.isfinite(h.best_loss) else None,
            # scribbles: the held-out loss picks the weights (Dice on interior strokes
            # saturates at 1); dense labels: the Dice
            "selected_by": "validation loss" if h.select == "loss" else "validation Dice",
            "weights": "best by validation" if h.best_state is not None else "last",
            "stopped_early": self.stopped,
            # the time budget ended it (not Stop, not the steps asked for)
            "time_limited": bool(
                o.time_limit is not None
                and not self.stopped
                and (o.steps is None or self.step < int(o.steps))
            ),
            # the budget's length: a time-limited run's steps follow the time used, so
            # its step count alone does not repeat it (reproducibility bash)
            "time_limit_s": None if o.time_limit is None else float(o.time_limit),
            "torch": str(torch.__version__),  # (a str subclass: a model file of it did not load)
            "kept_start": h.kept_start,
            "skipped_steps": self.skipped,
            "started_from": (model.source or model.name) if model is not None else None,
            "curve": h.curve(),
            "val_curve": h.val,
        }
        if self.threshold is not None:
            run["threshold"] = self.threshold
        if self.prior is not None and self.prior.counts is not None:  # training batches
            run["start_agreement"] = self.prior.agreement()
        if self.averaged is not None:  # the kept weights are the mean, not a checkpoint
            run.update(weights=self.averaged, best_step=self.step)
        if self.kept_dice is not None:  # the kept model's own (mean, or threshold folded)
            run.update(best_val_dice=self.kept_dice, best_val_loss=self.kept_loss)
        previous = dict(self.bundle.history) if self.fine_tune else {}
        self.bundle.history = {**run, "previous": previous} if previous else run
        return self.bundle
