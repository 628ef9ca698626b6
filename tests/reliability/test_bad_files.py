"""Bad-input matrix: files (damaged inputs, impossible or full targets, existing outputs)
and napari's reader / writer hooks."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from pathlib import Path

import numpy as np
import pytest
import tifffile
from reliability_matrix import (
    assert_cli_refused,
    assert_one_sentence,
    assert_untouched,
    case,
    earlier_result,
    leftovers,
    run_cli,
    snapshot,
)

from napari_unetseg import _io, _reader, _writer
from napari_unetseg.core.synthetic import synthetic_nuclei


@pytest.fixture
def image_file(tmp_path) -> Path:
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, synthetic_nuclei((48, 48), seed=5)[0])
    return path


@pytest.fixture
def existing(tmp_path) -> Path:
    return earlier_result(tmp_path / "labels.tif")


@pytest.fixture
def warnings_shown(monkeypatch) -> list[str]:
    import napari.utils.notifications as notifications

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    return shown


@contextlib.contextmanager
def full_disk(limit: int = 1024):
    """Writes past ``limit`` bytes fail (EFBIG) while inside: a full disk, simulated by the
    kernel's file-size limit for this process (SIGXFSZ ignored so the write returns an
    error instead of killing the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def _damaged(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.tif"
    if kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind == "truncated":
        tifffile.imwrite(path, synthetic_nuclei((64, 64), seed=1)[0], compression="zlib")
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "text":
        path.write_text("sample\tvalue\n1\t2\n")
    elif kind == "empty":
        path.touch()
    return path


@pytest.mark.parametrize(
    "kind, what",
    [
        pytest.param(
            k,
            w,
            marks=case(
                f"files/{k}-tiff",
                "CLI",
                f"`predict` on {w}, output file already there",
                "refused: not a readable TIFF file (with the reason); output unchanged",
            ),
        )
        for k, w in [
            ("corrupt", "4 KB of random bytes named .tif"),
            ("truncated", "a TIFF cut after 300 bytes"),
            ("text", "a text file named .tif"),
            ("empty", "an empty file named .tif"),
        ]
    ],
)
def test_damaged_input_cli(capsys, tmp_path, existing, kind, what):
    src = _damaged(kind, tmp_path)
    before = snapshot(existing)
    assert_cli_refused(capsys, "predict", src, "-o", existing, match="not a readable TIFF")
    assert_untouched(before)


@pytest.mark.parametrize(
    "name, content",
    [
        pytest.param(
            n,
            c,
            marks=case(
                f"files/{w}",
                "CLI",
                f"`predict` on {d}, output file already there",
                f"refused: not a readable {k} file (with the reason); output unchanged",
            ),
        )
        for n, c, w, d, k in [
            (
                "cut.png",
                b"\x89PNG\r\n\x1a\n\x00\x00",
                "truncated-png",
                "a PNG cut after 10 bytes",
                "PNG",
            ),
            ("text.jpg", b"not a picture", "text-jpeg", "a text file named .jpg", "JPEG"),
        ]
    ],
)
def test_damaged_plain_image_cli(capsys, tmp_path, existing, name, content):
    src = tmp_path / name
    src.write_bytes(content)
    before = snapshot(existing)
    kind = "PNG" if name.endswith(".png") else "JPEG"
    assert_cli_refused(capsys, "predict", src, "-o", existing, match=f"not a readable {kind}")
    assert_untouched(before)


@pytest.mark.parametrize(
    "source, series, said",
    [
        pytest.param(
            src,
            n,
            said,
            marks=case(
                f"files/series-{w}",
                "CLI",
                f"`predict --series {n}` on {d}, output file already there",
                f"refused: {e}; output unchanged",
            ),
        )
        for src, n, said, w, d, e in [
            (
                "positions.ome.tif",
                "5",
                "holds image series 0 to 1; series 5 does not exist",
                "missing",
                "a TIFF of two image series",
                "names the series the file holds",
            ),
            (
                "plane.png",
                "1",
                "not a TIFF of several image series",
                "of-one-image",
                "a PNG",
                "not a TIFF of several image series",
            ),
        ]
    ],
)
def test_missing_image_series_cli(capsys, tmp_path, existing, source, series, said):
    import imageio.v3 as iio

    src = tmp_path / source
    if source.endswith(".png"):
        iio.imwrite(src, np.zeros((16, 16), np.uint8))
    else:
        with tifffile.TiffWriter(src) as tif:
            for _ in range(2):
                tif.write(np.zeros((16, 16), np.uint8), metadata={"axes": "YX"})
    before = snapshot(existing)
    assert_cli_refused(capsys, "predict", src, "--series", series, "-o", existing, match=said)
    assert_untouched(before)


@case("files/missing-input", "CLI", "`predict` on a file that does not exist", "refused")
def test_missing_input(capsys, tmp_path, existing):
    before = snapshot(existing)
    assert_cli_refused(capsys, "predict", tmp_path / "nope.tif", "-o", existing, match="not exist")
    assert_untouched(before)


@case(
    "files/output-is-folder",
    "CLI",
    "`predict -o out.tif` where out.tif is a folder holding a file",
    "refused: it is a folder; the folder and its file unchanged",
)
def test_output_is_a_folder(capsys, tmp_path, image_file):
    target = tmp_path / "out.tif"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    before = snapshot(target, target / "keep.txt")
    assert_cli_refused(capsys, "predict", image_file, "-o", target, match="is a folder")
    assert_untouched(before)
    assert not leftovers(tmp_path)


@case(
    "files/read-only-target",
    "CLI",
    "`predict -o` into a folder the user may not write (read-only)",
    "refused: permission denied; no temporary file left",
)
def test_read_only_target(capsys, tmp_path, image_file):
    if os.geteuid() == 0:  # root ignores permission bits; sysfs is read-only even for root
        target = Path("/sys/unetseg-labels.tif")
        assert not target.exists()
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        target = folder / "labels.tif"
    assert_cli_refused(capsys, "predict", image_file, "-o", target, match="Cannot write")
    assert not target.exists()


def test_a_store_that_cannot_be_written_is_one_sentence_without_errno(
    capsys, tmp_path, image_file
):
    """An OME-Zarr output on a read-only mount said "[Errno 30] Read-only file system:
    '.../labels'" (OME-Zarr bug bash): the system's words, as a sentence."""
    import errno

    from napari_unetseg._qt._common import user_message
    from napari_unetseg.core.files import os_error_sentence

    if os.geteuid() == 0:
        target = Path("/sys/unetseg-labels.ome.zarr")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        target = folder / "labels.ome.zarr"
    sentence = assert_cli_refused(capsys, "predict", image_file, "-o", target, match="Cannot ")
    assert "Errno" not in sentence and str(target) in sentence
    assert not target.exists()
    raw = OSError(errno.EROFS, "Read-only file system", "/data/x.zarr/labels")
    said = "Cannot write '/data/x.zarr/labels': read-only file system."
    assert os_error_sentence(raw) == user_message(raw) == said


@case(
    "files/full-disk-labels",
    "CLI",
    "`predict` when the disk fills while the label TIFF is written, output already there",
    "refused: cannot write (file too large); the existing output unchanged, no temp file left",
)
def test_full_disk_while_writing_labels(capsys, tmp_path, image_file, existing):
    before = snapshot(existing)
    with full_disk():
        sentence = assert_cli_refused(capsys, "predict", image_file, "-o", existing)
    assert "Cannot write" in sentence and str(existing) in sentence
    assert_untouched(before)
    assert not leftovers(tmp_path)


@case(
    "files/full-disk-model",
    "CLI",
    "`train` when the disk fills while the model file is written, model already there",
    "refused: cannot write; the existing model unchanged, no temp file left",
)
def test_full_disk_while_writing_model(capsys, tmp_path, image_file):
    labels = tmp_path / "lab.tif"
    lab = np.zeros((48, 48), np.uint8)
    lab[:3], lab[20:26, 20:26] = 1, 2
    tifffile.imwrite(labels, lab)
    model = tmp_path / "model.pt"
    model.write_bytes(b"the user's model")
    before = snapshot(model)
    with full_disk(limit=4096):
        sentence = assert_cli_refused(
            capsys,
            "train",
            "-i",
            image_file,
            "-l",
            labels,
            "-o",
            model,
            "--steps",
            "1",
            "--val-fraction",
            "0",
            "--device",
            "cpu",
            "--overwrite",
        )
    assert "Cannot write" in sentence
    assert_untouched(before)
    assert not leftovers(tmp_path)


@case(
    "files/existing-output",
    "CLI",
    "`predict -o labels.tif` where labels.tif exists, good input",
    "the file is replaced (atomically) by the new labels",
    refused=False,
)
def test_existing_output_is_replaced(capsys, image_file, existing):
    rc, _, err = run_cli(capsys, "predict", image_file, "-o", existing)
    assert rc == 0, err
    assert tifffile.imread(existing).shape == (48, 48)


@case(
    "files/several-inputs-one-tiff",
    "CLI",
    "`predict a.tif b.tif -o one.tif`",
    "refused: --output must be a folder",
)
def test_several_inputs_one_output(capsys, image_file, existing):
    before = snapshot(existing)
    other = Path(image_file).with_name("b.tif")  # one file named twice is one input
    other.write_bytes(Path(image_file).read_bytes())
    assert_cli_refused(
        capsys, "predict", image_file, other, "-o", existing, match="must be a folder"
    )
    assert_untouched(before)


@case(
    "files/model-output-not-pt",
    "CLI",
    "`train -o model.tif` (not a .pt file)",
    "refused before training",
)
def test_model_output_suffix(capsys, tmp_path, image_file):
    assert_cli_refused(
        capsys,
        "train",
        "-i",
        image_file,
        "-l",
        image_file,
        "-o",
        tmp_path / "m.tif",
        match="must be a model file ending in .pt",
    )


@case(
    "files/csv-target-folder",
    "CLI",
    "`evaluate --csv scores/` where scores/ is a folder",
    "refused: it is a folder; the folder unchanged",
)
def test_csv_target_is_folder(capsys, tmp_path):
    truth = synthetic_nuclei((32, 32), seed=6)[1]
    tifffile.imwrite(tmp_path / "gt.tif", truth)
    tifffile.imwrite(tmp_path / "p.tif", truth)
    folder = tmp_path / "scores.csv"
    folder.mkdir()
    before = snapshot(folder)
    assert_cli_refused(
        capsys,
        "evaluate",
        "-p",
        tmp_path / "p.tif",
        "-g",
        tmp_path / "gt.tif",
        "--csv",
        folder,
        match="is a folder",
    )
    assert_untouched(before)


# -- napari's reader and writer ----------------------------------------------------------------
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            k,
            marks=case(
                f"files/reader-{k}",
                "napari I/O",
                f"napari opens a {k} file named .tif",
                "no exception into napari: one warning notification, no layer",
            ),
        )
        for k in ("corrupt", "truncated", "text")
    ],
)
def test_reader_never_raises(tmp_path, warnings_shown, kind):
    path = _damaged(kind, tmp_path)
    reader = _reader.napari_get_reader(str(path))
    layers = reader(str(path)) if reader is not None else None
    assert layers is None
    assert len(warnings_shown) == 1
    assert_one_sentence(warnings_shown[0], "not a readable TIFF")


