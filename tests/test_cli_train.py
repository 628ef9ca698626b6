"""`unetseg train` end to end (in-process): train -> predict round trip and every error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from napari_unetseg import _io, api, cli
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.synthetic import synthetic_nuclei, synthetic_scribbles


@pytest.fixture
def data(tmp_path) -> dict[str, str]:
    image, truth = synthetic_nuclei((96, 96), seed=2)
    scribbles = synthetic_scribbles(truth, 8, 8, seed=0)
    torch.manual_seed(0)
    tiny = ModelBundle.create(spatial_dims=2, depth=3, base_channels=8)
    paths = {
        "img": _io.write_image(tmp_path / "cells.tif", image, scale=(0.5, 0.5), axes="YX"),
        "lab": _io.write_labels(tmp_path / "cells_scribbles.tif", scribbles, axes="YX"),
        "truth": _io.write_labels(tmp_path / "cells_truth.tif", truth, axes="YX"),
        "tiny": tiny.save(tmp_path / "tiny.pt"),
        "small": _io.write_labels(tmp_path / "small.tif", scribbles[:50], axes="YX"),
        "empty": _io.write_labels(tmp_path / "empty.tif", np.zeros_like(scribbles), axes="YX"),
        "bg": _io.write_labels(tmp_path / "bg.tif", (scribbles > 0).astype(np.uint8), axes="YX"),
        "coarse": _io.write_labels(
            tmp_path / "coarse.tif", scribbles, scale=(2.0, 2.0), axes="YX"
        ),
    }
    (tmp_path / "junk.tif").write_text("not a tiff")
    paths["junk"] = tmp_path / "junk.tif"
    return {k: str(v) for k, v in paths.items()}


def test_train_then_predict_round_trip(tmp_path, data, capsys):
    model = tmp_path / "models" / "mine.pt"
    rc = cli.main(
        [
            "train",
            "--image",
            data["img"],
            "--labels",
            data["lab"],
            "--output",
            str(model),
            "--from",
            data["tiny"],
            "--steps",
            "40",
            "--patch-size",
            "64",
            "--batch-size",
            "4",
            "--lr",
            "3e-3",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    out = capsys.readouterr()
    assert "wrote" in out.out and "40 steps" in out.out
    assert "validation Dice" in out.out and "of the mean of" in out.out  # a new model
    assert "labeled pixels" in out.err  # the training notice went to stderr
    bundle = ModelBundle.load(model)
    assert bundle.name == "mine" and bundle.history["steps"] == 40
    assert bundle.history["started_from"] == data["tiny"]

    labels_out = tmp_path / "pred.tif"
    assert cli.main(["predict", data["img"], "--model", str(model), "-o", str(labels_out)]) == 0
    pred = _io.read_image(labels_out)
    truth = _io.read_image(data["truth"]).data > 0
    p = pred.data > 0
    assert 2 * (p & truth).sum() / (p.sum() + truth.sum()) > 0.75
    assert pred.scale == pytest.approx((0.5, 0.5))


def test_fine_tuning_says_when_the_start_model_disagreed_with_the_strokes(tmp_path, data, capsys):
    strokes = _io.read_image(data["lab"]).data
    swapped = _io.write_labels(
        tmp_path / "swapped.tif", np.where(strokes > 0, 3 - strokes, 0).astype(np.uint8)
    )
    common = ["--image", data["img"], "--from", "nuclei-2d", "--steps", "3", "--device", "cpu"]
    common += ["--patch-size", "32", "--object-size", "off"]
    out = str(tmp_path / "a.pt")
    assert cli.main(["train", "--labels", data["lab"], "--output", out, *common]) == 0
    assert "The starting model gave another class" not in capsys.readouterr().err
    out = str(tmp_path / "b.pt")
    common[common.index("--steps") + 1] = "10"  # past the batches the agreement is counted on
    assert cli.main(["train", "--labels", str(swapped), "--output", out, *common]) == 0
    err = capsys.readouterr().err
    # said once, while training (before the "wrote" line's end-of-run hints)
    assert err.count("The starting model gave another class to ") == 1
    assert "unetseg: The starting model gave another class to " in err  # (a progress line)


def test_train_new_dense_model(tmp_path, data):
    model = tmp_path / "dense.pt"
    rc = cli.main(
        [
            "train",
            "-i",
            data["img"],
            "-l",
            data["truth"],
            "-o",
            str(model),
            "--label-mode",
            "dense",
            "--steps",
            "2",
            "--patch-size",
            "32",
        ]
    )
    assert rc == 0
    bundle = ModelBundle.load(model)
    assert bundle.n_classes == 2 and bundle.history["label_mode"] == "dense"
    assert bundle.history["instances_as_one_class"] is True


def test_train_names_the_classes(tmp_path, data, capsys):
    model = tmp_path / "named.pt"
    base = ["train", "-i", data["img"], "-l", data["truth"], "-o", str(model), "--overwrite"]
    base += ["--label-mode", "dense", "--steps", "1", "--patch-size", "32", "--class-names"]
    assert cli.main([*base, "background", "cell nucleus"]) == 0
    assert ModelBundle.load(model).class_names == ["background", "cell nucleus"]
    capsys.readouterr()
    assert cli.main([*base, "background", "a", "b"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("unetseg: error: --class-names gives 3 names for a model of 2")
    # dense labels 0..2 with three names: three classes (they were taken as instance
    # masks of one class, and the names refused; NIfTI bug bash)
    truth = np.asarray(_io.read_image(data["truth"]).data)
    tissue = _io.write_labels(tmp_path / "tissue.tif", np.minimum(truth, 2).astype(np.uint8))
    base[base.index(data["truth"])] = str(tissue)
    assert cli.main([*base, "background", "a", "b"]) == 0
    bundle = ModelBundle.load(model)
    assert bundle.n_classes == 3 and bundle.class_names == ["background", "a", "b"]


def test_names_of_the_wrong_count_are_refused_before_the_forest(tmp_path, data, capsys):
    """Scribbles for a new model: three names for two classes were refused only after the
    random forest had labelled the image (minutes on a volume; train bug bash)."""
    model = tmp_path / "named.pt"
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(model), "--steps", "1"]
    assert cli.main([*argv, "--class-names", "background", "a", "b"]) == 1
    err = capsys.readouterr().err
    assert "random forest" not in err and not model.exists()
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            "unetseg: error: --class-names gives 3 names for a model of 2 classes (scribbles 1 to 2"
        )
    )
    assert cli.main([*argv, "--class-names", "background", "a", "b", "--n-classes", "3"]) == 0
    assert ModelBundle.load(model).class_names == ["background", "a", "b"]


def test_train_on_one_channel_of_a_multichannel_image(tmp_path, data, capsys):
    image = _io.read_image(data["img"]).data.astype(np.float32)
    two = _io.write_image(tmp_path / "two.tif", np.stack([image * 0 + 7, image]), axes="CYX")
    model = tmp_path / "nuclear.pt"
    common = ["train", "-i", str(two), "-l", data["lab"], "--steps", "1", "--patch-size", "32"]
    assert cli.main([*common, "-o", str(model), "--channel", "1"]) == 0
    assert ModelBundle.load(model).in_channels == 1
    assert cli.main([*common, "-o", str(tmp_path / "x.pt"), "--channel", "3"]) == 1
    assert "there is no channel 3" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    # fine-tuning a one-channel model without --channel: the command's spelling
    argv = [*common, "-o", str(tmp_path / "y.pt"), "--from", str(data["tiny"])]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "choose one with --channel N" in err and "channel=N" not in err


def test_images_of_other_pixel_sizes_are_said(tmp_path, data, capsys):
    """A pair of 2 µm pixels beside one of 0.5 µm trained as if both were 0.5 µm, the
    model recording the first's scale, without a word (training fuzz bash)."""
    image = _io.read_image(data["img"]).data
    coarse = _io.write_image(tmp_path / "coarse_img.tif", image, scale=(2.0, 2.0), axes="YX")
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-i", str(coarse), "-l"]
    argv += [data["coarse"], "-o", str(tmp_path / "m.pt"), "--steps", "1", "--patch-size", "32"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "coarse_img.tif has pixels of 2 x 2 µm, cells.tif of 0.5 x 0.5 µm" in err
    assert cli.main([*argv[:5], "-o", str(tmp_path / "n.pt"), *argv[-4:]]) == 0
    assert "has pixels of" not in capsys.readouterr().err  # one pixel size: nothing said


def test_an_output_linked_to_nowhere_is_refused_before_training(tmp_path, data, capsys):
    """A link to a missing file was taken for no file, and after training the model went
    to "out-2.pt", said to have "appeared during the training" (training fuzz bash)."""
    out = tmp_path / "out.pt"
    out.symlink_to(tmp_path / "gone" / "model.pt")
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(out), "--steps", "1"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "is a link to " in err and "which does not exist; give --overwrite" in err
    assert out.is_symlink() and not (tmp_path / "out-2.pt").exists()
    assert cli.main([*argv, "--patch-size", "32", "--overwrite"]) == 0
    assert not out.is_symlink() and ModelBundle.load(out).history["steps"]


@pytest.mark.parametrize(
    ("labels", "extra", "match"),
    [
        ("small", [], "labels have shape (50, 96) but the image needs (96, 96)"),
        ("empty", [], "no labeled pixels"),
        ("bg", [], "before training; if they are masks of objects, train with --label-mode dense"),
        ("coarse", [], "coarse.tif have pixels of 2 x 2 µm, their image cells.tif of 0.5 x"),
        ("junk", [], "not a readable TIFF"),
        ("missing", [], "does not exist"),
        ("lab", ["--labels", "LAB"], "give one --labels per --image"),
        ("lab", ["--from", "no-such-model"], "Unknown model 'no-such-model'"),
        ("lab", ["--output", "model.tif"], "must be a model file ending in .pt"),
    ],
)
def test_errors_are_one_line_and_write_nothing(tmp_path, data, capsys, labels, extra, match):
    out = tmp_path / "out.pt"
    out.write_bytes(b"previous model")  # an existing output must survive a failed run
    lab = data.get(labels, str(tmp_path / "missing.tif"))
    extra = [data["lab"] if e == "LAB" else e for e in extra]
    argv = ["train", "-i", data["img"], "-l", lab, "-o", str(out), "--steps", "1", *extra]
    assert cli.main([*argv, "--overwrite"]) == 1  # allowed to replace it, it is kept
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unetseg: error: ")
    assert match in err[0]
    assert out.read_bytes() == b"previous model"
    if "--output" in extra:
        return
    assert cli.main(argv) == 1  # without --overwrite: refused before anything is read
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; give --overwrite to replace it" in err[0]
    assert out.read_bytes() == b"previous model"


def test_train_on_another_series_of_a_multi_position_tiff(tmp_path, data, capsys):
    import tifffile

    image = _io.read_image(data["img"]).data
    src = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(src) as tif:
        tif.write(np.zeros((40, 40), image.dtype), metadata={"axes": "YX"})
        tif.write(image, metadata={"axes": "YX"})
    common = ["train", "-i", str(src), "-l", data["lab"], "--steps", "1", "--patch-size", "32"]
    assert cli.main([*common, "-o", str(tmp_path / "m.pt"), "--series", "1"]) == 0
    assert ModelBundle.load(tmp_path / "m.pt").history["steps"] == 1
    capsys.readouterr()
    # series 0 is another image: its shape does not fit the labels
    assert cli.main([*common, "-o", str(tmp_path / "x.pt")]) == 1
    assert "labels have shape (96, 96) but the image needs (40, 40)" in capsys.readouterr().err
    assert cli.main([*common, "-o", str(tmp_path / "x.pt"), "--series", "-2"]) == 1
    assert "--series must be 0 or more, got -2" in capsys.readouterr().err


def test_save_as_lists_the_model_by_name_for_later_commands(tmp_path, data, capsys):
    """`train --save-as NAME` (no --output) puts the model among the saved models:
    `unetseg models` lists it and `predict --model NAME` uses it, in later processes too
    (the folder is $NAPARI_UNETSEG_MODELS, a folder of this test's own)."""
    from napari_unetseg.core.registry import user_models_dir

    common = ["train", "-i", data["img"], "-l", data["lab"], "--from", data["tiny"]]
    common += ["--steps", "2", "--patch-size", "64", "--device", "cpu"]
    assert cli.main([*common, "--save-as", "my cells (v2)"]) == 0
    out = capsys.readouterr()
    saved = user_models_dir() / "my cells (v2).pt"
    assert saved.is_file() and str(saved) in out.out
    assert ModelBundle.load(saved).name == "my cells (v2)"
    # the hint quotes a name with spaces; the same name again keeps the model unless
    # --overwrite (it was replaced without a word: train bug bash)
    assert "--model 'my cells (v2)'" in out.err
    kept = saved.read_bytes()
    assert cli.main([*common, "--save-as", "my cells (v2)"]) == 1
    err = capsys.readouterr().err
    assert "a saved model 'my cells (v2)' exists" in err and "give --overwrite" in err
    assert saved.read_bytes() == kept
    assert cli.main([*common, "--save-as", "my cells (v2)", "--overwrite", "--seed", "7"]) == 0
    assert saved.read_bytes() != kept
    capsys.readouterr()

    assert cli.main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "my cells (v2)" in listing and f"saved, {saved}" in listing
    assert f"Saved models: {user_models_dir()}" in listing

    labels_out = tmp_path / "pred.tif"
    argv = ["predict", data["img"], "--model", "my cells (v2)", "-o", str(labels_out)]
    assert cli.main(argv) == 0 and labels_out.is_file()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ([], "Give --output FILE.pt, --save-as NAME, or both"),
        (["--save-as", "nuclei-2d"], "'nuclei-2d' is a shipped model's name"),
        (["--save-as", "a/b"], "is not a usable model name"),
        (["--save-as", "x" * 300], "300 characters long"),
        (["-o", "{tmp}"], "is a folder; name a model file ending in .pt"),
    ],
)
def test_save_as_errors_come_before_training(tmp_path, data, capsys, extra, match):
    from napari_unetseg.core.registry import user_models_dir

    (tmp_path / "folder.pt").mkdir()
    extra = [e.replace("{tmp}", str(tmp_path / "folder.pt")) for e in extra]
    argv = ["train", "-i", data["img"], "-l", data["lab"], "--steps", "1", *extra]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unetseg: error: ") and match in err[0]
    assert not user_models_dir().exists() or not any(user_models_dir().iterdir())


