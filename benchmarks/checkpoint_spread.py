"""How far a new model's answer moves from one checkpoint to the next, and how much of that
is batch norm's running statistics.

Trains a new model from a benchmark case's scribbles (forest teacher, as ``api.train``
does) for a fixed number of steps. At every ``--every`` steps it scores the weights as
they are (running statistics of the last batches), and a copy whose batch-norm statistics
are recomputed as a plain average over ``--batches`` batches drawn by a copy of the
trainer's own sampler (flips and turns only; the run itself is not disturbed). Dice
against the reference and agreement with the teacher, on the unpainted part.

    OMP_NUM_THREADS=2 python benchmarks/checkpoint_spread.py --case mni152-wm-3d --dims 2

Prints what it measured; nothing is asserted. It wraps ``Trainer.preview`` to see the
weights mid-run: a diagnostic, not an example of the API.
"""

from __future__ import annotations

import argparse
import copy
import warnings

import bench_accuracy as bench
import numpy as np
import real_data
import torch
from student_vs_teacher import train_with_teacher

from napari_unetseg.core.training import trainer as trainer_module


def _precise_copy(trainer: trainer_module.Trainer, batches: int) -> object:
    """The trainer's bundle with batch-norm statistics averaged over fresh batches."""
    bundle = copy.deepcopy(trainer.bundle)
    sampler = copy.deepcopy(trainer.sampler)  # the run keeps its own random state
    norms = [
        m for m in bundle.network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average
    bundle.network.train()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(batches):
            xb, yb = sampler.sample(trainer.batch)
            x, y = trainer_module.augment_batch(
                trainer._to_device(xb), trainer._to_device(yb), gen, intensity=False
            )
            bundle.network(x)
    bundle.network.eval()
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="mni152-wm-3d", choices=sorted(real_data.EVAL_CASES))
    parser.add_argument("--seed", type=int, default=0, help="scribble draw")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument(
        "--dims", type=int, choices=(2, 3), help="model dims (default: the case's)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    snapshots = []
    original = trainer_module.Trainer.preview

    def preview(self: trainer_module.Trainer) -> np.ndarray:
        snapshots.append(
            (self.step, copy.deepcopy(self.bundle), _precise_copy(self, args.batches))
        )
        return original(self)

    trainer_module.Trainer.preview = preview
    loaded, _, truth, scored, teacher, model = train_with_teacher(
        args.case,
        args.seed,
        steps=args.steps,
        spatial_dims=args.dims,
        preview_every=args.every,
    )

    def score(bundle: object) -> str:
        fg = bench.predict_foreground(loaded.image, bundle, {})
        dice = bench.foreground_scores(fg, truth, scored)["dice"]
        agree = bench.foreground_scores(fg, teacher, scored)["dice"]
        return f"{dice:.3f} (agreement {agree:.3f})"

    print(f"{args.case}, scribbles s{args.seed}, {args.steps} steps, every {args.every}")
    print("| step | running statistics | statistics averaged over fresh batches |")
    print("|---|---|---|")
    for step, as_is, precise in snapshots:
        print(f"| {step} | {score(as_is)} | {score(precise)} |")
    print(f"kept by validation: step {model.history['best_step']}, {score(model)}")


if __name__ == "__main__":
    main()
