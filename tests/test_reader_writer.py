"""napari reader / writer / sample data: layer tuples, round trips, unreadable files."""

from __future__ import annotations

import warnings

import napari.layers
import numpy as np
import pytest
import tifffile

from napari_unetseg import _io, _reader, _sample_data, _writer


@pytest.fixture
def warnings_shown(monkeypatch):
    """Messages passed to napari's show_warning (the reader imports it when needed)."""
    import napari.utils.notifications as notifications

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    return shown


@pytest.mark.parametrize("name", ["image.png", "data.zarr", "notes.txt", "model.pt"])
def test_reader_declines_non_tiff(tmp_path, name, warnings_shown):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG not really")
    assert _reader.napari_get_reader(str(path)) is None
    assert _reader.napari_get_reader([str(path)]) is None
    assert warnings_shown == []  # not ours to read: no message


def test_reader_declines_corrupt_tiff_with_a_warning(tmp_path, warnings_shown):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00 garbage that is not a TIFF directory")
    assert _reader.napari_get_reader(str(path)) is None
    assert len(warnings_shown) == 1
    assert "broken.tif" in warnings_shown[0]
    assert "is not a readable TIFF file" in warnings_shown[0]


def test_reader_damaged_pixel_data_gives_warning_and_no_layer(tmp_path, warnings_shown):
    good = _io.write_image(tmp_path / "good.tif", np.random.default_rng(0).random((4, 64, 64)))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[:2000])
    reader = _reader.napari_get_reader(str(cut))
    layers = reader(str(cut)) if reader is not None else None
    assert layers is None
    assert any("cut.tif" in w for w in warnings_shown)


def test_labels_round_trip_through_writer_and_reader(tmp_path):
    labels = np.zeros((5, 30, 40), np.int32)
    labels[1:4, 5:15, 10:30] = 3
    labels[2, 20:28, 2:8] = 900
    written = _writer.write_labels(str(tmp_path / "seg"), labels, {"scale": (2.0, 0.4, 0.4)})
    assert written == [str(tmp_path / "seg.tif")]  # extension added
    reader = _reader.napari_get_reader(written[0])
    [(data, meta, kind)] = reader(written[0])
    assert kind == "labels"
    np.testing.assert_array_equal(data, labels)
    assert meta["scale"] == pytest.approx((2.0, 0.4, 0.4))
    assert meta["metadata"]["units"] == ("µm", "µm", "µm")
    assert meta["name"] == "seg"


@pytest.mark.parametrize("suffix", [".tif", ".nii.gz", ".ome.zarr"])
def test_a_models_labels_name_their_classes_when_opened_again(tmp_path, suffix):
    """Saved labels came back as bare ids in every format (classes bug bash): the
    model's class names travel with the provenance and become the layer's features."""
    from napari_unetseg import cli

    image = tmp_path / "cells.tif"
    assert cli.main(["sample", str(image), "--shape", "64", "64"]) == 0
    out = tmp_path / f"cells_labels{suffix}"
    argv = ["predict", str(image), "--model", "nuclei-2d", "-o", str(out), "--no-split-touching"]
    assert cli.main(argv) == 0  # class labels (the model's default splits: object ids)
    get = {".tif": _reader.napari_get_reader, ".nii.gz": _reader.napari_get_nifti_reader,
           ".ome.zarr": _reader.napari_get_zarr_reader}[suffix]  # fmt: skip
    [(_, meta, kind)] = get(str(out))(str(out))
    assert kind == "labels"
    assert meta["features"] == {"index": [0, 1], "class": ["background", "nucleus"]}
    # in the colours Segment gives classes (they came back in napari's cycling ones;
    # reproducibility bash)
    from napari_unetseg._qt.finetune.label_policy import PREVIEW_COLORS

    assert meta["colormap"][1] == PREVIEW_COLORS[1] and meta["colormap"][0][3] == 0.0
    split = tmp_path / f"split_labels{suffix}"
    argv = ["predict", str(image), "--model", "nuclei-2d", "-o", str(split), "--split-touching"]
    assert cli.main(argv) == 0
    [(_, meta, _)] = get(str(split))(str(split))
    assert "features" not in meta and "colormap" not in meta  # object ids, no classes


