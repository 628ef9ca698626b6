"""Bad-input matrix: model files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from reliability_matrix import (
    assert_api_refused,
    assert_cli_refused,
    assert_untouched,
    case,
    earlier_result,
    flip_bytes_inside,
    run_cli,
    snapshot,
)

from napari_unetseg import api
from napari_unetseg.core.bundle import ModelBundle, ModelFileError
from napari_unetseg.core.registry import user_models_dir


class _Touch:
    """Unpickling this creates a file: a stand-in for any code a pickle could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).save(path)
    return path


@pytest.fixture
def image_file(tmp_path) -> Path:
    from napari_unetseg.core.synthetic import synthetic_nuclei

    path = tmp_path / "img.tif"
    tifffile.imwrite(path, synthetic_nuclei((48, 48), seed=2)[0])
    return path


def _predict_refused(capsys, image_file, model, match):
    out = earlier_result(image_file.with_name("labels.tif"))
    before = snapshot(out)
    assert_cli_refused(capsys, "predict", image_file, "-m", model, "-o", out, match=match)
    assert_untouched(before)


@case(
    "models/code-running-pickle",
    "CLI",
    "`predict --model evil.pt`, a pickle that creates a file when unpickled",
    "refused (it would run code); the file is not created, the output unchanged",
)
def test_code_running_pickle(capsys, tmp_path, image_file):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"config": _Touch(marker)}, evil)
    _predict_refused(capsys, image_file, evil, "would run code")
    assert not marker.exists()


@case(
    "models/raw-pickle",
    "API",
    "`load_model` on a plain pickle (not a torch zip) that runs code",
    "refused in one sentence; the code does not run",
)
def test_raw_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Touch(marker)))
    with pytest.raises(ModelFileError) as info:
        api.load_model(evil)
    assert_api_refused(info, "not a napari-unetseg model file")
    assert not marker.exists()


@case(
    "models/truncated",
    "CLI",
    "`predict` with a model file cut in half",
    "refused: damaged or truncated; output unchanged",
)
def test_truncated_model(capsys, tiny_file, image_file):
    data = tiny_file.read_bytes()
    tiny_file.write_bytes(data[: len(data) // 2])
    _predict_refused(capsys, image_file, tiny_file, "not a napari-unetseg model")


@case(
    "models/damaged-bytes",
    "CLI",
    "`predict` with a model file whose weights have 200 bytes changed (a bad copy)",
    "refused: the checksum of the damaged part does not match; output unchanged",
)
def test_damaged_model_bytes(capsys, tiny_file, image_file):
    # torch checks no checksum: the file loaded and predicted other labels (paths bash)
    part = flip_bytes_inside(tiny_file)
    _predict_refused(capsys, image_file, tiny_file, f"checksum of its part '{part}' does not")


@case(
    "models/newer-format-new-fields",
    "API",
    "`load_model` on a file of a newer format whose fields this version does not know",
    'refused: written by a newer napari-unetseg, please upgrade (not "damaged")',
)
def test_newer_format_with_new_fields(tmp_path, tiny_file):
    fields = {"format_version": 99, "normalization": {"mode": "zscore"}, "tile_size": {"y": 64}}
    _edited_refused(tiny_file, fields, r"newer napari-unetseg \(format 99\); please upgrade")


def _edited_refused(model_file: Path, fields: dict, match: str) -> None:
    """``load_model`` of ``model_file`` with ``fields`` changed: refused, matching."""
    data = torch.load(model_file, weights_only=True)
    data.update(fields)
    torch.save(data, model_file.with_name("edited.pt"))
    with pytest.raises(ModelFileError) as info:
        api.load_model(model_file.with_name("edited.pt"))
    assert_api_refused(info, match)


@case(
    "models/unknown-network-setting",
    "API",
    "`load_model` on a file whose network settings name one this version does not know",
    'refused: names the setting (not Python\'s "unexpected keyword argument")',
)
def test_unknown_network_setting(tiny_file):
    config = {**torch.load(tiny_file, weights_only=True)["config"], "attention": True}
    said = r"network settings this napari-unetseg does not know \(attention\)"
    _edited_refused(tiny_file, {"config": config}, said)


@case(
    "models/empty-file",
    "API",
    "`load_model` on an empty .pt file",
    "refused: not a napari-unetseg model file",
)
def test_empty_model_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    with pytest.raises(ModelFileError) as info:
        api.load_model(path)
    assert_api_refused(info, "not a napari-unetseg model file")


@case(
    "models/text-file",
    "CLI",
    "`predict` with a text file named model.pt",
    "refused: not a napari-unetseg model file",
)
def test_text_model_file(capsys, tmp_path, image_file):
    path = tmp_path / "model.pt"
    path.write_text("hello, I am not a model\n")
    _predict_refused(capsys, image_file, path, "not a napari-unetseg model")


@case(
    "models/foreign-state-dict",
    "API",
    "`load_model` on another network's state dict (plain tensors)",
    "refused: not a napari-unetseg model file, it holds bare PyTorch weights",
)
def test_foreign_state_dict(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)
    with pytest.raises(ModelFileError) as info:
        api.load_model(path)
    assert_api_refused(info, "it holds bare PyTorch weights")


@case(
    "models/foreign-tensor",
    "CLI",
    "`predict` with a .pt file holding one bare tensor",
    "refused: not a napari-unetseg model file",
)
def test_foreign_tensor(capsys, tmp_path, image_file):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    _predict_refused(capsys, image_file, path, "not a napari-unetseg model")


@case(
    "models/weights-mismatch",
    "API",
    "a model file whose weights do not fit its configuration",
    "refused in one sentence",
)
def test_weights_do_not_fit_config(tmp_path, tiny_file):
    data = torch.load(tiny_file, weights_only=True)
    data["config"]["base_channels"] = 8
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    with pytest.raises(ModelFileError) as info:
        api.load_model(path)
    assert_api_refused(info)


@case(
    "models/bad-object-size",
    "CLI",
    "`predict --model bad.pt`, a file whose object size record has a shrink exponent of 3",
    "refused in one sentence naming the field; output unchanged",
)
def test_bad_object_size_record(capsys, tmp_path, tiny_file, image_file):
    data = torch.load(tiny_file, weights_only=True)
    data["object_size"] = {"diameter": 20.0, "shrink_exponent": 3.0}
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    _predict_refused(capsys, image_file, path, "shrink_exponent must be in")


def _nan_weights(data):
    first = next(iter(data["state_dict"]))
    data["state_dict"][first] = torch.full_like(data["state_dict"][first], float("nan"))


_EDITS = {
    "format-version-inf": (lambda d: d.update(format_version=float("inf")), "format_version inf"),
    "nan-weights": (_nan_weights, "weights that are not finite"),
    "unknown-normalization-op": (
        lambda d: d.update(normalization={"mode": "ops", "ops": [{"name": "x"}]}),
        "normalization ops",
    ),
    "percentiles-out-of-range": (
        lambda d: d.update(normalization={"mode": "percentile", "low": 1.0, "high": 200.0}),
        "percentiles 1.0 and 200.0",
    ),
    "fill-holes-text": (lambda d: d.update(fill_holes="no"), "fill_holes 'no'"),
    "tile-size-one-axis": (lambda d: d.update(tile_size=[256]), "is not 2 sizes"),
}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            k,
            marks=case(
                f"models/{k}",
                "CLI",
                f"`predict --model bad.pt`, a model file with {k.replace('-', ' ')}",
                "refused in one sentence naming the field when the file is read (it loaded, "
                "then failed on the image with a traceback or blamed the image); output "
                "unchanged",
            ),
        )
        for k in _EDITS
    ],
)
def test_a_bad_field_is_refused_when_the_model_is_read(
    capsys, tmp_path, tiny_file, image_file, edit
):
    data = torch.load(tiny_file, weights_only=True)
    change, said = _EDITS[edit]
    change(data)
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    _predict_refused(capsys, image_file, path, said)


