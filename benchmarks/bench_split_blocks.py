"""Touching objects split block by block (``predict_blocks(..., split_touching=True)``)
against the same split done on the whole image in one process.

For a 2D image and a 3D volume of synthetic nuclei, side by side in one run:

- the block run without the split (semantic labels), the block run with it, and
  ``api.segment(split_touching=True)`` on the whole image: seconds, and the split's own
  share of the block run;
- whether the block run's objects are the one-process run's objects (same foreground,
  one to one), and how many there are;
- the block run with the split on a LocalCluster of 2 single-threaded workers.

Run ``python benchmarks/bench_split_blocks.py`` (``--quick``: smaller images). The split
block edge is the shipped one (:data:`napari_unetseg.distributed.instances.SPLIT_BLOCK`)
unless ``--split-block`` sets it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from napari_unetseg import _io, _zarr, api
from napari_unetseg import distributed as dist
from napari_unetseg.core.synthetic import synthetic_nuclei
from napari_unetseg.distributed import instances


def same_objects(ours: np.ndarray, theirs: np.ndarray) -> tuple[bool, int, int]:
    """(same foreground cut into the same objects, our count, their count)."""
    fg = ours > 0
    n_ours, n_theirs = len(np.unique(ours[fg])), len(np.unique(theirs[theirs > 0]))
    if not np.array_equal(fg, theirs > 0):
        return False, n_ours, n_theirs
    pairs = np.unique(np.stack([ours[fg], theirs[fg]]), axis=1).shape[1]
    return pairs == n_ours == n_theirs, n_ours, n_theirs


def case(
    name: str, shape: tuple[int, ...], model: str, block: int, folder: Path, client: Any
) -> dict[str, Any]:
    image, _ = synthetic_nuclei(shape, seed=11)
    axes = "ZYX" if len(shape) == 3 else "YX"
    scale = (2.0, 1.0, 1.0) if len(shape) == 3 else (1.0, 1.0)
    src = folder / f"{name}.tif"
    _io.write_image(src, image, axes=axes, scale=scale)
    opts = {"object_size": None, "block_size": block, "overwrite": True}
    row: dict[str, Any] = {"case": name, "shape": list(shape), "model": model, "block": block}

    for _ in range(2):  # the first run also loads and calibrates the model: not timed
        t0 = time.perf_counter()
        dist.predict_blocks(src, model, folder / "semantic.ome.zarr", **opts)
        row["blocks_semantic_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    out = folder / "split.ome.zarr"
    result = dist.predict_blocks(src, model, out, split_touching=True, **opts)
    row["blocks_split_s"] = time.perf_counter() - t0
    ours = np.asarray(_zarr.read_ome_zarr(out).data)

    t0 = time.perf_counter()
    whole = api.segment(image, model, object_size=None, split_touching=True, scale=scale)
    row["one_process_split_s"] = time.perf_counter() - t0
    row["same_objects"], row["objects_blocks"], row["objects_one_process"] = same_objects(
        ours, whole
    )
    row["split_share"] = 1 - row["blocks_semantic_s"] / row["blocks_split_s"]
    assert result.stats["objects"] == row["objects_blocks"]

    if client is not None:
        t0 = time.perf_counter()
        out2 = folder / "split_cluster.ome.zarr"
        dist.predict_blocks(src, model, out2, split_touching=True, client=client, **opts)
        row["cluster_2_workers_split_s"] = time.perf_counter() - t0
        theirs = np.asarray(_zarr.read_ome_zarr(out2).data)
        row["cluster_same_objects"] = same_objects(theirs, whole)[0]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--split-block", type=int, nargs=2, default=None, metavar=("2D", "3D"))
    p.add_argument("--no-cluster", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.split_block:
        instances.SPLIT_BLOCK.update({2: args.split_block[0], 3: args.split_block[1]})
    cases = [
        ("plane", (1024, 1024) if args.quick else (2048, 2048), "nuclei-2d", 512),
        ("volume", (32, 256, 256) if args.quick else (64, 384, 384), "nuclei-3d", 192),
    ]
    client = None if args.no_cluster else dist.connect(workers=2, processes=True)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, shape, model, block in cases:
                row = case(name, shape, model, block, Path(tmp), client)
                rows.append(row)
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                                  for k, v in row.items()}))  # fmt: skip
    finally:
        if client is not None:
            dist.close(client)
    meta = {"split_block": dict(instances.SPLIT_BLOCK), "load": os.getloadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
