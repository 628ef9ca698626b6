"""The public headless API: load models, predict, train and evaluate.

Everything the widgets and the CLI do goes through these functions. The ``*_iter``
variants are generators that yield progress records and return the result (the widgets
run them in a worker thread); the plain functions drain them.

Example
-------
>>> from napari_unetseg import api
>>> model = api.load_model("nuclei-2d")          # doctest: +SKIP
>>> labels = api.predict(image, model)           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import forest
from ._io import read_image
from .batch import segment_files
from .core import guards
from .core.bundle import ModelBundle, ModelFileError
from .core.inference import PredictionResult, TileProgress
from .core.metrics import EvaluationProgress, EvaluationResult
from .core.metrics import evaluate_iter as _evaluate_iter
from .core.normalize import checked_axis, grey_for_model, grey_inputs, one_channel, rgb_axis
from .core.progress import drain, relay
from .core.registry import REGISTRY
from .core.scale import checked_scale, resample, scaled_shape
from .core.sizing import predict_sized, training_scale
from .core.training import TrainProgress
from .core.training import train as _train
from .core.training.options import (
    check_budget,
    check_class_names,
    check_model_config,
    check_run_options,
    check_whole,
)

__all__ = [
    "ModelBundle",
    "ModelFileError",
    "PredictionResult",
    "REGISTRY",
    "drain",
    "evaluate",
    "evaluate_iter",
    "EvaluationProgress",
    "EvaluationResult",
    "list_models",
    "load_model",
    "load_model_file",
    "predict",
    "predict_iter",
    "read_image",
    "save_model",
    "segment",
    "segment_files",
    "segment_iter",
    "train",
    "train_iter",
    "TrainProgress",
]

ModelLike = ModelBundle | str | os.PathLike
F = TypeVar("F", bound=Callable[..., Any])


def _dtype(array: Any) -> np.dtype:
    """The data type of an array-like without reading it (numpy, dask, zarr, lists)."""
    dtype = getattr(array, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(array).dtype


def _arguments_of(generator_function: Callable[..., Any]) -> Callable[[F], F]:
    """Decorator of a plain function that forwards its arguments to ``generator_function``.

    help() and inspect.signature show them by name (benchmarks/bench_accuracy.py asks
    which keywords :func:`predict` and :func:`train` accept), with the plain function's
    own return annotation.
    """

    def decorate(function: F) -> F:
        returns = inspect.signature(function).return_annotation
        signature = inspect.signature(generator_function).replace(return_annotation=returns)
        function.__signature__ = signature
        return function

    return decorate


def load_model(model: ModelLike) -> ModelBundle:
    """A model by shipped/session name, by file path, or a bundle as is.

    Raises
    ------
    FileNotFoundError
        If it is neither a known model name nor an existing file.
    ModelFileError
        If the file is not a napari-unetseg model.
    """
    if isinstance(model, ModelBundle):
        return model
    name = os.fspath(model)
    if name in REGISTRY:
        return REGISTRY.get(name)
    path = Path(name).expanduser()
    if path.is_dir():  # an unpacked bioimage.io package: its description inside
        described = sorted([*path.glob("rdf.yaml"), *path.glob("*.bioimageio.yaml")])
        path = described[0] if described else path
    if path.is_file() or path.suffix.lower() == ".zip":
        return load_model_file(path)
    known = ", ".join(REGISTRY.names()) or "none"
    raise FileNotFoundError(
        f"Unknown model {name!r}: it is neither a model name (known: {known}) nor an "
        "existing model file."
    )


def load_model_file(path: str | os.PathLike) -> ModelBundle:
    """A model file: our ``.pt``, or a bioimage.io package (``.zip`` / ``rdf.yaml``).

    Our own bioimage.io exports come back fine-tunable; third-party packages with
    torchscript weights are predict-only (``bundle.trainable`` is False). See
    :mod:`napari_unetseg.bioimageio` for what is accepted.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ModelFileError
        If it is neither (one sentence saying why).
    """
    from .bioimageio import is_package

    if is_package(path):
        from .bioimageio import load_package

        return load_package(path)
    return ModelBundle.load(path)


def list_models() -> list[dict[str, Any]]:
    """The shipped models, the saved ones (:func:`save_model`) and those trained or
    loaded in this session, one dict each (``name``, ``kind``, ``path``)."""
    rows = []
    for kind, files in (("shipped", REGISTRY.shipped()), ("saved", REGISTRY.saved())):
        rows += [{"name": name, "kind": kind, "path": str(path)} for name, path in files.items()]
    listed = {row["name"] for row in rows}
    for name in REGISTRY.session():
        if name not in listed:
            rows.append({"name": name, "kind": "session", "path": None})
    return rows


def save_model(model: ModelLike, name: str | None = None) -> Path:
    """Save a model into the saved-models folder, so that every later session (widgets,
    API, CLI) lists it by ``name`` (default: the model's own name).

    The folder is the user's data folder (``~/.local/share/napari-unetseg/models`` on
    Linux) or ``$NAPARI_UNETSEG_MODELS``; a saved model of the same name is replaced.
    Returns the file written.

    Raises
    ------
    ValueError
        One sentence when the name is a shipped model's or makes no file name.
    """
    return REGISTRY.save_as(load_model(model), name)


def default_model(
    shape: tuple[int, ...], axes: str | None = None, channel_axis: int | None = None
) -> tuple[str, str]:
    """The shipped model that fits an image, and why, in a few words.

    ``nuclei-3d`` for a Z stack (axes naming ``Z``, or three or more non-channel axes
    when the axes are unknown and the first of the last three is not time ``T``),
    ``nuclei-2d`` for a plane or a time series of planes.
    """
    if not axes:  # an array from a PNG or JPEG: (Y, X, 3), a plane
        channel_axis = rgb_axis(shape, channel_axis)[0]
    n = len(shape) - (channel_axis is not None)
    spatial_axes = (axes or "").upper()
    if "Z" in spatial_axes:
        return "nuclei-3d", "the image is a Z stack"
    if n >= 3 and not spatial_axes:
        return "nuclei-3d", f"the image has {n} axes, read as a Z stack"
    if n >= 3:
        return "nuclei-2d", f"the image is a series of planes ({spatial_axes})"
    return "nuclei-2d", "the image is a plane"


def predict_iter(
    image: Any,
    model: ModelLike,
    *,
    tile_size: int | tuple[int, ...] | None = None,
    overlap: float = 0.25,
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    tta: bool = False,
    return_probabilities: bool = False,
    return_uncertainty: bool = False,
    out: Any = None,
    channel_axis: int | None = None,
    channel: int | None = None,
    blend: str = "gaussian",
    object_size: Any = "auto",
    scale: Any = None,
    fill_holes: bool | None = None,
) -> Generator[TileProgress, None, PredictionResult]:
    """Generator form of :func:`predict`: yields progress, returns a ``PredictionResult``.

    :func:`predict` documents the arguments; ``return_uncertainty`` also gives the
    disagreement between the test-time flips (``result.uncertainty``).
    ``result.stats["object_size"]["message"]`` says which object size was used;
    ``result.stats["confidence"]`` how many voxels were marked, how many of them with a
    probability above 0.8, and a ``message`` when fewer than half were (the model is
    unsure on this image: fine-tune it).
    """
    if isinstance(image, str | os.PathLike):
        raise TypeError(
            f"predict takes an image array, not the path {os.fspath(image)!r}: read it with "
            "read_image(path).data, or segment files with segment_files([...], output)."
        )
    bundle = load_model(model)
    if not hasattr(image, "shape"):  # nested lists
        image = np.asarray(image)
    guards.check_image_dtype(image.dtype)  # before the object size is measured on it
    if channel_axis is not None:  # before the axes left are counted (a plane's axis 5)
        channel_axis = checked_axis(channel_axis, tuple(np.shape(image)))
    if channel is not None:
        axis = channel_axis
        image, channel_axis = one_channel(image, axis, channel), None
        if scale is not None and len(scale) == image.ndim + 1:  # a size for the channels too
            scale = [s for a, s in enumerate(scale) if a != axis % (image.ndim + 1)]
    spatial, dims = np.ndim(image) - (channel_axis is not None), bundle.spatial_dims
    if spatial < dims:  # said before the pixel sizes, which then miss one too
        raise ValueError(
            f"Model {bundle.name!r} is a {dims}D model and a {dims}D model needs at least "
            f"{dims} spatial axes, but the image of shape {tuple(np.shape(image))} has "
            f"{spatial}; choose a 2D model (nuclei-2d) for planes."
        )
    scale = checked_scale(scale, bundle.spatial_dims)
    channel_axis, colour = rgb_axis(np.shape(image), channel_axis)
    image, channel_axis, grey = grey_for_model(image, channel_axis, bundle.in_channels)
    grey = f"{colour} {grey}".strip()
    result = yield from predict_sized(
        bundle,
        image,
        object_size=object_size,
        spacing=scale,
        fill=fill_holes,
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        precision=precision,
        # the uncertainty is the spread of the flipped predictions: it needs them (the
        # map was all zeros without tta, where the docstring said tta is then on)
        tta=tta or return_uncertainty,
        return_probabilities=return_probabilities,
        return_uncertainty=return_uncertainty,
        out=out,
        channel_axis=channel_axis,
        blend=blend,
    )
    if grey:
        result.stats["input"] = grey
    return result


@_arguments_of(predict_iter)
def predict(
    image: Any,
    model: ModelLike,
    *,
    return_probabilities: bool = False,
    return_uncertainty: bool = False,
    **options: Any,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Segment an image with a U-Net, tile by tile, in bounded memory.

    Parameters
    ----------
    image : array-like
        Numpy array, memmap, zarr or dask array: (Y, X) / (Z, Y, X), with an optional
        channel axis (per the model's ``in_channels``) and optional leading axes (T, or Z
        for a 2D model), which are processed one plane/volume at a time. An RGB(A) image
        (``channel_axis`` last, 3 or 4 values) given to a one-channel model is taken as
        grey (``result.stats["input"]`` of :func:`predict_iter` says how). Without
        ``channel_axis``, a last axis of 3 or 4 values after a plane is that colour axis,
        as napari reads it (:func:`napari_unetseg.core.normalize.rgb_axis`).
    model : ModelBundle, str or path
        A bundle, a shipped or session model name (see :func:`list_models`) or a file.
    tile_size, overlap, batch_size, device, precision, tta, blend
        See :func:`napari_unetseg.core.inference.predict_tiled`.
    return_probabilities : bool
        Also return the float32 foreground probability map.
    out : array-like, optional
        Where to write the labels (numpy, memmap, zarr); allocated when omitted.
    object_size : 'auto', float or None
        The diameter of the image's objects in pixels (see ``core/scale.py``): the image
        is resampled so its objects have the size the model was trained for, and the
        labels come back on the image's grid. ``'auto'`` measures it (falls back to the
        model's own size when the image shows no objects); None / ``'off'`` predicts at
        the image's scale. Models that record no size always predict at the image's
        scale.
    channel_axis : int, optional
        The image's channel axis (see above).
    channel : int, optional
        Segment this channel of ``channel_axis`` (e.g. the nuclear stain of a two-channel
        stack) with a one-channel model, as ``unetseg predict --channel N`` does.
    scale : sequence of float, optional
        Pixel size per axis (e.g. a layer's ``scale``): with a 3D model, an anisotropic
        stack is resampled to the model's (near-isotropic) grid.
    fill_holes : bool, optional
        Fill holes inside predicted objects (default: the model's setting).

    Returns
    -------
    labels : ndarray
        uint8 (uint16 for > 255 classes) labels with the image's shape without channels.
    probabilities : ndarray
        Only with ``return_probabilities``.
    uncertainty : ndarray
        Only with ``return_uncertainty`` (after the probabilities when both are asked
        for): the disagreement between the test-time flips (``tta`` is then on).
    """
    result = drain(
        predict_iter(
            image,
            model,
            return_probabilities=return_probabilities,
            return_uncertainty=return_uncertainty,
            **options,
        )
    )
    extra = [result.probabilities] if return_probabilities else []
    if return_uncertainty:
        extra.append(result.uncertainty)
    return (result.labels, *extra) if extra else result.labels


