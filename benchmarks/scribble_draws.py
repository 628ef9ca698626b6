"""Scribble training on several scribble draws: the spread the benchmark's one draw does
not show.

For each case, draw (``--seeds``) and model dimensionality, paints the benchmark's
scribbles of that draw and trains on them as the benchmark does (90 s in 2D / 180 s in
3D): a new model for the tissue cases (``api.train``'s defaults: forest teacher), the
shipped default model fine-tuned for the nuclei cases. Scores it on the unpainted part,
next to the random forest of ``bench_accuracy.py`` and, for new models, the teacher alone
and the student's agreement with it, the weights it kept and its matched threshold; for
fine-tuned models the default model's Dice before training.

    OMP_NUM_THREADS=2 python benchmarks/scribble_draws.py --seeds 1 2 \\
        --json benchmarks/results/scribble-draws.jsonl
    OMP_NUM_THREADS=2 python benchmarks/scribble_draws.py --cases huh7-cells-2d \\
        --seeds 0 1 2 --forest-only --json huh7-forest-only.jsonl

``--new-model`` trains a new model (forest teacher) on the nuclei cases too, ``--dims``
picks the model's dimensionality (a 2D model on a stack learns plane by plane, the
Fine-tune widget's default there) and ``--seconds`` the budget:

    OMP_NUM_THREADS=2 python benchmarks/scribble_draws.py --cases stardist-synthetic-3d \\
        --new-model --dims 2 --seconds 180 --seeds 0 1 --json stack.jsonl [--forest-only]

``--fine-tune-teacher forest`` fine-tunes the shipped model with the forest teacher
labelling the unpainted pixels (``api.train``'s ``teacher``; "auto" trains on the strokes
alone there), and scores that teacher alone too:

    OMP_NUM_THREADS=2 python benchmarks/scribble_draws.py --cases cells3d-nuclei-3d \\
        --seeds 0 1 2 --fine-tune-teacher forest --json teacher.jsonl

``--forest-only``: the forest teacher with its own features alone, as before it read
the shipped models' answer on one-channel images (``napari_unetseg.forest.FEATURE_MODELS``).

Appends one JSON line per run to ``--json`` (runs already there are skipped, so an
interrupted run resumes). Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import bench_accuracy as bench
import numpy as np
import real_data
from student_vs_teacher import train_with_teacher

from napari_unetseg import api
from napari_unetseg import forest as forest_module

#: The cases and their model dims: tissue cases train a new model from scribbles, the
#: nuclei cases fine-tune the shipped default model of their dimensionality.
CASES = {
    "mni152-gm-2d": (2,),
    "mni152-wm-2d": (2,),
    "mni152-gm-3d": (3, 2),
    "mni152-wm-3d": (3, 2),
    "dsb2018-2d": (2,),
    "stardist-synthetic-3d": (3,),
    "cells3d-nuclei-3d": (3,),
    "huh7-cells-2d": (2,),  # whole cells: a new model, as for tissue
    "ndev-scratch-assay-auto": (2,),
}
#: Cases run unless ``--cases`` says otherwise (the new-model cases, as before).
DEFAULT_CASES = [c for c in CASES if c.startswith("mni152")]
SECONDS = {2: 90.0, 3: 180.0}


def _fine_tuned(case: str, seed: int, dims: int, **train_options) -> tuple:
    """Fine-tune the default model on a nuclei case's scribbles of draw ``seed``
    (``train_options``: more ``api.train`` arguments, e.g. ``scale``)."""
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    scored = ~bench.painted_region(loaded.case, image.shape)
    scribbles = bench.make_scribbles(loaded, seed=seed)
    model = api.train(
        loaded.image, scribbles, model=bench.DEFAULT_MODEL[dims], label_mode="sparse",
        time_limit=SECONDS[dims], seed=0, **train_options,
    )  # fmt: skip
    before = bench.predict_foreground(loaded.image, bench.DEFAULT_MODEL[dims], {})
    return loaded, image, truth, scored, scribbles, model, before


def one_run(
    case: str,
    seed: int,
    dims: int,
    new_model: bool = False,
    seconds: float | None = None,
    fine_tune_teacher: str = "auto",
) -> dict:
    """Train and score one model; the row as a dict. ``new_model``: a new model (forest
    teacher) for a nuclei case too; ``seconds``: the budget instead of :data:`SECONDS`;
    ``fine_tune_teacher``: ``api.train``'s ``teacher`` when fine-tuning."""
    teacher = before = None
    limit = SECONDS[dims] if seconds is None else seconds
    fine_tuning = real_data.EVAL_CASES[case].kind == "nuclei" and not new_model
    if fine_tuning:
        loaded, image, truth, scored, scribbles, model, before = _fine_tuned(
            case, seed, dims, teacher=fine_tune_teacher
        )
        if fine_tune_teacher == "forest":
            teacher = bench.teacher_foreground(image, scribbles)
    else:
        loaded, image, truth, scored, teacher, model = train_with_teacher(
            case, seed, time_limit=limit, spatial_dims=dims
        )
        scribbles = bench.make_scribbles(loaded, seed=seed)
    ours = bench.predict_foreground(loaded.image, model, {})
    scores = bench.foreground_scores(ours, truth, scored)
    forest = bench.foreground_scores(bench.forest_foreground(image, scribbles), truth, scored)
    h = model.history

    def dice(mask: np.ndarray | None, reference: np.ndarray) -> float | None:
        return (
            None
            if mask is None
            else round(bench.foreground_scores(mask, reference, scored)["dice"], 4)
        )

    return {
        "case": case,
        "seed": seed,
        "dims": dims,
        "dice": round(scores["dice"], 4),
        "sensitivity": round(scores["sensitivity"], 4),
        "precision": round(scores["precision"], 4),
        "forest": round(forest["dice"], 4),
        "teacher": dice(teacher, truth),
        "agreement": dice(None if teacher is None else ours, teacher),
        "before_training": dice(before, truth),
        "steps": h["steps"],
        "weights": h["weights"],
        "threshold": h.get("threshold"),
        "teacher_reads": forest_module.FEATURE_MODELS.get(real_data.EVAL_CASES[case].dims),
        "new_model": not fine_tuning,
        "fine_tune_teacher": fine_tune_teacher if fine_tuning else None,
        "seconds": SECONDS[dims] if fine_tuning else limit,
    }


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, choices=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="scribble draws")
    parser.add_argument("--json", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument(
        "--forest-only", action="store_true", help="the teacher without the models' answer"
    )
    parser.add_argument(
        "--new-model", action="store_true", help="a new model for the nuclei cases too"
    )
    parser.add_argument("--dims", type=int, choices=(2, 3), help="the model's dims")
    parser.add_argument("--seconds", type=float, help="training budget (default 90 / 180 s)")
    parser.add_argument(
        "--fine-tune-teacher",
        choices=forest_module.TEACHERS,
        default="auto",
        help="api.train's teacher when fine-tuning the shipped model (forest: the forest "
        "teacher labels the unpainted pixels)",
    )
    args = parser.parse_args()
    if args.forest_only:
        forest_module.FEATURE_MODELS = {}
    warnings.filterwarnings("ignore", category=UserWarning)
    done = set()
    if args.json.exists():
        for line in args.json.read_text().splitlines():
            row = json.loads(line)
            done.add((row["case"], row["seed"], row["dims"]))
    print(
        "| case | draw | model | ours | forest | teacher | agreement | before training "
        "| threshold | weights |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for case in args.cases:
            for dims in [args.dims] if args.dims else CASES[case]:
                if (case, seed, dims) in done:
                    continue
                row = one_run(
                    case, seed, dims, args.new_model, args.seconds, args.fine_tune_teacher
                )
                with args.json.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                t = (row["threshold"] or {}).get("threshold", 0.5)
                cells = [_f(row[k]) for k in ("dice", "forest", "teacher", "agreement")]
                cells += [_f(row.get("before_training")), f"{t:.2f}", str(row["weights"])]
                print(f"| {case} | s{seed} | {dims}D | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
