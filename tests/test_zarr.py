"""OME-Zarr in (NGFF 0.4 / zarr v2 and 0.5 / zarr v3, lazy, scale, axes, levels) and
out (block-written labels with a pyramid, read back with ome-zarr-py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader
from ome_zarr.writer import write_image

from napari_unetseg import _io, _reader, _zarr, _zarr_labels, _zarr_meta, _zarr_save, cli

FORMATS = {"0.4": FormatV04(), "0.5": FormatV05()}


def make_ome_zarr(path, data, version="0.4", axes="zyx", scale=None, levels=2):
    fmt = FORMATS[version]
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    units = {a: "micrometer" for a in axes if a in "zyx"}
    write_image(
        data,
        root,
        axes=axes,
        fmt=fmt,
        scale=scale,
        axes_units=units,
        scale_factors=tuple(2**i for i in range(1, levels)),
    )
    return path


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_read_ome_zarr_lazily_with_axes_scale_units_and_levels(tmp_path, version) -> None:
    data = np.random.default_rng(0).integers(0, 4000, (6, 80, 90), dtype=np.uint16)
    path = make_ome_zarr(
        tmp_path / "img.ome.zarr", data, version, scale={"z": 2.0, "y": 0.5, "x": 0.5}
    )
    img = _io.read_image(path)  # the TIFF entry point dispatches on the suffix
    assert isinstance(img, _zarr.ZarrImageData) and img.version == version
    assert type(img.data).__module__.startswith("dask")  # lazy
    assert img.axes == "ZYX" and img.scale == (2.0, 0.5, 0.5) and img.units == ("µm",) * 3
    assert img.name == "img" and not img.is_labels and img.channel_axis is None
    np.testing.assert_array_equal(np.asarray(img.data), data)
    low = _io.read_image(path, level=1)
    assert low.data.shape == (6, 40, 45) and low.scale == (2.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"levels 0 to 1; level 3 does not exist"):
        _io.read_image(path, level=3)


def test_channels_axis_from_the_metadata(tmp_path) -> None:
    data = np.zeros((2, 30, 40), np.uint8)
    img = _zarr.read_ome_zarr(make_ome_zarr(tmp_path / "c.zarr", data, axes="cyx", levels=1))
    assert img.axes == "CYX" and img.channel_axis == 0
    assert img.without_channels().axes == "YX"


def test_what_is_not_an_ome_zarr_image_is_one_sentence(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _zarr.read_ome_zarr(tmp_path / "missing.zarr")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ValueError, match="is not a zarr store"):
        _zarr.read_ome_zarr(tmp_path / "empty.zarr")
    zarr.open_group(str(tmp_path / "group.zarr"), mode="w").create_array(
        "a", shape=(4, 4), dtype="u1"
    )
    with pytest.raises(ValueError, match="is not an OME-Zarr image"):
        _zarr.read_ome_zarr(tmp_path / "group.zarr")
    assert _reader.napari_get_zarr_reader(str(tmp_path / "group.zarr")) is None
    for version in (2, 3):  # a bare array (or one level of an image) is named so
        array = tmp_path / f"plain{version}.zarr"
        zarr.open_array(str(array), mode="w", shape=(4, 4), dtype="u1", zarr_format=version)
        with pytest.raises(ValueError, match="is a zarr array, not an OME-Zarr image"):
            _zarr.read_ome_zarr(array)


def _write_store(path, labels, version, image=None, scale=(2.0, 0.5, 0.5), name=None):
    store = _zarr_labels.LabelsStore.create(
        path,
        shape=labels.shape,
        chunks=(3, 64, 64),
        block_grid=(1, 1, 1),
        axes="ZYX",
        scale=scale,
        units=("µm",) * 3,
        translate=None,
        version=version,
        image=image,
    )
    store.level0()[...] = labels
    store.mark_done((0, 0, 0))
    store.prepare_levels()
    for level, region in store.pyramid_tasks():
        store.build_level(level, region)
    store.finish(name=name or ("unet" if image is None else "nuclei"), image=image)
    return store


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_store_round_trip_through_ome_zarr_py(tmp_path, version) -> None:
    labels = np.random.default_rng(1).integers(0, 3, (5, 600, 520), dtype=np.uint8)
    _write_store(str(tmp_path / "out.ome.zarr"), labels, version)
    nodes = list(Reader(parse_url(str(tmp_path / "out.ome.zarr")))())
    node = nodes[0]
    assert any(isinstance(s, Label) for s in node.specs)
    assert any(isinstance(s, Multiscales) for s in node.specs)
    assert [d.shape for d in node.data] == [(5, 600, 520), (5, 300, 260), (5, 150, 130)]
    np.testing.assert_array_equal(np.asarray(node.data[0]), labels)
    np.testing.assert_array_equal(np.asarray(node.data[1]), labels[:, ::2, ::2])
    axes = node.metadata["axes"]
    assert [a["name"] for a in axes] == ["z", "y", "x"] and axes[0]["unit"] == "micrometer"
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales[0] == [2.0, 0.5, 0.5] and scales[1] == [2.0, 1.0, 1.0]
    back = _zarr.read_ome_zarr(tmp_path / "out.ome.zarr")
    assert back.is_labels and back.scale == (2.0, 0.5, 0.5)


def test_labels_go_under_the_labels_group_of_an_ome_zarr_input(tmp_path) -> None:
    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((4, 64, 64), np.uint16))
    img = _zarr.read_ome_zarr(image)
    target, parent = _zarr_labels.LabelsStore.target(image, img, "nuclei")
    assert target.endswith("labels/nuclei") and parent == str(image.resolve())
    labels = np.ones((4, 64, 64), np.uint8)
    _write_store(target, labels, img.version, image=parent, scale=img.scale)
    again = _zarr.read_ome_zarr(image)
    assert list(again.labels) == ["nuclei"]
    np.testing.assert_array_equal(np.asarray(again.labels["nuclei"][0]), labels)
    # The napari reader shows the image as a multiscale layer and the labels on top.
    layers = _reader.napari_get_zarr_reader(str(image))(str(image))
    kinds = [(kind, meta.get("multiscale")) for _, meta, kind in layers]
    assert kinds == [("image", True), ("labels", False)]
    assert layers[1][1]["scale"] == img.scale
    # a store elsewhere inside the image's folder: refused (it was written there, beside
    # the image's arrays, where ome-zarr-py does not list it; cluster bash)
    for inside in (image / "sub.ome.zarr", image / "s0.ome.zarr", image / "labels" / "a" / "b"):
        with pytest.raises(ValueError, match=r"lies inside the image store .*labels/NAME"):
            _zarr_labels.LabelsStore.target(inside, img, "nuclei")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_finished_labels_move_onto_an_earlier_runs_under_its_name(tmp_path, version) -> None:
    """The Segment widget writes beside earlier labels and moves onto them when done:
    the image lists the name once, and ome-zarr-py reads the new labels under it."""
    image = make_ome_zarr(
        tmp_path / "img.ome.zarr", np.zeros((4, 64, 64), np.uint16), version, levels=1
    )
    img = _zarr.read_ome_zarr(image)
    target, parent = _zarr_labels.LabelsStore.target(image, img, "nuclei")
    _write_store(target, np.ones((4, 64, 64), np.uint8), version, image=parent, scale=img.scale)
    twos = np.full((4, 64, 64), 2, np.uint8)
    new = _write_store(target + ".unfinished", twos, version, parent, name="nuclei.unfinished")
    assert sorted(_zarr.read_ome_zarr(image).labels) == ["nuclei", "nuclei.unfinished"]
    moved = new.move_onto(target)
    assert moved.path == target and not os.path.exists(target + ".unfinished")
    assert list(_zarr.read_ome_zarr(image).labels) == ["nuclei"]
    [node] = [n for n in Reader(parse_url(target))() if n.load(Label)]
    assert node.metadata["name"] == "nuclei"
    assert (np.asarray(node.data[0]) == 2).all()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_axes_ome_zarr_cannot_describe_are_refused_before_the_store_is_made(
    tmp_path, version
) -> None:
    # A 6D stack of unknown axes once ran its whole prediction into a store whose
    # metadata ome-zarr-py then refused ("Too many unknown axes types").
    path = tmp_path / "six.ome.zarr"
    with pytest.raises(ValueError, match=r"OME-Zarr cannot describe an image of axes ZTQQYX"):
        _zarr_labels.LabelsStore.create(
            path, shape=(2,) * 4 + (8, 8), chunks=(1,) * 4 + (8, 8), block_grid=(2,) * 4 + (1, 1),
            axes="ZTQQYX", scale=(1.0,) * 6, units=None, translate=None, version=version,
        )  # fmt: skip
    assert not path.exists()
    _zarr_meta.check_axes("TCZYX", None, version)  # what OME-Zarr holds passes


def test_an_existing_store_is_never_replaced_without_overwrite(tmp_path) -> None:
    path = tmp_path / "out.ome.zarr"
    _write_store(str(path), np.zeros((2, 8, 8), np.uint8), "0.4")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _write_store(str(path), np.ones((2, 8, 8), np.uint8), "0.4")
    assert np.asarray(_zarr.read_ome_zarr(path).data).max() == 0


class _CountingReads:
    """A lazy label array that records the largest region read from it."""

    def __init__(self, data) -> None:
        self.data, self.shape, self.dtype, self.largest = data, data.shape, data.dtype, 0

    def __getitem__(self, region):
        out = self.data[region]
        self.largest = max(self.largest, out.size)
        return out


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_saved_labels_go_under_the_image_and_replace_only_their_own(tmp_path, version) -> None:
    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((3, 64, 80), np.uint16), version)
    labels = np.zeros((3, 64, 80), np.uint16)
    labels[1, 10:30, 20:60] = 300  # beyond uint8: kept as uint16
    written = _zarr_save.save_labels(image, labels, scale=(2.0, 0.5, 0.5), name="img [cells]")
    # a layer our reader opened from this image ("img [cells]") goes back to its own name
    assert written == str((image / "labels" / "cells").resolve())
    back = _zarr.read_ome_zarr(image)
    assert list(back.labels) == ["cells"] and back.version == version
    np.testing.assert_array_equal(np.asarray(back.labels["cells"][0]), labels)
    nodes = list(Reader(parse_url(written))())
    # with image-label.source, ome-zarr's Reader finds the image first (it warned "no
    # parent found for Label" and hid the labels; bug bash), then the labels, shown
    [label] = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    assert label.metadata["coordinateTransformations"][0][0]["scale"] == [2.0, 0.5, 0.5]
    assert label.visible and any(n is not label for n in nodes)  # the image, found
    # saving again replaces it; another name is listed next to it
    _zarr_save.save_labels(image, labels * 0 + 1, name="img [cells]")
    _zarr_save.save_labels(image, labels, name="second try!")
    again = _zarr.read_ome_zarr(image)
    assert list(again.labels) == ["cells", "second_try"]
    assert np.asarray(again.labels["cells"][0]).min() == 1
    # a new name inside the image's folder or its labels/ (where a save dialog goes when
    # the image's own name is typed) is a label of the image too
    _zarr_save.save_labels(image / "inside.zarr", labels, name="layer")
    _zarr_save.save_labels(image / "labels" / "deeper.ome.zarr", labels, name="layer")
    # an earlier save named directly is replaced where it is, in the image's NGFF version
    _zarr_save.save_labels(image / "labels" / "cells", labels, name="anything")
    again = _zarr.read_ome_zarr(image)
    assert list(again.labels) == ["cells", "second_try", "inside", "deeper"]
    np.testing.assert_array_equal(np.asarray(again.labels["cells"][0]), labels)
    assert _zarr_labels.LabelsStore(image / "labels" / "cells").info["version"] == version
    folders = sorted(p.name for p in (image / "labels").iterdir() if p.is_dir())
    assert folders == ["cells", "deeper", "inside", "second_try"]  # nothing else left over
    # Layers named in other scripts keep their names ("核" and "細胞" were both
    # "labels", the second save replacing the first; paths bug bash); two layers whose
    # names give one group name: the second is refused, the first's labels kept.
    _zarr_save.save_labels(image, labels * 0 + 2, name="核")
    _zarr_save.save_labels(image, labels * 0 + 3, name="細胞")
    with pytest.raises(ValueError, match=r"from the layer 'second try!'; rename the layer 'se"):
        _zarr_save.save_labels(image, labels * 0 + 4, name="second try?")
    again = _zarr.read_ome_zarr(image)
    assert [np.asarray(again.labels[n][0]).max() for n in ("核", "細胞")] == [2, 3]
    np.testing.assert_array_equal(np.asarray(again.labels["second_try"][0]), labels)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_added_to_another_tools_store_stay_valid_for_its_readers(tmp_path, version):
    """OME-Zarr interop bash: labels added to a store with consolidated metadata (as
    ngff-zarr writes) were on disk but not in its cached listing, so zarr and
    ome-zarr-models did not see them; a first run stopped early left a bare labels/
    group, and validators refused the user's image; another tool's label colours were
    dropped."""
    import warnings

    from ome_zarr.writer import add_metadata
    from ome_zarr_models import open_ome_zarr

    fmt = FORMATS[version]
    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((3, 64, 64), np.uint16), version)
    other = zarr.open_group(str(image / "labels" / "otsu"), mode="w", zarr_format=fmt.zarr_format)
    write_image(np.ones((3, 64, 64), np.uint8), other, axes="zyx", fmt=fmt, scale_factors=(2,))
    colors = [{"label-value": 1, "rgba": [255, 0, 0, 255]}]
    add_metadata(other, {"image-label": {"version": fmt.version, "colors": colors}}, fmt=fmt)
    listing = {"labels": ["otsu"], **({"version": fmt.version} if version == "0.5" else {})}
    add_metadata(
        zarr.open_group(str(image / "labels"), zarr_format=fmt.zarr_format), listing, fmt=fmt
    )
    with warnings.catch_warnings():  # zarr: consolidated metadata is not in the v3 spec
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(image))
    # a run stopped after creating its store: the image is still a valid image
    img = _zarr.read_ome_zarr(image)
    target, parent = _zarr_labels.LabelsStore.target(image, img, "stopped")
    _zarr_labels.LabelsStore.create(
        target, shape=(3, 64, 64), chunks=(3, 64, 64), block_grid=(1, 1, 1), axes="ZYX",
        scale=img.scale, units=img.units, translate=None, version=version, image=parent,
    )  # fmt: skip
    open_ome_zarr(zarr.open_group(str(image), mode="r", use_consolidated=False))
    bare = make_ome_zarr(tmp_path / "bare.ome.zarr", np.zeros((3, 64, 64), np.uint16), version)
    _zarr_labels.LabelsStore.create(
        bare / "labels" / "stopped", shape=(3, 64, 64), chunks=(3, 64, 64),
        block_grid=(1, 1, 1), axes="ZYX", scale=img.scale, units=img.units, translate=None,
        version=version, image=str(bare),
    )  # fmt: skip
    open_ome_zarr(zarr.open_group(str(bare), mode="r"))  # a first run's labels/: listed
    _zarr_save.save_labels(image, np.ones((3, 64, 64), np.uint8), name="painted")
    group = zarr.open_group(str(image), mode="r")  # the cached listing, as zarr reads it
    assert sorted(group["labels"].group_keys()) == ["otsu", "painted", "stopped"]
    open_ome_zarr(group)
    layers = {m["name"]: m for _, m, kind in _reader.read_zarrs(str(image)) if kind == "labels"}
    assert layers["img [otsu]"]["colormap"][1] == (1.0, 0.0, 0.0, 1.0)
    assert "colormap" not in layers["img [painted]"]
    for bad in ([70000, [255, 0, 0, 255]], [1, [-1, 0, 0, 255]], [1, [1.0, 0.0, 0.0, 1.0]]):
        colors = [{"label-value": bad[0], "rgba": bad[1]}]  # napari failed on the first two
        add_metadata(other, {"image-label": {"version": fmt.version, "colors": colors}}, fmt=fmt)
        assert _reader._stored_colours(str(image / "labels" / "otsu")) == {}


def test_labels_are_saved_when_the_stores_cached_listing_cannot_be_refreshed(
    tmp_path, monkeypatch
):
    """Review: a store whose consolidated metadata could not be refreshed (another
    series in a codec missing here, a read-only folder above) lost the save, and its
    listing named labels that were not there."""
    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((3, 64, 64), np.uint16))
    zarr.consolidate_metadata(str(image))

    def fails(*_, **__):
        raise OSError("[Errno 30] Read-only file system")

    monkeypatch.setattr(zarr, "consolidate_metadata", fails)
    with pytest.warns(UserWarning, match="The labels are saved, but the consolidated metadata"):
        _zarr_save.save_labels(image, np.ones((3, 64, 64), np.uint8), name="painted")
    assert list(_zarr.read_ome_zarr(image).labels) == ["painted"]


def test_saved_standalone_labels_keep_scale_and_offset_and_are_read_by_chunks(tmp_path) -> None:
    data = np.random.default_rng(2).integers(0, 4, (20, 700, 600)).astype(np.int64)
    lazy = _CountingReads(data)
    out = tmp_path / "seg.ome.zarr"
    _zarr_save.save_labels(
        out, lazy, scale=(3.0, 0.4, 0.4), units=("µm",) * 3, translate=(6.0, 1, 2)
    )
    assert lazy.largest <= _zarr_save.SAVE_CHUNK_Z * _zarr_save.SAVE_CHUNK**2 < data.size
    node = list(Reader(parse_url(str(out)))())[0]
    assert any(isinstance(s, Label) for s in node.specs)
    np.testing.assert_array_equal(np.asarray(node.data[0]), data)
    assert node.data[0].dtype == np.uint8  # the smallest type that holds the labels
    level0 = node.metadata["coordinateTransformations"][0]
    assert level0 == [
        {"type": "scale", "scale": [3.0, 0.4, 0.4]},
        {"type": "translation", "translation": [6.0, 1.0, 2.0]},
    ]
    assert node.metadata["axes"][1]["unit"] == "micrometer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.ome.zarr"]  # nothing left over


def _bioformats2raw_store(path, series=2):
    """A store as bioformats2raw writes it: series 0, 1, ... under a root without image."""
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    for k in range(series):
        data = np.full((2, 32, 40), 10 * (k + 1), np.uint16)
        write_image(data, root.create_group(str(k)), axes="zyx", fmt=FORMATS["0.4"])
    root.create_group("OME").attrs["series"] = [str(k) for k in range(series)]
    return path


@pytest.mark.filterwarnings("ignore:.*conv.ome.zarr holds 2 image series")
def test_a_bioformats2raw_store_opens_at_its_first_series(tmp_path, capsys) -> None:

    store = _bioformats2raw_store(tmp_path / "conv.ome.zarr")
    with pytest.warns(UserWarning, match=r"holds 2 image series; the first \(0\) is read"):
        img = _zarr.read_ome_zarr(store)
    assert img.name == "conv" and np.asarray(img.data).max() == 10
    other = _io.read_image(store / "1")  # a series by its own path
    assert other.name == "conv [series 1]" and np.asarray(other.data).max() == 20
    assert _io.is_zarr_path(store / "1") and not _io.is_zarr_path(tmp_path / "new.zarr" / "x")
    # labels for the store go under its series, where viewers look for them
    target, image = _zarr_labels.LabelsStore.target(store, img, "unet")
    assert target == str(store / "0" / "labels" / "unet") and image == str(store / "0")
    assert cli.main(["predict", str(store), "--output", str(store), "--object-size", "off"]) == 0
    assert list(_zarr.read_ome_zarr(store).labels) == ["nuclei-3d"]
    layers = _reader.napari_get_zarr_reader(str(store))(str(store))
    assert [(meta["name"], kind) for _, meta, kind in layers] == [
        ("conv", "image"),
        ("conv [nuclei-3d]", "labels"),
    ]
    # where they are, with their record (the top folder's labels/ did not exist; interop)
    assert layers[1][1]["metadata"]["zarr_labels"] == str(store / "0" / "labels" / "nuclei-3d")
    assert "unetseg" in layers[1][1]["metadata"]


def test_labels_layers_have_their_own_grid_and_the_images_units(tmp_path) -> None:
    """Image-labels on a coarser grid than their image open on their own scale and
    offset, with the image's units (a Labels layer without units turned napari's units
    off for every layer); a scale the multiscales entry declares for every level counts."""
    import json

    from ome_zarr.writer import write_labels

    path = make_ome_zarr(
        tmp_path / "img.ome.zarr", np.zeros((64, 64), np.uint8), axes="yx", levels=1
    )  # 1 µm pixels
    root = zarr.open_group(str(path), mode="a")
    labels = np.ones((32, 32), np.uint8)
    write_labels(labels, root, name="coarse", fmt=FORMATS["0.4"], axes="yx", scale_factors=())

    def edit(attrs_path, change):
        attrs = json.loads(attrs_path.read_text())
        change(attrs["multiscales"][0])
        attrs_path.write_text(json.dumps(attrs))

    def coarse(entry):  # labels drawn on a grid of 2 µm, half a µm in
        entry["datasets"][0]["coordinateTransformations"] = [
            {"type": "scale", "scale": [2.0, 2.0]},
            {"type": "translation", "translation": [0.5, 0.5]},
        ]

    edit(path / "labels" / "coarse" / ".zattrs", coarse)
    (_, image, _), (_, meta, kind) = _reader.read_zarrs(str(path))
    assert kind == "labels" and meta["scale"] == (2.0, 2.0) and meta["translate"] == (0.5, 0.5)
    assert meta["units"] == image["units"] == ("µm",) * 2

    def whole(entry):  # every level's size times 3
        entry["coordinateTransformations"] = [{"type": "scale", "scale": [3.0, 3.0]}]

    edit(path / ".zattrs", whole)
    assert _io.read_image(path).scale == (3.0, 3.0)


def test_a_time_axis_keeps_its_unit(tmp_path) -> None:
    """A store's time unit ("second") reads as "s" and is written back in labels (it was
    dropped: the labels' time axis came back in pixels)."""
    data = np.zeros((2, 3, 16, 16), np.uint8)
    root = zarr.open_group(str(tmp_path / "t.ome.zarr"), mode="w", zarr_format=2)
    write_image(
        data,
        root,
        axes="tzyx",
        fmt=FORMATS["0.4"],
        scale={"t": 30.0, "z": 2.0, "y": 0.5, "x": 0.5},
        axes_units={"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"},
        scale_factors=(),
    )
    img = _io.read_image(tmp_path / "t.ome.zarr")
    assert img.units == ("s", "µm", "µm", "µm") and img.scale == (30.0, 2.0, 0.5, 0.5)
    out = tmp_path / "seg.ome.zarr"
    _zarr_save.save_labels(out, data, scale=img.scale, units=img.units, axes=img.axes)
    node = list(Reader(parse_url(str(out)))())[0]
    assert [a.get("unit") for a in node.metadata["axes"]] == ["second"] + ["micrometer"] * 3
    assert _io.read_image(out).units == img.units


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_store_renamed_without_zarr_is_still_one_image(tmp_path, version) -> None:
    from napari_unetseg import batch

    data = np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)
    store = make_ome_zarr(tmp_path / "batch" / "plate1", data, version, axes="yx", levels=1)
    (tmp_path / "batch" / "notes").mkdir()  # a plain folder beside it is not an image
    assert _io.is_zarr_path(store) and not _io.is_zarr_path(tmp_path / "batch" / "notes")
    assert not _io.is_zarr_path(tmp_path / "batch")
    np.testing.assert_array_equal(np.asarray(_io.read_image(store).data), data)
    assert _reader.napari_get_zarr_reader(str(store)) is not None
    plan = batch.plan_batch([tmp_path / "batch"], tmp_path / "out")
    assert [(p.name, d.name) for p, d, *_ in plan] == [("plate1", "plate1_labels.tif")]


