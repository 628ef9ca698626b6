"""The batch engine (napari_unetseg.batch), provenance in label files and `unetseg info`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_unetseg import _io, api, batch, cli
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.provenance import file_sha256


@pytest.fixture
def model_file(tmp_path) -> str:
    torch.manual_seed(0)
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.tile_size = (32, 32)
    return str(bundle.save(tmp_path / "m.pt"))


@pytest.fixture
def folder(tmp_path):
    """A 2D image, a Z stack (µm pixel size) and a corrupt TIFF."""
    rng = np.random.default_rng(0)
    d = tmp_path / "images"
    _io.write_image(d / "flat.tif", rng.integers(0, 255, (40, 48)).astype(np.uint8))
    _io.write_image(
        d / "stack.tif",
        rng.integers(0, 4000, (3, 36, 40)).astype(np.uint16),
        scale=(2.0, 0.5, 0.5),
        axes="ZYX",
    )
    (d / "broken.tif").write_bytes(b"II*\x00 this is not really a tiff")
    return d


def _listing(path):
    return sorted(p.relative_to(path) for p in path.rglob("*"))


def test_folder_batch_writes_labels_with_scale_provenance_and_reports_failures(
    tmp_path, folder, model_file
) -> None:
    out = tmp_path / "out"
    report = batch.segment_files([folder], out, model=model_file, tile_size=32, device="cpu")
    assert [r.ok for r in report.results] == [False, True, True]  # sorted: broken, flat, stack
    broken = report.failed[0]
    assert "broken.tif" in broken.error and "not a readable TIFF" in broken.error
    assert broken.error.count(".") >= 1 and "\n" not in broken.error
    assert sorted(p.name for p in out.iterdir()) == ["flat_labels.tif", "stack_labels.tif"]

    stack = _io.read_image(out / "stack_labels.tif")
    assert stack.is_labels and stack.scale == pytest.approx((2.0, 0.5, 0.5))
    image = _io.read_image(folder / "stack.tif")
    expected = api.predict(image.data, model_file, tile_size=32, device="cpu", scale=image.scale)
    np.testing.assert_array_equal(stack.data, expected)

    prov = stack.provenance
    assert prov["model"] == "m" and prov["model_sha256"] == file_sha256(model_file)
    assert prov["input"] == "stack.tif" and prov["settings"]["tile_size"] == 32
    assert prov["settings"]["fill_holes"] is False  # the model's own setting, recorded
    # what ran where the settings may say auto (the record said "auto" only: bug bash)
    assert prov["ran"]["precision"] in ("fp32", "bf16", "fp16") and prov["ran"]["device"]

    row = next(r for r in report.rows() if r["file"].endswith("stack.tif"))
    fg = 100 * np.count_nonzero(expected) / expected.size
    assert row["foreground_percent"] == pytest.approx(fg, abs=1e-3) and row["seconds"] > 0
    assert row["model"] == "m"  # which model ran (auto-picked models differ per file)
    from scipy import ndimage

    assert row["objects"] == ndimage.label(expected > 0)[1]
    csv = report.to_csv(tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_text() == csv
    assert csv.splitlines()[0] == ",".join(batch.BatchReport.COLUMNS)
    assert report.summary() == "Segmented 2 of 3 files; 1 failed."


@pytest.mark.parametrize(
    "case,match",
    [
        ("empty", "holds no images to segment"),
        ("missing", "does not exist"),
        # a file on the way: it said "(file exists)" (CLI bug bash)
        ("not_writable", r"Cannot write into .*sub' as a folder: '.*a_file' is a file, not a"),
        ("a_file", r"Cannot write into .*a_file' as a folder: it is a file, not a folder\."),
        ("overwrites_input", "would overwrite the input image"),
        ("hard_link_to_input", "would overwrite the input image"),
        ("same_name", "would both write"),
        ("exists", "already exists"),
        ("tiff_output", "must be a folder"),
    ],
)
def test_bad_batches_are_one_sentence_and_write_nothing(tmp_path, folder, case, match) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    other = tmp_path / "other"
    _io.write_image(other / "flat.tif", np.zeros((8, 8), np.uint8))
    done = tmp_path / "done"
    done.mkdir()
    (done / "flat_labels.tif").write_bytes(b"earlier result")
    flat_labels = _io.write_image(folder / "flat_labels.tif", np.zeros((8, 8), np.uint8))
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(folder / "flat.tif", linked / "flat_labels.tif")  # another name, same file
    inputs, output = {
        "empty": ([tmp_path / "empty"], tmp_path / "o"),
        "missing": ([folder / "nope.tif"], tmp_path / "o"),
        "not_writable": ([folder / "flat.tif"], tmp_path / "a_file" / "sub"),
        "a_file": ([folder / "flat.tif"], tmp_path / "a_file"),
        "overwrites_input": ([folder / "flat.tif", flat_labels], None),
        "hard_link_to_input": ([folder / "flat.tif"], linked),
        "same_name": ([folder / "flat.tif", other / "flat.tif"], tmp_path / "o"),
        "exists": ([folder / "flat.tif"], done),
        "tiff_output": ([folder / "flat.tif", folder / "stack.tif"], tmp_path / "o.tif"),
    }[case]
    before = _listing(tmp_path)
    with pytest.raises(batch.BatchError, match=match) as info:
        batch.plan_batch(inputs, output, overwrite=case == "hard_link_to_input")
    assert len(str(info.value).splitlines()) == 1
    assert _listing(tmp_path) == before
    assert (done / "flat_labels.tif").read_bytes() == b"earlier result"


def test_unknown_setting_names_the_closest_one(tmp_path, folder) -> None:
    with pytest.raises(TypeError, match=r"no setting 'tile' \(did you mean 'tile_size'\?\)"):
        api.segment_files([folder], tmp_path / "o", tile=32)
    assert not (tmp_path / "o").exists()


def test_folder_listing_skips_earlier_results(folder) -> None:
    _io.write_image(folder / "flat_labels.tif", np.zeros((8, 8), np.uint8))
    # the ground truth `unetseg sample` writes beside its image (docs bug bash: a README
    # user's folder had its ground truth segmented as an image)
    _io.write_image(folder / "flat_ground_truth.tif", np.zeros((8, 8), np.uint8))
    # files named as labels: a BraTS case's _seg was segmented as an image (NIfTI bash)
    (folder / "case_seg.nii.gz").write_bytes(b"x")
    (folder / "flat_mask.tif").write_bytes(b"x")
    (folder / "masked.tif").write_bytes(b"x")  # "mask" inside a word: an image
    names = [p.name for p in batch.list_images([folder])]
    assert names == ["broken.tif", "flat.tif", "masked.tif", "stack.tif"]
    assert [p.name for p in batch.list_images([folder / "flat_mask.tif"])] == ["flat_mask.tif"]


def test_sub_folders_with_images_are_said_to_be_left_out(folder) -> None:
    """A folder's sub-folders are not entered; their images were left out without a
    word, and a folder of sub-folders alone "held no images" (bug bash)."""
    (folder / "day2").mkdir()
    _io.write_image(folder / "day2" / "cells.ome.tif", np.zeros((8, 8), np.uint8))
    (folder / "out").mkdir()  # results of an earlier run: no images
    _io.write_image(folder / "out" / "flat_labels.tif", np.zeros((8, 8), np.uint8))
    with pytest.warns(UserWarning, match=r"its sub-folder with images \('day2'\) is not ") as said:
        names = [p.name for p in batch.list_images([folder])]
    assert names == ["broken.tif", "flat.tif", "stack.tif"]
    assert str(folder / "**" / "*.ome.tif") in str(said[0].message)
    with pytest.raises(batch.BatchError, match=r"holds no images .*; its sub-folder with"):
        batch.list_images([folder.parent])  # (only the folder "images" in it)
    everything = batch.list_images([folder / "**" / "*.tif"])
    assert "cells.ome.tif" in [p.name for p in everything]


def test_a_link_to_a_missing_file_fails_in_one_sentence(tmp_path, folder, model_file) -> None:
    """A folder's broken link was skipped without a word (paths bug bash)."""
    (folder / "gone.tif").symlink_to(tmp_path / "nowhere.tif")
    assert "gone.tif" in [p.name for p in batch.list_images([folder])]
    (folder / "broken.tif").unlink()
    report = batch.segment_files([folder], tmp_path / "out", model=model_file, tile_size=32)
    [row] = report.failed
    link = f"{str(folder / 'gone.tif')!r} is a link to {str(tmp_path / 'nowhere.tif')!r}"
    assert row.error == f"Image file {link}, which does not exist."
    with pytest.raises(batch.BatchError, match="^Input file .* is a link to .*, which does not"):
        batch.plan_batch([folder / "gone.tif"], tmp_path / "out2")


