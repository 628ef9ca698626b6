"""Does a CT model's result depend on what else the scan holds? Percentiles vs a fixed range.

A new model scales each image by its own 1st / 99.8th percentiles by default; CT values
are calibrated (Hounsfield units), and those percentiles move with the field of view: a
scan padded with air, or with a bright marker beside the patient, is scaled otherwise,
and the same tissue is labelled otherwise. ``unetseg train --intensity-range LOW HIGH``
(``api.train(intensity_range=...)``) maps a fixed range to 0-1 instead.

Data: ``CT_small.dcm`` of pydicom's test files (a real 128 x 128 axial CT slice through a
vertebra, 0.66 mm pixels; pydicom 3.0.2's wheel, MIT licence; fetched with ``pip
download`` into the benchmark cache, as ``real_data.py`` does). The reference is bone
by a threshold (HU > 250, holes filled, specks under 10 pixels removed), a simple
stand-in, not an expert annotation: the numbers that matter here are the *agreements*.
Strokes (``synthetic_scribbles`` of that reference) lie in the left half; Dice is scored
on the right half.

For each normalization (percentiles; a fixed range of -1024 to 3000 HU) one new 2D model
is trained on the scan for ``--steps`` steps (the same for both, whatever the machine's
load), then predicts the scan as it is, the
scan padded with 48 px of air (-1024 HU) on every side, and the scan with a 3000 HU
marker strip (a metal marker or a table edge) in its corner. Printed: the share of the
scan's pixels (the marker's left out) whose label is the same as on the scan as it is,
and Dice against the reference on the right half.

Usage::

    python benchmarks/ct_field_of_view.py [--steps 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from real_data import Member, cache_dir, fetch_member
from scipy import ndimage

from napari_unetseg import api
from napari_unetseg.core.synthetic import synthetic_scribbles

CT = Member(
    "pydicom",
    "3.0.2",
    "pydicom/data/test_files/CT_small.dcm",
    "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6",
)
PAD = 48
RANGE = (-1024.0, 3000.0)
MARKER = (slice(0, 6), slice(0, 20))


def read_ct() -> np.ndarray:
    """The slice in Hounsfield units (pydicom from its wheel, unpacked into the cache)."""
    path = fetch_member(CT)
    root = cache_dir() / "pydicom-3.0.2"
    if not (root / "pydicom" / "__init__.py").is_file():
        [wheel] = (cache_dir() / "wheels").glob("pydicom-3.0.2-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(root)
    sys.path.insert(0, str(root))
    import pydicom

    ds = pydicom.dcmread(str(path))
    return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(
        np.float32
    )


def bone(hu: np.ndarray) -> np.ndarray:
    """The threshold reference: HU > 250, holes filled, specks under 10 pixels removed."""
    mask = ndimage.binary_fill_holes(hu > 250)
    labels, n = ndimage.label(mask)
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    return np.isin(labels, 1 + np.flatnonzero(sizes >= 10)).astype(np.uint8)


def variants(hu: np.ndarray) -> dict[str, tuple[np.ndarray, tuple[slice, slice]]]:
    """The scan as it is, padded with air, and with a bright marker; each with the index
    of the scan's own pixels in it."""
    padded = np.pad(hu, PAD, constant_values=-1024.0)
    marked = hu.copy()
    marked[MARKER] = 3000.0  # a marker strip in the corner (air there)
    whole = (slice(None), slice(None))
    inner = (slice(PAD, -PAD), slice(PAD, -PAD))
    return {"as it is": (hu, whole), "padded with air": (padded, inner), "marker": (marked, whole)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return 2.0 * float((a & b).sum()) / total if total else 1.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    hu = read_ct()
    reference = bone(hu)
    strokes = synthetic_scribbles(reference, seed=0)
    strokes[:, hu.shape[1] // 2 :] = 0  # painted in the left half only
    right = (slice(None), slice(hu.shape[1] // 2, None))
    kept = np.ones(hu.shape, bool)
    kept[MARKER] = False  # the marker's own pixels are not the scan's
    print(f"CT_small.dcm: {hu.shape}, HU {hu.min():.0f} to {hu.max():.0f}; bone "
          f"{reference.mean():.1%} of the pixels; strokes {int((strokes > 0).sum())} px")  # fmt: skip
    rows = []
    for name, fixed in (("percentiles 1-99.8 (default)", None), ("fixed -1024..3000", RANGE)):
        t0 = time.perf_counter()
        model = api.train(
            hu, strokes, steps=args.steps, seed=0, device="cpu", intensity_range=fixed
        )
        seconds = time.perf_counter() - t0
        base = None
        for scan, (image, inside) in variants(hu).items():
            labels = api.predict(image, model, object_size=None, device="cpu")[inside] > 0
            base = labels if base is None else base
            rows.append(
                {
                    "normalization": name,
                    "scan": scan,
                    "same_as_scan": float((labels == base)[kept].mean()),
                    "dice_right_half": dice(labels[right], reference[right] > 0),
                    "train_s": round(seconds, 1),
                    "steps": model.history.get("steps"),
                }
            )
    print(f"\n{'normalization':30} {'scan':16} {'same labels':>12} {'Dice (right)':>13}")
    for r in rows:
        print(f"{r['normalization']:30} {r['scan']:16} {r['same_as_scan']:12.4f} "
              f"{r['dice_right_half']:13.3f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"source": CT.source, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