@pytest.mark.filterwarnings("ignore:.*plate.ome.zarr.* holds 2")
def test_an_hcs_plate_opens_at_the_first_field_of_its_first_well(tmp_path) -> None:
    from ome_zarr.writer import write_plate_metadata, write_well_metadata

    fmt = FORMATS["0.4"]
    root = zarr.open_group(str(tmp_path / "plate.ome.zarr"), mode="w", zarr_format=2)
    write_plate_metadata(root, ["A"], ["1", "2"], ["A/1", "A/2"], fmt=fmt)
    for w, column in enumerate(["1", "2"]):
        well = root.require_group("A").require_group(column)
        write_well_metadata(well, [{"path": "0"}, {"path": "1"}], fmt=fmt)
        for f in range(2):
            data = np.full((48, 40), 10 * w + f + 1, np.uint16)
            write_image(data, well.require_group(str(f)), axes="yx", fmt=fmt)
    plate = tmp_path / "plate.ome.zarr"
    with pytest.warns(UserWarning, match=r"holds 2 wells; the first \(A/1/0\) is read"):
        first = _zarr.read_ome_zarr(plate)
    assert first.name == "plate" and np.asarray(first.data).max() == 1
    with pytest.warns(UserWarning, match=r"holds 2 fields; the first \(0\) is read"):
        assert _zarr.read_ome_zarr(plate / "A" / "2").name == "plate [A/2]"
    field = _io.read_image(plate / "A" / "2" / "1")
    assert field.name == "plate [A/2 field 1]" and np.asarray(field.data).max() == 12
    # saved labels of a field go under that field, named without the field's own name
    written = _zarr_save.save_labels(plate / "A" / "2" / "1", np.ones((48, 40), np.uint8),
                                name="plate [A/2 field 1] [cells]")  # fmt: skip
    assert written == str(plate / "A" / "2" / "1" / "labels" / "cells")
    assert list(_io.read_image(plate / "A" / "2" / "1").labels) == ["cells"]