@case(
    "files/writer-negative-labels",
    "napari I/O",
    "saving a Labels layer holding -1 over an existing file",
    "refused: labels must be non-negative; the file unchanged",
)
def test_writer_negative_labels(existing):
    before = snapshot(existing)
    with pytest.raises(_writer.LabelsNotWritten) as info:
        _writer.write_labels(str(existing), np.full((8, 8), -1, np.int32), {})
    assert_one_sentence(str(info.value), "non-negative")
    assert_untouched(before)


@case(
    "files/writer-target-folder",
    "napari I/O",
    "saving a Labels layer to a path that is a folder",
    "refused: it is a folder; the folder unchanged",
)
def test_writer_target_is_folder(tmp_path):
    target = tmp_path / "seg.tif"
    target.mkdir()
    before = snapshot(target)
    with pytest.raises(OSError) as info:
        _writer.write_labels(str(target), np.ones((8, 8), np.uint8), {})
    assert_one_sentence(str(info.value), "is a folder")
    assert_untouched(before)


def _damaged_zarr(folder: Path) -> Path:
    """An OME-Zarr image (NGFF 0.4) of 2 x 2 chunks whose last holds garbage instead of
    zstd data."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    store = folder / "damaged.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    image = synthetic_nuclei((64, 64), seed=2)[0]
    write_image(
        image, group, axes="yx", fmt=FormatV04(), scale_factors=(),
        storage_options={"chunks": (32, 32)},
    )  # fmt: skip
    chunks = sorted(f for f in store.rglob("*") if f.is_file() and not f.name.startswith("."))
    chunks[-1].write_bytes(b"not zstd data")  # s0/1/1
    return store


@pytest.mark.parametrize(
    "output, what",
    [
        pytest.param(
            o,
            w,
            marks=case(
                f"files/damaged-zarr-chunk-{o}",
                "CLI",
                f"`predict` on an OME-Zarr image with one damaged chunk, {w}",
                "refused: the store's array cannot be read, its chunk 1, 1 is damaged "
                "(named with its file and the reason; it said 'a chunk'); nothing written",
            ),
        )
        for o, w in [("tiff", "TIFF output"), ("zarr", "OME-Zarr output (block by block)")]
    ],
)
def test_damaged_zarr_chunk_cli(capsys, tmp_path, output, what):
    src = _damaged_zarr(tmp_path)
    out = tmp_path / ("labels" if output == "tiff" else "labels.ome.zarr")
    before = snapshot(src)
    assert_cli_refused(capsys, "predict", src, "-o", out, "--model", "nuclei-2d",
                       match=r"chunk 1, 1 \(file '.*s0.1.1'\) is damaged")  # fmt: skip
    assert_untouched(before)
    assert not out.exists() or not any(out.iterdir())


def _empty_zarr(folder: Path) -> Path:
    """An OME-Zarr image (NGFF 0.4) with an axis of length 0."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    store = folder / "empty.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(np.zeros((8, 64), np.uint8), group, axes="yx", fmt=FormatV04(), scale_factors=())
    group["s0"].resize((0, 64))  # (ome-zarr-py writes no empty image)
    return store


