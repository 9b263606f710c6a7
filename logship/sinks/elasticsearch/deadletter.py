"""The dead-letter file: documents the engine rejected for good, each with the engine's reason.

One NDJSON line per document: time, index, id, status, reason, and the document itself. Lines are
fsynced before the positions of their records may advance, so a rejected record is never lost.
``logship replay --dead-letter FILE`` sends them again with their original index and id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logship.errors import DeadLetterError
from logship.fsio import append_durably

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
    """Appends rejected documents durably."""

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        """``mode``: permissions of the file, whatever the umask (it holds whole log records)."""
        self.path = path
        self.mode = mode

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        lines = []
        for letter in letters:
            index, doc_id, doc = parse_item(letter.item)
            document: Any
            try:
                document = orjson.loads(doc)
            except orjson.JSONDecodeError:
                document = doc.decode("utf-8", errors="replace")
            lines.append(
                orjson.dumps(
                    {
                        "time": now,
                        "index": index,
                        "id": doc_id,
                        "status": letter.status,
                        "reason": letter.reason,
                        "document": document,
                    }
                )
                + b"\n"
            )
        try:
            append_durably(self.path, b"".join(lines), self.mode)
        except OSError as exc:
            raise DeadLetterError(
                f"cannot write the dead-letter file {self.path} (setting `dead_letter.path`): "
                f"{exc.strerror}; rejected records stay undelivered and will be retried"
            ) from exc
