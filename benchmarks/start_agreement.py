"""How far a shipped model already agrees with the benchmark's strokes, per class.

For each case and draw of strokes (``bench_accuracy.make_scribbles``), the shipped model
of the case's dimensionality (``nuclei-2d`` / ``nuclei-3d``) predicts the whole image and
the share of the painted background and object pixels it already gives their class is
printed: the ``start_agreement`` that fine-tuning records, before any training. Whether
that share could choose between fine-tuning and a new model is the question:

    OMP_NUM_THREADS=2 python benchmarks/start_agreement.py dsb2018-2d huh7-cells-2d ...

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse

import bench_accuracy as bench
import numpy as np
import real_data
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", choices=sorted(real_data.EVAL_CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| case | draw | background strokes agreed | object strokes agreed |")
    print("|---|---|---|---|")
    for name in args.cases:
        loaded = real_data.load_case(name)
        model = bench.DEFAULT_MODEL[loaded.case.dims]
        answer = np.asarray(bench.predict_foreground(np.asarray(loaded.image), model, {})) > 0
        for seed in args.seeds:
            strokes = bench.make_scribbles(loaded, seed)
            background, objects = strokes == 1, strokes == 2
            print(
                f"| {name} ({model}) | s{seed} | {(~answer[background]).mean():.3f} "
                f"| {answer[objects].mean():.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
