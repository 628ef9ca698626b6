"""Training for the public API (:mod:`napari_unetseg.api`): :func:`train` and
:func:`train_iter`, with the checks made before any work and what a trained model records.
"""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from . import __version__, forest
from ._api_models import (
    ModelLike,
    arguments_of,
    check_flags,
    dtype_of,
    load_model,
    no_paths,
    plain_array,
    swapped_for_model,
)
from .core import guards
from .core.bundle import ModelBundle
from .core.guards import user_level
from .core.intensity import check_in_range, intensity_range_of, range_text
from .core.normalize import (
    grey_inputs,
    image_axis,
    rgb_axis,
)
from .core.progress import drain, relay
from .core.scale import resample, scaled_shape
from .core.sizing import training_scale
from .core.training import TrainProgress, few_steps_text
from .core.training import train as _train
from .core.training.labels import (
    DENSE_MERGED,
    MASKS_AS_SCRIBBLES,
    MAX_SCRIBBLE_CLASSES,
    as_list,
    check_pair_count,
    label_counts,
    painted_box,
    training_pairs,
)
from .core.training.options import (
    WholeImage,
    check_budget,
    check_class_names,
    check_intensity_range,
    check_model_config,
    check_run_options,
    check_sampling,
    check_whole,
)


def _trainable(bundle: ModelBundle, invert: bool | None = None) -> ModelBundle:
    """The bundle, if it can be trained; a model imported for prediction only cannot, nor
    can a model of a fixed intensity range with dark and bright swapped (its range is of
    the image's own values: a new model refuses the pair, fine-tuning took it, and its
    package then failed its own test; review)."""
    if not bundle.trainable:
        raise ValueError(
            f"Model {bundle.name!r} was imported from a third-party package for prediction only "
            "and cannot be fine-tuned; start a new model instead."
        )
    fixed = intensity_range_of(bundle.normalization)
    if invert and fixed is not None:
        raise ValueError(
            f"Model {bundle.name!r} keeps the fixed intensity range {range_text(*fixed)}, of "
            "the image's own values: it cannot learn with dark and bright "
            "swapped (invert, --invert)."
        )
    return bundle


def _check_range(
    value: Any, fine_tuning: bool, invert: Any, images: Any, channel_axis: int | None
) -> None:
    """A fixed intensity range: its own rules (``check_intensity_range``), then that it
    holds the values of every image given."""
    check_intensity_range(value, fine_tuning, invert)
    if value is None:
        return
    for image in images if isinstance(images, (list, tuple)) else [images]:
        check_in_range(image, value, channel_axis)


