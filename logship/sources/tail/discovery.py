"""Which files to follow: the globs and their rotated siblings, listed at each scan.

Rotation renames ``app.log`` to ``app.log.1``, a name ``*.log`` no longer matches. Such
siblings are listed too, so a known file is found again by its fingerprint, and a rotated file
written while logship was not looking is still shipped.

Matching is per path component: ``*`` never crosses ``/``, as in the shell. Symbolic links are not
followed (a link in the log directory could otherwise ship any file logship can read), unless the
file they resolve to lies inside one of ``tail.follow_symlinks_within``.

There is no file-event watcher: the application appends thousands of times a second, and a
watcher wakes its reader for each write, where a busy file needs one read per tick. Instead a scan
every `tail.scan_interval_seconds` (10 s by default, on the same clock as reading) lists a handful
of names, as Filebeat and Vector do. A rotation does not wait for it: at every tick, one `stat`
per followed file checks that its name still leads to it, and a name leading to another file or
to none (renamed, deleted) brings the scan forward to that tick, backlog or not (source.py).
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate

from logship.sources.tail.fingerprint import fingerprint_fd

__all__ = ["Candidate", "Discovery", "PathPattern", "listed_identity", "open_candidate"]

log = logging.getLogger(__name__)

# app.log.1, app.log-20261126, app.log.2026-11-26: a matching name plus a rotation suffix.
_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?:\d+|\d{4}-?\d{2}-?\d{2}(?:[-_T]?\d+)?))+$")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")
_MAGIC = re.compile(r"[*?[]")


class PathPattern:
    """A glob matched component by component: ``*``, ``?`` and ``[...]`` never match ``/``."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self._parts = [re.compile(translate(part)) for part in pattern.split("/")]

    def match(self, path: str) -> bool:
        parts = path.split("/")
        return len(parts) == len(self._parts) and all(
            rx.match(part) is not None for rx, part in zip(self._parts, parts, strict=True)
        )

    def literal_prefix(self) -> str:
        """The leading components without wildcards: the part of the path the operator wrote out."""
        literal = []
        for part in self.text.split("/")[:-1]:
            if _MAGIC.search(part):
                break
            literal.append(part)
        return "/".join(literal) or "/"


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str
    dev: int
    ino: int
    size: int
    mtime: float
    matched: bool  # matches `tail.paths`; otherwise a rotated sibling of a matching name
    target: str | None = None  # the file an allowed symbolic link resolves to

    @property
    def open_path(self) -> str:
        """What to open (with O_NOFOLLOW): the path itself, or the target of an allowed link."""
        return self.target if self.target is not None else self.path


class Discovery:
    """Evaluates the globs and lists the candidates."""

    def __init__(
        self, patterns: list[str], exclude: list[str], ignore: set[str], follow_within: Iterable[str] = ()
    ) -> None:
        """``follow_within``: directories symbolic links may point into (none by default)."""
        self._patterns = [PathPattern(os.path.abspath(p)) for p in patterns]
        self._exclude = [PathPattern(os.path.abspath(e)) for e in exclude if "/" in e]
        self._exclude_names = [e for e in exclude if "/" not in e]
        self._ignore = {os.path.abspath(p) for p in ignore}
        self._roots = [os.path.realpath(r) for r in follow_within]
        self._refused: set[str] = set()  # links already reported, so each is logged once

    def _excluded(self, path: str) -> bool:
        name = os.path.basename(path)
        base, _, number = path.rpartition(".")
        return (
            path in self._ignore
            or (number.isdigit() and base in self._ignore)  # logship's own files' rotations (dead letters)
            or any(e.match(path) for e in self._exclude)
            or any(fnmatchcase(name, e) for e in self._exclude_names)
        )

    def _matches(self, path: str) -> bool:
        return any(p.match(path) for p in self._patterns)

    def _refuse_link(self, path: str, target: str) -> None:
        if path not in self._refused:
            self._refused.add(path)
            log.warning(
                "Not following a symbolic link out of the configured paths",
                extra={
                    "file": path,
                    "link_target": target,
                    "hint": "set `tail.follow_symlinks_within` to the directories links may point into",
                },
            )

    def _link_allowed(self, path: str) -> str | None:
        """The resolved target of the link ``path`` when it may be followed, else None (reported)."""
        target = os.path.realpath(path)
        if _inside(target, self._roots):
            return target
        self._refuse_link(path, target)
        return None

    def directories(self) -> set[str]:
        dirs: set[str] = set()
        for pattern in self._patterns:
            prefix = pattern.literal_prefix()
            for d in glob.glob(os.path.dirname(pattern.text)):
                if os.path.isdir(d) and self._no_wild_links(prefix, d):
                    dirs.add(d)
        return dirs

    def _no_wild_links(self, prefix: str, directory: str) -> bool:
        """No directory matched by a wildcard is a link leading elsewhere (the written-out part may be)."""
        current = prefix
        for part in os.path.relpath(directory, prefix).split("/"):
            if part == ".":
                continue
            current = os.path.join(current, part)
            if os.path.islink(current) and self._link_allowed(current) is None:
                return False
        return True

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
                    st = os.lstat(path)
                    target = None
                    if stat.S_ISLNK(st.st_mode):
                        target = self._link_allowed(path)
                        if target is None:
                            continue
                        st = os.stat(target)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                found.append(Candidate(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime, matched, target))
        return found


def open_candidate(c: Candidate) -> int:
    """Open a candidate without following a link (one swapped in since the scan); -1 if it is
    no longer a regular file. Raises OSError when it cannot be opened."""
    try:
        fd = os.open(c.open_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.warning("Not following a symbolic link", extra={"file": c.open_path})
            return -1
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return -1
    return fd


def listed_identity(c: Candidate, limit: int) -> tuple[str | None, bool]:
    """The identity of the inode listed as ``c`` (None: unreadable, or first line incomplete), and
    whether ``c.path`` still led to it: a rotation renames every backup between a listing and a read."""
    try:
        fd = open_candidate(c)
    except OSError:
        return None, True
    if fd < 0:
        return None, True
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (c.dev, c.ino):
            return None, False
        return fingerprint_fd(fd, limit), True
    except OSError:
        return None, True
    finally:
        os.close(fd)
