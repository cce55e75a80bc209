"""Replace files atomically: the one way xacct-nb writes a file.

A file is written to a temporary name in the target's own folder (same file system, so the
rename is atomic), flushed and fsynced, then moved over the target with ``os.replace``. A reader
therefore sees the old file or the complete new one, never a truncated mix; a kill -9 at any
moment leaves the old file intact (and at worst a hidden ``.NAME.*.xacct-tmp`` next to it).
Any exception — KeyboardInterrupt included — removes the temporary file and leaves the target
as it was.

Two forms: :func:`atomic_write` yields an open file object; :func:`atomic_path` yields a
temporary *path* for libraries that insist on opening the file themselves (pandas, pyarrow).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write", "atomic_write_text"]

TEMP_SUFFIX = ".xacct-tmp"

# Tests pause or kill the writer at a precise stage: "created" (the temporary file exists,
# nothing written yet), "written" (complete and fsynced, right before the rename) and "replaced"
# (right after it). None in production.
_stage_hook: Callable[[str, Path], None] | None = None


def _stage(name: str, path: Path) -> None:
    if _stage_hook is not None:
        _stage_hook(name, path)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, mode: int | None = None,
                exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `target`; when the block ends without an exception the
    file written there is fsynced and becomes `target` in one rename.

    `mode`: the permissions of the new file (default: what ``open`` gives, 0o666 less the
    umask; mkstemp's own 0o600 would surprise). `exclusive`: never replace an existing target
    (``FileExistsError`` instead) — for records that are written once.
    """
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent or ".")
    temp = Path(name)
    try:
        os.close(fd)
        _stage("created", temp)
        yield temp
        _fsync_file(temp)
        os.chmod(temp, _default_mode() if mode is None else mode)
        _stage("written", temp)
        if exclusive:
            os.link(temp, target)  # fails if target exists; the rename would silently replace it
            temp.unlink()
        else:
            os.replace(temp, target)
        _fsync_dir(target.parent)
        _stage("replaced", target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str], text: bool = True, *, encoding: str = "utf-8",
                 newline: str | None = None, mode: int | None = None,
                 exclusive: bool = False) -> Iterator[IO[Any]]:
    """Yield a file object open for writing (text by default, `text=False` for bytes); see
    :func:`atomic_path` for what happens when the block ends."""
    with atomic_path(target, mode=mode, exclusive=exclusive) as temp:
        if text:
            with open(temp, "w", encoding=encoding, newline=newline) as fh:
                yield fh
        else:
            with open(temp, "wb") as bfh:
                yield bfh


def atomic_write_text(target: str | os.PathLike[str], content: str, *, encoding: str = "utf-8",
                      mode: int | None = None, exclusive: bool = False) -> Path:
    """Write `content` to `target` atomically and return the target's path."""
    with atomic_write(target, encoding=encoding, mode=mode, exclusive=exclusive) as fh:
        fh.write(content)
    return Path(target)


def _default_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
