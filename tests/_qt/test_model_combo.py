"""The model chooser's context menu: a session model can be forgotten, freeing it."""

from __future__ import annotations

import gc
import weakref

import pytest

from napari_unetseg.core import registry as registry_module
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.registry import ModelRegistry


@pytest.fixture
def own_registry(monkeypatch, tmp_path):
    """A registry of the test's own (shipped models, an empty saved folder) behind the
    chooser, so that forgotten names stay in this test."""
    fresh = ModelRegistry(saved_dir=tmp_path / "saved")
    monkeypatch.setattr(registry_module, "REGISTRY", fresh)
    return fresh


def _tiny() -> ModelBundle:
    return ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)


def test_forget_drops_a_session_model_and_frees_it(qtbot, own_registry):
    from napari_unetseg._qt.model_combo import ModelComboBox

    bundle = _tiny()
    name = own_registry.register(bundle, "cells-finetuned")
    combo = ModelComboBox()
    qtbot.addWidget(combo)
    combo.set_model_name(name)
    tip = combo.itemData(combo.currentIndex(), 3)  # Qt.ToolTipRole
    assert "right-click" in tip and "forget" in tip
    [action] = combo.context_menu().actions()
    assert action.isEnabled() and "Forget 'cells-finetuned'" in action.text()
    gone = weakref.ref(bundle)
    del bundle
    action.trigger()
    assert name not in own_registry.session()
    assert combo.findText(name) < 0 and combo.model_name() == "nuclei-2d"
    gc.collect()
    assert gone() is None  # nothing else held it: its memory is free
    # the name is not given to the next model: "cells-finetuned" meant the forgotten one
    assert own_registry.register(_tiny(), "cells-finetuned") == "cells-finetuned (2)"


def test_shipped_models_cannot_be_forgotten(qtbot, own_registry):
    from napari_unetseg._qt.model_combo import ModelComboBox

    combo = ModelComboBox()
    qtbot.addWidget(combo)
    combo.set_model_name("nuclei-3d")
    [action] = combo.context_menu().actions()
    assert not action.isEnabled() and "only models of this session" in action.text()
    assert "right-click" not in (combo.itemData(combo.currentIndex(), 3) or "")


def test_forgetting_the_fine_tune_result_frees_it_there_too(make_napari_viewer, qtbot):
    """The Fine-tune dock held its last result after a chooser forgot it: the menu said
    "frees its memory", the model stayed, and the dock still offered to save it
    (review)."""
    import numpy as np

    from napari_unetseg._qt.finetune.job import TrainResult
    from napari_unetseg.core.registry import REGISTRY

    viewer = make_napari_viewer()
    _, segment = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    _, finetune = viewer.window.add_plugin_dock_widget("napari-unetseg", "Fine-tune")
    bundle = _tiny()
    bundle.history["steps"] = 5
    strokes = viewer.add_labels(np.zeros((16, 16), np.uint8), name="strokes")
    finetune._on_result(strokes, TrainResult(bundle))  # as the run's worker hands it back
    name = finetune.trained_name
    assert finetune.result_panel.save_button.isEnabled()
    segment.model_combo.set_model_name(name)
    gone = weakref.ref(bundle)
    del bundle
    [action] = segment.model_combo.context_menu().actions()
    action.trigger()
    gc.collect()
    assert name not in REGISTRY.session() and gone() is None
    assert finetune.trained is None and not finetune.result_panel.save_button.isEnabled()
    assert f"{name!r} was forgotten: train again" in finetune.status.text()