def test_one_path_alone_is_a_list_of_it(folder, tmp_path, model_file, monkeypatch) -> None:
    """segment_files("images") read the name letter by letter ("Input file 'i' does not
    exist"), a Path was "not iterable"; an array among the inputs is one sentence; the
    sub-folder warning of "." named no folder (API bug bash)."""
    (folder / "broken.tif").unlink()
    assert [p.name for p in batch.list_images(str(folder))] == ["flat.tif", "stack.tif"]
    assert [p.name for p in batch.list_images(folder)] == ["flat.tif", "stack.tif"]
    with pytest.raises(batch.BatchError, match="paths of image files or folders, not ndarray"):
        batch.list_images([np.zeros((4, 4))])
    _io.write_image(folder.parent / "top.tif", np.zeros((8, 8), np.uint8))
    monkeypatch.chdir(folder.parent)
    with pytest.warns(UserWarning, match=f"^{folder.parent.name}: its sub-folder with images"):
        batch.list_images(["."])


def test_replacing_results_leaves_no_file_open(tmp_path, folder, model_file) -> None:
    """The check that a result is ours read it lazily and left its file open until a
    garbage collection: a descriptor per replaced file, its disk space held (leaks bash)."""
    import gc

    (folder / "broken.tif").unlink()
    out = tmp_path / "out"
    batch.segment_files([folder], out, model=model_file, tile_size=32)
    open_now = len(os.listdir("/proc/self/fd"))
    gc.disable()
    try:
        for _ in range(3):
            batch.plan_batch([folder], out, overwrite=True)
        assert len(os.listdir("/proc/self/fd")) == open_now
    finally:
        gc.enable()