@case(
    "models/wrong-dims",
    "CLI",
    "`predict` a 2D TIFF with the 3D model",
    "refused: a 3D model needs 3 spatial axes; output unchanged",
)
def test_3d_model_on_2d_image(capsys, image_file):
    _predict_refused(capsys, image_file, "nuclei-3d", "3D model needs at least 3")


@case(
    "models/wrong-channel-count",
    "CLI",
    "`predict` a gray TIFF with a 2-channel model file",
    "refused: no axis has 2 channels; output unchanged",
)
def test_2_channel_model_on_gray(capsys, tmp_path, image_file):
    path = tmp_path / "two.pt"
    ModelBundle.create(spatial_dims=2, in_channels=2, depth=2, base_channels=4).save(path)
    _predict_refused(capsys, image_file, path, "expects 2 input channels")


@case(
    "models/folder",
    "CLI",
    "`predict --model some_folder/`",
    "refused: neither a model name nor a model file",
)
def test_model_is_a_folder(capsys, tmp_path, image_file):
    _predict_refused(capsys, image_file, tmp_path, "neither a model name")


@case(
    "models/unknown-name",
    "CLI",
    "`predict --model nuclei-4d` (no such model)",
    "refused, naming the known models",
)
def test_unknown_model_name(capsys, image_file):
    _predict_refused(capsys, image_file, "nuclei-4d", "known: .*nuclei-2d")


@case(
    "models/fine-tune-from-broken",
    "CLI",
    "`train --from broken.pt`, output model already there",
    "refused before training; the output model unchanged",
)
def test_fine_tune_from_broken(capsys, tmp_path, image_file):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    labels = tmp_path / "lab.tif"
    lab = np.zeros((48, 48), np.uint8)
    lab[:3], lab[20:24] = 1, 2
    tifffile.imwrite(labels, lab)
    out = tmp_path / "out.pt"
    out.write_bytes(b"an existing model")
    before = snapshot(out)
    assert_cli_refused(
        capsys,
        "train",
        "-i",
        image_file,
        "-l",
        labels,
        "-o",
        out,
        "--from",
        broken,
        "--steps",
        "1",
        "--overwrite",
        match="not a napari-unetseg model",
    )
    assert_untouched(before)


@case(
    "models/random-bytes",
    "CLI",
    "`predict --model noise.pt`, random bytes (or an ONNX file named .pt)",
    "refused: it cannot be read as a PyTorch file (not: it would run code); output unchanged",
)
def test_random_bytes_model(capsys, tmp_path, image_file):
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    _predict_refused(capsys, image_file, noise, "cannot be read as a PyTorch file")


@case(
    "models/damaged-saved-model",
    "CLI",
    "a damaged `.pt` file among the saved models: `unetseg models`, then "
    "`predict --model NAME` of it",
    "`models` lists it as unreadable and the others as usual; `predict` is refused in one "
    "sentence, the output unchanged",
)
def test_damaged_saved_model(capsys, image_file):
    folder = user_models_dir()  # this test's own (tests/conftest.py)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.pt").write_bytes(b"half a model")
    ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).save(folder / "fine.pt")
    rc, out, err = run_cli(capsys, "models")
    assert rc == 0 and "Traceback" not in err
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "cannot be read" in rows["broken"] and "cannot be read" not in rows["fine"]
    assert "nuclei-2d" in rows and "2D" in rows["fine"]
    _predict_refused(capsys, image_file, "broken", "broken.pt")
