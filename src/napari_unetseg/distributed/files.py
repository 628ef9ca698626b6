"""Many files on a cluster: one task per file of a batch plan."""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from typing import Any

from ..core.progress import drain
from .cluster import check_visible
from .records import BlockProgress, ClusterError, _result, worker_lost


def _segment_one(
    item: tuple[str, str, str | None, int], settings: dict[str, Any]
) -> dict[str, Any]:
    from pathlib import Path

    import torch

    from ..batch import Planned, SegmentSettings, segment_files_iter

    torch.set_num_threads(1)
    src, dst, pdst, series = item
    plan = [Planned(Path(src), Path(dst), Path(pdst) if pdst else None, series)]
    report = drain(segment_files_iter(plan, SegmentSettings(**settings)))
    row = report.results[0]
    return {
        "input": row.input,
        "planned": dst,
        "output": row.output,
        "error": row.error,
        "seconds": row.seconds,
        "notes": list(row.notes),
        "stats": {k: v for k, v in row.stats.items() if isinstance(v, (int, float, str))},
    }


def segment_files_on_cluster(
    client: Any, plan: Sequence[tuple[Any, Any, Any]], settings: Any
) -> Generator[BlockProgress, None, list[dict[str, Any]]]:
    """One task per file of a batch plan (:func:`napari_unetseg.batch.plan_batch`); yields
    progress per finished file and returns one row per file (``error`` None when it
    worked)."""
    from distributed import as_completed

    paths = [os.path.abspath(os.fspath(p)) for row in plan for p in row[:1]]
    check_visible(client, paths)
    items = [
        (str(e[0]), str(e[1]), None if e[2] is None else str(e[2]), e[3] if len(e) > 3 else 0)
        for e in plan
    ]
    futures = [client.submit(_segment_one, it, settings.to_dict(), pure=False) for it in items]
    item_of = dict(zip(futures, items))
    rows = []
    try:
        for i, fut in enumerate(as_completed(futures), start=1):
            rows.append(_file_row(fut, item_of[fut]))
            yield BlockProgress(i, len(futures), stage="files")
    finally:
        client.cancel(futures)
    order = {it[1]: k for k, it in enumerate(items)}  # the planned outputs: one per image
    return sorted(rows, key=lambda r: order.get(r["planned"], 0))


def _file_row(future: Any, item: tuple[str, str, str | None, int]) -> dict[str, Any]:
    """A file task's row; a task whose worker was lost (a file too large for the memory
    per worker) is that file's failure, not the end of the batch (the other files went
    unsegmented and unnamed; distributed bug bash)."""
    try:
        return _result(future)
    except ClusterError as exc:
        lost = worker_lost(exc.__cause__ or exc, "while it segmented this file", blocks=False)
        if lost is None:
            raise
        return {
            "input": item[0],
            "planned": item[1],
            "output": None,
            "error": str(lost),
            "seconds": 0.0,
            "notes": [],
            "stats": {},
        }