@pytest.fixture
def dense_gaps(tmp_path, data) -> str:
    """Dense labels with the values {0, 2, 5}."""
    truth = _io.read_image(data["truth"]).data
    dense = np.where(truth > 0, 2, 0).astype(np.uint16)
    dense[:6, :6] = 5
    return str(_io.write_labels(tmp_path / "dense_gaps.tif", dense, axes="YX"))


def test_too_few_dense_classes_counts_the_background(tmp_path, data, dense_gaps, capsys):
    out = tmp_path / "m.pt"
    argv = ["train", "-i", data["img"], "-l", dense_gaps, "--label-mode", "dense"]
    assert cli.main([*argv, "--n-classes", "5", "--steps", "1", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "unetseg: error: The labels contain class 5, so the model needs at least 6 classes "
        "(background and classes 1-5), but --n-classes 5 was given."
    ]
    assert not out.exists()


def test_dense_labels_merged_as_asked_say_so(tmp_path, data, dense_gaps, capsys):
    out = tmp_path / "m.pt"
    argv = ["train", "-i", data["img"], "-l", dense_gaps, "--label-mode", "dense"]
    argv += ["--n-classes", "2", "--steps", "1", "--device", "cpu", "-o", str(out)]
    argv += ["--from", data["tiny"]]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "values up to 5: as --n-classes 2 was given, every value > 0 is merged" in err
    assert "give n_classes" not in err and "give --n-classes" not in err


def test_a_new_model_says_which_class_has_no_strokes(tmp_path, data, capsys):
    """Scribbles of labels 1 and 3 (2 skipped, e.g. by napari's "new label"): a new
    model of three classes whose class 1 was never painted, said once (bug bash)."""
    scribbles = _io.read_image(data["lab"]).data.copy()
    scribbles[scribbles == 2] = 3
    gap = _io.write_labels(tmp_path / "gap.tif", scribbles, axes="YX")
    argv = ["train", "-i", data["img"], "-l", str(gap), "--steps", "2", "--patch-size", "64"]
    assert cli.main([*argv, "-o", str(tmp_path / "m.pt"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "Label 2 (class 1) has no painted pixels, yet the model gets an output" in err
    # fine-tuning a shipped model of two classes on them grows it to three: said too
    assert cli.main([*argv, "--from", "nuclei-2d", "-o", str(tmp_path / "f.pt")]) == 0
    assert "Label 2 (class 1) has no painted pixels" in capsys.readouterr().err


def test_a_time_series_trains_a_2d_model_and_refuses_a_3d_one(tmp_path, capsys):
    """A (T, Y, X) file's time points were taken for Z: a 3D model with 4 x 48 x 48
    patches mixed time points as depth."""
    movie, truth = synthetic_nuclei((4, 48, 48), seed=3)
    img = _io.write_image(tmp_path / "movie.tif", movie, axes="TYX")
    lab = _io.write_labels(
        tmp_path / "movie_scribbles.tif", synthetic_scribbles(truth, seed=0), axes="TYX"
    )
    common = ["train", "-i", str(img), "-l", str(lab), "--steps", "1", "--depth", "2"]
    assert cli.main([*common, "-o", str(tmp_path / "m.pt")]) == 0
    assert "its axes are TYX (time, no Z): a 2D model" in capsys.readouterr().err
    assert api.load_model(str(tmp_path / "m.pt")).spatial_dims == 2
    for extra, match in (
        (["--dims", "3"], "--dims 3 trains a Z-stack model"),
        (["--from", "nuclei-3d"], "Model 'nuclei-3d' segments Z stacks"),
    ):
        assert cli.main([*common, *extra, "-o", str(tmp_path / "n.pt")]) == 1
        assert match in capsys.readouterr().err
    assert not (tmp_path / "n.pt").exists()
    # --dims beside --from was ignored without a word (train bug bash)
    assert (
        cli.main([*common, "--from", "nuclei-2d", "--dims", "3", "-o", str(tmp_path / "n.pt")])
        == 1
    )
    assert "--dims 3 is for a new model; 'nuclei-2d' is a 2D model" in capsys.readouterr().err
    with pytest.raises(
        ValueError, match="^spatial_dims=3 is for a new model; 'nuclei-2d' is a 2D"
    ):
        api.train(movie, truth, model="nuclei-2d", spatial_dims=3, steps=1)


def test_no_model_is_written_without_a_training_step_and_ctrl_c_stops_at_a_step(
    tmp_path, data, capsys
):
    """A time limit spent on the forest teacher wrote an untrained model and said
    "wrote ...: 0 steps" (exit 0); a Ctrl-C threw the run away (training bug bash): the
    first Ctrl-C now ends at the next step, the best model so far is written."""
    import signal
    import threading

    from napari_unetseg.cli.train import _stop_on_interrupt

    out = tmp_path / "zero.pt"
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(out), "--time-limit", "0.01"]
    assert cli.main(argv) == 1 and not out.exists()
    assert "(the time went to reading and the forest teacher)" in capsys.readouterr().err
    # dense labels have no forest teacher: it was named all the same (training fuzz bash)
    dense = ["train", "-i", data["img"], "-l", data["truth"], "--label-mode", "dense"]
    assert cli.main([*dense, "-o", str(out), "--time-limit", "0.001"]) == 1
    assert "No training step was taken (the time went to reading the images)" in (
        capsys.readouterr().err
    )
    stop = threading.Event()
    # Python's own Ctrl-C handler, as in a terminal (a background job's test run has
    # SIGINT ignored, which _stop_on_interrupt then leaves as it is)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _stop_on_interrupt(stop):
            signal.raise_signal(signal.SIGINT)  # the first: a stop, not an interruption
            assert stop.is_set()
            with pytest.raises(KeyboardInterrupt):  # the second: abandoned
                signal.raise_signal(signal.SIGINT)
        assert "the best model so far is written" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _stop_on_interrupt(threading.Event()):  # ignored stays ignored
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_sigterm_or_ctrl_c_during_training_writes_the_model_and_exits_non_zero(
    tmp_path, data, capsys, monkeypatch
):
    """A first Ctrl-C wrote the best model so far and exited 0, as a finished run does;
    SIGTERM threw the whole run away (CLI bug bash): both write the model so far, exit
    130 / 143 and say so. A file that appeared at --output meanwhile is kept."""
    import signal

    from napari_unetseg import api

    real = api.train_iter

    now: dict = {}

    def signalled_at_step_2(*args, **kwargs):
        inner, n = real(*args, **kwargs), 0
        while True:
            try:
                rec = next(inner)
            except StopIteration as end:
                return end.value  # the model
            n += 1
            if n == 3:
                signal.raise_signal(now["signal"])
                now["out"].write_bytes(b"another run's model")  # appeared meanwhile
            yield rec

    monkeypatch.setattr(api, "train_iter", signalled_at_step_2)
    for signum, rc, said in (
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGINT, 130, "interrupted"),
    ):
        out = now["out"] = tmp_path / f"m{rc}.pt"
        now["signal"] = signum
        argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(out), "--steps", "20"]
        before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
        try:
            assert cli.main(argv) == rc
        finally:
            signal.signal(signal.SIGINT, before)
        err = capsys.readouterr().err
        assert f"unetseg: {said} at step " in err and "the best model so far was written" in err
        assert out.read_bytes() == b"another run's model"
        kept = out.with_name(f"m{rc}-2.pt")
        assert f"this model was written to {str(kept)!r}" in err
        history = api.load_model(kept).history
        assert history["steps"] < 20
        # the model says so too: it read as a finished run in `unetseg info` (CLI bash)
        how = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        stopped = f"by {how} at step {history['steps']} (20 steps asked)"
        assert history["stopped"] == stopped
        assert cli.main(["info", str(kept)]) == 0
        assert f"stopped early: {stopped}" in capsys.readouterr().out


def test_ctrl_c_before_the_first_step_writes_nothing_and_says_so(
    tmp_path, data, capsys, monkeypatch
):
    """A Ctrl-C while the forest labelled said "the best model so far is written",
    "keeping the best model so far" and then advised a longer --time-limit, exit 1
    (train bug bash): it says no model was written, exit 130."""
    import contextlib

    from napari_unetseg.cli import train as train_cli

    @contextlib.contextmanager
    def pressed_at_once(stop, received=None):
        stop.set()
        yield

    monkeypatch.setattr(train_cli, "_stop_on_interrupt", pressed_at_once)
    out = tmp_path / "never.pt"
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(out), "--steps", "5"]
    assert cli.main(argv) == 130 and not out.exists()
    err = capsys.readouterr().err
    assert "Stopped before the first training step." in err and "no model was written" in err
    assert "keeping the best model" not in err and "--time-limit" not in err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--time-limit", "-1"], "unetseg: error: --time-limit must be"),
        (["--steps", "0"], "unetseg: error: --steps must be"),
        (["--val-fraction", "1"], "unetseg: error: --val-fraction must be in [0, 1)"),
        (["--threads", "0"], "unetseg: error: --threads must be 1 or more, got 0."),
    ],
)
def test_refusals_name_the_commands_options(tmp_path, data, capsys, extra, said):
    """The refusals said time_limit, steps, val_fraction (the API's names; bug bash),
    before any work (--val-fraction after the forest teacher had run; CLI bug bash)."""
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(tmp_path / "m.pt")]
    assert cli.main([*argv, *extra]) == 1
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "machine, may_use, threads, said",
    [
        # --threads 1000 on 2 cores took 314 s for one step, without a word (CLI bug bash)
        (2, {0, 1}, 1000, "--threads 1000 is more than the 2 CPU cores this process may use; 2 are used."),
        # a process limited to 1 of 8 cores (a container, `taskset`) was let run 4 threads
        # on it: capped at os.cpu_count(), not the cores it may use (CLI bash)
        (8, {3}, 4, "--threads 4 is more than the 1 CPU core this process may use; it is used."),
    ],
)  # fmt: skip
def test_threads_are_capped_at_the_cores_this_process_may_use(
    tmp_path, data, capsys, monkeypatch, machine, may_use, threads, said
):
    import os

    import torch

    monkeypatch.setattr(os, "cpu_count", lambda: machine)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: may_use, raising=False)
    before = torch.get_num_threads()
    argv = ["train", "-i", data["img"], "-l", data["lab"], "-o", str(tmp_path / "m.pt")]
    try:
        assert cli.main([*argv, "--steps", "1", "--threads", str(threads)]) == 0
        assert torch.get_num_threads() == len(may_use)
    finally:
        torch.set_num_threads(before)
    assert said in capsys.readouterr().err


