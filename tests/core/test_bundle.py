from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from napari_unetseg.core.bundle import ModelBundle, ModelFileError, finetuned_name
from napari_unetseg.core.unet import UNet


def make(**kw) -> ModelBundle:
    torch.manual_seed(0)
    return ModelBundle.create(spatial_dims=2, depth=2, base_channels=4, **kw)


def test_save_load_round_trip_gives_identical_outputs(tmp_path) -> None:
    b = ModelBundle.from_network(
        UNet(2, n_classes=3, depth=2, base_channels=4),
        class_names=["background", "nucleus", "membrane"],
        normalization={"low": 2.0, "high": 98.0},
        tile_size=(128, 128),
        history={"loss": [1.0, 0.5], "label_mode": "sparse", "seed": 3},
        name="mine",
    )
    # non-default BatchNorm statistics must survive the trip too
    b.network.train()
    b.network(torch.randn(4, 1, 16, 16))
    b.network.eval()
    path = b.save(tmp_path / "sub" / "m.pt")
    loaded = ModelBundle.load(path)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(b.network(x), loaded.network(x))
    assert loaded.config == b.config
    assert loaded.class_names == ["background", "nucleus", "membrane"]
    assert loaded.normalization["low"] == 2.0 and loaded.normalization["high"] == 98.0
    assert loaded.tile_size == (128, 128)
    assert loaded.history == {"loss": [1.0, 0.5], "label_mode": "sparse", "seed": 3}
    assert loaded.name == "mine" and not loaded.network.training


def test_defaults_and_properties() -> None:
    b = make()
    assert b.spatial_dims == 2 and b.n_classes == 2 and b.in_channels == 1 and b.divisor == 2
    assert b.class_names == ["background", "class 1"]
    assert b.tile_size == (256, 256)
    assert ModelBundle.create(spatial_dims=3, depth=2, base_channels=4).tile_size == (96, 96, 96)
    assert ModelBundle.create(n_classes=1, depth=2, base_channels=4).class_names == [
        "background",
        "foreground",
    ]
    assert b.summary() == "2D model, 1 input channel; classes: background, class 1"
    assert (
        ModelBundle.create(in_channels=3, depth=2, base_channels=4)
        .summary()
        .startswith("2D model, 3 input channels;")
    )


def test_finetuned_name_does_not_pile_up_suffixes() -> None:
    assert finetuned_name("nuclei-2d") == "nuclei-2d-finetuned"
    assert finetuned_name("nuclei-2d-finetuned") == "nuclei-2d-finetuned"
    assert finetuned_name("nuclei-2d-finetuned (3)") == "nuclei-2d-finetuned"
    assert finetuned_name("mine (2)") == "mine-finetuned"


def test_a_pickle_that_would_run_code_is_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "napari-unetseg-model", "x": Evil()}, f)
    with pytest.raises(ModelFileError, match="not a napari-unetseg model file"):
        ModelBundle.load(path)
    assert not (tmp_path / "pwned").exists()


