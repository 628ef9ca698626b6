"""ONNX weights for bioimage.io packages: the U-Net exported with torch.export.

ONNX is what consumers without PyTorch run (onnxruntime; the bioimage.io website's
test runs). The graph takes any batch and any spatial size that is a multiple of the
network's divisor, as the package's input description says.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

#: The ONNX opset of the weights (onnxruntime reads it from 1.14 on).
OPSET = 18

#: The largest spatial size the exported graph takes, per axis.
MAX_SIZE = 65536


def exporter_installed() -> bool:
    """Whether torch's ONNX exporter can run here (it needs onnx and onnxscript)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(net: torch.nn.Module, in_channels: int, spatial_dims: int, path: Path) -> None:
    """Write ``net`` (in eval mode, on the CPU) as one ONNX file at ``path``."""
    div = int(net.divisor())
    # Traced on a batch of 2 and sizes of 2 x the divisor: torch.export fixes a size of 1.
    example = torch.zeros((2, in_channels) + (2 * div,) * spatial_dims)
    dims = {0: torch.export.Dim("batch", min=1, max=4096)}
    for axis in range(2, 2 + spatial_dims):
        dims[axis] = div * torch.export.Dim(f"size{axis}", min=1, max=MAX_SIZE // div)
    with _quiet():
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=(dims,),
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    _without_export_notes(path)


def _without_export_notes(path: Path) -> None:
    """Drop torch.export's notes from the graph's metadata (its range constraints are
    listed in an order that follows Python's string hashing, so the same model exported
    in two sessions gave other files and package checksums; reproducibility bash). The
    graph and weights are untouched."""
    import onnx

    model = onnx.load(str(path))
    props = model.graph.metadata_props
    kept = [p for p in props if not p.key.startswith("pkg.torch.export.")]
    if len(kept) == len(props):
        return
    del props[:]
    props.extend(kept)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines, log records and warnings about its own code
    (torchvision not installed, deprecated pytree helpers) are not the user's concern."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
