"""Block-wise prediction into OME-Zarr, in one process and on a real dask LocalCluster:
the same labels as a single-process run, the model sent once per worker, a worker killed
mid-run, --resume, and the "bad input" cases of the CLI."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time

import numpy as np
import pytest

from napari_unetseg import _io, _zarr, _zarr_labels, api, cli
from napari_unetseg import distributed as dist
from napari_unetseg.core.synthetic import synthetic_nuclei

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def image_2d(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    img, _ = synthetic_nuclei((256, 288), seed=3)
    path = folder / "plane.tif"
    _io.write_image(path, img, scale=(0.5, 0.5), axes="YX", units=("µm", "µm"))
    reference = api.predict(img, "nuclei-2d", object_size=None)
    assert 0.02 < (reference > 0).mean() < 0.9  # real objects, not a trivial answer
    return path, reference


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (real processes: one is killed below)."""
    client = dist.connect(workers=2, processes=True)
    yield client
    dist.close(client)


def read_labels(path) -> np.ndarray:
    """An OME-Zarr store's level 0 (labels or maps), read in this process."""
    # in this process: the module's cluster is dask's default client, and the read hung
    # once with its killed worker still restarting on a loaded machine
    return np.asarray(_zarr.read_ome_zarr(path).data.compute(scheduler="threads"))


def test_blocks_in_one_process_equal_a_whole_image_run_2d_and_3d(image_2d, tmp_path) -> None:
    path, reference = image_2d
    out = tmp_path / "p.ome.zarr"
    result = dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None)
    assert result.stats["blocks"] == 3 and result.stats["workers"] == 0  # X cut in 3; Y streamed
    np.testing.assert_array_equal(read_labels(out), reference)  # same tiles, same blend
    back = _zarr.read_ome_zarr(out)
    assert back.scale == (0.5, 0.5) and back.units == ("µm", "µm") and back.is_labels
    sure = result.stats["confidence"]  # summed over the blocks: a sure model, no hint
    assert 0.5 < sure["sure_share"] <= 1.0 and sure["message"] is None

    vol, _ = synthetic_nuclei((20, 80, 100), seed=4)
    vpath = tmp_path / "vol.tif"
    _io.write_image(vpath, vol, axes="ZYX", scale=(2.0, 1.0, 1.0))
    ref3 = api.predict(vol, "nuclei-3d", object_size=None)
    out3 = tmp_path / "v.ome.zarr"
    res3 = dist.predict_blocks(vpath, "nuclei-3d", out3, block_size=48, object_size=None)
    assert res3.stats["blocks"] == 6  # Z is streamed whole; Y and X are cut
    assert (read_labels(out3) == ref3).mean() >= 0.999


def test_a_series_with_an_empty_middle_time_point_is_measured_on_another(tmp_path) -> None:
    """As a whole-image run of a series: a middle frame without objects gives way to
    another time point (a block run measured the middle one only; time-lapse bash)."""
    movie = np.stack([synthetic_nuclei((96, 128), seed=s, radius=(7, 8))[0] for s in range(3)])
    movie[1] = movie[0].mean()
    path = _io.write_image(tmp_path / "movie.tif", movie, axes="TYX")
    result = dist.predict_blocks(path, "nuclei-2d", tmp_path / "m.ome.zarr", block_size=64)
    said = result.stats["object_size"]
    assert "; measured on time point 0 of 0-2 (time point 1, the middle one, shows none)" in said
    whole = api.segment_iter(movie, "nuclei-2d", time_axis=0)
    measured = api.drain(whole).stats["object_size"]["message"]
    assert said.split(" px")[0] == measured.split(" px")[0]  # the same size


def test_a_dark_series_in_blocks_is_measured_on_its_middle_time_point(tmp_path) -> None:
    """A block run of a series of dark objects went on to other time points and measured
    a bright blob in one of them, without the dark hint (review)."""
    frames = [synthetic_nuclei((96, 128), seed=s, radius=(7, 8))[0] for s in range(5)]
    movie = np.stack([f.max() - f for f in frames]).astype(np.float32)
    movie[1, 30:66, 30:66] = 3.0 * movie.max()  # a bright blob in another frame
    path = _io.write_image(tmp_path / "dark.tif", movie, axes="TYX")
    result = dist.predict_blocks(path, "nuclei-2d", tmp_path / "d.ome.zarr", block_size=64)
    said = result.stats["object_size"]
    assert "dark objects on a bright background" in said and "time point 1 of" not in said


def test_blocks_narrower_than_a_tile_are_said_to_repeat_the_work(image_2d, tmp_path) -> None:
    """16-pixel blocks took 66 s where one block took 3 s, unsaid (cluster bash): blocks
    narrower than the model's tile say so, with a size that is faster; others do not."""
    path, reference = image_2d
    run = dist.predict_blocks_iter(
        path, "nuclei-2d", tmp_path / "s.ome.zarr", block_size=40, object_size=None
    )
    records = []
    small = api.drain(run, records.append)
    # the pyramid's progress counts its levels, not the blocks again (review)
    levels = [(r.done, r.total) for r in records if r.stage == "pyramid"]
    assert levels and levels == [(k, len(levels)) for k in range(1, len(levels) + 1)]
    said = small.stats["object_size"]
    assert "Blocks of 40 px are narrower than the model's tile" in said
    assert "a block size of 288 px (the whole axis) is much faster" in said  # X: 288 px
    whole = dist.predict_blocks(path, "nuclei-2d", tmp_path / "w.ome.zarr", object_size=None)
    assert "narrower than the model's tile" not in (whole.stats["object_size"] or "")
    # an image narrower than a tile, not cut (it was told to use bigger blocks; review)
    narrow = _io.write_image(tmp_path / "narrow.tif", np.zeros((300, 40), np.float32))
    thin = dist.predict_blocks(narrow, "nuclei-2d", tmp_path / "n.ome.zarr", object_size=None)
    assert "narrower than the model's tile" not in (thin.stats["object_size"] or "")
    np.testing.assert_array_equal(read_labels(tmp_path / "s.ome.zarr"), reference)


def test_a_frame_is_left_out_of_block_runs_as_of_whole_image_runs(tmp_path, capsys) -> None:
    """A zero frame around a mosaic (the data that go block-wise): blocks predicted the
    frame with the image and marked a band along its inside, as whole-image runs did
    before they left it out. Blocks now read and write only inside it (on the inside's
    tile grid), so they equal api.predict; a block wholly in the frame is not run; a
    resumed run continues; resampled runs agree with api.predict as unframed ones do."""
    img, _ = synthetic_nuclei((192, 256), seed=5)
    framed = np.pad(img, ((40, 24), (13, 80)))  # X: 349 wide, inside 13..269
    path = tmp_path / "mosaic.tif"
    _io.write_image(path, framed)
    reference = api.predict(framed, "nuclei-2d", object_size=None)
    out = tmp_path / "m.ome.zarr"
    run = dist.predict_blocks_iter(path, "nuclei-2d", out, block_size=64, object_size=None)
    first = next(run)
    assert "A frame of value 0 (13-80 px wide)" in first.message
    assert first.done == 1 and first.total == 6  # the block at X 320..349: frame only
    result = api.drain(run)
    assert result.stats["blocks"] == 5 and result.stats["framed"] == 1  # not "already done"
    labels = read_labels(out)
    np.testing.assert_array_equal(labels, reference)
    assert not labels[:40].any() and not labels[:, 269:].any()
    again = dist.predict_blocks(
        path, "nuclei-2d", out, block_size=64, object_size=None, resume=True
    )
    assert again.stats["blocks"] == 0 and again.stats["framed"] == 0  # marked before
    # resampled (the blocks tile themselves): as close as without a frame
    sized = api.predict(framed, "nuclei-2d", object_size=10.0)
    out2 = tmp_path / "r.ome.zarr"
    dist.predict_blocks(path, "nuclei-2d", out2, block_size=100, object_size=10.0)
    resampled = read_labels(out2)
    assert not resampled[:, 269:].any() and (resampled == sized).mean() > 0.995
    # a fresh command says the frame's block as such ("1 already done" read as a resume)
    argv = ["predict", str(path), "-o", str(tmp_path / "c.ome.zarr"), "--block-size", "64"]
    code, said = run_cli([*argv, "--model", "nuclei-2d", "--object-size", "off"], capsys)
    assert code == 0 and "(5 blocks, 1 in the frame, left background) on " in said.out


