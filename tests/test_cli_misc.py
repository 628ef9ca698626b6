"""`unetseg sample`, `info` and `models`: refusals and a closed stdout (in-process)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from napari_unetseg import _io, cli
from napari_unetseg.core import guards


def _refused(capsys, argv: list[str], match: str) -> str:
    """One ``unetseg: error:`` line on stderr, exit status 1, nothing on stdout."""
    assert cli.main(argv) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unetseg: error: "), err
    assert match in lines[0] and lines[0].endswith(".") and not out
    return lines[0]


@pytest.mark.parametrize("name", ["s.nii.gz", "s.png", "s.npy", "s"])
def test_sample_refuses_a_name_that_is_not_a_tiff(tmp_path, capsys, name):
    _refused(
        capsys,
        ["sample", str(tmp_path / name), "--shape", "16", "16"],
        "must end in .tif, .tiff or .ome.zarr (.zarr)",
    )
    assert list(tmp_path.iterdir()) == []


def test_sample_accepts_any_case_of_tiff(tmp_path):
    assert cli.main(["sample", str(tmp_path / "s.TIFF"), "--shape", "16", "16"]) == 0
    assert _io.read_image(tmp_path / "s.TIFF").data.shape == (16, 16)


def test_a_sample_as_an_ome_zarr_store_for_the_block_commands(tmp_path, capsys):
    """The docs' block-by-block and cluster examples need an OME-Zarr image, and nothing
    wrote one (docs bash): `unetseg sample x.ome.zarr` does, its ground truth under
    labels/, read back by ome-zarr-py; the same sample again keeps a run's labels."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    store = tmp_path / "embryo.ome.zarr"
    assert cli.main(["sample", str(store), "--shape", "8", "48", "48"]) == 0
    assert "ground truth under labels/ground_truth" in capsys.readouterr().out
    nodes = {
        str(n.zarr.path).rstrip("/").rsplit("/", 1)[-1]: n for n in Reader(parse_url(str(store)))()
    }
    assert nodes["embryo.ome.zarr"].data[0].shape == (8, 48, 48)
    assert [d.shape for d in nodes["ground_truth"].data] == [(8, 48, 48), (8, 24, 24)]
    img = _io.read_image(store)
    assert img.axes == "ZYX" and list(img.labels) == ["ground_truth"]
    assert cli.main(["predict", str(store), "-o", str(store), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert cli.main(["sample", str(store), "--shape", "8", "48", "48"]) == 0
    assert "holds this sample already" in capsys.readouterr().out
    assert sorted(_io.read_image(store).labels) == ["ground_truth", "nuclei-3d"]
    import shutil

    shutil.rmtree(store / "labels" / "ground_truth")  # lost: written again (review)
    assert cli.main(["sample", str(store), "--shape", "8", "48", "48"]) == 0
    assert "its ground truth is written again" in capsys.readouterr().out
    assert sorted(_io.read_image(store).labels) == ["ground_truth", "nuclei-3d"]
    import json

    listed = json.loads((store / "labels" / ".zattrs").read_text())["labels"]
    assert sorted(listed) == ["ground_truth", "nuclei-3d"]  # listed once (review)
    _refused(capsys, ["sample", str(store), "--shape", "8", "48", "40"], "holds another image")
    assert cli.main(["sample", str(store), "--shape", "8", "48", "40", "--overwrite"]) == 0
    assert _io.read_image(store).data.shape == (8, 48, 40)


def test_each_sample_gets_its_own_ground_truth(tmp_path, capsys):
    """The ground truth is named after the whole name: run.1.tif and run.2.tif both
    wrote run_ground_truth.tif, the second over the first's. A ground-truth path that is
    a folder is refused before the image is written."""
    for name in ("run.1.tif", "run.2.tif", "cells.ome.tif"):
        assert cli.main(["sample", str(tmp_path / name), "--shape", "16", "16"]) == 0
    capsys.readouterr()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "cells.ome.tif", "cells_ground_truth.tif", "run.1.tif", "run.1_ground_truth.tif",
        "run.2.tif", "run.2_ground_truth.tif",
    ]  # fmt: skip
    (tmp_path / "e_ground_truth.tif").mkdir()
    _refused(capsys, ["sample", str(tmp_path / "e.tif")], "which is a folder")
    assert not (tmp_path / "e.tif").exists()


def test_sample_never_replaces_another_image(tmp_path, capsys):
    """`unetseg sample nuclei.tif` replaced a user's own nuclei.tif and its ground truth
    without a word (bug bash); the same sample again (the README's command run twice) is
    no loss and is written, another needs --overwrite."""
    target = tmp_path / "n.tif"
    argv = ["sample", str(target), "--shape", "16", "16"]
    assert cli.main(argv) == 0 and cli.main(argv) == 0  # the same sample: fine
    capsys.readouterr()
    before = target.read_bytes()
    _refused(capsys, [*argv, "--seed", "3"], "holds another image; give another name")
    assert target.read_bytes() == before
    assert cli.main([*argv, "--seed", "3", "--overwrite"]) == 0
    assert target.read_bytes() != before
    capsys.readouterr()
    target.unlink()
    (tmp_path / "m.tif").write_bytes(b"my own notes")  # not even an image: never replaced
    (tmp_path / "m.tif").rename(tmp_path / "n_ground_truth.tif")
    _refused(capsys, argv, "n_ground_truth.tif' exists and holds another image")
    assert not target.exists()


def test_sample_refuses_a_negative_seed(tmp_path, capsys):
    _refused(
        capsys,
        ["sample", str(tmp_path / "s.tif"), "--seed", "-1"],
        "--seed must be 0 or more, got -1.",
    )
    assert list(tmp_path.iterdir()) == []


def test_sample_refuses_a_shape_that_cannot_fit_in_memory(tmp_path, capsys, monkeypatch):
    # 64 MiB free: a 1024x1024 sample (about 75 MiB at its peak) does not fit
    monkeypatch.setattr(guards, "available_memory", lambda: 64 * 2**20)
    line = _refused(
        capsys,
        ["sample", str(tmp_path / "s.tif"), "--shape", "1024", "1024"],
        "A 1024x1024 sample would need about",
    )
    assert "64.0 MiB is available; give a smaller --shape." in line
    assert list(tmp_path.iterdir()) == []
    # a sample that fits is made under the same limit
    assert cli.main(["sample", str(tmp_path / "s.tif"), "--shape", "32", "32"]) == 0


def test_info_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    (tmp_path / "zr").mkdir()
    line = _refused(capsys, ["info", str(tmp_path / "zr")], "is a folder, not an image file")
    assert "does not exist" not in line


def test_info_on_a_missing_name_says_model_or_file(tmp_path, capsys):
    """A mistyped model name was "Image file 'bf2' does not exist" (train bug bash)."""
    _refused(capsys, ["info", "no-such-model"], "is neither a file nor a model's name")
    _refused(capsys, ["info", str(tmp_path / "m.pt")], "Model file")
    _refused(capsys, ["info", str(tmp_path / "i.tif")], "Image file")


def test_info_on_a_model_file_describes_the_model(tmp_path, capsys):
    """It told a model file to become an OME-TIFF (classes bug bash)."""
    from napari_unetseg import api

    path = api.load_model("nuclei-2d").save(tmp_path / "mine.pt")
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: model, 2D model") and "classes: background, nucleus" in out
    # what the file records, and a model by name (it said its classes only, and took a
    # name for a missing image; train bug bash)
    assert "\nobject size: 20.0 px\n" in out
    assert "\ntrained: 14585 steps in 900 s on dense labels; best validation Dice 0.88" in out
    sized = api.load_model("nuclei-3d").copy()
    sized.set_object_size({"diameter": 12.0, "pixel_size": [2.0, 0.5, 0.5], "unit": "mm"})
    assert cli.main(["info", str(sized.save(tmp_path / "mm.pt")), "nuclei-3d"]) == 0
    out = capsys.readouterr().out
    assert "object size: 12.0 px at a pixel size of 2 x 0.5 x 0.5 mm" in out
    assert "\n\nnuclei-3d: model, 3D model" in out


def test_info_help_names_every_format_it_reads(capsys):
    with pytest.raises(SystemExit):
        cli.main(["info", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for fmt in ("TIFF", "OME-Zarr", "NIfTI", "PNG"):
        assert fmt in out


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away (``unetseg models | head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("command", ["models", "info"])
def test_a_closed_stdout_ends_quietly(tmp_path, capsys, monkeypatch, command):
    argv = ["models"]
    if command == "info":
        assert cli.main(["sample", str(tmp_path / "s.tif"), "--shape", "16", "16"]) == 0
        argv = ["info", str(tmp_path / "s.tif"), str(tmp_path / "s_ground_truth.tif")]
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert cli.main(argv) in (0, 141)
    assert capsys.readouterr().err == ""


def test_a_pipe_closed_before_the_final_flush_ends_quietly(capsys, monkeypatch):
    """Output still buffered when the command returns is flushed inside main."""

    class Buffered(_ClosedPipe):
        def write(self, text: str) -> int:
            return len(text)

    monkeypatch.setattr("sys.stdout", Buffered())
    assert cli.main(["models"]) in (0, 141)
    assert capsys.readouterr().err == ""


def test_unetseg_models_piped_into_a_closed_reader(tmp_path):
    """The real thing (``unetseg models | head -0``): no error line at exit either."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_unetseg.cli", "models"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    proc.stdout.close()  # the reader is gone before the command prints anything
    _, err = proc.communicate(timeout=300)  # a hung command fails the test, not the run
    err = err.decode()
    assert proc.returncode in (0, 141)
    assert err == ""


def test_info_lists_the_pixel_sizes_of_spatial_axes_only(tmp_path, capsys):
    """Channels have no size and a time step without a unit is none (info printed
    'C 1 ,' and 'T 1 pixel') (bug bash)."""
    import numpy as np

    from napari_unetseg import _io

    path = _io.write_image(
        tmp_path / "czyx.ome.tif",
        np.zeros((2, 3, 8, 8), np.uint16),
        scale=(1.0, 2.0, 0.5, 0.5),
        axes="CZYX",
        units=("", "µm", "µm", "µm"),
    )
    assert cli.main(["info", str(path)]) == 0
    assert "pixel size: Z 2 µm, Y 0.5 µm, X 0.5 µm\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    "header, said",
    [(b"II*\0" + bytes(20), "it holds no image"), (b"II*\0\x08\0\0\0" + bytes(2), "is empty")],
)
def test_info_on_a_tiff_without_an_image_is_one_line(tmp_path, capsys, header, said):
    """A TIFF header without pages, or with a page of no entries: one line (tifffile's
    log line came first; the second was described as a 0-dimensional image)."""
    path = tmp_path / "broken.tif"
    path.write_bytes(header)
    _refused(capsys, ["info", str(path)], said)


def test_provenance_records_what_ran_where_settings_say_auto():
    from napari_unetseg import api
    from napari_unetseg.core.synthetic import synthetic_nuclei
    from napari_unetseg.provenance import what_ran

    img, _ = synthetic_nuclei((128, 128), seed=1)
    stats = api.drain(api.segment_iter(img, "nuclei-2d")).stats
    ran = what_ran(stats)
    assert ran["device"] == "cpu" and ran["precision"] in ("fp32", "bf16")
    assert ran["object_size_px"] == round(stats["object_size"]["image_diameter"], 2)
    assert len(ran["resampled_by"]) == 2
    assert "input" not in ran  # a grey image: nothing to say
    # a colour image's conversion to the model's one channel is kept too (colour bug bash)
    rng = np.random.default_rng(0)
    rgb = np.stack([img, img * 0.5, rng.random(img.shape)], axis=-1).astype(np.float32)
    ran = what_ran(api.drain(api.segment_iter(rgb, "nuclei-2d", channel_axis=2)).stats)
    assert "the mean of R, G and B" in ran["input"]


def test_info_gives_the_command_that_makes_labels_again(tmp_path, capsys, monkeypatch):
    """Reproducibility bash: no command said how a labels file was made; rebuilt by hand
    from ``settings``, "auto" measured the size again and precision "auto" is fp32 on a
    CPU without bf16. ``unetseg info`` writes it with what "auto" chose."""
    import shlex
    import shutil

    from napari_unetseg.core.registry import REGISTRY
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, _ = synthetic_nuclei((64, 96, 96), seed=2)
    _io.write_image(tmp_path / "stack.tif", img, scale=(2.0, 0.5, 0.5), axes="ZYX")
    # a model given as a file (named "nuclei-3d" inside: the command named the name)
    shutil.copy(REGISTRY.source("nuclei-3d"), tmp_path / "mine.pt")
    monkeypatch.chdir(tmp_path)
    argv = ["predict", "stack.tif", "-o", "lab.tif", "--model", "mine.pt", "--tta"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path.parent)  # from elsewhere: the input found beside the labels
    assert cli.main(["info", str(tmp_path / "lab.tif")]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("made again by")]
    again = shlex.split(line.split(": ", 1)[1])
    assert again[:4] == ["unetseg", "predict", str(tmp_path / "stack.tif"), "--output"]
    assert again[again.index("--model") + 1] == str(tmp_path / "mine.pt")
    assert "auto" not in again and "--tta" in again
    assert str(tmp_path / "lab_again.tif") in again
    assert cli.main(again[1:]) == 0
    monkeypatch.chdir(tmp_path)
    first, second = (np.asarray(_io.read_image(p).data) for p in ("lab.tif", "lab_again.tif"))
    np.testing.assert_array_equal(first, second)
    from napari_unetseg.commands import repeat_command

    record = _io.read_image("lab.tif").provenance
    (tmp_path / "img.ome.zarr").mkdir()  # a store beside the labels is found (review)
    store = repeat_command({**record, "input": "img.ome.zarr"}, tmp_path / "lab.tif")
    assert shlex.split(store)[2] == str(tmp_path / "img.ome.zarr")
    mixed = {**record, "ran": {**record["ran"], "precision": "bf16,fp32"}}  # a cluster's
    assert "--precision auto" in repeat_command(mixed, "lab.tif")  # (argparse refused it)
    for name in ("n.ome.zarr", "n.nii.gz", "n.OME.TIF"):
        stem, suffix = name.split(".", 1)
        assert f"--output {stem}_again.{suffix} " in repeat_command(record, name)
    # labels painted after the run: no command makes them
    from napari_unetseg import _writer

    meta = _io.read_image("lab.tif")
    edited = {**meta.provenance, "edited": "painted by hand after the model's run"}
    _writer.write_labels("edited.tif", first, {"metadata": {"unetseg": edited}})
    capsys.readouterr()
    assert cli.main(["info", "edited.tif"]) == 0
    assert "made again by" not in capsys.readouterr().out


def test_a_log_file_gets_each_note_on_a_line_of_its_own(tmp_path, capsys):
    """With stderr not a terminal (``2> log``, ``| cat``), a note after the progress bar
    was written onto the bar's line (wheel bug bash): the bar's last state ends its line."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    img, _ = synthetic_nuclei((256, 256), seed=1)
    _io.write_image(tmp_path / "img.tif", img)
    assert cli.main(["predict", str(tmp_path / "img.tif"), "-o", str(tmp_path / "l.tif")]) == 0
    lines = capsys.readouterr().err.split("\n")
    assert any("unetseg: " in line for line in lines)
    assert not [line for line in lines if "%|" in line and "unetseg: " in line]
    assert [line for line in lines if "100%|" in line]  # the bar's last state, kept


def test_info_names_the_levels_of_a_pyramidal_ome_tiff(tmp_path, capsys):
    """A store's pyramid was described, an OME-TIFF's sub-resolutions not (TIFF bug bash)."""
    import tifffile

    path = tmp_path / "pyramid.ome.tif"
    base = np.zeros((64, 64), np.uint16)
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, subifds=2, metadata={"axes": "YX"})
        tif.write(base[::2, ::2], subfiletype=1)
        tif.write(base[::4, ::4], subfiletype=1)
    assert cli.main(["info", str(path)]) == 0
    assert "\npyramid: 3 levels, 64x64, 32x32, 16x16\n" in capsys.readouterr().out


def test_info_describes_a_model_named_pth_or_without_a_suffix(tmp_path, capsys):
    """Told to convert it to OME-TIFF, though predict ran it (paths bug bash)."""
    from napari_unetseg import api

    for name in ("mine.pth", "mine"):
        path = api.load_model("nuclei-2d").save(tmp_path / name)
        assert cli.main(["info", str(path)]) == 0
        assert capsys.readouterr().out.startswith(f"{path}: model, 2D model")


def test_a_home_folder_written_as_a_tilde_is_the_home_folder(tmp_path, capsys, monkeypatch):
    """``--output=~/x`` and a quoted "~/x" reach the command as typed: train, evaluate's
    CSV and export wrote into a folder named "~" while saying "wrote ~/x" (paths bash)."""
    from napari_unetseg import api

    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    api.load_model("nuclei-2d").save("~/m.pt")  # the API's writes too
    labels = np.zeros((32, 32), np.uint8)
    labels[8:16, 8:16] = 1
    _io.write_image(home / "a.tif", labels)
    assert cli.main(["info", "~/m.pt"]) == 0
    argv = ["evaluate", "--prediction=~/a.tif", "--ground-truth=~/a.tif", "--csv=~/s.csv"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert (home / "m.pt").is_file() and (home / "s.csv").is_file()
    assert not list(work.iterdir())  # no "~" folder


@pytest.mark.parametrize(
    "argv, said",
    [
        (["predict", "a.tif", "-o", ""], "--output is empty (an unset shell variable?)"),
        (["predict", "", "-o", "out"], "INPUT is empty"),
        (["evaluate", "-p", "", "-g", "a.tif"], "--prediction is empty"),
        (["info", ""], "FILE is empty"),
        (["predict", "a.tif", "-o", "-"], "--output '-' (standard output) is not written to"),
        (["evaluate", "-p", "a.tif", "-g", "a.tif", "--csv", "-"], "--csv '-' (standard"),
        # a file named "C:\out\labels.tif" was made here (locale bug bash)
        (
            ["predict", "a.tif", "-o", "C:\\out\\labels.tif"],
            "--output 'C:\\out\\labels.tif' is a Windows path",
        ),
        (["predict", "a.tif", "-o", "out\\x.tif"], "--output 'out\\x.tif' is a Windows path"),
        (["predict", "C:\\data\\a.tif", "-o", "out"], "INPUT 'C:\\data\\a.tif' is a Windows path"),
    ],
)
def test_an_empty_value_or_a_dash_output_is_refused(tmp_path, capsys, monkeypatch, argv, said):
    """``-o "$OUT"`` with OUT unset wrote into the current folder, ``predict "$IMG"``
    segmented every image there, ``-o -`` made a folder named "-" (CLI bug bash)."""
    monkeypatch.chdir(tmp_path)
    _io.write_image(tmp_path / "a.tif", np.zeros((16, 16), np.uint8))
    _refused(capsys, argv, said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_a_folder_named_like_a_drive_is_a_folder(tmp_path, capsys, monkeypatch):
    """A real folder "d:" was refused as a Windows path (review bash)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d:").mkdir()
    _io.write_image(tmp_path / "d:" / "a.tif", np.zeros((16, 16), np.uint8))
    assert cli.main(["info", "d:/a.tif"]) == 0


def test_python_m_napari_unetseg_is_the_command():
    """It said the package "cannot be directly executed" (CLI bug bash)."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "napari_unetseg", "--version"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and run.stdout.startswith("unetseg ")


def test_an_unknown_option_shows_the_commands_usage_and_the_nearest_option(capsys):
    """The top level's usage came with "unrecognized arguments" (CLI bug bash)."""
    with pytest.raises(SystemExit) as end:
        cli.main(["predict", "a.tif", "-o", "x.tif", "--overlapp", "0.1", "--threads", "2"])
    assert end.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: unetseg predict ") and "unetseg predict: error: " in err
    assert "unrecognized arguments: --overlapp 0.1 --threads 2 (did you mean --overlap?)" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--shape", "16", "16", "s.tif"],
        ["predict", "--block-size", "64", "64", "s.tif"],
    ],
)
def test_a_file_name_taken_by_an_option_of_numbers_is_said(tmp_path, capsys, argv):
    """`--shape 16 16 s.tif` takes the file name as a third size: argparse said only
    "invalid int value: 's.tif'"; the line says where a file name goes."""
    with pytest.raises(SystemExit):
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'s.tif' is not a whole number; the option takes numbers only, so a file name " in err
    assert "goes before it (or after --)" in err
    # after --, as the line says, the name is the file's
    assert cli.main(["sample", "--shape", "16", "16", "--", str(tmp_path / "s.tif")]) == 0
    assert (tmp_path / "s.tif").is_file()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["sample", "--shape", "16.0", "16", "s.tif"], "'16.0' is not a whole number"),
        (["train", "--patch-size", "64", "x", "-i", "a.tif"], "'x' is not a whole number"),
        (["evaluate", "--spacing", "1", "y", "-p", "a.tif"], "'y' is not a number"),
    ],
)
def test_a_word_that_is_no_number_gets_no_file_advice_where_files_are_options(capsys, argv, said):
    """train and evaluate take their files through options (-i, -p ...): a file name
    does not go before the numbers there (review); a number of the wrong kind is one."""
    with pytest.raises(SystemExit):
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(said)


