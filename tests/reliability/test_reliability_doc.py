"""docs/reliability.md lists exactly the cases of the matrix, with no crash or data loss."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from reliability_matrix import CASES

HERE = Path(__file__).parent
DOC = HERE.parents[1] / "docs" / "reliability.md"


def test_doc_lists_every_case_and_no_failure():
    for module in sorted(HERE.glob("test_*.py")):
        importlib.import_module(module.stem)  # registers its cases
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \|.*\| ([^|]+) \|$", DOC.read_text(), re.M)
    listed = {cid: outcome.strip() for cid, outcome in rows}
    assert set(listed) == set(CASES), "regenerate: python scripts/make_reliability_doc.py"
    assert len(CASES) >= 60
    bad = {cid: o for cid, o in listed.items() if o.startswith(("crashed", "data lost"))}
    assert not bad