def train_iter(
    images: Any,
    labels: Any,
    *,
    model: ModelLike | None = None,
    label_mode: str = "sparse",
    n_classes: int | None = None,
    steps: int | None = None,
    time_limit: float | None = None,
    patch_size: int | tuple[int, ...] | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    val_fraction: float = 0.1,
    augment: bool = True,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    preview_image: Any = None,
    preview_every: int = 0,
    spatial_dims: int | None = None,
    channel_axis: int | None = None,
    model_config: dict[str, Any] | None = None,
    object_size: Any = "auto",
    scale: Any = None,
    precision: str = "auto",
    keep_prior: float | None = None,
    teacher: str = "auto",
    class_names: Sequence[str] | None = None,
    unit: str | None = None,
    time_axis: int | None = None,
    invert: bool | None = None,
    intensity_range: tuple[float, float] | None = None,
) -> Generator[TrainProgress, None, ModelBundle]:
    """Generator form of :func:`train`: yields ``TrainProgress``, returns the bundle.

    Extra arguments for interactive use: ``stop`` (a ``threading.Event``; when set,
    training ends at the next step and the best model so far is returned),
    ``preview_image`` / ``preview_every`` (every N steps the current model predicts the
    image and the record carries the labels in ``.preview``) and ``model_config`` (UNet
    arguments of a new model, e.g. a smaller ``depth`` / ``base_channels``). See
    :func:`napari_unetseg.core.training.train` for every argument, and
    :func:`napari_unetseg.core.sizing.training_scale` for ``object_size`` / ``scale``.
    ``teacher`` ("auto", "forest", "none"): "auto" first labels the unpainted pixels of
    a NEW model's scribbles with a random forest fitted on the painted ones, and trains
    the U-Net on that picture, without intensity augmentation (:mod:`.forest`), as
    for a model a forest taught; other models train on the scribbles alone.
    """
    no_paths("train", ", or train on files with `unetseg train`", images, labels)
    images, labels = _one_or_many(plain_array(images)), _one_or_many(plain_array(labels))
    arguments = dict(locals())  # this function's parameters, passed on as is
    size, scale, unit = arguments.pop("object_size"), arguments.pop("scale"), arguments.pop("unit")
    time_axis = arguments.pop("time_axis")
    teacher = arguments.pop("teacher")
    check_flags(invert=arguments.pop("invert"))
    _check_training_arguments(steps, time_limit, n_classes, model_config, class_names)
    check_run_options(spatial_dims, seed, learning_rate)
    check_sampling(val_fraction, batch_size, keep_prior)
    _check_training_images(images, labels)
    _check_range(intensity_range, model is not None, invert, images, channel_axis)
    bundle = None if model is None else _trainable(load_model(model), invert)
    _check_dims_kept(bundle, spatial_dims)
    use_forest = forest.wanted(teacher, bundle, label_mode)
    arguments["model"] = bundle
    arguments["n_classes"] = classes_named(label_mode, class_names, n_classes, labels)
    first_labels = labels[0] if isinstance(labels, (list, tuple)) and labels else labels
    images, labels, preview_image, channel_axis, grey, invert, cropped, wholes = _inputs(
        bundle, images, labels, label_mode, time_axis, preview_image, channel_axis, invert
    )
    arguments.update(preview_image=preview_image, channel_axis=channel_axis)
    if bundle is None and spatial_dims is None and time_axis is not None:
        spatial_dims = arguments["spatial_dims"] = _series_dims(first_labels)
    training_pairs(bundle, images, labels, spatial_dims, channel_axis)  # before resampling
    t_image = image_axis(
        time_axis,
        np.ndim(first_labels) + (channel_axis is not None),
        channel_axis,
        bundle.spatial_dims if bundle is not None else spatial_dims,
    )
    imgs, labs, factors, record, size_said = training_scale(
        bundle,
        images,
        labels,
        object_size=size,
        scale=scale,
        spatial_dims=spatial_dims,
        channel_axis=channel_axis,
        label_mode=label_mode,
        time_axis=t_image,
    )
    taught, painted = "", None
    if use_forest:
        labs, taught, painted = yield from _forest_step(arguments, imgs, labs, teacher, t_image)
    resampled = any(f != 1.0 for f in factors)  # (the counts below differed, unsaid)
    size_said += " The labeled pixels are counted on that grid." if resampled else ""
    unlabelled = _time_points_note(labels, label_mode, time_axis)
    message = " ".join(p for p in (cropped, grey, size_said, taught, unlabelled) if p)
    statistics = _statistics_of(images, wholes, resampled)
    arguments.update(  # time points and statistics (before resampling; of the whole image)
        images=imgs, labels=labs, time_axis=t_image, statistics_of=statistics
    )
    if resampled and preview_image is not None:
        arguments.update(_preview_at(bundle, statistics, preview_image, channel_axis, factors))
    said = []

    def tell(rec: TrainProgress) -> TrainProgress:
        """The first record says which object size is used; previews on the image grid."""
        if not said:
            rec.message = f"{message} {rec.message}".strip()
            said.append(True)
        if resampled and rec.preview is not None:
            rec.preview = resample(
                rec.preview, tuple(preview_image.shape)[-len(factors) :], order=0
            )
        return rec

    trained = yield from relay(_train(**arguments), tell)
    trained.invert = invert
    if use_forest and painted is None and taught:  # the teacher left out, and why: kept
        trained.history["teacher_note"] = taught  # for the end of the run (classes bash)
    return _recorded(trained, record, message, painted, unit, time_limit)


#: A class painted with fewer pixels is not given to the forest teacher: a few pixels of
#: a class made it label that class almost nowhere. benchmarks/forest_few_pixels.py (new
#: 2D models, 30 steps, one-pixel dots in k nuclei), Dice with the forest vs the strokes
#: alone: k = 1: 0.59 / 0.89 and 0.12 / 0.83; k = 5: 0.81 / 0.91 and 0.63 / 0.86; k = 10:
#: 0.82 / 0.90 and 0.93 / 0.86 (benchmarks/results/forest-few-pixels-2026-12-06.log); on
#: the train bug bash's image 0.01 / 0.89 at k = 1, 0.90 / 0.89 from k = 5 on.
FOREST_MIN_PIXELS = 10