def test_nan_regions_are_background_in_block_runs_as_in_whole_image_runs(tmp_path) -> None:
    """NaN outside the anatomy (SPM / FSL outputs): blocks marked objects inside a NaN
    block (its edge, filled from the nearest pixels), where api.predict labels it
    background; now they write 0 there, labels and probability map alike."""
    img, _ = synthetic_nuclei((192, 256), seed=5)
    img = img.astype(np.float32)
    img[60:110, 100:150] = np.nan
    path = tmp_path / "nan.tif"
    _io.write_image(path, img)
    with pytest.warns(UserWarning, match="NaN"):
        reference = api.predict(img, "nuclei-2d")
    assert not reference[60:110, 100:150].any()
    out, maps = tmp_path / "n.ome.zarr", tmp_path / "p.ome.zarr"
    with pytest.warns(UserWarning, match="treated as background"):
        dist.predict_blocks(path, "nuclei-2d", out, block_size=64, probabilities=maps)
    np.testing.assert_array_equal(read_labels(out), reference)
    assert not read_labels(maps)[60:110, 100:150].any()


def test_a_resampled_stack_in_one_block_takes_the_whole_images_tile(tmp_path) -> None:
    """A stack resampled along Z was tiled with a tile sized on its own 12 planes, not
    the resampled 35: 1 % of the labels differed from api.predict in a single block."""
    vol, _ = synthetic_nuclei((12, 96, 96), seed=5, radius=(6, 8), z_scale=3.0)
    path = tmp_path / "thin.tif"
    _io.write_image(path, vol, axes="ZYX", scale=(3.0, 1.0, 1.0))
    whole = api.drain(api.predict_iter(vol, "nuclei-3d", scale=(3.0, 1.0, 1.0)))
    out = tmp_path / "thin.ome.zarr"
    res = dist.predict_blocks(path, "nuclei-3d", out, block_size=512)
    assert res.stats["blocks"] == 1 and res.stats["tiles"] == whole.stats["n_tiles"]
    assert (read_labels(out) == whole.labels).mean() >= 0.998  # 0.9989 (0.9855 before)


def test_a_stack_without_pixel_size_gets_one_measured_z_step_for_all_blocks(tmp_path) -> None:
    vol, _ = synthetic_nuclei((24, 96, 96), seed=7, radius=(7, 9), z_scale=3.0)
    path = tmp_path / "deep.tif"
    _io.write_image(path, vol, axes="ZYX")  # no pixel size
    whole = api.drain(api.predict_iter(vol, "nuclei-3d"))
    assert "Z step is taken as" in whole.stats["object_size"]["message"]
    out = tmp_path / "deep.ome.zarr"
    res = dist.predict_blocks(path, "nuclei-3d", out, block_size=48)
    assert res.stats["blocks"] > 1 and "Z step is taken as" in res.stats["object_size"]
    assert (read_labels(out) == whole.labels).mean() >= 0.99


def test_auto_object_size_of_a_block_run_is_a_whole_runs_where_the_image_fits_the_estimate(
    tmp_path, monkeypatch
) -> None:
    """A block run measured 'auto' on a 160-voxel cube: 4 nuclei of a 24 x 256 x 256
    stack where a whole-image run measured 70, and 1.6 % of the labels differed (GUI
    bug bash). Up to the estimator's budget it measures the whole image now, as a
    whole-image run does, and says "a central crop" only where it takes one."""
    from napari_unetseg.core import scale
    from napari_unetseg.distributed import run

    vol, _ = synthetic_nuclei((12, 96, 320), seed=6)
    path = tmp_path / "wide.tif"
    _io.write_image(path, vol, axes="ZYX")
    whole = api.drain(api.predict_iter(vol, "nuclei-3d"))
    res = dist.predict_blocks(path, "nuclei-3d", tmp_path / "w.ome.zarr")
    assert res.stats["object_size"] == whole.stats["object_size"]["message"]
    assert "central crop" not in res.stats["object_size"]
    monkeypatch.setattr(scale, "MAX_ESTIMATE_VOXELS", 12 * 96 * 160)
    crop = run._central_crop(((0, 12), (0, 96), (0, 320)))
    assert crop == (slice(0, 12), slice(0, 96), slice(80, 240))  # the longest axis is cut
    res2 = dist.predict_blocks(path, "nuclei-3d", tmp_path / "c.ome.zarr")
    assert "auto (a central crop):" in res2.stats["object_size"]


def test_an_image_smaller_than_the_models_object_size_is_segmented_as_a_whole_run_does(
    tmp_path,
) -> None:
    # 'auto' without objects falls back to the model's own size (16 px); the block run
    # once refused that size as "larger than the image" where the whole-image run predicts.
    path = tmp_path / "tiny.tif"
    _io.write_image(path, np.zeros((2, 8, 8), np.uint16), axes="ZYX")
    whole = api.drain(api.predict_iter(_io.read_image(path).data, "nuclei-3d"))
    out = tmp_path / "tiny.ome.zarr"
    res = dist.predict_blocks(path, "nuclei-3d", out)
    assert "the model's own size (16 px) is used" in res.stats["object_size"]
    np.testing.assert_array_equal(read_labels(out), whole.labels)


def test_blocks_too_big_to_read_whole_stream_band_by_band_to_the_same_labels(
    image_2d, tmp_path, monkeypatch
) -> None:
    from napari_unetseg.distributed import worker

    path, reference = image_2d
    monkeypatch.setattr(worker, "PREFETCH_BYTES", 0)  # every block "too big"
    out = tmp_path / "s.ome.zarr"
    dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None)
    np.testing.assert_array_equal(read_labels(out), reference)


def test_on_a_cluster_labels_agree_and_the_model_is_built_once_per_worker(
    image_2d, cluster, tmp_path
) -> None:
    path, reference = image_2d
    out = tmp_path / "c.ome.zarr"
    result = dist.predict_blocks(
        path, "nuclei-2d", out, block_size=64, object_size=None, client=cluster
    )
    assert result.stats["blocks"] == 5 and result.stats["workers"] == 2
    assert (read_labels(out) == reference).mean() >= 0.999
    builds = cluster.run(lambda: sum(dist.BUILDS.values()))
    assert all(n <= 1 for n in builds.values()) and sum(builds.values()) >= 1


