"""What a block run reports: progress, the result, and the one error type of a cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ClusterError(OSError):
    """A cluster that cannot run the job (one sentence; nothing was written)."""


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


def _result(future: Any) -> Any:
    """A finished task's result; a failed block ends the run with its one sentence."""
    try:
        return future.result()
    except (ValueError, OSError, MemoryError) as exc:
        raise type(exc)(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
        raise ClusterError(
            f"A block failed on the cluster ({type(exc).__name__}: {exc})."
        ) from exc
