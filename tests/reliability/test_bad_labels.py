"""Bad-input matrix: labels for training and evaluation, and the memory guards."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from reliability_matrix import (
    assert_api_refused,
    assert_cli_refused,
    assert_untouched,
    case,
    snapshot,
)

from napari_unetseg import api
from napari_unetseg.core.guards import MemoryGuardError
from napari_unetseg.core.synthetic import synthetic_nuclei


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A small image and its scribbles (1 background, 2 nuclei)."""
    image, truth = synthetic_nuclei((48, 48), seed=3)
    scribbles = np.zeros(image.shape, np.uint16)
    scribbles[:3] = 1
    scribbles[truth > 0] = 2
    return image, scribbles


@pytest.fixture
def files(tmp_path, pair):
    """The pair as TIFFs and a model file that already exists at the output path."""
    image, scribbles = pair
    tifffile.imwrite(tmp_path / "img.tif", image)
    model = tmp_path / "model.pt"
    model.write_bytes(b"an existing model the user keeps")
    return tmp_path, model


def _train_cli(capsys, folder, labels, model, *extra, match):
    src = folder / "lab.tif"
    tifffile.imwrite(src, labels)
    before = snapshot(model)
    sentence = assert_cli_refused(
        capsys,
        "train",
        "-i",
        folder / "img.tif",
        "-l",
        src,
        "-o",
        model,
        "--steps",
        "1",
        "--overwrite",  # allowed to replace it: a refusal keeps it all the same
        *extra,
        match=match,
    )
    assert_untouched(before)
    return sentence


TINY = {"depth": 2, "base_channels": 4}


@case(
    "labels/stray-huge-id",
    "CLI",
    "`train` on scribbles with one stray id 60000, model file already there",
    "refused before a model is built (at most 64 classes besides the background); the "
    "model file unchanged",
)
def test_stray_huge_id_cli(capsys, files, pair):
    folder, model = files
    labels = pair[1].copy()
    labels[0, 0] = 60000
    _train_cli(capsys, folder, labels, model, match="60000, which would ask for 59,999")


@case(
    "labels/instance-mask-dense",
    "API",
    "dense labels that are an instance mask with ids up to 60000",
    "trained as one foreground class (2 outputs), with a note saying so",
    refused=False,
)
def test_instance_mask_dense_is_one_class(pair):
    image = pair[0]
    labels = (pair[1] == 2).astype(np.uint16) * 60000
    labels[:10, :10] = 7
    bundle = api.drain(
        api.train_iter(image, labels, label_mode="dense", steps=1, device="cpu", model_config=TINY)
    )
    assert bundle.n_classes == 2


@case(
    "labels/dense-classes-beyond-limit",
    "API",
    "dense labels up to 5000 with n_classes=5000",
    "refused: at most 1,024 classes",
)
def test_dense_many_classes_refused(pair):
    labels = (pair[1] == 2).astype(np.uint16)
    labels[0, 0] = 4999
    with pytest.raises(ValueError) as info:
        api.train(pair[0], labels, label_mode="dense", n_classes=5000, steps=1)
    assert_api_refused(info, "at most 1,024")


@case(
    "labels/beyond-class-count",
    "API",
    "scribbles with label 4 (class 3) when n_classes=2 is asked for",
    "refused: label 4 is class 3, so the model needs at least 4 classes (background and 3), not 2",
)
def test_label_beyond_class_count(pair):
    labels = pair[1].copy()
    labels[0, :5] = 4
    with pytest.raises(ValueError) as info:
        api.train(pair[0], labels, n_classes=2, steps=1)
    assert_api_refused(
        info,
        r"label 4 \(class 3, label 1 being background\), so the model needs at least 4 "
        r"classes \(background and 3 classes\), but n_classes=2 was given",
    )


@case("labels/negative", "API", "int16 labels with a -1", "refused: labels must be >= 0")
def test_negative_labels(pair):
    labels = pair[1].astype(np.int16)
    labels[5, 5] = -1
    with pytest.raises(ValueError) as info:
        api.train(pair[0], labels, steps=1)
    assert_api_refused(info, "negative")


@case(
    "labels/fractional",
    "CLI",
    "`train` on float32 labels holding 1.5",
    "refused: labels must be whole numbers; model file unchanged",
)
def test_fractional_labels_cli(capsys, files, pair):
    folder, model = files
    labels = pair[1].astype(np.float32)
    labels[4, 4] = 1.5
    _train_cli(capsys, folder, labels, model, match="whole numbers")