def test_workers_run_without_the_profiler_and_get_the_costliest_blocks_first(cluster) -> None:
    import dask

    def settings() -> tuple[bool, bool]:
        get = dask.config.get
        return get("distributed.worker.profile.enabled"), get(
            "distributed.admin.system-monitor.gil.enabled"
        )

    assert set(cluster.run(settings).values()) == {(False, False)}

    from napari_unetseg.core.inference import tile_starts
    from napari_unetseg.distributed.blocks import _Plan

    starts = [tile_starts(s, 64, 0.25) for s in (128, 400)]
    plan = _Plan((128, 400), 0, (128, 100), (64, 64), starts, (0, 0))
    order = plan.by_cost(plan.boxes())
    tiles = [len(plan.job(i)["tile_starts"][1]) for i in order]
    assert tiles == sorted(tiles, reverse=True) and tiles[0] > tiles[-1]
    assert set(order[-2:]) == {(0, 0), (0, 3)}  # the edge blocks, one border each, go last


def test_a_worker_lost_while_the_model_is_sent_costs_a_second_sending(
    image_2d, cluster, tmp_path, monkeypatch
) -> None:
    """A worker killed while the model was being scattered ended the run, "lost while
    it ran a block" (scale-out bug bash): the model is sent again to the workers there
    are. The loss is dask's own error, raised by the real client's first sending."""
    from distributed.comm.core import CommClosedError

    path, reference = image_2d
    scatter, sent = cluster.scatter, []

    def lost_once(*args, **kwargs):
        sent.append(1)
        if len(sent) == 1:
            raise CommClosedError("in <TCP (closed) ConnectionPool.scatter>: Stream is closed")
        return scatter(*args, **kwargs)

    monkeypatch.setattr(cluster, "scatter", lost_once)
    out = tmp_path / "again.ome.zarr"
    dist.predict_blocks(path, "nuclei-2d", out, client=cluster, block_size=96, object_size=None)
    assert len(sent) == 2
    np.testing.assert_array_equal(read_labels(out), reference)
    tries = []

    def always_lost(*args, **kwargs):
        tries.append(1)
        raise CommClosedError("in <TCP (closed) ConnectionPool.scatter>: Stream is closed")

    monkeypatch.setattr(cluster, "scatter", always_lost)  # one sentence after three tries
    with pytest.raises(dist.ClusterError, match="lost while the model was sent to the workers"):
        dist.predict_blocks(
            path, "nuclei-2d", tmp_path / "never.ome.zarr", client=cluster, object_size=None
        )
    assert len(tries) == 3


def test_a_worker_killed_mid_run_costs_only_its_blocks(image_2d, cluster, tmp_path) -> None:
    path, reference = image_2d
    out = tmp_path / "k.ome.zarr"
    pids = cluster.run(os.getpid)
    gen = dist.predict_blocks_iter(
        path, "nuclei-2d", out, block_size=48, object_size=None, client=cluster
    )
    killed = []

    def kill_once(record) -> None:
        if not killed and record.stage == "blocks" and record.done >= 2:
            os.kill(next(iter(pids.values())), signal.SIGKILL)
            killed.append(True)

    result = api.drain(gen, kill_once)
    assert killed and result.stats["blocks"] == 6
    assert (read_labels(out) == reference).mean() >= 0.999
    cluster.wait_for_workers(2, timeout=120)  # the nanny restarts it (the next tests need 2)


def test_a_model_lost_with_every_worker_is_sent_again(image_2d, cluster, tmp_path) -> None:
    # Every worker killed at once loses every copy of the scattered model: the run ended
    # with a sentence blaming memory; the restarted workers get the model again instead.
    path, reference = image_2d
    out = tmp_path / "all.ome.zarr"
    pids = list(cluster.run(os.getpid).values())
    gen = dist.predict_blocks_iter(
        path, "nuclei-2d", out, block_size=48, object_size=None, client=cluster
    )
    killed = []

    def kill_all_once(record) -> None:
        if not killed and record.stage == "blocks" and record.done >= 1:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed.append(True)

    result = api.drain(gen, kill_all_once)
    assert killed and result.stats["blocks"] >= 5  # the blocks still to do, done anew
    np.testing.assert_array_equal(read_labels(out), reference)
    cluster.wait_for_workers(2, timeout=120)


def test_blocks_of_a_replaced_run_write_nothing_more(image_2d, tmp_path) -> None:
    # Ctrl-C cannot stop blocks already running on workers: when a newer run takes the
    # store (--resume, --overwrite) they must neither write over its labels nor mark
    # their blocks done. Here the store is taken over after the first block.
    from napari_unetseg.distributed.records import Superseded

    path, _ = image_2d
    out = tmp_path / "old.ome.zarr"
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, block_size=96, object_size=None)
    with pytest.raises(Superseded, match="replaced by another"):
        for record in gen:
            if record.stage == "blocks" and record.done == 1:
                _zarr_labels.LabelsStore(out).set_info(run="a newer run")
    store = _zarr_labels.LabelsStore(out)
    done = store.blocks_done()
    assert done.shape == (1, 3) and done.sum() == 1
    labels = np.asarray(store.level0(mode="r")[...])
    first = int(np.flatnonzero(done[0])[0]) * 96
    assert labels[:, first : first + 96].any()
    labels[:, first : first + 96] = 0
    assert not labels.any()  # the later blocks wrote nothing


def _command_after_one_block(path, out, capsys, monkeypatch, meanwhile) -> list[str]:
    """``unetseg predict PATH -o OUT`` with ``meanwhile(out)`` done after its first
    block (as another shell would); its stderr lines."""
    run = dist.predict_blocks_iter

    def changed_after_one_block(*args, **kwargs):
        for record in run(*args, **kwargs):
            yield record
            if record.stage == "blocks" and record.done == 1:
                meanwhile(out)

    monkeypatch.setattr(dist, "predict_blocks_iter", changed_after_one_block)
    argv = ["predict", str(path), "-o", str(out), "--block-size", "96", "--object-size", "off"]
    assert cli.main(argv) == 1
    return capsys.readouterr().err.strip().splitlines()


def test_the_command_says_in_one_line_that_another_run_took_its_store(
    image_2d, tmp_path, capsys, monkeypatch
) -> None:
    """A run whose store another process resumed (a nohup run thought dead) ended in an
    18-frame traceback of Superseded (scale-out bug bash): one sentence now."""
    out = tmp_path / "taken.ome.zarr"

    def take(store):  # as a --resume from another shell does
        _zarr_labels.LabelsStore(store).set_info(run="another process's run")

    err = _command_after_one_block(image_2d[0], out, capsys, monkeypatch, take)
    assert err[-1] == (
        f"unetseg: error: {str(out)!r} was taken over by another run (--resume or "
        "--overwrite), so this one stopped; the other run goes on with it."
    )
    assert not any("Traceback" in line for line in err)


def test_the_command_says_when_its_store_was_removed_meanwhile(
    image_2d, tmp_path, capsys, monkeypatch
) -> None:
    """A store deleted while written was "taken over by another run" (disk bug bash)."""
    import shutil

    out = tmp_path / "gone.ome.zarr"
    err = _command_after_one_block(image_2d[0], out, capsys, monkeypatch, shutil.rmtree)
    assert err[-1] == (
        f"unetseg: error: {str(out)!r} was removed while it was being written, so this run "
        "stopped."
    )


