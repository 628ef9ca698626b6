"""Synthetic fluorescence-nuclei images with instance labels, 2D and 3D.

The generator imitates what a nuclear stain (DAPI / Hoechst) looks like through a
widefield or confocal microscope, so tests, sample data and the shipped default models
all see realistic inputs:

- nuclei are ellipses / ellipsoids of varied size, elongation and orientation with a
  wobbly outline; part of them sit in clusters where they touch or slightly overlap
  (the overlap is split between them, like a Voronoi seam);
- per-nucleus brightness varies (log-normal), a fraction is dim and a fraction is
  brighter than the camera's range (saturated, clipped), with a chromatin-like texture;
- uneven illumination (multiplicative shading) and background (additive, plus
  out-of-focus haze around the nuclei), optical blur (anisotropic in 3D) and depth
  attenuation in 3D;
- Poisson (shot) noise plus Gaussian read noise, a camera offset and a random gain, then
  clipping to the camera's white level and conversion to the requested dtype.

Everything is numpy only (its own separable blurs, large-scale fields drawn at low
resolution and interpolated: :mod:`.imaging`), so existing seeds keep giving identical
images. The output depends only on ``shape``, ``seed`` and the options.

Modules: :mod:`.nuclei` (:func:`synthetic_nuclei`, :func:`random_nuclei_options`),
:mod:`.scribbles` (:func:`synthetic_scribbles`), :mod:`.imaging` (blurs and fields).
"""

from .imaging import gaussian_blur, gaussian_kernel
from .nuclei import DEFAULT_OPTIONS, random_nuclei_options, synthetic_nuclei
from .scribbles import synthetic_scribbles

__all__ = [
    "DEFAULT_OPTIONS",
    "gaussian_blur",
    "gaussian_kernel",
    "random_nuclei_options",
    "synthetic_nuclei",
    "synthetic_scribbles",
]
