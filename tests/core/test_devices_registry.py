from __future__ import annotations

import pytest
import torch

from napari_unetseg.core import devices
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.registry import ModelRegistry


def test_devices() -> None:
    assert devices.available_devices()[0] == "cpu"
    assert devices.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert devices.resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="not available on this machine"):
            devices.resolve_device("cuda:3")
    assert devices.autocast_dtype(torch.device("cpu"), "auto") is None
    assert devices.autocast_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        devices.autocast_dtype(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="precision"):
        devices.autocast_dtype(torch.device("cpu"), "int8")
    assert devices.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))


def test_registry_lists_shipped_and_session_models(tmp_path) -> None:
    ModelBundle.create(depth=2, base_channels=4).save(tmp_path / "shipped-a.pt")
    reg = ModelRegistry(tmp_path)
    calls = []
    reg.connect(lambda: calls.append(1))
    assert reg.names() == ["shipped-a"]
    b = ModelBundle.create(depth=2, base_channels=4)
    name = reg.register(b, "shipped-a")
    assert name == "shipped-a (2)" and b.name == name
    assert reg.register(ModelBundle.create(depth=2, base_channels=4), "mine") == "mine"
    assert reg.names() == ["shipped-a", "shipped-a (2)", "mine"]
    assert reg.get("mine").name == "mine" and "mine" in reg
    assert reg.get("shipped-a").spatial_dims == 2
    reg.remove("mine")
    assert "mine" not in reg and len(calls) == 3
    with pytest.raises(KeyError):
        reg.get("nope")


def test_registry_remembers_what_a_session_model_was_trained_on(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    first = reg.register(ModelBundle.create(depth=2, base_channels=4), "m", trained_on="cells")
    reg.register(ModelBundle.create(depth=2, base_channels=4), "other", trained_on="brain")
    second = reg.register(ModelBundle.create(depth=2, base_channels=4), "m", trained_on="cells")
    reg.register(ModelBundle.create(depth=2, base_channels=4), "loaded")  # no image
    assert reg.trained_on("cells") == [first, second] == ["m", "m (2)"]  # oldest first
    assert reg.trained_on("nothing") == []
    reg.remove(second)
    assert reg.trained_on("cells") == ["m"]


def test_training_layout_is_channels_last_where_it_was_measured_faster() -> None:
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda:0"), torch.device("mps")
    bf16 = torch.bfloat16
    assert devices.training_memory_format(cpu, 2, None) is None  # slower on an AVX2 CPU
    assert devices.training_memory_format(cpu, 2, bf16) is torch.channels_last
    assert devices.training_memory_format(cpu, 3, None) is torch.channels_last_3d
    assert devices.training_memory_format(cpu, 3, bf16) is torch.channels_last_3d
    assert devices.training_memory_format(cuda, 2, None) is torch.channels_last
    assert devices.training_memory_format(cuda, 3, bf16) is torch.channels_last_3d
    assert devices.training_memory_format(mps, 2, None) is None  # not measured


def test_saved_models_are_listed_by_every_later_session(tmp_path) -> None:
    """A model saved into the saved-models folder is listed, by its file's name, by a
    registry started afterwards (a later session) pointing at the same folder."""
    shipped, saved = tmp_path / "shipped", tmp_path / "saved"
    shipped.mkdir()
    ModelBundle.create(depth=2, base_channels=4).save(shipped / "nuclei.pt")
    reg = ModelRegistry(shipped, saved_dir=saved)
    assert reg.saved() == {} and reg.names() == ["nuclei"]  # no folder yet: nothing
    calls = []
    reg.connect(lambda: calls.append(1))
    trained = ModelBundle.create(depth=2, base_channels=4, spatial_dims=3)
    name = reg.register(trained, "mine")
    path = reg.save_as(trained)  # under its own name
    assert path == saved / "mine.pt" and path.is_file() and calls == [1, 1]
    assert reg.names() == ["nuclei", "mine"]  # listed once, saved and in this session

    later = ModelRegistry(shipped, saved_dir=lambda: saved)
    assert later.names() == ["nuclei", "mine"] and "mine" in later
    again = later.get("mine")
    assert again.name == "mine" and again.spatial_dims == 3
    assert torch.equal(
        next(iter(again.network.state_dict().values())),
        next(iter(trained.network.state_dict().values())),
    )
    # a new session model does not take a saved model's name
    assert later.register(ModelBundle.create(depth=2, base_channels=4), name) == "mine (2)"
    # saving anew under the name replaces the file
    other = ModelBundle.create(depth=2, base_channels=4, spatial_dims=2)
    later.save_as(other, "mine")
    assert later.get("mine").spatial_dims == 2 and sorted(p.name for p in saved.iterdir()) == [
        "mine.pt"
    ]


def test_saving_refuses_shipped_and_empty_names_and_keeps_the_folder(tmp_path) -> None:
    shipped, saved = tmp_path / "shipped", tmp_path / "saved"
    shipped.mkdir()
    ModelBundle.create(depth=2, base_channels=4).save(shipped / "nuclei.pt")
    reg = ModelRegistry(shipped, saved_dir=saved)
    bundle = ModelBundle.create(depth=2, base_channels=4)
    with pytest.raises(ValueError, match="'nuclei' is a shipped model's name"):
        reg.save_as(bundle, "nuclei")
    with pytest.raises(ValueError, match="cannot name a model file"):
        reg.save_as(bundle, " .. ")
    assert not saved.exists() or not any(saved.iterdir())
    # a saved file named like a shipped model is not listed (the shipped one wins), and
    # the registry names it for `unetseg models` to say so
    saved.mkdir(exist_ok=True)
    bundle.save(saved / "nuclei.pt")
    assert reg.names() == ["nuclei"] and reg.saved() == {}
    assert reg.hidden() == [saved / "nuclei.pt"]
    # names differing only in case are one file on macOS and Windows: refused
    with pytest.raises(
        ValueError, match=r"'Nuclei' is a shipped model's name \('nuclei', in another case\)"
    ):
        reg.save_as(bundle, "Nuclei")
    reg.save_as(bundle, "Cells")
    with pytest.raises(ValueError, match="A saved model 'Cells' exists, and names that differ"):
        reg.save_as(bundle, "cells")
    reg.save_as(bundle, "Cells")  # the same name replaces it
    (saved / "Cells.pt").unlink()
    # an unreadable file is listed, and says so when loaded
    (saved / "broken.pt").write_bytes(b"not a model")
    assert reg.names() == ["nuclei", "broken"]
    with pytest.raises(ValueError):
        reg.get("broken")
    # a registry without a folder keeps nothing
    with pytest.raises(ValueError, match="keeps no saved models"):
        ModelRegistry(shipped, saved_dir=None).save_as(bundle, "x")


def test_a_saved_name_is_the_name_given_or_refused(tmp_path) -> None:
    """Names were changed silently (``lab/cells`` saved as ``lab_cells``, ``cells.pt`` as
    ``cells.pt.pt``, ``''`` as the model's own); the folder was checked only on writing."""
    reg = ModelRegistry(tmp_path / "shipped", saved_dir=tmp_path / "saved")
    bundle = ModelBundle.create(depth=2, base_channels=4)
    assert reg.save_as(bundle, "cells.pt") == tmp_path / "saved" / "cells.pt"
    assert "cells" in reg.saved()
    for bad, match in [
        ("lab/cells", "not a usable model name; .* \\(e.g. 'lab_cells'\\)"),
        ("", "cannot name a model file"),
        ("x" * 300, "300 characters long"),
    ]:
        with pytest.raises(ValueError, match=match):
            reg.save_as(bundle, bad)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="cannot be saved in .* \\(it is a file\\); set NAPARI"):
        ModelRegistry(tmp_path / "shipped", saved_dir=tmp_path / "a_file").saving_path("m")