def _arrays(group_path):
    """{name: zarr array} of every array directly in a group (what generic readers list)."""
    group = zarr.open_group(str(group_path), mode="r")
    return {name: group[name] for name in group.array_keys()}


def _validate(group_path) -> None:
    """Validate a group against the NGFF schemas (ome-zarr-models, which ome-zarr needs)."""
    import ome_zarr_models

    ome_zarr_models.open_ome_zarr(zarr.open_group(str(group_path), mode="r"))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_every_array_written_names_its_dimensions_as_ngff_05_requires(tmp_path, version) -> None:
    # NGFF 0.5 (zarr v3) requires dimension_names on every array of a multiscale; our
    # stores had none, so validators refused labels, probability maps and saved labels.
    # one level: NGFF wants an image-label to have as many levels as its image, which
    # our labels of a small image (one level) do not have when the image has more
    image = make_ome_zarr(
        tmp_path / "img.ome.zarr", np.zeros((3, 64, 80), np.uint16), version, levels=1
    )
    labels = np.ones((3, 600, 80), np.uint8)  # 3 pyramid levels
    standalone = _write_store(str(tmp_path / "out.ome.zarr"), labels, version).path
    maps = _zarr_labels.LabelsStore.create(
        tmp_path / "probs.ome.zarr", shape=(3, 64, 80), chunks=(3, 64, 80), block_grid=(1, 1, 1),
        axes="ZYX", scale=(1.0,) * 3, units=None, translate=None, version=version, labels=False,
    )  # fmt: skip
    maps.prepare_levels()
    maps.finish(name="probabilities")
    saved = _zarr_save.save_labels(image, np.ones((3, 64, 80), np.uint8), name="cells")
    # ome-zarr-py's own arrays are what we match: names in v3, nothing at all in v2
    expected = {"0.4": None, "0.5": ("z", "y", "x")}[version]
    assert getattr(_arrays(image)["s0"].metadata, "dimension_names", None) == expected
    # the image too: its labels/ group then names its NGFF version, as 0.5 requires
    for group in (standalone, maps.path, saved, image):
        arrays = _arrays(group)
        assert arrays and all(
            getattr(a.metadata, "dimension_names", None) == expected for a in arrays.values()
        )
        assert all("_ARRAY_DIMENSIONS" not in a.attrs for a in arrays.values())
    for group in (standalone, maps.path, saved, image):
        _validate(group)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_finished_store_keeps_only_its_pyramid_levels(tmp_path, version) -> None:
    # The "blocks written" array of a finished store was taken for a pyramid level by
    # napari's builtin reader (levels (4, 64, 64) and (1, 1, 1)).
    labels = np.ones((4, 600, 64), np.uint8)
    store = _write_store(str(tmp_path / "out.ome.zarr"), labels, version)
    assert sorted(_arrays(store.path)) == ["0", "1", "2"]
    assert store.blocks_done().tolist() == [[[True]]]  # --resume: nothing left to do
    saved = _zarr_save.save_labels(tmp_path / "saved.ome.zarr", labels[0])
    assert sorted(_arrays(saved)) == ["0", "1", "2"]
    # an unfinished run keeps it, and resumes from it
    partial = _zarr_labels.LabelsStore.create(
        tmp_path / "partial.ome.zarr", shape=(4, 64, 64), chunks=(2, 64, 64), block_grid=(2, 1, 1),
        axes="ZYX", scale=(1.0,) * 3, units=None, translate=None, version=version,
    )  # fmt: skip
    partial.mark_done((1, 0, 0))
    assert _zarr_labels.BLOCKS in _arrays(partial.path)
    assert partial.blocks_done().ravel().tolist() == [False, True]


