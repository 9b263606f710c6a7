"""Records -> NDJSON bulk items (``create`` action line + document line), one block at a time.

This loop is the hot path. A record that is a JSON object is parsed once (to validate it and
read its time) and then not re-serialised: the added fields are spliced in before its closing
brace, from fragments encoded once per block or per distinct timestamp. Records that need
changes (fallback parsing, tags, a field that collides with an added one) take the dict path.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from logship.parse import Parser
from logship.tail.multiline import Block

__all__ = ["Encoder", "document_of", "file_id"]

_ACTION = b'{"create":{"_index":"%s","_id":"%s-%d"}}\n'
_SPLICED = _ACTION + b'%s,"@timestamp":"%s"%s,"log.offset":%d}\n'
_DUMPED = _ACTION + b"%s\n"


def file_id(namespace: str, key: str) -> bytes:
    """The per-file part of every document id: stable across restarts, renames and replays.

    The namespace (the host name) keeps two hosts whose files start with the same line apart.
    """
    return hashlib.blake2b(f"{namespace}\0{key}".encode(), digest_size=8).hexdigest().encode()


def document_of(item: bytes) -> bytes:
    """The document line of an encoded item (the part after the action line)."""
    return item[item.index(b"\n") + 1 : -1]


class Encoder:
    """Builds bulk items from blocks of records read from one file."""

    def __init__(
        self, parser: Parser, fields: dict[str, str], stack_trace_field: str, max_line_bytes: int
    ) -> None:
        self._parser = parser
        self._fields = fields
        self._trace_field = stack_trace_field
        self._max_line = max_line_bytes
        self._added = frozenset({"@timestamp", "log.file.path", "log.offset", *fields})
        # `,"hostname":"…","environment":"…","service":"…"` without braces.
        self._fields_fragment = orjson.dumps(fields)[1:-1] if fields else b""

    def encode(self, block: Block, path: str, fid: bytes) -> list[bytes]:
        items: list[bytes] = []
        for offset, lines in block.runs:
            items += self._encode_lines(lines, offset, path, fid)
        if block.records:
            items += self._encode_records(block, path, fid)
        return items

    def _encode_lines(self, lines: list[bytes], offset: int, path: str, fid: bytes) -> list[bytes]:
        loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
        parser = self._parser
        stamps = parser.stamps
        time_key = parser.time_key
        added = self._added
        max_line = self._max_line
        # Everything after @timestamp except the offset: the same for the whole run.
        tail = (
            (b"," + self._fields_fragment if self._fields_fragment else b"")
            + b',"log.file.path":'
            + orjson.dumps(path)
        )
        items: list[bytes] = []
        append = items.append
        for line in lines:
            size = len(line)
            if size <= max_line:
                try:
                    doc = loads(line)
                except JSONDecodeError:
                    doc = None
                if type(doc) is dict and doc and line[-1:] == b"}" and added.isdisjoint(doc):
                    value = doc.get(time_key)
                    if type(value) is str:
                        stamp = stamps.get(value) or parser.parse_time(value)
                        if stamp is not None:
                            append(_SPLICED % (stamp[1], fid, offset, line[:-1], stamp[2], tail, offset))
                            offset += size + 1
                            continue
                if type(doc) is not dict:
                    doc = parser.parse_slow(line)
            else:
                doc = parser.tag(parser.parse_slow(line[:max_line]), ["line_truncated"])
            append(self._dump(doc, offset, path, fid))
            offset += size + 1
        return items

    def _dump(self, doc: dict[str, Any], offset: int, path: str, fid: bytes) -> bytes:
        stamp = self._parser.stamp(doc)
        doc["@timestamp"] = stamp[0]
        doc.update(self._fields)
        doc["log.file.path"] = path
        doc["log.offset"] = offset
        return _DUMPED % (stamp[1], fid, offset, orjson.dumps(doc))

    def _encode_records(self, block: Block, path: str, fid: bytes) -> list[bytes]:
        parser = self._parser
        items: list[bytes] = []
        for offset, first, rest, tag in block.records:
            try:
                doc = orjson.loads(first)
            except orjson.JSONDecodeError:
                doc = parser.parse_slow(first)
            if type(doc) is not dict:
                doc = parser.parse_slow(first)
            if tag is not None:
                parser.tag(doc, [tag])
            if rest is not None:
                doc[self._trace_field] = rest.decode("utf-8", errors="replace")
            items.append(self._dump(doc, offset, path, fid))
        return items
