"""The worker side of a Segment run: plain values in, labels out (no Qt).

The Segment widget builds a :class:`SegmentRequest` in the GUI thread (the layer's
array and plain values); :func:`segment_job` runs in a worker thread through
:class:`~napari_unetseg._qt._worker.JobRunner` and returns a :class:`SegmentResult`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Output sizes (bytes of labels) above which a lazily written zarr array is used.
LAZY_OUTPUT_BYTES = 1 << 30
#: Pixels of one plane of a lazy output above which it is shown as a pyramid: napari
#: reads a 2D layer's whole plane to draw it, so a whole-slide result would be read whole.
PYRAMID_PLANE_PIXELS = 4096 * 4096
#: The pyramid's levels halve Y and X until the plane fits this edge.
PYRAMID_TOP_EDGE = 2048

#: Voxels of labels above which the result line does not count their connected regions
#: (scipy's labelling holds 4 bytes a voxel: 256 MiB here, about 0.3 s on a CPU core).
COUNT_MAX_VOXELS = 1 << 26

LABELS_SUFFIX = "unet"
#: A Segment run into an OME-Zarr store writes ``labels/NAME`` + this until it is complete.
UNFINISHED_SUFFIX = ".unfinished"
PROBABILITY_SUFFIX = "probability"
UNCERTAINTY_SUFFIX = "uncertainty"


@dataclass
class SegmentRequest:
    """Everything the worker needs: plain values and the layer's array, no Qt objects.

    ``options`` are keyword arguments of :func:`napari_unetseg.api.predict_iter`
    (``tile_size``, ``overlap``, ``batch_size``, ``device``, ``precision``, ``tta``,
    ``return_probabilities``, ``return_uncertainty``).
    """

    image: Any
    model: str
    channel_axis: int | None = None
    position: tuple[int, ...] | None = None  # current data index: "current plane only"
    #: Touching objects split apart (needs options["scale"]); None: as the model says
    split: bool | None = False
    time_axis: int | None = None  # the layer's axis of time points: split inside each
    options: dict[str, Any] = field(default_factory=dict)
    #: The OME-Zarr store the layer was read from: a result too big for memory is written
    #: block by block under its labels/ group and shown lazily from there.
    store: str | None = None
    #: A dask scheduler address: the blocks run on that cluster, which reads ``store``.
    scheduler: str | None = None
    #: The layer is this channel of ``store`` (a multi-channel image split into layers).
    channel: int | None = None
    #: The image series of its file the layer is (recorded in the provenance).
    series: int | None = None
    #: torch's thread count in the viewer's process when Run was pressed: a pool thread
    #: keeps the count it was started with (a count set since was not used), as in
    #: Fine-tune's :class:`~napari_unetseg._qt.finetune.job.TrainRequest`.
    threads: int | None = None


@dataclass
class SegmentResult:
    """What the worker hands back to the GUI thread."""

    labels: Any
    probabilities: Any = None
    uncertainty: Any = None
    plane: tuple[int, ...] | None = None  # leading index of a one-plane result
    summary: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    # the model's name of each label value (0 = background); None for object instances
    class_names: list[str] | None = None
    # the OME-Zarr labels the result was written to (None: in memory only)
    stored: str | None = None


def segment_job(req: SegmentRequest) -> Generator[Any, None, SegmentResult]:
    """The worker side of a Segment run: load the model, predict, optionally split.

    Yields the engine's ``TileProgress`` records; returns a :class:`SegmentResult`.
    """
    from .. import api
    from ..core.devices import use_thread_count

    t0 = time.perf_counter()
    use_thread_count(req.threads)
    bundle = api.load_model(req.model)
    image = req.image
    channel_axis = req.channel_axis
    plane = None
    n_lead = image.ndim - (channel_axis is not None) - bundle.spatial_dims
    if req.position is not None and n_lead > 0:
        plane = tuple(req.position[:n_lead])
        image = image[plane]
        if channel_axis is not None:
            channel_axis = image.ndim - 1  # only RGB(A) layers have one: the last axis
    out_shape = tuple(s for a, s in enumerate(image.shape) if a != channel_axis)
    if req.scheduler:
        _check_cluster_request(req, image, plane)
        return (yield from _segment_into_store(req, bundle))
    if plane is None and _is_big(image, out_shape) and _into_store(req, image):
        return (yield from _segment_into_store(req, bundle))
    out = lazy_output(out_shape) if _is_big(image, out_shape) else None
    asked = bundle.split_touching if req.split is None else req.split
    wanted = req.split if out is None else False  # a lazily written result: too large
    # a model of several classes: a map per class (its foreground map cannot tell two
    # object classes apart; a GUI user could not have them)
    several = bundle.n_classes > 2 and bool(req.options.get("return_probabilities"))
    result = yield from api.segment_iter(
        image,
        bundle,
        split_touching=wanted,
        time_axis=req.time_axis if plane is None else None,
        out=out,
        channel_axis=channel_axis,
        **({"class_probabilities": True} if several else {}),
        **req.options,
    )
    stats = dict(result.stats)
    split = bool(stats.get("split_touching"))  # as done (None: the model's, if it fit)
    # the whole run's time, said on the result line: the prediction's alone read 2.7 s of
    # a 7.5 s run that measured the objects and split them (viewer bug bash)
    stats["run_seconds"] = time.perf_counter() - t0
    stats["provenance"] = _provenance(req, bundle, split)
    from ..provenance import what_ran

    stats["provenance"]["ran"] = what_ran(stats)
    t = req.time_axis if plane is None else None
    frames = 1 if t is None else int(np.shape(result.labels)[t])
    summary = _summary(result.labels, split, stats, list(bundle.class_names), frames, t)
    if asked and out is not None:
        summary += " Touching objects were not split: the result is too large for memory."
    if (stats.get("split") or {}).get("message"):  # a multi-class model's classes are gone
        summary += " " + stats["split"]["message"]  # (or too large to split by default)
    return SegmentResult(
        display_levels(result.labels),
        result.probabilities,
        result.uncertainty,
        plane,
        summary,
        stats,
        None if split else list(bundle.class_names),
    )


def _into_store(req: SegmentRequest, image: Any) -> bool:
    """Whether the result can go into the layer's own OME-Zarr store: the layer is that
    store's full-resolution image and only labels are asked for."""
    if req.store is None:
        return False
    if req.options.get("return_probabilities") or req.options.get("return_uncertainty"):
        return False
    source, channel = _store_image(req)
    if channel is not None:
        source = source.one_channel(channel)
    return tuple(source.data.shape) == tuple(image.shape)


