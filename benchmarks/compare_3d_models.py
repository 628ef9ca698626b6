"""Two (or more) 3D nuclei models side by side on every real 3D stack we have.

For choosing between a shipped ``nuclei-3d`` and a candidate (e.g. a stage 2 of
``scripts/train_default_models.py``): the synthetic test kinds come from that script;
this one adds the real data, each model with object size auto, as users run it:

- the scored 3D cases of ``real_data.EVAL_CASES`` (Dice, sensitivity, precision against
  their reference, on the whole stack);
- the unlabelled 3D stacks of ``real_data.UNLABELLED`` (no reference): the share each
  model marks next to Otsu's, its mean probability on Otsu's objects and off them, and
  how sure it is of what it marks (``stats["confidence"]``).

    OMP_NUM_THREADS=2 python benchmarks/compare_3d_models.py --models nuclei-3d NEW.pt

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse

import numpy as np
import real_data
from bench_accuracy import foreground_scores, otsu_foreground
from look_unlabelled import figures_of, load

from napari_unetseg import api

SCORED = ("cells3d-nuclei-3d", "stardist-synthetic-3d")
UNLABELLED = (
    "cellseg3d-mesospim-3d",
    "tgmm-mini-3dt",
    "cells3d-nucleus-3d",
    "napari-stress-droplet-3dt",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["nuclei-3d"])
    args = parser.parse_args(argv)
    models = {name: api.load_model(name) for name in args.models}

    print("| scored case | reference | " + " | ".join(models) + " |")
    print("|---|---|" + "---|" * len(models))
    for case in SCORED:
        loaded = real_data.load_case(case)
        cells = []
        for model in models.values():
            pred = np.asarray(api.predict(loaded.image, model)) > 0
            s = foreground_scores(pred, loaded.foreground)
            cells.append(f"{s['dice']:.3f} ({s['sensitivity']:.2f} / {s['precision']:.2f})")
        ref = loaded.case.reference_type
        print(f"| {case} | {ref} | " + " | ".join(cells) + " |")
    print("\n(Dice (sensitivity / precision), whole stack, object size auto)\n")

    print("| unlabelled stack | Otsu marks | " + " | ".join(models) + " |")
    print("|---|---|" + "---|" * len(models))
    for name in UNLABELLED:
        image = load(name)
        otsu = otsu_foreground(image)
        cells = []
        for model in models.values():
            f, _ = figures_of(image, otsu, model)
            share = f["sure_share"]
            cells.append(
                f"{f['ours_fraction']:.1%}, {f['probability_on_otsu']:.2f} / "
                f"{f['probability_off_otsu']:.2f}, sure {share if share is None else round(share, 2)}"
            )
        print(f"| {name} | {otsu.mean():.1%} | " + " | ".join(cells) + " |")
    print(
        "\n(marked share, mean probability on / off Otsu's objects, share of marked voxels "
        "above 0.8)"
    )


if __name__ == "__main__":
    main()
