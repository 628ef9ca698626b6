"""Segment on a dask cluster: the worker side of the Segment widget sends the blocks of an
OME-Zarr layer to a real scheduler (a LocalCluster started here) and shows the labels
its workers wrote into the store; what a cluster cannot run is refused in one sentence."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unetseg import _zarr, api
from napari_unetseg import distributed as dist
from napari_unetseg._qt.segment_job import SegmentRequest, segment_job
from napari_unetseg.core.progress import drain

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    """The address of a real LocalCluster with one single-threaded worker process."""
    client = dist.connect(workers=1, processes=True)
    yield client.scheduler.address
    dist.close(client)


def _read(data) -> np.ndarray:
    """Lazy labels read in this process: the module's client is dask's default, and a
    read through it waits on the cluster (one hung there while a worker restarted)."""
    return np.asarray(data.compute(scheduler="threads") if hasattr(data, "compute") else data)


def _store(tmp_path, data, axes="yx"):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    store = tmp_path / "img.ome.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    write_image(data, group, axes=axes, fmt=FormatV04(), scale_factors=())
    return str(store)


def test_blocks_run_on_the_cluster_and_land_in_the_layers_store(
    scheduler, tmp_path, tiny_model_2d
) -> None:
    data = np.random.default_rng(3).random((96, 160)).astype(np.float32)
    store = _store(tmp_path, data)
    image = _zarr.read_ome_zarr(store).data
    request = SegmentRequest(
        image=image,
        model=tiny_model_2d,
        store=store,
        scheduler=scheduler,
        options={"object_size": None, "tile_size": (64, 64)},
    )
    result = drain(segment_job(request))
    assert "on 1 dask worker to" in result.summary and "labels/" in result.summary
    assert not isinstance(result.labels, np.ndarray)  # shown lazily from the store
    expected = api.predict(data, tiny_model_2d, object_size=None, tile_size=(64, 64))
    np.testing.assert_array_equal(_read(result.labels), expected)
    assert list(_zarr.read_ome_zarr(store).labels) == [api.load_model(tiny_model_2d).name]


def _own_cluster_request(tmp_path, model, shape, workers):
    """A LocalCluster of its own (``workers`` in this process) and the request of a
    random OME-Zarr layer of ``shape`` on it."""
    from distributed import LocalCluster

    data = np.random.default_rng(3).random(shape).astype(np.float32)
    store = _store(tmp_path, data)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                           dashboard_address=None)  # fmt: skip
    request = SegmentRequest(
        image=_zarr.read_ome_zarr(store).data,
        model=model,
        store=store,
        scheduler=cluster.scheduler_address,
        options={"object_size": None, "tile_size": (64, 64)},
    )
    return cluster, request


def test_a_dark_image_on_the_cluster_offers_segment_again(scheduler, tmp_path) -> None:
    """A block run said "dark objects on a bright background" but carried no mark of it,
    so Segment offered no "Segment again" button (review)."""
    from napari_unetseg.core.synthetic import synthetic_nuclei

    plane, _ = synthetic_nuclei((128, 160), seed=1, radius=(7, 8))
    store = _store(tmp_path, (plane.max() - plane).astype(np.float32))
    request = SegmentRequest(
        image=_zarr.read_ome_zarr(store).data, model="nuclei-2d", store=store,
        scheduler=scheduler, options={"object_size": "auto"},
    )  # fmt: skip
    size = drain(segment_job(request)).stats["object_size"]
    assert "shows dark objects on a bright background" in size["message"]
    assert size.get("dark_objects")


def test_a_cluster_gone_mid_run_is_said_in_the_widgets_words(tmp_path, tiny_model_2d) -> None:
    """The command's sentence ("the blocks written so far are kept ... --resume") was
    shown by the widget, which keeps nothing and has no --resume (review)."""
    import os

    cluster, request = _own_cluster_request(tmp_path, tiny_model_2d, (96, 320), workers=1)
    job = segment_job(request)
    try:
        next(job)
        cluster.close()
        with pytest.raises(dist.ClusterError) as ended:
            drain(job)
    finally:
        cluster.close()
    said = str(ended.value)
    assert said.startswith("The connection to the dask scheduler ended during the run")
    assert "the image's earlier labels are as they were: run it again" in said
    assert "--resume" not in said
    labels = os.path.join(request.store, "labels")
    assert not os.path.exists(labels) or not any(
        n.endswith(".unfinished") for n in os.listdir(labels)
    )


def test_other_cluster_errors_keep_their_own_sentence(tmp_path, tiny_model_2d) -> None:
    """Every cluster error was said as the connection's end in the widget (review): a
    cluster without workers says so."""
    cluster, request = _own_cluster_request(tmp_path, tiny_model_2d, (64, 96), workers=0)
    try:
        with pytest.raises(dist.ClusterError) as refused:
            drain(segment_job(request))
    finally:
        cluster.close()
    assert "no workers" in str(refused.value) and "connection" not in str(refused.value)


def test_what_a_cluster_cannot_run_is_refused_in_one_sentence(
    scheduler, tmp_path, tiny_model_2d
) -> None:
    data = np.zeros((2, 32, 32), np.float32)
    in_memory = SegmentRequest(image=data[0], model=tiny_model_2d, scheduler=scheduler)
    with pytest.raises(ValueError, match="OME-Zarr store"):
        drain(segment_job(in_memory))
    plane = SegmentRequest(
        image=data, model=tiny_model_2d, scheduler=scheduler, position=(1, 0, 0)
    )
    with pytest.raises(ValueError, match="Current plane only"):
        drain(segment_job(plane))


def test_an_unreachable_scheduler_is_one_sentence_and_writes_nothing(
    tmp_path, tiny_model_2d
) -> None:
    store = _store(tmp_path, np.zeros((32, 32), np.float32))
    request = SegmentRequest(
        image=_zarr.read_ome_zarr(store).data,
        model=tiny_model_2d,
        store=store,
        scheduler="tcp://127.0.0.1:9",  # nothing listens on the discard port
        options={"object_size": None},
    )
    with pytest.raises(dist.ClusterError, match="Cannot reach the dask scheduler"):
        drain(segment_job(request))
    assert not list(_zarr.read_ome_zarr(store).labels)


def _run_on_cluster(qtbot, viewer, widget, layer, address: str) -> None:
    """Run the Segment widget on ``layer`` at the scheduler ``address``, and wait."""
    widget.image_combo.set_layer(layer)
    widget.scheduler_edit.setText(address)
    with qtbot.waitSignal(widget.runner.finished, timeout=120_000):
        assert widget.run() is not None
    assert "on 1 dask worker to" in widget.status.text(), widget.status.text()


@pytest.fixture
def segment(make_napari_viewer, tiny_model_2d):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unetseg", "Segment")
    widget.model_combo.set_model_name(tiny_model_2d)
    return viewer, widget


def test_the_widget_runs_an_ome_zarr_layer_on_the_cluster_at_its_address(
    qtbot, segment, scheduler, tmp_path, tiny_model_2d
) -> None:
    viewer, widget = segment
    data = np.random.default_rng(5).random((80, 96)).astype(np.float32)
    [layer] = viewer.open(_store(tmp_path, data), plugin="napari-unetseg")
    _run_on_cluster(qtbot, viewer, widget, layer, f" {scheduler} ")
    out = viewer.layers[f"{layer.name} [unet]"].data
    assert not isinstance(out, np.ndarray)  # read lazily from the store
    expected = api.predict(data, tiny_model_2d)
    np.testing.assert_array_equal(_read(out), expected)


def test_one_channel_layer_of_a_multi_channel_store_runs_on_the_cluster(
    qtbot, segment, scheduler, tmp_path, tiny_model_2d
) -> None:
    viewer, widget = segment
    data = np.random.default_rng(6).random((2, 80, 96)).astype(np.float32)
    layers = viewer.open(_store(tmp_path, data, axes="cyx"), plugin="napari-unetseg")
    assert [la.metadata["channel"] for la in layers] == [0, 1]
    _run_on_cluster(qtbot, viewer, widget, layers[1], scheduler)
    out = viewer.layers[f"{layers[1].name} [unet]"].data
    np.testing.assert_array_equal(_read(out), api.predict(data[1], tiny_model_2d))
