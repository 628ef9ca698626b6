"""Scale-out benchmark: ``unetseg predict`` block by block on a dask.distributed cluster.

Measured, in one run (figures printed, optionally written as JSON / Markdown):

1. **Throughput with 1 and 2 workers** (LocalCluster, single-threaded worker processes)
   on the same OME-Zarr image, as the median of ``--reps`` warm runs, and the scaling
   efficiency ``t1 / (2 t2)``; the in-process block run and the whole-image single-process
   run beside them. Labels of every run are compared with the single-process run.
2. **Per-block overhead**: the same image cut into many small blocks vs few large ones;
   the extra seconds per extra block (scheduling, opening the input and the store,
   writing chunks) and the redundant tiles (tiles that straddle a block border run in
   both blocks).
3. **Projection to N nodes** from the measured per-block compute and per-block
   overhead (assumptions printed with it).
4. **A volume larger than the workers' memory** (``--big-gib`` of uint16 data, two
   workers limited to ``--worker-memory`` each): it completes, with each worker's peak
   resident memory reported, and sampled planes checked against single-process runs.

Run ``python benchmarks/bench_scaleout.py`` (``--quick`` for a few minutes). The machine
is shared with other jobs: the load average is recorded before and after; prefer the
ratios measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_unetseg import _zarr, _zarr_labels, api
from napari_unetseg import distributed as dist
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.synthetic import synthetic_nuclei


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_ome_zarr(path: Path, data: np.ndarray, axes: str, chunks: tuple[int, ...]) -> None:
    """An OME-Zarr image (NGFF 0.4) written with ome-zarr-py, one level."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    write_image(
        data,
        root,
        axes=axes,
        fmt=FormatV04(),
        scale_factors=(),
        storage_options={"chunks": chunks},
    )


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_blocks(src: Path, out: Path, model: Any, client: Any, block: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    seconds, result = timed(
        lambda: dist.predict_blocks(
            src, model, out, client=client, block_size=block, object_size=None
        )
    )
    return {"seconds": seconds, **result.stats}


def agreement(out: Path, reference: np.ndarray) -> float:
    return float((np.asarray(_zarr.read_ome_zarr(out).data) == reference).mean())


def worker_peaks(client: Any) -> dict[str, int]:
    """Peak resident memory (bytes) of each worker process."""

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    return client.run(peak)


def bench_scaling(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    shape = tuple(args.shape)
    image, _ = synthetic_nuclei(shape, seed=0)
    src = work / "image.ome.zarr"
    # Chunks no larger than the image: a 512-plane chunk of a 64-plane volume is stored
    # (and decoded) whole, 8x the data read.
    chunks = tuple(min(512, s) for s in shape)
    write_ome_zarr(src, image, "yx" if len(shape) == 2 else "zyx", chunks)
    model = api.load_model(args.model)
    print(f"image {shape} ({image.nbytes / 2**20:.0f} MiB), model {args.model}", flush=True)

    api.predict(image, model, object_size=None)  # warm-up: imports, precision check
    t_single, single = timed(lambda: api.drain(api.predict_iter(image, model, object_size=None)))
    reference = single.labels
    report["tiles_single"] = single.stats["n_tiles"]
    rows: dict[str, Any] = {"single process (whole image)": {"seconds": t_single}}
    local = run_blocks(src, work / "local.ome.zarr", model, None, args.block)
    rows["blocks, in process"] = local | {
        "agreement": agreement(work / "local.ome.zarr", reference)
    }

    # Both clusters stay up and their runs alternate (1, 2, 1, 2, ...): this virtual
    # machine's speed drifts by 10-20 % over minutes, which would bias two runs made one
    # after the other. Idle workers cost no CPU.
    clients = {n: dist.connect(workers=n, processes=True) for n in (1, 2)}
    try:
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for client in clients.values():  # warm-up: imports, model build, precision check
            run_blocks(src, work / "warm.ome.zarr", model, client, args.block)
        for _ in range(args.reps):
            for n, client in clients.items():
                runs[n].append(run_blocks(src, work / f"w{n}.ome.zarr", model, client, args.block))
        for n, reps in runs.items():
            best = sorted(reps, key=lambda r: r["seconds"])[len(reps) // 2]
            best["all_seconds"] = [r["seconds"] for r in reps]
            best["agreement"] = agreement(work / f"w{n}.ome.zarr", reference)
            rows[f"{n} worker{'s' * (n > 1)}"] = best
        pairs = [a["seconds"] / b["seconds"] for a, b in zip(runs[1], runs[2])]
        report["pairwise_speedups"] = pairs
        # per-block overhead: many small blocks vs few large ones
        small = run_blocks(src, work / "small.ome.zarr", model, clients[1], args.small_block)
        report["overhead"] = overhead(rows["1 worker"], small)
    finally:
        for client in clients.values():
            dist.close(client)
    t1, t2 = rows["1 worker"]["seconds"], rows["2 workers"]["seconds"]
    report["scaling"] = {
        "rows": rows,
        "speedup_2_vs_1": t1 / t2,
        "efficiency": t1 / (2 * t2),
        "voxels": image.size,
    }
    print("\n## Throughput with 1 and 2 workers\n")
    print("| run | blocks | wall s | voxels/s | labels equal to single process |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        agree = f"{r['agreement']:.4%}" if "agreement" in r else "(reference)"
        print(
            f"| {name} | {r.get('blocks', '-')} | {r['seconds']:.2f} | "
            f"{image.size / r['seconds']:,.0f} | {agree} |"
        )
    pairs = ", ".join(f"{p:.2f}" for p in report["pairwise_speedups"])
    print(
        f"\n2 workers vs 1: {t1 / t2:.2f}x (efficiency {t1 / (2 * t2):.0%}); pair by pair {pairs}"
    )
    o = report["overhead"]
    one = rows["1 worker"]
    print(
        f"\nPer block with 1 worker: {one['task_overhead_per_block']:.3f} s of a task outside "
        f"the engine (input, store, writes), {one['idle_per_block']:.3f} s of the wall clock "
        f"in no task (scheduling); tiles run {one['tiles']} vs a single process's "
        f"{report['tiles_single']}"
    )
    print(
        f"Per-block overhead: {o['seconds_per_extra_block']:.3f} s per extra block "
        f"({o['blocks_large']} blocks of {args.block} px: {o['seconds_large']:.2f} s; "
        f"{o['blocks_small']} blocks of {args.small_block} px: {o['seconds_small']:.2f} s); "
        f"pixels read beyond the blocks (halo of whole tiles) {o['extra_read_large']:.1%} / "
        f"{o['extra_read_small']:.1%}"
    )
    project(report, rows["1 worker"], args)


def overhead(large: dict[str, Any], small: dict[str, Any]) -> dict[str, Any]:
    extra = small["blocks"] - large["blocks"]
    return {
        "blocks_large": large["blocks"],
        "blocks_small": small["blocks"],
        "seconds_large": large["seconds"],
        "seconds_small": small["seconds"],
        "seconds_per_extra_block": (small["seconds"] - large["seconds"]) / max(extra, 1),
        "extra_read_large": large["read_overhead"] - 1,
        "extra_read_small": small["read_overhead"] - 1,
    }


def project(report: dict[str, Any], one: dict[str, Any], args: argparse.Namespace) -> None:
    """Time on N nodes of ``cores`` workers for a volume of ``--project-gvox`` voxels."""
    per_voxel = one["block_compute_seconds"] / one["voxels"]  # compute + block I/O, 1 core
    per_block = max(report["overhead"]["seconds_per_extra_block"], 0.0)
    block_vox = one["voxels"] / max(one["blocks"], 1)
    total = args.project_gvox * 1e9
    n_blocks = math.ceil(total / block_vox)
    rows = []
    for nodes in (1, 4, 16, 64):
        workers = nodes * args.cores
        waves = math.ceil(n_blocks / workers)
        seconds = waves * (block_vox * per_voxel + per_block)
        rows.append({"nodes": nodes, "workers": workers, "hours": seconds / 3600})
    report["projection"] = {
        "gvoxels": args.project_gvox,
        "cores_per_node": args.cores,
        "seconds_per_voxel_per_core": per_voxel,
        "overhead_per_block_s": per_block,
        "block_voxels": block_vox,
        "rows": rows,
    }
    print(
        f"\n## Projection: {args.project_gvox:g} Gvoxels, {args.cores} single-threaded workers "
        f"per node\n\nAssumptions: the measured {per_voxel * 1e6:.2f} core-µs per voxel "
        f"(blocks of {block_vox:,.0f} voxels, compute and block I/O) and {per_block:.3f} s "
        "per block hold on every core; storage and the scheduler keep up (the input and "
        "output bandwidth needed is a few MB/s per worker); whole waves of blocks.\n"
    )
    print("| nodes | workers | hours |\n|---|---|---|")
    for r in rows:
        print(f"| {r['nodes']} | {r['workers']} | {r['hours']:.2f} |")


def bench_big(args: argparse.Namespace, work: Path, report: dict[str, Any]) -> None:
    """A uint16 stack of 2D planes larger than the workers' memory, tiny 2D model."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscales_metadata

    side = args.big_side
    n_planes = max(1, int(args.big_gib * 2**30 // (side * side * 2)))
    src = work / "big.ome.zarr"
    root = zarr.open_group(str(src), mode="w", zarr_format=2)
    arr = root.create_array(
        "0",
        shape=(n_planes, side, side),
        chunks=(1, side, side),
        dtype="u2",
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    tile, _ = synthetic_nuclei((side, side), seed=5)
    print(
        f"\nwriting {n_planes} planes of {side}x{side} uint16 = "
        f"{n_planes * side * side * 2 / 2**30:.2f} GiB ...",
        flush=True,
    )
    for z in range(n_planes):
        arr[z] = np.roll(tile, 37 * z, axis=1)
    write_multiscales_metadata(
        root,
        [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}],
        fmt=FormatV04(),
        axes=["z", "y", "x"],
    )
    torch.manual_seed(0)
    model = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    client = dist.connect(workers=2, processes=True, memory_limit=args.worker_memory)
    try:
        out = work / "big_labels.ome.zarr"
        seconds, result = timed(
            lambda: dist.predict_blocks(src, model, out, client=client, object_size=None)
        )
        peaks = worker_peaks(client)
    finally:
        dist.close(client)
    store = _zarr_labels.LabelsStore(out)
    labels = _zarr.read_ome_zarr(out)
    checks = []
    for z in (0, n_planes // 2, n_planes - 1):
        ref = api.predict(np.asarray(arr[z]), model, object_size=None)
        checks.append(float((np.asarray(labels.data[z]) == ref).mean()))
    data_bytes = n_planes * side * side * 2
    report["big"] = {
        "data_bytes": data_bytes,
        "planes": n_planes,
        "worker_memory_limit": args.worker_memory,
        "worker_peak_rss": peaks,
        "seconds": seconds,
        "complete": bool(store.info["complete"]) and bool(store.blocks_done().all()),
        "sampled_plane_agreement": checks,
        "blocks": result.stats["blocks"],
    }
    print(
        f"\n## Larger than the workers' memory\n\n{data_bytes / 2**30:.2f} GiB of uint16 data, "
        f"2 workers limited to {args.worker_memory} each: {result.stats['blocks']} blocks in "
        f"{seconds:.0f} s, complete={report['big']['complete']}; worker peak RSS "
        + ", ".join(f"{v / 2**20:.0f} MiB" for v in peaks.values())
        + f"; sampled planes vs single process: {', '.join(f'{c:.4%}' for c in checks)}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small cases (a few minutes)")
    p.add_argument("--model", default="nuclei-2d", help="model of the scaling runs")
    p.add_argument("--shape", type=int, nargs="+", default=None, help="Y X (or Z Y X)")
    p.add_argument("--block", type=int, default=None, help="block edge of the scaling runs")
    p.add_argument("--small-block", type=int, default=None, help="block edge, overhead run")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--big-gib", type=float, default=None, help="size of the large volume")
    p.add_argument("--big-side", type=int, default=1024, help="plane edge of the large volume")
    p.add_argument("--worker-memory", default="1GiB", help="memory limit per worker, large run")
    p.add_argument("--no-big", action="store_true", help="skip the large volume")
    p.add_argument("--no-scaling", action="store_true", help="only the large volume")
    p.add_argument("--project-gvox", type=float, default=1000.0, help="projected volume")
    p.add_argument("--cores", type=int, default=32, help="workers per node, projection")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--workdir", default=None, help="folder for the stores (default: temp)")
    args = p.parse_args(argv)
    args.shape = args.shape or ([1024, 2048] if args.quick else [2048, 4096])
    args.block = args.block or (512 if args.quick else 1024)
    args.small_block = args.small_block or (128 if args.quick else 256)
    args.big_gib = args.big_gib if args.big_gib is not None else (0.25 if args.quick else 4.0)
    if args.quick:
        args.reps = min(args.reps, 1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "load_before": load(),
        },
        "command": " ".join(["python", Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
    }
    print(json.dumps(report, indent=1), flush=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="unetseg-scaleout-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        if not args.no_scaling:
            bench_scaling(args, work, report)
        if not args.no_big:
            bench_big(args, work, report)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report["machine"]["load_after"] = load()
    report["total_s"] = time.perf_counter() - t0
    print(
        f"\nload average before {report['machine']['load_before']}, after "
        f"{report['machine']['load_after']}; total {report['total_s']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