def segment_iter(
    image: Any,
    model: ModelLike,
    *,
    split_touching: bool = False,
    scale: Any = None,
    time_axis: int | None = None,
    **options: Any,
) -> Generator[TileProgress, None, PredictionResult]:
    """:func:`predict_iter`, then (``split_touching``) touching objects split apart.

    The one chain of prediction and :func:`napari_unetseg.postprocess.split_stack` that
    the CLI (``unetseg predict --split-touching``) and the Segment widget both run:
    the result's labels are instance labels (one id per object, unique across planes
    and volumes) when ``split_touching`` is set. ``scale`` (the pixel size per axis)
    serves both the object-size step and the split's distances; ``time_axis`` (the
    labels' axis of time points) keeps the split inside each time point; ``options`` are
    :func:`predict_iter`'s other keyword arguments.
    """
    bundle = load_model(model)
    result = yield from predict_iter(image, bundle, scale=scale, **options)
    if split_touching:
        from .postprocess import split_stack

        sampling = None if scale is None else tuple(float(s) for s in scale)
        labels = split_stack(np.asarray(result.labels), sampling, bundle.spatial_dims, time_axis)
        stats = dict(result.stats)
        if bundle.n_classes > 2:  # several object classes: the ids do not say which
            stats["split"] = {
                "message": (
                    f"The {bundle.n_classes - 1} classes' objects were split and numbered "
                    "together: the labels are object ids, which do not say each object's "
                    "class (segment without splitting for the classes)."
                )
            }
        result = dataclasses.replace(result, labels=labels, stats=stats)
    return result


