"""Prediction block by block into OME-Zarr, in one process or on a dask.distributed cluster.

:func:`predict_blocks_iter` splits an image (a TIFF or an OME-Zarr, opened lazily) into
blocks of the output, each read with a *halo* of extra pixels on every side so that the
tiles near a block's edge see the same context as in a whole-image run; the halo is
cropped off and the block's labels go straight into a chunk of the output store
(:class:`napari_unetseg._zarr.LabelsStore`): nothing is gathered on the client.

- **Same result as one process.** The percentile normalization is computed once for the
  whole image (as :func:`napari_unetseg.api.predict` does) and applied to every block;
  the object size is measured once; each block is predicted by the same engine. With the
  default halo (a quarter of a tile) at least 99.9 % of the labels agree with a single-process
  run (tested; ``benchmarks/bench_scaleout.py`` measures it).
- **The model goes to each worker once** (``scatter(broadcast=True)``); each worker
  process builds the network once and keeps it for all its blocks.
- **Failures cost only their blocks.** A worker that dies takes its running blocks
  with it; dask runs them again elsewhere. Each block is marked done in the store only
  after its labels are written, so ``resume=True`` skips exactly the finished blocks
  of an interrupted run.
- **Bounded memory.** A worker holds one block with its halo (input, normalized floats,
  the engine's band buffers); the client holds only the block list. The pyramid is
  built from the written labels, chunk by chunk, also on the workers.

:func:`connect` opens a client on a scheduler address or starts a ``LocalCluster``;
:func:`segment_files_on_cluster` runs one task per file for batches of many images.
This module is the only one that imports dask.distributed.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _io
from ._zarr import LabelsStore

__all__ = [
    "BlockProgress",
    "ClusterError",
    "DEFAULT_BLOCK",
    "connect",
    "predict_blocks",
    "predict_blocks_iter",
    "segment_files_on_cluster",
]

#: Default block edge per spatial axis (2D, 3D): a block with its halo is about 40 MB of
#: float32 input in 3D, so a worker needs well under 1 GiB (docs/distributed.md).
DEFAULT_BLOCK = {2: 2048, 3: 512}
#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT = 10.0


class ClusterError(OSError):
    """A cluster that cannot run the job (one sentence; nothing was written)."""


@dataclass
class BlockProgress:
    """``done`` of ``total`` blocks (``stage`` 'blocks', then 'pyramid')."""

    done: int
    total: int
    stage: str = "blocks"
    message: str | None = None


@dataclass
class BlocksResult:
    """What a block run wrote, and what it cost."""

    output: str
    stats: dict[str, Any] = field(default_factory=dict)


# -- connecting ---------------------------------------------------------------------------
def connect(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    memory_limit: str | int | None = None,
    processes: bool = True,
    timeout: float = CONNECT_TIMEOUT,
) -> Any:
    """A ``distributed.Client``: on ``scheduler`` (an address) or on a new LocalCluster
    of ``workers`` single-threaded workers.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached within ``timeout`` seconds.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(
            "Running on a cluster needs dask.distributed: pip install 'napari-unetseg[distributed]'."
        ) from exc
    if scheduler:
        failed = f"Cannot reach the dask scheduler at {scheduler!r}"
        _probe(scheduler, timeout, failed)
        try:
            return Client(scheduler, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - whatever answered is not a scheduler
            raise ClusterError(
                f"{failed} within {timeout:g} s ({type(exc).__name__}); check the address and "
                "that a dask scheduler runs there."
            ) from exc
    n = int(workers or 1)
    if n < 1:
        raise ValueError(f"--workers must be at least 1, got {workers!r}.")
    import dask

    # dask starts worker processes with MALLOC_TRIM_THRESHOLD_ set, which turns off
    # glibc's adaptive mmap threshold: every large tensor PyTorch allocates is then a
    # fresh mmap to fault in and zero, and the U-Net ran 2x slower in a worker than in
    # this process. Our workers keep the thread limits and leave malloc alone.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit if memory_limit is not None else "auto",
            dashboard_address=None,
        )
    return Client(cluster)


def _probe(address: str, timeout: float, failed: str) -> None:
    """Fail at once on a TCP address nobody listens on (dask would retry until its
    timeout, and then some)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"{failed} ({reason.lower()}); check the address and that the scheduler runs."
        ) from exc


def close(client: Any) -> None:
    """Close a client and the LocalCluster it started (if it started one)."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _missing(paths: Sequence[str]) -> list[str]:
    """Paths that do not exist on this machine (run on each worker)."""
    return [p for p in paths if not os.path.exists(p)]