@pytest.mark.parametrize(
    "kind, said",
    [
        pytest.param(
            k,
            said,
            marks=case(
                f"files/reader-zarr-{k}",
                "napari I/O",
                f"napari opens an OME-Zarr image {what}",
                "no exception into napari: one warning notification, no layer",
            ),
        )
        for k, what, said in [
            ("damaged", "with one damaged chunk", r"chunk 1, 1 \(file .*\) is damaged"),
            ("empty", "with an axis of length 0", "holds an empty image"),
        ]
    ],
)
def test_zarr_reader_never_raises(tmp_path, warnings_shown, kind, said):
    """A damaged chunk raised a traceback out of napari's first draw, an empty axis one
    out of napari's range of the data (zarr bug bash)."""
    path = str((_damaged_zarr if kind == "damaged" else _empty_zarr)(tmp_path))
    reader = _reader.napari_get_zarr_reader(path)
    assert reader is not None and reader(path) is None
    assert len(warnings_shown) == 1
    assert_one_sentence(warnings_shown[0], said)


@pytest.mark.parametrize(
    "kind, said",
    [
        pytest.param(
            k,
            said,
            marks=case(
                f"files/zarr-{k}",
                "CLI",
                f"`info` on an OME-Zarr store {what}",
                f"refused: {how}",
            ),
        )
        for k, what, how, said in [
            ("damaged-metadata", "whose .zattrs was cut short",
             "the store's metadata file is damaged (with the reason)", "metadata file .zattrs "
             "is damaged"),
            ("unfinished", "left by a block run stopped midway",
             "labels napari-unetseg did not finish; --resume finishes them",
             "the same unetseg predict command with --resume finishes them"),
        ]
    ],
)  # fmt: skip
def test_damaged_or_unfinished_zarr_store_cli(capsys, tmp_path, kind, said):
    """Both said "not a zarr store" / "not an OME-Zarr image" (zarr bug bash)."""
    from napari_unetseg import distributed as dist

    if kind == "damaged-metadata":
        store = _damaged_zarr(tmp_path)
        (store / ".zattrs").write_text((store / ".zattrs").read_text()[:20])
    else:
        store = tmp_path / "labels.ome.zarr"
        src = tmp_path / "img.tif"
        tifffile.imwrite(src, synthetic_nuclei((160, 96), seed=2)[0])
        run = dist.predict_blocks_iter(src, "nuclei-2d", store, block_size=64, object_size=None)
        next(run)
        run.close()
    assert_cli_refused(capsys, "info", store, match=said)


