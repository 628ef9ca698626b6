"""Where should a user paint next? Strokes through the unsure band against strokes
through the errors (issue #14).

The strokes of ``bench_accuracy.py`` leave out where the border between the classes lies
(docs/benchmarks.md, "What the strokes can tell", "Why Huh7 stops there"). A user adds
strokes after seeing the first result; this script compares where those strokes go, in
the painted part only (the part the user works in), three strokes per painted plane,
each with the reference's class at its start (the class an eye sees there):

- ``errors``: through the three largest regions where the first answer is wrong (a user
  who finds every error: ``correction_rounds.corrections``);
- ``unsure``: through the three largest regions of the unsure band, where the first
  answer's foreground probability lies between 0.2 and 0.8
  (``napari_unetseg.core.inference.unsure_band``; what the Fine-tune widget now shows in
  its ``[unsure]`` layer), clipped to the pixels of that class;
- ``random``: from three random unpainted places of the painted part (``--band teacher``
  only).

The first answer is the plugin's forest teacher (``--band teacher``: the forest fitted
on the strokes, with the shipped model's score where the gate keeps it) or the model
``bench_accuracy.py`` trains on the strokes (``--band model``: what the user sees; on
nuclei cases the shipped model fine-tuned, elsewhere a new model; 90 s in 2D, 180 s in
3D). Round 2 is the forest teacher fitted again on all the strokes, which is what
"Continue training" does first for a model a forest taught (the model then learns from
it and lands on it); a fine-tuned model has no teacher, so on nuclei cases only the
``--further`` columns say what Continue training gives.
Dice on the unpainted part, per case and draw of strokes:

    OMP_NUM_THREADS=2 python benchmarks/where_to_paint.py --band teacher \\
        --cases huh7-cells-2d dsb2018-2d mni152-gm-2d mni152-wm-2d --json teacher.jsonl
    OMP_NUM_THREADS=2 python benchmarks/where_to_paint.py --band model \\
        --cases huh7-cells-2d mni152-wm-2d mni152-gm-2d --json model.jsonl

``--further 60`` (model band) also trains the model further on all the strokes for 60 s
(``--cases ndev-scratch-assay-auto cells3d-nuclei-3d``: the fine-tuned nuclei models),
as Continue training does, and fits the baseline random forest on them: both scored.

Appends one JSON line per case and draw; prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import bench_accuracy as bench
import numpy as np
import real_data
from correction_rounds import corrections, strokes_through

from napari_unetseg import api, forest
from napari_unetseg.core import network_features
from napari_unetseg.core.inference import unsure_band
from napari_unetseg.core.network_features import NetworkFeatures, separates

#: Strokes added per painted plane.
PER_PLANE = 3


def _views(out: np.ndarray, where: np.ndarray, truth: np.ndarray, planes: list[int] | None):
    if planes is None:
        return [(out, where, truth)]
    return [(out[z], where[z], truth[z]) for z in planes]


def random_strokes(
    free: np.ndarray, truth: np.ndarray, planes: list[int] | None, rng: np.random.Generator
) -> np.ndarray:
    """Strokes from random places of ``free`` on each painted plane, each with the
    reference's class at its start and kept to that class's pixels of ``free``."""
    out = np.zeros(truth.shape, np.uint8)
    for painted, where, reference in _views(out, free, truth, planes):
        pixels = np.argwhere(where)
        for _ in range(PER_PLANE if len(pixels) else 0):
            start = tuple(int(v) for v in pixels[rng.integers(len(pixels))])
            allowed = where & (reference == reference[start])
            stroke = bench._walk(allowed, start, 30, rng)
            bench._paint(painted, stroke, allowed, 2 if reference[start] else 1)
    return out


class Teacher:
    """The plugin's forest teacher on one image: its features, fitted on any strokes."""

    def __init__(self, image: np.ndarray) -> None:
        self.own = forest.features(image)
        model = network_features.shipped(forest.FEATURE_MODELS[image.ndim])
        whole = tuple(slice(0, n) for n in image.shape)
        self.score = NetworkFeatures(model, image).block(image, whole)

    def probability(self, strokes: np.ndarray) -> np.ndarray:
        """The object probability of the forest fitted on ``strokes`` (the score read when
        it tells the strokes apart, as ``forest.py`` decides)."""
        from sklearn.ensemble import RandomForestClassifier

        painted = strokes > 0
        feats = self.own
        if separates(self.score[..., 0][painted], strokes[painted]) >= forest.MIN_AUC:
            feats = np.concatenate([self.own, self.score], -1)
        clf = RandomForestClassifier(**forest.FOREST, random_state=0)
        clf.fit(feats[painted], strokes[painted])
        flat = feats.reshape(-1, feats.shape[-1])
        return clf.predict_proba(flat)[:, 1].reshape(strokes.shape)


