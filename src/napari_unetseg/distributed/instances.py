"""Touching objects split apart block by block: instance labels for images that do not fit
in one machine's memory (``predict_blocks_iter(split_touching=True)``).

After the semantic labels are written, two more passes run over the store, here or on
the cluster:

1. **Split.** The semantic labels are cut into blocks along every axis the split works in
   (:func:`napari_unetseg.postprocess.split_dims`). Each block reads a margin of
   :data:`MARGIN_DIAMETERS` object diameters around itself and splits what it read with
   :func:`~napari_unetseg.postprocess.split_touching`, the same distance-transform
   watershed as a single-process run. An object that crosses a block border is seen
   whole by every block it touches, so each of them finds it with the same voxels; it is
   named after its first voxel in C order (its linear index in the whole image, plus 1),
   which every such block computes alike. Each block writes the names of its own voxels
   into a scratch array of the store.
2. **Number.** The names found (kept in the store) are sorted, and every chunk of the
   labels is rewritten with consecutive ids 1..N, in the order of the objects' first
   voxels.

Memory per task is bounded by the block and its margin, not by the image. An object
longer than the margin (a clump of several diameters) may be named differently on the
two sides of a block border and come out cut there; the agreement with a single-process
split is measured in ``tests/test_distributed.py``. A run interrupted after pass 1
resumes at pass 2 (the semantic labels are only replaced in pass 2, from the scratch
array).
"""

from __future__ import annotations

import math
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._zarr_labels import LabelsStore
from .records import BlockProgress, _result

#: The margin each split block reads around itself, in object diameters.
MARGIN_DIAMETERS = 2.0
#: Split block edge (in pixels, per split axis) for 2D and 3D splits: with the margin
#: around it, a 3D block of nuclei 20 px across reads about 7 M voxels (some 350 MB at
#: the watershed's peak).
SPLIT_BLOCK = {2: 1024, 3: 128}
#: Scratch arrays inside the labels store while the split runs (removed at the end).
SCRATCH, NAMES = "unetseg_instances", "unetseg_instance_names"


@dataclass
class SplitPlan:
    """The split blocks: leading positions x blocks of the ``dims`` trailing axes."""

    shape: tuple[int, ...]
    dims: int
    block: tuple[int, ...]
    margin: tuple[int, ...]
    sampling: tuple[float, ...] | None

    @classmethod
    def make(
        cls,
        shape: Sequence[int],
        model_dims: int,
        scale: Sequence[float] | None,
        diameter: float,
        time_axis: int | None = None,
    ) -> SplitPlan:
        """The plan for labels of ``shape`` whose objects are ``diameter`` pixels across
        (in the finest split axis; coarser axes get fewer margin pixels), split inside
        each time point of ``time_axis``."""
        from ..postprocess import split_dims

        shape = tuple(int(s) for s in shape)
        dims = split_dims(len(shape), model_dims, time_axis)
        sampling = tuple(float(s) for s in scale[-dims:]) if scale else None
        steps = sampling or (1.0,) * dims
        finest = min(steps)
        margin = tuple(
            min(n, max(4, math.ceil(MARGIN_DIAMETERS * diameter * finest / s)))
            for n, s in zip(shape[-dims:], steps)
        )
        block = tuple(min(n, SPLIT_BLOCK[min(dims, 3)]) for n in shape[-dims:])
        return cls(shape, dims, block, margin, sampling)

    @property
    def lead(self) -> tuple[int, ...]:
        return self.shape[: len(self.shape) - self.dims]

    @property
    def grid(self) -> tuple[int, ...]:
        inner = self.shape[-self.dims :]
        return self.lead + tuple(math.ceil(n / b) for n, b in zip(inner, self.block))

    def jobs(self) -> list[dict[str, Any]]:
        """Every block: its leading position, its core and the box it reads."""
        out = []
        n_lead = len(self.lead)
        inner = self.shape[-self.dims :]
        for index in np.ndindex(*self.grid):
            lead, cell = index[:n_lead], index[n_lead:]
            core = [(i * b, min((i + 1) * b, n)) for i, b, n in zip(cell, self.block, inner)]
            read = [
                (max(0, a - m), min(n, e + m)) for (a, e), m, n in zip(core, self.margin, inner)
            ]
            out.append({"lead": tuple(int(i) for i in lead), "core": core, "read": read})
        return out


