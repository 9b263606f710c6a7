"""Records -> NDJSON bulk items (``create`` action line + document line), one block at a time.

This loop is the hot path: one orjson.loads and one orjson.dumps per record, everything else
cached per block or per timestamp, no await and no object per record beyond the item bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from logship.parse import Parser
from logship.tail.multiline import Block

__all__ = ["Encoder", "document_of", "file_id"]

_ITEM = b'{"create":{"_index":"%s","_id":"%s-%d"}}\n%s\n'


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

    def __init__(self, parser: Parser, fields: dict[str, str], stack_trace_field: str, max_line_bytes: int) -> None:
        self._parser = parser
        self._fields = fields
        self._trace_field = stack_trace_field
        self._max_line = max_line_bytes

    def encode(self, block: Block, path: str, fid: bytes) -> list[bytes]:
        if block.lines is not None:
            return self._encode_lines(block.lines, block.start, path, fid)
        return self._encode_records(block, path, fid)

    def _encode_lines(self, lines: list[bytes], offset: int, path: str, fid: bytes) -> list[bytes]:
        loads, dumps, JSONDecodeError = orjson.loads, orjson.dumps, orjson.JSONDecodeError
        parser = self._parser
        stamps = parser.stamps
        time_key = parser.time_key
        fields = self._fields
        max_line = self._max_line
        items: list[bytes] = []
        append = items.append
        for line in lines:
            size = len(line)
            if size > max_line:
                doc = self._cut(line)
            else:
                try:
                    doc = loads(line)
                except JSONDecodeError:
                    doc = parser.parse_slow(line)
            if type(doc) is not dict:
                doc = parser.parse_slow(line)
            value = doc.get(time_key)
            stamp = stamps.get(value) if type(value) is str else None
            if stamp is None:
                stamp = parser.stamp(doc)
            doc["@timestamp"] = stamp[0]
            doc.update(fields)
            doc["log.file.path"] = path
            doc["log.offset"] = offset
            append(_ITEM % (stamp[1], fid, offset, dumps(doc)))
            offset += size + 1
        return items

    def _cut(self, line: bytes) -> dict[str, Any]:
        doc = self._parser.parse_slow(line[: self._max_line])
        return self._parser.tag(doc, ["line_truncated"])

    def _encode_records(self, block: Block, path: str, fid: bytes) -> list[bytes]:
        parser = self._parser
        items: list[bytes] = []
        for offset, first, rest, tag in block.records or ():
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
            stamp = parser.stamp(doc)
            doc["@timestamp"] = stamp[0]
            doc.update(self._fields)
            doc["log.file.path"] = path
            doc["log.offset"] = offset
            items.append(_ITEM % (stamp[1], fid, offset, orjson.dumps(doc)))
        return items