def _predicts(bundle: ModelBundle) -> torch.Tensor:
    with torch.no_grad():
        return bundle.network.eval()(torch.ones(1, 1, 16, 16))


def test_a_model_loaded_from_a_file_is_read_again_when_the_file_is_written_anew(tmp_path):
    """A model file written anew after it was loaded (trained again to the same path)
    predicted with the copy read before, without a word (model bug bash); a deleted
    file leaves the copy."""
    torch.manual_seed(0)
    first, second = (ModelBundle.create(depth=2, base_channels=4) for _ in range(2))
    path = first.save(tmp_path / "cells.pt")
    reg = ModelRegistry(tmp_path / "shipped", saved_dir=None)
    calls = []
    reg.connect(lambda: calls.append(1))
    name = reg.register(ModelBundle.load(path), "cells", source=path)
    assert reg.source(name) == path and reg.origin(name) == f"Loaded from {path}"
    assert torch.equal(_predicts(reg.get(name)), _predicts(first)) and len(calls) == 1
    import os

    second.save(path)
    os.utime(path, ns=(1, 1))  # another time than the first file's, on any file system
    again = reg.get(name)
    assert again.name == "cells" and torch.equal(_predicts(again), _predicts(second))
    assert reg.get(name) is again and len(calls) == 2  # read once, the widgets told
    path.unlink()
    assert reg.get(name) is again  # the copy in memory
    trained = reg.register(ModelBundle.create(depth=2, base_channels=4), "new")
    assert reg.source(trained) is None and reg.origin(trained).startswith("Trained in this")


def test_saving_under_another_session_models_name_is_refused(tmp_path) -> None:
    """api.save_model(other, "cells") while "cells" named a session model saved the file,
    yet "cells" went on loading the session's model here (model bug bash)."""
    reg = ModelRegistry(tmp_path / "shipped", saved_dir=tmp_path / "saved")
    session = ModelBundle.create(depth=2, base_channels=4)
    name = reg.register(session, "cells")
    with pytest.raises(ValueError, match="^'cells' is the name of another model of this"):
        reg.save_as(ModelBundle.create(depth=2, base_channels=4), "cells")
    assert not (tmp_path / "saved" / "cells.pt").exists()
    assert reg.save_as(session, name) == tmp_path / "saved" / "cells.pt"  # its own name


def test_the_file_a_session_model_was_loaded_from_saves_under_its_name(tmp_path) -> None:
    """api.save_model of the very file a chooser had loaded was refused as "another model
    of this session" (review bash); another file of that name still is."""
    reg = ModelRegistry(tmp_path / "shipped", saved_dir=tmp_path / "saved")
    path = ModelBundle.create(depth=2, base_channels=4).save(tmp_path / "good.pt")
    reg.register(ModelBundle.load(path), "good", source=path)
    assert reg.save_as(ModelBundle.load(path), "good") == tmp_path / "saved" / "good.pt"
    other = ModelBundle.create(depth=2, base_channels=4).save(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="^'good' is the name of another model of this"):
        reg.save_as(ModelBundle.load(other), "good")
