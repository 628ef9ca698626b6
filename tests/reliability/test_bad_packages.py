"""Bad-input matrix: bioimage.io model packages (import and export)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from bioimageio.spec.model import v0_5 as bio
from bioimageio_packages import conv_package
from reliability_matrix import (
    assert_api_refused,
    assert_cli_refused,
    assert_untouched,
    case,
    earlier_result,
    flip_bytes_inside,
    snapshot,
)
from test_bad_models import image_file  # noqa: F401 - the fixture, shared

from napari_unetseg import api
from napari_unetseg.bioimageio import PackageError


def _conv_package(tmp_path: Path, name: str = "pkg", **kwargs) -> Path:
    """A 1x1-convolution package; its test output is its own softmax unless given."""
    return conv_package(tmp_path / name, kwargs.pop("expected", "softmax"), **kwargs)


def _predict_refused(capsys, tmp_path: Path, image: Path, package: Path, match: str) -> None:
    """``predict -m package`` over an existing output: refused, output and package as they were."""
    out = earlier_result(tmp_path / "labels.tif")
    before = snapshot(out, package)
    assert_cli_refused(capsys, "predict", image, "-m", package, "-o", out, match=match)
    assert_untouched(before)


@case(
    "models/package-corrupt-zip",
    "CLI",
    "`predict --model broken.zip`, a bioimage.io package cut short, output already there",
    "refused: the zip file is damaged or truncated; the output unchanged",
)
def test_corrupt_package(capsys, tmp_path, image_file):  # noqa: F811 - the fixture
    broken = tmp_path / "broken.zip"
    broken.write_bytes(_conv_package(tmp_path).read_bytes()[:3000])
    _predict_refused(capsys, tmp_path, image_file, broken, "damaged or truncated")


@case(
    "models/package-damaged-member",
    "CLI",
    "`predict --model pkg.zip`, a bioimage.io package with 200 bytes of its compressed weights changed",
    "refused: the zip file is damaged or truncated (zlib's error escaped as a traceback); the output unchanged",
)
def test_package_with_a_damaged_member(capsys, tmp_path, image_file):  # noqa: F811 - the fixture
    package = _conv_package(tmp_path)
    flip_bytes_inside(package)
    _predict_refused(capsys, tmp_path, image_file, package, "damaged or truncated")


@case(
    "models/package-onnx-only",
    "API",
    "`load_model` on a bioimage.io package with ONNX weights only",
    "refused: names the weight formats it can run (torchscript, its own U-Net's pytorch_state_dict)",
)
def test_package_with_weights_we_cannot_run(tmp_path):
    with pytest.raises(PackageError) as info:
        api.load_model(_conv_package(tmp_path, weights="onnx"))
    assert_api_refused(info, "runs torchscript weights")


@case(
    "models/package-code-running-architecture",
    "API",
    "`load_model` on a third-party package whose pytorch_state_dict architecture file creates a file when imported",
    "refused (its Python source is never run); the file is not created",
)
def test_package_architecture_is_never_imported(tmp_path):
    marker = tmp_path / "pwned"
    path = _conv_package(tmp_path, weights="pytorch_state_dict")
    # A copy of the package whose architecture has a side effect (and a matching hash).
    import hashlib
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        arch = src.read("arch.py")
        bad = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n".encode() + arch
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "arch.py":
                data = bad
            elif item.filename == "rdf.yaml":
                old, new = (hashlib.sha256(b).hexdigest().encode() for b in (arch, bad))
                data = data.replace(old, new)
            dst.writestr(item, data)
    with pytest.raises(PackageError) as info:
        api.load_model(evil)
    assert_api_refused(info, "does not run")
    assert not marker.exists()


@case(
    "models/package-not-scores",
    "API",
    "`load_model` on a package whose output is binarized (a mask, not per-class scores)",
    "refused: its output is post-processed into something other than per-class scores",
)
def test_package_output_not_scores(tmp_path):
    path = _conv_package(
        tmp_path, postprocessing=[bio.BinarizeDescr(kwargs=bio.BinarizeKwargs(threshold=0.5))]
    )
    with pytest.raises(PackageError) as info:
        api.load_model(path)
    assert_api_refused(info, "other than per-class scores")


@case(
    "models/package-sigmoid-channels",
    "API",
    "`load_model` on a package whose two output channels (foreground, boundary) each pass a sigmoid",
    "refused: maps of their own, not classes (their softmax made the foreground background)",
)
def test_package_sigmoid_channels(tmp_path):
    path = conv_package(tmp_path / "fb", "sigmoid", channel_names=["foreground", "boundary"])
    with pytest.raises(PackageError) as info:
        api.load_model(path)
    assert_api_refused(info, "each pass their own sigmoid")


@case(
    "models/package-clip-then-scale",
    "API",
    "`load_model` on a package whose preprocessing scales after a clip",
    "refused as a package error naming the step (it was a bare ValueError at prediction)",
)
def test_package_scaling_after_clip(tmp_path):
    clip = bio.ClipDescr(kwargs=bio.ClipKwargs(min=0.0, max=1.0))
    scale = bio.ScaleLinearDescr(kwargs=bio.ScaleLinearKwargs(gain=2.0, offset=0.5))
    path = _conv_package(tmp_path, preprocessing=[clip, scale])
    with pytest.raises(PackageError) as info:
        api.load_model(path)
    assert_api_refused(info, "comes after 'clip'")


@case(
    "models/package-not-reproducing",
    "API",
    "`load_model` on a package whose test output is not what its test input gives",
    "refused: its test input does not reproduce its test output here",
)
def test_package_not_reproducing(tmp_path):
    wrong = np.random.default_rng(1).random((1, 2, 16, 16), np.float32)
    with pytest.raises(PackageError) as info:
        api.load_model(_conv_package(tmp_path, expected=wrong))
    assert_api_refused(info, "does not reproduce")


@case(
    "models/package-fine-tune-predict-only",
    "CLI",
    "`train --from third_party.zip` (a predict-only TorchScript package), output model already there",
    "refused: imported for prediction only; the output model unchanged",
)
def test_fine_tuning_a_predict_only_package(capsys, tmp_path, image_file):  # noqa: F811
    pkg = _conv_package(tmp_path)
    labels = tmp_path / "labels.tif"
    tifffile.imwrite(labels, np.tile(np.array([[1, 2]], np.uint8), (48, 24)))
    out = tmp_path / "mine.pt"
    out.write_bytes(b"existing model")
    before = snapshot(out)
    assert_cli_refused(
        capsys,
        "train",
        "--image",
        image_file,
        "--labels",
        labels,
        "--from",
        pkg,
        "--output",
        out,
        "--steps",
        "1",
        "--overwrite",
        match="prediction only",
    )
    assert_untouched(before)


@case(
    "models/export-not-zip",
    "CLI",
    "`export nuclei-2d --output model.pt` (a bioimage.io package must be a .zip), file already there",
    "refused: --output must end in .zip; the file unchanged",
)
def test_export_needs_a_zip(capsys, tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"existing model")
    before = snapshot(out)
    assert_cli_refused(capsys, "export", "nuclei-2d", "--output", out, match="must end in .zip")
    assert_untouched(before)


@case(
    "models/package-zip-without-rdf",
    "CLI",
    "`predict --model photos.zip`, a zip that is no bioimage.io package, output already there",
    "refused: it holds no rdf.yaml (a whole sentence, not the spec's cut-off message); "
    "the output unchanged",
)
def test_zip_that_is_no_package(capsys, tmp_path, image_file):  # noqa: F811 - the fixture
    import zipfile

    photos = tmp_path / "photos.zip"
    with zipfile.ZipFile(photos, "w") as z:
        z.writestr("readme.txt", "holiday photos")
    _predict_refused(capsys, tmp_path, image_file, photos, "it holds no rdf.yaml")


@case(
    "models/export-unknown-licence",
    "CLI",
    "`export nuclei-2d --license CC-BY-40 --output model.zip --overwrite`, file already there",
    "refused in one sentence naming the closest SPDX ids (pydantic listed all 700); "
    "the file unchanged",
)
def test_export_unknown_licence(capsys, tmp_path):
    out = tmp_path / "model.zip"
    out.write_bytes(b"existing package")
    before = snapshot(out)
    assert_cli_refused(
        capsys,
        "export",
        "nuclei-2d",
        "--license",
        "CC-BY-40",
        "--output",
        out,
        "--overwrite",
        match=r"'CC-BY-40' is not an SPDX licence id \(closest: CC-BY-4.0",
    )
    assert_untouched(before)


@case(
    "models/export-over-a-file",
    "CLI",
    "`export nuclei-2d --output data.zip` where data.zip is someone's zip of images",
    "refused: it exists, choose another name or pass --overwrite (it was replaced by the "
    "package); the file unchanged",
)
def test_export_over_an_existing_file(capsys, tmp_path):
    out = tmp_path / "data.zip"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("images/a.txt", "holiday photos")
    before = snapshot(out)
    assert_cli_refused(
        capsys, "export", "nuclei-2d", "--output", out, match="exists; choose another name"
    )
    assert_untouched(before)