def test_a_file_named_twice_is_segmented_once(folder) -> None:
    """Twice, or beside its folder: "two inputs would both write" said to use folders."""
    named = [folder / "flat.tif", folder / ".." / folder.name / "flat.tif", folder]
    assert [p.name for p in batch.list_images(named)] == [
        "flat.tif", "broken.tif", "stack.tif"
    ]  # fmt: skip


def test_patterns_are_expanded_where_no_file_has_that_name(folder) -> None:
    """A quoted or Windows-shell pattern reached us unexpanded ("does not exist")."""
    assert [p.name for p in batch.list_images([folder / "s*.tif"])] == ["stack.tif"]
    assert [p.name for p in batch.list_images([folder.parent / "**" / "fl?t.tif"])] == ["flat.tif"]
    with pytest.raises(batch.BatchError, match=r"No file matches the pattern '.*\*\.png'"):
        batch.list_images([folder / "*.png"])


def test_cancel_between_tiles_leaves_only_complete_files(tmp_path, folder, model_file) -> None:
    (folder / "broken.tif").unlink()
    out = tmp_path / "out"
    plan = batch.plan_batch([folder], out)
    gen = batch.segment_files_iter(plan, batch.SegmentSettings(model=model_file, tile_size=32))
    finished = []
    for record in gen:
        if record.finished:
            finished.append(record.finished)
        elif record.index == 1 and record.done >= 1:  # inside the second file's tiles
            gen.close()
            break
    assert [r.ok for r in finished] == [True]
    assert sorted(p.name for p in out.iterdir()) == ["flat_labels.tif"]  # no temp file