def test_info_of_many_files_describes_those_it_can_read(tmp_path, capsys):
    """`unetseg info *.tif` stopped at the first unreadable file: the inventory was cut
    short (CLI bash). Each is described, the failures said, exit 1."""
    from napari_unetseg import _io

    good = _io.write_image(tmp_path / "a.tif", np.zeros((8, 8), np.uint16))
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"junk")
    (tmp_path / "sub").mkdir()  # a folder among them too (`info data/*`; review)
    named = [str(bad), str(good), str(tmp_path / "gone.tif"), str(tmp_path / "sub")]
    assert cli.main(["info", *named]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: image, 8x8 uint16")
    assert "is not a readable TIFF" in err and "gone.tif' does not exist" in err
    assert "sub' is a folder" in err
    assert err.strip().endswith("3 of 4 files could not be described.")
    assert cli.main(["info", str(bad)]) == 1  # alone: its one line, as before
    assert capsys.readouterr().err.count("unetseg: error:") == 1


def test_a_log_gets_the_progress_bar_now_and_then(capsys):
    """stderr a log file: a 10 s training wrote 64 states of its bar, one line of
    megabytes overnight (CLI bash); a state every 30 s now, and the last one."""
    import time
    from types import SimpleNamespace

    from napari_unetseg.cli._base import ProgressBar

    with ProgressBar("training", unit="step") as bar:
        for step in range(1, 301):
            bar(SimpleNamespace(step=step, total_steps=300))
            time.sleep(0.004)
    err = capsys.readouterr().err
    states = [s for s in err.replace("\r", "\n").splitlines() if "training" in s]
    assert len(states) <= 3 and "300/300" in states[-1]