def test_a_refusal_reaches_whoever_saves_through_napari(tmp_path, make_napari_viewer):
    """napari takes a writer's ValueError for "cannot write this" and said "not a valid
    writer" (or "no plugin could be found"); the writer's own sentence reaches the user."""
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.full((8, 8), -1, np.int32))
    with pytest.raises(_writer.LabelsNotWritten, match="must be non-negative"):
        layer.save(str(tmp_path / "neg.tif"), plugin="napari-unetseg")
    viewer.layers.selection = {layer}
    with pytest.raises(_writer.LabelsNotWritten, match="must be non-negative"):
        viewer.layers.save(str(tmp_path / "neg.tif"), selected=True)
    assert list(tmp_path.iterdir()) == []


def test_labels_of_other_dimensions_are_not_added_to_an_ome_zarr_image(tmp_path):
    import zarr
    from ome_zarr.writer import write_image

    store = tmp_path / "plane.ome.zarr"
    write_image(np.zeros((64, 64), np.uint8), zarr.open_group(str(store), mode="w"), axes="yx")
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    with pytest.raises(_writer.LabelsNotWritten, match=r"3 dimensions .* 2D image"):
        _writer.write_labels(str(store), np.ones((8, 64, 64), np.uint8), {"name": "stack"})
    # "labels as TIFF" named inside the store: a TIFF among its arrays (interop bug bash)
    with pytest.raises(_writer.LabelsNotWritten, match="lies inside the OME-Zarr store"):
        _writer.write_labels(str(store / "labels" / "cells"), np.ones((64, 64), np.uint8), {})
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before


def test_layers_carry_the_files_axis_names(tmp_path, make_napari_viewer):
    """napari's sliders said -4 .. -1 for a TZYX file; with t, z, y, x they say time and
    z, and the widgets tell a time series from a Z stack (Segment refuses a 3D model on
    the time series of a file opened in napari, as the command line does)."""
    movie = _io.write_image(tmp_path / "movie.tif", np.zeros((3, 16, 16), np.uint8), axes="TYX")
    [(_, meta, _)] = _reader.napari_get_reader(str(movie))(str(movie))
    assert meta["axis_labels"] == ("t", "y", "x")
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(movie), plugin="napari-unetseg")
    _, segment = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    segment.model_combo.set_model_name("nuclei-3d")
    assert "segments Z stacks, but the axes of 'movie' are TYX" in segment.problem(layer)
    assert _reader._axis_labels("QQYX") == {}  # unknown axes keep napari's numbered labels


def test_labels_of_a_time_series_are_saved_as_one(tmp_path, make_napari_viewer):
    """Labels made on a TYX file (Segment's output carries the image's axis labels) are
    saved TYX with s, µm, µm: they were saved ZYX with every axis in seconds. Saved
    without axis names, an axis measured in seconds is still T."""
    meta = {"scale": (30.0, 0.5, 0.5), "axes": "TYX", "units": ("s", "µm", "µm")}
    movie = _io.write_image(tmp_path / "movie.tif", np.zeros((3, 16, 16), np.uint8), **meta)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(movie), plugin="napari-unetseg")
    from napari_unetseg._qt._common import output_layer

    labels = output_layer(viewer, layer, "unet", np.ones((3, 16, 16), np.uint8))
    assert tuple(labels.axis_labels) == ("t", "y", "x")
    [path] = labels.save(str(tmp_path / "movie_unet.tif"), plugin="napari-unetseg")
    back = _io.read_image(path)
    assert (back.axes, back.scale, back.units) == ("TYX", (30.0, 0.5, 0.5), ("s", "µm", "µm"))
    plain = _io.write_labels(tmp_path / "plain_labels.tif", np.ones((3, 4, 4), np.uint8),
                             scale=(30.0, 0.5, 0.5), units=("s", "µm", "µm"))  # fmt: skip
    assert _io.read_image(plain).axes == "TYX"


def test_labels_saved_as_tiff_keep_their_position(tmp_path):
    """A layer's translate (an OME-Zarr image's offset) was dropped in a TIFF: the labels
    reopened off the image. It is recorded and read back, by napari's reader too."""
    meta = {"scale": (0.5, 0.5), "translate": (10.0, 20.0)}
    [path] = _writer.write_labels(tmp_path / "shifted.tif", np.ones((4, 6), np.uint8), meta)
    img = _io.read_image(path)
    assert img.translate == (10.0, 20.0) and not img.provenance  # not shown as provenance
    [(_, layer, _)] = _reader.napari_get_reader(path)(path)
    assert layer["translate"] == (10.0, 20.0)
    [plain] = _writer.write_labels(tmp_path / "plain.tif", np.ones((4, 6), np.uint8), {})
    assert _io.read_image(plain).translate is None


