"""The curve's data across continued runs and the status texts of a run (no Qt)."""

from __future__ import annotations

from napari_unetseg._qt.finetune.curve import LOSS_SMOOTHING, Curve
from napari_unetseg._qt.finetune.job import progress_text, result_text
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.training import TrainProgress


def _record(step: int, loss=None, val=None, val_loss=None, **kw) -> TrainProgress:
    fields = {"best_val_dice": None, "lr": 1e-3, "elapsed": 0.0, "time_limit": None, **kw}
    return TrainProgress(step, 10, loss, val_loss, val, **fields)


def test_curve_smooths_and_continues_across_runs() -> None:
    curve = Curve()
    assert not curve.add(_record(0))  # nothing to plot yet
    assert curve.add(_record(1, loss=1.0)) and curve.add(_record(2, loss=0.0, val=0.5))
    assert curve.smooth == [1.0, 1.0 - LOSS_SMOOTHING]
    assert curve.dice_step == [2] and curve.val_loss == []
    assert curve.add(_record(4, val=1.0, val_loss=0.2))  # validation only
    assert curve.dice_step == [2, 4] and (curve.val_loss_step, curve.val_loss) == ([4], [0.2])
    curve.start_run(continued=True)
    curve.add(_record(1, loss=0.5))
    assert curve.loss_step == [1, 2, 5] and curve.runs == [4]
    assert curve.planned == 4 + 10  # a step budget: the axis spans the run from the start
    curve.add(_record(2, loss=0.4, time_limit=90.0))
    assert curve.planned is None  # a time budget: the axis grows as the run goes
    curve.start_run(continued=False)
    assert curve.loss == [] and curve.runs == []


def test_progress_and_result_texts() -> None:
    rec = _record(3, loss=0.25, best_val_dice=0.8, elapsed=12.0, time_limit=60.0)
    assert progress_text(rec) == "Step 3 · loss 0.250 · best validation Dice 0.800 (12 / 60 s)"
    assert progress_text(_record(3)).endswith("(3 / 10 steps)")
    scribbles = _record(5, loss=0.1, best_val_dice=1.0, best_val_loss=0.037)
    assert progress_text(scribbles).startswith(
        "Step 5 · loss 0.100 · held-out strokes: best loss 0.037, Dice 1.000"
    )
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.history = {"steps": 30, "duration_s": 9.6, "best_val_dice": 0.91, "best_step": 20}
    text, note = result_text(bundle, "mine")
    assert text.startswith("Training done: 'mine' (30 steps in 10 s, best validation Dice 0.91")
    assert "ready" in note
    bundle.history["teacher"] = "random forest"  # a forest labelled every pixel first
    assert result_text(bundle, "mine")[0].startswith(
        "Training done: 'mine' (30 steps in 10 s on a random forest's labels of your strokes, "
        "best validation Dice 0.91"
    )
    bundle.history["steps"] = 1  # stopped right after the first step
    assert "(1 step in 10 s on" in result_text(bundle, "mine")[0]


def test_result_text_says_when_fine_tuning_kept_the_start() -> None:
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    history = {"steps": 30, "duration_s": 9.6, "best_val_dice": 1.0, "best_val_loss": 0.01}
    history.update(weights="best by validation", selected_by="validation loss")
    bundle.history = {**history, "best_step": 0, "kept_start": True, "previous": {"x": 1}}
    text, _ = result_text(bundle, "mine")
    assert "best validation loss 0.010 at step 0" in text
    assert text.endswith(
        "No step did better on the held-out strokes than the model training "
        "started from, so its weights are kept: paint where it is wrong and "
        "train again."
    )
    bundle.history = {**history, "best_step": 20, "kept_start": False, "previous": {"x": 1}}
    assert "No step did better" not in result_text(bundle, "mine")[0]


def test_result_text_of_averaged_weights() -> None:
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.history = {
        "steps": 40,
        "duration_s": 5.0,
        "best_val_dice": 0.9,
        "best_step": 40,
        "weights": "mean of 4 weights (steps 25-40), batch-norm statistics of 32 batches",
    }
    text, _ = result_text(bundle, "mine")
    assert "validation Dice 0.90 of the mean of 4 weights (steps 25-40))" in text


def test_result_text_names_a_folded_threshold() -> None:
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    history = {"steps": 40, "duration_s": 5.0, "best_val_dice": 0.93, "best_step": 30}
    bundle.history = {**history, "threshold": {"threshold": 0.72, "label_dice": 0.97}}
    text, _ = result_text(bundle, "mine")
    assert "best validation Dice 0.93 at step 30, threshold 0.72)" in text
    bundle.history = {**history, "threshold": {"threshold": 0.5, "label_dice": 0.97}}
    assert "threshold" not in result_text(bundle, "mine")[0]


def test_result_text_of_weights_chosen_by_the_held_out_loss() -> None:
    """Scribbles: Dice on interior strokes reads 1.00 for most of a run, so the text says
    the held-out loss that chose the weights, with the Dice."""
    bundle = ModelBundle.create(spatial_dims=2, depth=2, base_channels=4)
    bundle.history = {
        "steps": 34,
        "duration_s": 31.0,
        "best_val_dice": 1.0,
        "best_val_loss": 0.1234,
        "best_step": 24,
        "selected_by": "validation loss",
        "weights": "best by validation",
    }
    text, _ = result_text(bundle, "mine")
    assert (
        "(34 steps in 31 s, best validation loss 0.123 at step 24, Dice 1.00 of the held-out strokes)"
        in text
    )