def test_a_folder_given_to_train_is_called_a_folder(tmp_path, data, capsys):
    """`train -i data/ -l data/` said "Input file 'data/' does not exist" (bug bash)."""
    argv = ["train", "-i", str(tmp_path), "-l", data["lab"], "--steps", "1", "-o", "m.pt"]
    assert cli.main(argv) == 1
    assert "is a folder, not an image file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, said",
    [
        (["--object-size", "0"], "--object-size must be a positive number of pixels"),
        (["--depth", "0"], "--depth must be a whole number of at least 1"),
        (["--seed", "-1"], "--seed must be a whole number of 0 or more"),
        (["--base-channels", "0"], "--base-channels must be positive, got 0."),
    ],
)
def test_model_and_size_refusals_name_the_options_too(tmp_path, data, capsys, option, said):
    """They said object_size, depth, seed, and "in_channels, --n-classes and
    base_channels must be positive" of --base-channels 0 (train bug bash)."""
    argv = ["train", "-i", data["img"], "-l", data["lab"], "--steps", "1"]
    assert cli.main([*argv, "-o", str(tmp_path / "m.pt"), *option]) == 1
    assert f"unetseg: error: {said}" in capsys.readouterr().err


def test_train_help_states_each_default(capsys):
    """The README says `--help` lists every option with its default (docs bug bash: the
    network's and the patches' options said none); the figures are the code's own."""
    from napari_unetseg.core.training.options import NEW_MODEL

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--label-mode", "--steps", "--depth", "--base-channels", "--patch-size",
                   "--val-fraction", "--no-augment", "--time-limit", "--batch-size"):  # fmt: skip
        assert option in out
    assert f"U-Net levels (default {NEW_MODEL[2]['depth']})" in out
    assert NEW_MODEL[2]["depth"] == NEW_MODEL[3]["depth"]
    base = [NEW_MODEL[d]["base_channels"] for d in (2, 3)]
    assert f"first level (default {base[0]} in 2D, {base[1]} in 3D)" in out
    assert "(default 0.1)" in out and "(default sparse)" in out