def test_writer_keeps_units_and_axes_from_reader_metadata(tmp_path):
    meta = {"scale": (0.1, 0.1), "metadata": {"axes": "YX", "units": ("nm", "nm")}}
    path = _writer.write_labels(tmp_path / "nm.tif", np.ones((4, 4), np.uint8), meta)[0]
    img = _io.read_image(path)
    assert img.units == ("nm", "nm") and img.scale == pytest.approx((0.1, 0.1))


def test_reader_splits_named_channels(tmp_path):
    data = np.random.default_rng(1).integers(0, 4000, (3, 2, 16, 16), dtype=np.uint16)
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": "ZCYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeY": 0.2,
            "PhysicalSizeZ": 1.0,
            "Channel": {"Name": ["DAPI", "GFP"]},
        },
    )
    [(layer_data, meta, kind)] = _reader.napari_get_reader(str(path))(str(path))
    assert kind == "image"
    assert meta["channel_axis"] == 1
    assert meta["name"] == ["cells [DAPI]", "cells [GFP]"]
    assert meta["scale"] == pytest.approx((1.0, 0.2, 0.2))
    np.testing.assert_array_equal(layer_data, data)


def test_reader_rgb(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    path = _io.write_image(tmp_path / "photo.tif", rgb, axes="YXS")
    [(data, meta, kind)] = _reader.read_tiffs(str(path))
    assert kind == "image" and meta["rgb"] is True and "channel_axis" not in meta
    assert meta["scale"] == (1.0, 1.0)


def test_reader_opens_big_files_lazily(tmp_path, monkeypatch):
    data = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    path = _io.write_image(tmp_path / "big.tif", data)
    monkeypatch.setattr(_io, "LAZY_BYTES", 100)
    [(layer_data, _, _)] = _reader.read_tiffs(str(path))
    assert not isinstance(layer_data, np.ndarray)
    np.testing.assert_array_equal(np.asarray(layer_data), data)


def _pyramid_tiff(path, data, levels=3):
    """A pyramidal OME-TIFF (sub-resolutions in SubIFDs), as QuPath or bfconvert write."""
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        meta = {"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
        tif.write(data, subifds=levels - 1, tile=(64, 64), metadata=meta)
        for n in range(1, levels):
            tif.write(data[:: 2**n, :: 2**n], subfiletype=1, tile=(64, 64))
    return path


def test_a_large_pyramidal_tiff_opens_as_a_multiscale_layer(
    make_napari_viewer, tmp_path, monkeypatch
):
    data = np.arange(512 * 384, dtype=np.uint16).reshape(512, 384)
    path = _pyramid_tiff(tmp_path / "slide.ome.tif", data)
    level = _io.read_image(path, level=2)  # any level, with its own pixel size
    assert level.data.shape == (128, 96) and level.scale == (2.0, 2.0)
    with pytest.raises(ValueError, match="pyramid levels 0 to 2; level 3 does not exist"):
        _io.read_image(path, level=3)
    monkeypatch.setattr(_io, "LAZY_BYTES", 1000)  # "large"
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-unetseg")
    assert layer.multiscale and [lv.shape for lv in layer.data] == [
        (512, 384),
        (256, 192),
        (128, 96),
    ]
    assert tuple(layer.scale) == (0.5, 0.5)
    np.testing.assert_array_equal(np.asarray(layer.data[1]), data[::2, ::2])
    # a small one opens whole, as one array
    monkeypatch.setattr(_io, "LAZY_BYTES", 1 << 30)
    [(small, meta, _)] = _reader.read_tiffs(str(path))
    assert isinstance(small, np.ndarray) and not meta.get("multiscale")


def test_every_series_of_a_file_opens_in_napari_any_through_the_api(tmp_path, warnings_shown):
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.zeros((64, 64), np.uint16), metadata={"axes": "YX", "PhysicalSizeX": 0.5})
        tif.write(np.ones((32, 48), np.uint16), metadata={"axes": "YX", "PhysicalSizeX": 2.0})
    with pytest.warns(UserWarning, match=r"holds 2 image series; the first \(64 x 64\) is read"):
        img = _io.read_image(path)
    assert img.data.shape == (64, 64)
    second = _io.read_image(path, series=1)  # with its own pixel size
    assert second.data.shape == (32, 48) and second.scale[-1] == 2.0
    with pytest.raises(ValueError, match="holds image series 0 to 1; series 2 does not exist"):
        _io.read_image(path, series=2)
    layers = _reader.read_tiffs(str(path))
    assert [(meta["name"], data.shape) for data, meta, _ in layers] == [
        ("positions [series 0]", (64, 64)),
        ("positions [series 1]", (32, 48)),
    ]
    assert warnings_shown == []  # napari shows them all: nothing to warn about
    many = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(many) as tif:
        for k in range(_reader.MAX_SERIES + 2):
            tif.write(np.full((8, 8), k, np.uint16), metadata={"axes": "YX"})
    assert len(_reader.read_tiffs(str(many))) == _reader.MAX_SERIES
    assert warnings_shown == [
        "plate.ome.tif holds 18 image series; the first 16 are opened (--series N, "
        "api.read_image(path, series=N), reads any)."
    ]


def test_integer_mask_opens_as_labels_and_image_as_image(tmp_path):
    ints = np.ones((6, 6), np.uint16)
    img_path = _io.write_image(tmp_path / "nuclei.tif", ints)
    mask_path = _io.write_image(tmp_path / "nuclei_mask.tif", ints)
    layers = _reader.napari_get_reader([str(img_path), str(mask_path)])(
        [str(img_path), str(mask_path)]
    )
    assert [(m["name"], k) for _, m, k in layers] == [
        ("nuclei", "image"),
        ("nuclei_mask", "labels"),
    ]


def test_samples():
    for sample, ndim, scale in (
        (_sample_data.sample_nuclei_2d, 2, (1.0, 1.0)),
        (_sample_data.sample_nuclei_3d, 3, (_sample_data.Z_STEP, 1.0, 1.0)),
    ):
        (image, imeta, ikind), (labels, lmeta, lkind) = sample()
        assert (ikind, lkind) == ("image", "labels")
        assert image.ndim == ndim and image.shape == labels.shape
        assert image.dtype == np.uint16 and labels.dtype.kind == "i"
        assert imeta["scale"] == lmeta["scale"] == scale
        assert labels.max() > 10  # many nuclei
        # Nuclei are brighter than the background, as in a nuclear stain.
        assert image[labels > 0].mean() > 2 * image[labels == 0].mean()


def test_viewer_opens_saves_and_reopens(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    labels = np.zeros((3, 20, 24), np.uint16)
    labels[1, 5:10, 5:10] = 2
    src = _io.write_labels(tmp_path / "in.tif", labels, scale=(3.0, 0.5, 0.5))
    [layer] = viewer.open(str(src), plugin="napari-unetseg")
    assert isinstance(layer, napari.layers.Labels)
    assert tuple(layer.scale) == pytest.approx((3.0, 0.5, 0.5))
    out = tmp_path / "out.tif"
    layer.save(str(out), plugin="napari-unetseg")
    img = _io.read_image(out)
    np.testing.assert_array_equal(img.data, labels)
    assert img.scale == pytest.approx((3.0, 0.5, 0.5)) and img.units == ("µm",) * 3
    # The sample menu entries work in the same viewer.
    viewer.open_sample("napari-unetseg", "nuclei_3d")
    assert [lay.name for lay in viewer.layers][-2:] == ["nuclei 3D", "nuclei 3D ground truth"]
    assert tuple(viewer.layers["nuclei 3D"].scale) == (_sample_data.Z_STEP, 1.0, 1.0)


def test_viewer_saves_labels_into_the_ome_zarr_it_opened(
    make_napari_viewer, tmp_path, monkeypatch
):
    from test_zarr import make_ome_zarr

    from napari_unetseg import _reader, _zarr

    image = make_ome_zarr(
        tmp_path / "img.ome.zarr", np.zeros((2, 300, 280), np.uint16), scale=None, levels=3
    )
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(image), plugin="napari-unetseg")
    labels = np.zeros((2, 300, 280), np.uint8)
    labels[1, 40:90, 50:200] = 2
    painted = viewer.add_labels(labels, name="nuclei", scale=layer.scale)
    [written] = painted.save(str(image), plugin="napari-unetseg")
    assert written.endswith("labels/nuclei")
    # the save dialog's "labels as OME-Zarr" entry with a name typed without extension
    from napari.plugins import _npe2

    filters, writers = _npe2.file_extensions_string_for_layers([painted])
    assert "labels as OME-Zarr (*.ome.zarr *.zarr)" in filters
    [as_zarr] = [w for w in writers if w.display_name == "labels as OME-Zarr"]
    viewer.layers.selection = {painted}
    [typed] = viewer.layers.save(str(tmp_path / "typed"), selected=True, _writer=as_zarr)
    assert typed == str(tmp_path / "typed.ome.zarr")
    np.testing.assert_array_equal(np.asarray(_zarr.read_ome_zarr(typed).data), labels)
    # The store holds as many levels of the labels as of the image (NGFF), on its grid.
    stored = _zarr.read_ome_zarr(image)
    assert [lv.shape for lv in stored.labels["nuclei"]] == [lv.shape for lv in stored.levels]
    assert len(stored.levels) == 3
    # reopened, the labels lie over the image, as their full resolution alone: paintable
    reopened = make_napari_viewer().open(str(image), plugin="napari-unetseg")
    shown = reopened[1]
    assert isinstance(shown, napari.layers.Labels) and shown.name == "img [nuclei]"
    assert not shown.multiscale
    np.testing.assert_array_equal(np.asarray(shown.data), labels)
    # a labels store of its own opens the same way (it opened as its pyramid: bug bash)
    [alone] = make_napari_viewer().open(typed, plugin="napari-unetseg")
    assert isinstance(alone, napari.layers.Labels) and not alone.multiscale
    alone.mode = "paint"
    assert alone.mode == "paint"
    # labels of planes larger than LABELS_PLANE_PIXELS open as their pyramid
    monkeypatch.setattr(_reader, "LABELS_PLANE_PIXELS", 100 * 100)
    shown = make_napari_viewer().open(str(image), plugin="napari-unetseg")[1]
    assert shown.multiscale and len(shown.data) == 3
    np.testing.assert_array_equal(np.asarray(shown.data[0]), labels)
    np.testing.assert_array_equal(np.asarray(shown.data[2]), labels[:, ::4, ::4])
    # edited and saved, they replace the first save
    # a multiscale layer saves its full resolution, here as a TIFF
    [tif] = shown.save(str(tmp_path / "levels.tif"), plugin="napari-unetseg")
    np.testing.assert_array_equal(_io.read_image(tif).data, labels)
    edited = viewer.add_labels(labels * 0 + 1, name=shown.name, scale=shown.scale)
    edited.save(str(image), plugin="napari-unetseg")
    assert list(_zarr.read_ome_zarr(image).labels) == ["nuclei"]
    assert np.asarray(_zarr.read_ome_zarr(image).labels["nuclei"][0]).min() == 1


def test_labels_painted_after_the_model_are_saved_as_edited(make_napari_viewer, tmp_path):
    """Labels a model wrote, opened, painted on and saved still said they were the
    model's output with its settings (reproducibility bug bash); unpainted, they are."""
    path = _io.write_labels(
        tmp_path / "cells_labels.tif",
        np.zeros((32, 32), np.uint8),
        provenance={"model": "nuclei-2d", "settings": {"object_size": "auto"}},
    )
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-unetseg")
    [kept] = layer.save(str(tmp_path / "kept.tif"), plugin="napari-unetseg")
    assert _io.read_image(kept).provenance == {
        "model": "nuclei-2d",
        "settings": {"object_size": "auto"},
    }
    layer.data[2:5, 2:5] = 3  # a stroke
    [painted] = layer.save(str(tmp_path / "painted.tif"), plugin="napari-unetseg")
    said = _io.read_image(painted).provenance
    assert (
        said["model"] == "nuclei-2d" and said["edited"] == "painted by hand after the model's run"
    )


def test_a_png_saved_as_tif_opens_in_napari_as_on_the_command_line(tmp_path):
    """read_image and the CLI read it; the napari reader refused it ("not a readable
    TIFF file ... header=b'\\x89PNG'") (TIFF bash)."""
    import imageio.v3 as iio

    picture = np.zeros((40, 50), np.uint8)
    picture[10:20, 10:30] = 200
    path = tmp_path / "pic.tif"
    iio.imwrite(path, picture, extension=".png")
    reader = _reader.napari_get_reader(str(path))
    assert reader is not None
    [(data, meta, kind)] = reader(str(path))
    np.testing.assert_array_equal(np.asarray(data), picture)
    assert kind == "image"


def test_a_complex_tiff_is_one_warning_in_napari(tmp_path, warnings_shown):
    """read_image takes complex numbers (the command line refuses them); napari raised
    NotImplementedError out of the open (TIFF bash): one sentence, no layer."""
    path = tmp_path / "fft.tif"
    tifffile.imwrite(path, (np.ones((16, 16)) + 1j).astype(np.complex64))
    assert _reader.napari_get_reader(str(path))(str(path)) is None
    assert len(warnings_shown) == 1 and "'fft.tif' is complex-valued" in warnings_shown[0]


def test_labels_in_an_image_store_keep_their_record_and_edits_show(make_napari_viewer, tmp_path):
    """Write-back bash: labels saved into their image's OME-Zarr store reopened without
    their record of how they were made and their class names (a save after that dropped
    the record); OME-Zarr labels reopened, painted and saved were not marked edited."""
    import zarr
    from ome_zarr.writer import write_image

    store = tmp_path / "img.ome.zarr"
    write_image(np.zeros((32, 32), np.uint16), zarr.open_group(str(store), mode="w"), axes="yx")
    record = {"model": "nuclei-2d", "classes": ["background", "nucleus"]}
    path = _io.write_labels(
        tmp_path / "cells_labels.tif", np.ones((32, 32), np.uint8), provenance=record
    )
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-unetseg")
    layer.save(str(store), plugin="napari-unetseg")  # into the image's labels/ group
    [standalone] = layer.save(str(tmp_path / "alone.ome.zarr"), plugin="napari-unetseg")
    for source in (str(store), standalone):
        labels = [x for x in make_napari_viewer().open(source, plugin="napari-unetseg")
                  if isinstance(x, napari.layers.Labels)][0]  # fmt: skip
        assert labels.metadata["unetseg"]["model"] == "nuclei-2d"
        assert list(labels.features["class"]) == ["background", "nucleus"]
        labels.data[2:5, 2:5] = 2  # a stroke (a lazy array takes it too)
        [painted] = labels.save(str(tmp_path / "painted.tif"), plugin="napari-unetseg")
        assert (
            _io.read_image(painted).provenance["edited"] == "painted by hand after the model's run"
        )


def test_a_time_axis_known_by_its_unit_and_a_turn_that_is_not_saved(tmp_path):
    """Write-back bash: a (3, Y, X) layer in (s, µm, µm) under napari's default axis
    labels was saved to NIfTI with a 5 s step as 5 µm of depth and to OME-Zarr as a
    space axis in seconds; a rotated or affine layer was saved unturned without a word."""
    data = np.ones((3, 8, 8), np.uint8)
    meta = {"scale": (5.0, 0.5, 0.5), "units": ("s", "µm", "µm"), "name": "movie"}
    for suffix in (".nii.gz", ".ome.zarr"):
        [out] = _writer.save_labels(tmp_path / f"movie{suffix}", data, meta)
        img = _io.read_image(out)
        assert img.axes.replace("Z", "") in ("TYX", "TZYX") and "T" in img.axes
        assert img.units[0] == "s" and img.scale[0] == pytest.approx(5.0)
    turned = {"scale": (1.0, 1.0), "rotate": [[0.0, -1.0], [1.0, 0.0]], "name": "t"}
    with pytest.warns(UserWarning, match="the layer's rotation is not saved"):
        _writer.save_labels(tmp_path / "turned.tif", np.ones((4, 4), np.uint8), turned)
    flipped = {"scale": (1.0, -0.5), "name": "f"}  # a size, said; -0.5 was refused on reading
    with pytest.warns(UserWarning, match=r"the layer's flip \(a negative scale\) is not saved"):
        [out] = _writer.save_labels(tmp_path / "flip.ome.zarr", np.ones((4, 4), np.uint8), flipped)
    assert _io.read_image(out).scale == pytest.approx((1.0, 0.5))
    plain = {"scale": (1.0, 1.0), "rotate": np.eye(2), "affine": np.eye(3), "name": "p"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _writer.save_labels(tmp_path / "plain.tif", np.ones((4, 4), np.uint8), plain)
