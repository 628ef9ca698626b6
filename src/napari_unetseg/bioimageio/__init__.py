"""bioimage.io model packages: export our models, import ours and third-party ones.

Everything that touches ``bioimageio.spec`` lives in this package (an optional
dependency: ``pip install napari-unetseg[bioimageio]``), so ``core`` stays numpy + torch.

- :func:`export_bioimageio` writes a spec 0.5 package (``.zip``) of a
  :class:`~napari_unetseg.core.bundle.ModelBundle`: ``pytorch_state_dict`` weights with
  our U-Net's source file as the architecture, ``torchscript`` and ``onnx`` weights
  (``_onnx.py``), axes with pixel
  sizes, the percentile normalization as ``scale_range`` preprocessing, test tensors
  from a real run, a cover, documentation, authors, licence and citations.
- :func:`load_package` reads a package back: our own exports become a full,
  fine-tunable model again; third-party 2D/3D semantic-segmentation models with
  ``torchscript`` weights become a predict-only model. See ``_import.py`` for what is
  refused and why.
"""

from __future__ import annotations

from ._common import PackageError, is_package
from ._export import export_bioimageio
from ._import import load_package

__all__ = ["PackageError", "export_bioimageio", "is_package", "load_package"]