def test_other_files_are_refused_clearly(tmp_path) -> None:
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelFileError, match="not a napari-unetseg model file"):
        ModelBundle.load(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    # torch.save(net.state_dict()) said nothing of what it held (train bug bash)
    with pytest.raises(ModelFileError, match=r"model file \(it holds bare PyTorch weights"):
        ModelBundle.load(tmp_path / "other.pt")
    torch.save({"epoch": 3}, tmp_path / "checkpoint.pt")
    with pytest.raises(ModelFileError, match=r"not a napari-unetseg model file\.$"):
        ModelBundle.load(tmp_path / "checkpoint.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ModelBundle.load(tmp_path / "missing.pt")
    good = make().save(tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="it is damaged or truncated"):  # (bug bash)
        ModelBundle.load(tmp_path / "truncated.pt")
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(ModelFileError, match="is a folder, not a model file"):
        ModelBundle.load(tmp_path / "folder.pt")
    d = torch.load(good, weights_only=True)
    d["state_dict"].pop(next(iter(d["state_dict"])))
    torch.save(d, tmp_path / "damaged.pt")
    with pytest.raises(ModelFileError, match="damaged"):
        ModelBundle.load(tmp_path / "damaged.pt")


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("class_names", 5, "class_names is 5, not a list"),
        ("class_names", "background,nucleus", "class_names is 'background,nucleus', not a list"),
        ("class_names", ["background", 3], "not only str values"),
        ("history", [1, 2], "history is [1, 2], not a mapping"),
        ("tile_size", [64.5, 64], "not only int values"),
        ("format_version", "v1", "format_version 'v1' is not a whole number"),
        # values no model of ours holds: they failed at predict, or crawled (bug bash)
        ("normalization", {"mode": "bogus"}, "normalization mode 'bogus' is none of"),
        ("tile_size", [0, 0], "tile_size [0, 0] holds sizes under 8 pixels"),
    ],
)
def test_fields_of_other_types_are_a_damaged_file(tmp_path, field, value, said) -> None:
    """A hand-edited file or package record with a field of another type is refused in
    one sentence: `unetseg models` stopped on a TypeError, and class names given as one
    string became one class per letter."""
    data = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).to_dict()
    data[field] = value
    torch.save(data, tmp_path / "edited.pt")
    with pytest.raises(ModelFileError, match="damaged napari-unetseg model file") as caught:
        ModelBundle.load(tmp_path / "edited.pt")
    assert said in str(caught.value)


def _int_weights(data):
    key = next(k for k, t in data["state_dict"].items() if t.is_floating_point())
    data["state_dict"][key] = data["state_dict"][key].long()
    return f"its weights {key} are int64 numbers"


def _negative_variance(data):
    key = next(k for k in data["state_dict"] if k.endswith("running_var"))
    data["state_dict"][key] = -torch.ones_like(data["state_dict"][key])
    return f"its {key} holds negative variances"


def _no_config(data):
    del data["config"]
    return "it has no config entry"


def _depth_as_text(data):
    data["config"]["depth"] = "2"
    return "its network setting depth is '2', not a number"


def _depth_zero(data):
    data["config"]["depth"] = 0
    return "depth must be at least 1, got 0"  # the U-Net's own words (review)


def _depth_as_float(data):
    data["config"]["depth"] = 2.0
    return "its network setting depth is 2.0, not a whole number"


def _config_as_list(data):
    data["config"] = [1, 2]
    return "config is [1, 2], not a mapping"  # AttributeError's traceback (review)


@pytest.mark.parametrize(
    "damage",
    [
        _int_weights,
        _negative_variance,
        _no_config,
        _depth_as_text,
        _depth_zero,
        _depth_as_float,
        _config_as_list,
    ],
)
def test_weights_and_settings_no_training_makes_are_a_damaged_file(tmp_path, damage) -> None:
    """Whole-number weights (torch turned them into floats without a word) and a negative
    variance loaded and labelled everything background; a missing config was said as
    "('config')", a depth of '2' as "'<' not supported between ..." (fuzzing bash)."""
    data = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4).to_dict()
    said = damage(data)
    torch.save(data, tmp_path / "odd.pt")
    with pytest.raises(ModelFileError, match="damaged napari-unetseg model file") as caught:
        ModelBundle.load(tmp_path / "odd.pt")
    assert said in str(caught.value)


