"""The wheel that `python -m build` / pip make carries the manifest, models and model card."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (no network, no build isolation)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
    )
    (whl,) = out.glob("napari_unetseg-*.whl")
    return whl


def test_wheel_contents(wheel):
    from napari_unetseg import __version__

    assert wheel.name.startswith(f"napari_unetseg-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "napari_unetseg/napari.yaml",
        "napari_unetseg/models/nuclei-2d.pt",
        "napari_unetseg/models/nuclei-3d.pt",
        "napari_unetseg/models/MODEL_CARD.md",
        "napari_unetseg/bioimageio/_export.py",
        "napari_unetseg/core/unet.py",
    ):
        assert needed in names, needed
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_metadata(wheel):
    from napari_unetseg import __version__

    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
        entry_points = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert meta["Version"] == __version__
    assert "Framework :: napari" in meta.get_all("Classifier")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert {u.split(",")[0] for u in meta.get_all("Project-URL")} >= {
        "Homepage",
        "Bug Tracker",
        "Source Code",
    }
    assert "napari" in meta["Keywords"] and meta["Description-Content-Type"] == "text/markdown"
    assert "napari-unetseg = napari_unetseg:napari.yaml" in entry_points
    assert "unetseg = napari_unetseg.cli:main" in entry_points
    extras = meta.get_all("Provides-Extra")
    assert {"bioimageio", "testing", "all"} <= set(extras)
