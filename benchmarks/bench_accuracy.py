"""Accuracy on real data: our models against classical baselines, side by side.

The cases come from wheels on PyPI (``benchmarks/real_data.py``: source, licence and
kind of reference of each). Two parts, each one Markdown table with every case:

1. **Default model vs Otsu** (nuclei cases). ``api.predict(image, "nuclei-2d")`` for 2D
   images, ``"nuclei-3d"`` for 3D stacks, and ``"nuclei-2d"`` plane by plane on each 3D
   stack, against Otsu's threshold of the whole image / volume after a Gaussian blur
   (sigma 1); two more columns give Otsu's threshold of the raw intensities, the
   weaker, common baseline. Scored on the whole image.
2. **Scribble training vs a random forest from the same scribbles.** Scribbles are made
   from the reference as a user paints them: a short stroke (or a dot, in small
   objects) inside about half of the objects and strokes through the background,
   mostly between objects, all in the first 40 % of one axis (for 3D cases, on every
   few planes of it). ``api.train(image, scribbles, model=..., label_mode="sparse",
   time_limit=90 / 180 s (2D / 3D), seed=0)`` fine-tunes the default model (nuclei
   cases) or trains a new one (other cases; for 3D also a new 2D model on the painted
   planes as an extra row), then predicts the image. The random forest is the ilastik
   approach: ``skimage.feature.multiscale_basic_features`` (sigma 0.5-16) and
   ``skimage.future.fit_segmenter`` with ``RandomForestClassifier(n_estimators=50,
   max_depth=10)``. Both are scored only on the unpainted 60 %. A new model learns from
   the plugin's own forest teacher (``napari_unetseg.forest``: local features, sigma
   0.5-4); the column "Dice teacher alone" scores that teacher by itself.

Scores are the foreground's Dice, IoU, sensitivity and precision against the reference
foreground (reference > 0). Cases whose reference is synthetic or automatic are
controls, marked in every table.

    # smoke run, about 1.5 minutes: 3 cases, 20 s of training each
    OMP_NUM_THREADS=1 python benchmarks/bench_accuracy.py --quick

    # part 1 only (seconds, once the data are cached)
    OMP_NUM_THREADS=1 python benchmarks/bench_accuracy.py --skip-training

    # everything: 990 s of training budget, about 18-19 minutes in all
    OMP_NUM_THREADS=1 python benchmarks/bench_accuracy.py --json out/bench_accuracy.json

    # opt-in control cases (BBBC007, reference = an automatic Otsu segmentation)
    python benchmarks/bench_accuracy.py --cases dsb2018-2d bbbc007-a9p7d-auto

    # any keyword of api.predict, passed only when api.predict has it
    python benchmarks/bench_accuracy.py --skip-training --predict-option object_size=None

The data are fetched into ``~/.cache/napari-unetseg-bench`` (``--cache`` or
``$UNETSEG_BENCH_DATA``). Not a test: nothing is asserted. Training runs on a time
budget, so part 2 depends on the machine's speed and load.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_data  # noqa: E402
from bench_training import machine  # noqa: E402

from napari_unetseg import api  # noqa: E402
from napari_unetseg import forest as forest_module  # noqa: E402

#: Cases of ``--quick``: a 2D fine-tuning case, a 3D nuclei stack (control) and a 3D
#: new-model case (with the extra 2D-model row).
QUICK_CASES = ("dsb2018-2d", "stardist-synthetic-3d", "mni152-gm-3d")
#: Default models for nuclei cases, by spatial dimensions.
DEFAULT_MODEL = {2: "nuclei-2d", 3: "nuclei-3d"}
#: Random-forest settings (the ilastik approach, as in scikit-image's example).
FOREST = {"n_estimators": 50, "max_depth": 10, "n_jobs": 1, "random_state": 0}
#: Its features (``skimage.feature.multiscale_basic_features`` arguments).
FEATURES = {"sigma_min": 0.5, "sigma_max": 16.0}


# --- scores ------------------------------------------------------------------------------


def foreground_scores(
    prediction: np.ndarray, reference: np.ndarray, where: np.ndarray | None = None
) -> dict[str, float]:
    """Dice, IoU, sensitivity and precision of a foreground against the reference.

    Parameters
    ----------
    prediction, reference : ndarray of bool
        Predicted and reference foreground, same shape.
    where : ndarray of bool, optional
        Only these pixels are scored.

    Returns
    -------
    dict
        ``dice``, ``iou``, ``sensitivity``, ``precision`` (NaN where undefined) and the
        pixel counts ``tp``, ``fp``, ``fn``.
    """
    if where is not None:
        prediction, reference = prediction[where], reference[where]
    tp = int(np.count_nonzero(prediction & reference))
    fp = int(np.count_nonzero(prediction & ~reference))
    fn = int(np.count_nonzero(~prediction & reference))

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    return {
        "dice": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "precision": ratio(tp, tp + fp),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


# --- baselines ---------------------------------------------------------------------------


def otsu_foreground(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Otsu's threshold of the whole image after a Gaussian blur.

    Parameters
    ----------
    image : ndarray
        2D or 3D image.
    sigma : float
        Gaussian sigma in pixels; 0 thresholds the raw intensities.

    Returns
    -------
    ndarray of bool
        Pixels above the threshold.
    """
    from skimage.filters import gaussian, threshold_otsu  # noqa: PLC0415

    smooth = image.astype(np.float32)
    if sigma > 0:
        smooth = gaussian(smooth, sigma=sigma, preserve_range=True)
    return smooth > threshold_otsu(smooth)