def _forest_for_every_class(bundle: Any, labels: list[Any], teacher: str) -> tuple[bool, str]:
    """Whether the forest teaches, and what is said: a class that no stroke paints (of a
    continued model) or that too few pixels paint (:data:`FOREST_MIN_PIXELS`) is one the
    forest labels nowhere or almost nowhere, and the model unlearnt it (a 3-class model
    continued on strokes of two: its class 2 fell to 252 pixels; train bug bash). "auto"
    then trains on the strokes alone, which keeps a continued model's answers where
    nothing is painted; "forest" (asked for) is kept and warned of."""
    counts: dict[int, int] = {}
    for lab in labels:
        found = label_counts(forest._as_integers(lab)) if isinstance(lab, np.ndarray) else None
        if found is None:
            return True, ""  # not counted here: as before
        for value, n in found.items():
            counts[value] = counts.get(value, 0) + n
    if bundle is None and counts:  # one stray id of 2**32 named 4 billion classes: no memory
        top = max(counts)
        guards.check_class_count(top - 1, top, "sparse", MAX_SCRIBBLE_CLASSES)
    names = (
        list(bundle.class_names)
        if bundle is not None
        else ["background"] + [f"class {v - 1}" for v in range(2, max(counts, default=0) + 1)]
    )
    few = [
        (names[v - 1], counts.get(v, 0))
        for v in range(2, len(names) + 1)  # stroke value v paints class v - 1 (1: background)
        if (bundle is not None or v in counts) and counts.get(v, 0) < FOREST_MIN_PIXELS
    ]
    if not few:
        return True, ""
    listed = ", ".join(f"{name!r} ({n} pixel{'' if n == 1 else 's'})" for name, n in few)
    what = f"Too few strokes paint {listed} for the forest teacher"
    it = "it" if len(few) == 1 else "them"
    if teacher == "auto":
        keeping = (
            ", keeping the starting model's answers where nothing is painted"
            if bundle is not None  # (a new model has none; review)
            else ""
        )
        return False, (
            f"{what}, which would label {it} almost nowhere: the model is trained on the "
            f"strokes alone{keeping}."
        )
    return True, f"{what}: it labels {it} almost nowhere, and the model learns {it} as rare."


def _time_points_note(labels: Any, label_mode: str, time_axis: int | None) -> str:
    """A note on time points of dense labels that hold none while others do: dense labels
    make every 0 background, so frames left unpainted were trained as empty (a series
    with one frame painted: validation Dice 0.43, 0.96 on that frame alone; time series
    bash); for scribbles, the time points the strokes lie in (the run did not say it
    learnt from one frame of five). Labels not in memory are not read for it."""
    if time_axis is None:
        return ""
    notes = []
    every = labels if isinstance(labels, (list, tuple)) else [labels]
    for i, lab in enumerate(every):
        if not isinstance(lab, np.ndarray) or lab.ndim < 3:
            continue
        t = time_axis % lab.ndim
        painted = np.moveaxis(lab, t, 0).reshape(lab.shape[t], -1).any(axis=1)
        if not painted.any() or painted.all():
            continue
        which = f" of labels {i + 1}" if len(every) > 1 else ""
        if label_mode != "dense":
            strokes = [int(k) for k in np.flatnonzero(painted)]
            notes.append(
                f"The strokes{which} lie in time point{'' if len(strokes) == 1 else 's'} "
                f"{_listed(strokes)} ({len(strokes)} of {lab.shape[t]})."
            )
        else:
            empty = [int(k) for k in np.flatnonzero(~painted)]
            shown = _listed(empty)
            one = len(empty) == 1
            notes.append(
                f"Time point{'' if one else 's'} {shown}{which} ({len(empty)} of "
                f"{lab.shape[t]}) {'holds' if one else 'hold'} no labels and "
                f"{'is' if one else 'are'} trained as empty background (dense labels: 0 is "
                f"background); paint {'it' if one else 'them'}, or give the painted time "
                "points alone, or sparse labels (0 unpainted)."
            )
    return " ".join(notes)


def _listed(points: list[int]) -> str:
    """``"2"``, ``"0, 3"``, the first eight and ``...`` beyond."""
    return ", ".join(map(str, points[:8])) + (", ..." if len(points) > 8 else "")


def _check_dims_kept(bundle: Any, spatial_dims: int | None) -> None:
    """``spatial_dims`` other than a starting model's, refused (it was ignored without a
    word: train bug bash)."""
    if bundle is not None and spatial_dims is not None and spatial_dims != bundle.spatial_dims:
        raise ValueError(
            f"spatial_dims={spatial_dims} is for a new model; {bundle.name!r} is a "
            f"{bundle.spatial_dims}D model, and fine-tuning keeps its dimensions: leave "
            "spatial_dims out, or model out for a new model."
        )


def _forest_step(
    arguments: dict[str, Any], imgs: list[Any], labs: list[Any], teacher: str, t_image: Any
) -> Generator[TrainProgress, None, tuple[list[Any], str, list[Any] | None]]:
    """The forest teacher's part of a run: its labels, what is said, the strokes it was
    fitted on (None where it was left out: :func:`_forest_for_every_class`)."""
    bundle, channel_axis = arguments["model"], arguments["channel_axis"]
    use, note = _forest_for_every_class(bundle, labs, teacher)
    if not use:
        return labs, note, None
    mode, names = arguments["label_mode"], arguments["class_names"]
    _check_names_first(names, labs, arguments["n_classes"], bundle, mode)
    # the pairs' shapes checked before the forest (numpy's words after it before)
    dims = training_pairs(bundle, imgs, labs, arguments["spatial_dims"], channel_axis)[0]
    frames = _frames(imgs, labs, channel_axis, t_image, dims)
    labs, said, painted = yield from _taught(arguments, imgs, labs, channel_axis, frames)
    return labs, f"{said} {note}".strip(), painted


