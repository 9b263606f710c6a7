"""A record's document: what the stages add to a record, for both of its forms.

Every document is the record's own fields, then ``@timestamp``, ``log.file.path``, what the
transforms add, and ``log.offset``. A fast record stays bytes: those members are spliced in
before its closing brace (``fast_document``), so it is never re-serialised. A decoded record is a
dict the parser gives its time, file and offset (``finish``), the transforms update, and orjson
serialises. Decoding a fast record parses its fast document (``decode``), so the two forms of one
record cannot differ.
"""

from __future__ import annotations

from typing import Any

import orjson

from logship.block import DocRecord, Events, FastRecord, Finished, Stamp

__all__ = ["added_members", "decode", "decoded_document", "documents", "fast_document", "finish"]

# A fast record's document: (its line without the closing brace, `added_members`, its offset).
_FAST = b"%s%s%d}"


def added_members(stamp: Stamp, splice: bytes) -> bytes:
    """What a fast record's document holds between the record's own members and its offset.

    ``splice``: JSON members, each led by a comma, that every document of the block gains."""
    return b',"@timestamp":"' + stamp.iso_bytes + b'"' + splice + b',"log.offset":'


def fast_document(record: FastRecord, splice: bytes) -> bytes:
    """The document of a fast record: its line with the added members before its closing brace."""
    offset, line, stamp = record
    return _FAST % (line[:-1], added_members(stamp, splice), offset)


def finish(doc: dict[str, Any], offset: int, path: str, stamp: Stamp) -> DocRecord:
    """A decoded record with the members the parser adds; the transforms then add theirs."""
    doc["@timestamp"] = stamp.iso
    doc["log.file.path"] = path
    doc["log.offset"] = offset
    return DocRecord(offset, doc, stamp)


def decoded_document(record: DocRecord) -> bytes:
    """The document of a decoded record."""
    return orjson.dumps(record.doc)


def decode(events: Events) -> None:
    """Turn the fast records into decoded ones, for a transform that must see their fields."""
    if not events.fast:
        return
    splice = events.splice
    loads = orjson.loads
    events.docs += [DocRecord(r[0], loads(fast_document(r, splice)), r[2]) for r in events.fast]
    events.fast, events.splice = [], b""


def documents(events: Events | Finished) -> list[bytes]:
    """Every document as JSON: fast records in read order, then the decoded ones."""
    if isinstance(events, Finished):
        return [orjson.dumps(routed.document) for routed in events.docs]
    splice = events.splice
    out: list[bytes] = []
    append = out.append
    last: Stamp | None = None
    added = b""
    for offset, line, stamp in events.fast:
        if stamp is not last:  # consecutive records mostly share one time
            last, added = stamp, added_members(stamp, splice)
        append(_FAST % (line[:-1], added, offset))
    out += [decoded_document(record) for record in events.docs]
    return out
