"""The medical-imaging workflow end to end on a real MR volume, through the command line.

The ICBM 2009a T1 template (nilearn's wheel, `real_data.py`) at its own 1 mm, as the
NIfTI file it ships as:

1. the benchmark's strokes for the grey matter (`mni152-gm-3d-1mm`, draw 0: every 8th
   plane of the lower 40 %) are saved as a NIfTI label file on the template's affine;
2. ``unetseg train --image T1.nii.gz --labels strokes.nii.gz --time-limit S`` trains a
   new model (3D, forest teacher: the defaults);
3. ``unetseg predict T1.nii.gz --model gm.pt -o out/`` writes ``out/<name>_labels.nii.gz``;
4. the same model on the template at 2 mm (2 x 2 x 2 block means, the affine scaled to
   match), with ``--object-size auto`` (resampled to the size the model recorded) and
   ``off`` (predicted at 2 mm as it is): Dice inside the brain against the reference at
   2 mm (its block means > 0.5).

Printed: whether the labels file has the template's affine and shape (so MR viewers
overlay it), Dice on the unpainted part against the reference (grey-matter probability
> 0.5) next to the random forest from the same strokes, and the seconds. The API run of
the same case in ``bench_accuracy.py`` trains on the brain's bounding box; here the
whole file (8.7 M voxels, most of them empty surroundings) is the training image, as a
user would give it.

    OMP_NUM_THREADS=2 python benchmarks/nifti_workflow.py [--seconds 180] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_accuracy as bench  # noqa: E402
import real_data  # noqa: E402

from napari_unetseg import _io  # noqa: E402

CASE = "mni152-gm-3d-1mm"


def _halve(data: np.ndarray) -> np.ndarray:
    """2 x 2 x 2 block means (odd edges dropped)."""
    a = np.asarray(data, np.float32)
    a = a[tuple(slice(0, n - n % 2) for n in a.shape)]
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, a.shape[2] // 2, 2).mean((1, 3, 5))


def at_2mm(t1: Path, reference: Path, tmp: Path) -> dict[str, float]:
    """Step 4: the 1 mm model on the template at 2 mm, with and without the object size."""
    import nibabel as nib

    source = nib.load(str(t1))
    affine = source.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ np.full(3, 0.5)  # the centre of the first 2 mm voxel
    affine[:3, :3] *= 2
    image = _halve(source.dataobj)
    coarse = nib.Nifti1Image(image, affine)
    coarse.header.set_xyzt_units("mm")
    nib.save(coarse, str(tmp / "t1_2mm.nii.gz"))
    truth = _halve(nib.load(str(reference)).dataobj) > 127  # probability x 255 > 0.5
    scores = {}
    for size in ("auto", "off"):
        out = tmp / f"at_2mm_{size}.nii.gz"
        subprocess.run(
            ["unetseg", "predict", str(tmp / "t1_2mm.nii.gz"), "--model", str(tmp / "gm.pt"),
             "-o", str(out), "--object-size", size],
            check=True,
        )  # fmt: skip
        labels = np.asarray(nib.load(str(out)).dataobj) > 0  # the file's (i, j, k) order
        dice = bench.foreground_scores(labels, truth, image > 0)["dice"]
        scores[f"2 mm, object size {size} (inside the brain)"] = round(dice, 4)
    return scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=180.0, help="training time limit")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    import nibabel as nib

    case = real_data.EVAL_CASES[CASE]
    t1 = real_data.fetch_member(case.image)
    image = _io.read_image(t1)
    loaded = real_data.load_case(CASE)
    box = real_data._brain_box(image.data, pad=4)
    assert np.array_equal(image.data[box], loaded.image)  # the benchmark's crop of this file
    strokes = np.zeros(image.data.shape, np.uint8)
    strokes[box] = bench.make_scribbles(loaded, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _io.write_labels(tmp / "strokes.nii.gz", strokes, scale=image.scale, affine=image.affine)
        t0 = time.perf_counter()
        subprocess.run(
            ["unetseg", "train", "--image", str(t1), "--labels", str(tmp / "strokes.nii.gz"),
             "--output", str(tmp / "gm.pt"), "--time-limit", str(args.seconds)],
            check=True,
        )  # fmt: skip
        train_s = time.perf_counter() - t0
        subprocess.run(
            ["unetseg", "predict", str(t1), "--model", str(tmp / "gm.pt"), "-o", str(tmp)],
            check=True,
        )
        out = tmp / f"{image.name}_labels.nii.gz"
        written = nib.load(str(out))
        labels = _io.read_image(out).data
        row = {
            "case": CASE,
            "same affine": bool(np.allclose(written.affine, nib.load(str(t1)).affine)),
            "same shape": written.shape == nib.load(str(t1)).shape,
            "train seconds": round(train_s),
        }
        row.update(at_2mm(t1, real_data.fetch_member(case.reference), tmp))
    scored = ~np.asarray(bench.painted_region(loaded.case, loaded.image.shape))
    ours = bench.foreground_scores(labels[box] > 0, loaded.foreground, scored)["dice"]
    forest = bench.forest_foreground(loaded.image.astype(np.float32), strokes[box])
    row["dice (unpainted part)"] = round(ours, 4)
    row["forest"] = round(bench.foreground_scores(forest, loaded.foreground, scored)["dice"], 4)
    print(json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