@case(
    "files/damaged-nifti",
    "CLI",
    "`predict` on a damaged .nii.gz (a gzip header, then garbage), output file already there",
    "refused: not a readable NIfTI file (with the reason); output unchanged",
)
def test_damaged_nifti_cli(capsys, tmp_path, existing):
    before = snapshot(existing)
    src = tmp_path / "scan.nii.gz"
    src.write_bytes(b"\x1f\x8b\x08 a gzip header, then nothing a NIfTI reader can use")
    assert_cli_refused(capsys, "predict", src, "-o", existing, match="not a readable NIfTI")
    assert_untouched(before)


@case(
    "files/csv-target-is-input",
    "CLI",
    "`evaluate --csv p.tif` naming the prediction it reads (or a TIFF that is not a table)",
    "refused: it is an input / not a table file; both files unchanged",
)
def test_csv_target_is_an_input(capsys, tmp_path, image_file):
    truth = synthetic_nuclei((32, 32), seed=6)[1]
    tifffile.imwrite(tmp_path / "gt.tif", truth)
    tifffile.imwrite(tmp_path / "p.tif", truth)
    before = snapshot(tmp_path / "p.tif", image_file)
    base = ["evaluate", "-p", tmp_path / "p.tif", "-g", tmp_path / "gt.tif", "--csv"]
    assert_cli_refused(capsys, *base, tmp_path / "p.tif", match="is an input")
    assert_cli_refused(capsys, *base, image_file, match="not a table file")
    assert_untouched(before)


