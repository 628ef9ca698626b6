"""The stores of a block run: the labels store and the probability map's, refused or
accepted before either is made, created or reopened to resume, and finished (pyramid,
provenance, metadata) once the blocks are written."""

from __future__ import annotations

import numbers
import os
import shutil
import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from .._zarr_labels import LabelsStore
from .records import BlockProgress, _result
from .worker import _build_level

if TYPE_CHECKING:
    from .run import _Run


def _open_stores(
    run: _Run, resume: bool, overwrite: bool
) -> tuple[LabelsStore, LabelsStore | None, list[tuple[str, str]]]:
    """The labels store and the probability map's (None without one), both refused or
    accepted before either is made, replaced or reopened; and the complete stores that
    ``overwrite`` replaces, set aside (``(target, aside)``) until the new ones are
    complete (:func:`_put_back`, :func:`_drop_kept`)."""
    split = run.spec["split_touching"]
    # Instance ids need room; class labels do not.
    dtype = np.uint32 if split else np.uint8 if run.bundle.n_labels <= 255 else np.uint16
    targets = [run.target] + ([run.spec["probabilities"]] if run.spec["probabilities"] else [])
    for target in targets:
        _check_target(run, target, resume, overwrite)
    _check_map_resumable(run, resume)
    kept = _set_aside(targets) if overwrite else []
    try:
        store = _open_store(run, run.target, dtype, resume, overwrite)
        maps = _open_store(run, targets[1], np.float32, resume, overwrite) if targets[1:] else None
    except BaseException:
        _put_back(kept)
        raise
    return store, maps, kept


def _set_aside(targets: list[str]) -> list[tuple[str, str]]:
    """Rename each complete store among ``targets`` to a hidden ``.NAME.replaced`` beside
    it: --overwrite had removed the earlier labels at the start, and a run that then
    failed (a full disk) left neither them nor new ones (disk bug bash)."""
    kept = []
    for target in targets:
        path = os.fspath(target).rstrip("/\\")
        try:
            complete = os.path.exists(path) and LabelsStore(path).info.get("complete")
        except (OSError, ValueError):
            complete = False
        if not complete:
            continue  # an unfinished store is replaced at once, as before
        aside = _aside(path)
        shutil.rmtree(aside, ignore_errors=True)  # one left by a run killed outright
        os.replace(path, aside)
        kept.append((path, aside))
    return kept


