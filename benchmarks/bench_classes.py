"""Scribble training with several classes, on real data: a new U-Net against the random
forest of ``bench_accuracy.py`` given the same strokes.

Every other benchmark here scores one class against the rest. A user who paints "grey
matter, white matter, the rest" or "meat, rice, vegetables, plate" trains several classes
at once, and the forest and the U-Net then have to share the borders between them. The
cases are ``real_data.CLASSES_CASES``: the 2 mm MNI152 template as three tissue classes
(2D slice and 3D volume, our own strokes in the painted part, as ``bench_accuracy.py``
paints them: strokes inside every class, a third starting near another class), and an RGB
photograph with four classes whose scribbles come with it (drawn by the package's authors'
program over the whole image: strokes this repository did not make).

    OMP_NUM_THREADS=2 python benchmarks/bench_classes.py --seeds 0 1 2 \\
        --json benchmarks/results/classes.jsonl

Each run trains a new model for 90 s (2D) / 180 s (3D) of CPU with ``api.train``'s
defaults (the forest teacher first) and scores it, and the forest, on the unpainted pixels:
Dice of each class and their mean. ``--extra-2d`` also trains a 2D model plane by plane on
the 3D case, ``--teacher`` scores the plugin's forest teacher alone too (what a new
model learns from: ``napari_unetseg.forest``), ``--seconds`` sets another budget. A model
that got class weights matched to its training labels (``core/training/threshold.py``) is
also scored without them (the same weights otherwise: their effect, paired):

    OMP_NUM_THREADS=2 python benchmarks/bench_classes.py --cases mni152-tissue-3d \
        --teacher --seconds 360 --json classes-360.jsonl

``--start MODEL`` fine-tunes that model instead of training a new one (what the Fine-tune
widget did by default before it knew how many classes were painted):

    OMP_NUM_THREADS=2 python benchmarks/bench_classes.py --cases convpaint-food-2d \
        mni152-tissue-2d --start nuclei-2d --json classes-from-nuclei-2d.jsonl

A case with shipped scribbles has one draw: there the seed is the training's
seed (elsewhere the draw's; training takes seed 0, as in ``bench_accuracy.py``). Appends one JSON line per run to ``--json`` (runs already there are skipped, so
an interrupted run resumes). Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path
from typing import Any

import bench_accuracy as bench
import numpy as np
import real_data
from scipy import ndimage as ndi

from napari_unetseg import api
from napari_unetseg.core.training.threshold import fold_class_biases

#: Seconds of training per model dimensionality, as in ``bench_accuracy.py``.
SECONDS = {2: 90.0, 3: 180.0}


def paint_classes_plane(
    classes: np.ndarray,
    region: np.ndarray,
    rng: np.random.Generator,
    *,
    max_per_class: int,
    area_per_stroke: float = 1000,
) -> np.ndarray:
    """Strokes inside every class of one plane, inside ``region`` only.

    Parameters
    ----------
    classes : ndarray
        2D reference, class k >= 1 at every pixel.
    region : ndarray of bool
        Where painting is allowed.
    rng : numpy.random.Generator
        Random source.
    max_per_class : int
        Cap on the strokes of one class.
    area_per_stroke : float
        One stroke per this many paintable pixels of a class (at least 3 where it has any).

    Returns
    -------
    ndarray of uint8
        0 not painted, k the class.
    """
    out = np.zeros(classes.shape, np.uint8)
    for k in range(1, int(classes.max()) + 1):
        # two pixels away from any other class, like the benchmark's background strokes;
        # a third of the strokes start within 8 pixels of another class
        depth = ndi.distance_transform_edt(classes == k)
        allowed = region & (depth >= 2)
        anywhere = np.argwhere(allowed)
        if not len(anywhere):
            continue
        near = np.argwhere(allowed & (depth <= 8))
        count = int(np.clip(round(len(anywhere) / area_per_stroke), 3, max_per_class))
        for stroke in range(count):
            pool = near if stroke % 3 == 0 and len(near) else anywhere
            start = pool[rng.integers(len(pool))]
            start = (int(start[0]), int(start[1]))
            bench._paint(out, bench._walk(allowed, start, 40, rng), allowed, k)
    return out


def make_scribbles(loaded: real_data.LoadedClasses, seed: int) -> np.ndarray:
    """The shipped scribbles, or our strokes of draw ``seed`` in the painted part.

    Returns
    -------
    ndarray of uint8
        0 not painted, k class k; the reference's shape.
    """
    if loaded.scribbles is not None:
        return loaded.scribbles
    case, classes = loaded.case, loaded.classes
    rng = np.random.default_rng(seed)
    region = bench.painted_region(case, classes.shape)  # same fields as a Case
    if classes.ndim == 2:
        out = paint_classes_plane(classes, region, rng, max_per_class=20)
    else:
        out = np.zeros(classes.shape, np.uint8)
        for z in bench.painted_planes(case, classes.shape):
            out[z] = paint_classes_plane(classes[z], region[z], rng, max_per_class=6)
    missing = set(range(1, len(case.classes) + 1)) - set(np.unique(out).tolist())
    if missing:
        raise ValueError(f"{case.name}: draw {seed} paints no stroke of class {missing}")
    return out


def class_scores(
    prediction: np.ndarray, classes: np.ndarray, scored: np.ndarray, names: tuple[str, ...]
) -> dict[str, Any]:
    """Dice of each class on the scored pixels, their mean and the share of pixels right.

    ``prediction`` and ``classes`` number the classes 1, 2, ... alike.
    """
    predicted, truth = prediction[scored], classes[scored]
    dice = {}
    for k, name in enumerate(names, start=1):
        p, t = predicted == k, truth == k
        both = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
        dice[name] = 2 * int(np.count_nonzero(p & t)) / both if both else math.nan
    values = [v for v in dice.values() if not math.isnan(v)]
    return {
        "dice": dice,
        "mean_dice": float(np.mean(values)) if values else math.nan,
        "accuracy": float(np.mean(predicted == truth)),
    }


def runs_for(
    case: real_data.ClassesCase, extra_2d: bool, start: str | None = None
) -> list[tuple[str, int]]:
    """(name, model dims) of the models trained on a case."""
    if start is not None:
        return [(f"fine-tuned {start}", case.dims)]
    runs = [(f"new {case.dims}D model", case.dims)]
    if case.dims == 3 and extra_2d:
        runs.append(("new 2D model (plane by plane)", 2))
    return runs


def run_one(
    loaded: real_data.LoadedClasses,
    seed: int,
    how: str,
    dims: int,
    forest_cache: dict,
    seconds: dict[int, float],
    teacher: bool = False,
    start: str | None = None,
) -> dict[str, Any]:
    """Train one model on one draw, score it next to the forest of the same strokes (and
    the teacher's labels, with ``teacher``)."""
    case, image = loaded.case, loaded.image
    channel_axis = -1 if image.ndim > case.dims else None
    scribbles = make_scribbles(loaded, seed)
    scored = (
        scribbles == 0
        if loaded.scribbles is not None
        else ~bench.painted_region(case, loaded.classes.shape)
    )
    if seed not in forest_cache:
        forest, forest_s = bench.timed(bench.forest_labels, image, scribbles, channel_axis)
        forest_cache[seed] = (class_scores(forest, loaded.classes, scored, case.classes), forest_s)
    forest_scores, forest_s = forest_cache[seed]
    taught = None
    if teacher:
        taught = class_scores(
            bench.teacher_labels(image, scribbles, channel_axis),
            loaded.classes,
            scored,
            case.classes,
        )
    options: dict[str, Any] = {"spatial_dims": 2} if dims != case.dims else {}
    if start is not None:
        options["model"] = start
    model, train_s = bench.timed(
        api.train,
        image,
        scribbles,
        label_mode="sparse",
        time_limit=seconds[dims],
        seed=seed if loaded.scribbles is not None else 0,
        **options,
    )
    labels, predict_s = bench.timed(api.predict, image, model)
    ours = class_scores(np.asarray(labels) + 1, loaded.classes, scored, case.classes)
    unweighted = None
    matched = model.history.get("threshold") or {}
    if any(matched.get("class_biases", ())):
        # the same weights without the class weights matched to the training labels
        plain = model.copy()
        fold_class_biases(plain.network.head, -np.asarray(matched["class_biases"]))
        plain_labels = np.asarray(api.predict(image, plain)) + 1
        unweighted = class_scores(plain_labels, loaded.classes, scored, case.classes)
    return {
        "case": case.name,
        "seed": seed,
        "ours": how,
        "shape": list(image.shape),
        "reference_type": case.reference_type,
        "painted": case.painted_description,
        "scribble_pixels": {
            name: int((scribbles == k).sum()) for k, name in enumerate(case.classes, start=1)
        },
        "scored_pixels": int(scored.sum()),
        "time_limit": seconds[dims],
        "ours_scores": ours,
        "forest_scores": forest_scores,
        "teacher_scores": taught,
        "unweighted_scores": unweighted,
        "delta_mean_dice": ours["mean_dice"] - forest_scores["mean_dice"],
        "train_seconds": train_s,
        "predict_seconds": predict_s,
        "forest_seconds": forest_s,
        "steps": model.history.get("steps"),
        # the class weights (or threshold) matched to the training labels, if any
        "matched": model.history.get("threshold"),
    }


def row_text(row: dict[str, Any]) -> str:
    """One run as a line of the log."""
    ours, forest = row["ours_scores"], row["forest_scores"]
    each = ", ".join(
        f"{name} {forest['dice'][name]:.3f} -> {ours['dice'][name]:.3f}" for name in ours["dice"]
    )
    teacher, plain = row.get("teacher_scores"), row.get("unweighted_scores")
    taught = f", teacher alone {teacher['mean_dice']:.3f}" if teacher else ""
    if plain:
        weights = (row.get("matched") or {}).get("class_biases")
        taught += f", without its class weights {weights} {plain['mean_dice']:.3f}"
    return (
        f"{row['case']} s{row['seed']} {row['ours']} ({row['time_limit']:.0f} s): mean Dice forest "
        f"{forest['mean_dice']:.3f}, ours {ours['mean_dice']:.3f} "
        f"({row['delta_mean_dice']:+.3f}){taught}; {each}; trained {row['train_seconds']:.0f} s"
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the cases and draws asked for; return the rows measured now."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=[name for name, case in real_data.CLASSES_CASES.items() if case.default],
        help="cases (default: all but the opt-in ones, e.g. mni152-tissue-3d-1mm)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--extra-2d", action="store_true", help="a 2D model on 3D cases too")
    parser.add_argument("--teacher", action="store_true", help="score the forest teacher too")
    parser.add_argument("--seconds", type=float, help="training budget (default 90 / 180 s)")
    parser.add_argument("--start", help="fine-tune this model instead of a new one")
    parser.add_argument("--json", type=Path, help="append one JSON line per run")
    parser.add_argument("--cache", help="data cache folder (see real_data.py)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    seconds = {d: args.seconds for d in SECONDS} if args.seconds else SECONDS
    done = set()
    if args.json and args.json.exists():
        for line in args.json.read_text().splitlines():
            old = json.loads(line)
            done.add((old["case"], old["seed"], old["ours"]))
            print("(done before) " + row_text(old), flush=True)
    rows = []
    for name in args.cases:
        loaded = real_data.load_classes(name, args.cache)
        for seed in args.seeds:
            forest_cache: dict[int, Any] = {}
            for how, dims in runs_for(loaded.case, args.extra_2d, args.start):
                if (name, seed, how) in done:
                    continue
                row = run_one(
                    loaded,
                    seed,
                    how,
                    dims,
                    forest_cache,
                    seconds,
                    teacher=args.teacher,
                    start=args.start,
                )
                rows.append(row)
                print(row_text(row), flush=True)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    main()