def test_labels_another_program_wrote_are_refused_with_what_to_do(tmp_path) -> None:
    from ome_zarr.writer import write_labels

    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((2, 32, 32), np.uint8))
    root = zarr.open_group(str(image), mode="r+")
    write_labels(np.ones((2, 32, 32), np.uint8), root, name="cells", axes="zyx")
    with pytest.raises(
        ValueError, match=r"not written by napari-unetseg.*choose a new name: .*labels/NAME\)\.$"
    ):
        _zarr_save.save_labels(image, np.zeros((2, 32, 32), np.uint8), name="cells")
    assert np.asarray(_zarr.read_ome_zarr(image).labels["cells"][0]).min() == 1  # untouched


@pytest.mark.parametrize(
    "version, files", [("0.4", [".zattrs", ".zgroup"]), ("0.5", ["zarr.json"])]
)
def test_a_stores_metadata_file_opens_the_store(tmp_path, version, files) -> None:
    data = np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32)
    image = make_ome_zarr(tmp_path / "img.ome.zarr", data, version)
    _zarr_save.save_labels(image, (data > 1000).astype(np.uint8), name="cells")
    for name in files:
        img = _zarr.read_ome_zarr(image / name)
        assert img.name == "img" and img.path == str(image)
        np.testing.assert_array_equal(np.asarray(img.data), data)
        assert _io.read_image(image / name).data.shape == data.shape  # CLI, API
        layers = _reader.napari_get_zarr_reader(str(image / name))(str(image / name))
        assert layers[1][1]["metadata"]["zarr_labels"] == str(image / "labels" / "cells")