def test_a_fixed_intensity_range_makes_labels_independent_of_the_field_of_view(
    tmp_path, capsys
) -> None:
    """Each image's percentiles made a CT's labels depend on its field of view: padding a
    scan with air halved its 99.8th percentile and changed 51 % of the labels (medical
    bash). ``--intensity-range`` records a fixed range; the padded scan's labels are the
    scan's."""
    from napari_unetseg.core.normalize import Normalizer, resolve_layout

    image, labels = synthetic_nuclei((24, 64, 64), seed=4)
    scan = (image / image.max() * 1200.0 - 1000.0).astype(np.int16)  # -1000 (air) .. 200
    scan[:, 30:33] = 3000  # a metal streak: the top percentile follows what the scan holds
    strokes = synthetic_scribbles(labels, seed=4)
    _io.write_image(tmp_path / "ct.tif", scan)
    _io.write_image(tmp_path / "s.tif", strokes)
    model = tmp_path / "ct.pt"
    argv = ["train", "-i", str(tmp_path / "ct.tif"), "-l", str(tmp_path / "s.tif"), "--steps", "3"]
    assert cli.main([*argv, "--intensity-range", "-1000", "400", "-o", str(model)]) == 0
    capsys.readouterr()
    assert cli.main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "input normalization: the fixed range -1000 to 400 mapped to 0 to 1, clipped" in out
    assert out.startswith(f"{model}: model, 3D model, 1 input channel; classes: background, ")
    assert out.splitlines()[0].endswith("; intensities -1000 to 400")  # the widgets' line
    bundle = api.load_model(model)
    padded = np.pad(scan, ((0, 0), (40, 40), (40, 40)), constant_values=-1024)
    inside = (slice(None), slice(40, -40), slice(40, -40))
    layout = resolve_layout(scan.shape, 3, 1)
    big = resolve_layout(padded.shape, 3, 1)
    for norm, same in ((bundle.normalization, True), (ModelBundle.create().normalization, False)):
        a = Normalizer.from_image(scan, layout, norm)(scan[None])
        b = Normalizer.from_image(padded, big, norm)(padded[None])[(slice(None), *inside)]
        assert np.array_equal(a, b) is same
    options = {"object_size": None, "device": "cpu"}
    np.testing.assert_array_equal(
        api.predict(scan, bundle, **options), api.predict(padded, bundle, **options)[inside]
    )
    # refused in one sentence, before any work
    for extra, said in (
        (["--intensity-range", "400", "-1000"], "--intensity-range must be two finite numbers"),
        (["--intensity-range", "0", "1", "--from", "nuclei-3d"], "a model fine-tuned keeps"),
        (["--intensity-range", "0", "1", "--invert"], "does not go with invert (--invert)"),
    ):
        assert cli.main([*argv, *extra, "-o", str(tmp_path / "x.pt")]) == 1
        assert said in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ValueError, match="intensity_range is two numbers, low and high"):
        api.train(scan, strokes, steps=1, intensity_range=5)