def _store_image(req: SegmentRequest) -> tuple[Any, int | None]:
    """The store's full-resolution image, and the layer's channel of it (None when the
    image has no channels)."""
    from .._zarr import read_ome_zarr

    source = read_ome_zarr(req.store)
    return source, req.channel if source.channel_axis is not None else None


def _check_cluster_request(req: SegmentRequest, image: Any, plane: Any) -> None:
    """Refuse, in one sentence, what a dask cluster cannot run: its workers read the
    image from its OME-Zarr store and write the labels into it."""
    if plane is not None:
        raise ValueError(
            "'Current plane only' runs here; clear the dask scheduler address to preview a plane."
        )
    if not _into_store(req, image):
        raise ValueError(
            "Running on a dask cluster needs the full-resolution image of an OME-Zarr store "
            "(opened from a .zarr folder the workers can read), and only labels as output."
        )


#: The files of an empty zarr group (v2, v3).
_GROUP_FILES = {".zgroup", ".zattrs", "zarr.json"}


def _drop_unfinished(unfinished: str, made_group: str | None) -> None:
    """A cancelled or failed run's unfinished labels removed, and the ``labels/`` group
    it made in the image's store when nothing else is in it (an empty group with no
    ``labels`` list stayed in the user's store: big-data bash)."""
    shutil.rmtree(unfinished, ignore_errors=True)
    if made_group is not None and os.path.isdir(made_group):
        if set(os.listdir(made_group)) <= _GROUP_FILES:
            shutil.rmtree(made_group, ignore_errors=True)


