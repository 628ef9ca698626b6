"""What runs on a worker: the model built once per process, the input opened once per
thread, and one block predicted and written straight into the store."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from .. import _io
from .._zarr_labels import LabelsStore
from ..core.progress import drain
from .blocks import _CroppedOut, _Normalized, unfinite_mask
from .records import Superseded

#: A block whose input (with its halo, as stored) is at most this large is read whole
#: before predicting: the engine reads band by band, and bands that start inside a stored
#: chunk decode it again (a 3D block of the default size read its chunks 6x over).
#: Larger blocks stream as before, so a worker's memory stays bounded.
PREFETCH_BYTES = 256 << 20

_WORKER = threading.local()
_MODELS: dict[str, Any] = {}
_MODEL_LOCK = threading.Lock()
#: How many times this process built a model from a payload (tests check "once").
BUILDS: dict[str, int] = {}


def _worker_model(payload: tuple[str, dict[str, Any]]) -> tuple[Any, Any]:
    """(bundle, copy of it that takes already normalized input), built once per process."""
    key, state = payload
    with _MODEL_LOCK:
        if key not in _MODELS:
            from ..core.bundle import ModelBundle

            bundle = ModelBundle.from_dict(state)
            _MODELS[key] = (bundle, _none_copy(bundle))
            BUILDS[key] = BUILDS.get(key, 0) + 1
        return _MODELS[key]


def _source(spec: dict[str, Any]) -> Any:
    """The input image of a run's ``spec`` (lazy; one channel of it when ``channel`` is
    given; image ``series`` of a TIFF holding several, read with the run's ``axes``; dark
    and bright swapped with ``invert``), opened once per process and thread."""
    path, level, channel, series = spec["source"], spec["level"], spec["channel"], spec["series"]
    axes, invert = spec.get("axes"), spec["invert"]
    cache = getattr(_WORKER, "sources", None)
    if cache is None:
        cache = _WORKER.sources = {}
    key = (path, level, channel, series, axes, invert)
    if key not in cache:
        img = _io.read_image(path, lazy=True, level=level, series=series, axes=axes)
        data = (img if channel is None else img.one_channel(channel)).data
        cache[key] = _io.lazily_inverted(data) if invert else data
    return cache[key]


def _predict_block(
    payload: Any, spec: dict[str, Any], job: dict[str, Any], image: Any = None, models: Any = None
) -> dict[str, Any]:
    """Predict one block and write its labels into the store (runs on a worker).

    ``payload`` is the scattered model; an in-process run passes ``image`` (the opened
    source) and ``models`` (the bundle and its copy for normalized input) instead.
    """
    with _local_dask():
        return _predict_block_here(payload, spec, job, image, models)


def _local_dask() -> Any:
    """Read lazy inputs in this thread: a dask array over a file is read where the task
    runs, never shipped to the cluster's scheduler (its file handles do not serialize)."""
    import dask

    return dask.config.set(scheduler="synchronous")


def _predict_block_here(
    payload: Any, spec: dict[str, Any], job: dict[str, Any], image: Any, models: Any
) -> dict[str, Any]:
    import torch

    from ..core.devices import resolve_device
    from ..core.holes import largest_hole
    from ..core.normalize import Normalizer
    from ..core.precision import choose_precision
    from ..core.sizing import predict_sized

    t0 = time.perf_counter()
    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    bundle, raw = models if models is not None else _worker_model(payload)
    data = image if image is not None else _source(spec)
    layout = bundle.layout(tuple(data.shape), spec["channel_axis"])
    view = data[layout.index(job["lead"], tuple(slice(a, e) for a, e in job["read"]))]
    if math.prod(view.shape) * np.dtype(view.dtype).itemsize <= PREFETCH_BYTES:
        view = np.asarray(view)  # each stored chunk decoded once, not once per band
    ca = layout.channel_axis
    if ca is not None:
        ca -= sum(1 for a in layout.leading_axes if a < ca)
    statistics = spec["normalizer"]
    if spec.get("time_normalizers"):  # a series: the block's time point's own
        statistics = spec["time_normalizers"][job["lead"][spec["time_position"]]]
    x = _Normalized(view, Normalizer(*statistics), ca)
    bad = unfinite_mask(view, ca)  # NaN / Inf: labelled background, as in-memory runs do
    device = resolve_device(spec["device"])
    # The precision check belongs to the real model (the copy sees normalized input).
    precision = choose_precision(bundle, device, spec["precision"]).name
    store = LabelsStore(spec["output"])
    check = _run_check(store, spec.get("run"))
    check()
    region = tuple(e - a for a, e in job["read"])
    fill = bundle.fill_holes if spec["fill_holes"] is None else bool(spec["fill_holes"])
    # 3D: labels stream into the store band by band; 2D: the block's labels are small.
    stream = bundle.spatial_dims == 3
    # as predict_sized fills in 2D: the size predicted at, where the model has one
    largest = largest_hole(spec["object_size"] if bundle.object_size else None)
    out = _CroppedOut(store.level0(), job, region, fill, check, bad, largest) if stream else None
    extra = {} if job["tile_starts"] is None else {"tile_starts": job["tile_starts"]}
    if spec.get("probabilities"):  # the map streams into its own store, band by band
        maps = LabelsStore(spec["probabilities"]).level0()
        extra.update(
            return_probabilities=True,
            probabilities_out=_CroppedOut(maps, job, region, False, check, bad),
        )
    result = drain(
        predict_sized(
            raw,
            x,
            object_size=spec["object_size"],
            spacing=spec["spacing"],
            fill=fill and not stream,
            channel_axis=ca,
            out=out,
            tile_size=spec["tile_size"],
            overlap=spec["overlap"],
            batch_size=spec["batch_size"],
            device=device,
            precision=precision,
            tta=spec["tta"],
            **extra,
        )
    )
    if not stream:
        _CroppedOut(store.level0(), job, region, False, check, bad)[...] = result.labels
    check()
    store.mark_done(job["index"])
    conf = result.stats["confidence"]
    return {
        "seconds": time.perf_counter() - t0,
        "voxels": int(math.prod(e - a for a, e in job["core"])),
        "read_voxels": int(math.prod(region)),
        "tiles": int(result.stats.get("n_tiles", 0)),
        "predict_seconds": float(result.stats.get("seconds", 0.0)),
        "precision": result.stats.get("precision"),
        "device": result.stats.get("device"),
        # marked voxels and the sure ones among them (the block's read region, margins
        # included: only their ratio is used)
        "marked": conf["marked"],
        "sure": conf["sure"],
    }


def _run_check(store: LabelsStore, run: str | None) -> Any:
    """A check to call before each write of a block: :class:`Superseded` where the store
    now belongs to another run (this block's run was stopped and the store resumed or
    replaced while the block still ran: dask cannot stop a running task), so a stale
    block neither writes over the newer run's labels nor marks its block done."""

    def check() -> None:
        if run is None:
            return
        try:
            now = store.info.get("run")
        except (ValueError, OSError):  # replaced: removed, or not yet made again
            now = None
        if now != run:
            raise Superseded(f"The run {run} on {store.path!r} was replaced by another.")

    return check


def _build_level(output: str, level: int, region: tuple[slice, ...]) -> None:
    with _local_dask():
        LabelsStore(output).build_level(level, region)


def _none_copy(bundle: Any) -> Any:
    raw = bundle.copy()
    raw.normalization = {**raw.normalization, "mode": "none"}
    return raw