def test_a_model_says_what_repeats_its_run_and_what_made_it(tmp_path, capsys) -> None:
    """Reproducibility bash: the seed, threads and precision a model records were not
    shown, `unetseg train` had no --precision (a CPU without native bf16 trains in fp32:
    other weights), and nothing said the software or a time limit's length."""
    import torch

    from napari_unetseg import __version__

    image, labels = synthetic_nuclei((64, 64), seed=1)
    _io.write_image(tmp_path / "img.tif", image)
    _io.write_image(tmp_path / "lab.tif", synthetic_scribbles(labels, seed=1))
    argv = ["train", "-i", str(tmp_path / "img.tif"), "-l", str(tmp_path / "lab.tif")]
    argv += ["--depth", "2", "--base-channels", "4", "--patch-size", "32", "--seed", "3"]
    threads = torch.get_num_threads()
    try:
        for precision in ("fp32", "bf16"):
            out = tmp_path / f"{precision}.pt"
            run = [*argv, "--steps", "2", "--threads", "1", "--precision", precision]
            assert cli.main([*run, "-o", str(out)]) == 0
            capsys.readouterr()
            assert cli.main(["info", str(out)]) == 0
            said = capsys.readouterr().out
            assert f"run: seed 3, 1 thread, {precision}, on cpu\n" in said
            made = f"made with: napari-unetseg {__version__}, torch {torch.__version__}, 20"
            assert made in said
    finally:
        torch.set_num_threads(threads)
    # the limit given, not what the forest teacher left of it (review: "1.14504 s")
    assert cli.main([*argv, "--time-limit", "2", "-o", str(tmp_path / "t.pt")]) == 0
    capsys.readouterr()
    assert cli.main(["info", str(tmp_path / "t.pt")]) == 0
    said = capsys.readouterr().out
    assert "a 2 s time limit (its steps followed the time: not repeatable)" in said


