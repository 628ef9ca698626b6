"""The shipped default models on held-out synthetic data: behaviour users rely on.

Small images and loose bounds (fast on a CPU); the real-data figures are in
benchmarks/bench_accuracy.py and the model card.
"""

import pytest

from napari_unetseg import api
from napari_unetseg.core.synthetic import synthetic_nuclei


def _dice(pred, truth):
    p, t = pred > 0, truth > 0
    return 2 * (p & t).sum() / max(p.sum() + t.sum(), 1)


@pytest.mark.parametrize("name", ["nuclei-2d", "nuclei-3d"])
def test_shipped_models_record_their_object_size(name):
    model = api.load_model(name)
    assert model.object_size is not None and model.object_size["diameter"] > 0
    assert model.object_size["spacing"] == [1.0] * model.spatial_dims


def test_2d_model_keeps_empty_planes_of_a_stack_empty():
    # The stack's top half has no nuclei; statistics are the whole stack's, so the
    # noise of the empty planes is not stretched into false nuclei.
    img, lab = synthetic_nuclei((24, 128, 128), seed=1, radius=(8, 10), occupied=0.5, z_scale=2)
    pred = api.predict(img, "nuclei-2d")
    empty = lab.reshape(len(lab), -1).max(1) == 0
    assert empty.sum() >= 3
    assert (pred[empty] > 0).mean() < 0.02
    assert _dice(pred, lab) > 0.75


@pytest.mark.parametrize("radius", [4.0, 30.0])
def test_2d_model_segments_small_and_large_nuclei_through_the_object_size(radius):
    shape = (192, 192) if radius < 10 else (512, 512)
    img, lab = synthetic_nuclei(shape, seed=7, radius=(radius, radius * 1.2), texture=0.4)
    result = api.drain(api.predict_iter(img, "nuclei-2d"))
    assert result.stats["object_size"]["factors"] != (1.0, 1.0)
    assert result.labels.shape == img.shape
    assert _dice(result.labels, lab) > 0.8


def test_3d_model_on_an_anisotropic_stack_of_textured_nuclei():
    img, lab = synthetic_nuclei(
        (24, 160, 160), seed=3, radius=(14, 17), z_scale=2.5, nucleoli=0.6, axial_blur=4.0
    )
    result = api.drain(api.predict_iter(img, "nuclei-3d", scale=(2.5, 1.0, 1.0)))
    fz, fy, fx = result.stats["object_size"]["factors"]
    assert fz > fy  # Z is stretched towards the model's isotropic grid
    assert result.labels.shape == img.shape
    assert _dice(result.labels, lab) > 0.75


def test_2d_model_leaves_faint_cell_bodies_out():
    # Faint grainy cytoplasm around the nuclei (8 % of their brightness), as many DNA
    # stains leave it: background (stage 1 of nuclei-2d made nuclei of it, precision 0.75).
    img, lab = synthetic_nuclei(
        (192, 192), seed=6, cytoplasm=0.08, radius=(7, 10), dtype="uint8", photons=300
    )
    pred = api.predict(img, "nuclei-2d") > 0
    assert (pred & (lab > 0)).sum() / pred.sum() > 0.88
    assert _dice(pred, lab) > 0.9
