"""What a block run reports: progress, the result, and the one error type of a cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ClusterError(OSError):
    """A cluster that cannot run the job (one sentence; nothing was written)."""


class ClusterGone(ClusterError):
    """The connection to the scheduler ended during a run (the client or the scheduler
    closed, or the connection lost)."""


class Superseded(RuntimeError):
    """A block of a run that a newer run on the same store replaced (stopped, then resumed
    or overwritten while the block still ran on a worker): it writes nothing more."""


@dataclass
class BlockProgress:
    """``done`` of ``total`` blocks (``stage`` 'blocks', then 'pyramid')."""

    done: int
    total: int
    stage: str = "blocks"
    message: str | None = None


@dataclass
class BlocksResult:
    """What a block run wrote, and what it cost."""

    output: str
    stats: dict[str, Any] = field(default_factory=dict)


#: dask's ways of saying that a worker went away under a task (killed by its nanny for
#: passing its memory limit, most often) rather than that the task failed
WORKER_LOST = ("CommClosedError", "KilledWorker", "FutureCancelledError", "CancelledError")


#: What dask raises when no worker can take data at all: every worker restarted under
#: the model's weight as it was sent (a memory limit below PyTorch's own footprint; the
#: distributed bug bash saw "Can not use replicate to delete data" and "No valid workers
#: found" where the sentence below belongs)
NO_WORKER = ("No valid workers found", "Can not use replicate")


def worker_lost(
    exc: BaseException, when: str = "while it ran a block", blocks: bool = True
) -> ClusterError | None:
    """The sentence for a worker that went away (dask's words for it: a closed stream, a
    cancelled future, a killed worker, no worker left to take data), or None for any
    other failure. ``blocks``: smaller blocks are a way out (not for a file's task)."""
    if type(exc).__name__ not in WORKER_LOST and not any(w in str(exc) for w in NO_WORKER):
        return None
    smaller = " or use smaller blocks (--block-size)" if blocks else ""
    return ClusterError(
        f"A worker was lost {when} (most often: it passed its memory limit and was "
        f"restarted); give the workers more memory (--memory-per-worker, e.g. 4GiB){smaller}."
    )


def _result(future: Any) -> Any:
    """A finished task's result; a failed block ends the run with its one sentence."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - sorted below, one sentence each
        lost = worker_lost(exc)
        if lost is not None:
            raise lost from exc
        if isinstance(exc, (ValueError, OSError, MemoryError)):
            raise type(exc)(str(exc)) from exc
        raise ClusterError(
            f"A block failed on the cluster ({type(exc).__name__}: {exc})."
        ) from exc
