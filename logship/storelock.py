"""One logship per position store: an exclusive ``flock`` on ``<positions_dir>/logship.lock``.

Two instances on one store would each send every record (the engine refuses the second copy, but
both pay for it) and overwrite each other's positions. The lock is taken before anything is read
or written and held until the process ends. The kernel releases a ``flock`` when its holder dies,
so the lock of a process killed with SIGKILL never blocks the next start; the PID written into the
file only names the holder in the message, it decides nothing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from logship.errors import StoreLocked

__all__ = ["LOCK_NAME", "StoreLock"]

LOCK_NAME = "logship.lock"


class StoreLock:
    """The lock of one position store, held by ``what`` (``logship run``, ``logship migrate``)."""

    def __init__(self, directory: Path, what: str) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise StoreLocked naming the file and the PID holding it."""
        if self._fd is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreLocked(
                f"cannot open the lock file {self.path} of the position store "
                f"(setting `tail.positions_dir`): {exc.strerror}; give this user write access to it"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreLocked(
                f"another logship ({holder}) is using the position store {self.directory}: it holds the "
                f"lock {self.path}. Two instances on one store would send every record twice; stop "
                "the other one, or give this one its own `tail.positions_dir`"
            ) from None
        # Only the holder writes the file, so a reader finds either a whole line or (for an instant)
        # nothing; ftruncate then one write keeps it short of torn.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.what}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no stale PID left behind to mislead a reader
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", errors="replace").strip()
    except OSError:
        text = ""
    pid, _, what = text.partition(" ")
    if not pid.isdigit():
        return "PID unknown: it has not written it yet"
    return f"PID {pid}, {what}" if what else f"PID {pid}"
