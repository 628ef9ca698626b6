"""The forest teacher on a large stack: whole image vs block by block, side by side.

Each setting runs in a fresh subprocess (peak memory is the process's maximum resident
set size); the labels of every setting are compared with the whole-image ones.

    python benchmarks/bench_forest_blocks.py                       # 60 x 512 x 512, ~4 min
    python benchmarks/bench_forest_blocks.py --shape 30 256 256    # ~1 min
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Settings compared: the name and the block size in pixels (None: one block).
SETTINGS = {"whole image": None, "blocks of 4 M pixels": 4_000_000, "blocks of 2 M": 2_000_000}


def stack(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random stack and strokes in three of its planes (both classes)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter(rng.normal(size=shape).astype(np.float32), 3)
    strokes = np.zeros(shape, np.uint8)
    for z in np.linspace(0, shape[0] - 1, 5)[1:-1].round().astype(int):
        plane, painted = image[z], strokes[z]
        painted[::7, ::7][plane[::7, ::7] > 0.02] = 2
        painted[::9, ::9][plane[::9, ::9] < -0.02] = 1
    return image, strokes


def _one(shape: tuple[int, ...], block: int | None, out: str) -> None:
    """Child process: label the stack with ``block`` pixels per block, save the labels."""
    from napari_unetseg import forest

    forest.BLOCK_PIXELS = block or 10**12
    image, strokes = stack(shape)
    t0 = time.perf_counter()
    (dense,), _ = forest.dense_targets([image], [strokes], seed=0)
    seconds = time.perf_counter() - t0
    np.save(out, dense)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    n_blocks = len(forest.blocks(image.shape))
    print(json.dumps({"seconds": seconds, "peak_gib": peak, "blocks": n_blocks}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[60, 512, 512])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    if args.child:
        block, out = args.child
        _one(shape, None if block == "none" else int(block), out)
        return
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as folder:
        for name, block in SETTINGS.items():
            out = str(Path(folder) / f"{name.replace(' ', '_')}.npy")
            child = [sys.executable, __file__, "--shape", *map(str, shape)]
            child += ["--child", str(block or "none"), out]
            done = subprocess.run(child, capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            labels = np.load(out)
            reference = labels if reference is None else reference
            figures["same"] = float(np.mean(labels == reference))
            rows.append((name, figures))
    voxels = int(np.prod(shape))
    print(f"Forest teacher on a {' x '.join(map(str, shape))} stack ({voxels / 1e6:.1f} M voxels)")
    print("| setting | blocks | seconds | peak memory (GiB) | labels equal to whole image |")
    print("|---|---|---|---|---|")
    for name, f in rows:
        print(
            f"| {name} | {f['blocks']} | {f['seconds']:.1f} | {f['peak_gib']:.2f} "
            f"| {f['same']:.2%} |"
        )


if __name__ == "__main__":
    main()