def segment(image: Any, model: ModelLike, *, split_touching: bool = False, **options: Any) -> Any:
    """Segment an image: :func:`predict`'s labels, instance labels with ``split_touching``.

    Takes :func:`predict`'s keyword arguments; returns the labels array.
    """
    return drain(segment_iter(image, model, split_touching=split_touching, **options)).labels


def _trainable(bundle: ModelBundle) -> ModelBundle:
    """The bundle, if it can be trained; a model imported for prediction only cannot."""
    if not bundle.trainable:
        raise ValueError(
            f"Model {bundle.name!r} was imported from a third-party package for prediction only "
            "and cannot be fine-tuned; start a new model instead."
        )
    return bundle


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
) -> Generator[TrainProgress, None, ModelBundle]:
    """Generator form of :func:`train`: yields ``TrainProgress``, returns the bundle.

    Extra arguments for interactive use: ``stop`` (a ``threading.Event``; when set,
    training ends at the next step and the best model so far is returned),
    ``preview_image`` / ``preview_every`` (every N steps the current model predicts the
    image and the record carries the labels in ``.preview``) and ``model_config`` (UNet
    arguments of a new model, e.g. a smaller ``depth`` / ``base_channels``). See
    :func:`napari_unetseg.core.training.train` for every argument, and
    :func:`napari_unetseg.core.sizing.training_scale` for ``object_size`` / ``scale``.
    ``teacher`` ("auto", "forest", "none"): "auto" (the default) first labels the
    unpainted pixels of a NEW model's sparse scribbles with a random forest fitted on the
    painted ones, and trains the U-Net on that dense picture, without intensity
    augmentation (see :mod:`napari_unetseg.forest`); so does training further a model
    that a forest taught (the forest fitted again on all the strokes given now);
    fine-tuning any other model trains on the scribbles alone.
    """
    arguments = dict(locals())  # this function's parameters, passed on as is
    size, scale, unit = arguments.pop("object_size"), arguments.pop("scale"), arguments.pop("unit")
    teacher = arguments.pop("teacher")
    _check_training_arguments(steps, time_limit, n_classes, model_config, class_names)
    check_run_options(spatial_dims, seed, learning_rate)
    _check_training_images(images)
    bundle = None if model is None else _trainable(load_model(model))
    use_forest = forest.wanted(teacher, bundle, label_mode)
    arguments["model"] = bundle
    arguments["n_classes"] = classes_named(label_mode, class_names, n_classes, labels)
    first = images[0] if isinstance(images, (list, tuple)) and images else images
    first_labels = labels[0] if isinstance(labels, (list, tuple)) and labels else labels
    channel_axis, grey = rgb_axis(np.shape(first), channel_axis, np.shape(first_labels))
    # RGB images: as grey for a one-channel model; a new model keeps colours, not R = G = B
    images, preview_image, channel_axis, taken = grey_inputs(
        images, preview_image, channel_axis, getattr(bundle, "in_channels", 1), bundle is None
    )
    grey = f"{grey} {taken}".strip()
    arguments.update(preview_image=preview_image, channel_axis=channel_axis)
    imgs, labs, factors, record, size_said = training_scale(
        bundle,
        images,
        labels,
        object_size=size,
        scale=scale,
        spatial_dims=spatial_dims,
        channel_axis=channel_axis,
        label_mode=label_mode,
    )
    taught = ""
    if use_forest:
        dense, taught, arguments["time_limit"] = yield from forest.teach(
            imgs,
            labs,
            channel_axis=channel_axis,
            seed=seed,
            steps=steps,
            time_limit=time_limit,
            stop=stop,
        )
        use_forest, painted, labs = dense is not labs, labs, dense
        # the forest's classes follow the intensities as they are: no intensity changes;
        # its answers cover every pixel: the model's threshold (or class weights) is matched
        # to them
        arguments["intensity_augment"] = not use_forest
        arguments["match_labels"] = use_forest
        if use_forest and keep_prior is None:  # no unpainted pixel left to keep answers on
            arguments["keep_prior"] = 0.0
    message = " ".join(part for part in (grey, size_said, taught) if part)
    arguments["images"], arguments["labels"] = imgs, labs
    resampled = any(f != 1.0 for f in factors)
    if resampled and preview_image is not None:
        layout = bundle.layout(tuple(preview_image.shape), channel_axis)
        arguments["preview_image"] = resample(
            preview_image,
            scaled_shape(layout.spatial_shape, factors),
            channel_axis=layout.channel_axis,
        )
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
    return _recorded(trained, record, message, painted if use_forest else None, unit)


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


