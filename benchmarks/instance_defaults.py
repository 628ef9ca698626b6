"""One label per nucleus: what segmenting gives by default, object by object.

Real nuclei cases of ``real_data.py`` whose references hold one id per object (DSB 2018
drawn by hand; BBBC007, the scratch assay and cells3d made automatically, so biased
toward thresholds; StarDist's synthetic stack). For each: ``api.segment`` with the
shipped default model as a user gets it (the model's split setting), the same without
the split (class labels, their connected regions as objects), and two baselines: Otsu's
threshold (gaussian sigma 1, holes filled) with connected components, and with the
classic distance-transform watershed (seeds from ``peak_local_max``, ``min_distance``
0.7 x the median object radius). Object F1 and panoptic quality at IoU 0.5,
``api.evaluate(instances="both")``; counts; merged and split objects; the foreground
Dice, which splitting does not change. Prints one table; nothing is asserted.

    python benchmarks/instance_defaults.py        # about 1 minute on 2 cores
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import real_data
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label, regionprops
from skimage.segmentation import watershed

CASES = (
    "dsb2018-2d",
    "bbbc007-a9p7d-auto",
    "bbbc007-17p1pos7-auto",
    "ndev-scratch-assay-auto",
    "cells3d-nuclei-3d",
    "stardist-synthetic-3d",
)


def otsu_mask(image: np.ndarray) -> np.ndarray:
    """Otsu's threshold of the image blurred with sigma 1, holes filled plane by plane."""
    smooth = gaussian(image.astype(np.float32), 1, preserve_range=True)
    mask = smooth > threshold_otsu(smooth)
    planes = [mask] if mask.ndim == 2 else list(mask)
    filled = np.stack([ndimage.binary_fill_holes(p) for p in planes])
    return filled.reshape(mask.shape)


def otsu_watershed(mask: np.ndarray) -> np.ndarray:
    """The classic split of touching nuclei: watershed of the distance transform from
    its peaks; a component without a peak stays one object."""
    components = label(mask)
    areas = [r.equivalent_diameter_area for r in regionprops(components) if r.area > 10]
    radius = float(np.median(areas)) / 2 if areas else 2.0
    distance = ndimage.distance_transform_edt(mask)
    peaks = peak_local_max(
        ndimage.gaussian_filter(distance, 1),
        min_distance=max(2, round(0.7 * radius)),
        labels=components,
        exclude_border=False,
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    objects = watershed(-distance, markers, mask=mask)
    unseeded = np.setdiff1d(np.unique(components[mask]), np.unique(components[objects > 0]))
    for n, c in enumerate(unseeded, start=int(objects.max()) + 1):
        objects[components == c] = n
    return objects


def scores(api, objects: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Object scores at IoU 0.5 (both sides instance labels) and the foreground Dice."""
    result = api.evaluate(objects, reference, instances="both")
    row = result.objects[max(result.objects)]
    fg, ref = objects > 0, reference > 0
    dice = 2 * np.count_nonzero(fg & ref) / max(1, np.count_nonzero(fg) + np.count_nonzero(ref))
    keys = ("n_pred", "f1", "pq", "merged", "split")
    return {**{k: row[k] for k in keys}, "dice": dice}


def main(argv: list[str] | None = None) -> None:
    from napari_unetseg import api

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    head = "| case | reference objects | method | objects | F1 | PQ | merged | split | Dice |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name in args.cases:
        loaded = real_data.load_case(name)
        image, reference = loaded.image, loaded.reference
        model = "nuclei-2d" if image.ndim == 2 else "nuclei-3d"
        scale = loaded.case.pixel_size
        t0 = time.perf_counter()
        done = api.drain(api.segment_iter(image, model, scale=scale))
        seconds = time.perf_counter() - t0
        classes = api.segment(image, model, scale=scale, split_touching=False)
        mask = otsu_mask(image)
        methods = {
            f"default ({'split' if done.stats['split_touching'] else 'not split'}; "
            f"{seconds:.1f} s)": np.asarray(done.labels),
            "not split (connected regions)": label(np.asarray(classes) > 0),
            "Otsu + connected components": label(mask),
            "Otsu + distance watershed": otsu_watershed(mask),
        }
        n_ref = len(np.unique(reference[reference > 0]))
        for method, objects in methods.items():
            s = scores(api, objects, reference)
            print(
                f"| {name} | {n_ref} | {method} | {s['n_pred']} | {s['f1']:.3f} | "
                f"{s['pq']:.3f} | {s['merged']} | {s['split']} | {s['dice']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
