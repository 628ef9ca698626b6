"""Synthetic nuclei: shapes, dtypes, determinism, labels that match the signal, 3D."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unetseg.core.synthetic import (
    random_nuclei_options,
    synthetic_nuclei,
)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_shapes_and_dtypes(dtype):
    image, labels = synthetic_nuclei((96, 128), seed=3, dtype=dtype)
    assert image.shape == labels.shape == (96, 128)
    assert image.dtype == np.dtype(dtype)
    assert labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids[0] == 0 and len(ids) > 5
    # Instance ids are consecutive 1..N.
    np.testing.assert_array_equal(ids, np.arange(len(ids)))


def test_default_is_uint16_and_seeded():
    a_img, a_lab = synthetic_nuclei((64, 64), seed=7)
    b_img, b_lab = synthetic_nuclei((64, 64), seed=7)
    c_img, _ = synthetic_nuclei((64, 64), seed=8)
    assert a_img.dtype == np.uint16
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_match_bright_regions(seed):
    image, labels = synthetic_nuclei((128, 128), seed=seed, dim_fraction=0.0, offset=0)
    fg = image[labels > 0].astype(float)
    bg = image[labels == 0].astype(float)
    assert np.median(fg) > 2 * np.median(bg)
    # A global threshold halfway between the medians agrees with the labels on most pixels.
    thr = (np.median(fg) + np.median(bg)) / 2
    agreement = np.mean((image > thr) == (labels > 0))
    assert agreement > 0.85
    # Every nucleus is on average brighter than the background around it.
    for i in range(1, labels.max() + 1):
        assert image[labels == i].mean() > np.median(bg)


def test_3d_volume():
    image, labels = synthetic_nuclei((16, 64, 64), seed=0, z_scale=2.0)
    assert image.shape == labels.shape == (16, 64, 64)
    assert labels.max() >= 3
    assert image[labels > 0].mean() > 1.5 * image[labels == 0].mean()
    # Nuclei are 3D objects: each one spans several planes.
    zspan = [np.ptp(np.nonzero(labels == i)[0]) + 1 for i in range(1, labels.max() + 1)]
    assert np.median(zspan) >= 2


def test_options_change_the_image():
    few, few_lab = synthetic_nuclei((128, 128), seed=0, n_nuclei=5)
    many, many_lab = synthetic_nuclei((128, 128), seed=0, n_nuclei=60, radius=(4, 6))
    assert few_lab.max() <= 5 < many_lab.max()
    noisy, _ = synthetic_nuclei((128, 128), seed=0, photons=5.0, dtype="float32", white=1.0)
    clean, _ = synthetic_nuclei((128, 128), seed=0, photons=1e5, dtype="float32", white=1.0)
    # Shot noise makes neighbouring background pixels differ much more.
    assert np.abs(np.diff(noisy, axis=1)).mean() > 2 * np.abs(np.diff(clean, axis=1)).mean()


@pytest.mark.parametrize("shape", [(128, 128), (16, 64, 64)])
def test_cytoplasm_is_faint_signal_around_the_nuclei_labelled_background(shape):
    # No blur or haze, so nothing carries the cell bodies' light over the nuclei.
    kw = {"seed": 4, "dtype": "float32", "white": 1.0, "offset": 0.0, "photons": 1e5}
    kw |= {"blur": 0.0, "haze": 0.0}
    plain, plain_labels = synthetic_nuclei(shape, **kw)
    cells, labels = synthetic_nuclei(shape, cytoplasm=0.1, **kw)
    # The nuclei and their labels stay as they were; only background pixels gain signal.
    np.testing.assert_array_equal(labels, plain_labels)
    gained = cells - plain
    background = labels == 0
    assert gained[background].mean() > 10 * abs(gained[~background].mean())
    # Cell bodies: more of the signal lies next to the nuclei than far from them.
    distance = ndi.distance_transform_edt(background)
    close, far = background & (distance <= 4), background & (distance > 12)
    assert gained[close].mean() > gained[far].mean()
    # Faint: well below the nuclei.
    assert np.median(cells[background]) < 0.5 * np.median(cells[~background])
    # Without the option a seed draws exactly the image it drew before.
    np.testing.assert_array_equal(synthetic_nuclei(shape, cytoplasm=0.0, **kw)[0], plain)


@pytest.mark.parametrize("shape", [(128, 128), (16, 64, 64)])
def test_tissue_is_textured_background_behind_the_nuclei(shape):
    kw = {"seed": 5, "dtype": "float32", "white": 1.0, "offset": 0.0, "photons": 1e5}
    kw |= {"blur": 0.0, "haze": 0.0, "background": 0.0, "illumination": 0.0}
    plain, plain_labels = synthetic_nuclei(shape, **kw)
    tissue, labels = synthetic_nuclei(shape, tissue=0.2, **kw)
    np.testing.assert_array_equal(labels, plain_labels)  # labels unchanged: background
    gained = (tissue - plain)[labels == 0]
    # Everywhere behind the nuclei, at about the asked share of their brightness, and
    # textured: its level varies by more than a third of its mean.
    assert (gained > 0).mean() > 0.8
    level = gained.mean() / np.median(plain[labels > 0])
    assert 0.05 < level < 0.5
    assert gained.std() > 0.33 * gained.mean()
    np.testing.assert_array_equal(synthetic_nuclei(shape, tissue=0.0, **kw)[0], plain)


def test_saturated_nuclei_clip_at_white_level():
    image, labels = synthetic_nuclei(
        (128, 128), seed=1, dtype="uint8", saturated_fraction=0.5, headroom=2.0, blur=0.0
    )
    assert image.max() == 255
    assert np.mean(image[labels > 0] == 255) > 0.05


def test_varied_options_are_valid():
    for seed in range(6):
        opts = random_nuclei_options(seed, ndim=2 + seed % 2)
        shape = (64, 64) if seed % 2 == 0 else (12, 48, 48)
        image, labels = synthetic_nuclei(shape, seed=seed, **opts)
        assert image.shape == labels.shape == shape
        assert np.isfinite(image.astype(float)).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown synthetic_nuclei option"):
        synthetic_nuclei((32, 32), brightnes=2)
    with pytest.raises(ValueError, match="shape"):
        synthetic_nuclei((32,))
    with pytest.raises(ValueError, match="dtype"):
        synthetic_nuclei((32, 32), dtype="int64")
