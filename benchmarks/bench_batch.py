"""Per-file overhead of batch segmentation (``unetseg predict DIR/*.tif``, "Apply to folder").

Many small images (default 40 synthetic-nuclei images of 256 x 256) are segmented by
:func:`napari_unetseg.batch.segment_files_iter` (read each TIFF, segment, count objects
and foreground, write the labels TIFF with its provenance). Right after the batch
finishes a file, the same image, already in memory, is segmented again by
:func:`napari_unetseg.api.segment_iter` with the same loaded model and settings (what a
script or the widget's Run does). The pairs are timed side by side, so drifts in the
load of a shared machine hit both members of a pair alike; wall-clock and process CPU
times are both reported (the CPU time is the steadier figure under load).

per-file overhead = (batch file - in-memory segmentation) / in-memory segmentation,
the median over the files and the ratio of the sums; the once-per-batch setup before
the first file (checks, loading and hashing the model) is shown on its own. The pieces (read, count, write) are timed alone on the same files.
Target: under 10 % for 256 x 256 images.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_batch.py            # 40 images
    python benchmarks/bench_batch.py --n 100 --size 512 --model nuclei-2d
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import machine  # noqa: E402

from napari_unetseg import _io, api, batch  # noqa: E402
from napari_unetseg.core.synthetic import synthetic_nuclei  # noqa: E402


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t: tuple[float, float]) -> tuple[float, float]:
    now = _clock()
    return now[0] - t[0], now[1] - t[1]


def _segment(img, model, settings: batch.SegmentSettings) -> None:
    api.drain(
        api.segment_iter(
            img.data,
            model,
            split_touching=settings.split_touching,
            scale=img.without_channels().scale,
            **settings.predict_options(),
        )
    )


def paired_times(plan, images, model, settings) -> tuple[list[tuple[float, ...]], float]:
    """Per file: (batch wall, batch CPU, in-memory wall, in-memory CPU) seconds; and the
    batch's setup time before its first file (checks, model loaded and hashed).

    The in-memory segmentation of image i runs just before the batch starts file i
    for even i, just after it finished file i for odd i (so neither always goes first).
    """
    pairs = []
    memory: dict[int, tuple[float, float]] = {}

    def in_memory(i: int) -> None:
        t = _clock()
        _segment(images[i], model, settings)
        memory[i] = _since(t)

    gen = batch.segment_files_iter(plan, settings)
    start = _clock()
    setup = None
    for record in gen:
        if setup is None:
            setup = _since(start)[0]
        if record.finished is None:
            if record.total == 0 and record.index % 2 == 0 and record.index not in memory:
                in_memory(record.index)  # before the batch reads the file
                start = _clock()
            continue
        assert record.finished.ok, record.finished.error
        b_wall, b_cpu = _since(start)
        if record.index not in memory:
            in_memory(record.index)
        pairs.append((b_wall, b_cpu, *memory[record.index]))
        start = _clock()
    return pairs, setup or 0.0


def _pieces(paths: list[Path], out: Path) -> dict[str, float]:
    """Milliseconds per file for reading, counting and writing alone (median of the files)."""
    from napari_unetseg.batch import _count

    read, count, write = [], [], []
    for src in paths:
        dst = out / f"{src.stem}_labels.tif"
        t0 = time.perf_counter()
        img = _io.read_image(src)
        t1 = time.perf_counter()
        labels = _io.read_image(dst).data
        t2 = time.perf_counter()
        _count(labels, False)
        t3 = time.perf_counter()
        _io.write_labels(
            out / "piece.tif",
            labels,
            scale=img.scale,
            provenance={"model": "x", "settings": {"tile_size": 256}},
        )
        t4 = time.perf_counter()
        read.append(t1 - t0)
        count.append(t3 - t2)
        write.append(t4 - t3)
    return {
        k: 1000 * statistics.median(v)
        for k, v in (
            ("read the image TIFF", read),
            ("count objects and foreground", count),
            ("write the labels TIFF with provenance", write),
        )
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40, help="number of images")
    p.add_argument("--size", type=int, default=256, help="image edge in pixels")
    p.add_argument("--model", default="nuclei-2d")
    p.add_argument("--device", default="cpu")
    p.add_argument("--split-touching", action="store_true")
    args = p.parse_args(argv)

    from napari_unetseg.provenance import _FILE_HASHES, model_reference

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        for i in range(args.n):
            image, _ = synthetic_nuclei((args.size, args.size), seed=i)
            _io.write_image(folder / f"img{i:04d}.tif", image, scale=(0.5, 0.5), axes="YX")
        paths = batch.list_images([folder])
        images = [_io.read_image(p) for p in paths]
        settings = batch.SegmentSettings(
            model=args.model, device=args.device, split_touching=args.split_touching
        )
        model = api.load_model(args.model)
        for img in images[:2]:  # warm-up: imports and first-call costs
            _segment(img, model, settings)
        out = Path(tmp) / "out"
        pairs, setup = paired_times(batch.plan_batch([folder], out), images, model, settings)
        pieces = _pieces(paths, out)
        _FILE_HASHES.clear()
        t = time.perf_counter()
        fresh = api.load_model(args.model)
        loading = time.perf_counter() - t
        t = time.perf_counter()
        model_reference(args.model, fresh)
        hashing = time.perf_counter() - t

    load = os.getloadavg()
    rest = pairs
    print(
        f"# bench_batch: {args.n} images of {args.size} x {args.size}, model {args.model}, "
        f"device {args.device}"
    )
    print(f"\nmachine: {machine()}")
    print(f"load average (1/5/15 min) at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    print(
        "| clock | in-memory segmentation, ms per file (median) | batch, ms per file "
        "(median) | overhead, ms per file (median) | overhead / segmentation (median of "
        "files) | ratio of sums - 1 |"
    )
    print("|---|---|---|---|---|---|")
    result = {}
    for name, b, m in (("wall", 0, 2), ("CPU", 1, 3)):
        per_file = [(r[b] - r[m]) / r[m] for r in rest]
        ratio = sum(r[b] for r in rest) / sum(r[m] for r in rest) - 1
        result[name] = (statistics.median(per_file), ratio)
        print(
            f"| {name} | {1000 * statistics.median(r[m] for r in rest):.1f} | "
            f"{1000 * statistics.median(r[b] for r in rest):.1f} | "
            f"{1000 * statistics.median(r[b] - r[m] for r in rest):.1f} | "
            f"{100 * statistics.median(per_file):+.1f} % | {100 * ratio:+.1f} % |"
        )
    print(
        f"\nonce per batch, before the first file: {1000 * setup:.0f} ms (checks, model "
        f"loaded and hashed; alone: load {1000 * loading:.0f} ms, hash {1000 * hashing:.0f} ms), "
        f"{100 * setup / sum(r[2] for r in pairs):.1f} % of this batch's segmentation time\n"
    )
    print("| piece of the per-file overhead | ms per file (median) |")
    print("|---|---|")
    for name, value in pieces.items():
        print(f"| {name} | {value:.2f} |")
    met = result["CPU"][0] < 0.10
    print(
        f"\ntarget: per-file overhead under 10 % of the segmentation time -> "
        f"{'met' if met else 'NOT met'} (CPU time, median of the files: "
        f"{100 * result['CPU'][0]:+.1f} %; ratio of sums {100 * result['CPU'][1]:+.1f} %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