def test_resume_skips_the_blocks_already_written(image_2d, tmp_path) -> None:
    path, reference = image_2d
    out = tmp_path / "r.ome.zarr"
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, block_size=96, object_size=None)
    for record in gen:
        if record.done >= 2:
            break
    gen.close()  # interrupted: two blocks written, no OME metadata yet
    assert _zarr_labels.LabelsStore(out).blocks_done().sum() == 2
    with pytest.raises(FileExistsError, match="--resume"):
        dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None)
    with pytest.raises(ValueError, match="other settings"):
        dist.predict_blocks(path, "nuclei-2d", out, block_size=64, object_size=None, resume=True)
    # another image saved at the input's path resumed into a mix of two (distributed bug
    # bash: 20 % of the voxels)
    other = tmp_path / "plane.tif"
    _io.write_image(other, 2.0 * _io.read_image(path).data + 50, scale=(0.5, 0.5), axes="YX")
    gen = dist.predict_blocks_iter(other, "nuclei-2d", tmp_path / "o.ome.zarr", block_size=96,
                                   object_size=None)  # fmt: skip
    next(gen)
    gen.close()
    _io.write_image(other, _io.read_image(path).data, scale=(0.5, 0.5), axes="YX")
    said = r"reads as intensities [\d.]+-[\d.]+, where the run was started at [\d.]+-[\d.]+ \("
    with pytest.raises(ValueError, match=said):
        dist.predict_blocks(other, "nuclei-2d", tmp_path / "o.ome.zarr", block_size=96,
                            object_size=None, resume=True)  # fmt: skip
    result = dist.predict_blocks(
        path, "nuclei-2d", out, block_size=96, object_size=None, resume=True
    )
    assert result.stats["skipped"] == 2 and result.stats["blocks"] == 1
    np.testing.assert_array_equal(read_labels(out), reference)


def test_the_same_image_by_another_path_resumes(image_2d, tmp_path) -> None:
    """Started through a link (or a folder since moved), resumed through the real path:
    "other settings (source)", advising --overwrite (paths bug bash). The intensities
    say it is the same image: it resumes, and says so."""
    path, reference = image_2d
    link = tmp_path / "link.tif"
    link.symlink_to(path)
    out = tmp_path / "r.ome.zarr"
    gen = dist.predict_blocks_iter(link, "nuclei-2d", out, block_size=96, object_size=None)
    for record in gen:
        if record.done >= 1:
            break
    gen.close()
    with pytest.warns(UserWarning, match=r"started on the image at .*link\.tif.*, with the one"):
        result = dist.predict_blocks(
            path, "nuclei-2d", out, block_size=96, object_size=None, resume=True
        )
    assert result.stats["skipped"] == 1
    np.testing.assert_array_equal(read_labels(out), reference)


def test_a_refused_map_leaves_the_labels_and_a_stopped_map_is_finished_on_resume(
    image_2d, tmp_path
) -> None:
    """The probability store was checked only after the labels store was replaced (a
    finished one was lost); a run stopped while the map's pyramid was built resumed as
    "already complete" and left the map unreadable for good; --resume took another
    precision and mixed fp32 and bf16 blocks."""
    path, reference = image_2d
    out, maps = tmp_path / "l.ome.zarr", tmp_path / "p.ome.zarr"
    opts = {"block_size": 96, "object_size": None}
    dist.predict_blocks(path, "nuclei-2d", out, **opts)
    import zarr
    from ome_zarr.writer import write_image

    stranger = tmp_path / "image.ome.zarr"  # a store napari-unetseg did not write
    write_image(reference, zarr.open_group(str(stranger), mode="w"), axes="yx")
    with pytest.raises(ValueError, match="was not written by napari-unetseg"):
        dist.predict_blocks(path, "nuclei-2d", out, overwrite=True, probabilities=stranger, **opts)
    assert _zarr_labels.LabelsStore(out).info["complete"]  # the finished labels are still there
    shutil.rmtree(out)
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, probabilities=maps, **opts)
    for record in gen:
        if record.stage == "pyramid":
            break
    gen.close()  # stopped while the map's pyramid is built
    assert not _zarr_labels.LabelsStore(out).info["complete"]  # so --resume does not skip it
    with pytest.raises(ValueError, match=r"other settings \(precision\)"):
        dist.predict_blocks(path, "nuclei-2d", out, probabilities=maps, resume=True,
                            precision="fp32", **opts)  # fmt: skip
    dist.predict_blocks(path, "nuclei-2d", out, probabilities=maps, resume=True, **opts)
    assert (
        _zarr_labels.LabelsStore(maps).info["complete"]
        and _zarr_labels.LabelsStore(out).info["complete"]
    )
    assert _zarr.read_ome_zarr(maps).data.dtype == np.float32
    np.testing.assert_array_equal(read_labels(out), reference)
    # the map deleted: a resume rebuilt it empty and called it complete (bug bash)
    shutil.rmtree(maps)
    with pytest.raises(ValueError, match="its probability map .* is missing"):
        dist.predict_blocks(path, "nuclei-2d", out, probabilities=maps, resume=True, **opts)
    assert not maps.exists()


def test_a_server_that_is_no_scheduler_is_refused_in_time() -> None:
    """A port where something else listens (a web server) accepted the connection and
    the command waited for ever; a port out of range was not said to be the scheduler's."""
    import socket

    from napari_unetseg.distributed.cluster import ClusterError, connect

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()  # accepts connections and never speaks dask
    try:
        t0 = time.perf_counter()
        with pytest.raises(ClusterError, match="not another server"):
            connect(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout=1)
        assert time.perf_counter() - t0 < 10
    finally:
        server.close()
    with pytest.raises(ClusterError, match="scheduler at 'tcp://127.0.0.1:99999': Port out"):
        connect("tcp://127.0.0.1:99999")
    # dask's own short reason, not its type ("within 10 s (ValueError)"), and the
    # Segment widget shows our error without its class name ("ClusterError: ...")
    with pytest.raises(ClusterError, match=r"\(missing port number in address") as info:
        connect("not an address", timeout=1)
    from napari_unetseg._qt._common import user_message

    assert user_message(info.value).startswith("Cannot reach the dask scheduler at")


def test_a_scheduler_closed_mid_run_is_one_sentence(image_2d, tmp_path) -> None:
    """The scheduler closed during a run (the cluster shut down) ended it with "'NoneType'
    object has no attribute 'scatter'" in the Segment widget (GUI bug bash)."""
    from distributed import Client, LocalCluster

    path, _ = image_2d
    ended = "The connection to the dask scheduler ended during the run (the client was"
    # the cluster shut down, then the client closed by its user (it was said to be the
    # scheduler's going; cluster bash)
    # and the cluster shut down after the last block, in the pyramid (dask's words; review)
    closes = (("c", lambda cl, c: cl.close()), ("d", lambda cl, c: c.close()))
    for name, close in (*closes, ("e", lambda cl, c: cl.close())):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                               dashboard_address=None)  # fmt: skip
        client = Client(cluster)
        try:
            run = dist.predict_blocks_iter(
                path, "nuclei-2d", tmp_path / f"{name}.ome.zarr", block_size=64,
                object_size=None, client=client,
            )  # fmt: skip
            record = next(run)
            while name == "e" and record.done < record.total:  # after the last block
                record = next(run)
            close(cluster, client)
            with pytest.raises(dist.ClusterGone, match=re.escape(ended)):
                api.drain(run)
        finally:
            client.close()
            cluster.close()


