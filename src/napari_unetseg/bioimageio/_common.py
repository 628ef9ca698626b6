"""Shared pieces of the bioimage.io import and export (no bioimageio import here)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..core.bundle import ModelFileError

#: The ``config`` key under which an export stores our model record.
CONFIG_KEY = "napari_unetseg"
#: The attachment that holds a model's training history (its config names it as
#: ``history_file``; older packages carry the history in the config itself)
HISTORY_FILE = "training_history.json"
#: bioimage.io's default reproducibility tolerance (``ReproducibilityTolerance``).
RTOL, ATOL, MISMATCH_PER_MILLION = 1e-3, 1e-3, 100
#: Length units by their short names (``_units.length_unit``) and bioimage.io's names.
UNITS = {
    "nm": "nanometer",
    "µm": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "Å": "angstrom",
}


class PackageError(ModelFileError):
    """A file that is not a bioimage.io model package napari-unetseg can use."""


def require_spec() -> None:
    """Raise :class:`PackageError` (one sentence) when bioimageio.spec is not installed."""
    try:
        import bioimageio.spec  # noqa: F401
    except ImportError as exc:
        raise PackageError(
            "bioimage.io packages need bioimageio.spec: pip install 'napari-unetseg[bioimageio]'."
        ) from exc


def is_package(path: str | os.PathLike) -> bool:
    """True for what looks like a bioimage.io package: a ``.zip`` (whether readable or
    not, so a damaged one gets a precise message), a zip holding an ``rdf.yaml`` /
    ``*.bioimageio.yaml``, or any ``.yaml`` / ``.yml`` description itself. A PyTorch ``.pt`` file (also a
    zip, without a YAML description) is not one, whatever its name."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".yaml", ".yml")):
        # (model.yaml, my_model.yaml: a description under any name; they were taken for a
        # .pt, "cannot be read as a PyTorch file")
        return True
    if not p.is_file() or not zipfile.is_zipfile(p):
        return name.endswith(".zip")
    try:
        with zipfile.ZipFile(p) as z:
            members = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return name.endswith(".zip")
    if any(_is_rdf(n) for n in members):
        return True
    # a PyTorch file named .zip (a .pt model renamed) is read as the model it is; it was
    # refused as "not a bioimage.io model package" (travel bash)
    return name.endswith(".zip") and not any(n.endswith("/data.pkl") for n in members)


def _is_rdf(member: str) -> bool:
    return member == "rdf.yaml" or (member.endswith("bioimageio.yaml") and "/" not in member)


def reproduces(actual: np.ndarray, expected: np.ndarray) -> tuple[bool, float]:
    """bioimage.io's test: all close within tolerance but for a few elements per million.

    Returns (passes, largest absolute difference).
    """
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return False, float("inf")
    diff = np.abs(actual - expected)
    bad = diff > ATOL + RTOL * np.abs(expected)
    return bool(bad.sum() <= expected.size * MISMATCH_PER_MILLION / 1e6), float(
        diff.max(initial=0.0)
    )
