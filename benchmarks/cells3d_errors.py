"""Where the default models go wrong on the real 3D nuclei stack (cells3d-nuclei-3d).

The accuracy benchmark gives one Dice per model; this script says where the errors lie,
on the benchmark's case ``cells3d-nuclei-3d`` (see ``real_data.py``):

1. Otsu's threshold with and without the benchmark's Gaussian blur (the reference
   follows one global threshold, so Otsu is close to it by construction).
2. ``nuclei-3d`` at a sweep of object sizes (the image resampled by model size / size),
   with and without the file-less pixel size, Dice / sensitivity / precision.
3. Its false positives split into "beside" (in a plane where the reference has the
   nucleus, within 3 px of it) and "above / below" (everything else: mostly the
   out-of-focus glow over and under the nuclei), with the planes they lie in.
4. ``nuclei-2d`` plane by plane: the share of the 16 nucleus-free top planes it marks,
   at the measured object size and at the image's own scale.
5. The edge profile: the mean intensity (normalized like the model's input) and the
   mean probability of ``nuclei-3d`` at each in-plane distance from the reference's
   outline, on cells3d and on a synthetic volume of nuclei of the same size.
6. With ``--synthetic``: ``nuclei-3d``'s sensitivity and precision at thresholds 0.5-0.8
   on the model card's held-out synthetic volumes (2 per kind), to see whether the
   outlines are too large there as well (a threshold would then fix both).

    OMP_NUM_THREADS=2 python benchmarks/cells3d_errors.py [--synthetic]

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import real_data
from bench_accuracy import foreground_scores, otsu_foreground
from scipy import ndimage

from napari_unetseg import api
from napari_unetseg.core.progress import drain

CASE = "cells3d-nuclei-3d"
SIZES = ("auto", 16, 24, 32, 40, 60)


def _row(name: str, pred: np.ndarray, truth: np.ndarray) -> str:
    s = foreground_scores(pred, truth)
    return f"| {name} | {s['dice']:.3f} | {s['sensitivity']:.3f} | {s['precision']:.3f} |"


def edge_profile(image: np.ndarray, truth: np.ndarray, name: str, **options) -> None:
    """Mean normalized intensity and probability by in-plane distance to the outline."""
    res = drain(api.predict_iter(image, "nuclei-3d", return_probabilities=True, **options))
    prob = np.asarray(res.probabilities)
    inside = np.stack([ndimage.distance_transform_edt(p) for p in truth])
    outside = np.stack([ndimage.distance_transform_edt(~p) for p in truth])
    signed = np.where(truth, 0.5 - inside, outside - 0.5)  # > 0 outside the nuclei
    arr = np.asarray(image, np.float32)
    lo, hi = np.percentile(arr, [1, 99.8])
    norm = (arr - lo) / (hi - lo)
    planes = truth.any(axis=(1, 2))[:, None, None]
    cells = []
    for d in range(-6, 9):
        if d == 0:
            continue
        sel = planes & (np.abs(signed - d) < 0.5)
        cells.append(f"{d:+d} px: {norm[sel].mean():.2f} / {prob[sel].mean():.2f}")
    score = foreground_scores(prob > 0.5, truth)
    print(
        f"  {name} ({res.stats['object_size']['message'].split(';')[0]}): Dice "
        f"{score['dice']:.3f}, sensitivity {score['sensitivity']:.3f}, precision "
        f"{score['precision']:.3f}"
    )
    print("    " + " | ".join(cells))


def synthetic_bias(per_kind: int = 2, thresholds=(0.5, 0.6, 0.7, 0.8)) -> None:
    """Sensitivity / precision of ``nuclei-3d`` on the held-out synthetic volumes."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_default_models import TEST_KINDS, test_set  # noqa: PLC0415

    model = api.load_model("nuclei-3d")
    print("\nnuclei-3d on held-out synthetic volumes, Dice (sensitivity / precision):")
    print("| kind | " + " | ".join(f"threshold {t}" for t in thresholds) + " |")
    print("|---|" + "---|" * len(thresholds))
    total = np.zeros((len(thresholds), 3))
    for kind in TEST_KINDS:
        rows = []
        for image, instances, scale in test_set(kind, 3, per_kind):
            _, prob = api.predict(image, model, scale=scale, return_probabilities=True)
            truth = instances > 0
            rows.append(
                [
                    [
                        foreground_scores(prob > t, truth)[k]
                        for k in ("dice", "sensitivity", "precision")
                    ]
                    for t in thresholds
                ]
            )
        mean = np.mean(rows, axis=0)
        total += mean
        print(
            f"| {kind} | " + " | ".join(f"{d:.3f} ({s:.2f} / {p:.2f})" for d, s, p in mean) + " |"
        )
    total /= len(TEST_KINDS)
    print("| mean | " + " | ".join(f"{d:.3f} ({s:.2f} / {p:.2f})" for d, s, p in total) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", action="store_true", help="also part 5 (minutes)")
    args = parser.parse_args()
    loaded = real_data.load_case(CASE)
    image, truth = loaded.image, loaded.foreground
    spacing = loaded.case.pixel_size
    print(f"{CASE}: {image.shape}, reference {int(truth.sum())} voxels\n")
    print("| prediction | Dice | sensitivity | precision |\n|---|---|---|---|")
    print(_row("Otsu, Gaussian sigma 1 (the benchmark's)", otsu_foreground(image), truth))
    print(_row("Otsu, no blur", otsu_foreground(image, sigma=0), truth))
    kept = {}
    for size in SIZES:
        res = drain(api.predict_iter(image, "nuclei-3d", object_size=size))
        pred = np.asarray(res.labels) > 0
        kept[size] = pred
        factor = res.stats["object_size"]["factors"][-1]
        label = "auto" if size == "auto" else f"{size} px"
        print(_row(f"nuclei-3d, object size {label} (x {factor:.2f})", pred, truth))
    with_scale = np.asarray(api.predict(image, "nuclei-3d", scale=spacing)) > 0
    print(_row(f"nuclei-3d, auto, pixel size {spacing}", with_scale, truth))

    # 3. where the false positives of the default prediction lie
    beside = np.stack(
        [
            ndimage.distance_transform_edt(~plane) <= 3 if plane.any() else np.zeros_like(plane)
            for plane in truth
        ]
    )
    print("\nFalse positives of nuclei-3d (auto), in voxels:")
    pred = kept["auto"]
    fp = pred & ~truth
    other = fp & ~beside
    print(f"  beside the nuclei (in-plane, <= 3 px): {int((fp & beside).sum()):,}")
    print(f"  above / below / elsewhere: {int(other.sum()):,}")
    per_plane = other.sum(axis=(1, 2))
    busiest = np.argsort(per_plane)[::-1][:6]
    print(
        "  planes with the most of the latter: "
        + ", ".join(f"z {z} ({int(per_plane[z]):,})" for z in sorted(busiest))
    )
    first = int(np.argmax(truth.any(axis=(1, 2))))
    print(f"  (the reference starts at plane {first})")
    print(f"  missed voxels (false negatives): {int((truth & ~pred).sum()):,}")

    # 4. nuclei-2d on the empty top planes
    empty = slice(0, 16)
    assert not truth[empty].any()
    print("\nnuclei-2d plane by plane, share of the 16 nucleus-free top planes marked:")
    for size in ("auto", "off"):
        res = drain(api.predict_iter(image, "nuclei-2d", object_size=size))
        marked = float((np.asarray(res.labels)[empty] > 0).mean())
        print(f"  object size {size}: {marked:.1%} ({res.stats['object_size']['message']})")
    print(
        "\nEdge profile: mean intensity (1st-99.8th percentile -> 0-1) / mean probability "
        "of nuclei-3d, by in-plane distance to the reference outline (> 0 outside):"
    )
    edge_profile(image, truth, CASE)
    from napari_unetseg.core.synthetic import synthetic_nuclei  # noqa: PLC0415

    synth, instances = synthetic_nuclei(
        (120, 240, 240), seed=501, radius=(20.0, 25.0), z_scale=1.1, density=0.4,
        cluster_fraction=0.5,
    )  # fmt: skip
    edge_profile(synth, instances > 0, "synthetic, radius 20-25 px", scale=(1.1, 1.0, 1.0))
    if args.synthetic:
        synthetic_bias()


if __name__ == "__main__":
    main()
