"""Stacks without a pixel size: the Z step measured from the objects' depth.

A 3D model needs a stack's Z step to see round nuclei; a stack without a pixel size was
taken as isotropic, which flattens the nuclei of an anisotropic stack. Prediction now
measures the Z step from the objects (``core.scale.z_step_of_mask``, calibrated by
``core.sizing.Z_STEP_CALIBRATION``, used from ``MIN_Z_STEP`` on). This script compares,
with ``nuclei-3d`` on the model card's held-out synthetic volumes of every test kind
(Z step 2, as that test set draws them, and the same volumes resliced to a Z step of 4):

- the pixel size given (the true Z step);
- no pixel size, measured (what prediction does now);
- no pixel size, taken as isotropic (before): ``scale=(1, 1, 1)``;

and prints the measured Z step of the real stacks of ``real_data`` (their Dice where
they have a reference). ``--fine-tune-draws 0 1 2`` instead fine-tunes ``nuclei-3d`` on
cells3d's strokes of those draws, with the measured step and taken as isotropic (about 7
minutes per draw). Prints what it measured; nothing is asserted.

    OMP_NUM_THREADS=2 python benchmarks/z_step.py --images 3
    OMP_NUM_THREADS=2 python benchmarks/z_step.py --fine-tune-draws 0 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import real_data
from bench_accuracy import foreground_scores

from napari_unetseg import api
from napari_unetseg.core.progress import drain
from napari_unetseg.core.scale import estimate_object_size
from napari_unetseg.core.sizing import measured_z_step

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from train_default_models import TEST_KINDS, separated_foreground, test_set  # noqa: E402

WAYS = {"given": "pixel size given", "measured": "none: measured", "isotropic": "none: isotropic"}


def dice(image: np.ndarray, truth: np.ndarray, scale) -> float:
    res = drain(api.predict_iter(image, "nuclei-3d", scale=scale))
    return foreground_scores(np.asarray(res.labels) > 0, truth)["dice"]


def synthetic(images: int) -> None:
    print("| kind | Z step | measured Z step | " + " | ".join(WAYS.values()) + " |")
    print("|---|---|---|" + "---|" * len(WAYS))
    means: dict[tuple[float, str], list[float]] = {}
    for kind in TEST_KINDS:
        for step in (2, 4):
            rows: dict[str, list[float]] = {w: [] for w in WAYS}
            zs = []
            for image, inst, _scale in test_set(kind, 3, images):
                truth = separated_foreground(inst) > 0
                if step == 4:  # every other plane: the same nuclei at twice the Z step
                    image, truth = image[::2], truth[::2]
                z = measured_z_step(image)
                zs.append("-" if z is None else f"{z:.1f}")
                rows["given"].append(dice(image, truth, (float(step), 1.0, 1.0)))
                rows["measured"].append(dice(image, truth, None))
                rows["isotropic"].append(dice(image, truth, (1.0, 1.0, 1.0)))
            for w, v in rows.items():
                means.setdefault((step, w), []).extend(v)
            cells = " | ".join(f"{np.mean(rows[w]):.3f}" for w in WAYS)
            print(f"| {kind} | {step} | {', '.join(zs)} | {cells} |", flush=True)
    for step in (2, 4):
        cells = " | ".join(f"**{np.mean(means[(step, w)]):.3f}**" for w in WAYS)
        print(f"| **mean** | {step} | | {cells} |")


def real() -> None:
    print(
        "\n| real stack | shape | measured Z step (calibrated; used from 1.5) | Dice measured / isotropic |"
    )
    print("|---|---|---|---|")
    for name in ("cells3d-nuclei-3d", "stardist-synthetic-3d"):
        case = real_data.load_case(name)
        z = estimate_object_size(case.image).z_step
        truth = case.reference > 0
        d_new, d_old = dice(case.image, truth, None), dice(case.image, truth, (1.0, 1.0, 1.0))
        print(f"| {name} | {case.image.shape} | {_z(z)} | {d_new:.3f} / {d_old:.3f} |")
    for name in ("tgmm-mini-3dt", "cellseg3d-mesospim-3d", "cells3d-nucleus-3d"):
        image = real_data.load_unlabelled(name)
        if image.ndim == 4:
            image = image[image.shape[0] // 2]
        z = estimate_object_size(image).z_step
        print(f"| {name} (no reference) | {image.shape} | {_z(z)} | - |")


def fine_tune_draws(seeds: list[int]) -> None:
    """cells3d: fine-tuning on the benchmark's strokes of several draws, with the Z step
    measured (now) and with the stack taken as isotropic, each 180 s
    (``scribble_draws._fine_tuned``), scored on the unpainted part as
    ``bench_accuracy.py`` scores it, next to its forest."""
    import bench_accuracy as bench
    from scribble_draws import _fine_tuned

    print("\n| cells3d, fine-tuned 180 s | measured Z step | isotropic | forest |")
    print("|---|---|---|---|")
    for seed in seeds:
        cells = []
        for scale in (None, (1.0, 1.0, 1.0)):
            loaded, image, truth, scored, strokes, model, _ = _fine_tuned(
                "cells3d-nuclei-3d", seed, 3, scale=scale
            )
            pred = np.asarray(api.predict(loaded.image, model, scale=scale)) > 0
            cells.append(f"{bench.foreground_scores(pred, truth, scored)['dice']:.3f}")
        forest = bench.foreground_scores(bench.forest_foreground(image, strokes), truth, scored)
        print(f"| draw s{seed} | {cells[0]} | {cells[1]} | {forest['dice']:.3f} |", flush=True)


def _z(raw) -> str:
    from napari_unetseg.core.sizing import MIN_Z_STEP, Z_STEP_CALIBRATION

    if raw is None:
        return "not measurable"
    z = raw * Z_STEP_CALIBRATION
    return f"{z:.2f} ({'used' if z >= MIN_Z_STEP else 'isotropic'})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3, help="volumes per synthetic kind")
    parser.add_argument(
        "--fine-tune-draws", type=int, nargs="*", metavar="SEED",
        help="only fine-tune on cells3d's strokes of these draws, measured vs isotropic",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.fine_tune_draws:
        fine_tune_draws(args.fine_tune_draws)
        return
    synthetic(args.images)
    real()


if __name__ == "__main__":
    main()
