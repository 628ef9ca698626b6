"""One probability map per class (``class_probabilities``, ``--class-probabilities``):
a several-class model's foreground map cannot tell its object classes apart (1 -
p(background) was all the API and the command line gave; left-alone item)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg import _io, api
from napari_unetseg.cli import main
from napari_unetseg.core.synthetic import synthetic_nuclei


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    """A tiny model of two object classes (bright and dim nuclei), saved too."""
    img, objects = synthetic_nuclei((96, 96), seed=1)
    truth = np.where(objects > 0, 1 + objects % 2, 0).astype(np.uint8)
    img = np.where(truth == 2, img * 0.5, img).astype(np.float32)
    tiny = {"depth": 2, "base_channels": 4}
    bundle = api.train(img, truth, n_classes=3, steps=15, model_config=tiny, seed=0)
    bundle.set_object_size({"diameter": 16.0})
    path = tmp_path_factory.mktemp("model") / "three.pt"
    bundle.save(path)
    return bundle, path


def _maps(image, model, **options):
    labels, maps = api.predict(
        image, model, return_probabilities=True, class_probabilities=True, **options
    )
    _, foreground = api.predict(image, model, return_probabilities=True, **options)
    return labels, maps, foreground


@pytest.mark.parametrize("size", [None, 50.0], ids=["image-scale", "resampled"])
def test_every_class_has_its_map_and_the_labels_are_their_argmax(three_classes, size):
    bundle, _ = three_classes
    image = synthetic_nuclei((128, 128), seed=3)[0]
    labels, maps, foreground = _maps(image, bundle, object_size=size, fill_holes=False)
    assert maps.shape == (3, 128, 128) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.sum(0), 1.0, atol=1e-5)
    assert len(np.unique(labels)) > 1
    # ties aside (none on real maps), the labels are the most probable class
    np.testing.assert_array_equal(labels, maps.argmax(0))
    np.testing.assert_allclose(1.0 - maps[0], foreground, atol=1e-5)


def test_leading_axes_keep_their_place_after_the_class_axis(three_classes):
    bundle, _ = three_classes
    movie = synthetic_nuclei((2, 96, 96), seed=4)[0]
    labels, maps, _ = _maps(movie, bundle, object_size=None, time_axis=0)
    assert labels.shape == (2, 96, 96) and maps.shape == (3, 2, 96, 96)
    np.testing.assert_array_equal(labels, maps.argmax(0))


def test_a_frame_and_nan_pixels_are_background_in_every_map(three_classes):
    bundle, _ = three_classes
    inside = synthetic_nuclei((96, 96), seed=5)[0]
    image = np.zeros((128, 128), np.float32)
    image[16:112, 16:112] = inside  # a frame of zeros, 16 px wide
    image[60:64, 60:64] = np.nan
    with pytest.warns(UserWarning, match="NaN"):
        labels, maps, _ = _maps(image, bundle, object_size=None)
    assert maps.shape == (3, 128, 128)
    outside = np.ones(image.shape, bool)
    outside[16:112, 16:112] = False
    outside[60:64, 60:64] = True
    assert (maps[0][outside] == 1.0).all() and (maps[1:][:, outside] == 0.0).all()
    assert (labels[outside] == 0).all()
    np.testing.assert_allclose(maps.sum(0), 1.0, atol=1e-5)


def test_a_binary_model_gives_the_background_and_foreground_maps():
    image = synthetic_nuclei((96, 96), seed=6)[0]
    labels, maps, foreground = _maps(image, "nuclei-2d")
    assert maps.shape == (2, 96, 96)
    np.testing.assert_allclose(maps[1], foreground, atol=1e-6)
    np.testing.assert_allclose(maps[0], 1.0 - foreground, atol=1e-6)


def test_class_maps_are_asked_for_with_the_probabilities():
    image = synthetic_nuclei((64, 64), seed=7)[0]
    with pytest.raises(ValueError, match="needs return_probabilities=True"):
        api.predict(image, "nuclei-2d", class_probabilities=True)
    with pytest.raises(TypeError, match="class_probabilities is True or False"):
        api.predict(image, "nuclei-2d", return_probabilities=True, class_probabilities="yes")
    # numpy's bools and None (the model's choice elsewhere: here no maps) as Python's
    # (they failed with "can't multiply sequence by non-int"; bad-input bash)
    for flag, maps in ((np.True_, 2), (np.False_, None), (None, None)):
        _, got = api.predict(image, "nuclei-2d", return_probabilities=True,
                             class_probabilities=flag)  # fmt: skip
        assert got.shape == ((maps,) if maps else ()) + image.shape
    with pytest.raises(ValueError, match="segment_files writes labels only"):
        api.segment_files(["x.tif"], class_probabilities=True)


def test_the_command_line_writes_a_tiff_with_a_class_axis(three_classes, tmp_path):
    _, model = three_classes
    image = synthetic_nuclei((4, 96, 96), seed=8)[0]
    src = tmp_path / "stack.tif"
    _io.write_image(src, image, scale=(2.0, 0.5, 0.5), axes="ZYX", units=("µm",) * 3)
    out, maps = tmp_path / "labels.tif", tmp_path / "maps.tif"
    argv = ["predict", str(src), "--model", str(model), "--output", str(out)]
    assert main([*argv, "--probabilities", str(maps), "--class-probabilities"]) == 0
    read = _io.read_image(maps)
    assert read.axes == "CZYX" and read.data.shape == (3, 4, 96, 96)
    assert read.scale[1:] == (2.0, 0.5, 0.5) and read.units[1:] == ("µm",) * 3
    np.testing.assert_array_equal(_io.read_image(out).data, np.asarray(read.data).argmax(0))
    # napari's layers: named by class, on one 0-1 scale, the background's hidden (they
    # were "[C0]" ... "[C2]", each on its own range, all shown; classes bash)
    from napari_unetseg._reader import image_layer_data

    assert read.channel_names == ("background", "class 1", "class 2")
    ((_, meta, kind),) = image_layer_data(read)
    assert kind == "image" and meta["name"] == [
        "maps [background]", "maps [class 1]", "maps [class 2]"
    ]  # fmt: skip
    assert meta["contrast_limits"] == [[0.0, 1.0]] * 3
    assert meta["visible"] == [False, True, True]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "--class-probabilities needs --probabilities PATH"),
        (["--probabilities", "p.nii.gz"], "go to TIFF files"),
        (["--output", "o.ome.zarr", "--probabilities", "p.ome.zarr"], "writes TIFF maps"),
        (["--probabilities", "p.ome.zarr"], "not the OME-Zarr store 'p.ome.zarr'"),
    ],
    ids=["no-path", "nifti", "ome-zarr", "store-of-maps"],
)
def test_the_command_line_refuses_class_maps_it_cannot_write(
    three_classes, tmp_path, capsys, monkeypatch, extra, message
):
    _, model = three_classes
    monkeypatch.chdir(tmp_path)
    _io.write_image("img.tif", synthetic_nuclei((64, 64), seed=9)[0])
    argv = ["predict", "img.tif", "--model", str(model), "--output", "out.tif"]
    assert main([*argv, *extra, "--class-probabilities"]) != 0
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif"]  # nothing written


def test_a_nifti_scans_class_maps_are_refused_for_a_folder_before_it_is_made(
    three_classes, tmp_path, capsys, monkeypatch
):
    """A folder of maps gets a NIfTI scan's maps as NIfTI: refused, but the folders for
    the labels and the maps were made first and left empty (classes bash)."""
    import nibabel as nib

    _, model = three_classes
    monkeypatch.chdir(tmp_path)
    volume = synthetic_nuclei((4, 48, 48), seed=11)[0].astype(np.float32)
    nib.save(nib.Nifti1Image(volume.T, np.eye(4)), "scan.nii.gz")
    argv = ["predict", "scan.nii.gz", "--model", str(model), "-o", "labels", "--probabilities"]
    assert main([*argv, "maps", "--class-probabilities"]) != 0
    err = capsys.readouterr().err
    assert "would get those of the NIfTI scan 'scan.nii.gz' as NIfTI: segment that scan" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nii.gz"]


def test_the_unsure_band_of_several_classes_shows_confused_classes():
    """Fine-tune's unsure band of a several-class model was the foreground band, so where
    two object classes were confused (background 0.05, the two 0.5 / 0.45) it was sure."""
    from napari_unetseg.core.inference import unsure_band

    maps = np.array([[0.05, 0.9, 0.1], [0.5, 0.05, 0.85], [0.45, 0.05, 0.05]], np.float32)
    maps = maps[:, None, :]  # three classes of a 1 x 3 image
    assert unsure_band(maps, classes=True).tolist() == [[1, 0, 0]]
    assert unsure_band(1.0 - maps[0]).tolist() == [[0, 0, 0]]  # the foreground's: sure
    two = np.array([[0.0, 0.2, 0.21, 0.5, 0.79, 0.8, 1.0]], np.float32)  # as before for two
    assert (unsure_band(np.stack([1 - two, two]), True) == unsure_band(two)).all()


def test_fine_tunes_band_of_a_several_class_model_comes_from_its_class_maps():
    """A model sure of its objects (background 0.05 everywhere) but torn between two
    classes (0.5 / 0.45): Fine-tune's band covers it all; the foreground band was empty."""
    import torch

    from napari_unetseg._qt.finetune.job import TrainRequest, finetune_job
    from napari_unetseg.core.bundle import ModelBundle

    torn = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4, n_classes=3)
    with torch.no_grad():
        torn.network.head.weight.zero_()
        torn.network.head.bias.copy_(torch.log(torch.tensor([0.05, 0.5, 0.45])))
    image, objects = synthetic_nuclei((64, 64), seed=10)
    scribbles = np.where(objects > 0, 2 + objects % 2, 1).astype(np.uint8)
    scribbles[::2] = 0  # sparse: every other row painted
    req = TrainRequest(image, scribbles, model=torn, steps=1, learning_rate=1e-9,
                       preview_image=image, seed=0, teacher="none")  # fmt: skip
    result = api.drain(finetune_job(req))
    assert result.unsure.shape == image.shape and result.unsure.all()


def test_a_map_array_of_the_wrong_shape_is_refused_before_the_prediction(three_classes):
    """Given for a resampled run, it failed with numpy's "could not broadcast" after the
    whole prediction (review)."""
    from napari_unetseg.core.sizing import predict_sized

    bundle, _ = three_classes
    image = synthetic_nuclei((128, 128), seed=3)[0]
    for wrong, size in ((np.zeros((128, 128), np.float32), 50.0), (np.zeros((2, 128, 128)), None)):
        gen = predict_sized(bundle, image, object_size=size, return_probabilities=True,
                            class_probabilities=True, probabilities_out=wrong)  # fmt: skip
        with pytest.raises(ValueError, match=r"probabilities_out has shape .* needs \(3, 128"):
            next(gen)
