"""The parse stage: a source's Block -> Events. JSON first, then the fallback patterns, then raw.

Nothing is dropped and nothing raises: whatever the bytes, each record becomes a document,
tagged with why it is not plain JSON, and failures are counted per reason. This loop is the hot
path: a line that is a JSON object is parsed once, to validate it and read its time, and stays
bytes (a fast record); times are parsed once per distinct value.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from logship.block import Block, DocRecord, Events, FastRecord, Stamp
from logship.document import finish
from logship.observe.metrics import PARSE_FAILURES
from logship.settings import ParseSettings
from logship.shape import Shape

__all__ = ["ADDED_BY_PARSE", "METADATA_FIELDS", "RENAMED_PREFIX", "Decoder", "Parser"]

# Fields the parse stage adds to every document.
ADDED_BY_PARSE = frozenset({"@timestamp", "log.file.path", "log.offset"})

# Top-level names the engine keeps for itself and rejects inside a document (Elasticsearch 8/9,
# OpenSearch 2); `_doc_count` is accepted only as a number and would skew aggregations.
METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_source",
        "_routing",
        "_ignored",
        "_ignored_source",
        "_seq_no",
        "_version",
        "_primary_term",
        "_field_names",
        "_data_stream_timestamp",
        "_nested_path",
        "_doc_count",
        "_type",
    }
)
# A record's own `_id` becomes `event.original_fields._id`, so the record is indexed, not rejected.
RENAMED_PREFIX = "event.original_fields."

# What takes the first look at a line (see `Parser`).
Decoder = Literal["msgspec", "orjson"]

_CACHE_LIMIT = 100_000
# Lines over which the share of lines the shape refused is judged, and how many to parse without it
# when that share is above a third.
_PROBE_WINDOW = 4096
_REST_LINES = 65536

# A record's own time counts between these bounds. Outside them (a clock reset to year 1, a typo in
# the year) it would date the document nonsensically and open an index for a day nobody searches:
# the record is tagged `bad_timestamp` and dated by the read time, like an unparsable time.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_AHEAD = timedelta(days=1)


class Parser:
    """Blocks of raw records -> Events, with ``@timestamp`` from ``parse.time_key``."""

    def __init__(
        self,
        settings: ParseSettings,
        *,
        stack_trace_field: str,
        max_line_bytes: int,
        reserved: frozenset[str],
        decoder: Decoder = "msgspec",
    ) -> None:
        """``reserved``: fields later stages splice into fast records; a record that already has one
        is decoded, so that the added value replaces its own instead of duplicating the key.

        ``decoder``: what takes the first look at a line. Both give the same documents; "orjson"
        alone is the reference the tests hold "msgspec" to."""
        self.time_key = settings.time_key
        self._format = settings.time_format
        self._zone = ZoneInfo(settings.timezone)
        self._patterns = [re.compile(p) for p in settings.fallback_patterns]
        self._trace_field = stack_trace_field
        self._max_line = max_line_bytes
        # Metadata fields too: such a record is decoded, and `_finish` renames them.
        self._reserved = ADDED_BY_PARSE | METADATA_FIELDS | reserved
        # Timestamps have second precision, so a handful of distinct values cover a whole block.
        self._stamps: dict[str, Stamp] = {}
        self._rejected: set[str] = set()  # values that are no usable time, so not parsed again
        # msgspec's first look at each line (see `logship.shape`); None: orjson alone, when the
        # decoder asked for is orjson or the time key is reserved (which makes no record fast).
        shape = Shape(self.time_key, self._reserved) if decoder == "msgspec" else None
        self._shape = shape if shape is not None and shape.usable else None
        self._tried = self._refused = self._resting = 0

    def parse(self, block: Block) -> Events:
        events = Events(
            block.origin, block.ack, splice=b',"log.file.path":' + orjson.dumps(block.origin.path)
        )
        for offset, lines in block.runs:
            self._parse_lines(lines, offset, events)
        for offset, first, rest, tag in block.records:
            doc = self._decode(first)
            if tag is not None:
                self.tag(doc, [tag])
            if rest is not None:
                doc[self._trace_field] = rest.decode("utf-8", errors="replace")
            events.docs.append(self._finish(doc, offset, block.origin.path))
        return events

    def _parse_lines(self, lines: list[bytes], offset: int, events: Events) -> None:
        loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
        stamps = self._stamps
        time_key = self.time_key
        reserved = self._reserved
        max_line = self._max_line
        path = events.origin.path
        fast: list[FastRecord] = events.fast
        docs: list[DocRecord] = events.docs
        shape = self._shape
        if self._resting > 0:
            self._resting -= len(lines)
            shape = None
        decode = None if shape is None else shape.decode
        refused = 0
        for line in lines:
            size = len(line)
            if size <= max_line:
                if decode is not None:
                    try:
                        found = decode(line).time
                    except Exception:  # whatever the reason, the exact path below decides
                        refused += 1
                    else:
                        if line[-1:] == b"}":
                            stamp = stamps.get(found) or self.parse_time(found)
                            if stamp is not None:
                                fast.append((offset, line, stamp))
                                offset += size + 1
                                continue
                try:
                    doc = loads(line)
                except JSONDecodeError:
                    doc = None
                if type(doc) is dict and doc and line[-1:] == b"}" and reserved.isdisjoint(doc):
                    value = doc.get(time_key)
                    if type(value) is str:
                        stamp = stamps.get(value) or self.parse_time(value)
                        if stamp is not None:
                            fast.append((offset, line, stamp))
                            offset += size + 1
                            if shape is not None and shape.learn(doc):
                                decode = shape.decode
                            continue
                if type(doc) is not dict:
                    doc = self.parse_slow(line)
            else:
                doc = self.tag(self.parse_slow(line[:max_line]), ["line_truncated"])
            docs.append(self._finish(doc, offset, path))
            offset += size + 1
        if decode is not None:
            self._rest_if_mostly_refused(len(lines), refused)

    def _rest_if_mostly_refused(self, tried: int, refused: int) -> None:
        """A refusal costs more than the exact path alone: when most lines are refused (nested values
        in every record, shapes past `MAX_KEYS`), parse without the shape for a while."""
        self._tried += tried
        self._refused += refused
        if self._tried >= _PROBE_WINDOW:
            if self._refused * 3 > self._tried:
                self._resting = _REST_LINES
            self._tried = self._refused = 0

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self.parse_slow(raw)
        return doc if type(doc) is dict else self.parse_slow(raw)

    def _finish(self, doc: dict[str, Any], offset: int, path: str) -> DocRecord:
        if not METADATA_FIELDS.isdisjoint(doc):
            for name in METADATA_FIELDS.intersection(doc):
                doc[RENAMED_PREFIX + name] = doc.pop(name)
            self.tag(doc, ["metadata_field_renamed"])
        return finish(doc, offset, path, self.stamp(doc))

    def parse_slow(self, raw: bytes) -> dict[str, Any]:
        """Parse a record orjson refused, or that is not a JSON object."""
        tags: list[str] = []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            tags.append("invalid_utf8")
        doc: dict[str, Any]
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            for pattern in self._patterns:
                match = pattern.match(text)
                if match is not None:
                    doc = {k: v for k, v in match.groupdict().items() if v is not None}
                    tags.append("recovered_by_pattern")
                    break
            else:
                doc = {"message": text}
                tags.append("invalid_json")
        else:
            if isinstance(value, dict):
                doc = value
            else:
                doc = {"message": text}
                tags.append("not_an_object")
        return self.tag(doc, tags)

    @staticmethod
    def tag(doc: dict[str, Any], tags: list[str]) -> dict[str, Any]:
        """Add tags (and count them as parse failures) without losing tags the record had."""
        for reason in tags:
            PARSE_FAILURES.labels(reason).inc()
        existing = doc.get("tags")
        if isinstance(existing, list):
            doc["tags"] = existing + tags
        elif existing is not None:
            doc["tags"] = [existing, *tags]
        else:
            doc["tags"] = tags
        return doc

    def stamp(self, doc: dict[str, Any]) -> Stamp:
        """A document's time; a missing or unparsable time is the read time, and tagged."""
        value = doc.get(self.time_key)
        if type(value) is str:
            found = self._stamps.get(value) or self.parse_time(value)
            if found is not None:
                return found
            self.tag(doc, ["bad_timestamp"])
        else:
            self.tag(doc, ["missing_timestamp" if value is None else "bad_timestamp"])
        return _stamp_of(datetime.fromtimestamp(time.time(), UTC))

    def parse_time(self, value: str) -> Stamp | None:
        """Parse and cache one timestamp value; None when it does not fit `parse.time_format` or
        lies outside the window of usable times (from 1970 to a day ahead of now).

        Both answers are cached per value, so the window is checked once per distinct value."""
        if value in self._rejected:
            return None
        try:
            parsed = datetime.strptime(value, self._format)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self._zone)
            utc: datetime | None = parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved across a zone
            utc = None
        if utc is None or not _EARLIEST <= utc <= datetime.now(UTC) + _MAX_AHEAD:
            if len(self._rejected) >= _CACHE_LIMIT:
                self._rejected.clear()
            self._rejected.add(value)
            return None
        result = _stamp_of(utc)
        if len(self._stamps) >= _CACHE_LIMIT:
            self._stamps.clear()
        self._stamps[value] = result
        return result


def _stamp_of(moment: datetime) -> Stamp:
    """ISO 8601 in UTC with milliseconds, the year always in 4 digits (strftime leaves it unpadded)."""
    u = moment.astimezone(UTC)
    iso = (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )
    return Stamp(iso, iso.encode(), u)