def _preview_at(
    bundle: Any, statistics: Any, preview_image: Any, channel_axis: int | None, factors: Any
) -> dict[str, Any]:
    """The preview image resampled as the training images are (to the model's scale),
    and its statistics after the images' (``statistics``, :func:`_statistics_of`): from
    the resampled copy, a few hot pixels left the preview empty while the model was fine
    (training bash)."""
    layout = bundle.layout(tuple(preview_image.shape), channel_axis)
    return {
        "preview_image": resample(
            preview_image,
            scaled_shape(layout.spatial_shape, factors),
            channel_axis=layout.channel_axis,
        ),
        "statistics_of": [*as_list(statistics), preview_image],
    }


def _series_dims(labels: Any) -> int:
    """A new model of a time series has the axes besides time (a movie of planes trained
    a 3D model, time taken for Z, which then refused that time axis)."""
    return min(3, max(2, np.ndim(labels) - 1))


def _taught(
    arguments: dict[str, Any],
    imgs: list[Any],
    labs: list[Any],
    channel_axis: int | None,
    frames: tuple[list[Any], list[Any], int | None, list[Any]] | None = None,
) -> Generator[TrainProgress, None, tuple[list[Any], str, list[Any] | None]]:
    """The forest teacher's labels of every pixel from the strokes ``labs``
    (:func:`napari_unetseg.forest.teach`), what it said, and the strokes (None when it
    taught nothing); ``arguments`` (the training's) take the time it left and how to
    train on its answers. ``frames``: frames of the images (:func:`_frames`), taught
    each as an image of its own, their answers stacked again."""
    f_imgs, f_labs, f_channel = (imgs, labs, channel_axis) if frames is None else frames[:3]
    dense, taught, arguments["time_limit"] = yield from forest.teach(
        f_imgs,
        f_labs,
        channel_axis=f_channel,
        seed=arguments["seed"],
        steps=arguments["steps"],
        time_limit=arguments["time_limit"],
        stop=arguments["stop"],
    )
    used = dense is not f_labs
    if used and frames is not None:  # the frames of each image, stacked back
        dense = _stacked(dense, frames[3])
    else:
        dense = labs if not used else dense
    # the forest's classes follow the intensities as they are: no intensity changes; its
    # answers cover every pixel: the model's threshold (or class weights) is matched to them
    arguments["intensity_augment"] = not used
    arguments["match_labels"] = used
    if used and arguments["keep_prior"] is None:  # no unpainted pixel left to keep answers on
        arguments["keep_prior"] = 0.0
    return dense, taught, labs if used else None


def _stacked(dense: list[Any], layout: list[tuple[int, tuple[int, ...], int | None]]) -> list[Any]:
    """The forest's answers for :func:`_frames`' frames, stacked back into arrays of the
    labels' shapes (a time axis where it was)."""
    out, start = [], 0
    for count, shape, t in layout:
        block = np.stack([np.asarray(f) for f in dense[start : start + count]])
        start += count
        out.append(block.reshape(shape) if t is None else np.moveaxis(block, 0, t))
    return out


def _frames(
    imgs: list[Any], labs: list[Any], channel_axis: int | None, t_image: int | None, dims: int
) -> tuple[list[Any], list[Any], int | None, list[tuple[int, tuple[int, ...], int | None]]] | None:
    """Images the forest teacher takes one by one instead of ``imgs``: a time series'
    frames (its features smoothed across time points, and it asked nuclei-3d of a
    movie of planes, taking time for Z); for a 2D model, the planes of stacks given
    beside planes (the forest's 2D and 3D features could not be fitted together: numpy's
    concatenation error) or of stacks too thin for 3D features (the forest was left
    out). Returns the frames, their labels, the frames' channel axis and how to stack
    them back (:func:`_stacked`; train bug bashes); None otherwise, or for arrays not in
    memory."""
    if not all(isinstance(a, np.ndarray) for a in [*imgs, *labs]):
        return None
    c = None if channel_axis is None else channel_axis % imgs[0].ndim
    t = None if t_image is None else t_image - (c is not None and c < t_image)
    if t is None:
        leading = [lab.ndim - 2 for lab in labs]
        thin = any(n and min(lab.shape[:n]) < 3 for n, lab in zip(leading, labs, strict=True))
        if dims != 2 or not any(leading) or (all(leading) and not thin):
            return None
    f_imgs, f_labs, layout = [], [], []
    for img, lab in zip(imgs, labs, strict=True):
        moved = img if c is None else np.moveaxis(img, c, -1)  # channels last
        if t is not None:  # time first: one frame per time point
            lab, moved = (
                np.moveaxis(lab, t, 0),
                np.moveaxis(moved, t_image - (c is not None and c < t_image), 0),
            )
            n = 1
        else:
            n = lab.ndim - 2
        count = int(np.prod(lab.shape[:n], dtype=np.int64))
        layout.append((count, tuple(lab.shape), t))
        f_labs += list(lab.reshape(count, *lab.shape[n:]))
        f_imgs += list(moved.reshape(count, *moved.shape[n:]))
    return f_imgs, f_labs, None if c is None else f_imgs[0].ndim - 1, layout