def test_cli_predict_folder_lists_failures_at_the_end_and_equals_batch(
    tmp_path, folder, model_file, capsys
) -> None:
    rc = cli.main(
        [
            "predict",
            str(folder / "broken.tif"),
            str(folder / "flat.tif"),
            str(folder / "stack.tif"),
            "-m",
            model_file,
            "-o",
            str(tmp_path / "cli"),
            "--tile-size",
            "32",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1
    err = captured.err.strip().splitlines()
    assert "1 of 3 images failed" in err[-2] and "broken.tif" in err[-1]
    # the sentence names the file: not led by it again ("x.tif: 'x.tif' is not ...")
    assert err[-1].strip().startswith(f"'{folder / 'broken.tif'}' is not a readable TIFF")
    assert "flat_labels.tif" in captured.out and "stack_labels.tif" in captured.out
    report = batch.segment_files([folder], tmp_path / "api", model=model_file, tile_size=32)
    for row in report.succeeded:
        name = row.output.rsplit("/", 1)[-1]
        np.testing.assert_array_equal(
            _io.read_image(tmp_path / "cli" / name).data, _io.read_image(row.output).data
        )

    assert cli.main(["info", str(tmp_path / "cli" / "stack_labels.tif")]) == 0
    text = capsys.readouterr().out
    assert "model: m" in text and f"model_sha256: {file_sha256(model_file)}" in text
    assert "tile_size: 32" in text and "pixel size: Z 2 µm, Y 0.5 µm, X 0.5 µm" in text


def test_session_model_records_weights_not_a_stale_file(tmp_path, folder, model_file) -> None:
    from napari_unetseg.provenance import model_reference, weights_sha256

    bundle = ModelBundle.load(model_file)
    ref = model_reference("whatever-session-name", bundle)
    assert ref["model_sha256"] == file_sha256(model_file)  # same weights as its file
    changed = bundle.copy()  # e.g. fine-tuned: remembers the file but differs from it
    with torch.no_grad():
        next(changed.network.parameters()).add_(1.0)
    ref = model_reference("whatever-session-name", changed)
    assert ref["model_file"] is None and ref["model_sha256"] is None
    assert ref["weights_sha256"] == weights_sha256(changed) != weights_sha256(bundle)


def test_napari_writer_keeps_provenance(tmp_path) -> None:
    from napari_unetseg import _writer
    from napari_unetseg._reader import image_layer_data

    prov = {"model": "x", "settings": {"tile_size": 64, "tta": True}}
    src = _io.write_labels(tmp_path / "a.tif", np.ones((4, 4), np.uint8), provenance=prov)
    data, meta, kind = image_layer_data(_io.read_image(src))[0]
    assert kind == "labels" and meta["metadata"]["unetseg"] == prov
    again = _writer.write_labels(str(tmp_path / "b.tif"), data, meta)[0]
    assert _io.read_image(again).provenance == prov


def test_info_bad_input_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "notes.tif").write_text("not an image")
    for path in (tmp_path / "missing.tif", tmp_path / "notes.tif"):
        assert cli.main(["info", str(path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("unetseg: error:") and path.name in err[0]


def test_ome_zarr_output_carries_provenance(tmp_path, folder, model_file, capsys) -> None:
    out = tmp_path / "flat.ome.zarr"
    argv = [
        "predict",
        str(folder / "flat.tif"),
        "-m",
        model_file,
        "-o",
        str(out),
        "--tile-size",
        "32",
        "--device",
        "cpu",
    ]
    assert cli.main(argv) == 0
    prov = _io.read_image(out).provenance
    assert prov["model_sha256"] == file_sha256(model_file) and prov["input"] == "flat.tif"
    assert prov["settings"]["tile_size"] == 32
    capsys.readouterr()
    assert cli.main(["info", str(out)]) == 0
    assert f"model_sha256: {file_sha256(model_file)}" in capsys.readouterr().out


def test_every_series_of_a_folder_through_the_api(tmp_path, folder, model_file) -> None:
    import tifffile

    from napari_unetseg import api

    (folder / "broken.tif").unlink()
    with tifffile.TiffWriter(folder / "pos.ome.tif") as tif:
        for k in range(2):
            tif.write(np.full((24, 20 + 8 * k), k, np.uint8), metadata={"axes": "YX"})
    plan = batch.plan_batch([folder], tmp_path / "out", series="all")
    assert [(p.image.name, p.labels.name, p.series) for p in plan] == [
        ("flat.tif", "flat_labels.tif", 0),
        ("pos.ome.tif", "pos_labels.tif", 0),
        ("pos.ome.tif", "pos_series1_labels.tif", 1),
        ("stack.tif", "stack_labels.tif", 0),
    ]
    report = api.segment_files([folder], tmp_path / "out", series="all", model=model_file)
    assert [(Path(r.input).name, r.series, r.ok) for r in report.results] == [
        ("flat.tif", 0, True),
        ("pos.ome.tif", 0, True),
        ("pos.ome.tif", 1, True),
        ("stack.tif", 0, True),
    ]
    assert report.summary() == "Segmented 4 of 4 images."
    assert _io.read_image(tmp_path / "out" / "pos_series1_labels.tif").data.shape == (24, 28)
    with pytest.raises(batch.BatchError, match="the output must be a folder, not"):
        batch.plan_batch([folder / "pos.ome.tif"], tmp_path / "one.tif", series="all")
    with pytest.raises(
        ValueError, match=r"series must be a whole number from 0 \(or 'all'\), got -1"
    ):
        api.segment_files([folder], tmp_path / "x", series=-1, model=model_file)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match=r"series must be .*, got 'two'"):  # int()'s words
        api.segment_files([folder], tmp_path / "x", series="two", model=model_file)


def test_objects_of_a_time_series_are_counted_per_time_point():
    """A nucleus in four frames is four objects, as split instance ids count them (the
    regions were joined through time)."""
    from napari_unetseg.batch import count_objects as _count

    series = np.zeros((4, 16, 16), np.uint8)
    series[:, 2:6, 2:6] = 1
    series[1:, 9:13, 9:13] = 1
    assert _count(series, False) == (2, _count(series, False)[1])
    assert _count(series, False, time_axis=0)[0] == 7


def test_replacing_results_never_replaces_a_users_own_labels(tmp_path, folder, model_file) -> None:
    """ "Replace earlier results" overwrote a hand-made flat_labels.tif beside its image (a
    ground truth): only files napari-unetseg wrote (their provenance says so) are earlier
    results (bug bash)."""
    out = tmp_path / "out"
    mine = _io.write_labels(out / "flat_labels.tif", np.ones((40, 48), np.uint8))
    before = mine.read_bytes()
    with pytest.raises(batch.BatchError, match="was not written by napari-unetseg"):
        batch.plan_batch([folder / "flat.tif"], out, overwrite=True)
    assert mine.read_bytes() == before
    mine.unlink()
    api.segment_files([folder / "flat.tif"], out, model=model_file)  # ours now
    assert batch.plan_batch([folder / "flat.tif"], out, overwrite=True)  # replaced when asked
    # a file named as the output, not ours: only with replace_any (predict's --overwrite)
    named = _io.write_labels(tmp_path / "gt.tif", np.ones((40, 48), np.uint8))
    with pytest.raises(batch.BatchError, match="was not written by napari-unetseg") as said:
        batch.plan_batch([folder / "flat.tif"], named, overwrite=True)
    # the functions it names are where it says (it named plan_batch and
    # segment_files_iter, which api does not have; API bug bash)
    for name in ("napari_unetseg.batch.plan_batch", "napari_unetseg.batch.segment_files_iter"):
        assert name in str(said.value) and hasattr(batch, name.rsplit(".", 1)[1])
    planned = batch.plan_batch([folder / "flat.tif"], named, overwrite=True, replace_any=True)
    assert planned[0].labels == named


def test_a_name_too_long_for_the_file_system_is_one_sentence(tmp_path, model_file) -> None:
    """An image named with 248 characters gives an output name past 255 bytes: the batch
    stopped on a raw OSError; one of 236 failed only once segmented (the temporary name
    is 14 bytes longer; bug bash)."""
    folder = tmp_path / "long"
    image = np.random.default_rng(0).integers(0, 255, (40, 48)).astype(np.uint8)
    _io.write_image(folder / ("M" * 248 + ".tif"), image)
    with pytest.raises(batch.BatchError, match="more than the 255 a file name may have"):
        batch.plan_batch([folder], tmp_path / "out")
    (folder / ("M" * 248 + ".tif")).unlink()
    _io.write_image(folder / ("N" * 236 + ".tif"), image)
    rows = api.segment_files([folder], tmp_path / "out", model=model_file)
    assert [row.error for row in rows.results] == [None]
    assert (tmp_path / "out" / ("N" * 236 + "_labels.tif")).is_file()


def test_a_batch_never_writes_tiffs_into_an_ome_zarr_store(tmp_path, folder) -> None:
    """'Labels to' out.ome.zarr made a plain folder of that name holding TIFFs, and the
    input store as the output folder got a TIFF among its arrays (bug bash)."""
    import zarr
    from ome_zarr.writer import write_image

    store = tmp_path / "d.ome.zarr"
    write_image(np.zeros((32, 32), np.uint8), zarr.open_group(str(store), mode="w"), axes="yx")
    for output in (tmp_path / "out.ome.zarr", store):
        with pytest.raises(batch.BatchError, match="is an OME-Zarr store, and a batch writes"):
            batch.plan_batch([folder / "flat.tif"], output)
    assert not (tmp_path / "out.ome.zarr").exists()
    # a folder inside a store is no store: said so, with the store to write into (it was
    # called a store, and the fix offered was the command refused; cluster bash)
    for output in (store / "labels", store / "0"):
        with pytest.raises(batch.BatchError) as refused:
            batch.plan_batch([folder / "flat.tif"], output)
        said = str(refused.value)
        assert f"lies inside the OME-Zarr store {str(store)!r}" in said
        assert "name a folder outside it (the labels of an OME-Zarr image go into its own" in said


def test_file_names_of_bytes_that_are_not_utf8_are_segmented(tmp_path, folder, model_file):
    """A file named b"caf\\xe9.tif" (Latin-1, from an old share) failed with "'utf-8'
    codec can't encode character '\\udce9' ... surrogates not allowed", as an input (its
    name in the labels' provenance) and as an output (the name's length in bytes;
    locale bug bash)."""
    name = os.fsdecode(b"caf\xe9.tif")
    os.replace(folder / "flat.tif", folder / name)
    report = batch.segment_files([folder / name], tmp_path / "out", model=model_file)
    assert not report.failed
    out = tmp_path / "out" / os.fsdecode(b"caf\xe9_labels.tif")
    assert _io.read_image(out).provenance["input"] == "caf\\xe9.tif"
    given = tmp_path / os.fsdecode(b"x\xe9.tif")
    assert cli.main(["predict", str(folder / name), "-m", model_file, "-o", str(given)]) == 0
    assert given.exists()


def test_the_advice_to_replace_a_file_of_the_users_works_as_said(tmp_path, folder, model_file):
    """segment_files' refusal said "replace_any=True in Python", an argument it refuses;
    predict_blocks' said "pass --overwrite" to Python (help-texts bug bash)."""
    from napari_unetseg.core.progress import drain
    from napari_unetseg.distributed import predict_blocks

    (folder / "broken.tif").unlink()
    (folder / "stack.tif").unlink()
    mine = folder / "flat_labels.tif"
    _io.write_image(mine, np.zeros((40, 48), np.uint8))
    with pytest.raises(batch.BatchError, match=r"plan_batch\(\.\.\., overwrite=True, replace_any"):
        batch.segment_files([folder / "flat.tif"], overwrite=True, model=model_file)
    plan = batch.plan_batch([folder / "flat.tif"], overwrite=True, replace_any=True)
    report = drain(batch.segment_files_iter(plan, batch.SegmentSettings(model=model_file)))
    assert not report.failed and _io.read_image(mine).provenance  # ours now
    store = tmp_path / "out.ome.zarr"
    predict_blocks(folder / "flat.tif", model_file, store)
    with pytest.raises(FileExistsError, match=r"overwrite=True in Python\) to replace it or"):
        predict_blocks(folder / "flat.tif", model_file, store)
    predict_blocks(folder / "flat.tif", model_file, store, overwrite=True)  # as said


def test_a_probability_map_the_disk_had_no_room_for_keeps_its_labels(
    tmp_path, folder, model_file, monkeypatch
):
    """Four label files written and their maps not were "4 of 4 images could not be
    segmented" (disk bug bash: a 2 MiB tmpfs there; the map's write fails here)."""
    import errno

    (folder / "broken.tif").unlink()
    (folder / "stack.tif").unlink()

    def no_room(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_io, "write_image", no_room)
    from napari_unetseg.core.progress import drain

    plan = batch.plan_batch([folder], tmp_path / "out", probabilities=tmp_path / "maps")
    report = drain(batch.segment_files_iter(plan, batch.SegmentSettings(model=model_file)))
    [row] = report.failed
    assert row.error.startswith("Its labels were written, its probability map not: ")
    assert row.output == str(tmp_path / "out" / "flat_labels.tif") and Path(row.output).is_file()


def test_several_images_maps_named_as_one_file_are_refused_as_such(tmp_path):
    """Two images with --probabilities maps.tif were refused as "Two inputs would both
    write 'maps.tif' (images with the same name)", names that differ (classes bash)."""
    for name in ("a.tif", "b.tif"):
        _io.write_image(tmp_path / name, np.zeros((16, 16), np.float32))
    images = [tmp_path / "a.tif", tmp_path / "b.tif"]
    with pytest.raises(
        batch.BatchError, match="the probability maps go to a folder, not the file"
    ):
        batch.plan_batch(images, tmp_path / "out", probabilities=tmp_path / "maps.tif")
    assert not (tmp_path / "out").exists()
    plan = batch.plan_batch(images, tmp_path / "out", probabilities=tmp_path / "maps")
    assert [p.probabilities.name for p in plan] == ["a_probabilities.tif", "b_probabilities.tif"]