@case("labels/nan", "API", "float labels with a NaN", "refused: labels must be whole numbers")
def test_nan_labels(pair):
    labels = pair[1].astype(np.float64)
    labels[4, 4] = np.nan
    with pytest.raises(ValueError) as info:
        api.train(pair[0], labels, steps=1)
    assert_api_refused(info, "whole numbers")


@case(
    "labels/one-class-only",
    "CLI",
    "`train` on scribbles with background only",
    "refused: only one class is painted; model file unchanged",
)
def test_one_class_only_cli(capsys, files, pair):
    folder, model = files
    labels = (pair[1] == 1).astype(np.uint8)
    _train_cli(capsys, folder, labels, model, match="only one class is painted")


@case(
    "labels/dense-one-class",
    "API",
    "dense labels that are all 1 (no background)",
    "refused: the dense labels contain a single class",
)
def test_dense_single_class(pair):
    with pytest.raises(ValueError) as info:
        api.train(pair[0], np.ones(pair[0].shape, np.uint8), label_mode="dense", steps=1)
    assert_api_refused(info, "single class")


@case(
    "labels/all-unpainted",
    "CLI",
    "`train` on an all-zero scribble layer",
    "refused: no labeled pixels; model file unchanged",
)
def test_all_unpainted_cli(capsys, files, pair):
    folder, model = files
    _train_cli(capsys, folder, np.zeros(pair[0].shape, np.uint8), model, match="no labeled")


@case(
    "labels/shape-mismatch",
    "CLI",
    "`train` with labels of another shape than the image",
    "refused: labels must cover the image pixel for pixel",
)
def test_labels_shape_mismatch_cli(capsys, files):
    folder, model = files
    labels = np.zeros((20, 30), np.uint8)
    labels[:2], labels[5:8] = 1, 2
    _train_cli(capsys, folder, labels, model, match="pixel for pixel")


@case(
    "labels/shape-mismatch-fine-tuning",
    "API",
    "fine-tuning a shipped model (object size auto) on labels of another shape, or on "
    "fewer labels arrays than images",
    "refused before the object-size step resamples them (they were stretched onto the "
    "image and trained on)",
)
@pytest.mark.parametrize("dims", [2, 3])
def test_labels_shape_mismatch_fine_tuning(dims):
    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

    image, truth = synthetic_nuclei((12, 48, 48)[-dims:], seed=2)
    scribbles = synthetic_scribbles(truth, seed=0)
    model = f"nuclei-{dims}d"
    with pytest.raises(ValueError) as info:
        api.train(image, scribbles[..., :40], model=model, steps=1)
    assert_api_refused(info, "pixel for pixel")
    with pytest.raises(ValueError) as info:
        api.train([image, image], [scribbles], model=model, steps=1)
    assert_api_refused(info, "Got 2 image.s. but 1 labels array")


@case(
    "labels/constant-image",
    "CLI",
    "`train` on an image of one value everywhere, with good scribbles",
    "refused: nothing tells objects from background; model file unchanged",
)
def test_constant_image_cli(capsys, files, pair):
    folder, model = files
    tifffile.imwrite(folder / "img.tif", np.full(pair[0].shape, 7, np.uint16))
    _train_cli(capsys, folder, pair[1], model, match="single value")


@pytest.mark.parametrize("start", [None, "nuclei-2d"])
def test_constant_image_refused_after_the_label_checks(pair, start):
    """A new model (the forest teacher skipped) and a fine-tuned one; the labels' own
    problems are still said first, and a few bright pixels make the image trainable."""
    flat = np.full(pair[0].shape, 7.0, np.float32)
    with pytest.raises(ValueError, match=r"single value \(7\)"):
        api.train(flat, pair[1], model=start, steps=1)
    with pytest.raises(ValueError, match="Only one class is painted"):
        api.train(flat, (pair[1] == 1).astype(np.uint8), model=start, steps=1)
    flat[5, 5] = flat[40, 7] = np.nan  # NaN pixels are not a second value
    with pytest.raises(ValueError, match="single value"):
        api.train([flat, flat + 1], [pair[1], pair[1]], model=start, steps=1)
    beads = flat.copy()
    beads[20, 20] = beads[33, 2] = 900.0  # missed by the percentiles, not by the check
    trained = api.train(beads, pair[1], model=start, steps=1, model_config=None)
    assert trained.history["steps"] == 1