def test_labels_follow_their_images_pyramid_where_it_halves_or_shrinks_by_whole_factors():
    from napari_unetseg._zarr_meta import levels_like

    halved = [(3, 301, 279), (3, 150, 139), (3, 75, 70)]  # odd lengths rounded either way
    assert levels_like(halved, (3, 301, 279)) == halved
    assert levels_like(halved, (3, 150, 139)) == halved[1:]  # labels of level 1 (--level 1)
    assert levels_like([(8, 64, 64), (4, 32, 32)], (8, 64, 64)) == [(8, 64, 64), (4, 32, 32)]
    assert levels_like(halved, (3, 300, 279)) is None  # not on the image's grid
    assert levels_like([(90, 90), (60, 60)], (90, 90)) is None  # shrunk 1.5 times: own pyramid


def test_labels_of_an_image_in_two_length_units_lie_on_it_in_every_reader(tmp_path) -> None:
    """An image with Z in µm and Y, X in nm: labels were written in µm and read back 1000
    times too small in Y, X, and other readers (which take no units) put them elsewhere
    (zarr bug bash). They are written in the image's own unit per axis now."""
    path = tmp_path / "mixed.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    write_image(
        np.zeros((4, 48, 64), np.uint16),
        root,
        axes="zyx",
        fmt=FormatV04(),
        scale={"z": 2.0, "y": 250.0, "x": 250.0},
        axes_units={"z": "micrometer", "y": "nanometer", "x": "nanometer"},
        scale_factors=(),
    )
    attrs = dict(root.attrs)
    attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"].append(
        {"type": "translation", "translation": [1.0, 500.0, 1000.0]}
    )
    root.attrs.update(attrs)
    image = _zarr.read_ome_zarr(path)
    assert image.scale == (2.0, 0.25, 0.25) and image.translate == (1.0, 0.5, 1.0)
    labels = np.zeros((4, 48, 64), np.uint8)
    labels[1:3, 10:20, 10:30] = 1
    flat = image.without_channels()
    written = _zarr_save.save_labels(
        path, labels, scale=flat.scale, units=flat.units, translate=flat.translate, name="n"
    )
    [label] = [
        n for n in Reader(parse_url(written))() if any(isinstance(s, Label) for s in n.specs)
    ]
    transforms = label.metadata["coordinateTransformations"][0]
    assert transforms[0]["scale"] == [2.0, 250.0, 250.0]  # as the image's, for any reader
    assert transforms[1]["translation"] == [1.0, 500.0, 1000.0]
    layers = {meta["name"]: meta for _, meta, _ in _reader.read_zarrs(str(path))}
    assert layers["mixed [n]"]["scale"] == layers["mixed"]["scale"] == (2.0, 0.25, 0.25)
    assert layers["mixed [n]"]["translate"] == layers["mixed"]["translate"]