def measure(
    case: str, seed: int, band_of: str, teacher: Teacher | None = None, further: float = 0.0
) -> dict:
    """One case and draw; with ``further`` (model band) the model is also trained further
    on all the strokes for that many seconds (Continue training) and the random forest of
    ``bench_accuracy.py`` fitted on them, both scored."""
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    part = np.asarray(bench.painted_region(loaded.case, image.shape))
    strokes = bench.make_scribbles(loaded, seed=seed)
    painted = strokes > 0
    teacher = teacher or Teacher(image)

    def dice(mask: np.ndarray) -> float:
        return round(bench.foreground_scores(mask, truth, ~part)["dice"], 4)

    row: dict[str, Any] = {"case": case, "seed": seed, "band of": band_of}
    first = teacher.probability(strokes)
    row["round 1: teacher"] = dice(first > 0.5)
    if band_of == "model":
        # as bench_accuracy.py: nuclei cases fine-tune the shipped model, others train anew
        start = bench.DEFAULT_MODEL[loaded.case.dims] if loaded.case.kind == "nuclei" else None
        row["model"] = f"fine-tuned {start}" if start else "new model"
        model = api.train(
            loaded.image,
            strokes,
            model=start,
            label_mode="sparse",
            seed=0,
            time_limit=90.0 if image.ndim == 2 else 180.0,
        )
        labels, first = api.predict(loaded.image, model, return_probabilities=True)
        row["round 1: model"] = dice(np.asarray(labels) > 0)
    answer = np.asarray(first) > 0.5
    band = unsure_band(first).astype(bool) & part & ~painted
    row["unsure share of the painted part"] = round(float(band.sum() / (part & ~painted).sum()), 3)
    planes = None if image.ndim == 2 else [int(z) for z in np.unique(np.nonzero(strokes)[0])]
    added = {
        "errors": corrections(answer & part, truth & part, planes, np.random.default_rng(seed)),
        "unsure": strokes_through(
            band, truth, planes, np.random.default_rng(seed), PER_PLANE, one_class=True
        ),
    }
    if band_of == "teacher":
        rng = np.random.default_rng(seed)
        added["random"] = random_strokes(part & ~painted, truth, planes, rng)
    for name, extra in added.items():
        both = np.where((extra > 0) & ~painted, extra, strokes).astype(np.uint8)
        row[f"{name}: round 2"] = dice(teacher.probability(both) > 0.5)
        row[f"{name}: px (background, object)"] = [int((extra == k).sum()) for k in (1, 2)]
        if further and band_of == "model":
            more = api.train(
                loaded.image, both, model=model, label_mode="sparse", seed=0, time_limit=further
            )
            row[f"{name}: model trained further"] = dice(
                bench.predict_foreground(loaded.image, more, {})
            )
            row[f"{name}: forest on all strokes"] = dice(bench.forest_foreground(image, both))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", required=True, choices=sorted(real_data.EVAL_CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="draws")
    parser.add_argument("--band", choices=("teacher", "model"), default="teacher")
    parser.add_argument("--json", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument(
        "--further", type=float, default=0.0,
        help="with --band model: train the model further for this many seconds on all strokes",
    )  # fmt: skip
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    ways = ["errors", "unsure"] + (["random"] if args.band == "teacher" else [])
    head = ["case", "draw", f"round 1 ({args.band})", "unsure share"]
    head += [f"{w}: round 2 (px)" for w in ways]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for case in args.cases:
        loaded = real_data.load_case(case)
        teacher = Teacher(loaded.image.astype(np.float32))
        for seed in args.seeds:
            row = measure(case, seed, args.band, teacher, args.further)
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")
            first = row.get("round 1: model", row["round 1: teacher"])
            cells = [
                case,
                f"s{seed}",
                f"{first:.3f}",
                f"{row['unsure share of the painted part']:.3f}",
            ]
            for w in ways:
                px = sum(row[f"{w}: px (background, object)"])
                cells.append(f"{row[f'{w}: round 2']:.3f} ({px})")
                if f"{w}: model trained further" in row:
                    cells[-1] += (
                        f"; model further {row[f'{w}: model trained further']:.3f}, "
                        f"forest {row[f'{w}: forest on all strokes']:.3f}"
                    )
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