def baseline_features(image: np.ndarray, channel_axis: int | None = None) -> np.ndarray:
    """The random forest's features (:data:`FEATURES`) of a 2D or 3D image, one thread
    (of every channel, for an image with a ``channel_axis``)."""
    from skimage.feature import multiscale_basic_features  # noqa: PLC0415

    options: dict[str, Any] = dict(FEATURES, channel_axis=channel_axis)
    parameters = inspect.signature(multiscale_basic_features).parameters
    for name in ("workers", "num_workers"):  # one thread, like everything else here
        if name in parameters:
            options[name] = 1
    return multiscale_basic_features(image.astype(np.float32), **options)


def forest_labels(
    image: np.ndarray, scribbles: np.ndarray, channel_axis: int | None = None
) -> np.ndarray:
    """A random-forest pixel classifier trained on scribbles (the ilastik approach).

    Parameters
    ----------
    image : ndarray
        2D or 3D image (with a channel axis when ``channel_axis`` says so).
    scribbles : ndarray
        0 not painted, k >= 1 class k.
    channel_axis : int, optional
        The image's channel axis (e.g. -1 for RGB).

    Returns
    -------
    ndarray
        The class of every pixel (1, 2, ...).
    """
    from skimage.future import fit_segmenter, predict_segmenter  # noqa: PLC0415
    from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

    features = baseline_features(image, channel_axis)
    forest = fit_segmenter(scribbles, features, RandomForestClassifier(**FOREST))
    return predict_segmenter(features, forest)


