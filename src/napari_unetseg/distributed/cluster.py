"""Connecting to a dask scheduler (or starting a LocalCluster), and what workers can see.

This package is the only place that imports dask.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .records import ClusterError

#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT = 10.0
#: dask settings of the cluster :func:`connect` starts. The statistical profiler samples
#: every worker thread's stack each 10 ms with the GIL held: 0.2 of a core-second per
#: 7.5 s block run in the worker's event loop, taken from the other worker's core when
#: every core runs one. The rest are periodic chores that dask runs far more often than
#: blocks of seconds to minutes need: the event-loop health check (20 ms; every 500 ms
#: still notices a loop blocked for the 3 s it warns about), the system monitor's CPU,
#: memory and network sample (500 ms) and the memory manager's check for spilling and
#: pausing (100 ms). Each wake-up takes the GIL, and with every core running a worker it
#: also stalls a compute thread. An idle 2-worker cluster (scheduler, nannies, workers)
#: used 0.10 of a core with dask's settings, 0.043 with the health check at 200 ms and
#: 0.026 with all of these (docs/distributed.md gives them as environment variables for
#: workers started elsewhere).
WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def connect(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    memory_limit: str | int | None = None,
    processes: bool = True,
    timeout: float = CONNECT_TIMEOUT,
) -> Any:
    """A ``distributed.Client``: on ``scheduler`` (an address) or on a new LocalCluster
    of ``workers`` single-threaded workers.

    ``memory_limit``: each local worker's (``"4GiB"``, bytes; default dask's "auto", the
    machine's memory shared); ``processes``: local workers as processes (False: threads
    of this process, for tests and small runs); ``timeout``: seconds to reach a
    ``scheduler``.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached within ``timeout`` seconds.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(
            "Running on a cluster needs dask.distributed: pip install 'napari-unetseg[distributed]'."
        ) from exc
    if scheduler:
        failed = f"Cannot reach the dask scheduler at {scheduler!r}"
        _probe(scheduler, timeout, failed)
        return _client_within(Client, scheduler, timeout, failed)
    n = int(workers or 1)
    if n < 1:
        raise ValueError(f"--workers must be at least 1, got {workers!r}.")
    import dask

    # dask starts worker processes with MALLOC_TRIM_THRESHOLD_ set, which turns off
    # glibc's adaptive mmap threshold: every large tensor PyTorch allocates is then a
    # fresh mmap to fault in and zero, and the U-Net ran 2x slower in a worker than in
    # this process. Our workers keep the thread limits and leave malloc alone.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **WORKER_CONFIG}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit if memory_limit is not None else "auto",
            # a free port of its own: None still took 8787 and warned "Port 8787 is
            # already in use" beside another cluster (distributed bug bash)
            dashboard_address=":0",
        )
    return Client(cluster)


def _client_within(client_type: Any, scheduler: str, timeout: float, failed: str) -> Any:
    """``Client(scheduler)``, or one sentence when none answers in time: dask's own
    timeout does not cover a server that accepts the connection but never speaks dask
    (a web server on that port waited for ever)."""
    import threading

    done: dict[str, Any] = {}

    def connect_now() -> None:
        try:
            done["client"] = client_type(scheduler, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - whatever answered is not a scheduler
            done["error"] = exc

    # a daemon thread: one that never returns does not hold the process at exit
    thread = threading.Thread(target=connect_now, name="unetseg-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if "client" in done:
        return done["client"]
    why = _why(done["error"]) if "error" in done else "no dask answer"
    raise ClusterError(
        f"{failed} within {timeout:g} s ({why}); check the address and that a dask "
        "scheduler (not another server) runs there."
    )


def _why(error: BaseException) -> str:
    """Why dask did not connect, in a few words: its own message where it is one short
    line ("missing port number in address 'x'"), else the error's type."""
    text = str(error).strip()
    return text if text and "\n" not in text and len(text) <= 120 else type(error).__name__


def _probe(address: str, timeout: float, failed: str) -> None:
    """Fail at once on a TCP address nobody listens on (dask would retry until its
    timeout, and then some)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError as exc:  # "Port out of range 0-65535", without the option's name
        raise ClusterError(f"{failed}: {exc}.") from exc
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not port:
        return
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"{failed} ({reason.lower()}); check the address and that the scheduler runs."
        ) from exc


def close(client: Any) -> None:
    """Close a client and the LocalCluster it started (if it started one). A cluster
    whose worker died may fail to close cleanly: that is not raised, so that the run's
    own error (called from ``finally``) is the one the user reads."""
    cluster = getattr(client, "cluster", None)
    for closing in (client, cluster):
        if closing is None:
            continue
        try:
            closing.close()
        except Exception:  # noqa: BLE001 - see above; the processes end with the cluster
            pass


def _missing(paths: Sequence[str]) -> list[str]:
    """Paths that do not exist on this machine (run on each worker)."""
    return [p for p in paths if not os.path.exists(p)]


def check_visible(client: Any, paths: Sequence[str]) -> None:
    """Refuse (one sentence) when a worker cannot see a path, before anything is written."""
    from .records import worker_lost

    closed = ClusterError(
        "The dask client is closed, or its cluster is: connect again (dist.connect(...) or "
        "a new Client) before segmenting on it."
    )
    if getattr(client, "status", "running") in ("closing", "closed"):
        raise closed
    try:
        answers = client.run(_missing, list(paths))
    except AttributeError as exc:  # dask's "'NoneType' object has no attribute
        raise closed from exc  # 'broadcast'" for a closed cluster (distributed bug bash)
    except Exception as exc:  # noqa: BLE001 - a worker that died before any work
        lost = worker_lost(exc, "before its first block")
        if lost is None:
            raise
        raise lost from exc
    if not answers:  # dask said "No valid workers found" only once a store was made
        raise ClusterError(
            "The cluster has no workers: start some (e.g. `dask worker SCHEDULER_ADDRESS`) "
            "before segmenting on it."
        )
    for worker, missing in answers.items():
        if missing:
            raise ClusterError(
                f"The worker at {worker} cannot see {missing[0]!r}; put the input and output "
                "on storage every worker shares (the same path on each machine)."
            )
