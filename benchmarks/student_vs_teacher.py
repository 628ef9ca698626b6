"""Where a new model disagrees with its forest teacher, and who is right there.

A new model trained from scribbles learns from the plugin's forest teacher
(``napari_unetseg.forest``): every unpainted pixel labelled by a random forest fitted on
the strokes. This script trains one such model on a benchmark case with the benchmark's
scribbles, then compares its labels with the teacher's on the scored (unpainted) part
and on the painted part, and describes the pixels where only the student says "object":
how far they lie from the teacher's objects, how many of them the reference calls object,
and their intensities next to the teacher's objects and background.

    OMP_NUM_THREADS=2 python benchmarks/student_vs_teacher.py --case mni152-wm-3d \\
        --dims 2 --seconds 60

Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import warnings

import bench_accuracy as bench
import numpy as np
import real_data
from scipy import ndimage as ndi

from napari_unetseg import api


def _quartiles(values: np.ndarray) -> str:
    if values.size == 0:
        return "-"
    return " / ".join(f"{v:.1f}" for v in np.percentile(values, [25, 50, 75]))


def train_with_teacher(case: str, seed: int, preview_every: int = 0, **options: object) -> tuple:
    """Load a case, paint the benchmark's scribbles (draw ``seed``), label the rest with
    the plugin's forest teacher as training does, and train a new model on the scribbles
    (``api.train`` with ``options``; with ``preview_every``, the case's image is the
    preview image).

    Returns ``(loaded, image, truth, scored, teacher, model)``: the case, its float32
    image, reference foreground, scored (unpainted) part, the teacher's foreground and
    the trained bundle.
    """
    loaded = real_data.load_case(case)
    image, truth = loaded.image.astype(np.float32), loaded.foreground
    scored = ~bench.painted_region(loaded.case, image.shape)
    scribbles = bench.make_scribbles(loaded, seed=seed)
    teacher = bench.teacher_foreground(image, scribbles)
    if preview_every:
        options.update(preview_image=loaded.image, preview_every=preview_every)
    model = api.train(loaded.image, scribbles, label_mode="sparse", seed=0, **options)
    return loaded, image, truth, scored, teacher, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="mni152-wm-3d", choices=sorted(real_data.EVAL_CASES))
    parser.add_argument("--seed", type=int, default=0, help="scribble draw")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget")
    parser.add_argument(
        "--dims", type=int, choices=(2, 3), help="model dims (default: the case's)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    loaded, image, truth, scored, teacher, model = train_with_teacher(
        args.case, args.seed, spatial_dims=args.dims, time_limit=args.seconds
    )
    student = bench.predict_foreground(loaded.image, model, {})
    dims = args.dims or loaded.case.dims
    print(
        f"{args.case}, scribbles s{args.seed}, new {dims}D model, {args.seconds:.0f} s "
        f"({model.history['steps']} steps)"
    )
    for part, where in (("scored part", scored), ("painted part", ~scored)):
        agree = bench.foreground_scores(student, teacher, where)["dice"]
        s, t = (
            bench.foreground_scores(student, truth, where),
            bench.foreground_scores(teacher, truth, where),
        )
        print(
            f"  {part}: agreement Dice {agree:.3f}; student {s['dice']:.3f}, teacher "
            f"{t['dice']:.3f} against the reference; object only for the student "
            f"{int((student & ~teacher & where).sum()):,} px, only for the teacher "
            f"{int((teacher & ~student & where).sum()):,} px"
        )
    extra = student & ~teacher & scored
    distance = ndi.distance_transform_edt(~teacher)
    rings = np.bincount(np.minimum(np.ceil(distance[extra] - 1e-9).astype(int), 4), minlength=5)
    print(
        "  student-only pixels (scored part) by distance to the teacher's objects "
        f"(1, 2, 3, 4+ px): {', '.join(f'{n:,}' for n in rings[1:])}"
    )
    if extra.any():
        print(f"  of them object in the reference: {truth[extra].mean():.1%}")
    near = ~teacher & scored & (distance <= 1.5)
    print(
        "  intensity quartiles: student-only pixels "
        f"{_quartiles(image[extra])}; teacher's objects {_quartiles(image[teacher & scored])}; "
        f"teacher's background next to its objects {_quartiles(image[near])}"
    )


if __name__ == "__main__":
    main()