def classes_named(
    label_mode: str, class_names: Sequence[str] | None, n_classes: int | None, labels: Any
) -> int | None:
    """``n_classes``, else one class per name of ``class_names`` for dense labels whose
    values are those classes (0..3 with four names were taken as instance masks of one
    class, and the names then refused; bug bashes); None: from the labels."""
    if n_classes is not None or not class_names or label_mode != "dense":
        return n_classes
    every = labels if isinstance(labels, (list, tuple)) else [labels]
    if max(int(np.max(np.asarray(lab))) for lab in every) < len(class_names):
        return len(class_names)
    return None


def _check_names_first(
    class_names: Sequence[str] | None,
    labels: list[Any],
    n_classes: int | None,
    bundle: Any,
    label_mode: str,
) -> None:
    """``class_names`` of the wrong count for a new model's scribbles, refused before the
    forest teacher runs (it was refused after it: seconds here, minutes on a volume;
    train bug bash). Scribbles 1..K+1 make K+1 classes, background first."""
    if not class_names or bundle is not None or label_mode != "sparse":
        return
    top = max(int(np.max(np.asarray(lab))) for lab in labels)
    expected = max(2, int(n_classes) if n_classes is not None else top)
    if len(class_names) != expected:
        raise ValueError(
            f"class_names gives {len(class_names)} names for a model of {expected} classes "
            f"(scribbles 1 to {top}: the background and {expected - 1} more): give one per "
            "class, the background first."
        )


def _check_training_arguments(
    steps: Any, time_limit: Any, n_classes: Any, model_config: Any, class_names: Any
) -> None:
    """Refuse bad training arguments before any work (the forest teacher's included)."""
    check_budget(steps, time_limit)
    check_whole("n_classes", n_classes)
    check_model_config(model_config)
    check_class_names(class_names)


def _check_one_kind(images: Any, labels: Any) -> None:
    """Colour images and grey ones in one training list: the first one's kind was taken
    for all ("labels (pair 2) have shape (45, 2) but the image needs (64, 45, 2)")."""
    if not isinstance(images, (list, tuple)) or not isinstance(labels, (list, tuple)):
        return
    kinds = [
        rgb_axis(np.shape(img), None, np.shape(lab))[0] is not None
        for img, lab in zip(images, labels, strict=False)
    ]
    if len(set(kinds)) > 1:
        odd = kinds.index(not kinds[0])
        what = ("a grey image", "a colour image (its last axis)")
        raise ValueError(
            f"Image {odd + 1} of the list is {what[kinds[odd]]} of shape "
            f"{tuple(np.shape(images[odd]))} and image 1 {what[kinds[0]]} of shape "
            f"{tuple(np.shape(images[0]))}: give them all in colour or all grey (one "
            "channel of a colour image: image[..., 0]), or train on them in separate runs."
        )


def _model_inputs(
    bundle: ModelBundle | None,
    images: Any,
    labels: Any,
    preview_image: Any,
    channel_axis: int | None,
    invert: bool | None,
) -> tuple[Any, Any, int | None, str, bool]:
    """The training images (and preview image) as the model sees them, as prediction
    takes them: RGB as grey for a one-channel model (a new model keeps colours, not
    R = G = B), then dark and bright swapped with ``invert`` (None: the starting model's
    setting, none for a new model; the model it becomes keeps it), each image by its own
    conversion (a stained one read by its hematoxylin is not swapped). Returns them, the
    channel axis, the sentence saying what was done, and the setting the model records
    (what was asked, whether or not a stained image was left as it was: review)."""
    first = images[0] if isinstance(images, (list, tuple)) and images else images
    first_labels = labels[0] if isinstance(labels, (list, tuple)) and labels else labels
    if channel_axis is None:
        _check_one_kind(images, labels)
    channel_axis, grey = rgb_axis(np.shape(first), channel_axis, np.shape(first_labels))
    notes: list[str] = []
    images, preview_image, channel_axis, taken = grey_inputs(
        images,
        preview_image,
        channel_axis,
        getattr(bundle, "in_channels", 1),
        bundle is None,
        notes,
    )
    invert = getattr(bundle, "invert", False) if invert is None else bool(invert)
    listed = isinstance(images, (list, tuple))
    done = [swapped_for_model(i, invert, n) for i, n in zip(images if listed else [images], notes)]
    images = [d[0] for d in done] if listed else done[0][0]
    if preview_image is not None:
        preview_image = swapped_for_model(preview_image, invert, notes[-1])[0]
    swapped = " ".join(dict.fromkeys(d[2] for d in done if d[2]))
    return (
        images,
        preview_image,
        channel_axis,
        " ".join(filter(None, [grey, taken, swapped])),
        invert,
    )


