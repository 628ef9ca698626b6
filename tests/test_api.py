"""The public headless API: load_model / list_models / predict."""

from __future__ import annotations

import re
import threading
import warnings

import numpy as np
import pytest
import torch

from napari_unetseg import _io, api
from napari_unetseg.core.bundle import ModelBundle, ModelFileError
from napari_unetseg.core.inference import PredictionResult


@pytest.fixture
def tiny(tmp_path) -> tuple[ModelBundle, str]:
    torch.manual_seed(0)
    b = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    return b, str(b.save(tmp_path / "tiny.pt"))


def test_load_model_accepts_bundle_path_and_names(tiny) -> None:
    b, path = tiny
    assert api.load_model(b) is b
    assert api.load_model(path).config == b.config
    for row in api.list_models():
        assert api.load_model(row["name"]).spatial_dims in (2, 3)
    name = api.REGISTRY.register(b, "api-test-model")
    try:
        assert api.load_model(name) is b
        assert {"name": name, "kind": "session", "path": None} in api.list_models()
    finally:
        api.REGISTRY.remove(name)


def test_save_model_lists_it_as_saved_and_predicts_by_name(tiny) -> None:
    b, path = tiny
    written = api.save_model(path, "api saved")
    assert written == api.REGISTRY.saved_dir / "api saved.pt"
    row = {"name": "api saved", "kind": "saved", "path": str(written)}
    assert row in api.list_models()
    image = np.random.default_rng(0).random((40, 40), np.float32)
    same = api.predict(image, "api saved", object_size=None)
    assert np.array_equal(same, api.predict(image, b, object_size=None))
    with pytest.raises(ValueError, match="shipped model's name"):
        api.save_model(b, "nuclei-2d")
    # named inside as it is listed, whatever its path: labels named the model by its old
    # name when it was given by path (reproducibility bash); the model given is unchanged
    from napari_unetseg.core.bundle import ModelBundle

    assert ModelBundle.load(written).name == "api saved" and b.name != "api saved"