def test_a_lost_worker_is_said_as_such() -> None:
    """A --memory-per-worker too small gave dask's "in <TCP (closed) Scheduler
    Broadcast ...>: Stream is closed" or "FutureCancelledError ... already forgotten"."""
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    from napari_unetseg.distributed.records import worker_lost

    for exc in (
        CommClosedError("in <TCP (closed)>: Stream is closed"),
        KilledWorker("t", "w", 3),
        # every worker restarted under the model as it was sent (300 MB each): dask's own
        # words reached the user (distributed bug bash)
        TimeoutError("No valid workers found"),
        ValueError("Can not use replicate to delete data"),
    ):
        lost = worker_lost(exc)
        assert isinstance(lost, dist.ClusterError) and "--memory-per-worker" in str(lost)
    assert worker_lost(ValueError("a block's own failure")) is None


def _killed(_):
    from types import SimpleNamespace

    from distributed import KilledWorker

    # as the scheduler raises it for a task whose workers died under it (3 times)
    raise KilledWorker("segment a.tif", SimpleNamespace(address="tcp://w"), 3)


def test_a_file_whose_worker_is_lost_fails_alone(cluster) -> None:
    """A file too large for the memory per worker ended the whole batch: the other files
    were not segmented, and the failing one was not named (distributed bug bash). Its
    worker lost is that file's failure, in one sentence without block advice."""
    from napari_unetseg.distributed.files import _file_row

    row = _file_row(cluster.submit(_killed, 0, pure=False), ("a.tif", "a_labels.tif", None, 0))
    assert row["input"] == "a.tif" and row["output"] is None
    assert "lost while it segmented this file" in row["error"]
    assert "--memory-per-worker" in row["error"] and "--block-size" not in row["error"]
    with pytest.raises(dist.ClusterError, match="failed on the cluster .ZeroDivisionError"):
        _file_row(cluster.submit(_divide, 0, pure=False), ("b.tif", "b_labels.tif", None, 0))


def _divide(n):
    return 1 / n


def run_cli(argv, capsys):
    code = cli.main(argv)
    return code, capsys.readouterr()


def test_cli_predict_to_ome_zarr_and_its_bad_input(image_2d, tmp_path, capsys) -> None:
    path, reference = image_2d
    out = tmp_path / "cli.ome.zarr"
    base = ["predict", str(path), "--model", "nuclei-2d", "--object-size", "off"]
    base.append("--no-split-touching")  # class labels, as the reference (predict's)
    code, io = run_cli(base + ["-o", str(out), "--block-size", "128"], capsys)
    assert code == 0 and "3 blocks" in io.out and ("in bf16" in io.out or "in fp32" in io.out)
    np.testing.assert_array_equal(read_labels(out), reference)
    # what was done, as a TIFF output records it (fill_holes was None: "the model's")
    from napari_unetseg import _io

    settings = _io.read_image(out).provenance["settings"]
    assert settings["fill_holes"] is False
    ran = _io.read_image(out).provenance["ran"]  # what ran, as in-memory runs record it
    assert ran["device"] == "cpu" and ran["precision"] in ("fp32", "bf16")
    before = sorted(p.name for p in tmp_path.iterdir())
    # an existing store: refused, untouched
    code, io = run_cli(base + ["-o", str(out)], capsys)
    assert code == 1 and "--overwrite" in io.err and len(io.err.strip().splitlines()) == 1
    # an unreachable scheduler: one sentence, quickly, nothing written
    t0 = time.perf_counter()
    code, io = run_cli(
        base + ["-o", str(tmp_path / "x.ome.zarr"), "--scheduler", "tcp://127.0.0.1:9"], capsys
    )
    assert code == 1 and "Cannot reach the dask scheduler" in io.err
    assert time.perf_counter() - t0 < 10
    # a level that does not exist, a .zarr that is not an image
    code, io = run_cli(
        ["predict", str(out), "-o", str(tmp_path / "y.ome.zarr"), "--level", "7"], capsys
    )
    assert code == 1 and "level 7 does not exist" in io.err
    (tmp_path / "nothing.zarr").mkdir()
    code, io = run_cli(
        ["predict", str(tmp_path / "nothing.zarr"), "-o", str(tmp_path / "z.ome.zarr")], capsys
    )
    assert code == 1 and "not a zarr store" in io.err
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after == sorted(before + ["nothing.zarr"])  # nothing else was written
    np.testing.assert_array_equal(read_labels(out), reference)


def test_paths_the_workers_cannot_see_are_refused(cluster, tmp_path, image_2d) -> None:
    with pytest.raises(dist.ClusterError, match="cannot see"):
        dist.check_visible(cluster, [str(tmp_path / "only-on-the-client.tif")])
    # an output folder still to make is made, as without workers (it "could not be seen")
    path, reference = image_2d
    out = tmp_path / "new folder" / "l.ome.zarr"
    dist.predict_blocks(path, "nuclei-2d", out, client=cluster, object_size=None)
    np.testing.assert_array_equal(read_labels(out), reference)


def test_a_cluster_without_workers_is_refused_before_anything_is_written(image_2d, tmp_path):
    """dask said "No valid workers found" 14 s in, and an unfinished store was left
    (distributed bug bash)."""
    from distributed import Client, LocalCluster

    path, _ = image_2d
    with LocalCluster(n_workers=0, processes=False) as empty, Client(empty) as client:
        with pytest.raises(dist.ClusterError, match="The cluster has no workers"):
            dist.predict_blocks(path, "nuclei-2d", tmp_path / "l.ome.zarr", client=client)
    assert not (tmp_path / "l.ome.zarr").exists()


def test_several_files_on_a_cluster_run_one_task_each(image_2d, cluster, tmp_path) -> None:
    from napari_unetseg import batch

    path, reference = image_2d
    other = tmp_path / "other.tif"
    _io.write_image(other, synthetic_nuclei((128, 160), seed=9)[0], axes="YX")
    plan = batch.plan_batch([path, other], tmp_path / "labels")
    settings = batch.SegmentSettings(model="nuclei-2d", object_size=None, split_touching=False)
    rows = api.drain(dist.segment_files_on_cluster(cluster, plan, settings))
    assert [r["error"] for r in rows] == [None, None]
    assert [r["input"] for r in rows] == [str(path), str(other)]
    np.testing.assert_array_equal(_io.read_image(rows[0]["output"]).data, reference)


def _two_channel_store(path, nuclei: np.ndarray) -> str:
    """An OME-Zarr (c, y, x) with a pyramid: channel 0 noise, channel 1 the nuclei."""
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    noise = np.random.default_rng(0).random(nuclei.shape).astype(np.float32) * nuclei.max()
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.stack([noise, nuclei.astype(np.float32)])
    write_image(data, group, axes="cyx", fmt=FormatV04(), scale_factors=(2,))
    return str(path)


