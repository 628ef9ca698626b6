"""napari-unetseg: U-Net segmentation for napari.

This module stays light on purpose: importing the package (which napari does at
start-up to read the manifest, and the reader does to open a TIFF) must not import
torch. The engine lives in :mod:`napari_unetseg.core`; the headless API in
:mod:`napari_unetseg.api`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
