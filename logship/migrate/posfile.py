"""Taking over Fluentd's in_tail positions, so logship resumes exactly where Fluentd stopped.

A pos_file holds one line per file: ``path<TAB>position<TAB>inode``, both numbers as 16 hex
digits; the position ``ffffffffffffffff`` marks a file Fluentd no longer watches, and a later
line for the same path replaces an earlier one. Fluentd commits only the end of complete lines,
so a position is where the next record starts.

An entry is taken over only when it is certainly the same file: the path still holds the inode
Fluentd recorded, the position lies within the file, right after a newline. Anything else is
reported and skipped; logship then reads that file as any new file (``tail.read_from``).
Fluentd's documents carry ids that are not logship's, so this takeover, not the engine, is what
keeps already shipped records from being indexed twice: stop Fluentd before running it.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from logship.errors import ConfigError
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.positions import FilePosition, PositionStore
from logship.storelock import StoreLock

__all__ = ["PosEntry", "Takeover", "plan_takeover", "read_pos_file", "write_positions"]

UNWATCHED = 0xFFFFFFFFFFFFFFFF
_ENTRY = re.compile(r"^([^\t]+)\t([0-9a-fA-F]+)\t([0-9a-fA-F]+)\s*$")


@dataclass(frozen=True, slots=True)
class PosEntry:
    """One line of a pos_file, with the line it came from."""

    source: str  # "pos_file:line"
    path: str
    pos: int
    ino: int


@dataclass
class Takeover:
    """What a takeover would write, what it took and what it skipped (one line each, with the reason)."""

    positions: list[FilePosition] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_pos_file(path: Path) -> tuple[list[PosEntry], list[str]]:
    """The entries of a pos_file (the last per path) and the lines that could not be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the pos_file: {exc.strerror}"]) from exc
    latest: dict[str, PosEntry] = {}
    bad: list[str] = []
    for number, line in enumerate(raw.decode("utf-8", errors="surrogateescape").splitlines(), 1):
        if not line.strip():
            continue
        m = _ENTRY.match(line)
        if m is None:
            bad.append(f"{path}:{number}: not a pos_file entry (path<TAB>position<TAB>inode): {line[:80]!r}")
            continue
        entry = PosEntry(f"{path}:{number}", m.group(1), int(m.group(2), 16), int(m.group(3), 16))
        latest[entry.path] = entry  # Fluentd, too, keeps the latest line for a path
    return list(latest.values()), bad


def plan_takeover(pos_files: list[Path], fingerprint_bytes: int) -> Takeover:
    """Check every entry against the file on disk; nothing is written."""
    plan = Takeover()
    keys: dict[str, str] = {}
    for pos_file in pos_files:
        entries, bad = read_pos_file(pos_file)
        plan.skipped.extend(bad)
        for entry in entries:
            reason = _check(entry, fingerprint_bytes)
            if isinstance(reason, str):
                plan.skipped.append(f"{entry.source}: {entry.path}: {reason}")
                continue
            if reason.key in keys:
                plan.skipped.append(
                    f"{entry.source}: {entry.path}: same first line as {keys[reason.key]}, so logship "
                    "cannot tell the two apart; not taken over"
                )
                continue
            keys[reason.key] = entry.path
            plan.positions.append(reason)
            plan.taken.append(f"{entry.path}: resumes at byte {reason.offset} of {reason.size}")
    return plan


def _check(entry: PosEntry, fingerprint_bytes: int) -> FilePosition | str:
    if entry.pos == UNWATCHED:
        return "unwatched (Fluentd had stopped following it); skipped"
    try:
        st = os.stat(entry.path)
    except FileNotFoundError:
        return "no longer exists; skipped"
    except OSError as exc:
        return f"cannot be read ({exc.strerror}); skipped"
    if st.st_ino != entry.ino:
        return (
            f"now inode {st.st_ino}, Fluentd's position is for inode {entry.ino} (rotated or replaced "
            "since); skipped, the file will be read per `tail.read_from`"
        )
    if entry.pos > st.st_size:
        return (
            f"position {entry.pos} is beyond the file's size {st.st_size} (truncated since); skipped, "
            "the file will be read per `tail.read_from`"
        )
    if entry.pos > 0 and not _after_newline(entry.path, entry.pos):
        return (
            f"position {entry.pos} is not the end of a line; skipped, the file will be read per "
            "`tail.read_from`"
        )
    key = fingerprint_path(entry.path, fingerprint_bytes)
    if key is None:
        return (
            "its first line is not complete yet, and logship identifies files by it; skipped, "
            "the file will be read per `tail.read_from`"
        )
    return FilePosition(key, entry.path, st.st_dev, st.st_ino, entry.pos, st.st_size)


def _after_newline(path: str, pos: int) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(pos - 1)
            return f.read(1) == b"\n"
    except OSError:
        return False


def write_positions(directory: Path, plan: Takeover, force: bool) -> Path:
    """Save the takeover as logship's position store; refuse to replace one unless ``force``."""
    store = PositionStore(directory)
    # A logship running on this store would overwrite the takeover with its own positions.
    with StoreLock(directory, "logship migrate"):
        return _write_positions(store, plan, force)


def _write_positions(store: PositionStore, plan: Takeover, force: bool) -> Path:
    directory = store.directory
    if store.path.exists() and not force:
        raise ConfigError(
            [
                f"{store.path}: a logship position store exists already (logship has run here); "
                "pass --force to replace it, or --positions-dir for another directory"
            ]
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            [f"{directory}: cannot create the positions directory (`tail.positions_dir`): {exc.strerror}"]
        ) from exc
    # The takeover time counts as a scan: a file rotated away after it and before logship starts
    # is then recognised as written since, and shipped.
    store.save(plan.positions, time.time())
    return store.path
