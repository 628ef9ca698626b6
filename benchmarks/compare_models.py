"""Two (or more) nuclei models side by side on every real image of their dimensionality.

For choosing between a shipped model and a candidate (e.g. a refining stage of
``scripts/train_default_models.py``): the synthetic test kinds come from that script;
this one adds the real data, each model with object size auto, as users run it:

- the scored nuclei cases of ``real_data.EVAL_CASES`` (Dice, sensitivity, precision
  against their reference, on the whole image);
- real images without a usable nuclei reference (``real_data.UNLABELLED``, and the
  whole-cell case's image): the share each model marks next to Otsu's, its mean
  probability on Otsu's objects and off them, and how sure it is of what it marks
  (``stats["confidence"]``).

    OMP_NUM_THREADS=2 python benchmarks/compare_models.py --models nuclei-3d NEW.pt
    OMP_NUM_THREADS=2 python benchmarks/compare_models.py --dims 2 --models nuclei-2d NEW.pt

(``faint_cells.py`` adds all 13 BBBC007 images for 2D models.)

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse

import numpy as np
import real_data
from bench_accuracy import foreground_scores, otsu_foreground
from look_unlabelled import figures_of, load

from napari_unetseg import api

#: Per dimensionality: the scored cases, then the images looked at without a reference.
SCORED = {
    3: ("cells3d-nuclei-3d", "stardist-synthetic-3d"),
    2: ("dsb2018-2d", "bbbc007-a9p7d-auto", "bbbc007-17p1pos7-auto"),
}
UNLABELLED = {
    3: (
        "cellseg3d-mesospim-3d",
        "tgmm-mini-3dt",
        "cells3d-nucleus-3d",
        "napari-stress-droplet-3dt",
    ),
    2: ("mahotas-nuclear-2d", "huh7-cells-2d"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, choices=[2, 3], default=3)
    parser.add_argument("--models", nargs="+", default=None, help="default: nuclei-<dims>d")
    args = parser.parse_args(argv)
    names = args.models or [f"nuclei-{args.dims}d"]
    models = {name: api.load_model(name) for name in names}

    print("| scored case | reference | " + " | ".join(models) + " |")
    print("|---|---|" + "---|" * len(models))
    for case in SCORED[args.dims]:
        loaded = real_data.load_case(case)
        cells = []
        for model in models.values():
            pred = np.asarray(api.predict(loaded.image, model)) > 0
            s = foreground_scores(pred, loaded.foreground)
            cells.append(f"{s['dice']:.3f} ({s['sensitivity']:.2f} / {s['precision']:.2f})")
        ref = loaded.case.reference_type
        print(f"| {case} | {ref} | " + " | ".join(cells) + " |")
    print("\n(Dice (sensitivity / precision), whole image, object size auto)\n")

    print("| image without a nuclei reference | Otsu marks | " + " | ".join(models) + " |")
    print("|---|---|" + "---|" * len(models))
    for name in UNLABELLED[args.dims]:
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