def test_one_channel_of_a_multi_channel_store_on_a_cluster(cluster, tmp_path, capsys) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nuclei, _ = synthetic_nuclei((160, 192), seed=5)
    store = _two_channel_store(tmp_path / "two.ome.zarr", nuclei)
    picked = _zarr.read_ome_zarr(store).one_channel(1)
    assert picked.channel_axis is None and [lv.shape for lv in picked.levels] == [
        (160, 192),
        (80, 96),
    ]
    expected = api.predict(nuclei.astype(np.float32), "nuclei-2d", object_size=None)
    base = ["predict", store, "--model", "nuclei-2d", "--object-size", "off", "-o", store]
    base.append("--no-split-touching")  # class labels, as predict's
    # Without --channel: one sentence naming the choice, nothing written.
    code, io = run_cli(base, capsys)
    assert code == 1 and "2 channels" in io.err and "--channel N" in io.err
    assert not (tmp_path / "two.ome.zarr" / "labels").exists()
    code, io = run_cli([*base, "--channel", "2"], capsys)
    assert code == 1 and "there is no channel 2" in io.err
    # Channel 1, block by block on the cluster, into the store's labels/ group.
    address = cluster.scheduler.address
    code, io = run_cli(
        [*base, "--channel", "1", "--scheduler", address, "--block-size", "96"], capsys
    )
    assert code == 0 and "Channel 1 of 2 chosen" in io.err, io.err
    labels = read_labels(os.path.join(store, "labels", "nuclei-2d-c1"))
    np.testing.assert_array_equal(labels, expected)
    # ome-zarr-py finds them as the image's labels.
    found = [
        n.data[0].shape
        for n in Reader(parse_url(store))()
        if n.data and any(type(s).__name__ == "Label" for s in n.specs)
    ]
    assert found == [(160, 192)]
    # Another channel adds its own labels beside the first's (it replaced them before).
    code, io = run_cli([*base, "--channel", "0", "--block-size", "96"], capsys)
    assert code == 0, io.err
    assert sorted(_zarr.read_ome_zarr(store).labels) == ["nuclei-2d-c0", "nuclei-2d-c1"]
    labels = read_labels(os.path.join(store, "labels", "nuclei-2d-c1"))
    np.testing.assert_array_equal(labels, expected)


def same_objects(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """The same foreground cut into the same objects (ids may differ)."""
    fg = ours > 0
    if not np.array_equal(fg, theirs > 0):
        return False
    pairs = np.unique(np.stack([ours[fg], theirs[fg]]), axis=1).shape[1]
    return pairs == len(np.unique(ours[fg])) == len(np.unique(theirs[fg]))


def test_split_touching_block_by_block_equals_one_process(
    image_2d, cluster, tmp_path, monkeypatch, capsys
) -> None:
    from napari_unetseg.distributed import instances

    monkeypatch.setattr(instances, "SPLIT_BLOCK", {2: 64, 3: 24})  # many block borders
    path, _ = image_2d
    img = _io.read_image(path)
    expected = api.segment(img.data, "nuclei-2d", object_size=None, split_touching=True)
    out = tmp_path / "split.ome.zarr"
    result = dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None,
                                 split_touching=True)  # fmt: skip
    labels = read_labels(out)
    assert result.stats["objects"] == len(np.unique(expected)) - 1 == labels.max() > 20
    assert labels.dtype == np.uint32 and same_objects(labels, expected)
    assert not {instances.SCRATCH, instances.NAMES} & set(os.listdir(out))  # cleaned up

    # 3D, on the cluster, through the CLI.
    vol, _ = synthetic_nuclei((24, 72, 88), seed=6)
    vpath = tmp_path / "vol.tif"
    _io.write_image(vpath, vol, axes="ZYX", scale=(2.0, 1.0, 1.0))
    expected3 = api.segment(vol, "nuclei-3d", object_size=None, split_touching=True,
                            scale=(2.0, 1.0, 1.0))  # fmt: skip
    out3 = tmp_path / "split3.ome.zarr"
    argv = ["predict", str(vpath), "-m", "nuclei-3d", "--object-size", "off", "-o", str(out3),
            "--split-touching", "--block-size", "48", "--scheduler", cluster.scheduler.address]  # fmt: skip
    code, io = run_cli(argv, capsys)
    assert code == 0 and f"{expected3.max()} objects" in io.out, io.err
    assert same_objects(read_labels(out3), expected3)


def test_a_split_interrupted_while_numbering_resumes_from_its_names(
    image_2d, tmp_path, monkeypatch
) -> None:
    from napari_unetseg.distributed import instances

    monkeypatch.setattr(instances, "SPLIT_BLOCK", {2: 64, 3: 24})
    path, _ = image_2d
    out = tmp_path / "r.ome.zarr"
    options = {"block_size": 96, "object_size": None, "split_touching": True}
    calls = []

    def fail_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise OSError("the disk went away")
        return number(*args)

    number = instances._number_chunk
    monkeypatch.setattr(instances, "_number_chunk", fail_second)
    with pytest.raises(OSError, match="disk went away"):
        dist.predict_blocks(path, "nuclei-2d", out, **options)
    assert _zarr_labels.LabelsStore(out).info["instances"] == "named"
    monkeypatch.setattr(instances, "_number_chunk", number)
    split = []
    monkeypatch.setattr(instances, "_split_block", lambda *a: split.append(a))
    dist.predict_blocks(path, "nuclei-2d", out, resume=True, **options)
    assert not split  # the names were kept: only the numbering ran again
    img = _io.read_image(path)
    expected = api.segment(img.data, "nuclei-2d", object_size=None, split_touching=True)
    assert same_objects(read_labels(out), expected)


def test_probabilities_stream_into_their_own_store(image_2d, cluster, tmp_path, capsys) -> None:
    path, reference = image_2d
    img = _io.read_image(path)
    _, expected = api.predict(img.data, "nuclei-2d", object_size=None, return_probabilities=True)
    out, maps = tmp_path / "l.ome.zarr", tmp_path / "p.ome.zarr"
    base = ["predict", str(path), "-m", "nuclei-2d", "--object-size", "off", "-o", str(out)]
    base.insert(2, "--no-split-touching")  # class labels, as predict's
    code, io = run_cli([*base, "--probabilities", str(maps), "--block-size", "96"], capsys)
    assert code == 0 and f"probabilities -> {maps}" in io.out, io.err
    written = _zarr.read_ome_zarr(maps)
    assert not written.is_labels and written.data.dtype == np.float32  # an image, not labels
    assert written.provenance["model"] == "nuclei-2d"  # as a TIFF map records it
    assert cli.main(["info", str(maps)]) == 0
    assert "model: nuclei-2d" in capsys.readouterr().out
    np.testing.assert_array_equal(read_labels(maps), expected)  # the same tiles, blended
    np.testing.assert_array_equal(read_labels(out), reference)
    # Resampled (object size 30 px) on the cluster: every block still writes its part.
    res = dist.predict_blocks(path, "nuclei-2d", tmp_path / "r.ome.zarr", block_size=96,
                              object_size=30, probabilities=tmp_path / "rp.ome.zarr",
                              client=cluster)  # fmt: skip
    labels = read_labels(res.output)
    prob = read_labels(res.stats["probabilities"])  # a map, read as labels are
    assert prob.shape == labels.shape and 0.0 <= prob.min() and prob.max() <= 1.0
    assert ((prob > 0.5) == (labels > 0)).mean() > 0.99
    # Bad targets: one sentence, nothing written.
    for bad in (tmp_path / "p.tif", tmp_path / "new.ome.zarr"):  # not zarr; the labels
        code, io = run_cli([*base[:-1], str(tmp_path / "new.ome.zarr"), "--probabilities",
                            str(bad), "--overwrite"], capsys)  # fmt: skip
        assert code == 1 and "OME-Zarr store" in io.err, io.err
    assert not (tmp_path / "new.ome.zarr").exists()


