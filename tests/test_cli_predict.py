"""`unetseg predict`, `unetseg models` and `unetseg sample` end to end (in-process)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg import _io, cli
from napari_unetseg.core.bundle import ModelBundle


@pytest.fixture
def model_file(tmp_path) -> str:
    torch.manual_seed(0)
    return str(
        ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).save(tmp_path / "m.pt")
    )


@pytest.fixture
def image_file(tmp_path) -> str:
    img = np.random.default_rng(1).integers(0, 4000, (3, 48, 40)).astype(np.uint16)
    return str(_io.write_image(tmp_path / "stack.tif", img, scale=(2.0, 0.5, 0.5), axes="ZYX"))


def test_predict_writes_labels_with_the_input_scale(
    tmp_path, model_file, image_file, capsys
) -> None:
    out = tmp_path / "out" / "labels.tif"
    probs = tmp_path / "probs.tif"
    rc = cli.main(
        [
            "predict",
            image_file,
            "--model",
            model_file,
            "--output",
            str(out),
            "--tile-size",
            "32",
            "--probabilities",
            str(probs),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    lab = _io.read_image(out)
    assert lab.data.shape == (3, 48, 40) and lab.is_labels
    assert lab.scale == pytest.approx((2.0, 0.5, 0.5))
    p = _io.read_image(probs)
    assert p.data.dtype == np.float32 and p.data.shape == (3, 48, 40)
    line = capsys.readouterr().out
    assert "5,760 voxels" in line and "voxels/s" in line and "peak memory" in line


def test_predict_split_touching_writes_instances(tmp_path, capsys) -> None:
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, truth = synthetic_nuclei((128, 128), seed=3)
    src = _io.write_image(tmp_path / "n.tif", image)
    semantic, instances = tmp_path / "sem.tif", tmp_path / "inst.tif"
    m = "nuclei-2d"  # the shipped model: a semantic mask with touching nuclei
    argv = ["predict", str(src), "-m", m, "-o"]
    assert cli.main([*argv, str(semantic), "--no-split-touching"]) == 0
    assert cli.main([*argv, str(instances), "--split-touching"]) == 0
    sem = np.asarray(_io.read_image(semantic).data)
    inst = np.asarray(_io.read_image(instances).data)
    np.testing.assert_array_equal(inst > 0, sem > 0)
    assert sem.max() <= 1 and inst.max() > 1
    # without either: as the model says (the nuclei models split; object F1 on DSB 2018
    # 0.77 -> 0.88), said by `unetseg info`
    assert cli.main([*argv, str(tmp_path / "default.tif")]) == 0
    np.testing.assert_array_equal(_io.read_image(tmp_path / "default.tif").data, inst)
    said = capsys.readouterr().out.strip().splitlines()  # what the labels hold, said
    assert said[-1].endswith(f"; {len(np.unique(inst[inst > 0]))} objects (touching ones split)")
    assert said[0].endswith(" objects (regions)")


def test_predict_several_inputs_into_a_folder(tmp_path, model_file, image_file) -> None:
    second = str(_io.write_image(tmp_path / "b.tif", np.zeros((32, 32), np.uint8)))
    assert (
        cli.main(["predict", image_file, second, "-m", model_file, "-o", str(tmp_path / "o")]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "b_labels.tif",
        "stack_labels.tif",
    ]


@pytest.mark.parametrize(
    "args,match",
    [
        (["missing.tif"], "does not exist"),
        (["IMG", "--model", "not-a-model"], "Unknown model 'not-a-model'"),
        (["IMG", "--model", "BADMODEL"], "not a napari-unetseg model file"),
        (["IMG", "--model", "MODEL3D"], "3D model needs at least 3 spatial axes"),
        (["IMG", "--model", "MODEL", "--overlap", "1.5"], "overlap must be from 0 to 0.75"),
        (["IMG", "--model", "MODEL", "--overlap", "0.999"], "overlap must be from 0 to 0.75"),
        (["IMG", "--model", "MODEL", "--device", "cuda:7"], "not available on this machine"),
    ],
)
def test_bad_input_gives_one_line_and_keeps_existing_output(
    tmp_path, model_file, args, match, capsys
) -> None:
    img2d = str(_io.write_image(tmp_path / "flat.tif", np.zeros((32, 32), np.uint8)))
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    m3 = str(ModelBundle.create(spatial_dims=3, depth=2, base_channels=4).save(tmp_path / "m3.pt"))
    subst = {
        "IMG": img2d,
        "MODEL": model_file,
        "BADMODEL": str(bad),
        "MODEL3D": m3,
        "missing.tif": str(tmp_path / "missing.tif"),
    }
    out = tmp_path / "existing.tif"
    out.write_bytes(b"precious")
    # --overwrite: a file it did not write is refused before anything else otherwise
    argv = ["predict"] + [subst.get(a, a) for a in args] + ["--output", str(out), "--overwrite"]
    if "--model" not in args:
        argv += ["--model", model_file]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unetseg: error:") and match in err[0]
    assert out.read_bytes() == b"precious"


def test_models_lists_shipped_models(capsys, tmp_path, monkeypatch) -> None:
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    from napari_unetseg.core.registry import REGISTRY

    for name in REGISTRY.shipped():
        assert name in out
    # a saved file named as a shipped model was left out without a word
    monkeypatch.setenv("NAPARI_UNETSEG_MODELS", str(tmp_path))
    (tmp_path / "nuclei-3d.pt").write_bytes(REGISTRY.shipped()["nuclei-3d"].read_bytes())
    assert cli.main(["models"]) == 0
    said = capsys.readouterr().out
    assert f"Not listed: {tmp_path / 'nuclei-3d.pt'} has a shipped model's name" in said


def test_sample_writes_image_and_labels(tmp_path) -> None:
    assert cli.main(["sample", str(tmp_path / "n.tif"), "--shape", "64", "80"]) == 0
    img = _io.read_image(tmp_path / "n.tif")
    lab = _io.read_image(tmp_path / "n_ground_truth.tif")
    assert img.data.shape == lab.data.shape == (64, 80) and lab.is_labels and lab.data.max() > 0


def test_predict_without_model_picks_by_dims_and_reports_object_size(
    tmp_path, image_file, capsys
) -> None:
    out = tmp_path / "l.tif"
    assert cli.main(["predict", image_file, "--output", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "model nuclei-3d (the image is a Z stack)" in err
    assert "Object size" in err
    assert _io.read_image(out).data.shape == (3, 48, 40)


def test_predict_a_folder_of_png_files_from_the_data_science_bowl_kind(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_unetseg.core.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei((96, 96), seed=3)
    grey = (255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    iio.imwrite(tmp_path / "a.png", grey)
    iio.imwrite(tmp_path / "b.png", np.stack([grey] * 3 + [np.full_like(grey, 255)], -1))
    out = tmp_path / "out"
    assert cli.main(["predict", str(tmp_path), "-o", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "model nuclei-2d (the image is a plane)" in err
    assert "is grey (R = G = B): one channel is used" in err  # the RGBA export
    a, b = (_io.read_image(out / f"{n}_labels.tif").data for n in "ab")
    assert a.shape == b.shape == (96, 96) and a.any()
    np.testing.assert_array_equal(a, b)  # the same plane, as grey or as RGBA


def test_predict_one_channel_of_a_multichannel_image(tmp_path, capsys):
    """A nuclear stain among other channels: --channel N segments it; without it the
    one-line error says how to choose; a channel that is not there is refused."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    nuclei, _ = synthetic_nuclei((96, 96), seed=3)
    other = np.random.default_rng(0).random((96, 96)).astype(np.float32) * 100
    src = _io.write_image(
        tmp_path / "two.tif", np.stack([other, nuclei.astype(np.float32)]), axes="CYX"
    )
    out = tmp_path / "two_labels.tif"
    assert cli.main(["predict", str(src), "-o", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "takes one: choose the one to segment (unetseg predict --channel N" in err
    assert "in Python" not in err  # "or --channel N in Python" (scale-out bug bash)
    args = ["predict", str(src), "-o", str(out), "--device", "cpu", "--channel", "1"]
    assert cli.main(args) == 0
    assert "channel 1 of 2 chosen" in capsys.readouterr().err
    alone = tmp_path / "alone_labels.tif"
    plane = _io.write_image(tmp_path / "alone.tif", nuclei.astype(np.float32), axes="YX")
    assert cli.main(["predict", str(plane), "-o", str(alone), "--device", "cpu"]) == 0
    np.testing.assert_array_equal(_io.read_image(out).data, _io.read_image(alone).data)
    bad = ["predict", str(src), "-o", str(out), "--channel", "2", "--overwrite"]
    assert cli.main(bad) == 1
    assert "there is no channel 2" in capsys.readouterr().err
    # a folder of two-channel and one-channel (DAPI only) files: the latter is channel 0
    folder, labels = tmp_path / "mixed", tmp_path / "mixed_labels"
    folder.mkdir()
    for path in (src, plane):
        (folder / path.name).write_bytes(path.read_bytes())
    args = ["predict", str(folder), "-o", str(labels), "--device", "cpu", "--channel", "0"]
    assert cli.main(args) == 0
    assert "alone.tif: one channel: read as channel 0." in capsys.readouterr().err
    np.testing.assert_array_equal(
        _io.read_image(labels / "alone_labels.tif").data, _io.read_image(alone).data
    )
    args[-1] = "1"
    assert cli.main([*args, "--overwrite"]) == 1  # channel 1 of a one-channel file
    assert "alone.tif" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-2", "many", "0"])
def test_predict_bad_object_size_is_one_line(
    tmp_path, model_file, image_file, capsys, bad
) -> None:
    out = tmp_path / "l.tif"
    rc = cli.main(
        ["predict", image_file, "--model", model_file, "-o", str(out), f"--object-size={bad}"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("unetseg: error: --object-size must be")
    assert not out.exists()


def test_predict_says_when_the_model_is_unsure(tmp_path, image_file, capsys) -> None:
    """A model sure of nothing it marks (P = 0.6 everywhere): stderr points to fine-tuning."""
    from constant_models import constant_model

    model = constant_model(0.6).save(tmp_path / "unsure.pt")
    out = tmp_path / "labels.tif"
    args = ["predict", image_file, "--model", str(model), "--output", str(out), "--device", "cpu"]
    assert cli.main(args) == 0
    assert (_io.read_image(out).data == 1).all()
    assert "The model is unsure on this image: only 0% of what it marked" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "output, extra, said",
    [
        ("labels.ome.zarr", [], "labels.ome.zarr' is unfinished; the same command with "
         "--resume finishes it."),
        ("labels.ome.zarr", ["--overwrite"], "is unfinished; the same command with --resume "
         "instead of --overwrite finishes it."),
        ("labels.tif", [], "no output was left half-written."),
        ("img.ome.zarr", [], "img.ome.zarr/labels/nuclei-2d' is unfinished; the same command "
         "with --resume finishes it."),
        ("early.ome.zarr", [], "no output was left half-written."),
    ],
)  # fmt: skip
def test_ctrl_c_says_what_is_left(monkeypatch, capsys, tmp_path, output, extra, said):
    """Ctrl-C after the first block names what is unfinished, read from the stores: a
    store written block by block, or the labels added under an input store's labels/
    group. Before any store was made it said one was unfinished, and after --overwrite
    it advised --resume, which is refused beside it (distributed bug bash)."""
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    from napari_unetseg import _zarr_labels
    from napari_unetseg.cli import predict
    from napari_unetseg.core.synthetic import synthetic_nuclei

    plane = synthetic_nuclei((96, 96), seed=1)[0]
    if output == "img.ome.zarr":
        import zarr

        image = tmp_path / output
        root = zarr.open_group(str(image), mode="w", zarr_format=2)
        write_image(plane, root, axes="yx", fmt=FormatV04(), scale_factors=())
    else:
        image = tmp_path / "img.tif"
        _io.write_image(image, plane)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if output == "early.ome.zarr":  # before anything was made
        monkeypatch.setattr(predict, "_cmd_predict_blocks", interrupted)
    if output == "labels.tif":
        monkeypatch.setattr(_io, "write_labels", interrupted)
    monkeypatch.setattr(_zarr_labels.LabelsStore, "mark_done", interrupted)
    argv = ["predict", str(image), "-o", str(tmp_path / output), "--model", "nuclei-2d"]
    assert cli.main([*argv, "--object-size", "off", *extra]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("unetseg: interrupted; ") and err.endswith(said)


def test_a_run_that_fails_midway_says_how_to_finish_it(monkeypatch, capsys, tmp_path):
    """A scheduler lost mid-run gave dask's "Timed out trying to connect" alone; the
    store it left unfinished, and --resume, went unsaid (distributed bug bash)."""
    from napari_unetseg import _zarr_labels
    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = tmp_path / "img.tif"
    _io.write_image(image, synthetic_nuclei((96, 96), seed=1)[0])

    def lost(*args, **kwargs):
        raise TimeoutError("Timed out trying to connect to tcp://127.0.0.1:8786 after 10 s")

    monkeypatch.setattr(_zarr_labels.LabelsStore, "mark_done", lost)
    out = tmp_path / "labels.ome.zarr"
    assert cli.main(["predict", str(image), "-o", str(out), "--model", "nuclei-2d"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("unetseg: error: Timed out trying to connect") and err.endswith(
        "labels.ome.zarr' is unfinished; the same command with --resume finishes it.)"
    )


def test_predict_a_level_of_a_pyramidal_tiff(tmp_path, model_file) -> None:
    import tifffile

    from napari_unetseg import _zarr

    image = np.random.default_rng(0).random((256, 192)).astype(np.float32)
    src = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(src, bigtiff=True) as tif:
        meta = {"axes": "YX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3}
        tif.write(image, subifds=1, tile=(64, 64), metadata=meta)
        tif.write(image[::2, ::2], subfiletype=1, tile=(64, 64))
    out = tmp_path / "labels.ome.zarr"
    argv = ["predict", str(src), "--level", "1", "--model", str(model_file), "-o", str(out)]
    assert cli.main(argv + ["--object-size", "off"]) == 0
    labels = _zarr.read_ome_zarr(out)
    assert labels.data.shape == (128, 96) and labels.scale == pytest.approx((0.6, 0.6))
    assert labels.provenance["settings"]["level"] == 1  # (the record left it out)
    # a TIFF of that level too ("--level needs an OME-Zarr output", where --help calls it
    # a level of a pyramidal TIFF input; distributed bash), the same labels
    tif = tmp_path / "labels_level1.tif"
    argv = ["predict", str(src), "--level", "1", "--model", str(model_file), "-o", str(tif)]
    assert cli.main(argv + ["--object-size", "off"]) == 0
    again = _io.read_image(tif)
    assert again.scale == pytest.approx((0.6, 0.6))
    np.testing.assert_array_equal(again.data, np.asarray(labels.data))
    assert again.provenance["settings"]["level"] == 1
    bad = ["predict", str(src), "--level", "3", "--model", str(model_file), "-o", str(tif)]
    assert cli.main(bad) != 0  # a level the file does not have: refused, the labels kept
    np.testing.assert_array_equal(_io.read_image(tif).data, np.asarray(labels.data))


def test_predict_another_series_of_a_multi_position_tiff(tmp_path, capsys) -> None:
    import imageio.v3 as iio
    import tifffile

    from napari_unetseg import _zarr
    from napari_unetseg.core.synthetic import synthetic_nuclei

    nuclei, _ = synthetic_nuclei((40, 48), seed=0)
    src = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(src) as tif:
        tif.write(np.zeros((64, 64), np.float32), metadata={"axes": "YX", "PhysicalSizeX": 0.5})
        tif.write(nuclei.astype(np.float32), metadata={"axes": "YX", "PhysicalSizeX": 2.0})
    out = tmp_path / "out"
    common = ["predict", str(src), "--model", "nuclei-2d", "--object-size", "off"]
    assert cli.main([*common, "--series", "1", "-o", str(out)]) == 0
    # its own name beside series 0's, its own shape and pixel size
    labels = _io.read_image(out / "positions_series1_labels.tif")
    assert labels.data.shape == (40, 48) and labels.scale[-1] == 2.0 and labels.data.any()
    assert cli.main([*common, "-o", str(out)]) == 0
    assert _io.read_image(out / "positions_labels.tif").data.shape == (64, 64)
    # block by block into OME-Zarr, here and on a cluster whose workers open the series
    for name, extra in (("one", []), ("two", ["--workers", "1"])):
        store = tmp_path / f"{name}.ome.zarr"
        assert cli.main([*common, "--series", "1", *extra, "-o", str(store)]) == 0
        np.testing.assert_array_equal(np.asarray(_zarr.read_ome_zarr(store).data), labels.data)
    capsys.readouterr()
    for series, said in (
        ("2", "holds image series 0 to 1; series 2 does not exist"),
        ("-1", "series must be a whole number from 0 (or 'all'), got -1"),
    ):
        assert cli.main([*common, "--series", series, "-o", str(tmp_path / "x")]) == 1
        assert said in capsys.readouterr().err
    png = tmp_path / "plane.png"
    iio.imwrite(png, np.zeros((16, 16), np.uint8))
    assert cli.main(["predict", str(png), "--series", "1", "-o", str(tmp_path / "y")]) == 1
    assert "not a TIFF of several image series: series 1 does not exist" in (
        capsys.readouterr().err
    )


def test_predict_every_series_of_multi_position_tiffs(tmp_path, capsys) -> None:
    import tifffile

    from napari_unetseg.core.synthetic import synthetic_nuclei

    shapes = [(40, 48), (32, 40), (24, 56)]
    with tifffile.TiffWriter(tmp_path / "three.ome.tif") as tif:
        for k, shape in enumerate(shapes):
            image = synthetic_nuclei(shape, seed=k)[0].astype(np.float32)
            tif.write(image, metadata={"axes": "YX"})
    _io.write_image(tmp_path / "one.tif", synthetic_nuclei((36, 36), seed=5)[0])
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path), "--series", "all", "-o", str(out), "--object-size", "off"]
    assert cli.main(argv) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "one_labels.tif",
        "three_labels.tif",
        "three_series1_labels.tif",
        "three_series2_labels.tif",
    ]
    for k, shape in enumerate(shapes):
        name = "three_labels.tif" if k == 0 else f"three_series{k}_labels.tif"
        labels = _io.read_image(out / name)
        assert labels.data.shape == shape and labels.provenance["settings"]["series"] == k
    err = capsys.readouterr().err
    assert "image series; the first" not in err  # each series is read: no such warning
    assert "image series 2 segmented." in err
    # on a cluster: one task per series of each file, the same labels
    again = tmp_path / "again"
    assert cli.main([*argv[:5], str(again), *argv[6:], "--workers", "1"]) == 0
    for name in written:
        np.testing.assert_array_equal(
            _io.read_image(again / name).data, _io.read_image(out / name).data
        )
    capsys.readouterr()
    # one output file for several series, or an OME-Zarr output: refused in one sentence
    for output, said in (
        ("x.tif", "the output must be a folder, not"),
        ("x.ome.zarr", "give one series (--series N)"),
    ):
        argv = ["predict", str(tmp_path / "three.ome.tif"), "--series", "all", "-o", output]
        assert cli.main(argv) == 1
        assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("output", "probabilities", "match"),
    [
        ("ox/labels.png", None, "names a .png file"),
        ("ox/labels.jpg", None, "names a .jpg file"),
        ("ox/labels.npy", None, "names a .npy file"),
        ("ox/labels.tif", "ox/probs.npy", "names a .npy file"),
    ],
)
def test_predict_refuses_an_output_format_it_cannot_write(
    tmp_path, model_file, image_file, capsys, output, probabilities, match
) -> None:
    argv = ["predict", image_file, "--model", model_file, "-o", str(tmp_path / output)]
    if probabilities:
        argv += ["--probabilities", str(tmp_path / probabilities)]
    assert cli.main(argv) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unetseg: error: ") and match in lines[0]
    assert "TIFF (.tif, .tiff, .ome.tif)" in lines[0] and lines[0].endswith(
        "or a folder (`unetseg predict` also writes OME-Zarr: --output OUT.ome.zarr)."
    )
    assert not (tmp_path / "ox").exists() and not out


@pytest.mark.parametrize("folder", ["plain", "run.2024-05", "results.v2", "existing.d"])
def test_predict_output_without_a_file_extension_is_a_folder(
    tmp_path, model_file, image_file, folder
) -> None:
    if folder == "existing.d":
        (tmp_path / folder).mkdir()
    out = tmp_path / folder
    assert cli.main(["predict", image_file, "--model", model_file, "-o", str(out)]) == 0
    assert (out / "stack_labels.tif").is_file()


def test_a_series_that_fails_is_named_and_not_said_to_be_segmented(tmp_path, capsys) -> None:
    """--series all over a file whose series 1 has channels: the failure names the
    series, and no "image series 1 segmented." note comes before it (bug bash)."""
    import tifffile

    from napari_unetseg.core.synthetic import synthetic_nuclei

    image = synthetic_nuclei((40, 48), seed=1)[0]
    with tifffile.TiffWriter(tmp_path / "multi.ome.tif", ome=True) as tif:
        tif.write(image, metadata={"axes": "YX"})
        tif.write(np.stack([image, image // 2]), metadata={"axes": "CYX"})
        tif.write(image[:32], metadata={"axes": "YX"})
    argv = ["predict", str(tmp_path / "multi.ome.tif"), "--series", "all"]
    assert cli.main([*argv, "-o", str(tmp_path / "out"), "--object-size", "off"]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 images failed:" in err
    assert "multi.ome.tif [series 1]: The image has 2 channels" in err
    assert "image series 1 segmented." not in err and "image series 2 segmented." in err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "0"], "--workers must be at least 1, got 0."),
        (["--block-size", "0"], "--block-size applies to an OME-Zarr output"),
        (["--resume"], "--resume applies to an OME-Zarr output"),
        (["--memory-per-worker", "1GiB"], "--memory-per-worker applies to the local cluster"),
    ],
)
def test_cluster_and_zarr_options_are_not_ignored_with_tiff_output(
    tmp_path, model_file, image_file, capsys, extra, match
) -> None:
    """They were accepted and ignored without a word with a TIFF output (bug bash)."""
    out = tmp_path / "o.tif"
    assert cli.main(["predict", image_file, "--model", model_file, "-o", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and not out.exists()


def test_predict_never_replaces_a_named_file_it_did_not_write(
    tmp_path, model_file, image_file, capsys
) -> None:
    """`-o my_volume.tif` and `--probabilities my_gt.tif` replaced someone's files without
    a word (bug bash); earlier results are replaced as ever, anything else only with
    --overwrite."""
    theirs = tmp_path / "my_volume.tif"
    volume = np.arange(8 * 32 * 32, dtype=np.uint16).reshape(8, 32, 32)
    _io.write_image(theirs, volume)
    base = ["predict", image_file, "--model", model_file, "--object-size", "off"]
    ours, maps = tmp_path / "ours.tif", tmp_path / "maps.tif"
    for named in (["-o", str(theirs)], ["-o", str(ours), "--probabilities", str(theirs)]):
        assert cli.main([*base, *named]) == 1
        err = capsys.readouterr().err
        assert "was not written by napari-unetseg" in err and err.count("\n") == 1
        np.testing.assert_array_equal(_io.read_image(theirs).data, volume)  # untouched
    for _ in range(2):  # its own results again: replaced
        assert cli.main([*base, "-o", str(ours), "--probabilities", str(maps)]) == 0
    assert cli.main([*base, "-o", str(theirs), "--overwrite"]) == 0
    assert _io.read_image(theirs).data.shape == (3, 48, 40)


def test_probabilities_named_as_the_labels_are_said_to_be_so(
    tmp_path, model_file, image_file, capsys
) -> None:
    """`--probabilities` equal to `--output` said "Two inputs would both write ... (images
    with the same name)" of one input (bug bash)."""
    out = str(tmp_path / "same.tif")
    argv = ["predict", image_file, "--model", model_file, "-o", out, "--probabilities", out]
    assert cli.main(argv) == 1
    assert "The labels and the probabilities would both be written to" in capsys.readouterr().err


def test_a_large_ome_zarr_to_tiff_says_it_is_held_in_memory(tmp_path, capsys) -> None:
    """A 32768² OME-Zarr with a TIFF output read without a word for 100 s while 10 GB
    filled (zarr bug bash): a note says so first, and names the block-by-block output."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscales_metadata

    from napari_unetseg._batch_plan import Planned
    from napari_unetseg.cli.predict import _say_held_in_memory

    store = tmp_path / "big.ome.zarr"
    root = zarr.open_group(str(store), mode="w", zarr_format=2)
    root.create_array("0", shape=(20000, 20000), chunks=(4096, 4096), dtype="u1")  # unwritten
    root.create_array("1", shape=(5000, 5000), chunks=(4096, 4096), dtype="u1")  # a level
    write_multiscales_metadata(
        root,
        [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]},
            {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": [4, 4]}]},
        ],
        fmt=FormatV04(),
        axes="yx",
    )
    small = tmp_path / "small.tif"
    _io.write_image(small, np.zeros((32, 32), np.uint8))
    _say_held_in_memory([Planned(store, tmp_path / "l.tif", None), Planned(small, small, None)])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "unetseg: big.ome.zarr: its 400,000,000 pixels are segmented in memory for a TIFF "
        "output (about 3 GiB); --output OUT.ome.zarr writes them block by block."
    ]
    # its level 1 (--level 1 into a TIFF) holds 25,000,000: no note (level 0's was given;
    # review), and the maps of every class are counted where they are asked for
    _say_held_in_memory([Planned(store, tmp_path / "l.tif", None)], level=1)
    assert capsys.readouterr().err == ""
    _say_held_in_memory([Planned(store, tmp_path / "l.tif", None)], class_maps=True)
    assert "(about 3 GiB and 1 GiB for each class's map)" in capsys.readouterr().err


def test_a_refused_run_leaves_no_new_empty_folders(tmp_path, image_file, capsys) -> None:
    """A run whose one file was refused left the output and probability folders it had
    made, empty (docs bug bash); a folder that was there stays."""
    out, probs, kept = tmp_path / "new_out", tmp_path / "new_probs", tmp_path / "kept"
    kept.mkdir()
    for target in (out, kept):
        argv = ["predict", image_file, "-o", str(target), "--channel", "1"]
        assert cli.main([*argv, "--probabilities", str(probs)]) == 1
        assert "has no channel axis" in capsys.readouterr().err
    assert not out.exists() and not probs.exists() and kept.is_dir()


def test_ctrl_c_before_the_first_file_leaves_no_empty_folder(
    tmp_path, image_file, capsys, monkeypatch
) -> None:
    """The output folder the plan made was left behind, empty (batch bug bash)."""
    from napari_unetseg import batch

    def interrupted(plan, settings):
        raise KeyboardInterrupt
        yield  # a generator, as segment_files_iter is

    monkeypatch.setattr(batch, "segment_files_iter", interrupted)
    out = tmp_path / "new_out"
    assert cli.main(["predict", image_file, "-o", str(out)]) == 130
    assert not out.exists()


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path, image_file, capsys, monkeypatch) -> None:
    """SIGTERM (``timeout``, a SLURM limit) left the hidden temporary file and the new
    output folder, and said nothing (exit 143; CLI bug bash)."""
    import signal

    from napari_unetseg import batch

    def terminated(plan, settings):
        signal.raise_signal(signal.SIGTERM)
        yield  # a generator, as segment_files_iter is

    monkeypatch.setattr(batch, "segment_files_iter", terminated)
    out = tmp_path / "new_out"
    assert cli.main(["predict", image_file, "-o", str(out)]) == 143
    assert capsys.readouterr().err.startswith("unetseg: terminated; no output was left")
    assert not out.exists() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_segmenting_a_label_image_says_so(tmp_path, capsys) -> None:
    """Our own labels (a TIFF, an OME-Zarr image-label) given as the image were segmented
    again without a word (scale-out bug bash): a note says what they are."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    _, truth = synthetic_nuclei((64, 64), seed=3)
    labels = _io.write_labels(tmp_path / "cells_labels.tif", truth, axes="YX")
    said = "it holds labels (its file says so), not an image; segmented as one all the same"
    out = tmp_path / "again.tif"
    assert cli.main(["predict", str(labels), "-o", str(out), "--object-size", "off"]) == 0
    assert said in capsys.readouterr().err
    store = tmp_path / "again.ome.zarr"
    assert cli.main(["predict", str(labels), "-o", str(store), "--object-size", "off"]) == 0
    argv = ["predict", str(store), "-o", str(tmp_path / "third.ome.zarr"), "--object-size", "off"]
    assert cli.main(argv) == 0
    assert said[0].upper() + said[1:] in capsys.readouterr().err


def test_a_series_that_fails_is_named_once(tmp_path, capsys) -> None:
    """ "pyr.ome.tif [series 1] [series 1]: ... series 1 does not exist" (bad-input bash)."""
    src = tmp_path / "one.tif"
    _io.write_image(src, np.zeros((32, 32), np.float32))
    out = tmp_path / "out.tif"
    assert cli.main(["predict", str(src), "--series", "1", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("[series 1]") == 1 and "series 1 does not exist" in err


def test_a_level_of_true_is_refused_not_read_as_one(tmp_path) -> None:
    """segment_files(level=True) read level 1 and failed in the command line's words
    (bad-input bash)."""
    from napari_unetseg import api

    with pytest.raises(ValueError, match="level must be a whole number from 0, got True"):
        api.segment_files([tmp_path / "x.tif"], tmp_path / "out", level=True)
    assert not (tmp_path / "out").exists()


def test_a_bad_setting_names_the_option_as_typed(tmp_path, capsys) -> None:
    """``--level -1`` said "level must be ...", ``--tile-size 0`` "tile_size must be ...":
    the API's names, not the options the user typed (bad-input bash)."""
    src = tmp_path / "img.tif"
    _io.write_image(src, np.zeros((32, 32), np.float32))
    out = tmp_path / "out.tif"
    for given, said in (
        (["--level", "-1"], "--level must be a whole number from 0, got -1."),
        (["--tile-size=0"], "--tile-size must be a whole number of at least 1"),
        (["--batch-size", "0"], "--batch-size must be a whole number of at least 1"),
    ):
        assert cli.main(["predict", str(src), *given, "-o", str(out)]) == 1
        assert f"unetseg: error: {said}" in capsys.readouterr().err
    assert not out.exists()


def test_only_a_refusal_of_the_value_typed_is_put_in_the_options_words() -> None:
    """ "object_size diameter must be positive, got -3.0" of a model file's record was
    said as "--object-size ..." of the 20 the user typed (review)."""
    from napari_unetseg.cli import _command_words

    said = "object_size diameter must be positive, got -3.0."
    for size in ("20", "3"):  # (a digit of the -3.0 was taken for a 3 typed; review)
        assert _command_words(said, ["predict", "a.tif", "--object-size", size]) == said
    assert _command_words(said, ["predict", "a.tif", "--object-size=-3"]).startswith(
        "--object-size diameter"
    )


def test_a_missing_file_among_others_fails_alone(tmp_path, image_file, model_file, capsys):
    """One missing file stopped a list of images before the first was segmented, where a
    corrupt one is reported at the end and the others segmented, as --output's help
    promises (CLI bash); named alone, it is still refused at once."""
    other = tmp_path / "other.tif"
    other.write_bytes(open(image_file, "rb").read())
    gone = str(tmp_path / "gone.tif")
    out = tmp_path / "out"
    args = ["predict", image_file, gone, str(other), "-o", str(out), "--model", model_file]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "1 input not found" in err and "1 of 3 images failed" in err
    assert f"Image file {gone!r} does not exist." in err
    assert sorted(p.name for p in out.iterdir()) == ["other_labels.tif", "stack_labels.tif"]
    assert cli.main(["predict", gone, "-o", str(tmp_path / "o2"), "--model", model_file]) == 1
    assert "Input file" in capsys.readouterr().err and not (tmp_path / "o2").exists()