def test_labels_that_would_not_lie_on_the_image_are_not_saved_into_it(tmp_path) -> None:
    """A 300 x 300 layer was added to a 256 x 256 image, and labels saved into a plate
    went to its first field whichever field they were made on (zarr bug bash)."""
    from ome_zarr.writer import write_plate_metadata, write_well_metadata

    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((64, 80), np.uint8), axes="yx")
    with pytest.raises(ValueError, match=r"shape 70x80 do not cover the image"):
        _zarr_save.save_labels(image, np.zeros((70, 80), np.uint8), name="big")
    # a coarser grid over the same extent lies on it: kept
    _zarr_save.save_labels(image, np.zeros((32, 40), np.uint8), scale=(2.0, 2.0), name="coarse")
    assert list(_zarr.read_ome_zarr(image).labels) == ["coarse"]
    plate = tmp_path / "plate.ome.zarr"
    root = zarr.open_group(str(plate), mode="w", zarr_format=2)
    write_plate_metadata(root, ["A"], ["1", "2"], ["A/1", "A/2"], fmt=FormatV04())
    for well in ("A/1", "A/2"):
        group = root.require_group(well)
        write_well_metadata(group, [{"path": "0"}], fmt=FormatV04())
        write_image(np.zeros((32, 32), np.uint8), group.require_group("0"), axes="yx",
                    fmt=FormatV04(), scale_factors=())  # fmt: skip
    with pytest.raises(ValueError, match=r"holds several images .* save the labels into"):
        _zarr_save.save_labels(plate, np.zeros((32, 32), np.uint8), name="cells")
    assert not (plate / "A" / "1" / "0" / "labels").exists()
    _zarr_save.save_labels(plate / "A" / "2" / "0", np.zeros((32, 32), np.uint8), name="cells")
    assert (plate / "A" / "2" / "0" / "labels" / "cells").is_dir()
    # a store of one image inside (a one-series bioformats2raw store) takes them there
    one = _bioformats2raw_store(tmp_path / "one.ome.zarr", series=1)
    _zarr_save.save_labels(one, np.zeros((2, 32, 40), np.uint8), name="cells")
    assert list(_zarr.read_ome_zarr(one / "0").labels) == ["cells"]
    # the fields' outputs are named after the plate and where they lie: they were all "0"
    from napari_unetseg._batch_plan import output_paths

    fields = [plate / "A" / "1" / "0", plate / "A" / "2" / "0"]
    assert [p.name for p in output_paths(fields, tmp_path / "out")] == [
        "plate_A1_field_0_labels.tif",
        "plate_A2_field_0_labels.tif",
    ]


