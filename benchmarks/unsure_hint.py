"""Does the "model is unsure" hint fire where the default model fails, and only there?

The tiled engine counts the voxels a model marks and those of them whose class has a
probability above 0.8 (``stats["confidence"]``); below half sure, users are told to
fine-tune. The threshold was set on one failing real image (the mesoSPIM stack of
``look_unlabelled.py``). This script puts it against many images whose truth is known:

- the held-out synthetic kinds of ``scripts/train_default_models.py`` (``TEST_KINDS``),
  plus harder versions of what fooled the models (``HARD_KINDS``: textured tissue at
  30 %, faint cell bodies at 15 %, very low light) and a wrong object size (the measured
  size given 4 times too small or too large, as a user could type it);
- the scored real cases of ``real_data.EVAL_CASES`` of the model's dimensionality.

Per image: foreground Dice against the truth, the sure share and whether the hint fired.
Then: of the images where the model failed (Dice below 0.7), how many got the hint, and
of those where it did well (Dice 0.85 or more), how many got it anyway; and the rank
correlation between sure share and Dice.

    OMP_NUM_THREADS=2 python benchmarks/unsure_hint.py --dims 2 3 --images 3

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import real_data
from bench_accuracy import foreground_scores
from scipy import stats as sps

from napari_unetseg import api

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from train_default_models import TEST_KINDS, test_set  # noqa: E402

#: Harder kinds than the model card's (generator options on top of the defaults).
HARD_KINDS: dict[str, dict[str, Any]] = {
    "textured tissue (30 %)": {"tissue": 0.3},
    "faint cell bodies (15 %)": {"cytoplasm": 0.15},
    "very low light": {"photons": 2.0, "read_noise": 0.15},
}
#: The measured object size given multiplied by these (on "typical" images).
WRONG_SIZES = {"size given 4x too small": 0.25, "size given 4x too large": 4.0}
FAILED, GOOD = 0.7, 0.85
SCORED = {
    2: ("dsb2018-2d", "bbbc007-a9p7d-auto", "bbbc007-17p1pos7-auto"),
    3: ("cells3d-nuclei-3d", "stardist-synthetic-3d"),
}


def one(kind: str, image: Any, truth: np.ndarray, model: Any, **options: Any) -> dict[str, Any]:
    """Segment one image; its Dice, sure share and whether the hint fired."""
    result = api.drain(api.predict_iter(image, model, **options))
    conf = result.stats["confidence"]
    scores = foreground_scores(np.asarray(result.labels) > 0, truth > 0)
    row = {
        "kind": kind,
        "dice": scores["dice"],
        "sure_share": conf["sure_share"],
        "hint": conf["message"] is not None,
        "diameter": result.stats["object_size"].get("image_diameter"),
    }
    share = "-" if row["sure_share"] is None else f"{row['sure_share']:.2f}"
    print(
        f"  {kind:<42} Dice {row['dice']:.3f}  sure {share:>5}  "
        + ("HINT" if row["hint"] else ""),
        flush=True,
    )
    return row


def rows_for(dims: int, n: int) -> list[dict[str, Any]]:
    model = api.load_model(f"nuclei-{dims}d")
    rows = []
    for kinds in (TEST_KINDS, HARD_KINDS):
        for kind in kinds:
            for image, truth, scale in test_set(kind, dims, n, kinds):
                rows.append(one(kind, image, truth, model, scale=scale))
    measured = [r["diameter"] for r in rows if r["kind"] == "typical"]  # the same images
    for kind, factor in WRONG_SIZES.items():
        for (image, truth, scale), size in zip(test_set("typical", dims, n), measured):
            rows.append(one(kind, image, truth, model, scale=scale, object_size=size * factor))
    for case in SCORED[dims]:
        loaded = real_data.load_case(case)
        row = one(f"real: {case}", loaded.image, loaded.foreground, model)
        row["reference"] = loaded.case.reference_type
        rows.append(row)
    return rows


def summary(dims: int, rows: list[dict[str, Any]]) -> None:
    print(f"\nnuclei-{dims}d: {len(rows)} images")
    print("| kind | images | Dice | sure share | hint |")
    print("|---|---|---|---|---|")
    for kind in dict.fromkeys(r["kind"] for r in rows):
        rs = [r for r in rows if r["kind"] == kind]
        shares = [r["sure_share"] for r in rs if r["sure_share"] is not None]
        share = f"{np.mean(shares):.2f}" if shares else "-"
        print(
            f"| {kind} | {len(rs)} | {np.mean([r['dice'] for r in rs]):.3f} | {share} | "
            f"{sum(r['hint'] for r in rs)} of {len(rs)} |"
        )
    failed = [r for r in rows if r["dice"] < FAILED]
    good = [r for r in rows if r["dice"] >= GOOD]
    middle = len(rows) - len(failed) - len(good)
    print(
        f"\nfailed (Dice < {FAILED}): {sum(r['hint'] for r in failed)} of {len(failed)} got "
        f"the hint; did well (Dice >= {GOOD}): {sum(r['hint'] for r in good)} of {len(good)} "
        f"got it anyway; in between: {middle} images"
    )
    paired = [(r["sure_share"], r["dice"]) for r in rows if r["sure_share"] is not None]
    if len(paired) > 2:
        rho = sps.spearmanr(*zip(*paired)).statistic
        print(f"rank correlation of sure share and Dice: {rho:.2f} ({len(paired)} images)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", choices=[2, 3], default=[2, 3])
    parser.add_argument("--images", type=int, default=3, help="synthetic images per kind")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = {}
    for dims in args.dims:
        print(f"nuclei-{dims}d")
        report[dims] = rows_for(dims, args.images)
        summary(dims, report[dims])
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
