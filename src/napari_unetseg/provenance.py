"""What made a label image: the model, its file hash and the settings (no Qt).

Labels written by the Segment widget (through the napari writer), by ``unetseg
predict`` and by a batch run carry a small provenance record in their OME metadata (a
map annotation in a TIFF, see :func:`napari_unetseg._io.write_labels`; the store's
``unetseg`` attributes in an OME-Zarr labels store); ``unetseg info FILE`` prints it. The record is a flat dict:

- ``software``: ``napari-unetseg <version>``;
- ``model``: the model's name; ``model_file`` and ``model_sha256``: the model file and
  its SHA-256 when the weights used are exactly that file's (``None`` for a model that
  lives only in the session: save it, and the command that reproduces the run names
  the file); ``weights_sha256``: a digest of the weights themselves, always present;
- ``settings``: the segmentation settings (:class:`napari_unetseg.batch.SegmentSettings`);
- ``input``: the image file's name, when there was one; ``created``: UTC time.

Importing this module does not import torch (the reader uses it).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .core.bundle import ModelBundle

__all__ = ["describe", "file_sha256", "labels_provenance", "model_reference", "weights_sha256"]

_FILE_HASHES: dict[tuple[str, int, int], str] = {}
_ORDER = ("software", "model", "model_file", "model_sha256", "weights_sha256", "input", "created")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (hex), remembered while the file's size and time are unchanged."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _FILE_HASHES[key] = digest.hexdigest()
    return _FILE_HASHES[key]


def weights_sha256(bundle: ModelBundle) -> str:
    """SHA-256 over the network's parameter names, shapes and values (hex)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(bundle.network.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def _load_source(source: str) -> ModelBundle:
    """The model in a file a bundle came from: a ``.pt`` or a bioimage.io package."""
    from .bioimageio import is_package, load_package
    from .core.bundle import ModelBundle as Bundle

    # The package's test tensors were checked when it was loaded: not again here.
    return load_package(source, check=False) if is_package(source) else Bundle.load(source)


def model_reference(model: Any, bundle: ModelBundle) -> dict[str, Any]:
    """Name, file, file hash and weights hash of the model a run used.

    Parameters
    ----------
    model : str, path or ModelBundle
        What the run was given: a shipped or session model name, a file, or a bundle.
    bundle : ModelBundle
        The loaded model.

    A model file counts only when its weights are the ones used: a shipped model or a
    file named by path was just loaded from that file; a session model remembers the
    file it was loaded from, which is checked (a fine-tuned copy remembers it too).
    """
    from .core.registry import REGISTRY

    weights = weights_sha256(bundle)
    path: Path | None = None
    if isinstance(model, str | os.PathLike):
        name = os.fspath(model)
        shipped = REGISTRY.shipped()
        if name in shipped and name not in REGISTRY.session():
            path = shipped[name]
        elif name not in REGISTRY and Path(name).expanduser().is_file():
            path = Path(name).expanduser()
    if path is None and bundle.source and Path(bundle.source).is_file():
        try:
            same = weights_sha256(_load_source(bundle.source)) == weights
        except Exception:  # noqa: BLE001 - an unreadable file is simply not this model's
            same = False
        path = Path(bundle.source) if same else None
    return {
        "model": bundle.name,
        "model_file": None if path is None else str(path.resolve()),
        "model_sha256": None if path is None else file_sha256(path),
        "weights_sha256": weights,
        # what each label value means: the napari reader names the classes again (a
        # saved file came back as bare ids; classes bug bash)
        "classes": list(bundle.class_names),
    }


def recorded_classes(provenance: dict[str, Any] | None) -> list[str] | None:
    """The class names a record says its labels' values mean (value k, name k), or None:
    no record of ours, or object ids (touching objects split, ``--split-touching``)."""
    record = provenance if isinstance(provenance, dict) else {}
    classes, settings = record.get("classes"), record.get("settings")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return None
    if isinstance(settings, dict) and settings.get("split_touching"):
        return None
    return list(classes)