def _aside(path: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.replaced")


def _put_back(kept: list[tuple[str, str]]) -> None:
    """The earlier complete stores back in place of the unfinished new ones."""
    for path, aside in kept:
        shutil.rmtree(path, ignore_errors=True)
        os.replace(aside, path)


def _drop_kept(run: _Run) -> None:
    """The earlier stores set aside for this run's outputs, now replaced (or given up for
    the new blocks, which --resume finishes)."""
    targets = [run.target] + ([run.spec["probabilities"]] if run.spec["probabilities"] else [])
    for target in targets:
        shutil.rmtree(_aside(os.fspath(target).rstrip("/\\")), ignore_errors=True)


def _finish_stores(
    run: _Run,
    store: LabelsStore,
    maps: LabelsStore | None,
    client: Any,
    total: int,
    records: list[dict[str, Any]],
) -> Generator[BlockProgress, None, None]:
    """The pyramids of the probability maps and the labels, and their metadata: the
    labels last, so a run stopped in between is not taken for complete by --resume (its
    map was left unfinished for good)."""
    if maps is not None and not maps.info.get("complete"):
        yield from _pyramid(maps, client, maps.path, total)
        maps.finish(name="probabilities")
    if not store.info.get("complete"):
        _record_what_ran(store, run, records)
        yield from _pyramid(store, client, run.target, total)
        store.finish(
            name=os.path.basename(run.target) if run.parent else run.bundle.name,
            image=run.parent,
        )


def _record_what_ran(store: LabelsStore, run: _Run, records: list[dict[str, Any]]) -> None:
    """The provenance's ``ran`` (as in-memory runs record it): the object size measured
    (on a central crop), the precision and the device of the blocks written now."""
    from ..provenance import what_ran

    provenance = store.info.get("provenance")
    if not provenance or not records:
        return
    size = run.spec["object_size"]
    stats = {  # the blocks' figures, as one in-memory run's stats give them
        key: ",".join(sorted({str(r[key]) for r in records})) for key in ("precision", "device")
    }
    if isinstance(size, numbers.Real):
        stats["object_size"] = {"image_diameter": size}
    store.set_info(provenance={**provenance, "ran": what_ran(stats)})


def _pyramid(
    store: LabelsStore, client: Any, target: str, total: int
) -> Generator[BlockProgress, None, None]:
    """The pyramid, level by level (chunk by chunk, on the workers when there are any)."""
    store.prepare_levels()
    tasks = store.pyramid_tasks()
    levels = sorted({t[0] for t in tasks})
    for done, lvl in enumerate(levels, start=1):
        regions = [r for n, r in tasks if n == lvl]
        if client is None:
            for r in regions:
                store.build_level(lvl, r)
        else:
            n = len(regions)
            futs = client.map(_build_level, [target] * n, [lvl] * n, regions, pure=False)
            for f in futs:
                _result(f)
        yield BlockProgress(done, len(levels), stage="pyramid")  # (each said 100 %; review)


def _check_map_resumable(run: _Run, resume: bool) -> None:
    """Refuse to resume labels whose probability map is gone: the blocks to skip come
    from the labels, so a new map kept zeros there and was called complete."""
    maps = run.spec["probabilities"]
    if resume and maps and os.path.exists(run.target) and not os.path.exists(maps):
        raise ValueError(
            f"Cannot resume {run.target!r}: its probability map {maps!r} is missing, so "
            "the blocks already written would have none; use --overwrite to start again."
        )


def _check_target(run: _Run, target: str, resume: bool, overwrite: bool) -> None:
    """Refuse (one sentence) a store that this run could not resume or replace, before
    anything is written: an existing one without --resume / --overwrite, one that
    napari-unetseg did not write, one started with other settings."""
    if not resume:
        LabelsStore.check_replaceable(target, overwrite)
        return
    if not os.path.exists(target):
        return
    try:
        recorded = LabelsStore(target).info.get("settings")
    except ValueError as exc:
        raise ValueError(f"Cannot resume {target!r}: {exc}") from exc
    recorded = dict(recorded or {})
    wanted = dict(run.settings)
    if "intensities" not in recorded:  # a store of a version that did not record them
        wanted.pop("intensities", None)
    if recorded != wanted:
        keys = set(wanted) | set(recorded)
        changed = sorted(k for k in keys if recorded.get(k) != wanted.get(k))
        if changed == ["source"] and "intensities" in recorded:
            # the same image (its intensities say so) reached by another path: a link,
            # the folder moved or mounted elsewhere ("other settings (source)" advised
            # --overwrite, throwing the blocks away; paths bug bash)
            warnings.warn(
                f"Resuming {target!r}, started on the image at {recorded['source']!r}, "
                f"with the one at {wanted['source']!r} (the same intensities).",
                UserWarning,
                stacklevel=2,
            )
            return
        if changed == ["intensities"]:
            # (or the same file, measured by an earlier version: hot pixels it took for
            # the image's top are looked past now; the message blamed the image only,
            # and a user thought the data swapped or corrupt; upgrade bash)
            raise ValueError(
                f"Cannot resume {target!r}: the image at {run.settings['source']!r} reads "
                f"as intensities {_span(wanted['intensities'])}, where the run was started "
                f"at {_span(recorded['intensities'])} (another image, or the same one "
                "measured by an earlier napari-unetseg); use --overwrite to start again."
            )
        if changed == ["split_touching"] and "split_touching" not in recorded:
            # started as classes (before the nuclei models split by default); the advice
            # was --overwrite, which throws the blocks away (review)
            raise ValueError(
                f"Cannot resume {target!r}: it was started without splitting touching "
                "objects, which this model does by default now; resume it with "
                "--no-split-touching (or start again with --overwrite)."
            )
        if "clip" in changed and "clip" not in recorded:  # not a setting a user chose
            others = [k for k in changed if k != "clip"]
            raise ValueError(
                f"Cannot resume {target!r}: an earlier napari-unetseg started it, whose "
                "blocks were not clipped as this version's are"
                + (f", and with other settings ({', '.join(others)})" if others else "")
                + "; use --overwrite to start again."
            )
        raise ValueError(
            f"Cannot resume {target!r}: it was started with other settings "
            f"({', '.join(changed)}); use --overwrite to start again."
        )


def _span(intensities: Any) -> str:
    """The recorded low and high statistics as "81-516" (per channel, joined by "; ")."""
    try:
        lows, highs = intensities
        return "; ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(lows, highs, strict=True))
    except (TypeError, ValueError):
        return str(intensities)


def _open_store(run: _Run, target: str, dtype: Any, resume: bool, overwrite: bool) -> LabelsStore:
    """The store at ``target`` (checked by :func:`_check_target`): the labels
    (``run.target``) or the probability map, created, or reopened to resume."""
    if os.path.exists(target) and resume:
        return LabelsStore(target)
    labels = target == run.target
    flat = run.flat
    return LabelsStore.create(
        target,
        shape=run.plan.out_shape,
        chunks=run.plan.chunks,
        block_grid=run.plan.grid,
        axes=flat.axes,
        scale=tuple(flat.scale),
        units=flat.units,
        translate=None if flat.translate is None else tuple(flat.translate),
        version=getattr(run.img, "version", "0.4"),
        dtype=dtype,
        settings=run.settings,
        overwrite=overwrite,
        image=run.parent if labels else None,
        provenance=run.provenance,
        labels=labels,
    )