@pytest.mark.parametrize(
    ("typed", "read"),
    [(["-1e3", "3e3"], [-1000.0, 3000.0]), (["-1E+3", "-.5"], [-1000.0, -0.5])],
)
def test_a_negative_range_bound_typed_with_an_exponent_is_a_value(typed, read) -> None:
    """``--intensity-range -1e3 3e3`` was refused with "expected 2 arguments": argparse
    (Python 3.11) took "-1e3" for an option (left-alone item of session 48)."""
    argv = ["train", "-i", "ct.tif", "-l", "s.tif", "--intensity-range", *typed]
    assert cli.build_parser().parse_args(argv).intensity_range == read
    with pytest.raises(SystemExit):  # a real option after it is still an option
        cli.build_parser().parse_args([*argv[:-1], "--steps", "3"])


def test_a_fixed_range_refuses_what_would_make_it_meaningless(tmp_path, capsys) -> None:
    """Review of the fixed range: fine-tuning a fixed-range model with invert was taken
    (its package then failed its own test), a range holding none of the image's values
    trained on an image clipped to one value, spans float32 cannot scale were taken, and
    a negative gain read as a range "100 to 0"; Copy as command wrote "-1e-05", which
    argparse takes for an option."""
    from napari_unetseg.commands import train_command
    from napari_unetseg.core.intensity import describe_normalization, fixed_range

    image, labels = synthetic_nuclei((64, 64), seed=2)
    scan = (image / image.max() * 400.0 - 100.0).astype(np.float32)
    strokes = synthetic_scribbles(labels, seed=2)
    options = {"steps": 1, "model_config": {"depth": 2, "base_channels": 4}}
    ct = api.train(scan, strokes, intensity_range=(-100, 300), **options)
    with pytest.raises(ValueError, match=r"keeps the fixed intensity range -100 to 300"):
        api.train(scan, strokes, model=ct, invert=True, **options)
    api.train(scan, strokes, model=ct, **options)  # fine-tuned as it is: kept
    # a fixed-range model on values far outside its range: said (every pixel reached it
    # as 0 or 1 without a word)
    with pytest.warns(UserWarning, match=r"holds 0\.0% .*the range model '.*' keeps"):
        api.predict(scan + 10_000.0, ct, object_size=None)
    from napari_unetseg.distributed import predict_blocks

    _io.write_image(tmp_path / "far.tif", scan + 10_000.0)
    with pytest.warns(UserWarning, match=r"holds 0\.0% .*the range model '.*' keeps"):
        predict_blocks(tmp_path / "far.tif", ct, tmp_path / "far.ome.zarr", object_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api.predict(scan, ct, object_size=None)
    with pytest.raises(ValueError, match=r"holds 0\.0% of the values of the image"):
        api.train(scan - 5000.0, strokes, intensity_range=(-100, 300), **options)
    # values on the bounds are inside (0 and 255 of a uint8 image were refused as 0.0 %),
    # and the images are checked before the range (review)
    two_values = np.where(labels > 0, 255, 0).astype(np.uint8)
    api.train(two_values, strokes, intensity_range=(0, 255), **options)
    with pytest.raises(ValueError, match="The image has data of type object"):
        api.train(None, strokes, intensity_range=(0, 255), **options)
    for span in ((-1e308, 1e308), (0.0, 1e-320), (0.0, 1e300), (-3e38, 3e38)):
        with pytest.raises(ValueError, match="spans too much or too little to scale"):
            fixed_range(span)
    turned = {"mode": "ops", "ops": [
        {"op": "scale_linear", "gain": -0.01, "offset": 1.0}, {"op": "clip", "min": 0.0, "max": 1.0},
    ]}  # fmt: skip
    assert describe_normalization(turned) == "bioimage.io preprocessing (scale_linear, clip)"
    argv = train_command("a.tif", "b.tif", "o.pt", intensity_range=(-1e-5, 1234567.5)).argv
    at = argv.index("--intensity-range")
    assert argv[at + 1 : at + 3] == ["-0.00001", "1234567.5"]
    parsed = cli.build_parser().parse_args(["train", "-i", "a", "-l", "b", *argv[at : at + 3]])
    assert parsed.intensity_range == [-1e-5, 1234567.5]