def test_save_is_atomic(tmp_path, monkeypatch) -> None:
    path = make().save(tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        make(n_classes=3).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_save_without_replacing_keeps_a_file_made_meanwhile(tmp_path) -> None:
    """Two trainings to one output: the second replaced the first's model at its end
    (the check ran at the start; CLI bug bash). ``replace=False`` never replaces."""
    from napari_unetseg.core.files import atomic_write

    path = tmp_path / "m.pt"

    def while_writing(tmp):
        path.write_bytes(b"another run's model")  # made while this one was written
        torch.save({"x": 1}, tmp)

    with pytest.raises(FileExistsError, match="exists; it is not replaced"):
        atomic_write(path, while_writing, replace=False)
    assert path.read_bytes() == b"another run's model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left
    assert make().save(tmp_path / "new.pt", replace=False).is_file()


def test_normalize_is_the_prediction_transform() -> None:
    b = make()
    img = np.linspace(0, 1000, 64 * 64).reshape(64, 64).astype(np.uint16)
    x = b.normalize(img)
    assert x.dtype == np.float32 and x.shape == img.shape
    lo, hi = np.percentile(img, [1.0, 99.8])
    np.testing.assert_allclose(x, (img - lo) / (hi - lo), rtol=1e-5, atol=1e-5)
    rgb = ModelBundle.create(in_channels=3, depth=2, base_channels=4)
    assert rgb.normalize(np.zeros((8, 8, 3), np.uint8)).shape == (3, 8, 8)


def test_a_model_prints_in_one_line() -> None:
    """print(model) in a notebook gave 120 kB: the network and the training history."""
    from napari_unetseg.core.registry import SHIPPED_DIR

    text = repr(ModelBundle.load(SHIPPED_DIR / "nuclei-2d.pt"))
    assert text.startswith("ModelBundle('nuclei-2d': 2D model, 1 input channel; classes: ")
    assert "\n" not in text and len(text) < 200 and "steps)" in text


def test_weights_that_do_not_fit_the_config_are_one_short_sentence():
    """A config of one depth with the weights of another listed every missing key (800
    characters, bug bash)."""
    data = ModelBundle.create(spatial_dims=2, depth=3, base_channels=4).to_dict()
    data["config"] = dict(data["config"], depth=4)
    with pytest.raises(
        ModelFileError, match=r"damaged napari-unetseg model file \(Missing"
    ) as err:
        ModelBundle.from_dict(data)
    assert len(str(err.value)) < 250


def test_a_file_where_a_folder_should_be_and_a_name_too_long_are_said_so(tmp_path):
    """Export to 'afile/model.zip' said "File exists" and a 300-byte name "[Errno 36] File
    name too long" (bug bash)."""
    from napari_unetseg.core.files import atomic_write

    (tmp_path / "afile").write_text("keep")
    with pytest.raises(NotADirectoryError, match=r"'.*afile' is a file, not a folder\."):
        atomic_write(tmp_path / "afile" / "model.zip", lambda tmp: None)
    with pytest.raises(ValueError, match="is 304 bytes long, more than the 255"):
        atomic_write(tmp_path / ("a" * 300 + ".zip"), lambda tmp: None)
    assert (tmp_path / "afile").read_text() == "keep"


def test_a_full_disk_is_said_so_when_torch_writes(tmp_path, monkeypatch) -> None:
    """torch's writer on a full disk says "[enforce fail at inline_container.cc:672] .
    unexpected pos 7104 vs 7000", which was the whole message (disk bug bash)."""

    def short_write(*a, **k):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . unexpected pos 7104 vs 7000"
        )

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(OSError, match=r"^Cannot write '.*m\.pt': No space left on device\.$"):
        make().save(tmp_path / "m.pt")
    assert not list(tmp_path.iterdir())


def test_a_model_trained_with_dark_and_bright_swapped_keeps_it_in_its_file(tmp_path) -> None:
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=2)
    assert "invert" not in bundle.to_dict()  # files of other models stay as they were
    bundle.invert = True
    assert ModelBundle.load(bundle.save(tmp_path / "dark.pt")).invert is True
    assert bundle.summary().endswith("; dark objects (dark and bright swapped)")
    data = bundle.to_dict()
    data["invert"] = "yes"
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="invert 'yes' is not true or false"):
        ModelBundle.load(tmp_path / "bad.pt")


def test_a_model_of_separate_objects_keeps_its_split_setting(tmp_path, capsys) -> None:
    """Segmenting splits touching objects by default where the model says its objects
    are separate (the shipped nuclei models); its file keeps it, a fine-tuned copy too,
    `unetseg info` says it, and a file without it (every earlier one) reads as no."""
    from napari_unetseg import cli

    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=2)
    assert "split_touching" not in bundle.to_dict() and not bundle.split_touching
    bundle.split_touching = True
    path = bundle.save(tmp_path / "cells.pt")
    assert ModelBundle.load(path).split_touching is True
    assert cli.main(["info", str(path)]) == 0
    assert "touching objects split: yes (by default)" in capsys.readouterr().out
    data = bundle.to_dict()
    data["split_touching"] = "yes"
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="split_touching 'yes' is not true or false"):
        ModelBundle.load(tmp_path / "bad.pt")
