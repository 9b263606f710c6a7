"""The dead-letter file and its rotated copies: names, sizes, rotation and the lock around changes.

``<path>`` is written; when it holds its share of `dead_letter.max_bytes` it is renamed
``<path>.1`` (an older ``.1`` to ``.2``, and so on up to ``<path>.<max_files - 1>``). Rotation
never deletes: when every name is taken the newest file grows until the bound is reached, and then
rejected records wait. Only `logship replay --dead-letter` removes a file, once every document in
it was delivered. `logship run` and `logship replay` may both write, so every change happens under
an exclusive ``flock`` on ``<path>.lock``.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from logship.fsio import sync_directory

__all__ = ["ReadFile", "existing", "locked", "numbered", "remove_unchanged", "rotate", "total_bytes"]


def numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}") if n else path


def existing(path: Path) -> list[Path]:
    """``path`` and its rotated copies that exist, oldest first (``<path>.N`` ... ``.1``, ``path``)."""
    suffix = re.compile(re.escape(path.name) + r"\.([1-9][0-9]*)")
    found: list[tuple[int, Path]] = []
    try:
        for entry in os.scandir(path.parent):
            match = suffix.fullmatch(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                found.append((int(match.group(1)), Path(entry.path)))
    except FileNotFoundError:
        return []
    out = [p for _, p in sorted(found, reverse=True)]
    if path.is_file():
        out.append(path)
    return out


def total_bytes(path: Path) -> int:
    total = 0
    for p in existing(path):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the dead-letter files (blocking: held only for one change)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rotate(path: Path, max_files: int) -> bool:
    """Rename ``path`` to ``<path>.1``, shifting older copies up to the first free number; False
    (nothing renamed) when every number up to ``max_files - 1`` is taken. Call under ``locked``."""
    free = next((n for n in range(1, max_files) if not numbered(path, n).exists()), None)
    if free is None or not path.exists():
        return False
    for n in range(free, 0, -1):
        os.replace(numbered(path, n - 1), numbered(path, n))
    sync_directory(path.parent)
    return True


@dataclass(frozen=True, slots=True)
class ReadFile:
    """A dead-letter file as a replay read it: the bytes it held then."""

    path: Path
    dev: int
    ino: int
    size: int


def remove_unchanged(dead_letter_path: Path, files: list[ReadFile]) -> list[Path]:
    """Delete those of ``files`` that are ``dead_letter_path`` or its rotated copies and still hold
    exactly what was read (every document in them was delivered); a file written to since, or a
    file of the user's elsewhere, is kept. Returns the files removed."""
    removed: list[Path] = []
    with locked(dead_letter_path):
        ours = set()
        for p in existing(dead_letter_path):
            st = p.stat()
            ours.add((st.st_dev, st.st_ino))
        for f in files:
            try:
                st = f.path.stat()
            except FileNotFoundError:
                continue
            same = (st.st_dev, st.st_ino, st.st_size) == (f.dev, f.ino, f.size)
            if same and (f.dev, f.ino) in ours:
                f.path.unlink()
                removed.append(f.path)
        if removed:
            sync_directory(dead_letter_path.parent)
    return removed