def test_a_block_run_says_when_the_model_is_unsure(image_2d, tmp_path, capsys) -> None:
    """The blocks' counts add up: a model sure of nothing (P = 0.6 everywhere) gets the
    fine-tuning hint on stderr, as an in-memory run does."""
    from constant_models import constant_model

    path, _ = image_2d
    model = constant_model(0.6).save(tmp_path / "unsure.pt")
    out = tmp_path / "u.ome.zarr"
    args = ["predict", str(path), "--model", str(model), "--output", str(out)]
    assert cli.main(args + ["--block-size", "128"]) == 0
    assert (read_labels(out) == 1).all()
    assert "The model is unsure on this image: only 0% of what it marked" in (
        capsys.readouterr().err
    )


def test_block_sizes_name_the_axes_after_the_streamed_one(tmp_path) -> None:
    """In 3D two sizes (Y X) were refused and three lost their first without a word
    (distributed bug bash): the first spatial axis is streamed whole."""
    img, _ = synthetic_nuclei((8, 64, 72), seed=1)
    path = tmp_path / "stack.tif"
    _io.write_image(path, img, axes="ZYX")
    out = tmp_path / "l.ome.zarr"
    stats = dist.predict_blocks(path, "nuclei-3d", out, block_size=(32, 40), object_size=None)
    assert stats.stats["blocks"] == 4  # Y in 2, X in 2; Z whole
    with pytest.raises(ValueError, match="The block size must be a positive number of pixels"):
        dist.predict_blocks(path, "nuclei-3d", tmp_path / "m.ome.zarr", block_size=(1, 32, 40))


def test_a_closed_client_is_one_sentence(image_2d, tmp_path) -> None:
    """A closed client (or one whose cluster was closed) raised dask's "'NoneType' object
    has no attribute 'broadcast'" (distributed bug bash)."""
    path, _ = image_2d
    client = dist.connect(workers=1)
    client.cluster.close()  # the cluster goes, the client stays
    for _ in range(2):
        with pytest.raises(dist.ClusterError, match="client is closed, or its cluster is"):
            dist.predict_blocks(path, "nuclei-2d", tmp_path / "c.ome.zarr", client=client)
        client.close()
    assert not (tmp_path / "c.ome.zarr").exists()


def test_a_local_cluster_beside_another_says_nothing_of_ports() -> None:
    """Beside another dask cluster, dask's "Port 8787 is already in use" reached the
    command's users (distributed bug bash)."""
    import socket
    import warnings

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already taken by another program: as well
            taken.bind(("", 8787))
            taken.listen()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            client = dist.connect(workers=1, processes=False)
            dist.close(client)
    assert not [w for w in said if "Port" in str(w.message)]


def test_a_resume_that_only_finishes_the_split_says_what_it_did(image_2d, tmp_path, capsys):
    """Stopped while touching objects were split, the resume numbered them but said
    "already complete", without the objects (distributed bug bash)."""
    path, _ = image_2d
    out = tmp_path / "s.ome.zarr"
    opts = dict(block_size=96, object_size=None, split_touching=True)
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, **opts)
    for record in gen:
        if record.stage == "split":
            break
    gen.close()
    argv = ["predict", str(path), "-o", str(out), "--model", "nuclei-2d", "--block-size", "96"]
    code, said = run_cli([*argv, "--object-size", "off", "--split-touching", "--resume"], capsys)
    assert code == 0 and "already complete" not in said.out
    assert "(0 blocks, 3 already done); " in said.out and " objects" in said.out


@pytest.mark.parametrize(
    ("shape", "channel_axis"), [((7, 9, 5), None), ((2, 7, 9), 0), ((7, 9, 3), 2)]
)
def test_a_blocks_nan_mask_is_read_band_by_band(monkeypatch, shape, channel_axis) -> None:
    """The NaN mask of a block is read a band at a time (a lazily read block is never
    held whole), and equals the mask of the whole block, channels taken together."""
    from napari_unetseg.distributed import blocks

    monkeypatch.setattr(blocks, "MASK_CHUNK", 50)  # bands of a few rows
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    data[data > 0.9] = np.nan
    reads = []

    class Lazy:  # a lazy view: what is read, and how much at once
        dtype, shape = data.dtype, data.shape

        def __getitem__(self, index):
            reads.append(data[index].size)
            return data[index]

    expected = ~np.isfinite(data)
    if channel_axis is not None:
        expected = expected.any(axis=channel_axis)
    np.testing.assert_array_equal(blocks.unfinite_mask(Lazy(), channel_axis), expected)
    assert len(reads) > 1 and max(reads) < data.size
    assert blocks.unfinite_mask(np.ones(shape, np.uint8), channel_axis) is None