def test_load_model_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="Unknown model 'nope'"):
        api.load_model("nope")
    (tmp_path / "x.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError):
        api.load_model(tmp_path / "x.pt")


def test_predict_returns_labels_and_probabilities(tiny) -> None:
    b, path = tiny
    img = np.random.default_rng(0).integers(0, 255, (40, 50)).astype(np.uint8)
    labels = api.predict(img, path, tile_size=16, device="cpu")
    assert labels.shape == img.shape and labels.dtype == np.uint8
    labels2, probs = api.predict(img, b, tile_size=16, return_probabilities=True)
    np.testing.assert_array_equal(labels, labels2)
    assert probs.dtype == np.float32 and probs.shape == img.shape
    np.testing.assert_array_equal(labels2, (probs > 0.5).astype(np.uint8))  # 2 classes


def test_predict_iter_yields_progress_and_returns_result(tiny) -> None:
    b, _ = tiny
    img = np.zeros((64, 64), np.float32)
    records = []
    result = api.drain(
        api.predict_iter(img, b, tile_size=32, overlap=0.5, batch_size=2), records.append
    )
    assert isinstance(result, PredictionResult)
    assert records[-1].done == records[-1].total == result.stats["n_tiles"] == 9
    out = np.full((64, 64), 7, np.uint8)
    api.predict(img, b, tile_size=32, out=out)
    assert set(np.unique(out)) <= {0, 1}


def test_segment_chains_prediction_and_split_once() -> None:
    """api.segment = predict, then split_stack: the one chain the CLI and widget run."""
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.postprocess import split_stack

    img, _ = synthetic_nuclei((96, 96), seed=3)
    semantic = api.predict(img, "nuclei-2d", device="cpu")
    plain = api.segment(img, "nuclei-2d", split_touching=False, device="cpu")
    np.testing.assert_array_equal(plain, semantic)
    instances = api.segment(img, "nuclei-2d", split_touching=True, scale=(1.0, 1.0), device="cpu")
    np.testing.assert_array_equal(instances, split_stack(semantic, (1.0, 1.0), 2))
    assert instances.max() > 1  # several objects, each its own id
    # a flipped axis (napari's negative scale) is as long: "sampling must give one
    # positive size per axis" (transforms bug bash)
    flipped = api.segment(img, "nuclei-2d", split_touching=True, scale=(-1.0, 1.0), device="cpu")
    np.testing.assert_array_equal(flipped, instances)
    # one object class: nothing to say; several: the ids lose the classes, said (classes
    # bug bash: silently)
    one = api.drain(api.segment_iter(img, "nuclei-2d", split_touching=True, device="cpu"))
    assert "split" not in one.stats
    from napari_unetseg.core.bundle import ModelBundle

    three = ModelBundle.create(spatial_dims=2, n_classes=3, depth=2, base_channels=4)
    split = api.drain(api.segment_iter(img, three, split_touching=True, object_size=None))
    assert "do not say each object's class" in split.stats["split"]["message"]


def test_segment_splits_as_the_model_says(monkeypatch) -> None:
    """The nuclei models segment one label per nucleus by default (their classes are
    separate objects: object F1 0.77 -> 0.88 on DSB 2018, 0.60 -> 0.81 on cells3d;
    benchmarks/instance_defaults.py); a model without the setting gives class labels;
    an explicit choice wins; results over SPLIT_AUTO_VOXELS, or written to ``out``, are
    not split by default, the first said."""
    from napari_unetseg.core.bundle import ModelBundle
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, _ = synthetic_nuclei((96, 96), seed=3)
    assert (
        api.load_model("nuclei-2d").split_touching and api.load_model("nuclei-3d").split_touching
    )
    objects = api.drain(api.segment_iter(img, "nuclei-2d", device="cpu"))
    split = api.segment(img, "nuclei-2d", split_touching=True, device="cpu")
    np.testing.assert_array_equal(objects.labels, split)
    assert objects.stats["split_touching"] is True and "split" not in objects.stats
    plain = ModelBundle.create(spatial_dims=2, n_classes=2, depth=2, base_channels=4)
    assert not plain.split_touching
    classes = api.drain(api.segment_iter(img, plain, object_size=None))
    assert classes.stats["split_touching"] is False and classes.labels.max() <= 1
    out = np.zeros(img.shape, np.uint8)
    api.segment(img, "nuclei-2d", out=out, device="cpu")
    np.testing.assert_array_equal(out, api.predict(img, "nuclei-2d", device="cpu"))
    monkeypatch.setattr(api, "SPLIT_AUTO_VOXELS", 1000)
    big = api.drain(api.segment_iter(img, "nuclei-2d", device="cpu"))
    assert big.stats["split_touching"] is False and big.labels.max() == 1
    said = "Touching objects were not split: 9,216 voxels are more than the 1,000 split"
    assert said in big.stats["split"]["message"]


def test_segment_writes_its_objects_into_out_and_returns_what_predict_returns() -> None:
    """segment(split_touching=True, out=...) left the plain labels (0/1) in ``out`` and
    returned the objects in another array; segment(return_probabilities=True) computed
    the maps and dropped them (API bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, _ = synthetic_nuclei((96, 96), seed=3)
    objects = api.segment(img, "nuclei-2d", split_touching=True, device="cpu")
    out = np.zeros(img.shape, np.int32)
    into = api.segment(img, "nuclei-2d", split_touching=True, device="cpu", out=out)
    assert into is out and objects.max() > 1
    np.testing.assert_array_equal(out, objects)
    with pytest.raises(ValueError, match=r"^out must be an array"):  # (an AttributeError)
        api.segment(img, "nuclei-2d", split_touching=True, out=[0] * 9)
    for kind in (bool, np.float32):  # refused before the run (float32: "split_touching
        # needs a mask or integer labels", of labels nobody gave; review)
        with pytest.raises(ValueError, match=r"out \(\w+\) cannot hold the object ids"):
            api.segment(img, "nuclei-2d", split_touching=True, out=np.zeros(img.shape, kind))
    labels, maps = api.segment(
        img, "nuclei-2d", split_touching=False, device="cpu", return_probabilities=True
    )
    same = api.predict(img, "nuclei-2d", device="cpu", return_probabilities=True)
    np.testing.assert_array_equal(labels, same[0])
    np.testing.assert_array_equal(maps, same[1])
    split, maps = api.segment(
        img, "nuclei-2d", split_touching=True, device="cpu", return_probabilities=True
    )
    np.testing.assert_array_equal(split, objects)


def test_rgb_images_are_segmented_as_grey_by_one_channel_models(tiny) -> None:
    """A grey image saved as RGB(A) (a PNG export), or a coloured one, is segmented by a
    one-channel model as grey, and the result says so; a dask RGB image stays lazy."""
    import dask.array as da

    tiny, _ = tiny
    plane = (np.random.default_rng(3).random((48, 64)) * 255).astype(np.uint8)
    expected = api.predict(plane, tiny, object_size="off")
    rgb = np.stack([plane] * 3, axis=-1)
    result = api.drain(api.predict_iter(rgb, tiny, channel_axis=-1, object_size="off"))
    assert np.array_equal(result.labels, expected)
    assert result.stats["input"] == "The RGB image is grey (R = G = B): one channel is used."
    coloured = rgb.copy()
    coloured[..., 2] = 0
    lazy = da.from_array(coloured, chunks=(16, 64, 3))
    result = api.drain(api.predict_iter(lazy, tiny, channel_axis=2, object_size="off"))
    mean = coloured.astype(np.float32).mean(-1)
    assert np.array_equal(result.labels, api.predict(mean, tiny, object_size="off"))
    assert "mean of R, G and B" in result.stats["input"]
    plain = api.drain(api.predict_iter(plane, tiny, object_size="off"))
    assert "input" not in plain.stats


def test_nuclei_2d_finds_the_dark_nuclei_of_a_stained_brightfield_image(stained_nuclei) -> None:
    """An H&E image given as RGB is segmented on its hematoxylin channel, where its dark
    nuclei are bright as the shipped model learned them; its mean of R, G and B would
    show them dark, and the model would mark the tissue around them instead."""
    stained, _, nuclei = stained_nuclei
    result = api.drain(api.predict_iter(stained, "nuclei-2d", object_size="off"))
    assert "hematoxylin" in result.stats["input"]

    def dice(mask: np.ndarray) -> float:
        return 2 * np.count_nonzero(mask & nuclei) / (mask.sum() + nuclei.sum())

    assert dice(result.labels > 0) > 0.8
    mean = stained.astype(np.float32).mean(-1)
    assert dice(api.predict(mean, "nuclei-2d", object_size="off") > 0) < 0.5
    # invert asked for (its nuclei are dark on a bright background): its hematoxylin shows
    # them bright already, so nothing is swapped and it says so (swapped first, the labels
    # went to the gaps: Dice 0.75 -> 0.38; review, polarity bash)
    told = api.drain(api.predict_iter(stained, "nuclei-2d", object_size="off", invert=True))
    np.testing.assert_array_equal(told.labels, result.labels)
    assert "Dark and bright not swapped (invert)" in told.stats["input"]
    # a grey RGB export of dark nuclei is swapped after its grey conversion
    _, fluorescent, _ = stained_nuclei
    dark = np.repeat(255 - fluorescent[..., 2:], 3, axis=-1)
    swapped = api.drain(api.predict_iter(dark, "nuclei-2d", object_size="off", invert=True))
    assert dice(swapped.labels > 0) > 0.8 and "swapped (invert)." in swapped.stats["input"]


def test_one_channel_of_a_multichannel_stack_is_segmented_with_channel(tiny) -> None:
    """channel=N picks the nuclear stain of a two-channel image for a one-channel model
    (lazily for dask), as --channel does; without it, or with a channel the image does not
    have, a one-sentence error says what to do."""
    import dask.array as da

    tiny, _ = tiny
    rng = np.random.default_rng(5)
    nuclei, membrane = (rng.random((3, 40, 48)) * 1000).astype(np.uint16)[:2]
    stack = np.stack([membrane, nuclei], axis=1)  # (Y, C, X): the channel axis in the middle
    expected = api.predict(nuclei, tiny, object_size="off")
    lazy = da.from_array(stack, chunks=(20, 1, 48))
    got = api.predict(lazy, tiny, channel_axis=1, channel=1, object_size="off")
    assert np.array_equal(got, expected)
    assert api.predict(stack, tiny, channel_axis=-2, channel=0, object_size="off").shape == (
        40,
        48,
    )
    with pytest.raises(
        ValueError,
        match=r"^The image has 2 channels on axis 1 but the model "
        r"expects 1 \(choose one with channel=N\)\.$",
    ):
        api.predict(stack, tiny, channel_axis=1, object_size="off")
    with pytest.raises(
        ValueError,
        match=r"^The image has 2 channels on axis 1 \(0 to 1\), "
        r"so there is no channel 2\.$",
    ):
        api.predict(stack, tiny, channel_axis=1, channel=2)
    with pytest.raises(ValueError, match="channel= needs channel_axis="):
        api.predict(stack, tiny, channel=0)
    with pytest.raises(ValueError, match="whole number from 0 to 1, not 0.5"):
        api.predict(stack, tiny, channel_axis=1, channel=0.5)


def test_a_five_axis_image_without_channel_axis_is_said_to_be_segmented_per_channel(
    tiny,
) -> None:
    """A T,C,Z,Y,X array (OME's order) given to a one-channel 3D model without
    channel_axis had each channel segmented as a volume of its own, the other stain's
    included, without a word (5D bug bash; `unetseg predict` refuses such a file)."""
    model = ModelBundle.create(spatial_dims=3, depth=1, base_channels=2)
    image = np.random.default_rng(0).random((2, 2, 4, 16, 16)).astype(np.float32)
    with pytest.warns(
        UserWarning, match=r"^The image has 5 axes, so axes 0 and 1 are each "
    ) as said:
        assert api.segment(image, model, object_size=None).shape == image.shape
    (ours,) = [w for w in said if "so axes 0 and 1 are each" in str(w.message)]
    assert ours.filename == __file__  # at the caller's line, from segment too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert api.predict(image, model, object_size=None, channel_axis=1, channel=0).shape == (
            2, 4, 16, 16
        )  # fmt: skip
        assert api.predict(image[0], model, object_size=None).shape == (2, 4, 16, 16)
        tiny, _ = tiny
        assert api.predict(image[0], tiny, object_size=None).shape == (2, 4, 16, 16)  # TZYX


def test_an_rgb_array_given_without_a_channel_axis_is_read_as_colour_as_napari_does(
    tiny,
) -> None:
    """(Y, X, 3) from imageio / skimage.io, passed as is: a coloured plane, not a stack of
    3-pixel-wide planes; the default model is the 2D one and the result says why."""
    from napari_unetseg.core.normalize import rgb_axis

    tiny, _ = tiny
    plane = (np.random.default_rng(5).random((48, 64)) * 255).astype(np.uint8)
    rgba = np.stack([plane] * 3 + [np.full_like(plane, 255)], axis=-1)
    result = api.drain(api.predict_iter(rgba, tiny, object_size="off"))
    assert np.array_equal(result.labels, api.predict(plane, tiny, object_size="off"))
    assert result.stats["input"].startswith("The image's last axis (4 values) was read as RGBA")
    assert api.default_model(rgba.shape) == ("nuclei-2d", "the image is a plane")
    # a new model learns from colours (three input channels), and from a grey image saved
    # as RGB (R = G = B) as grey, so that it takes grey images too
    labels = np.zeros((48, 64), np.uint8)
    labels[5:15, 5:15], labels[30:40, 40:50] = 1, 2
    coloured = rgba[..., :3].copy()
    coloured[..., 2] //= 2
    options = {"steps": 1, "patch_size": 32, "batch_size": 1, "teacher": "none"}
    new = api.train(coloured, labels, **options)
    assert new.in_channels == 3 and new.spatial_dims == 2
    grey = api.train(rgba[..., :3], labels, **options)
    assert grey.in_channels == 1 and "R = G = B" in grey.history["object_size"]
    # not colour: labels covering every axis, a thin last axis of a stack, or an axis given
    assert rgb_axis((20, 48, 3), None, (20, 48, 3)) == (None, "")
    assert rgb_axis((8, 48, 3), None) == (None, "")
    assert rgb_axis((48, 64, 3), 0) == (0, "")


def test_a_grey_image_with_a_last_axis_of_one_is_that_channel(tiny) -> None:
    """(Y, X, 1), as Keras and imageio pipelines hold a grey image: its one channel, not a
    stack of 64 rows of 1 pixel each (labels of another shape, 55 % like the plane's,
    silently); training on it takes it the same way."""
    from napari_unetseg.core.normalize import rgb_axis

    tiny, _ = tiny
    plane = (np.random.default_rng(5).random((48, 64)) * 255).astype(np.uint8)
    result = api.drain(api.predict_iter(plane[..., None], tiny, object_size="off"))
    assert np.array_equal(result.labels, api.predict(plane, tiny, object_size="off"))
    assert result.stats["input"] == "The image's last axis (1 value) was read as its one channel."
    labels = np.zeros((48, 64), np.uint8)
    labels[5:15, 5:15], labels[30:40, 40:50] = 1, 2
    options = {"steps": 1, "patch_size": 32, "batch_size": 1, "teacher": "none"}
    assert api.train(plane[..., None], labels, **options).in_channels == 1
    assert rgb_axis((8, 48, 1), None) == (None, "")  # 8 rows of 48 x 1: not a plane


def test_fine_tuning_a_one_channel_model_on_an_rgb_image_trains_on_grey(tiny) -> None:
    tiny, _ = tiny
    plane = (np.random.default_rng(4).random((64, 64)) * 255).astype(np.uint8)
    labels = np.zeros((64, 64), np.uint8)
    labels[5:15, 5:15], labels[40:50, 40:50] = 1, 2
    rgb = np.stack([plane] * 3, axis=-1)
    records = []
    trained = api.drain(
        api.train_iter(
            rgb,
            labels,
            model=tiny,
            steps=2,
            channel_axis=-1,
            object_size="off",
            preview_image=rgb,
            preview_every=1,
        ),
        records.append,
    )
    assert trained.in_channels == 1 and trained.history["steps"] == 2
    assert records[0].message.startswith("The RGB image is grey (R = G = B): one channel is used.")
    assert any(r.preview is not None and r.preview.shape == (64, 64) for r in records)


def test_predict_refuses_a_scale_it_cannot_use_and_returns_the_uncertainty(tiny) -> None:
    b, _ = tiny
    image = np.random.default_rng(1).random((3, 40, 40), np.float32)
    for scale, match in (
        ((2.0,), "for each of the image's last 2 axes"),  # one value for a plane
        ((0.0, 1.0), "positive, finite pixel sizes"),
        ((float("nan"), 1.0), "positive, finite pixel sizes"),
        (("a", 1.0), "numbers"),
    ):
        with pytest.raises(ValueError, match=match):
            api.predict(image, b, scale=scale)
    # napari's flipped axes have negative sizes: their size is used
    flipped = api.predict(image, b, scale=(-2.0, 1.0, -1.0), object_size=None)
    assert np.array_equal(flipped, api.predict(image, b, scale=(2.0, 1.0, 1.0), object_size=None))
    labels, uncertainty = api.predict(image, b, return_uncertainty=True, object_size=None)
    assert labels.shape == uncertainty.shape == image.shape and uncertainty.dtype == np.float32
    # the flips are made for it, as documented (it was all zeros without tta=True)
    _, with_tta = api.predict(image, b, return_uncertainty=True, tta=True, object_size=None)
    assert uncertainty.any() and np.array_equal(uncertainty, with_tta)
    labels, probabilities, uncertainty = api.predict(
        image, b, return_probabilities=True, return_uncertainty=True, object_size=None
    )
    assert probabilities.shape == uncertainty.shape == image.shape


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"scale": (0.0, 1.0)}, "positive, finite pixel sizes"),
        ({"scale": (1.0,)}, "for each of the image's last 2 axes"),
        ({"spatial_dims": 1}, "spatial_dims must be 2 or 3"),
        ({"seed": -1}, "seed must be a whole number of 0 or more"),
        ({"seed": None}, "seed must be a whole number of 0 or more, got None"),
        ({"learning_rate": 0}, "learning_rate must be a positive, finite number"),
    ],
)
def test_training_refuses_options_it_cannot_use(option, match) -> None:
    """A scale of 0 was stored in the model (its bioimage.io export then failed); the
    others reached the user as KeyError, numpy's or torch's words, or trained nothing."""
    image = np.random.default_rng(0).random((32, 32), np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[2, :] = 1
    labels[15:18, 15:18] = 2
    with pytest.raises(ValueError, match=match):
        api.train(image, labels, steps=1, **option)


def test_a_thin_image_trains_without_the_forest() -> None:
    image = np.random.default_rng(0).random((1, 64), np.float32)
    labels = np.zeros((1, 64), np.uint8)
    labels[0, :8], labels[0, 30:34] = 1, 2
    trained = api.train(image, labels, steps=1, model_config={"depth": 2, "base_channels": 4})
    assert trained.history["teacher"] == "none"


def test_predict_given_a_path_says_how_to_read_it(tmp_path):
    """api.predict("nuclei.tif") said "data of type <U8; numbers are needed" (install bug
    bash): a path names read_image and segment_files."""
    with pytest.raises(TypeError, match="predict takes an image array, not the path 'n.tif'"):
        api.predict("n.tif", "nuclei-2d")
    # train and evaluate said "data of type <U8" and "Label arrays need at least one
    # axis; got a single value" (paths bug bash)
    with pytest.raises(TypeError, match=r"train takes arrays, not the path 'l.tif'.*train`\.$"):
        api.train(np.zeros((8, 8)), "l.tif")
    with pytest.raises(TypeError, match=r"evaluate takes arrays, not the path '.*g\.tif'"):
        api.evaluate(np.zeros((8, 8), np.uint8), tmp_path / "g.tif")


def test_what_read_image_returns_is_not_taken_for_an_array(tmp_path):
    """api.predict(read_image(path)) said "has data of type object; numbers are needed"
    (scale-out bug bash): it says to pass image.data, for training and scoring too."""
    path = _io.write_image(tmp_path / "n.tif", np.zeros((32, 32), np.uint8))
    image = _io.read_image(path)
    said = "Pass the image's array, not what read_image returned: image.data"
    with pytest.raises(TypeError, match=said):
        api.predict(image, "nuclei-2d")
    with pytest.raises(TypeError, match=said):
        api.train(image, np.ones((32, 32), np.uint8), steps=1)
    with pytest.raises(TypeError, match=said):
        api.evaluate(image, np.ones((32, 32), np.uint8))


def test_a_time_series_is_measured_in_one_frame_not_across_time():
    """Nuclei that move between the frames of a (T, Y, X) movie were measured as a
    volume, cut into slivers: 5.7 px for 27 px, and the movie resampled 3.5 x (Dice 0.85
    against 0.97; fine-tune bug bash). With its time axis, one frame is measured, in
    prediction and when a new model records its size."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, truth = synthetic_nuclei((96, 96), seed=1)
    movie = np.stack([np.roll(img, 5 * t, 0) for t in range(5)])
    frame = api.drain(api.predict_iter(movie[2], "nuclei-2d")).stats["object_size"]
    for time_axis, same in ((None, False), (0, True), (-3, True)):
        stats = api.drain(api.segment_iter(movie, "nuclei-2d", time_axis=time_axis)).stats
        measured = stats["object_size"]["image_diameter"]
        assert (measured == pytest.approx(frame["image_diameter"])) is same, time_axis
    # a channel axis before time: the labels' time axis is the image's next one
    two = np.stack([movie, movie], axis=1)  # (T, C, Y, X)
    stats = api.drain(
        api.predict_iter(two, "nuclei-2d", channel_axis=1, channel=0, time_axis=0)
    ).stats
    assert stats["object_size"]["image_diameter"] == pytest.approx(frame["image_diameter"])
    strokes = np.zeros(movie.shape, np.uint8)
    strokes[:, :8] = 1
    strokes[np.stack([np.roll(truth, 5 * t, 0) for t in range(5)]) > 0] = 2
    trained = api.train(movie, strokes, steps=1, teacher="none", time_axis=0,
                        model_config={"depth": 2, "base_channels": 4})  # fmt: skip
    assert trained.object_size["diameter"] == pytest.approx(frame["image_diameter"])
    with pytest.raises(ValueError, match="time_axis 3 is not an axis of the labels"):
        api.predict(movie, "nuclei-2d", time_axis=3)


def test_torch_tensors_and_a_saved_name_with_its_ending_are_taken(tmp_path, monkeypatch):
    """Torch tensors gave "Cannot interpret 'torch.float32' as a data type"; a model
    saved as "cells.pt" was saved as "cells" and "cells.pt" then not found (array bug
    bash)."""
    import torch

    from napari_unetseg.core.synthetic import synthetic_nuclei

    monkeypatch.setenv("NAPARI_UNETSEG_MODELS", str(tmp_path / "models"))
    img, truth = synthetic_nuclei((64, 64), seed=1)
    labels = api.predict(img, "nuclei-2d")
    np.testing.assert_array_equal(api.predict(torch.from_numpy(img), "nuclei-2d"), labels)
    tensors = torch.from_numpy(labels), torch.from_numpy((truth > 0).astype(np.uint8))
    assert api.evaluate(*tensors).classes[1]["dice"] > 0.9
    strokes = np.zeros((64, 64), np.uint8)
    strokes[:5] = 1
    strokes[truth > 0] = 2
    model = api.train(torch.from_numpy(img), [torch.from_numpy(strokes)][0], steps=1,
                      teacher="none", model_config={"depth": 2, "base_channels": 4})  # fmt: skip
    api.save_model(model, "cells.pt")
    assert api.load_model("cells.pt").name == "cells"


def test_train_takes_nested_lists_and_refuses_colour_beside_grey():
    """``predict`` takes an image as nested lists; ``train`` said "'list' object has no
    attribute 'shape'". A list mixing a colour image and a grey one was read as the
    first one's kind: "labels (pair 2) have shape (45, 2)..." (array bug bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, truth = synthetic_nuclei((48, 48), seed=2)
    strokes = np.zeros((48, 48), np.uint8)
    strokes[:4] = 1
    strokes[truth > 0] = 2
    config = {"depth": 2, "base_channels": 4}
    model = api.train(img.tolist(), strokes.tolist(), steps=1, teacher="none", model_config=config)
    assert model.spatial_dims == 2
    again = api.train([img.tolist()], [strokes], steps=1, teacher="none", model_config=config)
    assert again.spatial_dims == 2
    colour = np.stack([img] * 3, axis=-1)
    with pytest.raises(
        ValueError, match=r"^Image 2 of the list is a grey image of shape \(48, 48\)"
    ):
        api.train([colour, img], [strokes, strokes], steps=1, model_config=config)


def test_tile_size_as_a_whole_float_and_time_axis_not_a_spatial_one():
    """tile_size=64.0 raised "'float' object is not iterable"; time_axis=2 of a
    (3, Y, X) stack was taken, measuring the object size on one column of planes
    (engine bug bash)."""
    image = np.random.default_rng(0).random((3, 48, 48)).astype(np.float32)
    as_int = api.predict(image[0], "nuclei-2d", tile_size=32, object_size=None)
    as_float = api.predict(image[0], "nuclei-2d", tile_size=32.0, object_size=None)
    np.testing.assert_array_equal(as_int, as_float)
    with pytest.raises(ValueError, match="tile_size must be a positive int"):
        api.predict(image[0], "nuclei-2d", tile_size=32.5)
    for axis in (1, 2, -1):
        with pytest.raises(ValueError, match=rf"^time_axis {axis} is one of the 2 spatial axes"):
            api.predict(image, "nuclei-2d", time_axis=axis)
    assert api.predict(image, "nuclei-2d", time_axis=-3, object_size=None).shape == image.shape


def test_a_new_model_of_a_movie_is_2d_and_its_teacher_reads_frames():
    """api.train(movie, time_axis=0) made a 3D model (time for Z) that predict then
    refused on the same movie; the forest teacher smoothed across time points and asked
    nuclei-3d of it (train bug bash): a 2D model, taught frame by frame with nuclei-2d."""
    import re

    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

    frames, truths = zip(*[synthetic_nuclei((64, 64), seed=s) for s in range(3)])
    movie, truth = np.stack(frames), np.stack(truths)
    strokes = np.zeros_like(truth)
    strokes[1] = synthetic_scribbles(truth[1], seed=0)
    messages, run = [], api.train_iter(movie, strokes, time_axis=0, steps=1, seed=0)
    try:
        while True:
            messages.append(next(run).message or "")
    except StopIteration as done:
        model = done.value
    assert model.spatial_dims == 2
    read = {name for m in messages for name in re.findall(r"nuclei-\dd", m)}
    assert read == {"nuclei-2d"}
    assert api.predict(movie, model, time_axis=0, object_size=None).shape == movie.shape


def test_each_time_point_of_a_series_is_normalized_as_an_image_of_its_own(tmp_path):
    """With one normalization for the whole series, frames that photobleaching dimmed to
    40 % were segmented at Dice 0.39 (0.04 at 25 %) where each alone gave 0.98, and a
    frame's labels changed with another frame's brightness (time series bashes). Each
    time point now has its own statistics: its labels are those of the frame alone, in
    api.predict, in training's patches and in block runs."""
    from napari_unetseg import _io, _zarr
    from napari_unetseg import distributed as dist
    from napari_unetseg.core.normalize import TimeNormalizers
    from napari_unetseg.core.synthetic import synthetic_nuclei

    frames = [synthetic_nuclei((96, 112), seed=7 + t)[0].astype(np.float32) for t in range(3)]
    movie = np.stack([f * d for f, d in zip(frames, (1.0, 0.3, 0.15))])
    movie[0] *= 10  # a bright first frame
    series = api.predict(movie, "nuclei-2d", time_axis=0, object_size=None)
    for t in range(3):
        np.testing.assert_array_equal(
            series[t], api.predict(movie[t], "nuclei-2d", object_size=None)
        )
    assert (series[2] > 0).mean() > 0.1  # the dimmest frame's nuclei are found
    bundle = api.load_model("nuclei-2d")
    assert isinstance(bundle.normalizer(movie, time_axis=0), TimeNormalizers)
    assert not isinstance(bundle.normalizer(movie), TimeNormalizers)  # a Z stack: one
    path = tmp_path / "movie.tif"
    _io.write_image(path, movie, axes="TYX")
    dist.predict_blocks(path, "nuclei-2d", tmp_path / "m.ome.zarr", object_size=None,
                        block_size=64)  # fmt: skip
    np.testing.assert_array_equal(
        np.asarray(_zarr.read_ome_zarr(tmp_path / "m.ome.zarr").data), series
    )
    # fine-tuning on strokes in the dimmest frame: the start model agrees with them there
    from napari_unetseg.core.synthetic import synthetic_scribbles
    from napari_unetseg.core.training.history import AGREEMENT_HINT

    strokes = np.zeros(movie.shape, np.uint8)
    strokes[2] = synthetic_scribbles(synthetic_nuclei((96, 112), seed=9)[1], seed=0)
    tuned = api.train(movie, strokes, model="nuclei-2d", time_axis=0, steps=2, patch_size=32,
                      object_size=None, seed=0)  # fmt: skip
    assert min(tuned.history["start_agreement"]) > AGREEMENT_HINT


def test_dense_labels_of_one_time_point_say_the_others_are_trained_as_background():
    """Dense labels painted in one frame of a series trained the other frames as empty
    background without a word (validation Dice 0.43 where the frame alone gave 0.96;
    time series bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    frames, truths = zip(*[synthetic_nuclei((48, 48), seed=s) for s in range(4)])
    movie, dense = np.stack(frames), np.zeros((4, 48, 48), np.uint8)
    dense[2] = truths[2] > 0
    run = api.train_iter(movie, dense, label_mode="dense", time_axis=0, steps=1, seed=0,
                         model_config={"depth": 2, "base_channels": 4})  # fmt: skip
    first = next(run).message
    run.close()
    assert "Time points 0, 1, 3 (3 of 4) hold no labels and are trained as empty" in first
    dense[:] = truths[2] > 0  # every frame painted: nothing to say
    run = api.train_iter(movie, dense, label_mode="dense", time_axis=0, steps=1, seed=0,
                         model_config={"depth": 2, "base_channels": 4})  # fmt: skip
    assert "hold no labels" not in next(run).message
    run.close()
    # scribbles in one frame: said where they lie (the widget did not say it)
    strokes = np.zeros((4, 48, 48), np.uint8)
    strokes[1, 5:8, 5:30] = 1
    strokes[1][truths[1] > 0] = 2
    run = api.train_iter(movie, strokes, time_axis=0, steps=1, seed=0, teacher="none",
                         model_config={"depth": 2, "base_channels": 4})  # fmt: skip
    assert "The strokes lie in time point 1 (1 of 4)." in next(run).message
    run.close()


def test_a_seed_beyond_2_to_the_32_and_the_share_of_bad_pixels_said_plainly():
    """A seed of 2**32 passed the check, then sklearn's or torch's own error reached the
    user; an image 99.99 % infinite was "1e+02%" of the values (training edge bash)."""
    from napari_unetseg.core.guards import NonFiniteWarning

    image = np.zeros((32, 32), np.float32)
    strokes = np.zeros((32, 32), np.uint8)
    strokes[:4], strokes[10:20, 10:20] = 1, 2
    with pytest.raises(ValueError, match=r"^seed must be below 2\*\*32"):
        api.train(image, strokes, seed=2**32, steps=1)
    image[:] = np.inf
    image[0, 0] = 1.0
    with pytest.warns(NonFiniteWarning, match=r"\(99\.\d\d% of the values sampled\)"):
        api.predict(image, "nuclei-2d", object_size=None)


def test_the_forest_teaches_a_2d_model_plane_by_plane_where_it_must():
    """A plane and a stack in one list crashed in the forest teacher (numpy's
    concatenation error: 2D and 3D features), and a 2D model on a 2-plane stack was
    told the forest needs 3 pixels along every axis (training edge bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles

    plane, truth = synthetic_nuclei((64, 64), seed=1)
    stack, truths = synthetic_nuclei((2, 64, 64), seed=3)
    strokes = synthetic_scribbles(truth, seed=1)
    stack_strokes = np.stack([synthetic_scribbles(t, seed=2) for t in truths])
    config = {"depth": 2, "base_channels": 4}
    both = api.train([plane, stack], [strokes, stack_strokes], steps=1, model_config=config)
    assert both.spatial_dims == 2 and both.history["teacher"] == "random forest"
    thin = api.train(stack, stack_strokes, spatial_dims=2, steps=1, model_config=config)
    assert thin.history["teacher"] == "random forest"


def test_training_and_model_arguments_of_the_wrong_kind_are_one_sentence():
    """A 1-D image reached scipy ("sequence argument must have length equal to input
    rank"), no labels read "dtype object", and a model of another type os.fspath's
    "expected str, bytes or os.PathLike object" (train bug bash)."""
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[:4], labels[-4:] = 1, 2
    with pytest.raises(ValueError, match=r"shape \(32,\) has fewer than two axes"):
        api.train(image[0], labels[0], steps=1)
    with pytest.raises(ValueError, match="No labels were given"):
        api.train(image, None, steps=1)
    with pytest.raises(TypeError, match="not int 42"):
        api.train(image, labels, steps=1, model=42)
    with pytest.raises(TypeError, match="a model file's path or a ModelBundle, not NoneType"):
        api.load_model(None)


def test_api_mistakes_said_in_one_sentence_and_nothing_silently_wrong(tmp_path):
    """API bug bash: arguments swapped dumped the image's numbers; fill_holes="no" filled
    holes; tile_size=True made 8-pixel tiles; a bfloat16 tensor failed with torch's
    TypeError; a (Y, X, 2) image was planes of 2 pixels without a word; instance masks
    as scribbles trained a class per object without a word."""
    import warnings

    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = np.random.default_rng(0).random((64, 64), np.float32)
    with pytest.raises(TypeError, match=r"not an array of shape \(64, 64\): the image comes"):
        api.predict(image, image)
    with pytest.raises(TypeError, match=r"the image first and the model second"):
        api.predict("nuclei-2d", image)
    with pytest.raises(TypeError, match=r"^fill_holes is True or False, not 'no'\.$"):
        api.predict(image, "nuclei-2d", fill_holes="no")
    with pytest.raises(ValueError, match="tile_size must be a positive int"):
        api.predict(image, "nuclei-2d", tile_size=True)
    with pytest.raises(ValueError, match=r"^overlap must be from 0 to 0.75 .*, got None\.$"):
        api.predict(image, "nuclei-2d", overlap=None)
    with pytest.raises(TypeError, match=r"^The image is None: give an array\.$"):
        api.predict(None, "nuclei-2d")
    with pytest.raises(TypeError, match=r"use segment\(image, model, split_touching=True\)"):
        api.predict(image, "nuclei-2d", split_touching=True)
    assert api.predict(image, "nuclei-2d", split_touching=False, object_size=None).shape == (
        64,
        64,
    )
    assert api.predict(image, "nuclei-2d", device=None, object_size=None).shape == (64, 64)
    as_bf16 = api.predict(torch.from_numpy(image).bfloat16(), "nuclei-2d", object_size=None)
    assert as_bf16.shape == (64, 64)
    with pytest.warns(UserWarning, match=r"last axis has 2 pixels.*give channel_axis=-1"):
        api.predict(np.stack([image, image], axis=-1), "nuclei-2d", object_size=None)
    _, truth = synthetic_nuclei((96, 96), seed=1)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        api.train(truth.astype(np.float32), truth, steps=1, model_config={"depth": 2})
    [masks] = [w for w in said if "label_mode='dense'" in str(w.message)]
    assert str(masks.message).startswith(f"The scribbles use label values up to {truth.max()}")
    assert masks.filename == __file__  # said at the caller's line
    # dense labels 0, 1, 2 train one foreground class: said (a model of one class came
    # without a word; API bash), unless n_classes asked for it
    two = np.where(truth == 0, 0, 1 + truth % 2).astype(np.uint8)
    options = {"label_mode": "dense", "steps": 1, "model_config": {"depth": 2}}
    with pytest.warns(UserWarning, match=r"^The dense labels have values up to 2: they are"):
        api.train(truth.astype(np.float32), two, **options)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        api.train(truth.astype(np.float32), two, n_classes=2, **options)
    assert not [w for w in said if "dense labels" in str(w.message)]
    # a ragged list, a stop before the first step, four channels taken as RGBA: one
    # sentence each (numpy's "inhomogeneous shape"; "give a longer time_limit" of a stop;
    # the nuclei in the "alpha" left out without a word, all background; API bash)
    with pytest.raises(ValueError, match=r"^The image is a list of arrays of different shapes"):
        api.predict([image, image[:40]], "nuclei-2d")
    stopped = threading.Event()
    stopped.set()
    with pytest.raises(ValueError, match=r"^Training was stopped before its first step"):
        api.train(truth.astype(np.float32), two, stop=stopped, n_classes=2, **options)
    nuclei = synthetic_nuclei((96, 96), seed=1)[0]
    four = np.stack([np.zeros_like(nuclei)] * 3 + [nuclei], axis=-1)
    with pytest.warns(UserWarning, match=r"read as RGBA colour.*give channel_axis=-1 and channel"):
        api.predict(four, "nuclei-2d", object_size=None)
    assert api.predict(four, "nuclei-2d", object_size=None, channel_axis=-1, channel=3).any()


def test_predict_iter_out_is_whole_at_the_last_tile_record():
    """The last record (done == total) came before the last bands were written: a loop
    that stopped there had half the labels (API bug bash)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((128, 128), seed=1)
    out = np.full((128, 128), 255, np.uint8)
    options = {"tile_size": 64, "object_size": None, "fill_holes": False}
    gen = api.predict_iter(image, "nuclei-2d", out=out, **options)
    for record in gen:
        if record.done == record.total:
            break
    gen.close()
    np.testing.assert_array_equal(out, api.predict(image, "nuclei-2d", **options))


def test_signatures_name_every_keyword_each_function_takes() -> None:
    """help() / IPython's ? / editors show the keywords by name, not ``**options``
    (segment, segment_files and predict_blocks showed ``**options``; train's names had
    gone to a private helper defined above it)."""
    import inspect

    from napari_unetseg import _api_train
    from napari_unetseg.distributed import predict_blocks

    wanted = {
        api.predict: {"tile_size", "object_size", "return_probabilities", "time_axis"},
        api.segment: {"split_touching", "object_size", "channel", "fill_holes"},
        api.segment_iter: {"split_touching", "tile_size", "scale"},
        api.segment_files: {"overwrite", "model", "object_size", "series", "tta"},
        api.train: {"model", "steps", "teacher", "class_names"},
        api.evaluate: {"mode", "spacing", "classes"},
        predict_blocks: {"client", "block_size", "object_size", "tta", "probabilities"},
    }
    for function, names in wanted.items():
        parameters = inspect.signature(function).parameters
        kinds = {p.kind for p in parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, function.__name__
        assert names <= set(parameters), (function.__name__, names - set(parameters))
    assert list(inspect.signature(_api_train._warn_of_masks).parameters) == ["record"]
    assert "teacher :" in api.train.__doc__


def test_evaluation_and_batch_settings_of_the_wrong_kind_are_one_sentence(tmp_path) -> None:
    """evaluate(classes=1) is class 1; other wrong kinds name the setting (Python's
    "'int' object is not iterable", "invalid literal for int()" and "'<' not supported"
    before)."""
    import tifffile

    a = np.zeros((32, 32), np.uint8)
    a[5:10, 5:10] = 1
    assert api.evaluate(a, a, classes=1).classes == api.evaluate(a, a, classes=[1]).classes
    for ids in ({0, 1}, (c for c in (1, 0)), {0: "bg", 1: "fg"}.keys(), np.array([0, 1])):
        assert sorted(api.evaluate(a, a, classes=ids).classes) == [0, 1]  # any iterable
    for options, words in [
        ({"classes": "x"}, "Class ids are whole numbers"),
        ({"classes": [True]}, "Class ids are whole numbers"),
        ({"iou_threshold": "a"}, "The IoU threshold must be in (0, 1]"),
        ({"iou_threshold": None}, "The IoU threshold must be in (0, 1]"),
        ({"spacing": "ab"}, "spacing values must be positive numbers"),
    ]:
        with pytest.raises(ValueError, match=r"^" + re.escape(words)):
            api.evaluate(a, a, **options)
    tifffile.imwrite(tmp_path / "a.tif", a * 100)
    for options in [{"tile_size": "x"}, {"tile_size": [64, "a"]}, {"tile_size": True}]:
        with pytest.raises(ValueError, match=r"^tile_size must be a whole number of at least 1"):
            api.segment_files([tmp_path / "a.tif"], tmp_path / "out", **options)
    with pytest.raises(ValueError, match=r"^batch_size must be a whole number of at least 1"):
        api.segment_files([tmp_path / "a.tif"], tmp_path / "out", batch_size=0)
    assert not (tmp_path / "out").exists()


def test_results_show_themselves_in_a_line(tmp_path) -> None:
    """An EvaluationResult's and a BatchReport's reprs ran to kilobytes of nested dicts
    in a notebook (API bug bash)."""
    from napari_unetseg.batch import BatchReport, FileResult

    a = np.zeros((64, 64), np.uint8)
    a[5:20, 5:20] = 1
    shown = repr(api.evaluate(a, a))
    assert (
        shown.startswith("EvaluationResult(dense, shape (64, 64): Dice 1.000") and len(shown) < 200
    )
    report = BatchReport([FileResult(input="a.tif"), FileResult(input="b.tif", error="bad")])
    assert repr(report) == "BatchReport(Segmented 1 of 2 files; 1 failed. See .rows(), .failed.)"


def test_a_model_trained_inverted_records_it_and_predicts_inverted_by_default() -> None:
    """invert in training: the images are swapped as prediction swaps them, the model
    keeps the setting (so its own image predicts swapped without being told), and a
    model fine-tuned from it keeps it unless told otherwise."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, truth = synthetic_nuclei((96, 96), seed=7, radius=(6, 8))
    dark = img.max() - img
    small = {"steps": 2, "patch_size": 32, "batch_size": 2, "device": "cpu", "seed": 0}
    model = api.train(dark, (truth > 0).astype(np.uint8), label_mode="dense", invert=True, **small)
    assert model.invert is True
    result = api.drain(api.predict_iter(dark, model, object_size=None))
    assert result.stats["input"] == "Dark and bright swapped (invert)."
    told = api.drain(api.predict_iter(dark, model, object_size=None, invert=False))
    assert "input" not in told.stats
    scribbles = (truth > 0).astype(np.uint8) + 1
    assert api.train(dark, scribbles, model=model, **small).invert is True
    assert api.train(dark, scribbles, model=model, invert=False, **small).invert is False
    assert api.train(dark, scribbles, model="nuclei-2d", **small).invert is False


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int16])
def test_a_frame_found_with_dark_and_bright_swapped_is_said_in_the_images_values(dtype) -> None:
    """A black registration frame around dark nuclei, segmented with invert: the frame
    was said to be of value 65535 (uint16) or -0 (floats), its swapped value (review)."""
    yy, xx = np.mgrid[:96, :96]
    dark = np.where((yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 <= 64, 600, 3000).astype(dtype)
    dark[:8] = dark[-8:] = 0
    dark[:, :8] = dark[:, -8:] = 0
    result = api.drain(api.predict_iter(dark, "nuclei-2d", invert=True, object_size=None))
    assert result.stats["frame"]["value"] == 0
    assert "A frame of value 0 (8 px wide)" in result.stats["input"]


def test_training_with_invert_on_a_stained_image_keeps_the_setting_and_swaps_the_others(
    stained_nuclei,
) -> None:
    """A stained image read by its hematoxylin is not swapped, but the model records the
    invert asked for (it came back False, and then stopped swapping grey images), and
    in a list each image is swapped by its own kind (second review)."""
    from napari_unetseg._api_train import _model_inputs

    stained, fluorescent, nuclei = stained_nuclei
    labels = nuclei.astype(np.uint8) + 1
    small = {"steps": 1, "patch_size": 32, "batch_size": 2, "device": "cpu"}
    model = api.train(stained, labels, model="nuclei-2d", invert=True, **small)
    assert model.invert is True
    assert api.train(stained, labels, model=model, **small).invert is True
    bundle = api.load_model("nuclei-2d")
    dark = np.repeat(255 - fluorescent[..., 2:], 3, axis=-1)
    got, preview, _, said, asked = _model_inputs(
        bundle, [stained, dark], [labels, labels], stained, None, True
    )
    alone, *_ = _model_inputs(bundle, stained, labels, None, None, False)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(alone))  # not swapped
    np.testing.assert_allclose(np.asarray(preview), np.asarray(alone))
    np.testing.assert_array_equal(np.asarray(got[1]), 255 - dark[..., 0])  # grey, swapped
    assert asked is True
    assert "not swapped" in said and "Dark and bright swapped (invert)." in said


def test_a_mistyped_keyword_is_refused_in_the_name_called_with_the_closest() -> None:
    """``predict(tilesize=...)`` said "predict_iter() got an unexpected keyword argument
    'tilesize'" (another function's name, no hint; API bug bash)."""
    import inspect

    from napari_unetseg import distributed as dist

    image = np.zeros((32, 32), np.float32)
    masks = (image.astype(np.uint8), image.astype(np.uint8))
    for call, args, keyword, meant in (
        (api.predict, (image, "nuclei-2d"), "tilesize", "tile_size"),
        (api.segment, (image, "nuclei-2d"), "split_touch", "split_touching"),
        (api.segment_iter, (image, "nuclei-2d"), "tilesize", "tile_size"),
        (api.evaluate, masks, "spacng", "spacing"),
        (api.train, masks, "stepz", "steps"),
        (dist.predict_blocks, ("in.tif", "nuclei-2d", "out.ome.zarr"), "tilesize", "tile_size"),
    ):
        name = call.__name__
        with pytest.raises(TypeError) as said:
            result = call(*args, **{keyword: 1})
            next(result)  # a generator refuses at its first step
        assert str(said.value) == (
            f"{name}() has no argument {keyword!r} (did you mean {meant!r}?); see help({name}) "
            "for its arguments."
        )
    # generators stay generator functions (napari's thread_worker tells them so; review)
    assert inspect.isgeneratorfunction(api.segment_iter)
    assert inspect.isgeneratorfunction(api.train_iter)
    # a refusal of the function's own is kept (where the keyword belongs)
    with pytest.raises(TypeError, match=r"use segment\(image, model, split_touching=True\)"):
        api.predict(image, "nuclei-2d", split_touching=True)


def test_a_painted_crop_is_normalized_by_its_whole_images_statistics(monkeypatch) -> None:
    """The crop was normalized by its own statistics, prediction normalizes the whole
    image: a confocal stack's crop put the 99.8th percentile 21 % of the span higher, and
    training saw the nuclei dimmer than they are predicted. A resampled crop too."""
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.core.training import labels as labels_module
    from napari_unetseg.core.training import trainer as trainer_module

    monkeypatch.setattr(labels_module, "CROP_PIXELS", 10_000)
    monkeypatch.setattr(labels_module, "PAINTED_MARGIN", 8)
    image, truth = synthetic_nuclei((192, 192), seed=2)
    image = image.astype(np.float32)
    image[:, 96:] *= 0.25  # the right half dimmer: the painted left half is not the whole
    window = (slice(100, 140), slice(20, 70))
    scribbles = np.zeros(truth.shape, np.uint8)
    scribbles[window] = np.where(truth[window] > 0, 2, 1)
    seen = []
    vary = trainer_module.check_images_vary

    def spy(pairs):
        seen.append([p.normalizer.statistics()[:2] for p in pairs])
        return vary(pairs)

    monkeypatch.setattr(trainer_module, "check_images_vary", spy)
    whole = api.load_model("nuclei-2d").normalizer(image).statistics()[:2]
    crop = api.load_model("nuclei-2d").normalizer(image[:156, :86]).statistics()[:2]
    assert abs(crop[1][0] - whole[1][0]) > 0.1 * (whole[1][0] - whole[0][0])  # they differ
    for size in (None, 12.0):  # as it is, and resampled to the model's object size
        api.train(image, scribbles, model="nuclei-2d", steps=1, object_size=size)
        ((lo, hi),) = [(s[0], s[1]) for s in seen.pop()]
        np.testing.assert_allclose([lo[0], hi[0]], [whole[0][0], whole[1][0]], rtol=1e-6)
    # a large image's: a strided sample of it (its grey or swapped copy held whole took
    # 265 MiB more for an 8300 x 8300 RGB image's 566 x 566 crop; review)
    import napari_unetseg._api_train as api_train

    monkeypatch.setattr(api_train, "WHOLE_SAMPLE_PIXELS", 5000)  # every 3rd pixel
    api.train(image, scribbles, model="nuclei-2d", steps=1, object_size=None)
    ((lo, hi),) = [(s[0], s[1]) for s in seen.pop()]
    sample = api.load_model("nuclei-2d").normalizer(image[::3, ::3]).statistics()[:2]
    np.testing.assert_allclose([lo[0], hi[0]], [sample[0][0], sample[1][0]], rtol=1e-6)
    np.testing.assert_allclose(hi[0], whole[1][0], rtol=0.1)


def test_scribbles_of_a_big_image_train_on_the_painted_region(monkeypatch) -> None:
    """A patch painted in a 4 GB volume: the whole volume was resampled, 15.5 GB, before
    the first step (big-data bash). The painted region, with a margin, is trained on."""
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.core.training import labels as labels_module

    monkeypatch.setattr(labels_module, "CROP_PIXELS", 10_000)
    monkeypatch.setattr(labels_module, "PAINTED_MARGIN", 8)
    image, truth = synthetic_nuclei((192, 192), seed=2)
    window = (slice(100, 140), slice(60, 110))
    scribbles = np.zeros(truth.shape, np.uint8)
    scribbles[window] = np.where(truth[window] > 0, 2, 1)  # objects and background there
    assert set(np.unique(scribbles[window])) == {1, 2}
    gen = api.train_iter(image, scribbles, model="nuclei-2d", steps=1, object_size=None)
    first = next(gen)
    assert "Trained on the image's painted region (" in first.message
    bundle = api.drain(gen)
    ys, xs = np.nonzero(scribbles)
    height = min(192, ys.max() + 9) - max(0, ys.min() - 8)
    width = min(192, xs.max() + 9) - max(0, xs.min() - 8)
    assert bundle.history["data_shapes"] == [[height, width]]
    with_channels = np.stack([image, image], axis=-1)  # the channel axis keeps its place
    two = api.drain(
        api.train_iter(with_channels, scribbles, steps=1, channel_axis=-1, object_size=None)
    )
    assert two.history["data_shapes"] == [[height, width, 2]]
    # a series keeps its time points, numbered as the user's (the note said "time point
    # 4 (1 of 9)" of strokes in time point 12 of 20; review)
    movie = np.stack([image[:64, :64]] * 20)
    strokes = np.zeros(movie.shape, np.uint8)
    strokes[12, 20:40, 20:40] = np.where(truth[20:40, 20:40] > 0, 2, 1)
    said = []
    gen = api.train_iter(movie, strokes, steps=1, time_axis=0, object_size=None, teacher="none")
    bundle = api.drain(gen, lambda record: said.append(record.message or ""))
    assert "The strokes lie in time point 12 (1 of 20)" in " ".join(said)
    assert "painted region (20 x " in " ".join(said) and bundle.history["data_shapes"][0][0] == 20
    # a (T, C, Y, X) image without channel_axis: left whole, refused as it was (review)
    wrong = np.stack([movie, movie], axis=1)
    with pytest.raises(ValueError, match=r"labels have shape \(20, 64, 64\) but the image"):
        api.train(wrong, strokes, steps=1, object_size=None)


def _tiny_training(seed: int = 0) -> dict:
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((64, 64), seed=1)
    bundle = api.train(
        image, (truth > 0).astype(np.uint8), label_mode="dense", steps=1, seed=seed,
        model_config={"base_channels": 4, "depth": 2}, patch_size=64, batch_size=2,
        val_fraction=0,
    )  # fmt: skip
    return {k: v.clone() for k, v in bundle.network.state_dict().items()}


def test_trainings_in_threads_are_their_seeds_and_leave_the_callers_numbers(monkeypatch):
    """Two trainings in threads seeded, drew from and restored torch's one generator in
    turn: their weights were not their seeds' (7 of 12 repeats) and the caller's next
    random numbers changed (API concurrency bash). A slow seed widens the window."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import torch

    alone = [_tiny_training(0), _tiny_training(1)]
    seed = torch.manual_seed

    def slow(s):
        generator = seed(s)
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.05)
        return generator

    monkeypatch.setattr(torch, "manual_seed", slow)
    monkeypatch.setattr(torch.random, "manual_seed", slow)
    seed(1234)
    expected = torch.rand(3)
    seed(1234)
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(_tiny_training, [0, 1]))
    assert torch.equal(torch.rand(3), expected)
    for a, b in zip(alone, together, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_api_leaves_the_callers_random_numbers_and_grad_mode(tmp_path):
    """Loading a model built a U-Net whose default initialization drew from torch's
    generator: `torch.manual_seed(0); predict(...); torch.rand(3)` gave other numbers.
    Training under `torch.no_grad()` (or inference_mode) stopped with "element 0 of
    tensors does not require grad" (API concurrency bash)."""
    import torch

    from napari_unetseg.core.synthetic import synthetic_nuclei

    path = api.load_model("nuclei-2d").save(tmp_path / "n.pt")
    image, _ = synthetic_nuclei((64, 64), seed=1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    api.predict(image, str(path), object_size=None)
    assert torch.equal(torch.rand(3), expected)
    reference = _tiny_training()
    for mode in (torch.no_grad, torch.inference_mode):
        with mode():
            trained = _tiny_training()
            assert not torch.is_grad_enabled()  # the caller's mode holds after
        assert all(torch.equal(reference[k], trained[k]) for k in reference)
    with torch.inference_mode():  # a start model loaded there: fine-tuned all the same
        image, truth = synthetic_nuclei((64, 64), seed=1)
        api.train(image, (truth > 0).astype(np.uint8), model=str(path), label_mode="dense",
                  steps=1, patch_size=64, batch_size=2, val_fraction=0)  # fmt: skip


def test_a_fine_tuned_model_of_new_classes_does_not_split_by_default() -> None:
    """nuclei-2d fine-tuned to nucleus and mitotic kept "split touching objects", and
    segmenting gave object ids that say neither class (review); two classes keep it."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((64, 64), seed=1)
    classes = np.where(truth % 2 == 1, 1, 2) * (truth > 0)
    options = dict(model="nuclei-2d", label_mode="dense", steps=1, patch_size=64,
                   batch_size=2, val_fraction=0, object_size=None)  # fmt: skip
    assert not api.train(image, classes.astype(np.uint8), n_classes=3, **options).split_touching
    assert api.train(image, (truth > 0).astype(np.uint8), **options).split_touching
