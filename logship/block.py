"""What flows between the stages: a source's ``Block`` of raw records, the parser's ``Events``.

    source --Block--> parse --Events--> transforms --Events--> sink.encode --Chunk--> sink.send

A record that is a valid JSON object stays bytes all the way (a ``FastRecord``). Everything else
(fallback parsing, tags, a traceback, a transform that needs to see fields) is a decoded
``DocRecord``. ``logship.document`` builds the document of either.

Documents that are already finished (the dead-letter source's) are ``Finished``: they skip parsing
and the transforms, and each carries the index and id it was first sent under (``Routed``), which
only a sink that routes documents by index and id (Elasticsearch) reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from logship.acks import BlockAck

__all__ = [
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


class SlowRecord(NamedTuple):
    """A record that spans several lines or was cut: the parser decodes it."""

    offset: int  # of its first byte
    first: bytes  # its first line
    rest: bytes | None  # the continuation lines (a traceback), if any
    tag: str | None  # why it was cut, if it was


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


# A record that is one JSON object line, kept as bytes: (offset, its line ending in "}", its time).
# A plain tuple, not a NamedTuple: the parser makes one per line, and a NamedTuple's constructor
# is a Python-level call that would add about a third to parsing.
FastRecord = tuple[int, bytes, Stamp]


class DocRecord(NamedTuple):
    """A decoded record: its document as a dict."""

    offset: int
    doc: dict[str, Any]
    stamp: Stamp


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
