"""The dead-letter file: documents the engine rejected for good, each with the engine's reason.

One NDJSON line per document: time, index, id, status, reason, and the document itself. Lines are
fsynced before the positions of their records may advance, so a rejected record is never lost.
The files together hold at most `dead_letter.max_bytes`: past it, rejected records are not
acknowledged (they wait, like records the engine has not answered), never dropped. A document
whose id is already in the files counts as kept and is not written again.
``logship replay --dead-letter FILE`` sends them again with their original index and id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logship import deadletter_files
from logship.errors import DeadLetterError
from logship.fsio import append_durably
from logship.observe.metrics import DEAD_LETTER_BYTES
from logship.sinks.elasticsearch.deadletter_ids import KnownIds

__all__ = ["DeadLetter", "DeadLetterFile", "parse_item"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    item: bytes  # the encoded bulk item (action line + document line)
    status: int
    reason: str


def parse_item(item: bytes) -> tuple[str, str, bytes]:
    """(index, id, document line) of an encoded ``create`` item."""
    nl = item.index(b"\n")
    action = orjson.loads(item[:nl])["create"]
    return str(action["_index"]), str(action["_id"]), item[nl + 1 : -1]


class DeadLetterFile:
    """Appends rejected documents durably, within `dead_letter.max_bytes`, each id once."""

    def __init__(self, path: Path, mode: int = 0o600, max_bytes: int = 1 << 30, max_files: int = 4) -> None:
        """``mode``: permissions of the file, whatever the umask (it holds whole log records)."""
        self.path = path
        self.mode = mode
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._known = KnownIds(path)

    def write(self, letters: list[DeadLetter]) -> int:
        """Make the leading letters durable, as many as the bound allows; returns how many are
        settled (written now, or already in the files). Blocking: call it off the event loop."""
        if not letters:
            return 0
        try:
            with deadletter_files.locked(self.path):
                self._known.sync()
                return self._append(letters)
        except OSError as exc:
            raise DeadLetterError(
                f"cannot write the dead-letter file {self.path} (setting `dead_letter.path`): "
                f"{exc.strerror}; rejected records stay undelivered and will be retried"
            ) from exc

    def _append(self, letters: list[DeadLetter]) -> int:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        total = deadletter_files.total_bytes(self.path)
        room = self.max_bytes - total
        lines: list[bytes] = []
        ids: dict[str, None] = {}  # ordered, and a set for the lookups
        size = settled = 0
        for letter in letters:
            index, doc_id, doc = parse_item(letter.item)
            if doc_id in self._known or doc_id in ids:
                settled += 1  # already kept: a second copy would only fill the disk
                continue
            line = _line(now, index, doc_id, letter, doc)
            if size + len(line) > room:
                break
            lines.append(line)
            ids[doc_id] = None
            size += len(line)
            settled += 1
        if lines:
            self._write(b"".join(lines))
            for doc_id in ids:
                self._known.add(doc_id)
            total += size
        DEAD_LETTER_BYTES.set(total)
        return settled

    def _write(self, data: bytes) -> None:
        try:
            current = self.path.stat().st_size
        except FileNotFoundError:
            current = 0
        segment = self.max_bytes // self.max_files
        if current and current + len(data) > segment and deadletter_files.rotate(self.path, self.max_files):
            current = 0
        append_durably(self.path, data, self.mode)
        self._known.appended(self.path, current, len(data))

    def full_message(self) -> str:
        return (
            f"the dead-letter files ({self.path} and its rotated copies) hold "
            f"{deadletter_files.total_bytes(self.path)} bytes, the bound `dead_letter.max_bytes` is "
            f"{self.max_bytes}: rejected records wait and reading pauses. Fix the cause of the rejections, "
            f"then run `logship replay --dead-letter {self.path}` (it removes the files it delivered), or "
            "raise `dead_letter.max_bytes`"
        )


def _line(now: str, index: str, doc_id: str, letter: DeadLetter, doc: bytes) -> bytes:
    document: Any
    try:
        document = orjson.loads(doc)
    except orjson.JSONDecodeError:
        document = doc.decode("utf-8", errors="replace")
    entry = {
        "time": now,
        "index": index,
        "id": doc_id,
        "status": letter.status,
        "reason": letter.reason,
        "document": document,
    }
    return orjson.dumps(entry) + b"\n"