@case(
    "files/overwrite-foreign-zarr",
    "CLI",
    "`predict -o image.ome.zarr --overwrite` naming an OME-Zarr image napari-unetseg did "
    "not write",
    "refused: it was not written by napari-unetseg; the store unchanged",
)
def test_overwrite_refuses_a_store_we_did_not_write(capsys, tmp_path, image_file):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    store = tmp_path / "raw.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(synthetic_nuclei((32, 32), seed=3)[0], group, axes="yx", fmt=FormatV04())
    before = snapshot(*sorted(p for p in store.rglob("*") if p.is_file()))
    assert_cli_refused(
        capsys,
        "predict",
        image_file,
        "-o",
        store,
        "--overwrite",
        match="not written by napari-unetseg",
    )
    assert_untouched(before)


@case(
    "files/pixel-size-not-a-size",
    "CLI",
    "`predict` on an OME-TIFF stack whose PhysicalSizeX is 0, -0.5 or NaN",
    "a warning; the stack is read without pixel sizes and segmented",
    refused=False,
)
@pytest.mark.parametrize("size", [0.0, -0.5, float("nan")])
def test_pixel_size_that_is_not_a_size(capsys, tmp_path, size):
    src, out = tmp_path / "stack.ome.tif", tmp_path / "stack_labels.tif"
    stack = synthetic_nuclei((8, 48, 48), seed=5)[0]
    meta = {"axes": "ZYX", "PhysicalSizeX": size, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.0}
    tifffile.imwrite(src, stack, ome=True, metadata=meta)
    from napari_unetseg._io import read_image

    with pytest.warns(UserWarning, match=r"pixel size of \S+ µm along X, which is not a size"):
        image = read_image(src)
    assert image.scale == (1.0, 1.0, 1.0) and image.units is None
    rc, _, err = run_cli(capsys, "predict", src, "-o", out)
    assert rc == 0, err
    assert "which is not a size; the image is read without pixel sizes" in err
    assert tifffile.imread(out).shape == stack.shape