def _inputs(
    bundle: ModelBundle | None,
    images: Any,
    labels: Any,
    label_mode: str,
    time_axis: Any,
    preview_image: Any,
    channel_axis: int | None,
    invert: bool | None,
) -> tuple[Any, Any, Any, int | None, str, bool, str, list[Any] | None]:
    """The painted regions (:func:`_painted_regions`) as the model sees them
    (:func:`_model_inputs`: images, labels, preview image, channel axis, sentence,
    invert), the crop's sentence, and for each image a :class:`WholeImage` of the whole
    image it was cropped from, as the model sees it (its statistics normalize the crop,
    as prediction on the whole takes them), None for one not cropped; None when none
    was."""
    whole_images, whole_labels = images, labels
    images, labels, cropped = _painted_regions(images, labels, label_mode, channel_axis, time_axis)
    inputs = _model_inputs(bundle, images, labels, preview_image, channel_axis, invert)
    if not cropped:
        return (inputs[0], labels, *inputs[1:], cropped, None)
    wholes: list[Any] = []
    pairs = zip(as_list(images), as_list(whole_images), as_list(whole_labels), strict=True)
    for crop, original, lab in pairs:
        if crop is original:
            wholes.append(None)
            continue
        sample, sample_labels = _thinned(original, lab, channel_axis, time_axis)
        seen = _model_inputs(bundle, sample, sample_labels, None, channel_axis, invert)[0]
        wholes.append(WholeImage(seen))
    return (inputs[0], labels, *inputs[1:], cropped, wholes)


#: Pixels (per time point) of the strided sample of a cropped image's whole image that
#: its statistics are taken from: converted whole (grey, swapped), an 8300 x 8300 RGB
#: image took 265 MiB more for a 566 x 566 crop (review); the statistics read a sample.
WHOLE_SAMPLE_PIXELS = 1 << 22


def _thinned(image: Any, labels: Any, channel_axis: int | None, time_axis: Any) -> tuple[Any, Any]:
    """A strided sample of an image and its labels (for their shape), about
    :data:`WHOLE_SAMPLE_PIXELS` pixels a time point: every axis but channels and time
    taken every n-th pixel alike."""
    shape = tuple(np.shape(labels))
    t = None if time_axis is None else int(time_axis) % len(shape)
    spatial = [a for a in range(len(shape)) if a != t]
    pixels = int(np.prod([shape[a] for a in spatial], dtype=np.int64))
    step = max(1, math.ceil((pixels / WHOLE_SAMPLE_PIXELS) ** (1 / len(spatial))))
    index = tuple(
        slice(None, None, step) if a in spatial else slice(None) for a in range(len(shape))
    )
    at = _channel_position(np.shape(image), shape, channel_axis)
    at = None if at == -1 else at
    image_index = index if at is None else (*index[:at], slice(None), *index[at:])
    return image[image_index], labels[index]


def _statistics_of(images: Any, wholes: list[Any] | None, resampled: bool) -> Any:
    """``statistics_of`` for training: each cropped image's whole image, each resampled
    one's image before resampling (``images``), None where neither happened."""
    if wholes is None:
        return images if resampled else None
    return [img if w is None else w for img, w in zip(as_list(images), wholes, strict=True)]


def _painted_regions(
    images: Any, labels: Any, label_mode: str, channel_axis: int | None, time_axis: Any
) -> tuple[Any, Any, str]:
    """Large images with sparse scribbles cropped to the painted region (with a margin:
    :func:`~napari_unetseg.core.training.labels.painted_box`): the unpainted rest teaches
    nothing, and the object-size step resampled all of it (15.5 GB for a patch painted
    in a 4 GB volume; big-data bash). A series keeps all its time points (their numbers
    are the user's), and an image whose channel axis is unknown is left whole. Returns
    the images, labels and a sentence."""
    if label_mode != "sparse":
        return images, labels, ""
    listed = isinstance(images, (list, tuple))
    pairs = list(zip(images, labels, strict=True)) if listed else [(images, labels)]
    out, said = [], []
    for i, (img, lab) in enumerate(pairs):
        box = painted_box(lab) if len(np.shape(img)) >= len(np.shape(lab)) else None
        at = _channel_position(np.shape(img), np.shape(lab), channel_axis)
        if box is None or at == -1:
            out.append((img, lab))
            continue
        if time_axis is not None:
            t = int(time_axis) % len(box)
            box = (*box[:t], slice(0, np.shape(lab)[t]), *box[t + 1 :])
        index = box if at is None else (*box[:at], slice(None), *box[at:])
        out.append((img[index], lab[box]))
        region = " x ".join(str(b.stop - b.start) for b in box)
        region += " of " + " x ".join(map(str, np.shape(lab)))
        whose = f"image {i + 1}" if listed else "the image"
        said.append(f"{whose}'s painted region ({region}, with a margin)")
    if not said:
        return images, labels, ""
    images = type(images)(img for img, _ in out) if listed else out[0][0]
    labels = type(labels)(lab for _, lab in out) if listed else out[0][1]
    return images, labels, f"Trained on {' and '.join(said)}: the rest holds no strokes."


