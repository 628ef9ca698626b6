"""How far to shrink large objects to a model's size: the shrink exponent.

Prediction resamples an image so its objects have the model's diameter. For objects
larger than the model's the in-plane factor is ``(model / image diameter) ** alpha``
(``object_size["shrink_exponent"]`` in the model file): alpha 1 shrinks them all the
way, a smaller alpha less, so they keep more pixels across their outlines (at more
compute). This script measures Dice at each alpha on every image the model shrinks:

- held-out synthetic images of every test kind of ``scripts/train_default_models.py``
  (a test set drawn with its own seed; ``--seed`` picks another one), which decide;
- the scored real cases of ``compare_models.SCORED``, reported beside them, not used
  for the choice.

The rule, set before the confirming run: the largest alpha whose mean synthetic Dice is
within 0.001 of the best (the cheapest among equals). ``--write DIR`` records the chosen
alpha in the model file ``DIR/<model>.pt`` (the weights are not touched).

    OMP_NUM_THREADS=2 python benchmarks/shrink_exponent.py --dims 2 3 --images 4

Prints what it measured (and the prediction time at each alpha against alpha 1);
nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import real_data
from bench_accuracy import foreground_scores
from compare_models import SCORED

from napari_unetseg import api
from napari_unetseg.core.progress import drain
from napari_unetseg.core.scale import FACTOR_TOLERANCE, estimate_object_size

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from train_default_models import TEST_KINDS, separated_foreground, test_set  # noqa: E402

ALPHAS = (1.0, 0.85, 0.7, 0.55, 0.4, 0.25)
MODELS = {2: "nuclei-2d", 3: "nuclei-3d"}
#: A second held-out test set: far from the training seeds and from TEST_SEED.
CONFIRM_SEED = 2_000_000
#: Alphas this close to the best mean count as equal; the largest of them is chosen.
EQUAL = 0.001


def with_exponent(bundle: Any, alpha: float) -> Any:
    """A copy of ``bundle`` whose object size record has shrink exponent ``alpha``."""
    out = bundle.copy()
    record = dict(out.object_size)
    record["shrink_exponent"] = alpha
    out.set_object_size(record)
    return out


def score_image(
    bundles: dict[float, Any], image: np.ndarray, truth: np.ndarray, scale: Any
) -> dict[str, Any] | None:
    """Dice and seconds at each alpha, or None when the model does not shrink the image."""
    d_model = next(iter(bundles.values())).object_size["diameter"]
    est = estimate_object_size(image).diameter
    if est is None or est <= d_model * (1 + FACTOR_TOLERANCE):
        return None
    out: dict[str, Any] = {"diameter": est, "dice": {}, "seconds": {}}
    for alpha, bundle in bundles.items():
        t0 = time.perf_counter()
        res = drain(api.predict_iter(image, bundle, object_size=est, scale=scale))
        out["seconds"][alpha] = time.perf_counter() - t0
        out["dice"][alpha] = foreground_scores(np.asarray(res.labels) > 0, truth)["dice"]
    return out


def choose(means: dict[float, float]) -> float:
    """The largest alpha whose mean is within :data:`EQUAL` of the best."""
    best = max(means.values())
    return max(a for a, m in means.items() if m >= best - EQUAL)


def run(dims: int, images: int, seed: int, alphas: tuple[float, ...]) -> dict[str, Any]:
    base = api.load_model(MODELS[dims])
    bundles = {a: with_exponent(base, a) for a in alphas}
    # One untimed prediction first, so the first alpha's time holds no warm-up.
    warm, _, _ = test_set("typical", dims, 1, seed=seed)[0]
    drain(api.predict_iter(warm, base))
    rows: list[dict[str, Any]] = []
    for kind in TEST_KINDS:
        for i, (image, inst, scale) in enumerate(test_set(kind, dims, images, seed=seed)):
            rec = score_image(bundles, image, separated_foreground(inst) > 0, scale)
            if rec is not None:
                rows.append({"case": kind, "image": i, **rec})
    real: list[dict[str, Any]] = []
    for name in SCORED[dims]:
        case = real_data.load_case(name)
        rec = score_image(bundles, case.image, case.reference > 0, None)
        if rec is not None:
            real.append({"case": name, **rec})
    means = {a: float(np.mean([r["dice"][a] for r in rows])) for a in alphas}
    seconds = {a: float(np.sum([r["seconds"][a] for r in rows])) for a in alphas}
    return {
        "model": MODELS[dims],
        "dims": dims,
        "seed": seed,
        "shrunk_images": len(rows),
        "mean_dice": means,
        "seconds": seconds,
        "chosen": choose(means),
        "rows": rows,
        "real": real,
    }


def report(result: dict[str, Any]) -> None:
    alphas = list(result["mean_dice"])
    head = " | ".join(f"alpha {a}" for a in alphas)
    print(
        f"\n{result['model']}: {result['shrunk_images']} synthetic images shrunk (seed {result['seed']})"
    )
    print(f"| kind | images | {head} |")
    print("|---|---|" + "---|" * len(alphas))
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in result["rows"]:
        kinds.setdefault(r["case"], []).append(r)
    for kind, rs in kinds.items():
        cells = " | ".join(f"{np.mean([r['dice'][a] for r in rs]):.3f}" for a in alphas)
        print(f"| {kind} | {len(rs)} | {cells} |")
    cells = " | ".join(f"**{result['mean_dice'][a]:.4f}**" for a in alphas)
    print(f"| **mean (decides)** | {result['shrunk_images']} | {cells} |")
    t1 = result["seconds"][1.0] if 1.0 in result["seconds"] else None
    if t1:
        cells = " | ".join(f"x {result['seconds'][a] / t1:.2f}" for a in alphas)
        print(f"| prediction time vs alpha 1 | | {cells} |")
    for r in result["real"]:
        cells = " | ".join(f"{r['dice'][a]:.3f}" for a in alphas)
        print(f"| real: {r['case']} ({r['diameter']:.0f} px; not used to choose) | 1 | {cells} |")
    print(f"chosen (largest alpha within {EQUAL} of the best mean): {result['chosen']}")


def write(result: dict[str, Any], folder: Path) -> None:
    path = folder / f"{result['model']}.pt"
    bundle = with_exponent(api.load_model_file(path), result["chosen"])
    bundle.save(path)
    print(f"wrote shrink_exponent {result['chosen']} into {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    parser.add_argument("--images", type=int, default=4, help="images per synthetic kind")
    parser.add_argument("--seed", type=int, default=CONFIRM_SEED)
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument(
        "--write", type=Path, metavar="DIR", help="record the choice in DIR/<model>.pt"
    )
    args = parser.parse_args(argv)
    alphas = tuple(sorted(set(args.alphas) | {1.0}, reverse=True))
    results = []
    for dims in args.dims:
        result = run(dims, args.images, args.seed, alphas)
        report(result)
        results.append(result)
        if args.write:
            write(result, args.write)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