def check_visible(client: Any, paths: Sequence[str]) -> None:
    """Refuse (one sentence) when a worker cannot see a path, before anything is written."""
    answers = client.run(_missing, list(paths))
    for worker, missing in answers.items():
        if missing:
            raise ClusterError(
                f"The worker at {worker} cannot see {missing[0]!r}; put the input and output "
                "on storage every worker shares (the same path on each machine)."
            )


# -- the plan -----------------------------------------------------------------------------
@dataclass
class _Plan:
    """Blocks of the output: one leading position x a column of the spatial axes.

    The first spatial axis (Z in 3D, Y in 2D) is never split: the engine streams it band
    by band, so a block's memory does not depend on its length. The other spatial axes
    are cut every ``block`` pixels (chunk borders of the output, so no two blocks write
    the same chunk). ``starts`` is the whole image's tile grid: a block predicts the
    tiles of that grid that overlap it (its halo is those tiles' reach), so every pixel
    is blended from the same tiles as in a single-process run. With resampling
    (``starts`` None) a block reads ``halo`` extra pixels and tiles them itself.
    """

    out_shape: tuple[int, ...]
    n_lead: int
    block: tuple[int, ...]
    tile: tuple[int, ...]
    starts: list[list[int]] | None
    halo: tuple[int, ...]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.out_shape[self.n_lead :]

    @property
    def grid(self) -> tuple[int, ...]:
        lead = self.out_shape[: self.n_lead]
        return lead + tuple(math.ceil(s / b) for s, b in zip(self.spatial, self.block))

    @property
    def chunks(self) -> tuple[int, ...]:
        first = min(self.spatial[0], 64 if len(self.spatial) == 3 else 1024)
        rest = tuple(min(b, s) for b, s in zip(self.block[1:], self.spatial[1:]))
        return (1,) * self.n_lead + (first,) + rest

    def boxes(self) -> list[tuple[int, ...]]:
        return list(np.ndindex(*self.grid))

    def job(self, index: tuple[int, ...]) -> dict[str, Any]:
        """Where block ``index`` reads, which tiles it runs, and where it writes."""
        lead, cell = index[: self.n_lead], index[self.n_lead :]
        core = [(i * b, min((i + 1) * b, s)) for i, b, s in zip(cell, self.block, self.spatial)]
        read, rel = [], []
        for axis, ((a, e), s) in enumerate(zip(core, self.spatial)):
            if self.starts is None:
                h = self.halo[axis]
                read.append((max(0, a - h), min(s, e + h)))
                continue
            t = self.tile[axis]
            mine = [p for p in self.starts[axis] if p < e and p + t > a]
            r0, r1 = min(mine), min(s, max(mine) + t)
            read.append((r0, r1))
            rel.append([p - r0 for p in mine])
        return {
            "index": tuple(int(i) for i in index),
            "lead": tuple(int(i) for i in lead),
            "read": read,
            "tile_starts": rel if self.starts is not None else None,
            "crop": [(a - r0, e - r0) for (a, e), (r0, _) in zip(core, read)],
            "core": core,
        }