def _channel_position(
    image_shape: tuple[int, ...], labels_shape: tuple[int, ...], channel_axis: int | None
) -> int | None:
    """Where an image's channel axis sits among its labels' axes (None: it has none; -1:
    not known, a (T, C, Y, X) image without ``channel_axis``: review)."""
    if len(image_shape) == len(labels_shape):
        return None
    if channel_axis is not None:
        return channel_axis % len(image_shape)
    if tuple(image_shape[:-1]) == tuple(labels_shape):
        return len(labels_shape)
    return 0 if tuple(image_shape[1:]) == tuple(labels_shape) else -1


def _one_or_many(value: Any) -> Any:
    """Rows of numbers (``image.tolist()`` of a plane) as the one image they spell, as
    ``predict`` takes them ("'list' object has no attribute 'shape'"); any other list
    as several images, each nested list among them an array."""
    if not isinstance(value, (list, tuple)) or not value:
        return value
    first = value[0]
    if not isinstance(first, (list, tuple)) and not hasattr(first, "shape"):
        return np.asarray(value)  # numbers: one 1D array, refused later as such
    row = first[0] if isinstance(first, (list, tuple)) and first else None
    if row is not None and not isinstance(row, (list, tuple)) and not hasattr(row, "shape"):
        return np.asarray(value)  # rows of numbers: one plane
    return type(value)(np.asarray(v) if isinstance(v, (list, tuple)) else v for v in value)


def _check_training_images(images: Any, labels: Any) -> None:
    """One sentence for no image (or no labels) at all, one of data that are not real
    numbers, or one of fewer than two axes (scipy's "sequence argument must have length
    equal to input rank" reached the user; train bug bash)."""
    if isinstance(images, (list, tuple)) and not images:
        raise ValueError("No images to train on: give at least one image and its labels.")
    if labels is None or (
        isinstance(labels, (list, tuple)) and any(lab is None for lab in labels)
    ):
        raise ValueError("No labels were given: give each image its labels (an array).")
    check_pair_count(images, labels)  # (zip()'s "argument 2 is shorter" reached users)
    for img in images if isinstance(images, (list, tuple)) else [images]:
        guards.check_image_dtype(dtype_of(img))
        if len(np.shape(img)) < 2:
            raise ValueError(
                f"An image of shape {tuple(np.shape(img))} has fewer than two axes: models "
                "segment planes (Y, X) and stacks."
            )


def _recorded(
    trained: ModelBundle,
    record: Any,
    message: str,
    painted: list | None,
    unit: Any = None,
    time_limit: float | None = None,
) -> ModelBundle:
    """Record the object size (with the ``unit`` of its pixel size: a package's axes then
    say µm, they said scale 0.3 and no unit), its sentence and the teacher in the trained
    bundle.

    ``painted``: the user's labels when a forest labelled the rest, so that
    ``labeled_pixels`` counts what the user painted per class (``trained_pixels`` what
    the network trained on); None without a teacher. ``time_limit``: the one given (the
    network's run had what the forest teacher left of it; review).
    """
    # a record measured on these images takes their unit; the starting model's record
    # keeps its own (fine-tuning on an image in nm named its pixel size in µm so: review)
    if record is not None and record.get("pixel_size") is not None and unit:
        record["unit"] = record.get("unit") or unit
    trained.set_object_size(record)
    trained.history["object_size"] = message
    trained.history["software"] = f"napari-unetseg {__version__}"
    trained.history["time_limit_s"] = None if time_limit is None else float(time_limit)
    trained.history["created"] = (
        datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    )
    trained.history["teacher"] = forest.TAUGHT if painted is not None else "none"
    if painted is not None:
        trained.history["trained_pixels"] = trained.history["labeled_pixels"]
        trained.history["labeled_pixels"] = [
            sum(int(np.count_nonzero(np.asarray(lab) == k + 1)) for lab in painted)
            for k in range(len(trained.history["labeled_pixels"]))
        ]
    return trained


def _warn_of_masks(record: TrainProgress) -> None:
    """Say as a warning the note that scribbles look like masks of objects: ``train``
    dropped it, and instance masks trained a model of a class per object without a word
    (API bug bash); and the note that dense labels of several values train one
    foreground class, unless ``n_classes`` asked for it (labels 0, 1, 2 made a model of
    one class without a word; API bash)."""
    for sentence in (record.message or "").split(". "):
        masks = MASKS_AS_SCRIBBLES[:20] in sentence
        merged = sentence.startswith(DENSE_MERGED) and "n_classes=" not in sentence
        if masks or merged:
            warnings.warn(sentence.rstrip(".") + ".", UserWarning, stacklevel=user_level())