def test_label_groups_are_named_by_their_folder_and_open_alone(tmp_path) -> None:
    """Two label groups whose free-text multiscales name is the same ("image") were read
    as one, the other lost; a label group opened by its own path brought its siblings
    along as layers of its own (zarr bug bash)."""
    from ome_zarr.writer import write_labels

    image = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((32, 40), np.uint16), axes="yx")
    root = zarr.open_group(str(image), mode="a")
    for value, name in ((1, "cells"), (2, "nuclei")):
        write_labels(np.full((32, 40), value, np.uint8), root, name=name, axes="yx",
                     fmt=FormatV04(), scale_factors=())  # fmt: skip
        attrs = dict(root["labels"][name].attrs)
        attrs["multiscales"][0]["name"] = "image"
        root["labels"][name].attrs.update(attrs)
    back = _zarr.read_ome_zarr(image)
    assert sorted(back.labels) == ["cells", "nuclei"]
    assert int(np.asarray(back.labels["nuclei"][0]).max()) == 2
    alone = _reader.read_zarrs(str(image / "labels" / "cells"))
    assert [meta["name"] for _, meta, _ in alone] == ["cells"]


def test_the_command_adds_labels_to_an_image_under_a_name_of_ones_own(tmp_path, capsys) -> None:
    """An image already holding another program's "nuclei-2d" labels: the advice was to
    "choose a new name", which the command had no way to do, ``IMAGE/labels/NAME`` was
    refused as "a batch", and ``labels/NAME.zarr`` made a store ``labels/`` did not list
    (zarr bug bash). ``--output IMAGE.ome.zarr/labels/NAME`` adds and lists it."""
    from ome_zarr.writer import write_labels

    data = np.zeros((64, 64), np.uint16)
    data[20:40, 20:40] = 1000
    store = make_ome_zarr(tmp_path / "img.ome.zarr", data, axes="yx", levels=1)
    root = zarr.open_group(str(store), mode="a")
    write_labels(np.ones((64, 64), np.uint8), root, name="nuclei-2d", axes="yx",
                 fmt=FormatV04(), scale_factors=())  # fmt: skip
    argv = ["predict", str(store), "--model", "nuclei-2d", "--object-size", "off"]
    assert cli.main([*argv, "--output", str(store), "--overwrite"]) == 1
    assert "line, give --output IMAGE.ome.zarr/labels/NAME" in capsys.readouterr().err
    assert _io.labels_group_path(store / "labels" / "mine")
    assert cli.main([*argv, "--output", str(store / "labels" / "mine")]) == 0
    back = _zarr.read_ome_zarr(store)
    assert list(back.labels) == ["nuclei-2d", "mine"]  # listed beside the other one
    assert np.asarray(back.labels["nuclei-2d"][0]).min() == 1  # left as it was
    assert np.asarray(back.labels["mine"][0])[30, 30] == 1


@pytest.mark.parametrize("unit", ["micrometer", "um", "micron", "µm"])
def test_labels_name_their_unit_however_it_is_spelled(tmp_path, unit):
    """Only "µm" had been written as a unit: labels saved with "micrometer" (OME's own
    name) or "um" had axes without a unit, so other readers took pixels."""
    from napari_unetseg._writer import write_labels_zarr

    data = np.zeros((2, 8, 8), np.uint8)
    data[:, 2:5, 2:5] = 1
    (out,) = write_labels_zarr(
        tmp_path / "seg", data, {"scale": (2, 0.5, 0.5), "units": (unit,) * 3}
    )
    node = list(Reader(parse_url(out))())[0]
    assert [a.get("unit") for a in node.metadata["axes"]] == ["micrometer"] * 3


def test_info_describes_a_stores_origin_channels_levels_and_labels(tmp_path, capsys):
    """``unetseg info`` on a store said its shape and pixel size only: not its origin,
    channel names, pyramid levels nor the labels saved beside it (bash)."""
    import json

    path = make_ome_zarr(
        tmp_path / "img.ome.zarr", np.zeros((2, 4, 64, 64), np.uint16), axes="czyx"
    )
    attrs = path / ".zattrs"
    meta = json.loads(attrs.read_text())
    meta["omero"] = {"channels": [{"label": "DAPI"}, {"label": "GFP"}]}
    for level in meta["multiscales"][0]["datasets"]:
        level["coordinateTransformations"].append(
            {"type": "translation", "translation": [0, 6, 1, 2]}
        )
    attrs.write_text(json.dumps(meta))
    img = _zarr.read_ome_zarr(path)
    target, parent = _zarr_labels.LabelsStore.target(path, img, "nuclei")
    _write_store(target, np.ones((4, 64, 64), np.uint8), "0.4", image=parent, scale=img.scale[1:])
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "origin: Z 6 µm, Y 1 µm, X 2 µm\nchannels: DAPI, GFP\n" in out
    assert "pyramid: 2 levels, 2x4x64x64, 2x4x32x32\nlabels: nuclei\n" in out


