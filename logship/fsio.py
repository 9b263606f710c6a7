"""Durable writes: every byte written or an error, never a torn file taken for a whole one.

``os.write`` may write less than asked (a full disk, a signal); both the position store and the
dead-letter file go through here so neither can mistake a partial write for a complete one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["append_durably", "replace_atomically", "sync_directory", "write_all"]


def _set_mode(fd: int, mode: int) -> None:
    """Give the open file exactly ``mode``: os.open's mode is masked by the umask.

    A file that belongs to another user (created by root before) keeps its mode rather than fail the write.
    """
    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
        try:
            os.fchmod(fd, mode)
        except PermissionError:
            pass


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` or raise OSError (ENOSPC when the disk fills before the end)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(28, os.strerror(28))
        view = view[written:]


def append_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Append and fsync; on failure cut the file back so it ends with whole lines only.

    The file gets ``mode`` whatever the umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        _set_mode(fd, mode)
        size = os.fstat(fd).st_size
        try:
            write_all(fd, data)
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def replace_atomically(
    path: Path, data: bytes, *, keep_previous: Path | None = None, mode: int = 0o600
) -> None:
    """Temporary file, fsync, (keep the old file as ``keep_previous``), rename over, fsync the directory.

    The new file gets ``mode`` whatever the umask. A failure at any step leaves the old file in place.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        _set_mode(fd, mode)
        write_all(fd, data)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    if keep_previous is not None and path.exists():
        os.replace(path, keep_previous)
    os.replace(tmp, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """fsync a directory, so that a rename in it survives a crash."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
