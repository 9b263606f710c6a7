"""Which files to follow: the globs, their rotated siblings, and a wake-up on directory changes.

Rotation renames ``app.log`` to ``app.log.1``, a name ``*.log`` no longer matches. Such
siblings are listed too, so a known file is found again by its fingerprint, and a rotated file
written while logship was not looking is still shipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
from dataclasses import dataclass
from fnmatch import fnmatch

import watchfiles

__all__ = ["Candidate", "Discovery"]

log = logging.getLogger(__name__)
# watchfiles logs every batch of changes at INFO.
logging.getLogger("watchfiles").setLevel(logging.WARNING)

# app.log.1, app.log-20261126, app.log.2026-11-26: a matching name plus a rotation suffix.
_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?:\d+|\d{4}-?\d{2}-?\d{2}(?:[-_T]?\d+)?))+$")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str
    dev: int
    ino: int
    size: int
    mtime: float
    matched: bool  # matches `tail.paths`; otherwise a rotated sibling of a matching name


class Discovery:
    """Evaluates the globs and lists candidates; ``changed`` is set when a watched directory changes."""

    def __init__(self, patterns: list[str], exclude: list[str], ignore: set[str]) -> None:
        self._patterns = [os.path.abspath(p) for p in patterns]
        self._exclude = exclude
        self._ignore = {os.path.abspath(p) for p in ignore}
        self.changed = asyncio.Event()
        self._watched: frozenset[str] = frozenset()
        self._watch_task: asyncio.Task[None] | None = None
        self._stop_watch: asyncio.Event | None = None

    def _excluded(self, path: str) -> bool:
        return path in self._ignore or any(
            fnmatch(path, e) or fnmatch(os.path.basename(path), e) for e in self._exclude
        )

    def _matches(self, path: str) -> bool:
        return any(fnmatch(path, p) for p in self._patterns)

    def directories(self) -> set[str]:
        dirs: set[str] = set()
        for pattern in self._patterns:
            dirs.update(d for d in glob.glob(os.path.dirname(pattern)) if os.path.isdir(d))
        return dirs

    def scan(self) -> list[Candidate]:
        """Every regular file that matches, or is a rotation of a name that matches."""
        found: list[Candidate] = []
        for directory in sorted(self.directories()):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in sorted(names):
                path = os.path.join(directory, name)
                if self._excluded(path) or name.endswith(_COMPRESSED):
                    continue
                matched = self._matches(path)
                if not matched:
                    rot = _ROTATION.match(name)
                    if rot is None or not self._matches(os.path.join(directory, rot.group("base"))):
                        continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not os.path.isfile(path):
                    continue
                found.append(Candidate(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime, matched))
        return found

    async def watch(self) -> None:
        """(Re)start the watcher when the set of directories changed; cheap to call often."""
        dirs = frozenset(self.directories())
        if dirs == self._watched and self._watch_task is not None and not self._watch_task.done():
            return
        await self.stop()
        self._watched = dirs
        if dirs:
            self._stop_watch = asyncio.Event()
            self._watch_task = asyncio.create_task(self._run_watch(sorted(dirs), self._stop_watch))

    async def _run_watch(self, dirs: list[str], stop: asyncio.Event) -> None:
        try:
            async for _ in watchfiles.awatch(
                *dirs, stop_event=stop, debounce=50, step=20, recursive=False, ignore_permission_denied=True
            ):
                self.changed.set()
        except Exception as exc:  # the poll keeps working without events
            log.warning("File watching stopped; relying on the periodic scan", extra={"error": str(exc)})

    async def stop(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        self._watch_task = None
