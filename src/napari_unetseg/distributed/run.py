"""One image, block by block, into an OME-Zarr store: here or on a cluster."""

from __future__ import annotations

import math
import numbers
import os
import time
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import _io
from .._api_models import arguments_of
from .._zarr_labels import LabelsStore
from ..batch import PREDICT_OPTIONS, SegmentSettings
from ..core.inference import confidence
from ..core.intensity import say_outside_range
from ..core.progress import drain
from .blocks import _Plan
from .cluster import check_visible
from .records import (
    BlockProgress,
    BlocksResult,
    ClusterError,
    ClusterGone,
    Superseded,
    _result,
    worker_lost,
)
from .stores import _drop_kept, _finish_stores, _open_stores, _put_back
from .worker import _local_dask, _none_copy, _predict_block

#: Default block edge per spatial axis (2D, 3D): a block with its halo is about 40 MB of
#: float32 input in 3D, so a worker needs well under 1 GiB (docs/distributed.md).
DEFAULT_BLOCK = {2: 2048, 3: 512}
#: How many times the model is sent to the workers in a run: again when every copy of it
#: went with its workers (all of them killed at once), then the run ends.
MODEL_SENDS = 3


def _payload(fingerprint: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model as workers get it, under a key that names its weights and its record:
    a model of the same weights with another object size or fill setting was run with
    the record of the first one a worker had built (review: its holes filled otherwise
    than in memory, and with 'auto' a block failed)."""
    import hashlib

    record = repr({k: v for k, v in state.items() if k != "state_dict"}).encode()
    return f"{fingerprint}-{hashlib.sha1(record, usedforsecurity=False).hexdigest()[:12]}", state


def _settings_key(spec: dict[str, Any], plan: _Plan, fingerprint: str) -> dict[str, Any]:
    """What must match for ``resume`` to continue a store (different settings would mix
    two segmentations in one volume)."""
    keys = ("source", "level", "object_size", "tile_size", "overlap", "tta", "fill_holes")
    # Settings added later count only when used (or not the default): stores made before
    # them still resume. Another precision would mix fp32 and bf16 blocks.
    said = ("split_touching", "probabilities", "series", "axes")
    extra = {k: spec[k] for k in said if spec.get(k)}
    if spec.get("precision", "auto") != "auto":
        extra["precision"] = spec["precision"]
    if spec["channel"] is not None:
        extra["channel"] = spec["channel"]
    if spec["invert"]:
        extra["invert"] = True
    # the image's own statistics: another image saved at the same path resumed into a mix
    # of two segmentations (distributed bug bash)
    extra["intensities"] = [[float(f"{v:.6g}") for v in part] for part in spec["normalizer"][:2]]
    if spec["normalizer"][2] is not None:  # (blocks before it was carried were not clipped:
        extra["clip"] = spec["normalizer"][2]  # a resumed run mixed the two; review)
    if spec.get("time_normalizers"):  # each time point's own
        extra["time_intensities"] = [
            [[float(f"{v:.6g}") for v in part] for part in frame[:2]]
            for frame in spec["time_normalizers"]
        ]
    if plan.inside is not None:  # what the blocks predict (the tiles start there)
        extra["inside"] = [list(b) for b in plan.inside]
    return {
        **{k: spec[k] for k in keys},
        **extra,
        "model": fingerprint,
        "block": list(plan.block),
        "halo": None if plan.starts is not None else list(plan.halo),
        "shape": list(plan.out_shape),
    }


def _normalizers(
    img: Any, bundle: Any, layout: Any, plan: _Plan
) -> tuple[Any, list[Any] | None, int | None]:
    """The whole image's statistics (:func:`_normalizer_from`), and for a time series
    each time point's with the time axis's place among the leading axes (each time
    point normalized as an image of its own, as a whole-image run of a series does:
    :class:`~napari_unetseg.core.normalize.TimeNormalizers`); None, None otherwise."""
    from .._units import time_axis

    t = time_axis(img.axes) if img.axes and len(img.axes) == len(img.data.shape) else None
    if t is None or t not in layout.leading_axes:
        return _normalizer_from(img, bundle, layout, plan), None, None
    series = _normalizer_from(img, bundle, layout, plan, time_axis=t)  # the whole's too
    frames = [n.statistics() for n in series.normalizers]
    return series.whole, frames, series.position


def _sampled_level(img: Any) -> Any:
    """The image's pixels to take statistics from: a coarser pyramid level of a very
    large one (a strided sample of level 0 reads every chunk of it)."""
    from ..core.normalize import MAX_STAT_SAMPLES

    levels = getattr(img, "levels", ()) or (img.data,)
    data = img.data
    for coarser in levels[getattr(img, "level", 0) + 1 :]:
        if math.prod(data.shape) <= 64 * MAX_STAT_SAMPLES:
            break
        data = coarser
    return data


def _normalizer_from(
    img: Any, bundle: Any, layout: Any, plan: _Plan, time_axis: int | None = None
) -> Any:
    """Statistics of the whole image, or of the inside of its frame (a coarser pyramid
    level of a very large one: the percentiles barely move, and level 0 would be read
    whole); with ``time_axis``, each time point's (a ``TimeNormalizers``)."""
    from ..core.margins import window
    from ..core.normalize import Normalizer, TimeNormalizers

    data = _sampled_level(img)
    lay = bundle.layout(tuple(data.shape), layout.channel_axis)
    if plan.inside is not None:  # the frame's value would move the low percentile
        index = [slice(None)] * len(data.shape)
        for axis, (lo, hi), full, here in zip(
            lay.spatial_axes, plan.inside, layout.spatial_shape, lay.spatial_shape
        ):  # on a coarser level: the inside's pixels there, rounded inwards
            a, e = math.ceil(lo * here / full), math.floor(hi * here / full)
            index[axis] = slice(a, max(e, a + 1))
        data = window(data, tuple(index))
        lay = bundle.layout(tuple(data.shape), layout.channel_axis)
    if time_axis is None:
        return Normalizer.from_image(data, lay, bundle.normalization)
    one = tuple(1 if a == time_axis else n for a, n in enumerate(data.shape))
    frame = bundle.layout(one, layout.channel_axis)
    return TimeNormalizers.from_series(data, lay, frame, time_axis, bundle.normalization)


def _central_crop(bounds: Any) -> tuple[slice, ...]:
    """The central part of ``bounds`` (per spatial axis) that the object size is measured
    on: the whole of them up to :data:`~napari_unetseg.core.scale.MAX_ESTIMATE_VOXELS`,
    as a whole-image run measures (unstrided), else the centre with one edge on the axes
    longer than it. A fixed 160-voxel cube measured 4 nuclei of a 24 x 256 x 256 stack
    where a whole-image run measured 70, and the labels differed (Dice 0.967)."""
    from ..core.scale import MAX_ESTIMATE_VOXELS

    extents = [hi - lo for lo, hi in bounds]
    edge = max(extents)
    while edge > 1 and math.prod(min(e, edge) for e in extents) > MAX_ESTIMATE_VOXELS:
        edge = int(edge * 0.95)
    return tuple(
        slice(lo + (e - min(e, edge)) // 2, lo + (e - min(e, edge)) // 2 + min(e, edge))
        for (lo, _hi), e in zip(bounds, extents)
    )


def _object_size(
    bundle: Any, img: Any, layout: Any, value: Any, bounds: Any, invert: bool = False
) -> tuple[Any, str, tuple[float, ...] | None, dict[str, Any]]:
    """The object size for every block, what was said about it, the pixel size the
    blocks use, and the measure's flags (``advice``: one object half the image across;
    ``dark_objects``): measured once on a central crop of ``bounds`` (per spatial axis:
    the inside of a frame; the size for 'auto'; the Z step of a 3D stack without a pixel
    size, see ``core.sizing.measured_z_step``)."""
    from .._units import known_spacing
    from ..core.sizing import check_object_size, choose_factors, say_dark_objects

    flat = img.without_channels()
    spacing = known_spacing(flat.scale, flat.units, flat.axes)
    size = check_object_size(value, layout.spatial_shape)
    sd = bundle.spatial_dims
    measure_z = spacing is None and sd == 3 and size is not None
    if bundle.object_size is None or (size != "auto" and not measure_z):
        return size, "", spacing, {}
    spatial = _central_crop(bounds)
    ca = 0 if layout.channel_axis is not None else None
    for lead, on in _leads_to_measure(img, layout):
        crop = np.asarray(img.data[layout.index(lead, spatial)])
        if ca is not None:
            crop = layout.to_channels_first(crop)
        _, info = choose_factors(bundle, crop, size, spacing, ca, measured_on=on)
        if not info.get("auto_failed"):  # (read from its sentence before)
            break
        if info.get("dark_objects"):  # dark objects: the middle one's answer (review)
            break
    say_dark_objects(info, invert)  # as a whole-image run says it
    if info.get("z_step") is not None:
        spacing = (info["z_step"], 1.0, 1.0)
    message = info["message"]
    # what the widget shows beside the message (it read them from the sentence; review)
    flags = {k: info[k] for k in ("advice", "dark_objects") if info.get(k)}
    if any(c != slice(lo, hi) for c, (lo, hi) in zip(spatial, bounds)):
        message = message.replace("auto:", "auto (a central crop):", 1)
    if info["image_diameter"] > max(layout.spatial_shape[-2:]):
        # only the model's own size, taken for want of objects, exceeds an image this
        # small: predict it as it is, as the whole-image path does, instead of refusing
        return None, message, spacing, flags
    return info["image_diameter"], message, spacing, flags


def _leads_to_measure(img: Any, layout: Any) -> list[tuple[tuple[int, ...], str]]:
    """The leading indices (time, planes of a 2D model) whose crop the object size is
    measured on, in order, each with the words that name it: the middle of each leading
    axis, then, along a series' time axis, a few other time points for a middle one
    without objects (an empty frame gave a whole movie the model's own size; time-lapse
    bash), as :func:`~napari_unetseg.core.scale.estimate_object_size` tries them."""
    from .._units import time_axis
    from ..core.scale import _time_points_to_measure

    middle = tuple(s // 2 for s in layout.leading_shape)
    t = time_axis(img.axes) if img.axes and len(img.axes) == len(img.data.shape) else None
    if t is None or t not in layout.leading_axes:
        return [(middle, "")]
    k = layout.leading_axes.index(t)
    n = layout.leading_shape[k]
    out = []
    for point in _time_points_to_measure(n):
        why = "" if point == n // 2 else f" (time point {n // 2}, the middle one, shows none)"
        lead = middle[:k] + (point,) + middle[k + 1 :]
        out.append((lead, f"measured on time point {point} of 0-{n - 1}{why}, used for all"))
    return out


@arguments_of(SegmentSettings, only=PREDICT_OPTIONS)
def predict_blocks_iter(
    source: str | os.PathLike,
    model: Any,
    output: str | os.PathLike,
    *,
    level: int = 0,
    series: int = 0,
    axes: str | None = None,
    client: Any = None,
    block_size: int | Sequence[int] | None = None,
    halo: int | Sequence[int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    image: Any = None,
    channel: int | None = None,
    split_touching: bool | None = False,
    probabilities: str | os.PathLike | None = None,
    **options: Any,
) -> Generator[BlockProgress, None, BlocksResult]:
    """Segment ``source`` into an OME-Zarr ``output``, block by block (a generator).

    Parameters
    ----------
    source : path
        A TIFF / OME-TIFF or OME-Zarr image (``level`` picks the pyramid level,
        ``series`` the image series of a TIFF that holds several). On a cluster every
        worker opens it by this path.
    axes : str, optional
        The source's axes where its file names them wrongly or not at all, e.g. ``"TYX"``
        for a movie saved without them (:meth:`napari_unetseg._io.ImageData.with_axes`).
    model : ModelBundle, name or path
        As for :func:`napari_unetseg.api.predict`.
    output : path
        ``OUT.ome.zarr`` (new store), or the OME-Zarr ``source`` itself: the labels are
        added under its ``labels/`` group, named after the model (and the channel,
        ``<model>-c1``, where ``channel`` is given).
    client : distributed.Client, optional
        Run the blocks on this cluster; None runs them here, one after another.
    block_size, halo : int or one per spatial axis, optional
        Output block edge (default :data:`DEFAULT_BLOCK`) and the context read around
        each block (default: a quarter of a tile, the tile overlap, in image pixels).
    resume : bool
        Continue an unfinished store made with the same settings: written blocks are
        skipped.
    overwrite : bool
        Replace an existing output.
    image : ImageData, optional
        The already opened source (in-process runs only), with all its channels.
    channel : int, optional
        Segment this channel (from 0) of a multi-channel image, e.g. the nuclear stain:
        every block reads that channel alone. A multi-channel image given to a
        one-channel model without it is refused, in one sentence naming the channels.
    split_touching : bool or None
        Instance labels: touching objects split apart as
        :func:`napari_unetseg.api.segment` does, block by block with a margin
        (:mod:`napari_unetseg.distributed.instances`), ids 1..N over the whole image.
        Default False (class labels, as ``predict`` gives); None: as the model says
        (``unetseg predict`` without ``--[no-]split-touching``).
    probabilities : path, optional
        Also write the foreground probability map (float32) into this OME-Zarr store,
        block by block beside the labels (a plain image store with its own pyramid).
    **options
        ``object_size``, ``fill_holes``, ``tile_size``, ``overlap``, ``batch_size``,
        ``device``, ``precision``, ``tta``: as for :func:`napari_unetseg.api.predict`
        (an ``'auto'`` object size is measured once, on a central crop). Defaults: those
        of :class:`napari_unetseg.batch.SegmentSettings`.

    Yields
    ------
    BlockProgress
        After each finished block, then for the pyramid.

    Returns
    -------
    BlocksResult
        The labels store and the run's figures (``stats``).

    Raises
    ------
    FileExistsError
        ``output`` exists and neither ``resume`` nor ``overwrite`` is given.
    ValueError, ClusterError
        Bad settings, an unreadable input, a level that does not exist, paths the
        workers cannot see: one sentence each, before anything is written.
    """
    t0 = time.perf_counter()
    if resume and overwrite:
        raise ValueError("Choose --resume or --overwrite, not both.")
    wanted = {"channel": channel, "series": int(series), "split_touching": split_touching}
    wanted["axes"] = None if axes is None else _io.check_axes(axes)
    wanted["probabilities"] = probabilities
    run = _prepare(source, model, output, level, client, block_size, halo, image, wanted, options)
    store, maps, kept = _open_stores(run, resume, overwrite)
    try:
        result = yield from _write_blocks(run, store, maps, client, t0)
    except (Superseded, ClusterError):  # another run goes on; the blocks stay for --resume
        _drop_kept(run)
        raise
    except Exception:  # a full disk: the earlier labels of --overwrite stay
        _put_back(kept)
        raise
    except BaseException:  # a stop (Ctrl-C): the blocks so far stay for --resume
        _drop_kept(run)
        raise
    _drop_kept(run)  # (one a run killed outright left too)
    return result


def _write_blocks(
    run: _Run, store: LabelsStore, maps: LabelsStore | None, client: Any, t0: float
) -> Generator[BlockProgress, None, BlocksResult]:
    """The blocks not written yet, then the pyramids and metadata (see
    :func:`predict_blocks_iter`)."""
    if store.info.get("complete") and (maps is None or maps.info.get("complete")):
        yield BlockProgress(1, 1, message=f"{run.target} is already complete; nothing to do.")
        return BlocksResult(
            run.target,
            {"blocks": 0, "skipped": int(np.prod(run.plan.grid)), "framed": 0, "seconds": 0.0},
        )
    # This run's mark: blocks of an earlier run of the store still running on a worker
    # (stopped with Ctrl-C, which cannot stop them) write nothing more.
    run.spec["run"] = uuid.uuid4().hex
    store.set_info(run=run.spec["run"])
    done, framed = _frame_blocks_done(store, run.plan)
    todo = run.plan.by_cost([i for i in run.plan.boxes() if not done[i]])
    total = len(run.plan.boxes())
    skipped = total - len(todo)
    said = " ".join(m for m in (run.channel_note, run.size_message) if m)
    yield BlockProgress(skipped, total, message=said or None)
    records: list[dict[str, Any]] = []
    for record in _blocks(run, todo, client):
        records.append(record)
        yield BlockProgress(skipped + len(records), total)
    block_seconds = time.perf_counter() - t0
    objects = None
    if run.spec["split_touching"] and not store.info.get("complete"):
        objects = yield from _said_gone(_split(store, run, client), client)
    yield from _said_gone(_finish_stores(run, store, maps, client, total, records), client)
    seconds = time.perf_counter() - t0
    stats = _stats(run, records, skipped, seconds, block_seconds, client)
    stats["framed"] = framed  # of the skipped: in the frame, not written by an earlier run
    stats["split_touching"] = bool(run.spec["split_touching"])  # done, as segment_iter says
    if objects is not None:
        stats["objects"] = objects
    if maps is not None:
        stats["probabilities"] = maps.path
    return BlocksResult(run.target, stats)


def _split(store: LabelsStore, run: _Run, client: Any) -> Generator[BlockProgress, None, int]:
    """Instance labels from the semantic ones just written (``split_touching``)."""
    from .instances import SplitPlan, split_touching_blocks

    size = run.spec["object_size"]
    if not isinstance(size, numbers.Real):  # off: objects as the model was trained for
        size = (run.bundle.object_size or {}).get("diameter", 16.0)
    from .._units import time_axis

    plan = SplitPlan.make(
        run.plan.out_shape, run.bundle.spatial_dims, run.flat.scale, size, time_axis(run.flat.axes)
    )
    return (yield from split_touching_blocks(store, plan, client))


def _frame_blocks_done(store: LabelsStore, plan: _Plan) -> tuple[np.ndarray, int]:
    """The blocks done: those written, and those wholly in a frame of one value (marked
    done now: background, the store's fill value, with nothing to predict), and how many
    were marked now (a fresh run said them "already done"; cluster bash)."""
    done = store.blocks_done()
    framed = 0
    for index in plan.boxes():
        if not done[index] and not plan.writes(index):
            store.mark_done(index)
            done[index] = True
            framed += 1
    return done, framed


@dataclass
class _Run:
    """Everything a block run decided before writing anything."""

    img: Any
    bundle: Any
    flat: Any
    plan: _Plan
    spec: dict[str, Any]
    fingerprint: str
    size_message: str
    target: str
    parent: str | None
    settings: dict[str, Any]
    provenance: dict[str, Any] | None
    channel_note: str = ""
    size_flags: dict[str, Any] = field(default_factory=dict)  # (_object_size's)


def _per_axis(value: Any, default: Sequence[int], name: str, sd: int) -> tuple[int, ...]:
    """``block_size`` / ``halo``: one int, or one per spatial axis."""
    vals = default if value is None else value
    vals = (vals,) * sd if isinstance(vals, (int, np.integer)) else tuple(vals)
    vals = vals * sd if len(vals) == 1 else vals  # one value for every axis
    if (
        len(vals) != sd
        or any(int(v) < 0 for v in vals)
        or (name == "block_size" and min(vals) < 1)
    ):
        if name == "block_size":  # the API's block_size, the command's --block-size
            many = "" if sd == 1 else f", or {sd} of them"
            raise ValueError(
                f"The block size must be a positive number of pixels{many} (for the axes "
                f"after the first spatial one, which is streamed whole), got {value!r}."
            )
        raise ValueError(f"{name} must be a positive int or {sd} of them, got {value!r}.")
    return tuple(int(v) for v in vals)


def _check_no_guessed_colour(img: Any, bundle: Any, source: str) -> None:
    """Refuse, in one sentence, an image whose last axis of 3 or 4 values a run in memory
    and napari read as colour while its file names no colour axis: block by block it was
    taken as a stack of 3-pixel-wide planes (labels of shape (300, 500, 3): second
    review)."""
    from ..core.normalize import rgb_axis

    shape = tuple(img.data.shape)
    if img.channel_axis is not None or shape[-1] not in (3, 4):
        return
    if rgb_axis(shape, None)[0] is None or bundle.in_channels != 1:
        return
    raise ValueError(
        f"{os.path.basename(source)!r} has a last axis of {shape[-1]} values, which napari "
        "and a run in memory read as colour, but its file names no colour axis, so a "
        "block-by-block run would take it for planes 3 pixels wide: segment it in memory "
        "(a TIFF output, not OME-Zarr), or save it with its colour axis named."
    )


def _as_the_model_sees_it(img: Any, bundle: Any, opts: dict[str, Any]) -> Any:
    """The image with dark and bright swapped where ``opts["invert"]`` says so (None:
    the model's setting; ``opts`` then holds the setting used), lazily, every pyramid
    level too (coarser ones give a large image's statistics)."""
    opts["invert"] = bundle.invert if opts["invert"] is None else bool(opts["invert"])
    if not opts["invert"]:
        return img
    swapped = {"data": _io.lazily_inverted(img.data)}
    if getattr(img, "levels", ()):
        swapped["levels"] = tuple(_io.lazily_inverted(level) for level in img.levels)
    return replace(img, **swapped)


def _checked_options(options: dict[str, Any]) -> dict[str, Any]:
    """The prediction options, completed with :class:`SegmentSettings`' defaults."""
    from ..batch import SegmentSettings

    known = SegmentSettings().predict_options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"predict_blocks_iter() got unexpected options {unknown}.")
    return {**known, **options}


def _make_plan(
    img: Any, bundle: Any, layout: Any, opts: dict[str, Any], block_size: Any, halo: Any
) -> tuple[_Plan, Any, tuple[str, dict[str, Any]], tuple[float, ...]]:
    """The blocks, the object size for every block, what was said about it with the
    measure's flags (:func:`_object_size`), and the pixel size every block is predicted
    with."""
    from ..core.inference import resolve_tile_size, tile_starts
    from ..core.margins import find_frame
    from ..core.scale import scaled_shape
    from ..core.sizing import choose_factors

    sd = bundle.spatial_dims
    with _local_dask():
        frame = find_frame(img.data, layout.spatial_axes, layout.channel_axis)
    full = layout.spatial_shape
    inside = None
    if frame is not None:  # predicted alone, as a single-process run does
        inside = tuple((b, s - a) for (b, a), s in zip(frame.widths, full))
    bounds = inside or tuple((0, s) for s in full)
    spatial = tuple(hi - lo for lo, hi in bounds)  # what the tiles cover
    tile = resolve_tile_size(opts["tile_size"], spatial, bundle)
    # the first spatial axis is streamed whole: sizes name the axes after it (3 values in
    # 3D silently lost their first, and 2 were refused)
    edges = _per_axis(block_size, (DEFAULT_BLOCK[sd],) * (sd - 1), "block_size", sd - 1)
    block = (full[0],) + tuple(min(b, s) for b, s in zip(edges, full[1:]))
    with _local_dask():
        size, size_message, spacing, flags = _object_size(
            bundle, img, layout, opts["object_size"], bounds, opts["invert"]
        )
    if spacing is None:  # measured isotropic, or not measurable: as the store says
        spacing = tuple(img.without_channels().scale)
    factors, _ = choose_factors(bundle, img.data, size, spacing, img.channel_axis)
    if any(f != 1.0 for f in factors):
        # the tile a whole-image run takes on the resampled grid (the image's own shape
        # gave a 16-plane tile for a stack resampled to 46 planes: 1 % of labels differed)
        tile = resolve_tile_size(opts["tile_size"], scaled_shape(spatial, factors), bundle)
    # Resampled runs tile each block themselves: half a tile of context, in image pixels.
    halo_default = tuple(math.ceil(t / 2 / f) for t, f in zip(tile, factors))
    halo_px = _per_axis(halo, halo_default, "halo", sd)
    starts = None
    if all(f == 1.0 for f in factors):
        overlap = float(opts["overlap"])
        starts = [
            [lo + p for p in tile_starts(max(s, t), t, overlap)]
            for s, t, (lo, _) in zip(spatial, tile, bounds)
        ]
    n_lead = len(layout.leading_axes)
    plan = _Plan(tuple(layout.output_shape), n_lead, block, tile, starts, halo_px, inside)
    small = _small_block_note(block, full, tile, factors)
    size_message = " ".join(filter(None, [size_message, small]))
    if frame is not None:
        if opts["invert"]:  # said in the image's own values (review: "of value 65535")
            from ..core.normalize import unswapped

            frame = replace(frame, value=unswapped(frame.value, img.data.dtype))
        size_message = " ".join(filter(None, [frame.message(), size_message]))
    return plan, size, (size_message, flags), spacing


def _small_block_note(block: tuple[int, ...], full: Any, tile: Any, factors: Any) -> str:
    """A sentence when blocks are narrower than the model's tile (in image pixels) on an
    axis they cut: each block still predicts whole tiles with their halo, so 16-pixel
    blocks took 66 s where one block took 3 s, unsaid (cluster bash). An axis a block
    covers whole is not cut (a narrow image was told to use bigger blocks; review)."""
    edges = [math.ceil(t / f) for t, f in zip(tile, factors)]
    small = [(b, e, n) for b, e, n in zip(block[1:], edges[1:], full[1:]) if b < e and b < n]
    if not small:
        return ""
    b, e, n = small[0]
    faster = f"{4 * e} px or more" if 4 * e < n else f"{n} px (the whole axis)"
    return (
        f"Blocks of {b} px are narrower than the model's tile ({e} px of the image): each "
        f"block still predicts whole tiles, so the work is repeated many times; a block "
        f"size of {faster} is much faster."
    )


def _opened(source: str, image: Any, level: int, series: int, wanted: dict[str, Any]) -> Any:
    """The run's image: the one given (in-process runs), else ``source`` opened lazily;
    its axes named ``wanted["axes"]`` where given (a file that does not name them), which
    become None where they are those it is read with (its resume key and record as a
    run without them: a store made without --axes refused --resume with the same axes)."""
    img = (
        image
        if image is not None
        else _io.read_image(source, lazy=True, level=level, series=series)
    )
    axes = wanted["axes"]
    if axes is None:
        return img
    if axes == img.axes:
        wanted["axes"] = None
    return img.with_axes(axes)


def _with_notes(note: str, img: Any, bundle: Any, output: Any) -> str:
    """``note`` and the input's notes (labels given as an image, guessed axes, a NIfTI
    placement the store does not keep), each a sentence."""
    from ..batch import guessed_axes_note, labels_note, placement_note

    for said in (
        labels_note(img),
        guessed_axes_note(img, bundle.spatial_dims),
        placement_note(img, output),
    ):
        if said:
            note = " ".join(filter(None, [note, said[0].upper() + said[1:]]))
    return note


def _prepare(
    source: Any,
    model: Any,
    output: Any,
    level: int,
    client: Any,
    block_size: Any,
    halo: Any,
    image: Any,
    wanted: dict[str, Any],
    options: dict[str, Any],
) -> _Run:
    """Open the input and the model, plan the blocks, and check what the workers see.

    ``wanted``: the run's ``channel``, ``series``, ``axes``, ``split_touching`` and
    ``probabilities``."""
    from .. import api
    from ..batch import SegmentSettings, check_fit, pick_channel
    from ..core.precision import weights_fingerprint
    from ..provenance import labels_provenance, model_reference

    channel, series, maps = wanted["channel"], wanted["series"], wanted["probabilities"]
    opts = _checked_options(options)
    source = os.path.abspath(os.fspath(source))
    img = _opened(source, image, level, series, wanted)
    channel_note = ""
    if channel is not None:
        img, note = pick_channel(img, int(channel))
        channel_note = note[0].upper() + note[1:]
    bundle = api.load_model(model)
    split = _split_asked(wanted, bundle)
    img = _as_the_model_sees_it(img, bundle, opts)
    check_fit(img, bundle)
    _check_no_guessed_colour(img, bundle, source)
    # (said by api.predict only: a block run took a CT model's image of stored values
    # without a word)
    # (on the level the statistics are taken from: level 0 was read whole; review), in
    # this process: a cluster the default client was sent the TIFF's open file (review)
    with _local_dask():
        say_outside_range(_sampled_level(img), bundle.normalization, bundle.name, img.channel_axis)
    channel_note = _with_notes(channel_note, img, bundle, output)
    layout = bundle.layout(tuple(img.data.shape), img.channel_axis)
    flat = img.without_channels()
    plan, size, (size_message, flags), spacing = _make_plan(
        img, bundle, layout, opts, block_size, halo
    )
    with _local_dask():
        normalizer, frames, position = _normalizers(img, bundle, layout, plan)
    fingerprint = weights_fingerprint(bundle.network)
    spec: dict[str, Any] = {
        "source": source,
        "level": int(level),
        "channel": None if channel is None else int(channel),
        "series": series,
        "axes": wanted["axes"],
        "channel_axis": img.channel_axis,
        "normalizer": normalizer.statistics(),
        "time_normalizers": frames,  # a series: each time point's (lo, hi, clip)
        "time_position": position,
        "object_size": size,
        "spacing": [float(v) for v in spacing[-bundle.spatial_dims :]],
        # what is done, as a TIFF output records it (None was "the model's setting")
        "fill_holes": bool(
            bundle.fill_holes if opts["fill_holes"] is None else opts["fill_holes"]
        ),
        "tile_size": list(plan.tile),
        "overlap": float(opts["overlap"]),
        "batch_size": opts["batch_size"],
        "device": opts["device"],
        "precision": opts["precision"],
        "tta": bool(opts["tta"]),
        "invert": bool(opts["invert"]),
        "threads": 1 if client is not None else None,
        "split_touching": split,
        "probabilities": None if maps is None else os.path.abspath(os.fspath(maps)),
    }
    target, parent = LabelsStore.target(
        output,
        img if isinstance(img, _zarr_image()) else None,
        LabelsStore.label_name(bundle.name, channel),
    )
    spec["output"] = target
    if maps is not None and (
        not _io.is_zarr_path(maps) or spec["probabilities"] in (target, source)
    ):
        raise ValueError(
            f"The probabilities go to a new OME-Zarr store (PROBS.ome.zarr), not {maps!r}."
        )
    settings = _settings_key(spec, plan, fingerprint)
    if client is not None:
        # Labels added to an image store go under its labels/ group, made on the first run.
        # New output folders are made here, as a run without workers makes them (the
        # workers "could not see" one still to make); an image store is there already.
        made = [] if parent else [os.path.dirname(target) or "."]
        if maps is not None:
            made.append(os.path.dirname(spec["probabilities"]) or ".")
        for folder in made:
            os.makedirs(folder, exist_ok=True)
        check_visible(client, [source, *([parent] if parent else []), *made])
    picked = {k: wanted[k] for k in ("channel", "series", "axes")}
    used = SegmentSettings(model=bundle.name, split_touching=split, **picked, **opts).to_dict()
    used["fill_holes"] = spec["fill_holes"]  # what is done, as a TIFF output records it
    if level:  # the pyramid level segmented: a command without it segments level 0
        used["level"] = int(level)
    provenance = labels_provenance(model_reference(model, bundle), used, source)
    return _Run(
        img,
        bundle,
        flat,
        plan,
        spec,
        fingerprint,
        size_message,
        target,
        parent,
        settings,
        provenance,
        channel_note,
        flags,
    )


def _split_asked(wanted: dict[str, Any], bundle: Any) -> bool:
    """``split_touching`` as asked, or (None, the CLI's default) as the model says."""
    asked = wanted["split_touching"]
    return bool(bundle.split_touching if asked is None else asked)


def _blocks(
    run: _Run, todo: list[tuple[int, ...]], client: Any
) -> Generator[dict[str, Any], None, None]:
    """Predict the blocks ``todo``, here one after another or on the cluster; yields each
    finished block's record (in the order they finish)."""
    if client is None:
        models = (run.bundle, _none_copy(run.bundle))
        for index in todo:
            yield _predict_block(
                None, run.spec, run.plan.job(index), image=run.img.data, models=models
            )
        return
    yield from _said_gone(_blocks_on(run, todo, client), client)


def _said_gone(gen: Generator[Any, None, Any], client: Any) -> Generator[Any, None, Any]:
    """``gen``'s records and result; an error once the connection to the scheduler has
    ended is said as :class:`ClusterGone`: dask's words were "'NoneType' object has no
    attribute 'scatter'" or "Client is closed" (GUI bug bash: the scheduler closed
    mid-run; a client closed by its user was said to be the scheduler's going, cluster
    bash; after the blocks, in the pyramid or the split, dask's words came through,
    review)."""
    if client is None:
        return (yield from gen)
    try:
        return (yield from gen)
    except ClusterError:
        raise
    except Exception as exc:
        if client.status == "running":
            raise
        raise ClusterGone(
            "The connection to the dask scheduler ended during the run (the client was "
            "closed, or the scheduler closed or lost); the blocks written so far are kept "
            "(blocks still running on workers may finish into the store), and a run with "
            "--resume continues from them."
        ) from exc


def _blocks_on(
    run: _Run, todo: list[tuple[int, ...]], client: Any
) -> Generator[dict[str, Any], None, None]:
    """:func:`_blocks` on the cluster of ``client``."""
    from distributed import as_completed

    payload = _payload(run.fingerprint, run.bundle.to_dict())
    remaining = list(todo)
    for sending in range(1, MODEL_SENDS + 1):
        model = _send_model(client, payload)  # a future for each part of the payload
        futures = {
            client.submit(_predict_block, model, run.spec, run.plan.job(index), pure=False): index
            for index in remaining
        }
        try:
            for fut in as_completed(list(futures)):
                try:
                    record = _result(fut)
                except ClusterError:
                    # Scattered data, unlike a task's result, is not made again: when
                    # every worker holding the model went at once, the model is sent anew
                    # to the restarted workers and the blocks still to do follow it.
                    if sending < MODEL_SENDS and any(f.status != "finished" for f in model):
                        break
                    raise
                # forgotten once read: the scheduler kept a finished block's result, and
                # ran the block again when its worker died later (distributed bug bash)
                remaining.remove(futures.pop(fut))
                fut.release()
                yield record
            else:
                return
        finally:
            if client.status == "running":  # (a closed client raises of its own)
                client.cancel([*futures, *model])


def _send_model(client: Any, payload: tuple[Any, ...]) -> tuple[Any, ...]:
    """The model on every worker (``scatter(broadcast=True)``: a future for each part of
    ``payload``). A worker lost while it was sent (killed, restarted by its nanny) ended
    the run, said to be lost "while it ran a block" (scale-out bug bash): the model is
    sent again, to the workers there are, up to :data:`MODEL_SENDS` times; then one
    sentence."""
    attempt = 1
    while True:
        try:
            return client.scatter(payload, broadcast=True, hash=False)
        except Exception as exc:  # noqa: BLE001 - a worker restarted under the model's weight
            lost = worker_lost(exc, "while the model was sent to the workers", blocks=False)
            if lost is None:
                raise
            if attempt >= MODEL_SENDS:
                raise lost from exc
        time.sleep(0.5 * attempt)  # a restarted worker joins again meanwhile
        attempt += 1


def _stats(
    run: _Run,
    records: list[dict[str, Any]],
    skipped: int,
    seconds: float,
    block_seconds: float,
    client: Any,
) -> dict[str, Any]:
    """The run's figures from the blocks' records."""
    voxels = sum(r["voxels"] for r in records)
    compute = sum(r["seconds"] for r in records)
    n = max(len(records), 1)
    workers = len(client.scheduler_info()["workers"]) if client is not None else 0
    return {
        "blocks": len(records),
        "skipped": skipped,
        "voxels": voxels,
        "seconds": seconds,
        "block_phase_seconds": block_seconds,
        "pyramid_seconds": seconds - block_seconds,
        "block_compute_seconds": compute,
        "voxels_per_s": voxels / max(seconds, 1e-9),
        "read_overhead": sum(r["read_voxels"] for r in records) / max(voxels, 1),
        "tiles": sum(r["tiles"] for r in records),
        # Per block: seconds of a task outside the engine (opening the input and the
        # store, writing, marking), and of the wall clock not spent in any task
        # (scheduling, sending, waiting), with every worker counted.
        "task_overhead_per_block": (compute - sum(r["predict_seconds"] for r in records)) / n,
        "idle_per_block": (block_seconds * max(1, workers) - compute) / n,
        "precision": ",".join(sorted({str(r["precision"]) for r in records})) or None,
        "device": ",".join(sorted({str(r["device"]) for r in records})) or None,
        "block": run.plan.block,
        "halo": None if run.plan.starts is not None else run.plan.halo,
        "object_size": run.size_message or None,
        "object_size_flags": dict(run.size_flags),
        "workers": workers,
        "confidence": confidence(
            sum(r["marked"] for r in records),
            sum(r["sure"] for r in records),
            sum(r["read_voxels"] for r in records),
        ),
    }


@arguments_of(predict_blocks_iter)
def predict_blocks(
    source: str | os.PathLike, model: Any, output: str | os.PathLike, **options: Any
) -> BlocksResult:
    """:func:`predict_blocks_iter` run to the end."""
    return drain(predict_blocks_iter(source, model, output, **options))


def _zarr_image() -> type:
    from .._zarr import ZarrImageData

    return ZarrImageData