class _Normalized:
    """A lazy view of the input that reads normalized float32 (the whole image's
    statistics), so each block is normalized exactly as a single-process run would."""

    def __init__(self, view: Any, normalizer: Any, channel_axis: int | None) -> None:
        self.view, self.normalizer, self.channel_axis = view, normalizer, channel_axis
        self.shape, self.ndim, self.dtype = (
            tuple(view.shape),
            len(view.shape),
            np.dtype(np.float32),
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[(slice(None),) * self.ndim]  # a resampled block reads all of it
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = idx if isinstance(idx, tuple) else (idx,)
        block = np.asarray(self.view[idx])
        if self.channel_axis is None:
            return self.normalizer(block[None])[0]
        full = idx + (slice(None),) * (self.ndim - len(idx))
        pos = sum(1 for i in full[: self.channel_axis] if not isinstance(i, (int, np.integer)))
        return np.moveaxis(self.normalizer(np.moveaxis(block, pos, 0)), 0, pos)


class _CroppedOut:
    """The labels "array" of a block: keeps the core's pixels of each written band and
    writes them straight into the store (halo pixels are dropped)."""

    def __init__(
        self, level0: Any, job: dict[str, Any], shape: tuple[int, ...], fill: bool
    ) -> None:
        self.level0, self.job, self.shape, self.fill = level0, job, shape, fill
        self.dtype = level0.dtype

    def __setitem__(self, idx: Any, values: np.ndarray) -> None:
        from .core.sizing import fill_holes

        idx = () if idx is Ellipsis else (idx if isinstance(idx, tuple) else (idx,))
        idx = idx + (slice(None),) * (len(self.shape) - len(idx))
        values = np.asarray(values)
        if self.fill:  # 3D bands hold whole Y/X planes of the block: fill them here
            values = fill_holes(values.copy())
        take, put = [], []
        for sl, n, (c0, c1), (g0, _) in zip(idx, self.shape, self.job["crop"], self.job["core"]):
            a, b, _ = sl.indices(n)
            lo, hi = max(a, c0), min(b, c1)
            if hi <= lo:
                return
            take.append(slice(lo - a, hi - a))
            put.append(slice(g0 + lo - c0, g0 + hi - c0))
        lead = tuple(slice(i, i + 1) for i in self.job["lead"])
        part = values[tuple(take)]
        self.level0[lead + tuple(put)] = part.reshape((1,) * len(lead) + part.shape)


# -- on the workers -----------------------------------------------------------------------
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
            from .core.bundle import ModelBundle

            bundle = ModelBundle.from_dict(state)
            _MODELS[key] = (bundle, _none_copy(bundle))
            BUILDS[key] = BUILDS.get(key, 0) + 1
        return _MODELS[key]


def _source(path: str, level: int) -> Any:
    """The input image (lazy), opened once per process and thread."""
    cache = getattr(_WORKER, "sources", None)
    if cache is None:
        cache = _WORKER.sources = {}
    if (path, level) not in cache:
        cache[(path, level)] = _io.read_image(path, lazy=True, level=level).data
    return cache[(path, level)]


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

    from .core.devices import resolve_device
    from .core.normalize import Normalizer
    from .core.precision import choose_precision
    from .core.sizing import predict_sized

    t0 = time.perf_counter()
    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    bundle, raw = models if models is not None else _worker_model(payload)
    data = image if image is not None else _source(spec["source"], spec["level"])
    layout = bundle.layout(tuple(data.shape), spec["channel_axis"])
    view = data[layout.index(job["lead"], tuple(slice(a, e) for a, e in job["read"]))]
    ca = layout.channel_axis
    if ca is not None:
        ca -= sum(1 for a in layout.leading_axes if a < ca)
    x = _Normalized(view, Normalizer(*spec["normalizer"]), ca)
    device = resolve_device(spec["device"])
    # The precision check belongs to the real model (the copy sees normalized input).
    precision = choose_precision(bundle, device, spec["precision"]).name
    store = LabelsStore(spec["output"])
    region = tuple(e - a for a, e in job["read"])
    fill = bundle.fill_holes if spec["fill_holes"] is None else bool(spec["fill_holes"])
    # 3D: labels stream into the store band by band; 2D: the block's labels are small.
    stream = bundle.spatial_dims == 3
    out = _CroppedOut(store.level0(), job, region, fill) if stream else None
    extra = {} if job["tile_starts"] is None else {"tile_starts": job["tile_starts"]}
    result = _drain(
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
        _CroppedOut(store.level0(), job, region, False)[...] = result.labels
    store.mark_done(job["index"])
    return {
        "seconds": time.perf_counter() - t0,
        "voxels": int(math.prod(e - a for a, e in job["core"])),
        "read_voxels": int(math.prod(region)),
        "tiles": int(result.stats.get("n_tiles", 0)),
        "predict_seconds": float(result.stats.get("seconds", 0.0)),
        "precision": result.stats.get("precision"),
        "device": result.stats.get("device"),
    }


def _build_level(output: str, level: int, region: tuple[slice, ...]) -> None:
    with _local_dask():
        LabelsStore(output).build_level(level, region)


def _drain(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


# -- the run --------------------------------------------------------------------------------
def _settings_key(spec: dict[str, Any], plan: _Plan, fingerprint: str) -> dict[str, Any]:
    """What must match for ``resume`` to continue a store (different settings would mix
    two segmentations in one volume)."""
    keys = ("source", "level", "object_size", "tile_size", "overlap", "tta", "fill_holes")
    return {
        **{k: spec[k] for k in keys},
        "model": fingerprint,
        "block": list(plan.block),
        "halo": None if plan.starts is not None else list(plan.halo),
        "shape": list(plan.out_shape),
    }


def _normalizer_from(img: Any, bundle: Any, layout: Any) -> Any:
    """Statistics of the whole image (a coarser pyramid level of a very large one: the
    percentiles barely move, and level 0 would be read whole)."""
    from .core.normalize import MAX_STAT_SAMPLES, Normalizer

    levels = getattr(img, "levels", ()) or (img.data,)
    data = img.data
    for coarser in levels[getattr(img, "level", 0) + 1 :]:
        if math.prod(data.shape) <= 64 * MAX_STAT_SAMPLES:
            break
        data = coarser
    lay = bundle.layout(tuple(data.shape), layout.channel_axis)
    return Normalizer.from_image(data, lay, bundle.normalization)


def _object_size(bundle: Any, img: Any, layout: Any, value: Any) -> tuple[Any, str]:
    """The object size for every block: measured once on a central crop for 'auto'."""
    from .core.sizing import check_object_size, choose_factors

    size = check_object_size(value, layout.spatial_shape)
    if size != "auto" or bundle.object_size is None:
        return size, ""
    sd = bundle.spatial_dims
    crop_edge = {2: 1024, 3: 160}[sd]
    spatial = tuple(
        slice(max(0, (s - crop_edge) // 2), max(0, (s - crop_edge) // 2) + crop_edge)
        for s in layout.spatial_shape
    )
    lead = tuple(s // 2 for s in layout.leading_shape)
    crop = np.asarray(img.data[layout.index(lead, spatial)])
    ca = None
    if layout.channel_axis is not None:
        ca = 0
        crop = layout.to_channels_first(crop)
    _, info = choose_factors(bundle, crop, "auto", None, ca)
    return info["image_diameter"], info["message"].replace("auto:", "auto (a central crop):", 1)


def predict_blocks_iter(
    source: str | os.PathLike,
    model: Any,
    output: str | os.PathLike,
    *,
    level: int = 0,
    client: Any = None,
    block_size: int | Sequence[int] | None = None,
    halo: int | Sequence[int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    image: Any = None,
    **options: Any,
) -> Generator[BlockProgress, None, BlocksResult]:
    """Segment ``source`` into an OME-Zarr ``output``, block by block (a generator).

    Parameters
    ----------
    source : path
        A TIFF / OME-TIFF or OME-Zarr image (``level`` picks the pyramid level). On a
        cluster every worker opens it by this path.
    model : ModelBundle, name or path
        As for :func:`napari_unetseg.api.predict`.
    output : path
        ``OUT.ome.zarr`` (new store), or the OME-Zarr ``source`` itself: the labels are
        added under its ``labels/`` group, named after the model.
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
        The already opened source (in-process runs only).
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
    from . import api
    from .batch import SegmentSettings
    from .core.precision import weights_fingerprint

    t0 = time.perf_counter()
    known = SegmentSettings().predict_options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"predict_blocks_iter() got unexpected options {unknown}.")
    opts = {**known, **options}
    object_size, fill_holes, tile_size = opts["object_size"], opts["fill_holes"], opts["tile_size"]
    overlap, batch_size, device = opts["overlap"], opts["batch_size"], opts["device"]
    precision, tta = opts["precision"], opts["tta"]
    if resume and overwrite:
        raise ValueError("Choose --resume or --overwrite, not both.")
    source = os.path.abspath(os.fspath(source))
    img = image if image is not None else _io.read_image(source, lazy=True, level=level)
    bundle = api.load_model(model)
    layout = bundle.layout(tuple(img.data.shape), img.channel_axis)
    flat = img.without_channels()
    sd = bundle.spatial_dims
    n_lead = len(layout.leading_axes)
    spatial = layout.spatial_shape

    def per_axis(value: Any, default: Sequence[int], name: str) -> tuple[int, ...]:
        vals = default if value is None else value
        vals = (vals,) * sd if isinstance(vals, (int, np.integer)) else tuple(vals)
        vals = vals * sd if len(vals) == 1 else vals  # one value for every axis
        if (
            len(vals) != sd
            or any(int(v) < 0 for v in vals)
            or (name == "block_size" and min(vals) < 1)
        ):
            raise ValueError(f"{name} must be a positive int or {sd} of them, got {value!r}.")
        return tuple(int(v) for v in vals)

    from .core.inference import resolve_tile_size, tile_starts
    from .core.sizing import choose_factors

    tile = resolve_tile_size(tile_size, spatial, bundle)
    block = per_axis(block_size, (DEFAULT_BLOCK[sd],) * sd, "block_size")
    block = (spatial[0],) + tuple(min(b, s) for b, s in zip(block[1:], spatial[1:]))
    with _local_dask():
        size, size_message = _object_size(bundle, img, layout, object_size)
    factors, _ = choose_factors(bundle, img.data, size, flat.scale, img.channel_axis)
    resampled = any(f != 1.0 for f in factors)
    # Resampled runs tile each block themselves: half a tile of context, in image pixels.
    halo_px = per_axis(halo, tuple(math.ceil(t / 2 / f) for t, f in zip(tile, factors)), "halo")
    starts = None
    if not resampled:
        starts = [tile_starts(max(s, t), t, float(overlap)) for s, t in zip(spatial, tile)]
    plan = _Plan(tuple(layout.output_shape), n_lead, block, tile, starts, halo_px)

    with _local_dask():
        normalizer = _normalizer_from(img, bundle, layout)
    fingerprint = weights_fingerprint(bundle.network)
    spec: dict[str, Any] = {
        "source": source,
        "level": int(level),
        "channel_axis": img.channel_axis,
        "normalizer": (normalizer.lo.tolist(), (normalizer.lo + 1.0 / normalizer.scale).tolist()),
        "object_size": size,
        "spacing": list(flat.scale[-sd:]),
        "fill_holes": fill_holes,
        "tile_size": list(tile),
        "overlap": float(overlap),
        "batch_size": batch_size,
        "device": device,
        "precision": precision,
        "tta": bool(tta),
        "threads": 1 if client is not None else None,
    }
    target, parent = LabelsStore.target(
        output, img if isinstance(img, _zarr_image()) else None, bundle.name
    )
    spec["output"] = target
    settings = _settings_key(spec, plan, fingerprint)
    if client is not None:
        check_visible(client, [source, os.path.dirname(target) or "."])

    from .provenance import labels_provenance, model_reference

    used = SegmentSettings(model=bundle.name, **opts).to_dict()
    provenance = labels_provenance(model_reference(model, bundle), used, source)
    store = _open_store(
        target, plan, flat, img, settings, resume, overwrite, parent, bundle, provenance
    )
    info = store.info
    if info.get("complete"):
        yield BlockProgress(1, 1, message=f"{target} is already complete; nothing to do.")
        return BlocksResult(
            target, {"blocks": 0, "skipped": int(np.prod(plan.grid)), "seconds": 0.0}
        )
    done = store.blocks_done()
    todo = [i for i in plan.boxes() if not done[i]]
    total = len(plan.boxes())
    skipped = total - len(todo)
    if size_message:
        yield BlockProgress(skipped, total, message=size_message)
    else:
        yield BlockProgress(skipped, total)

    records: list[dict[str, Any]] = []
    if client is None:
        models = (bundle, _none_copy(bundle))
        for i, index in enumerate(todo, start=1):
            records.append(
                _predict_block(None, spec, plan.job(index), image=img.data, models=models)
            )
            yield BlockProgress(skipped + i, total)
    else:
        from distributed import as_completed

        model_future = client.scatter((fingerprint, bundle.to_dict()), broadcast=True, hash=False)
        futures = [
            client.submit(_predict_block, model_future, spec, plan.job(index), pure=False)
            for index in todo
        ]
        try:
            for i, fut in enumerate(as_completed(futures), start=1):
                records.append(_result(fut))
                yield BlockProgress(skipped + i, total)
        finally:
            client.cancel(futures)
    block_seconds = time.perf_counter() - t0

    # Pyramid, level by level, then the metadata that marks the store complete.
    store.prepare_levels()
    tasks = store.pyramid_tasks()
    for lvl in sorted({t[0] for t in tasks}):
        regions = [r for n, r in tasks if n == lvl]
        if client is None:
            for r in regions:
                store.build_level(lvl, r)
        else:
            futs = client.map(
                _build_level, [target] * len(regions), [lvl] * len(regions), regions, pure=False
            )
            for f in futs:
                _result(f)
        yield BlockProgress(total, total, stage="pyramid")
    store.finish(name=os.path.basename(target) if parent else bundle.name, image=parent)
    seconds = time.perf_counter() - t0
    voxels = sum(r["voxels"] for r in records)
    compute = sum(r["seconds"] for r in records)
    return BlocksResult(
        target,
        {
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
            "task_overhead_per_block": (compute - sum(r["predict_seconds"] for r in records))
            / max(len(records), 1),
            "idle_per_block": (
                block_seconds * max(1, len(client.scheduler_info()["workers"]) if client else 1)
                - compute
            )
            / max(len(records), 1),
            "precision": ",".join(sorted({str(r["precision"]) for r in records})) or None,
            "device": ",".join(sorted({str(r["device"]) for r in records})) or None,
            "block": plan.block,
            "halo": None if plan.starts is not None else plan.halo,
            "object_size": size_message or None,
            "workers": len(client.scheduler_info()["workers"]) if client is not None else 0,
        },
    )


def predict_blocks(
    source: str | os.PathLike, model: Any, output: str | os.PathLike, **options: Any
) -> BlocksResult:
    """:func:`predict_blocks_iter` run to the end."""
    return _drain(predict_blocks_iter(source, model, output, **options))


def _zarr_image() -> type:
    from ._zarr import ZarrImageData

    return ZarrImageData


def _none_copy(bundle: Any) -> Any:
    raw = bundle.copy()
    raw.normalization = {**raw.normalization, "mode": "none"}
    return raw


def _result(future: Any) -> Any:
    """A finished task's result; a failed block ends the run with its one sentence."""
    try:
        return future.result()
    except (ValueError, OSError, MemoryError) as exc:
        raise type(exc)(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
        raise ClusterError(
            f"A block failed on the cluster ({type(exc).__name__}: {exc})."
        ) from exc


def _open_store(
    target: str,
    plan: _Plan,
    flat: Any,
    img: Any,
    settings: dict[str, Any],
    resume: bool,
    overwrite: bool,
    parent: str | None,
    bundle: Any,
    provenance: dict[str, Any] | None = None,
) -> LabelsStore:
    if os.path.exists(target) and resume:
        store = LabelsStore(target)
        try:
            recorded = store.info.get("settings")
        except ValueError as exc:
            raise ValueError(f"Cannot resume {target!r}: {exc}") from exc
        if recorded != settings:
            changed = sorted(k for k in settings if recorded.get(k) != settings[k])
            raise ValueError(
                f"Cannot resume {target!r}: it was started with other settings "
                f"({', '.join(changed)}); use --overwrite to start again."
            )
        return store
    translate = None if flat.translate is None else tuple(flat.translate)
    return LabelsStore.create(
        target,
        shape=plan.out_shape,
        chunks=plan.chunks,
        block_grid=plan.grid,
        axes=flat.axes,
        scale=tuple(flat.scale),
        units=flat.units,
        translate=translate,
        version=getattr(img, "version", "0.4"),
        dtype=np.uint8 if bundle.n_labels <= 255 else np.uint16,
        settings=settings,
        overwrite=overwrite,
        image=parent,
        provenance=provenance,
    )


# -- many files: one task each ---------------------------------------------------------------
def _segment_one(item: tuple[str, str, str | None], settings: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    import torch

    from .batch import SegmentSettings, segment_files_iter

    torch.set_num_threads(1)
    src, dst, pdst = item
    plan = [(Path(src), Path(dst), Path(pdst) if pdst else None)]
    report = _drain(segment_files_iter(plan, SegmentSettings(**settings)))
    row = report.results[0]
    return {
        "input": row.input,
        "output": row.output,
        "error": row.error,
        "seconds": row.seconds,
        "notes": list(row.notes),
        "stats": {k: v for k, v in row.stats.items() if isinstance(v, (int, float, str))},
    }


def segment_files_on_cluster(
    client: Any, plan: Sequence[tuple[Any, Any, Any]], settings: Any
) -> Generator[BlockProgress, None, list[dict[str, Any]]]:
    """One task per file of a batch plan (:func:`napari_unetseg.batch.plan_batch`); yields
    progress per finished file and returns one row per file (``error`` None when it
    worked)."""
    from distributed import as_completed

    paths = [os.path.abspath(os.fspath(p)) for row in plan for p in row[:1]]
    check_visible(client, paths)
    items = [(str(s), str(d), None if p is None else str(p)) for s, d, p in plan]
    futures = [client.submit(_segment_one, it, settings.to_dict(), pure=False) for it in items]
    rows = []
    try:
        for i, fut in enumerate(as_completed(futures), start=1):
            rows.append(_result(fut))
            yield BlockProgress(i, len(futures), stage="files")
    finally:
        client.cancel(futures)
    order = {it[0]: k for k, it in enumerate(items)}
    return sorted(rows, key=lambda r: order.get(r["input"], 0))
