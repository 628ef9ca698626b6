"""Import the training machinery ahead of the first Train press (no widgets made).

The first torch optimizer of a process imports ``torch._dynamo``: seconds of work, with
stretches that hold the GIL; the training curve's matplotlib (and its Qt backend) more.
Done in a background thread when the Fine-tune widget opens (while the user paints)
rather than when Train is pressed, the first run starts at once.
"""

from __future__ import annotations

import threading

#: Set once the training machinery is imported (see :func:`warm_up`).
WARMED_UP = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_training() -> None:
    try:
        import torch._dynamo  # noqa: F401 - what the first torch optimizer imports
        from matplotlib.backends import backend_qtagg  # noqa: F401 - the curve's (1.6 s)
        from matplotlib.figure import Figure  # noqa: F401

        from ... import api  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - only a head start: Train imports them anyway
        pass
    finally:
        WARMED_UP.set()


def warm_up() -> threading.Event:
    """Start the import in a background thread, once per process; returns :data:`WARMED_UP`."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(
                target=_import_training, name="unetseg-warm-up", daemon=True
            )
            _thread.start()
    return WARMED_UP
