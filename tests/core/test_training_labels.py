"""Can these labels be trained on? ``label_counts`` / ``problem_with`` in the core."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_unetseg.core.training import (
    MAX_SCRIBBLE_CLASSES,
    SPARSE_BACKGROUND,
    label_counts,
    problem_with,
)


def scribbles(*values: int, shape: tuple[int, int] = (16, 16)) -> np.ndarray:
    """A labels array with a few pixels of each value (the rest not painted)."""
    data = np.zeros(shape, np.uint8 if max(values, default=0) < 256 else np.int32)
    for i, v in enumerate(values):
        data[i, : i + 2] = v
    return data


def one_sentence(text: str | None) -> str:
    assert text is not None
    assert text.count(". ") == 0 and text.endswith("."), text
    return text


def test_label_counts_counts_pixels_per_value():
    data = np.zeros((4, 5), np.uint16)
    data[0, :3] = 1
    data[1, :2] = 7
    assert label_counts(data) == {0: 15, 1: 3, 7: 2}
    assert label_counts(np.zeros((0, 3), np.uint8)) == {}
    assert label_counts(np.ones((2, 2), bool)) == {1: 4}


@pytest.mark.parametrize("chunk", [1 << 20, 97])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, bool])
def test_label_counts_equal_numpys_for_sparse_and_dense_labels(dtype, chunk, monkeypatch):
    # counted a chunk at a time, only painted pixels one by one (0.02 s a stroke on a
    # 20,000 x 20,000 layer instead of 7 s); the counts are numpy's all the same, in order
    from napari_unetseg.core.training import labels

    monkeypatch.setattr(labels, "COUNT_CHUNK", chunk)  # 97: many chunks, most empty
    rng = np.random.default_rng(3)
    for painted in (0.0, 0.001, 0.5, 1.0):
        data = (rng.random((60, 70)) < painted) * rng.integers(1, 4, (60, 70))
        data = data.astype(dtype)
        values, counts = np.unique(data, return_counts=True)
        expected = {int(v): int(n) for v, n in zip(values, counts)}
        assert list(label_counts(data).items()) == list(expected.items())
    # a non-contiguous view (a plane of a stack), and huge ids in some chunks only
    stack = np.zeros((3, 60, 70), np.uint32)
    stack[1, 5:9, 3:40] = 2
    stack[1, 50, 60] = np.iinfo(np.uint32).max
    stack[1, 30:32, :] = 5
    plane = stack[1, :, ::2]
    values, counts = np.unique(plane, return_counts=True)
    assert label_counts(plane) == {int(v): int(n) for v, n in zip(values, counts)}
    negative = np.zeros((60, 70), np.int16)
    negative[59, 69] = -1  # in the last chunk only
    assert label_counts(negative) is None


def test_label_counts_skips_what_it_cannot_count_cheaply():
    assert label_counts([[0, 1]]) is None  # not an in-memory numpy array
    assert label_counts(np.zeros((2, 2), np.float32)) is None
    assert label_counts(np.array([[0, -1]], np.int16)) is None  # the engine explains these


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.uint64])
def test_label_counts_of_huge_ids_allocates_no_bincount(dtype):
    big = np.iinfo(dtype).max
    data = np.zeros((8, 8), dtype)
    data[0, 0] = big
    data[1, :2] = 3
    assert label_counts(data) == {0: 61, 3: 2, int(big): 1}


def test_sparse_nothing_painted():
    text = one_sentence(problem_with(label_counts(np.zeros((8, 8), np.uint8)), "sparse", "s"))
    assert "Nothing is painted in 's'" in text
    assert problem_with({}, "sparse", "s") == text


def test_sparse_missing_background():
    text = one_sentence(problem_with(label_counts(scribbles(2, 3)), "sparse", "s"))
    assert "Only objects are painted" in text and "background (label 1)" in text


def test_sparse_missing_object_class():
    counts = label_counts(scribbles(SPARSE_BACKGROUND))
    text = one_sentence(problem_with(counts, "sparse", "s"))
    assert "Only background is painted" in text and "objects (label 2)" in text


def test_sparse_background_and_objects_can_train():
    assert problem_with(label_counts(scribbles(1, 2)), "sparse", "s") is None
    assert problem_with(label_counts(scribbles(1, 2, 3, 4)), "sparse", "s") is None
    top = MAX_SCRIBBLE_CLASSES + 1  # the last class a scribble value may name
    assert problem_with(label_counts(scribbles(1, top)), "sparse", "s") is None


def test_sparse_label_beyond_the_class_limit_is_one_sentence():
    value = MAX_SCRIBBLE_CLASSES + 2
    text = one_sentence(problem_with(label_counts(scribbles(1, 2, value)), "sparse", "s"))
    assert f"label {value}" in text and f"at most {MAX_SCRIBBLE_CLASSES}" in text
    assert "'Dense masks'" in text
    # An instance id far beyond: the same single sentence, no huge allocation.
    text = one_sentence(problem_with(label_counts(scribbles(1, 2**31 - 1)), "sparse", "s"))
    assert f"label {2**31 - 1}" in text


def test_dense_empty_labels():
    empty = label_counts(np.zeros((8, 8), np.uint16))
    text = one_sentence(problem_with(empty, "dense", "mask"))
    assert "'mask' is all background (0)" in text


def test_dense_masks_need_background_and_may_hold_many_ids():
    text = one_sentence(problem_with(label_counts(np.ones((4, 4), np.uint8)), "dense", "m"))
    assert "no background (0)" in text
    masks = np.zeros((16, 16), np.int32)
    masks[:4, :4], masks[8:, 8:] = 5, 70_000  # instance ids: no class limit in dense mode
    assert problem_with(label_counts(masks), "dense", "m") is None


def test_uncounted_labels_pass_to_the_engine():
    assert problem_with(None, "sparse", "s") is None
    assert problem_with(None, "dense", "m") is None


def test_label_checks_import_no_torch():
    code = (
        "import sys\n"
        "from napari_unetseg.core.training import label_counts, problem_with\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"


def test_transition_pixels_are_painted_pixels_near_another_class():
    from napari_unetseg.core.training.sampling import _transition_pools

    bg = np.array([[0, 0, 0], [0, 0, 3], [0, 0, 40], [1, 0, 0]])  # (source, y, x)
    fg = np.array([[0, 0, 5], [0, 0, 60], [1, 50, 50]])
    out = _transition_pools([bg, fg], radius=4.0)
    assert {tuple(r) for r in out[0]} == {(0, 0, 3)}  # (0,0,0) is 5 away; other source never
    assert {tuple(r) for r in out[1]} == {(0, 0, 5)}


def test_scribble_runs_keep_the_latest_weights_near_the_lowest_validation_loss():
    import torch

    from napari_unetseg.core.training.history import LOSS_TOLERANCE, _History

    net = torch.nn.Linear(1, 1)
    h = _History("loss")
    for step, loss in [(10, 1.0), (20, 0.5), (30, 0.5 * LOSS_TOLERANCE * 0.99), (40, 0.9)]:
        h.add_validation(step, loss, 1.0, net)
    assert h.best_step == 30  # later and within tolerance of 0.5; 0.9 is not
    d = _History("dice")
    for step, dice in [(10, 0.8), (20, 0.9), (30, 0.85)]:
        d.add_validation(step, 0.1, dice, net)
    assert d.best_step == 20


def test_a_class_without_strokes_is_called_by_its_name():
    """The note said "Label 3 (class 2)" of a class the user had named (classes bug bash)."""
    from napari_unetseg.core.training.labels import missing_classes_note

    names = ["background", "nucleus", "cytoplasm", "debris"]
    note = missing_classes_note([0, 1, 3], 4, "sparse", names)
    assert note.startswith("Label 3 (cytoplasm) has no painted pixels")
    assert missing_classes_note([0, 1, 3], 4, "sparse").startswith("Label 3 (class 2)")


def test_too_many_classes_asked_for_names_the_count_not_a_label():
    """n_classes=2000 said "The labels contain the value 1, which would ask for 2,000
    classes" (array bug bash)."""
    from napari_unetseg import api

    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[5:10, 5:10] = 1
    with pytest.raises(
        ValueError,
        match=r"n_classes 2,000 asks for more classes than a model may have \(at most 1,024\)",
    ):
        api.train(image, labels, label_mode="dense", n_classes=2000, steps=1)