@arguments_of(train_iter)
def train(images: Any, labels: Any, **options: Any) -> ModelBundle:
    """Train a new U-Net, or fine-tune one, on painted labels.

    Parameters
    ----------
    images, labels : array-like or list of array-likes
        Image(s) and their labels (same shape without the channel axis). Numpy, memmap,
        zarr or dask; patches are read and normalized on the fly.
    model : None, ModelBundle, str or path
        None trains a new model (2D/3D from ``spatial_dims`` or the image); a bundle, a
        model name or a file is fine-tuned (a copy: the original is left untouched).
    label_mode : {'sparse', 'dense'}
        ``'sparse'``: 0 not painted (ignored), 1 background, k >= 2 class k - 1.
        ``'dense'``: 0 background, k class k (instance masks count as one foreground
        class when the model has one).
    n_classes : int, optional
        Output channels; when it differs from the model's, the output layer is
        re-initialized.
    steps, time_limit : optional
        Budget in steps and/or seconds, whichever ends first (default 60 s).
    patch_size, batch_size, learning_rate : optional
        Chosen for the device when omitted.
    val_fraction : float
        Share of the labeled pixels held out, as whole regions, for validation.
    augment : bool
        Flips, 90-degree rotations, intensity and noise augmentation.
    device : str
        ``'auto'``, ``'cpu'``, ``'cuda[:N]'`` or ``'mps'``.
    seed : int
        Makes a run reproducible.
    stop, preview_image, preview_every : optional
        For interactive use, see :func:`train_iter`.
    object_size : 'auto', float or None
        Fine-tuning a model that records an object size: the images (and labels) are
        resampled to it first, measured like :func:`predict` measures (``'auto'``) or
        from the given diameter in pixels; None / ``'off'`` fine-tunes at the images' own
        scale, as :func:`predict` takes None. A new model records the size of the
        objects of its training image (measured the same way, so it predicts that image
        without resampling), whichever of these is given, unless it is a diameter.
    scale : sequence of float, optional
        Pixel size per axis of the image(s); recorded by a new model.
    unit : str, optional
        The unit of ``scale`` (e.g. ``'µm'``), recorded with it (a bioimage.io export
        names it on the package's axes).
    precision : {'auto', 'fp32', 'bf16', 'fp16'}
        Training autocast; ``'auto'`` uses bf16 on CUDA and on CPUs with native bf16.
    model_config : dict, optional
        UNet arguments of a new model, e.g. a smaller ``depth`` / ``base_channels``.
    keep_prior : float, optional
        Fine-tuning: how strongly the answers of the starting model on the unpainted
        pixels are kept (None: 0.3 on scribbles, 0 with dense labels; 0 turns it off).
    channel_axis : int, optional
        The images' channel axis (colour or several channels); an RGB(A) image given
        without one is read as napari reads it (see :func:`predict`).
    time_axis : int, optional
        The labels' axis of time points: a new model's object size is measured on the
        middle time point (as :func:`predict` measures it), not across time.
    intensity_range : (float, float), optional
        A new model's fixed intensity range, e.g. ``(-1024, 3000)`` or a CT window such
        as ``(-160, 240)`` in Hounsfield units: low becomes 0 and high 1, clipped, for
        every image alike (recorded in the model; prediction uses it), instead of each
        image's 1st / 99.8th percentiles, which depend on what else the image holds (a
        CT's field of view). For calibrated intensities; refused when fine-tuning.
    class_names : list of str, optional
        Names of the model's classes, the background first (``["background", "grey
        matter", "white matter"]``): kept in the model file, used by Segment's result
        line, Validate and bioimage.io packages. None: "class 1", ... for a new model.
    teacher : {'auto', 'forest', 'none'}
        'auto' first labels the unpainted pixels of a new model's scribbles with a random
        forest fitted on the painted ones (a model that a forest taught, trained further,
        too) and trains the U-Net on that; 'none' trains on the scribbles alone; see
        :func:`train_iter`.
    invert : bool, optional
        Dark objects on a bright background: dark and bright are swapped before training,
        as :func:`predict`'s ``invert`` does, and the model records it, so it predicts
        with them swapped by default. None: the starting model's setting (off for a new
        model).

    Returns
    -------
    ModelBundle
        The best model of the run by its validation signal (the held-out loss with
        scribbles, Dice with dense labels), its normalization and history; save it with
        ``bundle.save(path)``.

    Raises
    ------
    ValueError
        Labels shaped unlike the image, no labeled pixels, only one class painted,
        different numbers of images and labels; no training step taken (stopped, or the
        time limit spent on the forest teacher): an untrained model is no model.
        :func:`train_iter` returns it, with ``history["steps"] == 0``.
    """
    bundle = drain(train_iter(images, labels, **options), _warn_of_masks)
    if not bundle.history.get("steps"):
        stop = options.get("stop")
        if stop is not None and stop.is_set():  # ("give a longer time_limit": no advice)
            raise ValueError("Training was stopped before its first step, so no model was made.")
        raise ValueError(
            "No training step was taken (the time limit went to the forest teacher), so no "
            "model was made; give a longer time_limit."
        )
    if said := few_steps_text(bundle.history):
        warnings.warn(said, UserWarning, stacklevel=user_level())
    return bundle