@case("labels/complex", "API", "complex-valued labels", "refused: integer labels are needed")
def test_complex_labels(pair):
    with pytest.raises(ValueError) as info:
        api.train(pair[0], pair[1].astype(np.complex64), steps=1)
    assert_api_refused(info, "integer labels are needed")


@case(
    "labels/training-memory-guard",
    "API",
    "`train` with patch 2048 and batch 64 on a 2048x2048 image",
    "refused by the memory guard before the network is built",
)
def test_training_memory_guard():
    image = np.zeros((2048, 2048), np.uint8)
    labels = np.zeros((2048, 2048), np.uint8)
    labels[:8], labels[20:28] = 1, 2
    with pytest.raises(MemoryGuardError) as info:
        api.train(image, labels, patch_size=2048, batch_size=64, steps=1, device="cpu")
    assert_api_refused(info, "Training would need about .* smaller patch size")


# -- evaluation --------------------------------------------------------------------------------
@pytest.fixture
def truth_files(tmp_path):
    truth = synthetic_nuclei((48, 48), seed=4)[1].astype(np.uint16)
    tifffile.imwrite(tmp_path / "gt.tif", truth)
    tifffile.imwrite(tmp_path / "pred.tif", (truth > 0).astype(np.uint8))
    return tmp_path, truth


@case(
    "labels/evaluate-stray-id-as-classes",
    "CLI",
    "`evaluate --instances none` with a stray id 60000 in the ground truth",
    "refused: too many labels to score as classes",
)
def test_evaluate_stray_id_as_classes(capsys, truth_files):
    folder, truth = truth_files
    truth = (truth > 0).astype(np.uint16)
    truth[0, 0] = 60000
    tifffile.imwrite(folder / "gt.tif", truth)
    assert_cli_refused(
        capsys,
        "evaluate",
        "-p",
        folder / "pred.tif",
        "-g",
        folder / "gt.tif",
        "--instances",
        "none",
        match="too many to score as classes",
    )


@case(
    "labels/evaluate-fractional",
    "CLI",
    "`evaluate` a float prediction holding 0.5, CSV file already there",
    "refused: integer labels needed; the CSV unchanged",
)
def test_evaluate_fractional(capsys, truth_files):
    folder, truth = truth_files
    tifffile.imwrite(folder / "pred.tif", (truth > 0).astype(np.float32) * 0.5)
    csv = folder / "scores.csv"
    csv.write_text("kept\n")
    before = snapshot(csv)
    assert_cli_refused(
        capsys,
        "evaluate",
        "-p",
        folder / "pred.tif",
        "-g",
        folder / "gt.tif",
        "--csv",
        csv,
        "--overwrite",  # allowed to replace it: the labels' refusal keeps it
        match="integer labels",
    )
    assert_untouched(before)


@case(
    "labels/evaluate-image-as-prediction",
    "CLI",
    "`evaluate` with the raw uint16 image given as the prediction (a wrong file)",
    "refused: the prediction looks like an intensity image, check the file (not 'too many "
    "classes')",
)
def test_evaluate_image_as_prediction(capsys, truth_files):
    folder, _ = truth_files
    image = synthetic_nuclei((48, 48), seed=4)[0]
    assert image.dtype == np.uint16 and image.max() > 1024
    tifffile.imwrite(folder / "image.tif", image)
    assert_cli_refused(
        capsys,
        "evaluate",
        "-p",
        folder / "image.tif",
        "-g",
        folder / "gt.tif",
        match=r"The prediction looks like an intensity image rather than labels \(values up to "
        r"\d+; only \d+% .* check that the right layer or file was given",
    )


@case(
    "labels/evaluate-image-as-instances",
    "API",
    "`evaluate` a raw uint16 image as the prediction against instance labels of many nuclei",
    "scored as instances, with a note that the prediction looks like an intensity image; "
    "real instance labels get no such note",
    refused=False,
)
def test_evaluate_image_read_as_instances_gets_a_note():
    image, truth = synthetic_nuclei((128, 128), seed=5)
    assert truth.max() > 5
    notes = " ".join(api.evaluate(image, truth).notes)
    assert "The prediction looks like an intensity image rather than labels: only" in notes
    assert "read as object instances" in notes
    relabelled = np.where(truth > 0, truth + 100, 0)  # the same objects, other ids
    notes = " ".join(api.evaluate(relabelled, truth).notes)
    assert "intensity image" not in notes and "read as object instances" in notes