def test_a_stray_huge_scribble_id_is_refused_before_the_forest_names_its_classes():
    """One pixel of 2**32 - 1 among the strokes named 4 billion classes for the forest
    teacher (the default) before any class count was checked: 23 GB, then the kernel
    killed the run (training fuzz bash)."""
    from napari_unetseg import api

    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    strokes = np.zeros((32, 32), np.uint32)
    strokes[2:6, 2:6], strokes[20:24, 20:24] = 1, 2
    strokes[30, 30] = 2**32 - 1
    with pytest.raises(ValueError, match=r"value 4294967295, which would ask for 4,294,967,294"):
        api.train(image, strokes, steps=1)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            np.uint64(2**63 + 5),
            r"a label id of 2\*\*63 or more \(9223372036854775813\) in the labels",
        ),
        (1e20, r"a value of 1e\+20 in the labels; label ids must be below 2\*\*63"),
        (-1e20, r"a value of -1e\+20 in the labels; label ids must be below 2\*\*63"),  # (review)
        (np.inf, "fractional or NaN values"),
    ],
)
def test_label_ids_int64_cannot_hold_are_said_as_they_are(value, said, recwarn):
    """uint64 2**63 + 5 was refused as "negative values (-9223372036854775803)"; 1e20 as
    negative after numpy's cast warning; inf after "invalid value encountered in
    remainder" (training fuzz bash)."""
    from napari_unetseg import api

    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    labels = np.zeros((32, 32), np.asarray(value).dtype)
    labels[2:8, 2:8] = 1
    labels[20, 20] = value
    with pytest.raises(ValueError, match=said):
        api.train(image, labels, label_mode="dense", steps=1, teacher="none")
    assert not [w for w in recwarn if "invalid value" in str(w.message)]


def test_painted_box_holds_every_stroke_with_its_margin() -> None:
    """A patch painted in a big volume: the region trained on (big-data bash)."""
    from napari_unetseg.core.training.labels import painted_box

    labels = np.zeros((40, 300, 300), np.uint8)
    labels[20, 100:110, 150:200] = 1
    labels[22, 130, 120] = 2
    box = painted_box(labels, margin=10, min_pixels=1000)
    assert box == (slice(10, 33), slice(90, 141), slice(110, 210))
    assert np.count_nonzero(labels[box]) == np.count_nonzero(labels)
    assert painted_box(labels, margin=10, min_pixels=labels.size) is None  # small: as is
    assert painted_box(np.zeros_like(labels), min_pixels=10) is None  # nothing painted
    labels[0, 0, 0] = labels[-1, -1, -1] = 1
    assert painted_box(labels, margin=0, min_pixels=10) is None  # the region is all of it
