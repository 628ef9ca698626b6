"""Records the outcome of every bad-input case (see reliability_matrix.py).

When ``UNETSEG_RELIABILITY_JSON`` names a file, the outcomes of the marked tests are
written there as JSON at the end of the session (``scripts/make_reliability_doc.py``
turns them into docs/reliability.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from reliability_matrix import CASES, DataLost

_OUTCOMES: dict[str, str] = {}
_DETAILS: dict[str, str] = {}


def _case_id(item: Any) -> str | None:
    mark = item.get_closest_marker("reliability")
    return mark.args[0] if mark else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = (yield).get_result()
    cid = _case_id(item)
    if cid is None or cid not in CASES:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            outcome = "refused cleanly" if CASES[cid].refused else "handled"
        elif report.skipped:
            outcome = "not run"
        elif call.excinfo is not None and call.excinfo.errisinstance(DataLost):
            outcome = "data lost"
        else:
            outcome = "crashed"
        if _OUTCOMES.get(cid) in (None, "refused cleanly", "handled"):
            _OUTCOMES[cid] = outcome
        if call.excinfo is not None and not report.passed:
            _DETAILS[cid] = str(call.excinfo.value).strip().splitlines()[0][:200]


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    target = os.environ.get("UNETSEG_RELIABILITY_JSON")
    if not target:
        return
    rows = [
        {**CASES[cid].__dict__, "outcome": outcome, "detail": _DETAILS.get(cid, "")}
        for cid, outcome in _OUTCOMES.items()
    ]
    Path(target).write_text(json.dumps(rows, indent=1))
