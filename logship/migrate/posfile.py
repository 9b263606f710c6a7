"""Fluentd's in_tail pos_file, read; and logship's position store, written from a takeover.

A pos_file holds one line per file: ``path<TAB>position<TAB>inode``, both numbers as 16 hex
digits; the position ``ffffffffffffffff`` marks a file Fluentd no longer watches, and a later
line for the same path replaces an earlier one. Fluentd commits only the end of complete lines,
so a position is where the next record starts. Where logship starts each file is decided by
:mod:`logship.migrate.takeover`.

Fluentd's documents carry ids that are not logship's, so the takeover, not the engine, is what
keeps already shipped records from being indexed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from logship.errors import ConfigError
from logship.sources.tail.positions import FilePosition, PositionStore
from logship.storelock import StoreLock

__all__ = ["UNWATCHED", "PosEntry", "read_pos_file", "write_positions"]

UNWATCHED = 0xFFFFFFFFFFFFFFFF
_ENTRY = re.compile(r"^([^\t]+)\t([0-9a-fA-F]+)\t([0-9a-fA-F]+)\s*$")


@dataclass(frozen=True, slots=True)
class PosEntry:
    """One line of a pos_file, with the line it came from."""

    source: str  # "pos_file:line"
    path: str
    pos: int
    ino: int


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


def write_positions(
    directory: Path, positions: list[FilePosition], cutover: float | None, force: bool
) -> Path:
    """Save a takeover as logship's position store; refuse to replace one unless ``force``.

    ``cutover`` is stored as the time of logship's last scan: a rotated file written after it that
    the store does not know (rotated between the takeover and logship's start) is then shipped
    whole, and without one (no pos_file) logship's first start applies ``tail.read_from``.
    """
    store = PositionStore(directory)
    # A logship running on this store would overwrite the takeover with its own positions.
    with StoreLock(directory, "logship migrate"):
        return _write_positions(store, positions, cutover, force)


def _write_positions(
    store: PositionStore, positions: list[FilePosition], cutover: float | None, force: bool
) -> Path:
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
    store.save(positions, cutover)
    return store.path
