"""The public headless API: load models, predict, train and evaluate.

Everything the widgets and the CLI do goes through these functions. The ``*_iter``
variants are generators that yield progress records and return the result (the widgets
run them in a worker thread); the plain functions drain them.

The functions live in ``_api_models`` (models), here (prediction and evaluation) and
``_api_train`` (training); import them from this module.

Example
-------
>>> from napari_unetseg import api
>>> model = api.load_model("nuclei-2d")          # doctest: +SKIP
>>> labels = api.predict(image, model)           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Generator
from typing import Any

import numpy as np

from ._api_models import (
    ModelLike,
    arguments_of,
    check_flags,
    default_model,
    dtype_of,
    list_models,
    load_model,
    load_model_file,
    no_paths,
    plain_array,
    save_model,
    swapped_for_model,
)
from ._api_train import classes_named, train, train_iter
from ._io import read_image
from .batch import segment_files
from .core import guards
from .core.bundle import ModelBundle, ModelFileError
from .core.guards import NonFiniteWarning, user_level
from .core.inference import PredictionResult, TileProgress
from .core.intensity import say_outside_range
from .core.margins import frame_message
from .core.metrics import EvaluationProgress, EvaluationResult
from .core.metrics import evaluate_iter as _evaluate_iter
from .core.normalize import (
    checked_axis,
    grey_for_model,
    image_axis,
    one_channel,
    rgb_axis,
    unswapped,
)
from .core.progress import drain
from .core.registry import REGISTRY
from .core.scale import checked_scale
from .core.sizing import predict_framed, say_dark_objects
from .core.training import TrainProgress

__all__ = [
    "ModelBundle",
    "ModelFileError",
    "ModelLike",
    "NonFiniteWarning",
    "PredictionResult",
    "REGISTRY",
    "classes_named",
    "default_model",
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
    "rgb_axis",
    "save_model",
    "segment",
    "segment_files",
    "segment_iter",
    "train",
    "train_iter",
    "TrainProgress",
]


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
    time_axis: int | None = None,
    invert: bool | None = None,
    class_probabilities: bool = False,
) -> Generator[TileProgress, None, PredictionResult]:
    """Generator form of :func:`predict`: yields progress, returns a ``PredictionResult``.

    :func:`predict` documents the arguments; ``return_uncertainty`` also gives the
    disagreement between the test-time flips (``result.uncertainty``).
    ``result.stats["object_size"]["message"]`` says which object size was used;
    ``result.stats["confidence"]`` how many voxels were marked, how many of them with a
    probability above 0.8, and a ``message`` when fewer than half were (the model is
    unsure on this image: fine-tune it).
    """
    if isinstance(image, ModelBundle) or isinstance(image, str) and image in REGISTRY:
        raise TypeError(
            "predict takes the image first and the model second: predict(image, model)."
        )
    if isinstance(image, str | os.PathLike):
        raise TypeError(
            f"predict takes an image array, not the path {os.fspath(image)!r}: read it with "
            "read_image(path).data, or segment files with segment_files([...], output)."
        )
    check_flags(tta=tta, return_probabilities=return_probabilities,
                return_uncertainty=return_uncertainty, fill_holes=fill_holes,
                invert=invert, class_probabilities=class_probabilities)  # fmt: skip
    if class_probabilities and not return_probabilities:  # (else nothing would say why)
        raise ValueError("class_probabilities=True needs return_probabilities=True.")
    class_probabilities = bool(class_probabilities)  # None and numpy's bools (a bash)
    if image is None:  # ("The image has data of type object")
        raise TypeError("The image is None: give an array.")
    bundle = load_model(model)
    invert = bundle.invert if invert is None else bool(invert)
    image = plain_array(image)
    if not hasattr(image, "shape"):  # nested lists
        try:
            image = np.asarray(image)
        except ValueError:  # numpy's "inhomogeneous shape after 1 dimensions" (API bash)
            raise ValueError(
                "The image is a list of arrays of different shapes: give one array (call "
                "predict once for each image)."
            ) from None
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
            f"{spatial}" + ("; choose a 2D model (nuclei-2d) for planes." if dims == 3 else ".")
        )
    scale = checked_scale(scale, bundle.spatial_dims)
    channel_axis, colour = rgb_axis(np.shape(image), channel_axis)
    _say_channels_last(np.shape(image), channel_axis, dims)
    _say_leading_channels(np.ndim(image), channel_axis, bundle)
    image, channel_axis, grey = grey_for_model(image, channel_axis, bundle.in_channels)
    image, invert, swapped = swapped_for_model(image, invert, grey)
    _say_colour_guessed(colour, grey)
    say_outside_range(image, bundle.normalization, bundle.name, channel_axis)
    grey = f"{colour} {grey}".strip()
    result = yield from predict_framed(
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
        class_probabilities=class_probabilities,
        return_uncertainty=return_uncertainty,
        out=out,
        channel_axis=channel_axis,
        blend=blend,
        time_axis=image_axis(time_axis, np.ndim(image), channel_axis, bundle.spatial_dims),
    )
    say_dark_objects(result.stats.get("object_size"), invert)
    if invert:
        _frame_of_the_users_image(result.stats.get("frame"), image.dtype)
    # what was done to the input before prediction: grey from colour, a frame left out
    frame = (result.stats.get("frame") or {}).get("message")
    said = " ".join(filter(None, [grey, swapped, frame]))
    if said:
        result.stats["input"] = said
    return result


def _frame_of_the_users_image(frame: dict[str, Any] | None, dtype: Any) -> None:
    """A frame found on the image with dark and bright swapped, said in the user's own
    values: the swap undone (it is its own inverse), not 65535 or -0 for a frame of 0
    (review)."""
    if not frame:
        return
    frame["value"] = unswapped(frame["value"], dtype)
    frame["message"] = frame_message(frame["value"], frame["widths"])


def _say_channels_last(shape: tuple[int, ...], channel_axis: int | None, dims: int) -> None:
    """Warn where the last axis is a few pixels beside a long one, past the model's
    spatial axes: a (Y, X, 2) image of two channels was segmented as 128 planes of
    128 x 2 pixels without a word (API bug bash)."""
    if channel_axis is None and len(shape) > dims and 1 < shape[-1] <= 8 and shape[-2] >= 32:
        planes = " x ".join(map(str, shape[-dims:]))
        warnings.warn(
            f"The image's last axis has {shape[-1]} pixels, so it is segmented as "
            f"{dims}D images of {planes} pixels; if that axis holds channels, give "
            "channel_axis=-1 (and channel=N for a one-channel model).",
            UserWarning,
            stacklevel=user_level(),
        )


def _say_colour_guessed(colour: str, grey: str) -> None:
    """Warn where a last axis of 4 values, given without ``channel_axis``, was read as
    RGBA colour and made grey for a one-channel model, its fourth left out: four
    channels with the nuclei in the last were taken as RGBA, the "alpha" left out, and
    every pixel labelled background without a word (API bash)."""
    if "last axis (4 values)" not in colour or not grey:
        return  # (a photo's RGB read as RGB warned at every call; review)
    warnings.warn(
        f"{colour} {grey} If that axis holds channels, give channel_axis=-1 and channel=N "
        "(the nuclear stain's).",
        UserWarning,
        stacklevel=user_level(),
    )


def _say_leading_channels(ndim: int, channel_axis: int | None, bundle: ModelBundle) -> None:
    """Warn where a five-axis image without ``channel_axis`` goes to a one-channel model:
    OME's order is T, C, Z, Y, X, and each channel was segmented as an image of its own,
    the other stain's included, without a word (5D bug bash; the CLI reads the file's
    axes and refuses)."""
    if channel_axis is not None or ndim < 5 or bundle.in_channels != 1:
        return
    lead = [str(axis) for axis in range(ndim - bundle.spatial_dims)]
    named = ", ".join(lead[:-1]) + f" and {lead[-1]}"
    warnings.warn(
        f"The image has {ndim} axes, so axes {named} are each gone through and every "
        f"{bundle.spatial_dims}D image is segmented on its own; if one of them holds "
        "channels (OME's order is T, C, Z, Y, X), give channel_axis and channel=N to "
        "segment only the nuclear stain.",
        UserWarning,
        stacklevel=user_level(),
    )


@arguments_of(predict_iter)
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
        Also return the float32 foreground probability map (1 - p(background)): the
        network's, before holes are filled (``fill_holes`` changes the labels only).
    class_probabilities : bool
        With ``return_probabilities``: one map per label value instead, class axis first
        (``(n_labels, *labels.shape)``; map 0 is the background's, map k class k's; a
        binary model gives two), e.g. for a several-class model whose classes' own
        probabilities matter (the foreground map cannot tell two object classes apart).
    out : array-like, optional
        Where to write the labels (numpy, memmap, zarr); allocated when omitted. With
        :func:`predict_iter` it is complete when the generator returns: closed earlier,
        even after the last tile's record, holes are not filled yet, and labels resampled
        for the object size not written back.
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
        Fill holes inside predicted objects (default: the model's setting): holes
        up to four times the area of an object of the object size, plane by plane
        (any hole when the object size is off).
    time_axis : int, optional
        The labels' axis of time points (the image's without its channel axis): the
        object size is measured on the middle time point, not across time (nuclei that
        move between frames measured a fifth of their size).
    invert : bool, optional
        Swap dark and bright first (:func:`napari_unetseg.core.normalize.inverted`), for
        dark objects on a bright background and a model of bright ones (the shipped
        nuclei models): a grey brightfield or phase image of nuclei. Default: the
        model's setting (True for a model trained with ``invert``, else False). With
        auto object size, ``result.stats["object_size"]["message"]`` suggests it where
        the image shows dark objects only.

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
    if options.pop("split_touching", False):  # (a bare "unexpected keyword argument")
        raise TypeError(
            "predict gives class labels; for one label per object use "
            "segment(image, model, split_touching=True)."
        )
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


#: Voxels of labels that the model's own split setting (``split_touching=None``) still
#: splits in memory: the split takes about 110 bytes a voxel more (7 GB and 74 s on 2
#: cores at this size; 8 bytes a pixel without it; split bash). Larger results are left
#: unsplit, and said: ``split_touching=True`` splits them anyway, and block runs (an
#: OME-Zarr output) split in bounded memory.
SPLIT_AUTO_VOXELS = 2**26


@arguments_of(predict_iter)
def segment_iter(
    image: Any,
    model: ModelLike,
    *,
    split_touching: bool | None = None,
    scale: Any = None,
    time_axis: int | None = None,
    **options: Any,
) -> Generator[TileProgress, None, PredictionResult]:
    """:func:`predict_iter`, then (``split_touching``) touching objects split apart.

    The one chain of prediction and :func:`napari_unetseg.postprocess.split_stack` that
    the CLI (``unetseg predict``) and the Segment widget both run: the result's labels
    are instance labels (one id per object, unique across planes and volumes) when
    touching objects are split. ``split_touching`` None (default): as the model says
    (``ModelBundle.split_touching``: yes for the shipped nuclei models), for results of
    up to :data:`SPLIT_AUTO_VOXELS` voxels written to no ``out``; what was done is
    ``result.stats["split_touching"]``. ``scale`` (the pixel size per axis) serves both
    the object-size step and the split's distances; ``time_axis`` (the labels' axis of
    time points) keeps the split inside each time point; ``options`` are
    :func:`predict_iter`'s other keyword arguments.
    """
    bundle = load_model(model)
    result = yield from predict_iter(image, bundle, scale=scale, time_axis=time_axis, **options)
    split, note = _split_choice(split_touching, bundle, np.shape(result.labels), options)
    stats = {**result.stats, "split_touching": split}
    if split:
        from .postprocess import split_stack

        # a flipped axis (napari's negative scale) is as long, as in checked_scale
        sampling = None if scale is None else tuple(abs(float(s)) for s in scale)
        labels = split_stack(np.asarray(result.labels), sampling, bundle.spatial_dims, time_axis)
        if bundle.n_classes > 2:  # several object classes: the ids do not say which
            note = (
                f"The {bundle.n_classes - 1} classes' objects were split and numbered "
                "together: the labels are object ids, which do not say each object's "
                "class (segment without splitting for the classes)."
            )
        result = dataclasses.replace(result, labels=labels)
    if note:
        stats["split"] = {"message": note}
    return dataclasses.replace(result, stats=stats)


def _split_choice(
    asked: bool | None, bundle: ModelBundle, shape: tuple[int, ...], options: dict[str, Any]
) -> tuple[bool, str]:
    """Whether to split touching objects, and a sentence where the model's setting was
    not followed: ``asked`` as it is, else the model's, for results in memory of at most
    :data:`SPLIT_AUTO_VOXELS` voxels."""
    if asked is not None:
        return bool(asked), ""
    if not bundle.split_touching or options.get("out") is not None:
        return False, ""
    voxels = int(np.prod(shape, dtype=np.int64))
    if voxels <= SPLIT_AUTO_VOXELS:
        return True, ""
    return False, (
        f"Touching objects were not split: {voxels:,} voxels are more than the "
        f"{SPLIT_AUTO_VOXELS:,} split in memory by default (about 110 bytes a voxel): "
        "ask for it (split_touching=True, --split-touching, the Segment widget's tick "
        "clicked), or write an OME-Zarr, whose blocks are split in bounded memory."
    )


@arguments_of(segment_iter)
def segment(
    image: Any,
    model: ModelLike,
    *,
    split_touching: bool | None = None,
    return_probabilities: bool = False,
    return_uncertainty: bool = False,
    **options: Any,
) -> Any:
    """Segment an image: :func:`predict`'s labels, instance labels where touching objects
    are split (``split_touching``; None: as the model says, see :func:`segment_iter`).

    Takes :func:`predict`'s keyword arguments and returns what it returns: the labels,
    or ``(labels, probabilities[, uncertainty])`` when asked for (they were computed and
    dropped). With ``split_touching`` and ``out``, the object ids are written into
    ``out`` (one sentence when its type cannot hold them; its plain labels were left
    there and the objects returned in another array).
    """
    out = options.get("out")
    kind = getattr(out, "dtype", None)  # (not an array: predict's own sentence)
    if split_touching and kind is not None and np.dtype(kind).kind not in "iu":
        raise ValueError(
            f"out ({np.dtype(kind)}) cannot hold the object ids split_touching makes: "
            "give an out of integers (uint16, int32) or none."
        )
    result = drain(
        segment_iter(
            image,
            model,
            split_touching=split_touching,
            return_probabilities=return_probabilities,
            return_uncertainty=return_uncertainty,
            **options,
        )
    )
    labels = result.labels
    if split_touching and out is not None and labels is not out:
        top = int(np.max(labels, initial=0))
        kind = np.dtype(out.dtype)
        if top > np.iinfo(kind).max:
            raise ValueError(
                f"out ({kind}) cannot hold the {top} object ids split_touching made: give an "
                "out of a wider integer type (uint16, int32) or none."
            )
        out[...] = labels
        labels = out
    extra = [result.probabilities] if return_probabilities else []
    if return_uncertainty:
        extra.append(result.uncertainty)
    return (labels, *extra) if extra else labels


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
    class_names: Any = None,
) -> Generator[EvaluationProgress, None, EvaluationResult]:
    """Generator form of :func:`evaluate`: yields ``EvaluationProgress``, returns the result.

    ``return_errors=True`` also computes the error overlay (``result.errors``: 1 false
    positive, 2 false negative, 3 wrong class), in the same pass over the data.
    """
    no_paths("evaluate", ", or score files with `unetseg evaluate`", prediction, ground_truth)
    arguments = dict(locals())  # this function's parameters, passed on as is
    arguments["prediction"] = prediction = plain_array(prediction)
    arguments["ground_truth"] = ground_truth = plain_array(ground_truth)
    dense_objects = objects and mode == "dense"
    guards.check_memory(
        guards.evaluation_bytes(
            math.prod(getattr(prediction, "shape", np.shape(prediction))),
            [dtype_of(prediction).itemsize, dtype_of(ground_truth).itemsize],
            dense_objects,
            return_errors,
        ),
        "Evaluation",
        hint="score voxels only (objects=False, --no-objects) or a smaller region",
    )
    return (yield from _evaluate_iter(**arguments))


@arguments_of(evaluate_iter)
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
        Minimum IoU (inclusive) for a predicted object to match a ground-truth object;
        objects match one to one, the most pairs, then the largest IoU sum.
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
    class_names : list of str or dict, optional
        Names of the classes, shown as "2 (grey matter)" in ``result.table()``,
        ``.to_csv()``, ``.rows()``: a list names ids 0, 1, 2 ... (a model's
        ``class_names``), a dict such as ``{1: "nucleus"}`` the ids it has.

    Returns
    -------
    EvaluationResult
        ``.classes``, ``.summary``, ``.objects``, ``.per_slice_dice``; ``.table()``,
        ``.to_dict()``, ``.to_dataframe()`` (with pandas), ``.to_csv()``; the scores of
        each slice (each time point of a series): ``.slice_rows()``, ``.slices_to_csv()``.

    Raises
    ------
    ValueError
        Shapes differ, labels are not non-negative integers, or an option is invalid.
    """
    return drain(evaluate_iter(prediction, ground_truth, **options))