@pytest.mark.parametrize("averaged", [True, False])
def test_smaller_label_levels_lie_on_the_images_levels(tmp_path, averaged) -> None:
    """Level n of the labels takes every 2**n-th pixel from the first; it was always
    written shifted by (2**n - 1) / 2 pixels, as an averaged pyramid is (ome-zarr-py's
    writer shifts its levels so), and lay half a pixel off the levels of an image whose
    pyramid takes every other pixel (scale-out bug bash). An image's labels follow its
    own levels now; a store of their own is not shifted."""
    import json

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    path = make_ome_zarr(tmp_path / "img.ome.zarr", np.zeros((4, 64, 64), np.uint16), levels=3)
    if not averaged:  # a pyramid without shifts (every other pixel, as other tools write)
        attrs = path / ".zattrs"
        meta = json.loads(attrs.read_text())
        for level in meta["multiscales"][0]["datasets"]:
            level["coordinateTransformations"] = level["coordinateTransformations"][:1]
        attrs.write_text(json.dumps(meta))
    img = _zarr.read_ome_zarr(path)
    target, parent = _zarr_labels.LabelsStore.target(path, img, "nuclei")
    labels = np.zeros((4, 64, 64), np.uint8)
    labels[:, 8:12, 20:30] = 1
    _write_store(target, labels, "0.4", image=parent, scale=img.scale)
    nodes = list(Reader(parse_url(path))())
    [label_node] = [n for n in nodes if "image-label" in n.zarr.root_attrs]

    def placed(transforms):  # (scale, translation) of one level
        kinds = {t["type"]: t[t["type"]] for t in transforms}
        return kinds["scale"], kinds.get("translation", [0.0] * 3)

    image_levels = [placed(t) for t in nodes[0].metadata["coordinateTransformations"]]
    label_levels = [placed(t) for t in label_node.metadata["coordinateTransformations"]]
    assert label_levels == image_levels and len(label_levels) == 3
    assert (image_levels[1][1] == [0.0, 0.5, 0.5]) is averaged
    back = [np.asarray(level) for level in label_node.data]
    np.testing.assert_array_equal(back[2], labels[:, ::4, ::4])
    alone = _write_store(tmp_path / "alone.ome.zarr", labels, "0.4", scale=img.scale)
    node = list(Reader(parse_url(alone.path))())[0]
    assert all(placed(t)[1] == [0.0] * 3 for t in node.metadata["coordinateTransformations"])


def test_a_store_the_disk_had_no_room_for_is_not_left_half_made(tmp_path, monkeypatch) -> None:
    """A full disk left a group without our record: "not written by napari-unetseg" to
    --resume and --overwrite alike, and the error named no store (disk bug bash; a
    2 MiB tmpfs there, the array's creation failing here)."""
    import errno

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "out.ome.zarr"
    with monkeypatch.context() as patched:
        patched.setattr(zarr.Group, "create_array", no_room)
        with pytest.raises(OSError, match=r"^Cannot write '.*out\.ome\.zarr': No space left"):
            _write_store(str(path), np.zeros((3, 8, 8), np.uint8), "0.4")
    assert not path.exists()
    _write_store(str(path), np.ones((3, 8, 8), np.uint8), "0.4")  # room again: a new run
    assert _zarr.read_ome_zarr(path).is_labels


def test_labels_saved_to_a_full_disk_name_the_store_and_leave_nothing(tmp_path, monkeypatch):
    """napari's writer said "[Errno 28] No space left on device" (no path), or named the
    hidden ".lab.ome.zarr.saving", and left that folder behind (disk bug bash)."""
    import errno

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zarr.Array, "__setitem__", no_room)
    target = tmp_path / "lab.ome.zarr"
    with pytest.raises(OSError, match=r"^Cannot write '.*/lab\.ome\.zarr': No space left on"):
        _zarr_save.save_labels(str(target), np.ones((2, 16, 16), np.uint8), axes="ZYX")
    assert not list(tmp_path.iterdir())


def test_ngff_metadata_of_wrong_shape_or_values_is_said_in_words(tmp_path):
    """A multiscales entry without its datasets was refused as "('datasets')", a scale
    of "a" with Python's words and no store (fuzzing bash)."""
    import json

    for damage, said in (
        (lambda ms: ms.pop("datasets"), "its metadata has no entry 'datasets' where NGFF"),
        (
            lambda ms: ms["datasets"][0]["coordinateTransformations"][0].update(scale=["a", 1, 1]),
            "has a coordinate transformation that is not numbers",
        ),
    ):
        path = make_ome_zarr(tmp_path / f"{len(said)}.ome.zarr", np.zeros((4, 32, 32), np.uint8))
        attrs = path / ".zattrs"
        meta = json.loads(attrs.read_text())
        damage(meta["multiscales"][0])
        attrs.write_text(json.dumps(meta))
        with pytest.raises(_zarr.ZarrReadError, match=said) as caught:
            _zarr.read_ome_zarr(path)
        assert str(path) in str(caught.value)


def test_labels_with_one_channel_lose_the_channel_axis(tmp_path, capsys):
    """A ground truth written as t,c,z,y,x with one c was refused against its prediction
    ("(3, 8, 64, 64) and (3, 1, 8, 64, 64) have different shapes"), where a TIFF's lone
    channel is dropped (5D bug bash)."""
    truth = np.zeros((2, 1, 4, 32, 32), np.uint8)
    truth[:, 0, 1:3, 8:16, 8:16] = 1
    path = make_ome_zarr(tmp_path / "truth.ome.zarr", truth, axes="tczyx")
    labels, _ = _io.read_labels(path)
    assert labels.data.shape == (2, 4, 32, 32) and labels.axes == "TZYX"
    pred = _io.write_labels(tmp_path / "pred.tif", truth[:, 0], axes="TZYX")
    assert cli.main(["evaluate", "-p", str(pred), "-g", str(path)]) == 0
    assert "Dice 1.000" in capsys.readouterr().out


def test_a_labels_store_of_its_own_is_named_without_its_suffix(tmp_path):
    """Labels saved as their own store opened as "three.ome.zarr" where an image store is
    named "three" (reproducibility bash); an image-label keeps its group's name."""
    from napari_unetseg import cli

    image = tmp_path / "cells.tif"
    assert cli.main(["sample", str(image), "--shape", "48", "48"]) == 0
    out = tmp_path / "cells_labels.ome.zarr"
    assert cli.main(["predict", str(image), "-o", str(out), "--device", "cpu"]) == 0
    assert _io.read_image(out).name == "cells_labels"
    store = tmp_path / "sample.ome.zarr"
    assert cli.main(["sample", str(store), "--shape", "48", "48"]) == 0
    assert _io.read_image(store / "labels" / "ground_truth").name == "ground_truth"