def forest_foreground(image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """:func:`forest_labels` with 1 background, 2 object: the pixels classified as object."""
    return forest_labels(image, scribbles) == 2


def teacher_labels(
    image: np.ndarray, scribbles: np.ndarray, channel_axis: int | None = None
) -> np.ndarray:
    """The plugin's own forest teacher alone (``napari_unetseg.forest.dense_targets``,
    seeded as training seeds it): what a new model learns from.

    Same arguments as :func:`forest_labels`; returns the class of every pixel.
    """
    (dense,), _ = forest_module.dense_targets(
        [image], [scribbles], channel_axis=channel_axis, seed=0
    )
    return np.asarray(dense)


def teacher_foreground(image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """:func:`teacher_labels` with 1 background, 2 object: the pixels it calls object."""
    return teacher_labels(image, scribbles) == 2


# --- scribbles ---------------------------------------------------------------------------

_BRUSH = ndi.generate_binary_structure(2, 1)


def _walk(
    allowed: np.ndarray, start: tuple[int, int], length: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """A stroke: a walk with a slowly turning direction that stays inside ``allowed``."""
    y, x = float(start[0]), float(start[1])
    angle = rng.uniform(0, 2 * np.pi)
    points = [start]
    for _ in range(length):
        for attempt in range(6):
            turn = rng.normal(0, 0.2)
            if attempt:
                turn += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
            ny, nx = y + math.sin(angle + turn), x + math.cos(angle + turn)
            iy, ix = round(ny), round(nx)
            if 0 <= iy < allowed.shape[0] and 0 <= ix < allowed.shape[1] and allowed[iy, ix]:
                y, x, angle = ny, nx, angle + turn
                if (iy, ix) != points[-1]:
                    points.append((iy, ix))
                break
        else:
            break
    return points


def _paint(out: np.ndarray, points: list[tuple[int, int]], allowed: np.ndarray, value: int):
    """Paint points with a 3-pixel brush, clipped to ``allowed``, over unpainted pixels."""
    stroke = np.zeros(out.shape, bool)
    stroke[tuple(np.array(points).T)] = True
    stroke = ndi.binary_dilation(stroke, _BRUSH) & allowed & (out == 0)
    out[stroke] = value


def paint_plane(
    reference: np.ndarray,
    region: np.ndarray,
    rng: np.random.Generator,
    *,
    instances: bool,
    max_objects: int,
    max_background: int,
    area_per_stroke: float = 3000,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Scribbles on one plane, as a user paints them, inside ``region`` only.

    Parameters
    ----------
    reference : ndarray
        2D reference: instance labels (``instances``) or a mask; foreground is ``> 0``.
    region : ndarray of bool
        Where painting is allowed.
    rng : numpy.random.Generator
        Random source.
    instances : bool
        One stroke or dot inside each of about half of the objects that lie wholly in
        the region; otherwise strokes along the foreground (thin tissue).
    max_objects, max_background : int
        Caps on the number of foreground and background strokes.
    area_per_stroke : float
        One background stroke per this many paintable background pixels (at least 3).
    image : ndarray, optional
        The plane's image: for tissue (not ``instances``), a third of the background
        strokes start in background brighter than the plane's Otsu threshold.

    Returns
    -------
    ndarray of uint8
        0 not painted, 1 background, 2 object.
    """
    out = np.zeros(reference.shape, np.uint8)
    fg = reference > 0
    if instances:
        candidates = []
        for index, box in enumerate(ndi.find_objects(reference)):
            if box is not None and region[box][reference[box] == index + 1].all():
                candidates.append((index + 1, box))
        count = min(len(candidates), max(min(3, len(candidates)), len(candidates) // 2))
        count = min(count, max_objects)
        for pick in rng.choice(len(candidates), size=count, replace=False):
            label, box = candidates[pick]
            padded = tuple(
                slice(max(s.start - 1, 0), min(s.stop + 1, n))
                for s, n in zip(box, reference.shape)
            )
            obj = reference[padded] == label
            depth = ndi.distance_transform_edt(obj)
            cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
            radius = float(depth[cy, cx])
            local = np.zeros(obj.shape, np.uint8)
            if radius < 3:  # a dot
                _paint(local, [(int(cy), int(cx))], obj, 2)
            else:  # a short straight stroke through the middle
                angle = rng.uniform(0, np.pi)
                half = int(0.6 * radius)
                points = [
                    (round(cy + t * math.sin(angle)), round(cx + t * math.cos(angle)))
                    for t in range(-half, half + 1)
                ]
                points = [
                    p
                    for p in points
                    if 0 <= p[0] < obj.shape[0] and 0 <= p[1] < obj.shape[1] and depth[p] >= 2
                ]
                _paint(local, points or [(int(cy), int(cx))], depth >= 1, 2)
            view = out[padded]
            view[local == 2] = 2
    else:
        inside = fg & region
        pixels = np.argwhere(inside)
        count = int(np.clip(round(len(pixels) / 400), 3, max_objects)) if len(pixels) else 0
        for i in rng.choice(len(pixels), size=min(count, len(pixels)), replace=False):
            start = (int(pixels[i][0]), int(pixels[i][1]))
            _paint(out, _walk(inside, start, 20, rng), inside, 2)
    # background: strokes through the background, half of them close to objects; for
    # tissue, also through the other bright tissue (a user painting "grey matter vs the
    # rest" paints white matter too, not only the empty space around the brain)
    distance = ndi.distance_transform_edt(~fg)
    allowed = region & (distance >= 2)
    near = np.argwhere(allowed & (distance <= 8))
    anywhere = np.argwhere(allowed)
    pools = [near, anywhere]
    if not instances and image is not None:
        bright = allowed & (image > threshold_otsu(image))
        pools = [near, np.argwhere(bright), anywhere]
    count = round(len(anywhere) / area_per_stroke)
    count = int(np.clip(count, 3, max_background)) if len(anywhere) else 0
    for k in range(count):
        pool = pools[k % len(pools)]
        if not len(pool):
            pool = anywhere
        start = pool[rng.integers(len(pool))]
        start = (int(start[0]), int(start[1]))
        _paint(out, _walk(allowed, start, 40, rng), allowed, 1)
    return out


def painted_region(case: real_data.Case, shape: tuple[int, ...]) -> np.ndarray:
    """True where the case allows painting (the first part of its paint axis)."""
    cut = int(round(shape[case.paint_axis] * case.paint_fraction))
    index = np.arange(shape[case.paint_axis]) < cut
    view = [1] * len(shape)
    view[case.paint_axis] = -1
    return np.broadcast_to(index.reshape(view), shape)


def painted_planes(case: Any, shape: tuple[int, ...]) -> range:
    """The planes of a 3D case that strokes are painted on: every ``plane_step``-th along
    Z; painted along Z, within the first planes only (painted along Y or X, every plane
    gets strokes in its first part). ``case``: a ``real_data.Case`` or ``ClassesCase``."""
    cut = int(round(shape[0] * case.paint_fraction))
    last = cut if case.paint_axis == 0 else shape[0]
    step = case.plane_step or 8
    return range(step // 2, last, step)


def make_scribbles(loaded: real_data.Loaded, seed: int = 0) -> np.ndarray:
    """Scribbles for a case: painted part only; 0 not painted, 1 background, 2 object.

    Parameters
    ----------
    loaded : real_data.Loaded
        The case.
    seed : int
        Random seed.

    Returns
    -------
    ndarray of uint8
        Same shape as the image.
    """
    case, reference = loaded.case, loaded.reference
    rng = np.random.default_rng(seed)
    instances = case.kind in ("nuclei", "cells")  # dots or short strokes inside objects
    # tissue: more background strokes, so that they cross the other tissues, not only
    # the empty surroundings
    area = 3000 if instances else 1000
    region = painted_region(case, reference.shape)
    out = np.zeros(reference.shape, np.uint8)
    if reference.ndim == 2:
        out[:] = paint_plane(
            reference,
            region,
            rng,
            instances=instances,
            max_objects=30,
            max_background=20,
            area_per_stroke=area,
            image=loaded.image,
        )
    else:
        for z in painted_planes(case, reference.shape):
            out[z] = paint_plane(
                reference[z],
                region[z],
                rng,
                instances=instances,
                max_objects=8,
                max_background=6,
                area_per_stroke=area,
                image=loaded.image[z],
            )
    if not (out == 1).any() or not (out == 2).any():
        raise ValueError(f"{case.name}: the scribbles lack a class")
    return out


# --- running -----------------------------------------------------------------------------


def supported(function: Any, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options that ``function`` accepts, and the names it does not."""
    parameters = inspect.signature(function).parameters
    kept = {k: v for k, v in options.items() if k in parameters}
    return kept, sorted(set(options) - set(kept))


def predict_foreground(image: np.ndarray, model: Any, options: dict[str, Any]) -> np.ndarray:
    """``api.predict`` with the supported options; foreground = labels > 0."""
    return np.asarray(api.predict(image, model, **options)) > 0


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call and measure the wall time."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def part_default(
    loaded: real_data.Loaded, options: dict[str, Any], cache: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """Part 1 for one nuclei case: default model(s) vs Otsu on the whole image."""
    case, image, truth = loaded.case, loaded.image, loaded.foreground
    otsu, otsu_s = timed(otsu_foreground, image)
    otsu_scores = foreground_scores(otsu, truth)
    # Otsu's threshold of the raw intensities too: the common baseline (issue #14 quotes
    # it), weaker than the blurred one the targets are measured against
    plain_scores = foreground_scores(otsu_foreground(image, sigma=0.0), truth)
    models = [DEFAULT_MODEL[case.dims]]
    if case.dims == 3:
        models.append("nuclei-2d")  # plane by plane
    rows = []
    for model in models:
        ours, seconds = timed(predict_foreground, image, model, options)
        cache[model] = ours
        how = model + (" per plane" if case.dims == 3 and model == "nuclei-2d" else "")
        rows.append(
            {
                "case": case.name,
                "dims": case.dims,
                "shape": list(image.shape),
                "reference_type": case.reference_type,
                "ours": how,
                "baseline": "Otsu (gaussian sigma 1)",
                "ours_scores": foreground_scores(ours, truth),
                "baseline_scores": otsu_scores,
                "plain_otsu_scores": plain_scores,
                "ours_seconds": seconds,
                "baseline_seconds": otsu_s,
            }
        )
    return rows


def part_scribbles(
    loaded: real_data.Loaded,
    options: dict[str, Any],
    cache: dict[str, np.ndarray],
    time_limits: dict[int, float],
    extra_2d: bool,
) -> list[dict[str, Any]]:
    """Part 2 for one case: scribble training vs a random forest, unpainted part only."""
    case, image, truth = loaded.case, loaded.image, loaded.foreground
    scribbles = make_scribbles(loaded)
    scored = ~painted_region(case, image.shape)
    forest, forest_s = timed(forest_foreground, image, scribbles)
    forest_scores = foreground_scores(forest, truth, scored)
    runs: list[tuple[str, dict[str, Any]]] = []
    if case.kind == "nuclei":
        model = DEFAULT_MODEL[case.dims]
        runs.append((f"fine-tuned {model}", {"model": model}))
    else:
        runs.append((f"new {case.dims}D model", {"model": None}))
        if case.kind == "cells":  # what the Fine-tune widget starts from on a plane
            runs.append((f"fine-tuned {DEFAULT_MODEL[2]}", {"model": DEFAULT_MODEL[2]}))
        if case.dims == 3 and extra_2d:
            runs.append(("new 2D model (plane by plane)", {"model": None, "spatial_dims": 2}))
    untrained, teacher = None, None
    if case.kind == "nuclei":
        model = DEFAULT_MODEL[case.dims]
        if model not in cache:
            cache[model] = predict_foreground(image, model, options)
        untrained = foreground_scores(cache[model], truth, scored)["dice"]
    else:  # a new model learns from the plugin's forest teacher: that teacher alone
        teacher = foreground_scores(teacher_foreground(image, scribbles), truth, scored)
    rows = []
    for how, arguments in runs:
        dims = arguments.get("spatial_dims", case.dims)
        limit = time_limits[dims]
        arguments, _ = supported(api.train, arguments)
        trained, train_s = timed(
            api.train,
            image,
            scribbles,
            label_mode="sparse",
            time_limit=limit,
            seed=0,
            **arguments,
        )
        ours, predict_s = timed(predict_foreground, image, trained, options)
        rows.append(
            {
                "case": case.name,
                "dims": case.dims,
                "shape": list(image.shape),
                "reference_type": case.reference_type,
                "ours": how,
                "baseline": "random forest (same scribbles)",
                "time_limit": limit,
                "scribble_pixels": {
                    "background": int((scribbles == 1).sum()),
                    "object": int((scribbles == 2).sum()),
                },
                "scored_pixels": int(scored.sum()),
                "ours_scores": foreground_scores(ours, truth, scored),
                "baseline_scores": forest_scores,
                "default_model_dice": untrained,
                "teacher_scores": teacher,
                "train_seconds": train_s,
                "ours_predict_seconds": predict_s,
                "baseline_seconds": forest_s,
            }
        )
    return rows


# --- tables ------------------------------------------------------------------------------


def _f(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


def _name(row: dict[str, Any]) -> str:
    flag = {"synthetic": " (synthetic)", "automatic": " (auto ref)"}
    return row["case"] + flag.get(row["reference_type"], "")


def table(rows: list[dict[str, Any]], baseline: str, training: bool) -> str:
    """Markdown table: every row's scores, ours next to the baseline.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`part_default` or :func:`part_scribbles`.
    baseline : str
        Column label of the baseline.
    training : bool
        Rows come from part 2 (adds scribble and training columns).

    Returns
    -------
    str
        The table.
    """
    head = ["case", "dims", "shape", "ours", f"Dice ours / {baseline}", "Δ Dice"]
    head += ["IoU ours / base", "sens. ours / base", "prec. ours / base"]
    if training:
        head += ["scribble px bg / obj", "Dice untrained", "Dice teacher alone", "train s"]
    else:
        head += ["Dice Otsu without blur", "Δ Dice to it"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        a, b = row["ours_scores"], row["baseline_scores"]
        cells = [
            _name(row),
            f"{row['dims']}D",
            " x ".join(map(str, row["shape"])),
            row["ours"],
            f"{_f(a['dice'])} / {_f(b['dice'])}",
            f"{a['dice'] - b['dice']:+.3f}",
        ]
        cells += [f"{_f(a[k])} / {_f(b[k])}" for k in ("iou", "sensitivity", "precision")]
        if training:
            px = row["scribble_pixels"]
            cells += [
                f"{px['background']} / {px['object']}",
                _f(row["default_model_dice"]),
                _f((row.get("teacher_scores") or {}).get("dice")),
                f"{row['train_seconds']:.0f}",
            ]
        elif "plain_otsu_scores" in row:  # absent from JSON files written before
            plain = row["plain_otsu_scores"]["dice"]
            cells += [_f(plain), f"{a['dice'] - plain:+.3f}"]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the tables and return (optionally write) the numbers."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 cases, 20 s of training")
    parser.add_argument("--cases", nargs="+", choices=sorted(real_data.EVAL_CASES))
    parser.add_argument("--skip-training", action="store_true", help="part 1 only")
    parser.add_argument("--json", type=Path, help="write all numbers here")
    parser.add_argument("--cache", help="data cache folder (see real_data.py)")
    parser.add_argument("--time-limit-2d", type=float, help="training seconds, 2D (90)")
    parser.add_argument("--time-limit-3d", type=float, help="training seconds, 3D (180)")
    parser.add_argument("--no-extra-2d", action="store_true", help="skip the 2D-model row")
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument(
        "--predict-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword for api.predict (Python literal), used only if api.predict has it",
    )
    args = parser.parse_args(argv)
    if args.threads:
        import torch  # noqa: PLC0415

        torch.set_num_threads(args.threads)
    default_limit = 20.0 if args.quick else None
    limits = {
        2: args.time_limit_2d or default_limit or 90.0,
        3: args.time_limit_3d or default_limit or 180.0,
    }
    if args.cases:
        names = list(args.cases)
    elif args.quick:
        names = list(QUICK_CASES)
    else:
        names = [n for n, c in real_data.EVAL_CASES.items() if c.default]
    options, ignored = supported(api.predict, dict(map(_option, args.predict_option)))
    if ignored:
        print(f"api.predict has no {', '.join(ignored)}: ignored", file=sys.stderr)

    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "quick": args.quick,
            "time_limits": limits,
            "predict_options": options,
            "forest": FOREST,
            "forest_features": dict(FEATURES),
            "teacher_features": dict(forest_module.FEATURES),
            "otsu": "skimage.filters.gaussian(sigma=1) + threshold_otsu",
        },
        "cases": [],
        "default_vs_otsu": [],
        "scribbles_vs_forest": [],
    }
    started = time.perf_counter()
    for name in names:
        loaded = real_data.load_case(name, args.cache)
        report["cases"].append(loaded.case.to_dict())
        print(f"[{time.perf_counter() - started:6.0f} s] {name} {loaded.image.shape}", flush=True)
        predictions: dict[str, np.ndarray] = {}
        if loaded.case.kind == "nuclei":
            report["default_vs_otsu"] += part_default(loaded, options, predictions)
        if not args.skip_training:
            report["scribbles_vs_forest"] += part_scribbles(
                loaded, options, predictions, limits, extra_2d=not args.no_extra_2d
            )
    report["total_seconds"] = time.perf_counter() - started

    print(f"\n{report['machine']}\n")
    print("### 1. Default model vs Otsu (whole image; nuclei cases)\n")
    print(table(report["default_vs_otsu"], "Otsu", training=False))
    if not args.skip_training:
        print(
            "\n### 2. Scribble training vs random forest (same scribbles; unpainted part "
            f"only; {limits[2]:.0f} s 2D / {limits[3]:.0f} s 3D)\n"
        )
        print(table(report["scribbles_vs_forest"], "RF", training=True))
    print(f"\ntotal {report['total_seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