def _segment_into_store(req: SegmentRequest, bundle: Any) -> Generator[Any, None, SegmentResult]:
    """Predict block by block into ``<store>/labels/<model>[-c<channel>]`` (napari_unetseg.distributed),
    here or on the cluster at ``req.scheduler``, and hand back the written labels as a
    lazy array."""
    from .. import distributed as dist
    from .._zarr import read_ome_zarr
    from .._zarr_labels import LabelsStore
    from ..batch import SegmentSettings

    source, channel = _store_image(req)
    target, _ = LabelsStore.target(req.store, source, LabelsStore.label_name(bundle.name, channel))
    if LabelsStore.exists(target):  # replace only what an earlier run made
        LabelsStore(target).info  # noqa: B018 - raises for a group unetseg did not write
    # Written beside the earlier labels (which a layer may show) and moved onto them once
    # complete: a cancelled run replaced them by its unfinished blocks.
    unfinished = f"{target}{UNFINISHED_SUFFIX}"
    # (a cluster's block still running at a cancel may have written into it after)
    shutil.rmtree(unfinished, ignore_errors=True)
    group = os.path.dirname(unfinished)  # the store's labels/ group, made by a first run
    made_group = not os.path.exists(group)
    known = SegmentSettings().predict_options()
    options = {k: v for k, v in req.options.items() if k in known}
    client = dist.connect(scheduler=req.scheduler) if req.scheduler else None
    try:
        done = yield from dist.predict_blocks_iter(
            req.store,
            bundle,
            unfinished,
            image=None if client is not None else source,
            client=client,
            overwrite=True,
            channel=channel,
            split_touching=req.split,
            **options,
        )
    except dist.ClusterGone as exc:  # its --resume is the command's, not the widget's
        _drop_unfinished(unfinished, group if made_group else None)
        raise dist.ClusterError(
            "The connection to the dask scheduler ended during the run (the client was "
            "closed, or the scheduler closed or lost); the image's earlier labels are as "
            "they were: run it again once the cluster is back."
        ) from exc
    except BaseException:  # cancelled (GeneratorExit) or failed: the earlier labels stay
        _drop_unfinished(unfinished, group if made_group else None)
        raise
    finally:
        if client is not None:
            dist.close(client)
    output = str(LabelsStore(done.output).move_onto(target).path)
    labels = display_levels(list(read_ome_zarr(output).levels))
    stats = dict(done.stats)
    # A block run says its object size in a sentence, with the measure's flags (the
    # advice said with the result, the dark objects' "Segment again" button): the
    # widget reads them as an in-memory run's record.
    flags = stats.pop("object_size_flags", None) or {}
    stats["object_size"] = {"message": stats.get("object_size") or "", **flags}
    split = bool(stats.get("split_touching"))  # as done (None: the model's)
    stats["provenance"] = _provenance(req, bundle, split)
    where = f" on {_count(stats['workers'], 'dask worker')}" if client is not None else ""
    summary = (
        f"Written block by block{where} to {output} "
        f"({_count(stats['blocks'], 'block')}, {stats['seconds']:.1f} s); shown from there."
    )
    if split:
        summary += f" {stats['objects']:,} objects, touching ones split apart."
    names = None if split else list(bundle.class_names)
    return SegmentResult(labels, summary=summary, stats=stats, class_names=names, stored=output)


def _provenance(req: SegmentRequest, bundle: Any, split: bool) -> dict[str, Any]:
    """How the labels are made (saved with them by the napari writer)."""
    from ..batch import SegmentSettings
    from ..provenance import labels_provenance, model_reference

    used = SegmentSettings.from_dict(
        {**req.options, "model": bundle.name, "split_touching": split}
    ).to_dict()
    # the layer's channel and series of its file, and the plane segmented alone (the
    # record named the file with no channel or series 0, which a command cannot redo)
    for key, value in (("channel", req.channel), ("series", req.series)):
        if value is not None:
            used[key] = int(value)
    if req.position is not None:
        used["plane"] = [int(i) for i in req.position]
    return labels_provenance(model_reference(req.model, bundle), used)