def _check_training_arguments(
    steps: Any, time_limit: Any, n_classes: Any, model_config: Any, class_names: Any
) -> None:
    """Refuse bad training arguments before any work (the forest teacher's included)."""
    check_budget(steps, time_limit)
    check_whole("n_classes", n_classes)
    check_model_config(model_config)
    check_class_names(class_names)


def _check_training_images(images: Any) -> None:
    """One sentence for no image at all, or one of data that are not real numbers."""
    if isinstance(images, (list, tuple)) and not images:
        raise ValueError("No images to train on: give at least one image and its labels.")
    for img in images if isinstance(images, (list, tuple)) else [images]:
        guards.check_image_dtype(_dtype(img))


def _recorded(
    trained: ModelBundle, record: Any, message: str, painted: list | None, unit: Any = None
) -> ModelBundle:
    """Record the object size (with the ``unit`` of its pixel size: a package's axes then
    say µm, they said scale 0.3 and no unit), its sentence and the teacher in the trained
    bundle.

    ``painted``: the user's labels when a forest labelled the rest, so that
    ``labeled_pixels`` counts what the user painted per class (``trained_pixels`` what
    the network trained on); None without a teacher.
    """
    if record is not None and record.get("pixel_size") is not None and unit:
        record["unit"] = unit
    trained.set_object_size(record)
    trained.history["object_size"] = message
    trained.history["teacher"] = forest.TAUGHT if painted is not None else "none"
    if painted is not None:
        trained.history["trained_pixels"] = trained.history["labeled_pixels"]
        trained.history["labeled_pixels"] = [
            sum(int(np.count_nonzero(np.asarray(lab) == k + 1)) for lab in painted)
            for k in range(len(trained.history["labeled_pixels"]))
        ]
    return trained


