"""Helpers shared by the ``screenshot_*.py`` scripts (run from this folder's parent)."""

from __future__ import annotations

import time
from typing import Any


def settle(seconds: float = 1.0) -> None:
    """Let Qt process events for a while (layouts, deferred draws)."""
    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def close_toasts(viewer: Any) -> None:
    """Dismiss notification toasts (e.g. napari's own notices) that hide the canvas."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