def split_touching_blocks(
    store: LabelsStore, plan: SplitPlan, client: Any
) -> Generator[BlockProgress, None, int]:
    """Pass 1 and 2 (module docstring) on ``store``, whose level 0 holds the semantic
    labels; yields progress, returns the number of objects."""
    info = store.info
    if info.get("instances") == "numbered":  # resumed after both passes
        return int(info.get("objects", 0))
    if info.get("instances") != "named":
        _make_scratch(store, plan)
        jobs = plan.jobs()
        found: list[np.ndarray] = []
        for i, names in enumerate(_run(_split_block, store.path, plan, jobs, client), 1):
            found.append(names)
            yield BlockProgress(i, len(jobs), stage="split")
        names = np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)
        _save_names(store, names)
    regions = _chunk_regions(store)
    for i, _ in enumerate(_run(_number_chunk, store.path, None, regions, client), 1):
        yield BlockProgress(i, len(regions), stage="number")
    n = int(_names(store).size)
    store.drop_scratch(SCRATCH, NAMES)
    store.set_info(instances="numbered", objects=n)
    return n


def _run(
    task: Any, path: str, plan: SplitPlan | None, items: list[Any], client: Any
) -> Generator[Any, None, None]:
    """``task(path, plan, item)`` for every item, here in order or on the cluster."""
    if client is None:
        for item in items:
            yield task(path, plan, item)
        return
    from distributed import as_completed

    futures = [client.submit(task, path, plan, item, pure=False) for item in items]
    try:
        for fut in as_completed(futures):
            yield _result(fut)
    finally:
        client.cancel(futures)


def _split_block(path: str, plan: SplitPlan, job: dict[str, Any]) -> np.ndarray:
    """Split one block (with its margin) and write its core's object names; returns the
    names it wrote."""
    from scipy import ndimage as ndi

    from ..postprocess import split_touching

    store = LabelsStore(path)
    lead = tuple(job["lead"])
    read = tuple(slice(a, e) for a, e in job["read"])
    semantic = np.asarray(store.level0(mode="r")[lead + read])
    if not semantic.any():
        return np.zeros(0, np.uint64)
    local = split_touching(semantic, sampling=plan.sampling)
    ids = np.unique(local[local > 0])
    # Name each object after its deepest voxel (farthest from the background; the first
    # in C order among equals), in the whole image's indexing: a voxel well inside the
    # object, which every block that sees the object finds alike.
    depth = ndi.distance_transform_edt(semantic > 0, sampling=plan.sampling)
    deepest = np.zeros(int(local.max()) + 1)
    deepest[ids] = ndi.maximum(depth, local, ids)
    at = np.flatnonzero((local > 0) & (depth == deepest[local]))  # in C order
    _, first = np.unique(local.ravel()[at], return_index=True)
    where = np.unravel_index(at[first], local.shape)
    full = tuple(np.full(ids.shape, i) for i in lead) + tuple(
        w + a for w, (a, _) in zip(where, job["read"])
    )
    lut = np.zeros(int(local.max()) + 1, np.uint64)
    lut[ids] = np.ravel_multi_index(full, plan.shape).astype(np.uint64) + 1
    crop = tuple(slice(a - r, e - r) for (a, e), (r, _) in zip(job["core"], job["read"]))
    named = lut[local[crop]]
    core = tuple(slice(a, e) for a, e in job["core"])
    _scratch(store, "r+")[lead + core] = named
    return np.unique(named[named > 0])


def _number_chunk(path: str, _plan: Any, region: tuple[slice, ...]) -> None:
    """Rewrite one chunk of level 0 with consecutive ids from the scratch names."""
    store = LabelsStore(path)
    names = _names(store)
    named = np.asarray(_scratch(store, "r")[region])
    out = np.zeros(named.shape, store.level0(mode="r").dtype)
    hit = named > 0
    out[hit] = np.searchsorted(names, named[hit]) + 1
    store.level0()[region] = out


# -- the scratch arrays ------------------------------------------------------------------
def _scratch(store: LabelsStore, mode: str) -> Any:
    import zarr

    return zarr.open_array(os.path.join(store.path, SCRATCH), mode=mode)


def _names(store: LabelsStore) -> np.ndarray:
    import zarr

    return np.asarray(zarr.open_array(os.path.join(store.path, NAMES), mode="r")[...])


def _make_scratch(store: LabelsStore, plan: SplitPlan) -> None:
    chunks = (1,) * len(plan.lead) + plan.block
    store.create_scratch(SCRATCH, plan.shape, chunks, np.uint64)


def _save_names(store: LabelsStore, names: np.ndarray) -> None:
    if names.size >= np.iinfo(store.level0(mode="r").dtype).max:
        raise ValueError(f"{names.size} objects are more than the labels' data type can number.")
    array = store.create_scratch(
        NAMES, names.shape, (max(1, min(names.size, 1 << 20)),), np.uint64
    )
    array[...] = names
    store.set_info(instances="named")


def _chunk_regions(store: LabelsStore) -> list[tuple[slice, ...]]:
    """Level 0's chunks: each is rewritten by one task, so no two write the same chunk."""
    base = store.level0(mode="r")
    return [
        tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(start, base.chunks, base.shape))
        for start in np.ndindex(*(math.ceil(s / c) for s, c in zip(base.shape, base.chunks)))
    ]
