"""Training off a constant surrounding (core/training/content.py): the box found, the
pairs cropped, and what is left alone."""

from __future__ import annotations

import numpy as np

from napari_unetseg.core.training.content import MARGIN, content_box, ignore_outside_content


def _brain(shape=(40, 60, 50)) -> np.ndarray:
    """A textured block inside a zero surrounding, as a skull-stripped volume."""
    image = np.zeros(shape, np.float32)
    image[10:30, 15:45, 5:40] = np.random.default_rng(0).random((20, 30, 35)) + 1.0
    return image


def test_the_box_holds_the_content_and_a_margin_of_the_constant() -> None:
    box = content_box(_brain(), 3)
    assert box == (
        slice(10 - MARGIN, 30 + MARGIN),
        slice(15 - MARGIN, 45 + MARGIN),
        slice(0, 40 + MARGIN),  # clipped at the image's edge
    )


def test_no_box_without_a_constant_surrounding_or_a_saving() -> None:
    rng = np.random.default_rng(1)
    assert content_box(rng.random((30, 40)), 2) is None  # a microscopy plane
    almost_full = np.ones((30, 40))
    almost_full[1:-1, 1:-1] = rng.random((28, 38)) + 2
    assert content_box(almost_full, 2) is None  # one-pixel frame: nothing to save
    assert content_box(np.zeros((30, 40)), 2) is None  # nothing at all


def test_labels_outside_the_box_are_unlabelled_channels_and_leading_axes_alike() -> None:
    image = _brain()
    labels = np.ones(image.shape, np.uint8)  # a teacher's dense labels: every pixel
    labels[image > 1.5] = 2
    box = content_box(image, 3)
    (kept,), said = ignore_outside_content([image], [labels], 3, None)
    assert "36 x 46 x 48" in said and kept.shape == labels.shape
    np.testing.assert_array_equal(kept[box], labels[box])
    assert np.count_nonzero(kept) == np.count_nonzero(labels[box])  # none outside
    rgb = np.stack([image, 2 * image], axis=-1)  # channels last
    (kept_rgb,), _ = ignore_outside_content([rgb], [labels], 3, channel_axis=-1)
    np.testing.assert_array_equal(kept_rgb, kept)
    stack, stack_labels = np.stack([image, image]), np.stack([labels, labels])  # leading axis
    (kept_stack,), _ = ignore_outside_content([stack], [stack_labels], 3, None)
    np.testing.assert_array_equal(kept_stack, np.stack([kept, kept]))


def test_a_box_that_would_drop_a_labelled_class_is_not_used() -> None:
    image = _brain()
    labels = np.zeros(image.shape, np.uint8)
    labels[15, 20, 10] = 2
    labels[0, 0, 0] = 1  # the only background stroke, on the surrounding
    (kept,), said = ignore_outside_content([image], [labels], 3, None)
    np.testing.assert_array_equal(kept, labels)
    assert said == ""
