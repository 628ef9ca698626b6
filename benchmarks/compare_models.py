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

2D models also see three planes of the light-sheet stack (real nuclei on textured
tissue; ``--png`` draws their outlines). ``faint_cells.py`` adds all 13 BBBC007 images.

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import real_data
from bench_accuracy import foreground_scores, otsu_foreground
from look_unlabelled import figures_of, load

from napari_unetseg import api

#: Per dimensionality: the scored cases, then the images looked at without a reference.
SCORED = {
    3: ("cells3d-nuclei-3d", "stardist-synthetic-3d"),
    2: ("dsb2018-2d", "bbbc007-a9p7d-auto", "bbbc007-17p1pos7-auto", "ndev-scratch-assay-auto"),
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
#: 2D models also see single planes of a stack: real nuclei on textured tissue.
PLANES = {"cellseg3d-mesospim-3d": (30, 62, 95)}


def images_without_reference(dims: int) -> list[tuple[str, np.ndarray]]:
    """(title, image) of every image looked at without a reference."""
    out = [(name, load(name)) for name in UNLABELLED[dims]]
    if dims == 2:
        for name, planes in PLANES.items():
            stack = load(name).astype(np.float32)
            out += [(f"{name}, plane {z}", stack[z]) for z in planes]
    return out


def picture(path: Any, images: list[tuple[str, np.ndarray]], models: dict[str, Any]) -> None:
    """Each model's outlines (cyan) and Otsu's (yellow) on the images, a row per model."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(
        len(models), len(images), figsize=(4 * len(images), 4 * len(models)), squeeze=False
    )
    for j, (title, image) in enumerate(images):
        lo, hi = np.percentile(image, [1, 99.8])
        otsu = otsu_foreground(image)
        for i, (name, model) in enumerate(models.items()):
            ax = axes[i, j]
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
            ours = np.asarray(api.predict(image, model)) > 0
            for mask, colour in ((ours, "c"), (otsu, "y")):
                if mask.any():
                    ax.contour(mask, [0.5], colors=colour, linewidths=0.8)
            ax.set_title(f"{Path(name).stem}: {title}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, choices=[2, 3], default=3)
    parser.add_argument("--models", nargs="+", default=None, help="default: nuclei-<dims>d")
    parser.add_argument("--png", type=Path, help="2D: outlines on the planes of PLANES")
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
    looked = images_without_reference(args.dims)
    for name, image in looked:
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
    if args.png is not None and args.dims == 2:
        picture(args.png, [(t, i) for t, i in looked if ", plane " in t], models)


if __name__ == "__main__":
    main()
