"""The bad-input matrix: every case is a test marked with :func:`case`.

``case(id, surface, input, expected)`` registers the case in :data:`CASES` and returns
a ``pytest.mark.reliability`` mark (a decorator, or ``marks=`` of a ``pytest.param``).
``scripts/make_reliability_doc.py`` runs these tests and writes docs/reliability.md
from :data:`CASES` and the outcomes that ``tests/reliability/conftest.py`` records:

- *refused cleanly*: a refusal case passed (one sentence, nothing existing touched);
- *handled*: an accepted input was processed correctly;
- *data lost*: an existing file or layer changed (:class:`DataLost`);
- *crashed*: any other failure (a traceback, several lines, a wrong exit status).

The helpers check the contract of docs/reliability.md: a CLI refusal is one line on
stderr starting ``unetseg: error:`` and a non-zero exit; an API refusal is a ``ValueError``
/ ``MemoryError`` / ``FileNotFoundError`` whose message is one sentence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SURFACES = ("CLI", "API", "napari I/O", "Widget")


@dataclass(frozen=True)
class Case:
    id: str  # "<category>/<name>"
    surface: str
    input: str
    expected: str
    refused: bool

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]


#: Every registered case by id (filled when the test modules are imported).
CASES: dict[str, Case] = {}


def case(id: str, surface: str, input: str, expected: str, refused: bool = True) -> Any:
    """Register a case and return its ``pytest.mark.reliability`` mark."""
    assert surface in SURFACES, surface
    assert id not in CASES or CASES[id] == Case(id, surface, input, expected, refused), id
    CASES[id] = Case(id, surface, input, expected, refused)
    return pytest.mark.reliability(id)


class DataLost(AssertionError):
    """An existing file or layer was changed or removed by a refused run."""


# -- files ---------------------------------------------------------------------------------------
def earlier_result(path: Path) -> Path:
    """An output a run of napari-unetseg wrote before (its provenance in it): the next run
    may replace it, so a refused run must be what leaves it as it is (a file it did not
    write is refused first, as someone's own)."""
    import numpy as np

    from napari_unetseg import _io

    return _io.write_labels(
        path, np.full((4, 4), 7, np.uint8), provenance={"note": "an earlier result"}
    )


def snapshot(*paths: Path) -> dict[Path, str | None]:
    """Content hashes of files (None for a missing file) to compare after a run."""
    return {Path(p): _digest(Path(p)) for p in paths}


def _digest(path: Path) -> str | None:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def assert_untouched(before: dict[Path, str | None]) -> None:
    """Raise :class:`DataLost` when any snapshotted file changed."""
    for path, digest in before.items():
        if _digest(path) != digest:
            raise DataLost(f"{path} was changed by a refused run")


def flip_bytes_inside(path: Path, count: int = 200) -> str:
    """Invert ``count`` bytes inside the data of the largest part of the zip archive at
    ``path`` (a copy gone bad: its headers intact); returns that part's name."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        part = max(archive.infolist(), key=lambda i: i.compress_size)
    raw = bytearray(path.read_bytes())
    at = part.header_offset  # the local header's own name and extra lengths
    name_length, extra_length = struct.unpack("<HH", raw[at + 26 : at + 30])
    start = at + 30 + name_length + extra_length
    start += max(0, part.compress_size // 2 - count // 2)
    for k in range(start, start + min(count, part.compress_size)):
        raw[k] ^= 0xFF
    path.write_bytes(bytes(raw))
    return part.filename


def leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write left behind (there must be none)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


# -- messages ------------------------------------------------------------------------------------
def assert_one_sentence(text: str, match: str | None = None) -> None:
    """One line, no traceback, a sentence that ends with a full stop (or a quote/bracket)."""
    text = str(text).strip()
    assert text, "empty message"
    assert "\n" not in text, f"more than one line: {text!r}"
    assert "Traceback" not in text, text
    assert text[-1] in ".)'\"", f"not a sentence: {text!r}"
    if match is not None:
        assert re.search(match, text, re.IGNORECASE), f"{match!r} not in {text!r}"


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run ``unetseg`` in this process; (exit status, stdout, stderr)."""
    from napari_unetseg import cli

    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_cli_refused(capsys: Any, *argv: str, match: str | None = None) -> str:
    """A refused CLI run: non-zero exit, exactly one ``unetseg: error:`` line on stderr
    (notes before it are allowed), no traceback. Returns the error sentence."""
    rc, _out, err = run_cli(capsys, *argv)
    assert rc != 0, f"exit status 0; stderr: {err!r}"
    lines = [ln for ln in re.split(r"[\r\n]+", err) if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("unetseg: error:")]
    assert len(errors) == 1, f"expected one error line, got {lines!r}"
    assert not any("Traceback" in ln for ln in lines), err
    sentence = errors[0].removeprefix("unetseg: error:").strip()
    assert_one_sentence(sentence, match)
    return sentence


def assert_api_refused(exc_info: Any, match: str | None = None) -> None:
    """The exception of ``pytest.raises`` carries one sentence."""
    assert_one_sentence(str(exc_info.value), match)