@_arguments_of(train_iter)
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
    class_names : list of str, optional
        Names of the model's classes, the background first (``["background", "grey
        matter", "white matter"]``): kept in the model file, used by Segment's result
        line, Validate and bioimage.io packages. None: "class 1", ... for a new model.

    Returns
    -------
    ModelBundle
        The model with the best validation Dice, its normalization and history; save
        it with ``bundle.save(path)``.

    Raises
    ------
    ValueError
        Labels shaped unlike the image, no labeled pixels, only one class painted,
        different numbers of images and labels; no training step taken (stopped, or the
        time limit spent on the forest teacher): an untrained model is no model.
        :func:`train_iter` returns it, with ``history["steps"] == 0``.
    """
    bundle = drain(train_iter(images, labels, **options))
    if not bundle.history.get("steps"):
        raise ValueError(
            "No training step was taken (stopped, or the time limit went to the forest "
            "teacher), so no model was made; give a longer time_limit."
        )
    return bundle


def evaluate_iter(
    prediction: Any,
    ground_truth: Any,
    *,
    mode: str = "dense",
    spacing: Any = None,
    objects: bool = True,
    classes: Any = None,
    iou_threshold: float = 0.5,
    instances: str = "auto",
    return_errors: bool = False,
    unit: str | None = None,
    time_axis: int | None = None,
) -> Generator[EvaluationProgress, None, EvaluationResult]:
    """Generator form of :func:`evaluate`: yields ``EvaluationProgress``, returns the result.

    ``return_errors=True`` also computes the error overlay (``result.errors``: 1 false
    positive, 2 false negative, 3 wrong class), in the same pass over the data.
    """
    arguments = dict(locals())  # this function's parameters, passed on as is
    dense_objects = objects and mode == "dense"
    guards.check_memory(
        guards.evaluation_bytes(
            math.prod(getattr(prediction, "shape", np.shape(prediction))),
            [_dtype(prediction).itemsize, _dtype(ground_truth).itemsize],
            dense_objects,
            return_errors,
        ),
        "Evaluation",
        hint="score voxels only (objects=False, --no-objects) or a smaller region",
    )
    return (yield from _evaluate_iter(**arguments))


@_arguments_of(evaluate_iter)
def evaluate(prediction: Any, ground_truth: Any, **options: Any) -> EvaluationResult:
    """Score a label prediction against ground truth.

    Parameters
    ----------
    prediction, ground_truth : array-like
        Integer label arrays of the same shape (2D/3D; numpy, memmap, zarr or dask).
        Voxel scores are counted slab by slab, so volumes larger than memory work with
        ``objects=False``.
    mode : {'dense', 'sparse'}
        ``'dense'``: ground truth 0 = background, k = class k. ``'sparse'`` (painted
        scribbles): 0 = unlabeled (not scored), 1 = background, k + 1 = class k.
    spacing : sequence of float, optional
        Physical voxel size per axis (e.g. a layer's ``scale``) for HD95 / ASSD.
    objects : bool
        Also compute object matching (F1, panoptic quality, split / merged), HD95, ASSD
        and clDice per foreground class; these load both volumes into memory.
    classes : iterable of int, optional
        Class ids to report (default: background and every label present).
    iou_threshold : float
        Minimum IoU for a predicted object to match a ground-truth object.
    instances : {'auto', 'none', 'ground_truth', 'prediction', 'both'}
        Which side holds instance labels (each object its own id), scored as one
        foreground class; ``'auto'`` detects a binary mask against instance labels, and
        two label sets with many ids that disagree or that name the same regions
        otherwise (see ``result.notes``).
    return_errors : bool
        Also compute the error overlay (``result.errors``; see :func:`evaluate_iter`).
    unit : str, optional
        Unit of ``spacing``, for display.
    time_axis : int, optional
        The time axis of a time series: objects, HD95 / ASSD and clDice are measured in
        each time point on its own and pooled (an object in five frames counts five
        times, no distance runs across time). Voxel scores are the same either way.

    Returns
    -------
    EvaluationResult
        ``.classes``, ``.summary``, ``.objects``, ``.per_slice_dice``; ``.table()``,
        ``.to_dict()``, ``.to_dataframe()`` (with pandas).

    Raises
    ------
    ValueError
        Shapes differ, labels are not non-negative integers, or an option is invalid.
    """
    return drain(evaluate_iter(prediction, ground_truth, **options))