def _is_big(image: Any, out_shape: tuple[int, ...]) -> bool:
    return not isinstance(image, np.ndarray) and int(np.prod(out_shape)) > LAZY_OUTPUT_BYTES


def display_levels(labels: Any) -> Any:
    """Labels as napari should show them: a lazy result whose planes are larger than
    :data:`PYRAMID_PLANE_PIXELS` as a list of levels (its own pyramid, else every other
    Y/X pixel of the level above, read only where napari looks), anything else as it is."""
    levels = list(labels) if isinstance(labels, list) else [labels]
    base = levels[0]
    if isinstance(base, np.ndarray) or base.shape[-1] * base.shape[-2] <= PYRAMID_PLANE_PIXELS:
        return base
    import dask.array as da

    levels = [lv if isinstance(lv, da.Array) else da.from_zarr(lv) for lv in levels]
    while max(levels[-1].shape[-2:]) > PYRAMID_TOP_EDGE:
        levels.append(levels[-1][..., ::2, ::2])
    return levels


def lazy_output(shape: tuple[int, ...], dtype: Any = np.uint8) -> Any:
    """An in-memory, compressed zarr array for huge label outputs (mostly zeros)."""
    import zarr

    chunks = tuple(
        min(s, c) for s, c in zip(shape, (1,) * (len(shape) - 2) + (1024, 1024), strict=True)
    )
    return zarr.zeros(shape=shape, chunks=chunks, dtype=dtype)


def _summary(
    labels: Any,
    instances: bool,
    stats: dict[str, Any],
    class_names: list[str] | None = None,
    frames: int = 1,
    time_axis: int | None = None,
) -> str:
    """The result line: objects, the foreground's share (with its connected regions and
    the way to one label per object: "Foreground: 29.7 %" of 253 nuclei said neither;
    GUI bash), or each class's share when the model has more than one class besides the
    background. ``frames``: time points of a series (on ``time_axis``), whose objects are
    counted in all of them ("2333 objects" of a movie of 20 frames read as one frame's;
    time-lapse bash)."""
    from ..batch import count_objects

    seconds = stats.get("run_seconds", stats.get("seconds", 0))
    timing = f"{seconds:.1f} s on {stats.get('device', '?')}"
    if instances:
        n = int(np.max(labels))
        if frames > 1:  # ("about 0 in each" of 3 objects in 20 frames; review)
            each = f"{n / frames:.{0 if n >= 10 * frames else 1}f}" if n else "none"
            return (
                f"{n:,} objects over {frames} time points, {each} in each on average ({timing})."
            )
        return f"{n:,} objects ({timing})."
    if isinstance(labels, np.ndarray):
        size = max(labels.size, 1)
        if class_names is not None and len(class_names) > 2:
            counts = np.bincount(labels.ravel(), minlength=len(class_names))
            shares = ", ".join(
                f"{name} {100 * n / size:.1f} %"
                for name, n in zip(class_names[1:], counts[1:], strict=False)
            )
            return f"Classes: {shares} of the pixels ({timing})."
        percent = 100.0 * float(np.count_nonzero(labels)) / size
        if not percent:
            return f"Foreground: none ({timing})."
        counted = ""
        if labels.size <= COUNT_MAX_VOXELS:  # (its int32 regions: 4 bytes a voxel)
            regions = count_objects(labels, False, time_axis)[0]
            counted = f", {regions:,} connected region{'s' * (regions != 1)}"
        # (not where the split was left out as too large: the tick was on; split bash)
        tick = (
            ""
            if stats.get("split")
            else "; tick \u201cSplit touching objects\u201d for one label per object"
        )
        return f"Foreground: {percent:.1f} % of the pixels{counted} ({timing}){tick}."
    return f"Done ({timing})."


__all__ = ["SegmentRequest", "SegmentResult", "segment_job"]


def _count(n: int, noun: str) -> str:
    """``"1 block"``, ``"3 blocks"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
