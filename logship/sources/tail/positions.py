"""Committed positions, stored atomically: a torn write can never lose or reset them.

``positions.json`` holds, per file identity, the end offset of the committed prefix (``offset``:
every byte before it is delivered) and, while a file is read from more than one place (live-first
catch-up, ranges.py), the ranges delivered beyond it (``delivered``: ``[[start, end], ...]``, only
when there are any; a store without them reads as before, and an older logship reading one with
them ships those ranges again, which their ids make harmless). Each
write goes to a temporary file that is fsynced, the previous store is kept as
``positions.json.prev``, the new one renamed over, and the directory fsynced. On load, a store
that cannot be parsed is reported and moved aside, and the previous one is used: logship then
re-reads at most one flush interval of records, which deterministic ids make harmless.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logship.errors import PositionsError
from logship.fsio import replace_atomically
from logship.sources.tail.ranges import DeliveredRanges, Range

__all__ = ["FilePosition", "PositionStore", "StoreState"]

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True, slots=True)
class FilePosition:
    """Where a file stands: identity, last known place and size, delivered bytes."""

    key: str
    path: str
    dev: int
    ino: int
    offset: int  # the committed prefix: every byte before it is delivered
    size: int
    # digest of the bytes just before ``offset``: recognises the file after a move or a copy
    check: str | None = None
    delivered: tuple[Range, ...] = ()  # ranges delivered beyond ``offset`` (DeliveredRanges.beyond)

    @property
    def ranges(self) -> DeliveredRanges:
        return DeliveredRanges(self.offset, self.delivered)

    @property
    def end(self) -> int:
        """The end of the highest delivered byte: the file is at least this long."""
        return self.delivered[-1][1] if self.delivered else self.offset

    @property
    def undelivered(self) -> int:
        """Bytes of the file (as long as ``size``) not delivered."""
        return self.ranges.undelivered(self.size)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "key": self.key,
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "offset": self.offset,
            "size": self.size,
            "check": self.check,
        }
        if self.delivered:
            entry["delivered"] = self.delivered
        return entry


@dataclass(frozen=True, slots=True)
class StoreState:
    """What a load found: positions and the time of the last completed directory scan."""

    files: dict[str, FilePosition]
    scanned_at: float | None
    recovered_from: str | None  # why the main file was not used, when it was not


class PositionStore:
    """Reads and writes ``<positions_dir>/positions.json``."""

    def __init__(self, directory: Path, mode: int = 0o600) -> None:
        """``mode``: permissions of the files written, whatever the umask (they name every log file)."""
        self.directory = directory
        self.mode = mode
        self.path = directory / "positions.json"
        self.previous = directory / "positions.json.prev"

    def check_writable(self) -> None:
        """Create the directory and a file in it, or raise PositionsError saying what to do."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PositionsError(
                f"cannot write the position store in {self.directory} (setting `tail.positions_dir`): "
                f"{exc.strerror}; give this user write access to it or choose another directory "
                "(without it every record would be shipped again at each start)"
            ) from exc

    def load(self) -> StoreState:
        """Load the store; fall back to the previous one when the main file is damaged."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PositionsError(
                f"cannot create positions directory {self.directory} (setting `tail.positions_dir`): "
                f"{exc.strerror}"
            ) from exc
        problem: str | None = None
        for candidate in (self.path, self.previous):
            if not candidate.exists():
                if candidate is self.path and self.previous.exists():
                    problem = f"{self.path} is missing (a write was interrupted)"
                continue
            try:
                state = self._parse(candidate.read_bytes())
            except (OSError, ValueError) as exc:
                problem = f"{candidate} is unreadable ({exc})"
                self._quarantine(candidate)
                continue
            if problem is not None:
                log.error(
                    "Position store damaged; resuming from the previous store",
                    extra={"problem": problem, "used": str(candidate)},
                )
                return StoreState(state.files, state.scanned_at, problem)
            return state
        if problem is not None:
            log.error(
                "Position store damaged and no previous store; files are read from their start "
                "(already indexed records are recognised by their ids and not duplicated)",
                extra={"problem": problem},
            )
            return StoreState({}, None, problem)
        return StoreState({}, None, None)

    @staticmethod
    def _parse(raw: bytes) -> StoreState:
        data: Any = orjson.loads(raw)
        if (
            not isinstance(data, dict)
            or data.get("version") != VERSION
            or not isinstance(data.get("files"), list)
        ):
            raise ValueError(f"not a version {VERSION} position store")
        files = {}
        try:
            for entry in data["files"]:
                pos = FilePosition(
                    key=str(entry["key"]),
                    path=str(entry["path"]),
                    dev=int(entry["dev"]),
                    ino=int(entry["ino"]),
                    offset=int(entry["offset"]),
                    size=int(entry["size"]),
                    check=_optional_str(entry.get("check")),
                    delivered=_beyond(entry),
                )
                if pos.offset < 0:
                    raise ValueError(f"negative offset for {pos.path}")
                files[pos.key] = pos
            scanned = data.get("scanned_at")
            scanned_at = float(scanned) if scanned is not None else None
        except (KeyError, TypeError, OverflowError, PositionsError) as exc:
            # An entry that is not an object, lacks a field or holds a value of the wrong type: as
            # damaged as unparsable JSON, and handled alike (reported, previous store used).
            raise ValueError(f"malformed entry ({type(exc).__name__}: {exc})") from exc
        return StoreState(files, scanned_at, None)

    def _quarantine(self, path: Path) -> None:
        target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            os.replace(path, target)
            log.error("Moved damaged position file aside", extra={"file": str(path), "moved_to": str(target)})
        except OSError:
            pass

    def save(self, files: list[FilePosition], scanned_at: float | None) -> None:
        """Write atomically, keeping the previous store: a failed write leaves both intact."""
        entries = [f.to_json() for f in files]
        body = orjson.dumps({"version": VERSION, "scanned_at": scanned_at, "files": entries})
        try:
            replace_atomically(self.path, body, keep_previous=self.previous, mode=self.mode)
        except OSError as exc:
            raise PositionsError(
                f"cannot write {self.path} (setting `tail.positions_dir`): {exc.strerror}"
            ) from exc


def _beyond(entry: dict[str, Any]) -> tuple[Range, ...]:
    """The ranges delivered beyond the prefix: sorted, disjoint, all after ``offset``."""
    if "delivered" not in entry:
        return ()
    where = f"{entry['path']}: delivered"
    ranges = DeliveredRanges.from_json(entry["delivered"], where)
    if ranges.committed or (ranges.beyond and ranges.beyond[0][0] <= int(entry["offset"])):
        raise PositionsError(f"{where}: ranges must start after the offset {entry['offset']}")
    return ranges.beyond


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"check is {type(value).__name__}, not a string")
    return value
