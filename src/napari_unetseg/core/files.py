"""Atomic file writing, shared by model files, label TIFFs and metric tables."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], Any], replace: bool = True
) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``path`` is therefore either the old file or the complete new one, never a
    half-written file. The temporary name is reserved exclusively with the normal
    permissions (the umask applies, unlike ``tempfile.mkstemp``'s 0600), its folder is
    created when missing, and it is removed if ``write`` fails.

    ``replace=False``: a file at ``path`` is never replaced, even one made while
    ``write`` ran (another process's: two trainings to one output, the second replaced
    the first's model), with :class:`FileExistsError` instead.
    """
    path = Path(path).expanduser()  # (a "~" folder was made beside the work)
    check_name_length(path)  # before asking the system anything of the name
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write {str(path)!r}: it is a folder.")
    # ".NAME.1234abcd.tmp" is 14 bytes longer than NAME: a name near the file system's
    # 255-byte limit keeps only its start (a legal output failed once segmented)
    # (os.fsencode: a name of bytes that are not UTF-8, "caf\xe9.tif", is given as
    # surrogates, which str.encode refuses: "surrogates not allowed"; locale bug bash)
    short = os.fsdecode(os.fsencode(path.name)[:200])
    tmp = path.with_name(f".{short}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        blocker = next((p for p in path.parents if p.is_file()), None)
        if blocker is not None:  # it said "File exists"
            raise NotADirectoryError(
                f"Cannot write {str(path)!r}: {str(blocker)!r} is a file, not a folder."
            ) from exc
        raise cannot_write(exc, path) from exc
    try:
        write(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            _put_new(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise
        if isinstance(exc, OSError) and exc.errno is not None:
            raise cannot_write(exc, path) from exc
        if isinstance(exc, RuntimeError):  # torch.save's writer on a full disk
            reason = (str(exc).strip().splitlines() or ["the write failed"])[0].rstrip(".")
            if "unexpected pos" in reason or _nearly_full(path.parent):
                # its "[enforce fail at inline_container.cc:672] . unexpected pos 7104 vs
                # 7000" was the whole message (disk bug bash)
                reason = "No space left on device"
            raise OSError(f"Cannot write {str(path)!r}: {reason}.") from exc
        raise
    return path


def _nearly_full(folder: Path) -> bool:
    """Whether ``folder``'s file system has under 1 MiB free."""
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def _put_new(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` exists (a hard link fails there in one
    step; where the file system has none, checked just before)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{str(path)!r} exists; it is not replaced.") from None
    except OSError:  # no hard links here (FAT, some network file systems)
        if path.exists():
            raise FileExistsError(f"{str(path)!r} exists; it is not replaced.") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def missing_file(path: str | os.PathLike, what: str = "Image file") -> FileNotFoundError:
    """The error for a file that is not there; a link to a missing file says where it
    points (a folder's broken link failed as "does not exist" beside a name ``ls``
    lists; paths bug bash)."""
    path = Path(path)
    if path.is_symlink():
        return FileNotFoundError(
            f"{what} {str(path)!r} is a link to {os.readlink(path)!r}, which does not exist."
        )
    return FileNotFoundError(f"{what} {str(path)!r} does not exist.")


#: The longest file name (bytes) most file systems take.
NAME_MAX = 255


def check_name_length(path: str | os.PathLike) -> None:
    """One sentence for a file name longer than :data:`NAME_MAX` bytes (the system's
    "[Errno 36] File name too long" came out raw, even from asking whether it exists)."""
    name = Path(path).name
    size = len(os.fsencode(name))  # its bytes on disk, whatever their encoding
    if size > NAME_MAX:
        raise ValueError(
            f"The file name {name[:40]!r}... is {size} bytes long, more than "
            f"the {NAME_MAX} a file name may have; choose a shorter one."
        )


def cannot_write(exc: OSError, path: str | os.PathLike) -> OSError:
    """The same kind of OSError (errno kept) with one sentence naming the target, not
    the temporary file (e.g. "Cannot write 'a.tif': No space left on device."). An error
    this made already gives its system's words, not its sentence again."""
    cause = exc.__cause__
    exc = cause if isinstance(cause, OSError) and cause.strerror else exc
    reason = exc.strerror or str(exc)
    new = type(exc)(f"Cannot write {str(path)!r}: {reason}.")
    new.errno = exc.errno
    return new


def os_error_sentence(exc: BaseException) -> str | None:
    """One sentence for an error the system raised on a file (errno, its words and the
    file set): "Cannot write '/data/x.zarr/labels': read-only file system." for
    "[Errno 30] Read-only file system: '/data/x.zarr/labels'" (labels written into a
    store on a read-only mount; OME-Zarr bug bash). None for any other error, ours
    included (they are sentences already)."""
    if not isinstance(exc, OSError) or exc.errno is None or not exc.strerror:
        return None
    reason = exc.strerror[:1].lower() + exc.strerror[1:]
    if exc.filename is None:
        return f"{exc.strerror}."
    writing = exc.errno in (errno.EROFS, errno.ENOSPC, getattr(errno, "EDQUOT", -1))
    return f"Cannot {'write' if writing else 'use'} {str(exc.filename)!r}: {reason}."
