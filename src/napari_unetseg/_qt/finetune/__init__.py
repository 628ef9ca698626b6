"""The Fine-tune widget, built from small parts (docs/architecture.md, module map).

Without Qt: :mod:`.job` (the worker side), :mod:`.warmup`, :mod:`.label_policy` (what
the label values mean) and :mod:`.curve` (the curve's data). With Qt:
:mod:`.paint_panel`, :mod:`.train_panel`, :mod:`.result_panel`, :mod:`.plot`,
:mod:`.preview` and :mod:`.widget`, which puts them together.

The names below are imported on first use, so importing a Qt-free part (e.g.
``napari_unetseg._qt.finetune.job`` in a worker or a test) does not import Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "FinetuneWidget": "widget",
    "TrainRequest": "job",
    "TrainResult": "job",
    "finetune_job": "job",
    "BACKGROUND": "label_policy",
    "OBJECT": "label_policy",
    "SCRIBBLE_KEY": "label_policy",
    "SCRIBBLE_NAMES": "label_policy",
    "PREVIEW_SUFFIX": "preview",
    "UNSURE_SUFFIX": "preview",
    "UNSURE_MOST": "preview",
    "SCRATCH": "train_panel",
    "WARMED_UP": "warmup",
    "warm_up": "warmup",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
