"""Prediction at the model's object size, and hole filling.

:func:`predict_sized` wraps :func:`~napari_unetseg.core.inference.predict_tiled`: it finds
the size of the image's objects (measured, given, or not used), resamples the image so
its objects have the size the model was trained for (per axis: a 3D model also gets a
near-isotropic volume from an anisotropic stack), predicts, and brings the result back
to the image grid exactly: same shape, each pixel labelled from the probabilities
interpolated at its position. See ``scale.py`` for what "diameter" means.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Generator
from typing import Any

import numpy as np

from . import guards
from .bundle import ModelBundle
from .holes import fill_holes, largest_hole
from .inference import PredictionResult, TileProgress, predict_tiled
from .inference.predict import check_out_array
from .margins import Frame, find_frame, window
from .normalize import of_resampled, strided_sample
from .scale import (
    MAX_FACTOR,
    NO_BRIGHT_OBJECTS,
    checked_scale,
    estimate_object_size,
    resample,
    resample_strokes,
    scale_factors,
    scaled_shape,
)

#: Resampling holds the image and its resampled copy in memory; above this many voxels
#: (after resampling) prediction runs at the image's own scale instead, and says so.
MAX_RESAMPLED_VOXELS = 2**30
#: The objects' depth reads long by the axial blur, so the measured Z step reads low:
#: on synthetic stacks of Z step 1-4 (88 stacks, 11 kinds, seeds of their own) the median
#: of measured / true step was 0.81.
Z_STEP_CALIBRATION = 1.0 / 0.81
#: A stack without a pixel size whose Z step measures (calibrated) at least this much is
#: taken to have it; below, isotropic as before (isotropic stacks measured 0.80-1.28).
MIN_Z_STEP = 1.5


def check_object_size(value: Any, spatial_shape: tuple[int, ...]) -> float | str | None:
    """Validate an ``object_size`` argument: ``'auto'``, None/``'off'`` or pixels.

    Raises
    ------
    ValueError
        One sentence for a size that is not a positive number or larger than the image.
    """
    if value is None or (isinstance(value, str) and value.lower() in ("off", "none")):
        return None
    if isinstance(value, str):
        if value.lower() == "auto":
            return "auto"
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"object_size must be 'auto', 'off' or a diameter in pixels, got {value!r}."
            ) from None
    if isinstance(value, np.ndarray) and value.ndim == 0:  # np.array(10.0): a number
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"object_size must be 'auto', 'off' or a diameter in pixels, got {value!r}."
        )
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"object_size must be a positive number of pixels, got {value!r}.")
    if value < 1:  # 1e-9 was taken, and said to make "objects of about 0 px" (bug bash)
        raise ValueError(f"object_size must be at least 1 pixel, got {value:g}.")
    if value > max(spatial_shape[-2:]):
        raise ValueError(
            f"object_size {value:g} px is larger than the image ({' x '.join(map(str, spatial_shape))})."
        )
    return value


def choose_factors(
    bundle: ModelBundle,
    image: Any,
    object_size: Any = "auto",
    spacing: Any = None,
    channel_axis: int | None = None,
    time_axis: int | None = None,
    measured_on: str | None = None,
) -> tuple[tuple[float, ...], dict[str, Any]]:
    """Resampling factors (one per spatial axis of the model) and a record of the choice.

    The record has ``image_diameter``, ``model_diameter``, ``factors`` and ``message``
    (one sentence for the status line / stderr); ``dark_objects`` where auto found no
    bright objects: the diameter of the dark ones on a bright background, or None. ``time_axis`` (of ``image``): measured
    on its middle time point (or another, see
    :func:`~napari_unetseg.core.scale.estimate_object_size`). ``measured_on``: words
    naming the part of a bigger image ``image`` is (a block run's crop of one time
    point), said with a measured size in place of the time point.
    """
    layout = bundle.layout(tuple(image.shape), channel_axis)
    sd = bundle.spatial_dims
    size = check_object_size(object_size, layout.spatial_shape)
    ones = (1.0,) * sd
    info: dict[str, Any] = {"image_diameter": None, "model_diameter": None, "factors": ones}
    model = bundle.object_size
    if size is None:
        info["message"] = "Object size: off, predicting at the image's own scale."
        return ones, info
    if model is None:
        info["message"] = (
            f"Object size: model {bundle.name!r} records none, predicting at the image's own scale."
        )
        if size != "auto":  # a size given was dropped with no word of it (bug bash)
            info["message"] += f" The {size:g} px given is not used: there is no size to match."
        return ones, info
    info["model_diameter"] = d_model = float(model["diameter"])
    est = None
    if size == "auto":
        est = estimate_object_size(image, layout.channel_axis, time_axis, spacing)
        if est.diameter is None:
            d_image = d_model
            how = f"auto: {est.reason}, so the model's own size ({d_model:.0f} px) is used"
        else:
            d_image = est.diameter
            on = _one_time_point(image, time_axis, est) if measured_on is None else measured_on
            how = f"auto: {d_image:.1f} px ({est.reason}{'; ' + on if on else ''})"
    else:
        d_image = float(size)
        how = f"{d_image:g} px (given)"
        info["given"] = True
    if est is not None:
        _look_for_dark_objects(est, image, layout.channel_axis, time_axis, spacing, info)
    info["image_diameter"] = d_image
    # auto found no objects (a block run of a series then measures another time point)
    info["auto_failed"] = est is not None and est.diameter is None
    if est is None or est.diameter is None:  # not measured: a hint when the model is unsure
        info["unmeasured"] = (
            f"the object size was given as {d_image:g} px"
            if est is None
            else "the object size could not be measured, so the model's own was used"
        )
    sp = None if spacing is None else tuple(spacing)[-sd:]
    z_note = ""
    if sp is None and sd == 3:
        z = measured_z_step(image, layout.channel_axis, est)
        if z is not None:
            sp = (z, 1.0, 1.0)
            info["z_step"] = z
            z_note = (
                # "no pixel size" was said of files with a Y/X size and no Z step (bug bash)
                " The stack's Z step is not known; its objects span few planes for their "
                f"width, so its Z step is taken as {z:.1f} x the pixel size (a Z step in the "
                "file's pixel size, the napari layer's scale or the API's scale= sets it)."
            )
    elif sd == 3 and est is not None and est.z_step is not None and sp is not None:
        z_note = _z_step_doubt(float(sp[0]) / float(sp[-1]), est.z_step * Z_STEP_CALIBRATION)
    shrink = float(model.get("shrink_exponent", 1.0))
    factors = scale_factors(
        d_image, d_model, sd, spacing=sp, model_spacing=model["spacing"], shrink_exponent=shrink
    )
    info["factors"] = factors
    if all(f == 1.0 for f in factors) and est is not None and est.diameter is None:
        info["message"] = f"Object size {how}: no resampling."  # (the model's size twice)
    elif all(f == 1.0 for f in factors):
        info["message"] = f"Object size {how}; the model's is {d_model:.0f} px, no resampling."
    else:
        fs = " x ".join(f"{f:.2f}" for f in factors)
        partly = ""
        if shrink < 1 and d_image > d_model and factors[-1] < 1:  # (not a Z step alone)
            # The model measured better on large objects shrunk only part of the way
            # ("the model's is 16 px ... shrunk to about 22 px" read as a contradiction)
            partly = (
                " (large objects are shrunk only part of the way, to about "
                f"{d_image * factors[-1]:.0f} px, where the model does better on them)"
            )
        elif d_image * factors[-1] < 0.9 * d_model:  # enlarged by the most it is
            partly = (
                f" (at most {MAX_FACTOR:g} x: its objects become about "
                f"{d_image * factors[-1]:.0f} px, smaller than the model's)"
            )
        # (not measured: "the model's own size" was said; review)
        # ("... the model's own size (16 px) is used: so the image is resampled"; bash)
        unmeasured = est is not None and est.diameter is None
        theirs = (
            "; the image is"
            if unmeasured
            else f"; the model's is {d_model:.0f} px, so the image is"
        )
        info["message"] = f"Object size {how}{theirs} resampled by {fs}{partly}."
    advice = _one_large_object(bundle, est, layout.spatial_shape)
    if advice:  # (also on its own: the widget shows it with the result; medical bash)
        info["advice"] = advice.strip()
    info["message"] += z_note + advice
    return factors, info


#: One object at least this share of the image's smaller side across, and this many
#: times the model's object size, is no nucleus (the brain templates: 4.6-9.4 x).
LARGE_OBJECT_SHARE = 0.5
LARGE_OBJECT_MODELS = 3.0


def _one_large_object(bundle: ModelBundle, est: Any, spatial: tuple[int, ...]) -> str:
    """A sentence where a nuclei model measured one object half the image across: a
    tissue section or an organ, which a nuclei model segments badly and sure of itself
    (a brain slice: Dice 0.60, 97 % sure, no word; advice audit); else ""."""
    if est is None or est.diameter is None or est.n_objects != 1:
        return ""
    if "nucleus" not in bundle.class_names or est.diameter < LARGE_OBJECT_SHARE * min(
        spatial[-2:]
    ):
        return ""
    if est.diameter < LARGE_OBJECT_MODELS * float(bundle.object_size["diameter"]):
        return ""  # (a crop around one nucleus, 25 px in 49 x 41; review)
    return " " + ONE_OBJECT_ADVICE


#: What :func:`_one_large_object` says (``info["advice"]``, also in block runs' stats).
ONE_OBJECT_ADVICE = (
    "The image shows one object half its width or more across: if it is no nucleus (a "
    "tissue section, an organ), a nuclei model does not fit it; train a new model on a "
    "few strokes of its parts (Fine-tune, New model)."
)


#: Dark objects are looked for where no bright ones were found, or where less than this
#: share of the bright ones' area is in compact objects and they cover at least half of
#: the image (a bright background); then they are said where at least this share of
#: theirs is compact.
COMPACT_SHARE = 0.5


def _look_for_dark_objects(
    est: Any, image: Any, ca: int | None, t: int | None, spacing: Any, info: dict[str, Any]
) -> None:
    """``info["dark_objects"]``: the diameter of the dark objects on a bright background
    (said by :func:`say_dark_objects`) where auto found no bright objects, or only a web
    of them covering most of the image while the dark ones are compact (the bright
    background between dense dark nuclei was measured as one 28 px object, with no word:
    review); else nothing. A web of bright outlines (a membrane stain) covers little of
    the image, and is no bright background (second review)."""
    web = est.diameter is not None and est.compact < COMPACT_SHARE and (est.cover or 0.0) >= 0.5
    if not (web or est.reason == NO_BRIGHT_OBJECTS):
        return
    dark = est.dark_estimate or estimate_object_size(
        image, ca, t, spacing, dark=True, planes=est.planes
    )
    if dark.diameter is not None and (not web or dark.compact >= COMPACT_SHARE):
        info["dark_objects"] = dark.diameter


def _one_time_point(image: Any, time_axis: int | None, est: Any) -> str:
    """Which time point of a series the size was measured on, for every one of them
    (the message did not say it was one: time series bug bash), and why not the middle
    one when another was measured."""
    n = 1 if time_axis is None else int(image.shape[time_axis])
    if n < 2:
        return ""
    t = n // 2 if est.time_point is None else est.time_point
    why = "" if t == n // 2 else f" (time point {n // 2}, the middle one, shows none)"
    return f"measured on time point {t} of 0-{n - 1}{why}, used for all"


def _size_hint(confidence: dict[str, Any] | None, info: dict[str, Any]) -> None:
    """An unsure model's hint names the object size first when it was not measured: a
    size far from the objects' makes a model unsure, and the hint spoke of fine-tuning
    only; the polarity before the size where dark objects were found, where fine-tuning
    is not the cure (polarity bash)."""
    if not confidence or not confidence.get("message"):
        return
    if info.get("dark_objects"):
        confidence["message"] += (
            " But first: dark and bright may be the wrong way round for this model (the "
            "object size line says why)."
        )
        return
    if not info.get("unmeasured"):
        return
    confidence["message"] += (
        f" But first: {info['unmeasured']}; if the objects are not about "
        f"{info['image_diameter']:g} px across"
        + (f" (auto measures {info['measured']:.1f} px)" if info.get("measured") else "")
        + ", give their size"
        + (" (or auto)" if info.get("given") else "")  # (not after an auto run; audit)
        + " and run again."
    )


#: How :func:`say_dark_objects` names them (block runs' results carry it in a sentence).
DARK_OBJECTS_SAID = "shows dark objects on a bright background"


def say_dark_objects(size: dict[str, Any] | None, invert: bool) -> None:
    """Add to the object size's sentence where auto found no bright objects but dark ones
    on a bright background: a model of bright objects then marks the background, with
    confidence and no other word (object-size bug bash: dark nuclei, Dice 0.03)."""
    dark = (size or {}).get("dark_objects")
    if not dark:
        return
    box = '"Dark objects on a bright background"'
    if invert:  # (leaving the option out keeps a model's own setting: review)
        size["message"] += (
            f" Inverted, the image {DARK_OBJECTS_SAID} (about "
            f"{dark:.0f} px across) and the model finds bright ones, so its labels may be "
            "the background: if the image's objects are bright, segment without invert "
            f"(untick {box}, --no-invert, invert=False)."
        )
        return
    size["message"] += (
        f" The image {DARK_OBJECTS_SAID} (about {dark:.0f} px "
        "across) and the model finds bright ones, so its labels may be the background: if "
        f"the dark ones are the objects, segment with invert ({box}, --invert, invert=True)."
    )


#: A Z step given this many times larger or smaller than the objects' depth suggests is
#: said (a confocal stack's axial blur lengthens its objects: up to about 3 times).
Z_STEP_DOUBT = 4.0


def _z_step_doubt(given: float, measured: float) -> str:
    """A note when the Z step given (in X pixels) is far from the objects' depth's: a
    stack given 0.029 µm for 0.29 µm was resampled to 2 planes without a word (Dice 0.93
    -> 0.78; robustness bash)."""
    if measured <= 0 or 1.0 / Z_STEP_DOUBT <= given / measured <= Z_STEP_DOUBT:
        return ""
    return (
        f" Its Z step is given as {given:.3g} x the pixel size, but its objects' depth "
        f"suggests about {measured:.1f} x: check the stack's Z step (the file's pixel size, "
        "the napari layer's scale or the API's scale=)."
    )


def measured_z_step(image: Any, channel_axis: int | None = None, est: Any = None) -> float | None:
    """The Z step (in X pixels) of a stack without a pixel size, measured from its objects'
    depth (:func:`~.scale.z_step_of_mask`, times :data:`Z_STEP_CALIBRATION`), or None when
    it measures below :data:`MIN_Z_STEP` (isotropic) or cannot be measured. ``est``: the image's
    :class:`~.scale.SizeEstimate` when already made."""
    if est is None:
        est = estimate_object_size(image, channel_axis=channel_axis)
    if est.z_step is None:
        return None
    z = float(est.z_step) * Z_STEP_CALIBRATION
    return z if z >= MIN_Z_STEP else None


#: An enlargement to this many times the image's pixels is warned about when it starts.
MUCH_LARGER = 8.0


def _warn_if_much_larger(ratio: float, info: dict[str, Any]) -> None:
    """Warn, before the network runs, when small objects make it see many times the
    image's pixels: an 8000 x 8000 image with 2-pixel objects became 32000 x 32000 (about
    6 hours on a laptop CPU) with nothing said until it ended (object-size bug bash)."""
    if ratio < MUCH_LARGER:
        return
    warnings.warn(
        f"Objects of {info['image_diameter']:.1f} px are enlarged for the model (of "
        f"{info['model_diameter']:g} px objects): the network sees {ratio:.0f} times the image's "
        "pixels and takes about that much longer (give a larger object size, or off, to "
        "predict at the image's own scale).",
        UserWarning,
        stacklevel=2,
    )


def predict_sized(
    bundle: ModelBundle,
    image: Any,
    *,
    object_size: Any = "auto",
    spacing: Any = None,
    fill: bool | None = None,
    out: Any = None,
    return_probabilities: bool = False,
    return_uncertainty: bool = False,
    channel_axis: int | None = None,
    probabilities_out: Any = None,
    time_axis: int | None = None,
    class_probabilities: bool = False,
    **tiled: Any,
) -> Generator[TileProgress, None, PredictionResult]:
    """Predict at the model's object size; a generator like ``predict_tiled``.

    Parameters
    ----------
    bundle : ModelBundle
        The model (its ``object_size`` is the target; None: no resampling).
    image : array-like
        As for ``predict_tiled``.
    object_size : 'auto', float or None
        The image's object diameter in X pixels, ``'auto'`` to measure it, None/'off'
        to predict at the image's scale.
    spacing : sequence of float, optional
        The image's pixel size per axis (the last ones are the spatial axes); only the
        ratios matter. Unknown: isotropic.
    fill : bool, optional
        Fill holes inside objects (default: the model's ``fill_holes`` setting).
    out, return_probabilities, return_uncertainty, channel_axis, probabilities_out, **tiled
        Passed on to ``predict_tiled``, ``class_probabilities`` too (a resampled
        prediction writes its maps into the outputs once back on the image grid).
    time_axis : int, optional
        The image's axis of time points: the object size is measured on its middle one,
        and each time point is normalized with its own statistics.

    Returns
    -------
    PredictionResult
        With ``stats["object_size"]`` holding the choice (see :func:`choose_factors`),
        ``stats["seconds"]`` the whole call's wall time (measuring, resampling, hole
        filling included) and ``stats["network_seconds"]`` the tiled prediction's;
        ``stats["voxels"]`` the image's voxels, ``stats["network_voxels"]`` those of the
        grid the network predicted (resampled).
    """
    started = time.perf_counter()
    factors, info = choose_factors(bundle, image, object_size, spacing, channel_axis, time_axis)
    layout = bundle.layout(tuple(image.shape), channel_axis)
    _check_outputs(bundle, layout, out, probabilities_out, class_probabilities)
    fill = bundle.fill_holes if fill is None else bool(fill)
    resampled = not all(f == 1.0 for f in factors)
    if resampled:
        spatial = layout.spatial_shape
        new_spatial = scaled_shape(spatial, factors)
        lead = layout.output_shape[: len(layout.output_shape) - len(spatial)]
        n_new = math.prod(lead) * math.prod(new_spatial)
        too_many = n_new > MAX_RESAMPLED_VOXELS
        free = guards.available_memory()
        # the image in float32 (twice, anti-aliased), the resampled image, its maps and
        # those brought back (memory bug bash: numpy's "Unable to allocate 1.00 GiB")
        n_old = math.prod(layout.output_shape)
        maps = bundle.n_labels if return_probabilities and class_probabilities else 1
        needed = 4 * layout.n_channels * (2 * n_old + n_new) + 4 * maps * (n_new + n_old)
        if too_many or (free is not None and needed > free):
            why = (
                f"would hold {n_new:,} voxels, too many"
                if too_many
                else f"would need about {guards.fmt_bytes(needed)} of memory, more than the "
                f"{guards.fmt_bytes(free)} free"
            )
            info["message"] += (
                f" The resampled image {why}: predicting at the image's own scale instead."
            )
            info["factors"] = (1.0,) * len(factors)
            resampled = False
    if resampled:
        _warn_if_much_larger(math.prod(new_spatial) / math.prod(layout.spatial_shape), info)
        result = yield from _predict_resampled(
            bundle,
            image,
            layout,
            new_spatial,
            out=out,
            return_probabilities=return_probabilities,
            return_uncertainty=return_uncertainty,
            probabilities_out=probabilities_out,
            class_probabilities=class_probabilities,
            tiled={**tiled, "time_axis": time_axis},
        )
    else:
        result = yield from predict_tiled(
            bundle,
            image,
            out=out,
            return_probabilities=return_probabilities,
            return_uncertainty=return_uncertainty,
            channel_axis=channel_axis,
            probabilities_out=probabilities_out,
            time_axis=time_axis,
            class_probabilities=class_probabilities,
            **tiled,
        )
    if fill:
        labels, largest = result.labels, largest_hole(info["image_diameter"])
        if isinstance(labels, np.ndarray):
            fill_holes(labels, largest)
        else:  # zarr / memmap-like outputs: fill a copy, write it back
            filled = fill_holes(np.asarray(labels[...]), largest)
            labels[...] = filled
    result.stats["object_size"] = info
    result.stats["fill_holes"] = fill
    result.stats["network_seconds"] = result.stats.get("seconds")
    result.stats["seconds"] = time.perf_counter() - started
    # the image's own voxels (the network saw the resampled grid's: network_voxels)
    result.stats["network_voxels"] = result.stats.get("voxels")
    result.stats["voxels"] = math.prod(result.labels.shape)
    return result


def _check_outputs(
    bundle: ModelBundle, layout: Any, out: Any, maps_out: Any, class_maps: bool
) -> None:
    """The output arrays given, checked before any work: a probability map of the wrong
    shape failed with numpy's "could not broadcast" after a resampled prediction
    (review)."""
    full = tuple(layout.output_shape)
    check_out_array("out", out, full, bundle.n_labels - 1)
    check_out_array("probabilities_out", maps_out, (bundle.n_labels,) * bool(class_maps) + full)


def predict_framed(
    bundle: ModelBundle,
    image: Any,
    *,
    out: Any = None,
    probabilities_out: Any = None,
    channel_axis: int | None = None,
    **options: Any,
) -> Generator[TileProgress, None, PredictionResult]:
    """:func:`predict_sized` on the part of ``image`` inside a frame of one value
    (:mod:`napari_unetseg.core.margins`), the frame labelled background (probability and
    uncertainty 0); the whole image where it has no frame. ``stats["frame"]`` says what
    was left out."""
    layout = bundle.layout(tuple(image.shape), channel_axis)
    frame = find_frame(image, layout.spatial_axes, layout.channel_axis)
    every = bool(options.get("return_probabilities") and options.get("class_probabilities"))
    if frame is None:
        result = yield from predict_sized(
            bundle,
            image,
            out=out,
            probabilities_out=probabilities_out,
            channel_axis=channel_axis,
            **options,
        )
        _unfinite_as_background(result, image, layout.channel_axis, every)
        _advise(result, image, layout.channel_axis, options)
        return result
    full = tuple(layout.output_shape)
    maps_shape = (bundle.n_labels, *full) if every else full
    # checked here: the inside's shape would be named in the sentence otherwise
    _check_outputs(bundle, layout, out, probabilities_out, every)
    lead = (slice(None),) if every else ()  # the class axis of the maps
    inner = window(image, frame.inner)
    _check_size_inside(options.get("object_size", "auto"), layout, bundle, inner, channel_axis)
    result = yield from predict_sized(
        bundle,
        inner,
        out=None if out is None else window(out, frame.out_inner),
        probabilities_out=None
        if probabilities_out is None
        else window(probabilities_out, lead + tuple(frame.out_inner)),
        channel_axis=channel_axis,
        **options,
    )
    result.labels = _framed(result.labels, out, frame, full)
    result.probabilities = _framed(
        result.probabilities, probabilities_out, frame, maps_shape, lead
    )
    if every and result.probabilities is not None:
        for index in frame.margins(full):  # the frame is background: its map is 1 there
            result.probabilities[(0, *index)] = 1.0
    result.uncertainty = _framed(result.uncertainty, None, frame, full)
    result.stats["frame"] = {
        "value": frame.value,
        "widths": [list(w) for w in frame.widths],
        "message": frame.message(),
    }
    result.stats["voxels"] = math.prod(full)
    _unfinite_as_background(result, image, layout.channel_axis, every)
    _advise(result, inner, layout.channel_axis, options)
    return result


def _advise(result: PredictionResult, image: Any, ca: int | None, options: dict) -> None:
    """The unsure model's hint (:func:`_size_hint`) for a whole-image run: at a size
    given, the image is measured first, for dark objects as auto looks for them (a dark
    stack at its true size was told to give the size it had; advice audit) and for the
    size auto would take. (Not in block runs' workers, whose messages nobody reads.)"""
    info, confidence = result.stats["object_size"], result.stats.get("confidence")
    if info.get("given") and (confidence or {}).get("message"):
        t, spacing = options.get("time_axis"), options.get("spacing")
        est = estimate_object_size(image, ca, t, spacing)
        if est.diameter is not None:
            info["measured"] = est.diameter
        _look_for_dark_objects(est, image, ca, t, spacing, info)
    _size_hint(confidence, info)


def _check_size_inside(
    size: Any, layout: Any, bundle: ModelBundle, inner: Any, channel_axis: int | None
) -> None:
    """Refuse an object size larger than the part inside a frame, naming the frame: "larger
    than the image (64 x 64)" was said of a 256 x 256 image (object-size bug bash)."""
    size = check_object_size(size, layout.spatial_shape)  # the whole image's limit first
    shape = bundle.layout(tuple(inner.shape), channel_axis).spatial_shape
    if isinstance(size, float) and size > max(shape[-2:]):
        raise ValueError(
            f"object_size {size:g} px is larger than the part of the image inside its frame "
            f"of one value ({' x '.join(map(str, shape))}), the part segmented."
        )


#: Values read at once by :func:`_unfinite_as_background`.
_UNFINITE_CHUNK = 1 << 22


def _unfinite_as_background(
    result: PredictionResult, image: Any, ca: int | None, every: bool = False
) -> None:
    """Labels and maps 0 where the image is NaN or infinite (in any channel), as the
    warning says: the normalization fills such pixels from their nearest finite ones
    (:func:`~napari_unetseg.core.normalize.fill_nearest`), which carried an object that
    touches them into them. Images whose sample holds no such value are not read again;
    one whose sample does (the normalization warned) is read again a band at a time, a
    lazily read one (zarr, dask) too: its NaN pixels kept their nearest pixels' labels,
    against the warning's "treated as background". With ``every`` (one map per label
    value, class axis first) the background's map is 1 there, the others' 0."""
    if np.dtype(image.dtype).kind != "f":
        return
    if np.isfinite(strided_sample(image)).all():
        return
    outputs = [
        (a, every and a is result.probabilities)
        for a in (result.labels, result.probabilities, result.uncertainty)
        if a is not None
    ]
    axis = 1 if ca == 0 else 0  # the image's axis of the outputs' first
    rows = max(1, _UNFINITE_CHUNK // max(1, math.prod(image.shape) // image.shape[axis]))
    for r0 in range(0, image.shape[axis], rows):
        index = (slice(None),) * axis + (slice(r0, r0 + rows),)
        bad = ~np.isfinite(np.asarray(image[index]))
        if ca is not None:
            bad = bad.any(axis=ca)
        if not bad.any():
            continue
        for arr, maps in outputs:
            at = (slice(None),) * maps + (slice(r0, r0 + rows),)
            part = np.asarray(arr[at])
            part[(slice(None),) * maps + (bad,)] = 0
            if maps:
                part[0][bad] = 1.0
            arr[at] = part


def _framed(
    inside: Any, target: Any, frame: Frame, full: tuple[int, ...], lead: tuple = ()
) -> Any:
    """The whole image's output: ``target`` (which holds the inside already) with its
    frame set to 0, or a new array of zeros with the inside put in. ``full``: the
    output's shape; ``lead``: the index of axes before the image's (class maps')."""
    if inside is None:
        return None
    if target is None:
        target = np.zeros(full, np.asarray(inside).dtype)
        target[lead + tuple(frame.out_inner)] = inside
        return target
    for index in frame.margins(full[len(lead) :]):
        target[lead + tuple(index)] = 0
    return target


def _predict_resampled(
    bundle: ModelBundle,
    image: Any,
    layout: Any,
    new_spatial: tuple[int, ...],
    *,
    out: Any,
    return_probabilities: bool,
    return_uncertainty: bool,
    tiled: dict[str, Any],
    probabilities_out: Any = None,
    class_probabilities: bool = False,
) -> Generator[TileProgress, None, PredictionResult]:
    """Resample, predict, and bring labels (and maps) back to the image grid; with
    ``class_probabilities`` the map of every label value (class axis first)."""
    src = resample(image, new_spatial, order=1, channel_axis=layout.channel_axis)
    if tiled.get("normalizer") is None:  # its own statistics or the image's (hot pixels)
        axes = (layout.channel_axis, tiled.get("time_axis"))
        chosen = of_resampled(bundle.normalizer(src, *axes), bundle.normalizer(image, *axes))
        tiled = {**tiled, "normalizer": chosen}
    binary = bundle.n_classes <= 2
    small = yield from predict_tiled(
        bundle,
        src,
        return_probabilities=True,
        class_probabilities=not binary,
        return_uncertainty=return_uncertainty,
        channel_axis=layout.channel_axis,
        **tiled,
    )
    del src
    spatial = layout.spatial_shape
    class_maps = return_probabilities and class_probabilities
    if binary:
        prob = resample(small.probabilities, spatial, order=1, antialias=False)
        labels = (prob > 0.5).astype(small.labels.dtype)
        if class_maps:
            prob = np.stack([1.0 - prob, prob])
    else:
        labels, prob = _labels_of_maps(
            small.probabilities, spatial, small.labels.dtype, class_maps
        )
    if out is not None:
        if tuple(out.shape) != tuple(labels.shape):
            raise ValueError(
                f"out has shape {tuple(out.shape)} but the labels need {tuple(labels.shape)}."
            )
        out[...] = labels
        labels = out
    if return_probabilities and probabilities_out is not None:
        probabilities_out[...] = prob
        prob = probabilities_out
    unc = None
    if return_uncertainty and small.uncertainty is not None:
        unc = resample(small.uncertainty, spatial, order=1, antialias=False)
    stats = dict(small.stats)
    stats["resampled_shape"] = tuple(new_spatial)
    return PredictionResult(
        labels=labels,
        probabilities=prob if return_probabilities else None,
        uncertainty=unc,
        stats=stats,
    )


def _labels_of_maps(
    maps: np.ndarray, spatial: tuple[int, ...], dtype: Any, every: bool = False
) -> tuple:
    """Labels on the image grid from class maps on the model's (class axis first): each
    map brought back linearly, the most probable class taken (ties to the lower), and
    the foreground map (1 - background), or with ``every`` all maps brought back. A multi-class model's labels were brought back
    by nearest neighbour, their edges in steps of the small grid (3 px at 0.32 x;
    object-size bug bash); a binary model's come from its map, as these now do."""
    best = resample(maps[0], spatial, order=1, antialias=False)
    kept = np.zeros((maps.shape[0], *best.shape), best.dtype) if every else None
    if every:
        kept[0] = best
    foreground = None if every else 1.0 - best
    labels = np.zeros(best.shape, dtype)  # leading axes (time, planes) kept
    for k in range(1, maps.shape[0]):
        grown = resample(maps[k], spatial, order=1, antialias=False)
        if every:
            kept[k] = grown
        labels[grown > best] = k
        np.maximum(best, grown, out=best)
    return labels, kept if every else foreground


def training_scale(
    model: ModelBundle | None,
    images: Any,
    labels: Any,
    *,
    object_size: Any = "auto",
    scale: Any = None,
    spatial_dims: int | None = None,
    channel_axis: int | None = None,
    label_mode: str = "dense",
    time_axis: int | None = None,
) -> tuple[list[Any], list[Any], tuple[float, ...], dict[str, Any] | None, str]:
    """Bring training data to a model's object size, or measure it for a new model.

    Fine-tuning a model that records an object size: each image is measured (as
    prediction measures it, or ``object_size`` pixels when given) and resampled, with
    its labels (nearest; sparse strokes kept whole, :func:`~.scale.resample_strokes`),
    to the model's grid, so the model keeps its scale. A new model (or one without a recorded size) trains on the images as they are and records
    the size measured on them: the same measurement prediction makes, so the model
    predicts its own training image without resampling. When the images show no
    bright objects, dense labels are measured instead (not scribbles: dots inside objects
    and strokes through the background do not show the objects' size, see
    :func:`size_record`); when neither works, no size is recorded. ``time_axis`` (of
    each image): measured on its middle time point.

    Returns
    -------
    images, labels : lists
        Possibly resampled.
    factors : tuple of float
        The factors applied to the first image (ones when none).
    record : dict or None
        The ``object_size`` the trained model should carry.
    message : str
        One sentence for the user.
    """
    from .scale import size_from_labels
    from .training.labels import as_list, training_dims

    images, labels = as_list(images), as_list(labels)
    sd = training_dims(model, images, spatial_dims, channel_axis)
    size = object_size  # None / 'off': as prediction takes it, the images' own scale
    first_layout = (
        model.layout(tuple(images[0].shape), channel_axis) if model is not None else None
    )
    spatial = (
        first_layout.spatial_shape if first_layout is not None else tuple(images[0].shape)[-sd:]
    )
    size = check_object_size(size, spatial)
    # a size of 0, NaN or too few values is refused here, not when the model is exported
    spacing = None if scale is None else checked_scale(scale, sd)[-sd:]
    ones = (1.0,) * sd
    if model is not None and model.object_size is not None and size is not None:
        out_i, out_l, first = [], [], ones
        for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
            factors, info = choose_factors(model, img, size, spacing, channel_axis, time_axis)
            if i == 0:
                first, message = (
                    factors,
                    info["message"]
                    .replace("resampled", "resampled for training")
                    .replace("predicting at the image's", "training at the image's"),
                )
            if all(f == 1.0 for f in factors):
                out_i.append(img)
                out_l.append(lab)
                continue
            layout = model.layout(tuple(img.shape), channel_axis)
            shape = scaled_shape(layout.spatial_shape, factors)
            out_i.append(resample(img, shape, order=1, channel_axis=layout.channel_axis))
            if label_mode == "sparse":  # strokes: none may fall between samples
                out_l.append(resample_strokes(lab, shape))
            else:
                out_l.append(resample(np.asarray(lab), shape, order=0))
        return out_i, out_l, first, dict(model.object_size), message
    # A new model (or one trained at its images' own scale, off): measure what it is
    # trained on. Fine-tuned at the image's scale, a model that kept its old record
    # resampled its own training image at the next run (object-size bug bash).
    est = None
    if size not in (None, "auto"):
        diameter, how = float(size), "given"
    else:
        est = estimate_object_size(images[0], channel_axis, time_axis, spacing)
        diameter, how = est.diameter, "measured on the training image"
        if diameter is None and label_mode != "sparse":
            lab_est = size_from_labels(labels[0], spacing)
            diameter, how = lab_est.diameter, "measured on the labels"
    record, message = size_record(diameter, how, spacing, sd)
    off = model is not None and model.object_size is not None
    if record is not None and spacing is None and sd == 3 and (size is not None or off):
        # Prediction takes a stack without a pixel size to have the Z step its objects
        # measure; the model learns that stack's grid, so it records that step as its
        # own grid's (and predicts its training stack without resampling Z).
        z = measured_z_step(images[0], channel_axis, est)
        if z is not None:
            record["spacing"] = [z, 1.0, 1.0]
    if off:  # its scale learnt anew; how it shrinks large objects is the network's own
        words = "Object size: off, training at the image's own scale"
        if record is None:
            kept = f"{words}; the model keeps its recorded size (no objects to measure)."
            return images, labels, ones, dict(model.object_size), kept
        return images, labels, ones, {**model.object_size, **record}, f"{words}. {message}"
    return images, labels, ones, record, message


def size_record(
    diameter: float | None, how: str, spacing: Any, spatial_dims: int
) -> tuple[dict[str, Any] | None, str]:
    """The ``object_size`` a new model records, and the sentence that says so.

    ``how`` says where ``diameter`` (X pixels; None: nothing measured) comes from:
    "given", "measured on the training image" or "measured on the labels".
    ``spacing`` is the training image's pixel size per spatial axis, if known.
    """
    if diameter is None:
        return None, (
            "No object size recorded: the image shows no distinct objects (strokes do not "
            "show their size; give the object size to record one)."
        )
    model_spacing = spacing if spacing is not None else [1.0] * spatial_dims
    record = {
        "diameter": float(diameter),
        "spacing": [s / model_spacing[-1] for s in model_spacing],
        "pixel_size": spacing,
        "unit": None,
        "source": how,
    }
    return record, f"Object size {diameter:.1f} px ({how}) is recorded in the model."