@case(
    "files/other-format",
    "CLI",
    "`predict` on a file of a format we do not read (a .czi), output file already there",
    "refused in one sentence listing what is read and how to convert; output unchanged",
)
def test_other_format_refused(capsys, tmp_path, existing):
    src = tmp_path / "scan.czi"
    src.write_bytes(b"ZISRAWFILE" + bytes(200))
    before = snapshot(existing)
    assert_cli_refused(
        capsys, "predict", src, "-o", existing, match="is not a file napari-unetseg reads"
    )
    assert_untouched(before)


@case(
    "files/gif-webp",
    "CLI",
    "`predict` on a GIF or a WebP plane",
    "read as a plane (they were 'not a readable TIFF') and segmented",
    refused=False,
)
@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_gif_and_webp_planes(capsys, tmp_path, suffix):
    import imageio.v3 as iio

    plane = synthetic_nuclei((48, 48), seed=5)[0]
    src = tmp_path / f"plane{suffix}"
    iio.imwrite(src, (plane / plane.max() * 255).astype(np.uint8))
    out = tmp_path / "plane_labels.tif"
    rc, _, err = run_cli(capsys, "predict", src, "-o", out)
    assert rc == 0, err
    assert tifffile.imread(out).shape == (48, 48)


def _raw_zarr_image(folder: Path) -> Path:
    """An OME-Zarr image written by ome-zarr-py (not by napari-unetseg), with labels of its
    own under ``labels/nuclei``."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image, write_labels

    store = folder / "raw.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    image, truth = synthetic_nuclei((32, 32), seed=3)
    write_image(image, group, axes="yx", fmt=FormatV04())
    write_labels((truth > 0).astype(np.uint8), group, name="nuclei", axes="yx", fmt=FormatV04())
    return store


@case(
    "files/writer-zarr-foreign-labels",
    "napari I/O",
    "saving a Labels layer named 'nuclei' into an OME-Zarr image whose labels/nuclei "
    "another program wrote",
    "refused: not written by napari-unetseg; the store unchanged, nothing left over",
)
def test_writer_zarr_keeps_labels_it_did_not_write(tmp_path):
    store = _raw_zarr_image(tmp_path)
    before = snapshot(*sorted(p for p in store.rglob("*") if p.is_file()))
    with pytest.raises(_writer.LabelsNotWritten) as info:
        _writer.write_labels(str(store), np.ones((32, 32), np.uint8), {"name": "nuclei"})
    assert_one_sentence(str(info.value), "not written by napari-unetseg")
    assert_untouched(before)
    assert sorted(p.name for p in (store / "labels").iterdir() if p.is_dir()) == ["nuclei"]


@pytest.mark.parametrize(
    "what",
    [
        pytest.param(
            w,
            marks=case(
                f"files/writer-zarr-{w}",
                "napari I/O",
                {
                    "not-an-image": "saving a Labels layer to a .zarr folder that holds a "
                    "zarr array, not an OME-Zarr image",
                    "fractional": "saving a Labels layer of values 0.5 into an OME-Zarr image",
                }[w],
                {
                    "not-an-image": "refused: not an OME-Zarr image it can add labels to; "
                    "the folder unchanged",
                    "fractional": "refused: labels must be whole numbers; the image "
                    "unchanged, no partial labels group left",
                }[w],
            ),
        )
        for w in ("not-an-image", "fractional")
    ],
)
def test_writer_zarr_refusals_leave_the_store_as_it_was(tmp_path, what):
    import zarr

    if what == "not-an-image":
        store = tmp_path / "plain.zarr"
        zarr.open_array(str(store), mode="w", shape=(8, 8), dtype="u1", zarr_format=2)[:] = 7
        labels, match = np.ones((8, 8), np.uint8), "not an OME-Zarr image"
    else:
        store = _raw_zarr_image(tmp_path)
        labels, match = np.full((32, 32), 0.5), "whole numbers"
    before = snapshot(*sorted(p for p in store.rglob("*") if p.is_file()))
    folders = sorted(p.relative_to(store) for p in store.rglob("*") if p.is_dir())
    with pytest.raises(_writer.LabelsNotWritten) as info:
        _writer.write_labels(str(store), labels, {"name": "mask"})
    assert_one_sentence(str(info.value), match)
    assert_untouched(before)
    assert sorted(p.relative_to(store) for p in store.rglob("*") if p.is_dir()) == folders


@case(
    "files/ome-planes-disagree",
    "CLI",
    "`predict` on an OME-TIFF whose SizeZ counts 9 planes in a file of 8 pages (an acquisition "
    "stopped early)",
    "a warning, once, that the metadata counts 9 planes and the pages hold the first 8; "
    "the 8 segmented (the missing plane was read as zeros and segmented, the warning said "
    "twice)",
    refused=False,
)
def test_ome_planes_that_disagree_with_the_pages(capsys, tmp_path):
    src, out = tmp_path / "stack.ome.tif", tmp_path / "stack_labels.tif"
    stack = synthetic_nuclei((8, 48, 48), seed=5)[0]
    tifffile.imwrite(src, stack, ome=True, metadata={"axes": "ZYX"})
    src.write_bytes(src.read_bytes().replace(b'SizeZ="8"', b'SizeZ="9"'))
    rc, _, err = run_cli(capsys, "predict", src, "-o", out)
    assert rc == 0, err
    said = "counts 9 planes along its Z axis, but its pages hold the first 8 only"
    assert err.count(said) == 1 and "read as zeros" not in err
    assert tifffile.imread(out).shape == (8, 48, 48)


@case(
    "files/ome-channels-disagree",
    "CLI",
    "an OME-TIFF whose SizeC counts 3 channels in a file of 2 pages: `info`, the reader, "
    "`predict --channel 2`",
    "2 channels read (the made-up third, zeros, was offered to --channel and segmented); "
    "said once",
)
def test_ome_channels_missing_at_the_end_are_left_out(capsys, tmp_path):
    src = tmp_path / "two.ome.tif"
    planes = np.stack([synthetic_nuclei((48, 48), seed=s)[0] for s in (1, 2)])
    tifffile.imwrite(
        src, planes, ome=True, metadata={"axes": "CYX", "Channel": {"Name": ["a", "b"]}}
    )
    with tifffile.TiffFile(src) as tif:
        xml = tif.pages[0].description
    extra = '<Channel ID="Channel:0:2" Name="c" SamplesPerPixel="1" /></Pixels>'
    xml = xml.replace('SizeC="2"', 'SizeC="3"').replace("</Pixels>", extra)
    tifffile.imwrite(src, planes, description=xml, metadata=None)
    for lazy in (False, True):
        with pytest.warns(UserWarning, match="pages hold the first 2 only") as said:
            img = _io.read_image(src, lazy=lazy)
        assert len([w for w in said if issubclass(w.category, UserWarning)]) == 1
        assert img.data.shape == (2, 48, 48) and img.channel_axis == 0
        np.testing.assert_array_equal(np.asarray(img.data), planes)
        assert list(img.channel_names) == ["a", "b"]
    rc, _, err = run_cli(capsys, "predict", src, "--channel", "2", "-o", tmp_path / "o.tif")
    assert rc == 1 and "there is no channel 2" in err
    assert err.count("counts 3 planes along its channel axis") == 1


@case(
    "files/imagej-unit-not-a-length",
    "napari I/O",
    "opening an ImageJ TIFF whose unit is 'Pixel' or 'a.u.' in napari",
    "opened without pixel sizes (napari's units refused the unit: a traceback)",
    refused=False,
)
@pytest.mark.parametrize("unit", ["Pixel", "a.u."])
def test_imagej_unit_that_is_no_length(tmp_path, unit):
    src = tmp_path / "ij.tif"
    stack = synthetic_nuclei((4, 32, 32), seed=5)[0]
    ij = {"axes": "ZYX", "spacing": 3, "unit": unit}
    tifffile.imwrite(src, stack, imagej=True, resolution=(2, 2), metadata=ij)
    [(data, meta, kind)] = _reader.napari_get_reader(str(src))(str(src))
    assert kind == "image" and tuple(meta["scale"]) == (1.0, 1.0, 1.0)
    from napari.layers import Image

    Image(data, **meta)  # napari takes the layer's units