def test_overwrite_keeps_the_earlier_labels_when_the_new_store_fails(image_2d, tmp_path):
    """--overwrite removed an earlier complete store at the start: a run that then failed
    (a full disk) left it unreadable, "napari-unetseg did not finish" (disk bug bash).
    It is set aside and put back; a stop keeps the new blocks for --resume instead (the
    review bash: an hour of blocks was thrown away), and a run that ends replaces it."""
    path, reference = image_2d
    out = tmp_path / "out.ome.zarr"
    maps = tmp_path / "maps.ome.zarr"
    options = {"block_size": 96, "object_size": None, "probabilities": maps}
    dist.predict_blocks(path, "nuclei-2d", out, **options)
    before = read_labels(out)
    listing = ["maps.ome.zarr", "out.ome.zarr"]

    def stopped_after_one_block(stop):
        gen = dist.predict_blocks_iter(path, "nuclei-2d", out, overwrite=True, **options)
        with pytest.raises(type(stop)):
            for record in gen:
                if record.stage == "blocks" and record.done == 1:
                    gen.throw(stop)

    stopped_after_one_block(OSError(28, "No space left on device"))
    assert _zarr_labels.LabelsStore(out).info["complete"]
    np.testing.assert_array_equal(read_labels(out), before)
    assert _zarr_labels.LabelsStore(maps).info["complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    stopped_after_one_block(KeyboardInterrupt())
    assert not _zarr_labels.LabelsStore(out).info["complete"]  # for --resume, as before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    os.makedirs(tmp_path / ".out.ome.zarr.replaced")  # left by a run killed outright
    result = dist.predict_blocks(path, "nuclei-2d", out, resume=True, **options)
    assert result.stats["skipped"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    np.testing.assert_array_equal(read_labels(out), reference)


def test_a_model_of_the_same_weights_with_another_record_is_built_anew(cluster, tmp_path) -> None:
    """Workers kept models by their weights alone: a copy without an object size was run
    with the first one's record, its holes filled otherwise than in memory (review)."""
    from scipy import ndimage

    yy, xx = np.mgrid[:160, :160]
    r2 = (yy - 80) ** 2 + (xx - 80) ** 2
    ring = ndimage.gaussian_filter(((r2 < 40**2) & (r2 > 25**2)).astype(np.float32), 1)
    path = tmp_path / "ring.tif"
    _io.write_image(path, ring, axes="YX")
    sized = api.load_model("nuclei-2d")
    unsized = sized.copy()
    unsized.object_size = None  # the same weights: no limit to the holes filled
    for name, model in (("sized", sized), ("unsized", unsized)):
        out = tmp_path / f"{name}.ome.zarr"
        options = {"fill_holes": True, "object_size": 20}
        dist.predict_blocks(path, model, out, block_size=512, client=cluster, **options)
        np.testing.assert_array_equal(read_labels(out), api.predict(ring, model, **options))
    assert read_labels(tmp_path / "unsized.ome.zarr")[80, 80]  # its ring was filled


def test_dark_objects_inverted_block_by_block_equal_a_whole_image_run(tmp_path) -> None:
    """invert in a block run: each block reads the image with dark and bright swapped,
    with the statistics of the swapped image, as the whole-image run does."""
    img, _ = synthetic_nuclei((160, 200), seed=6)
    dark = img.max() - img  # uint16
    path = tmp_path / "dark.tif"
    _io.write_image(path, dark, axes="YX")
    reference = api.predict(dark, "nuclei-2d", object_size=None, invert=True)
    assert 0.02 < (reference > 0).mean() < 0.5
    out = tmp_path / "dark.ome.zarr"
    result = dist.predict_blocks(
        path, "nuclei-2d", out, block_size=64, object_size=None, invert=True
    )
    assert result.stats["blocks"] > 1
    np.testing.assert_array_equal(read_labels(out), reference)
    assert _io.read_image(out).provenance["settings"]["invert"] is True
    # without invert, the block run says what a whole-image run says of dark objects
    plain = dist.predict_blocks(path, "nuclei-2d", tmp_path / "plain.ome.zarr", block_size=64)
    assert "dark objects on a bright background" in plain.stats["object_size"]
    # ... and carries it as a flag of the measure, which Segment reads (not the sentence)
    assert plain.stats["object_size_flags"]["dark_objects"] > 0
    assert result.stats["object_size_flags"] == {}  # given: nothing measured


def test_a_frame_of_a_block_run_with_invert_is_said_in_the_images_values(tmp_path) -> None:
    """It was "a frame of value 65535" for a black frame of a uint16 image (review)."""
    img, _ = synthetic_nuclei((128, 160), seed=2)
    dark = img.max() - img
    dark[:12] = dark[-12:] = 0
    dark[:, :12] = dark[:, -12:] = 0
    path = tmp_path / "framed.tif"
    _io.write_image(path, dark, axes="YX")
    out = tmp_path / "framed.ome.zarr"
    result = dist.predict_blocks(path, "nuclei-2d", out, block_size=64, invert=True)
    assert "A frame of value 0 " in result.stats["object_size"]


def test_a_colour_image_whose_file_names_no_colour_axis_is_refused_block_by_block(tmp_path):
    """(Y, X, 3) saved without an RGB axis: read in memory as colour, block by block it
    was segmented as 300 planes 3 pixels wide, silently (second review)."""
    rgb = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    path = tmp_path / "colour.tif"
    _io.write_image(path, rgb)
    assert _io.read_image(path).channel_axis is None
    with pytest.raises(ValueError, match="names no colour axis"):
        dist.predict_blocks(path, "nuclei-2d", tmp_path / "c.ome.zarr", block_size=64)
    assert not (tmp_path / "c.ome.zarr").exists()


def test_a_folder_it_did_not_write_is_refused_without_offering_overwrite(
    image_2d, tmp_path, capsys
) -> None:
    """An existing folder of someone's notes at --output was met with "pass --overwrite
    ... or --resume", and --overwrite then said it is never replaced (distributed bash)."""
    path, _ = image_2d
    out = tmp_path / "out.ome.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli.main(["predict", str(path), "--output", str(out), "--object-size", "off"]) != 0
    err = capsys.readouterr().err
    assert "was not written by napari-unetseg" in err and "--overwrite" not in err
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("window", [None, (0.0, 400.0)])
def test_clipped_normalization_block_by_block_equals_a_whole_image_run(cluster, tmp_path, window):
    """Each block clips the normalized values as the whole-image run does: the blocks'
    statistics carried the low and high values only, so a fixed range's clip (a CT
    window) was lost there and values past it reached the network (robustness review);
    the percentile scaling's bound on hot pixels too. With a cluster the default client,
    the fixed range's check of the image sent the TIFF's open file to it and failed."""
    from napari_unetseg.core.intensity import fixed_range
    from napari_unetseg.core.registry import REGISTRY

    img, _ = synthetic_nuclei((160, 200), seed=6)
    img = img.astype(np.uint16)
    img[np.random.default_rng(0).random(img.shape) < 0.002] = 65535  # hot pixels
    path = tmp_path / "hot.tif"
    _io.write_image(path, img, axes="YX")
    model = REGISTRY.get("nuclei-2d").copy()
    if window is not None:
        model.normalization = fixed_range(window)
    reference = api.predict(img, model, object_size=None)
    for client in (None, cluster):  # blocks in this process, then on the workers
        out = tmp_path / f"hot{client is not None}.ome.zarr"
        options = {"block_size": 64, "object_size": None, "client": client}
        result = dist.predict_blocks(path, model, out, **options)
        assert result.stats["blocks"] > 1 and result.stats["workers"] == (2 if client else 0)
        np.testing.assert_array_equal(read_labels(out), reference)


def test_a_run_of_classes_resumed_where_the_model_splits_says_how(image_2d, tmp_path) -> None:
    """A block run started as classes (before the nuclei models split by default) and
    resumed with the same command: "other settings (split_touching)", advising
    --overwrite, which throws its blocks away (review). --no-split-touching resumes."""
    path, reference = image_2d
    out = tmp_path / "classes.ome.zarr"
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, block_size=96, object_size=None)
    next(r for r in gen if r.done >= 1)
    gen.close()
    said = "started without splitting touching objects, which this model does by default"
    with pytest.raises(ValueError, match=said):
        dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None,
                            resume=True, split_touching=None)  # fmt: skip
    dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None, resume=True,
                        split_touching=False)  # fmt: skip
    np.testing.assert_array_equal(read_labels(out), reference)


def test_a_run_started_without_the_clip_is_not_resumed_with_it(image_2d, tmp_path) -> None:
    """Blocks written before each block was clipped, resumed by a run that clips, made a
    mix of two normalizations (10% of a CT window's labels differed; review): the clip
    is among the settings a resume must match."""
    import json

    path, _ = image_2d
    out = tmp_path / "old.ome.zarr"
    gen = dist.predict_blocks_iter(path, "nuclei-2d", out, block_size=96, object_size=None)
    next(r for r in gen if r.done >= 1)
    gen.close()
    meta = out / "zarr.json"
    if not meta.exists():  # zarr 2 layout
        meta = out / ".zattrs"
    attrs = json.loads(meta.read_text())
    ours = attrs.get("attributes", attrs)["unetseg"]
    assert ours["settings"].pop("clip") == [-2.0, 3.0]  # as a run before it was carried
    meta.write_text(json.dumps(attrs))
    # (not "other settings (clip)": the user chose no clip; upgrade bash)
    said = "an earlier napari-unetseg started it, whose blocks were not clipped as this"
    with pytest.raises(ValueError, match=said):
        dist.predict_blocks(path, "nuclei-2d", out, block_size=96, object_size=None, resume=True)
