"""The Fine-tune widget's label policy: plain functions, tested without a viewer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from napari_unetseg._qt.finetune import label_policy as lp


def _layer(name: str = "labels", metadata=None, features=None) -> SimpleNamespace:
    features = {} if features is None else features
    return SimpleNamespace(name=name, metadata=metadata or {}, features=features)


def test_guess_mode_from_marker_and_name() -> None:
    assert lp.guess_mode(_layer("anything", {lp.SCRIBBLE_KEY: True})) == "sparse"
    assert lp.guess_mode(_layer("cells ground truth")) == "dense"
    assert lp.guess_mode(_layer("cells [unet]")) == "dense"
    assert lp.guess_mode(_layer("cells [unet 2]")) == "dense"  # a run after painting
    assert lp.guess_mode(_layer("my scribbles")) == "sparse"
    assert lp.guess_mode(_layer("Labels")) is None
    # Segment's labels renamed (or saved and opened again) by their record
    assert lp.guess_mode(_layer("my nuclei", {"unetseg": {"model": "nuclei-2d"}})) == "dense"


def test_feature_rows_without_a_whole_index_or_a_name_are_left_out() -> None:
    """A feature table with an empty cell (a CSV read as NaN) raised "cannot convert
    float NaN to integer" in Fine-tune's counts, threw away a whole training run at its
    end, and failed Validate; a None name became a class called "nan" (labels bash)."""
    import pandas as pd

    from napari_unetseg._qt.validate_job import value_names

    table = pd.DataFrame(
        {
            "index": [0, 1, 2, np.nan, "x", 4.5, 5],
            "name": ["bg", "soil", "root", "a", "b", "c", None],
        }
    )
    layer = _layer(features=table)
    assert lp.named_values(table, "name") == {0: "bg", 1: "soil", 2: "root"}
    huge = pd.DataFrame({"index": np.array([2**53 + 1, 2**63 - 1], np.int64), "name": ["a", "b"]})
    assert lp.named_values(huge, "name") == {2**53 + 1: "a", 2**63 - 1: "b"}  # exact (review)
    assert lp.scribble_names(layer)[lp.OBJECT] == "root"
    assert value_names(layer) == {0: "bg", 1: "soil", 2: "root"}
    dense = _layer(
        features=pd.DataFrame({"index": [0, 1, 2, np.nan], "class": ["bg", "a", "b", None]})
    )
    assert lp.dense_class_names(np.array([0, 1, 2]), dense) == ["bg", "a", "b"]


def test_names_come_from_features_or_the_start_model() -> None:
    layer = _layer(features={"index": [1, 2], "name": ["background", "nucleus"]})
    assert lp.scribble_names(layer)[lp.OBJECT] == "nucleus"
    assert lp.scribble_names(_layer())[lp.OBJECT] == "object"
    assert lp.start_class_names(["background", "nucleus"])[lp.OBJECT] == "nucleus"
    assert lp.start_class_names(["background", "class 1"])[lp.OBJECT] == "object"


def test_merged_class_names_keep_real_names_over_placeholders() -> None:
    # Scribble value v names the model's class v - 1 (value 1 is the background).
    model = ["background", "nucleus"]
    assert lp.merged_class_names(model, {1: "background", 2: "object"}) == model
    assert lp.merged_class_names(["background", "class 1"], {2: "membrane"})[1] == "membrane"
    # A duplicate would make two classes indistinguishable: the model's names stay.
    three = ["background", "a", "b"]
    assert lp.merged_class_names(three, {2: "x", 3: "x"}) == three


def test_value_names_follow_the_start_model() -> None:
    nuclei = {0: "not painted", 1: "background", 2: "nucleus"}
    new = dict(lp.SCRIBBLE_NAMES)
    assert lp.follow_start(nuclei, nuclei, new) == new  # the model's name goes with it
    assert lp.follow_start(new, new, nuclei) == nuclei  # and comes back
    mine = {0: "not painted", 1: "background", 2: "membrane"}  # not the model's: stays
    assert lp.follow_start(mine, nuclei, new) is None
    assert lp.follow_start(new, new, new) is None
    # classes the user named besides: "nucleus" is theirs too (it became "object")
    named = {**nuclei, 3: "cytoplasm", 4: "debris"}
    assert lp.follow_start(named, nuclei, new) is None
    assert lp.follow_start({**nuclei, 3: "class 2"}, nuclei, new)[2] == "object"  # a default


def test_counts_text_names_classes_and_hints() -> None:
    names = lp.SCRIBBLE_NAMES
    sparse = lp.counts_html({0: 90, 1: 4, 2: 6}, "sparse", names, None)
    assert "background (1): 4 px" in sparse and "object (2): 6 px" in sparse
    # more classes: the model's class name, and the value the user paints it with
    three = lp.counts_html({1: 4, 2: 6, 3: 8}, "sparse", names, None)
    assert "class 2 (3): 8 px" in three
    masks = lp.counts_html({v: 3 for v in range(12)}, "sparse", names, None)
    assert "choose 'Dense masks'" in masks  # many ids: probably instance masks
    # one link per value of 102,400 instance ids froze the viewer 7-19 s a stroke, Qt
    # laying out the text (GUI-thread bash): 64 values, the rest summed; fourteen named
    # classes keep every link (review: twelve hid two of them)
    many = lp.counts_html({v: 2 for v in range(1, 102_401)}, "sparse", names, None)
    assert many.count("<a href=") == 8 and "and 102,392 more values (204,784 px)" in many
    # 61 ids of a mask: a few named (the line was 578 px tall, Train far below; UI bash)
    mask = lp.counts_html({v: 5 for v in range(62)}, "sparse", names, None)
    assert mask.count("<a href=") == 8 and "and 53 more values (265 px)" in mask
    assert "choose 'Dense masks'" in many and len(many) < 10_000
    named = {**names, **{v: f"tissue{v}" for v in range(3, 15)}}
    fourteen = lp.counts_html({v: 5 for v in range(1, 15)}, "sparse", named, None)
    assert fourteen.count("<a href=") == 14 and "tissue14 (14): 5 px" in fourteen
    dense = lp.counts_html({0: 90, 3: 5, 7: 5}, "dense", names, "Too few.")
    assert "objects: 10 px (2 label values)" in dense and "Too few." in dense
    # the warning in the theme's colour: the dark theme's orange read 1.85:1 on the
    # light panel (bug bash)
    from napari_unetseg._qt._plots import warning_colour

    assert "color:#e0a030'>Too few." in dense and warning_colour("dark") == "#e0a030"
    light = lp.counts_html({0: 90}, "dense", names, "Too few.", warning_colour("light"))
    assert "color:#8f4e00'>Too few." in light
    assert "ignored" in lp.mode_help("sparse", names)
    assert "every pixel counts" in lp.mode_help("dense", names)


def test_a_new_model_is_named_after_the_scribble_layer() -> None:
    import numpy as np

    strokes = np.array([[0, 1, 2], [3, 3, 0]])
    names = {0: "not painted", 1: "background", 2: "grey matter", 3: "white matter"}
    assert lp.new_model_class_names(strokes, names) == [
        "background",
        "grey matter",
        "white matter",
    ]
    # unnamed values keep the engine's names; without a painted class there is nothing
    assert lp.new_model_class_names(strokes, {2: "grey matter"})[2] == "class 2"
    assert lp.new_model_class_names(np.ones((2, 2), int), names) is None


def test_each_class_has_one_colour_in_strokes_and_preview():
    """The nuclei's orange strokes had green preview outlines, green strokes meant another
    class, and values 7 and up were all one grey (classes bug bash)."""
    for k in range(1, 12):
        assert lp.PREVIEW_COLORS[k] == lp.SCRIBBLE_COLORS[k + 1] == lp.scribble_colour(k + 1)
    many = [lp.colour(lp.scribble_colour(v)) for v in range(1, 13)]
    assert len(set(many)) == 12 and "#cccccc" not in many


def test_only_mask_like_values_suggest_dense_masks():
    """Twelve named classes of 40 px each were told they looked like complete masks
    (classes bug bash); instance ids (many, or with gaps) still are."""
    said = "look like complete masks"
    names = {v: f"tissue {v}" for v in range(1, 14)}
    classes = {v: 40 for v in range(1, 14)}
    assert said not in lp.counts_html(classes, "sparse", names, None)
    ids = {v: 300 for v in range(1, 60)}  # one id per nucleus
    assert said in lp.counts_html(ids, "sparse", {}, None)
    gaps = {v: 300 for v in (1, 2, 14, 30, 52, 77)}
    assert said in lp.counts_html(gaps, "sparse", {}, None)


def test_only_the_engines_numbered_names_are_placeholders():
    assert lp.generic_class_name("class 2") and lp.generic_class_name("object")
    assert not lp.generic_class_name("class A")  # a user's name (Validate left it out)


def test_complete_masks_whose_values_are_named_train_one_class_each():
    """A named tissue ground truth was merged into one class, and the widget's advice
    was the API's n_classes (classes bug bash)."""
    masks = np.array([[0, 1], [2, 3]], np.uint8)
    features = {"index": [0, 1, 2, 3], "class": ["bg", "fat", "muscle", "bone"]}
    layer = SimpleNamespace(features=features, metadata={})
    assert lp.dense_class_names(masks, layer) == ["bg", "fat", "muscle", "bone"]
    unnamed = SimpleNamespace(features={"index": [0, 1], "class": ["bg", "fat"]}, metadata={})
    assert lp.dense_class_names(masks, unnamed) is None  # instance ids: one class
    assert lp.dense_class_names(masks, SimpleNamespace(features={}, metadata={})) is None
    # a scribble layer's names say what strokes mean, not classes
    scribbles = SimpleNamespace(features=features, metadata={lp.SCRIBBLE_KEY: True})
    assert lp.dense_class_names(masks, scribbles) is None


def test_no_class_is_painted_in_the_unsure_bands_yellow():
    """A fifth class's yellow strokes vanished in the yellow unsure band (classes bash)."""
    import numpy as np

    from napari_unetseg._qt.finetune.label_policy import (
        COLOURED_VALUES,
        UNSURE_COLOUR,
        scribble_colour,
    )

    band = np.asarray(UNSURE_COLOUR[:3])
    for value in range(1, COLOURED_VALUES + 1):  # (the objects' orange, 2, is 0.3 away)
        apart = np.linalg.norm(np.asarray(scribble_colour(value)[:3]) - band)
        assert apart >= (0.29 if value == 2 else 0.4), value  # a yellow-lime 18 (review)
