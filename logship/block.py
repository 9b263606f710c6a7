"""What flows between the stages: a source's ``Block`` of raw records, the parser's ``Events``.

    source --Block--> parse --Events--> transforms --Events--> sink.encode --Chunk--> sink.send

A record that is a valid JSON object stays bytes all the way (a ``FastRecord``): the fields the
stages add are spliced in before its closing brace, so it is never re-serialised. Everything
else (fallback parsing, tags, a traceback, a transform that needs to see fields) is a decoded
``DocRecord``.

Documents that are already finished (the dead-letter source's) are ``Finished``: they skip parsing
and the transforms, and each carries the index and id it was first sent under (``Routed``), which
only a sink that routes documents by index and id (Elasticsearch) reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from logship.acks import BlockAck

__all__ = [
    "FAST_DOCUMENT",
    "Block",
    "DocRecord",
    "Events",
    "FastRecord",
    "Finished",
    "Origin",
    "Routed",
    "SlowRecord",
    "Stamp",
]

# (start offset, first line, continuation lines or None, tag or None)
SlowRecord = tuple[int, bytes, bytes | None, str | None]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a block was read: the file's name then, and its identity (stable across renames)."""

    path: str
    key: str


@dataclass(slots=True)
class Block:
    """Complete records read from one file, covering bytes [start, end).

    ``runs`` are (offset, lines) with one record per line, contiguous from offset; ``records``
    are the records that span several lines or were cut. Order across them does not matter:
    each record carries its own offset, and the block is acknowledged as a whole.
    """

    start: int
    end: int
    runs: list[tuple[int, list[bytes]]]
    records: list[SlowRecord]
    origin: Origin = Origin("", "")
    ack: BlockAck | None = None

    def __len__(self) -> int:
        return sum(len(lines) for _, lines in self.runs) + len(self.records)


class Stamp(NamedTuple):
    """A record's time: ``@timestamp`` as ISO 8601 UTC with milliseconds, as text and bytes."""

    iso: str
    iso_bytes: bytes
    utc: datetime


# (offset, the record's JSON object line ending in "}", its time)
FastRecord = tuple[int, bytes, Stamp]
# (offset, the document, its time)
DocRecord = tuple[int, dict[str, Any], Stamp]

# The document of a FastRecord: (line without its "}", @timestamp, splice, offset).
FAST_DOCUMENT = b'%s,"@timestamp":"%s"%s,"log.offset":%d}'


@dataclass(slots=True)
class Events:
    """A parsed block: its records, still acknowledged as one."""

    origin: Origin
    ack: BlockAck | None
    fast: list[FastRecord] = field(default_factory=list)
    docs: list[DocRecord] = field(default_factory=list)
    # JSON members, each led by a comma, that every fast record's document gains.
    splice: bytes = b""

    def __len__(self) -> int:
        return len(self.fast) + len(self.docs)

    def decode(self) -> None:
        """Turn the fast records into documents, for a transform that must see their fields."""
        if not self.fast:
            return
        extra: dict[str, Any] = orjson.loads(b"{" + self.splice[1:] + b"}")
        for offset, line, stamp in self.fast:
            doc: dict[str, Any] = orjson.loads(line)
            doc["@timestamp"] = stamp.iso
            doc.update(extra)
            doc["log.offset"] = offset
            self.docs.append((offset, doc, stamp))
        self.fast, self.splice = [], b""

    def documents(self) -> list[bytes]:
        """Every record's document as JSON (fast records in read order, then the others)."""
        splice = self.splice
        out = [
            FAST_DOCUMENT % (line[:-1], stamp.iso_bytes, splice, offset) for offset, line, stamp in self.fast
        ]
        out += [orjson.dumps(doc) for _, doc, _ in self.docs]
        return out


class Routed(NamedTuple):
    """A finished document and the index and id it was first sent under."""

    index_name: str
    doc_id: str
    document: dict[str, Any]


@dataclass(slots=True)
class Finished:
    """Finished documents, acknowledged as one; the dead-letter source emits them."""

    origin: Origin
    ack: BlockAck | None
    docs: list[Routed] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.docs)

    def documents(self) -> list[bytes]:
        """Every document as JSON, in order."""
        return [orjson.dumps(routed.document) for routed in self.docs]