def labels_provenance(
    model_ref: dict[str, Any], settings: dict[str, Any], source: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The record written with a label image (see the module docstring)."""
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {
        "software": f"napari-unetseg {__version__}",
        **model_ref,
        "settings": dict(settings),
        "input": None if source is None else Path(source).name,
        "created": created.isoformat(),
    }


#: Label arrays up to this size get a checksum (CRC-32: 65 ms for 256 MB), so a save can
#: tell labels painted since the model wrote them; larger or lazy ones get none.
CHECKSUM_BYTES = 1 << 28
#: Lazy labels up to this many bytes are read for their checksum (on opening, on saving).
LAZY_CHECKSUM_BYTES = 1 << 26
#: The layer metadata key holding the checksum of the labels as the model wrote them.
CHECKSUM_KEY = "unetseg_crc"


def labels_checksum(data: Any, lazy: bool = False) -> int | None:
    """CRC-32 of an in-memory labels array (None for lazy, multiscale or larger than
    :data:`CHECKSUM_BYTES`). ``lazy``: a lazy array (dask, zarr) up to
    :data:`LAZY_CHECKSUM_BYTES` is read for it (labels reopened from OME-Zarr, painted
    and saved again, were saved as the model's untouched output)."""
    import zlib

    import numpy as np

    if lazy and not isinstance(data, np.ndarray) and hasattr(data, "dtype"):
        size = int(np.prod(getattr(data, "shape", ()), dtype=np.int64)) * data.dtype.itemsize
        if size <= LAZY_CHECKSUM_BYTES:
            data = np.asarray(data)
    if not isinstance(data, np.ndarray) or data.nbytes > CHECKSUM_BYTES:
        return None
    return zlib.crc32(np.ascontiguousarray(data).data.cast("B"))


def as_saved(provenance: dict[str, Any] | None, layer_meta: dict[str, Any], data: Any) -> Any:
    """The record to save with labels: marked ``edited`` where they no longer hold what
    the model wrote (painted by hand: the file still said it was the model's output with
    its settings). Unknown (lazy or large labels) and unchanged ones are kept as they are."""
    if not provenance or layer_meta.get(CHECKSUM_KEY) is None:
        return provenance
    now = labels_checksum(data, lazy=True)
    if now is None or now == layer_meta[CHECKSUM_KEY]:
        return provenance
    return {**provenance, "edited": "painted by hand after the model's run"}


def what_ran(stats: dict[str, Any]) -> dict[str, Any]:
    """What a prediction measured and chose where its settings may say "auto" (the record
    said ``object_size: auto, precision: auto`` of a run that measured 28.6 px and ran in
    bf16, which changes labels): the object size measured, the resampling factors, the
    precision and the device that ran, and how a colour image became the model's one
    channel (``input``: grey, hematoxylin or the mean of R, G and B). Kept as ``ran``
    beside ``settings``."""
    size = stats.get("object_size")
    ran: dict[str, Any] = {"precision": stats.get("precision"), "device": stats.get("device")}
    if isinstance(size, dict):
        if size.get("image_diameter") is not None:
            ran["object_size_px"] = round(float(size["image_diameter"]), 2)
        if size.get("factors") is not None:
            ran["resampled_by"] = [round(float(f), 4) for f in size["factors"]]
    ran["input"] = stats.get("input")
    return {k: v for k, v in ran.items() if v is not None}


def describe(provenance: dict[str, Any] | None) -> list[str]:
    """Human-readable lines for a provenance record (for ``unetseg info``)."""
    if not provenance:
        return [
            "No napari-unetseg provenance (not written by napari-unetseg, or by an older one)."
        ]
    lines = []
    for key in _ORDER:
        if provenance.get(key) is not None:
            lines.append(f"{key}: {provenance[key]}")
    settings = provenance.get("settings")
    if isinstance(settings, dict):
        lines.append("settings:")
        lines.extend(f"  {k}: {v}" for k, v in settings.items())
    extra = [k for k in provenance if k not in {*_ORDER, "settings"}]
    lines.extend(f"{k}: {provenance[k]}" for k in extra)
    return lines