@case(
    "labels/evaluate-negative",
    "API",
    "`evaluate` a ground truth with negative ids",
    "refused: labels must be non-negative",
)
def test_evaluate_negative(truth_files):
    truth = truth_files[1].astype(np.int32)
    truth[0, 0] = -3
    with pytest.raises(ValueError) as info:
        api.evaluate((truth > 0).astype(np.uint8), truth)
    assert_api_refused(info, "negative")


@case(
    "labels/evaluate-shape-mismatch",
    "CLI",
    "`evaluate` a 48x48 prediction against a 40x48 ground truth",
    "refused: the shapes differ",
)
def test_evaluate_shape_mismatch(capsys, truth_files):
    folder, truth = truth_files
    tifffile.imwrite(folder / "gt.tif", truth[:40])
    assert_cli_refused(
        capsys, "evaluate", "-p", folder / "pred.tif", "-g", folder / "gt.tif", match="shape"
    )


@case(
    "labels/evaluation-memory-guard",
    "API",
    "`evaluate` two 1,000,000 x 1,000,000 label images (zero-stride views) with objects",
    "refused by the memory guard, pointing to voxel-only scoring",
)
def test_evaluation_memory_guard():
    huge = np.broadcast_to(np.zeros(1, np.uint8), (10**6, 10**6))
    with pytest.raises(MemoryGuardError) as info:
        api.evaluate(huge, huge)
    assert_api_refused(info, "Evaluation would need about .*objects=False")


@case(
    "labels/depth-zero",
    "CLI",
    "`train --depth 0`, model file already there",
    "refused before the forest teacher or any step: depth must be at least 1; the model "
    "file unchanged",
)
def test_depth_zero_cli(capsys, files, pair):
    folder, model = files
    _train_cli(capsys, folder, pair[1], model, "--depth", "0", match="depth must be")


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param(
            b,
            marks=case(
                f"labels/budget-{name}",
                "API",
                f"`api.train(..., {b})`",
                "refused at once (a time limit that never runs out, a fractional step count)",
            ),
        )
        for name, b in [
            ("nan-seconds", {"time_limit": float("nan")}),
            ("infinite-seconds", {"time_limit": float("inf")}),
            ("fractional-steps", {"steps": 1.5}),
            ("nan-steps", {"steps": float("nan")}),
        ]
    ],
)
def test_budget_that_never_ends_is_refused(pair, budget):
    with pytest.raises(ValueError) as info:
        api.train(pair[0], pair[1], **budget)
    assert_api_refused(info, "must be")


@pytest.mark.parametrize(
    "n_classes",
    [
        pytest.param(
            n,
            marks=case(
                f"labels/n-classes-{name}",
                "API",
                f"`api.train(..., n_classes={n!r})`",
                "refused at once: a whole number of at least 1 (it trained a one-class model)",
            ),
        )
        for name, n in [("zero", 0), ("negative", -1), ("fractional", 1.5)]
    ],
)
def test_class_count_under_one_is_refused(pair, n_classes):
    with pytest.raises(ValueError) as info:
        api.train(pair[0], pair[1], n_classes=n_classes, steps=1)
    assert_api_refused(info, "n_classes must be a whole number of at least 1")


@case(
    "labels/palette-png-strokes",
    "API",
    "`read_labels('strokes.png')` (as `train -l` reads it): an indexed-colour PNG (as annotation tools save masks) of "
    "strokes 1 (red) and 2 (green), its name not saying labels",
    "its indices are the labels (renumbered by colour, background and object swapped)",
    refused=False,
)
def test_palette_png_strokes_keep_their_indices(tmp_path):
    from PIL import Image

    from napari_unetseg import _io

    strokes = np.zeros((32, 32), np.uint8)
    strokes[2:4], strokes[20:22, 5:9] = 1, 2
    png = Image.fromarray(strokes, mode="P")
    png.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    png.save(tmp_path / "strokes.png")
    labels, _ = _io.read_labels(tmp_path / "strokes.png")
    np.testing.assert_array_equal(labels.data, strokes)
