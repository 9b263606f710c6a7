"""Turning one record's bytes into a document: JSON first, then the fallback patterns, then raw.

Nothing is dropped and nothing raises: whatever the bytes, the result is a dict, tagged with
why it is not plain JSON. Failures are counted per reason.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from logship.observe.metrics import PARSE_FAILURES
from logship.settings import ElasticsearchSettings, ParseSettings

__all__ = ["Parser", "Stamp"]

# (@timestamp as ISO 8601 UTC with milliseconds, index name, the same @timestamp as bytes)
Stamp = tuple[str, bytes, bytes]

_CACHE_LIMIT = 100_000


class Parser:
    """JSON parsing with fallbacks, and the record time -> @timestamp and index name."""

    def __init__(self, parse: ParseSettings, es: ElasticsearchSettings) -> None:
        self.time_key = parse.time_key
        self._format = parse.time_format
        self._zone = ZoneInfo(parse.timezone)
        self._patterns = [re.compile(p) for p in parse.fallback_patterns]
        self._prefix = es.index_prefix
        self._date_format = es.index_date_format
        # Timestamps have second precision, so a handful of distinct values cover a whole block.
        self.stamps: dict[str, Stamp] = {}

    def parse_slow(self, raw: bytes) -> dict[str, Any]:
        """Parse a record orjson refused, or that is not a JSON object."""
        tags: list[str] = []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            tags.append("invalid_utf8")
        doc: dict[str, Any] | None = None
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
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
        assert doc is not None
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
        """@timestamp and index of a document; a missing or unparsable time uses the read time, tagged."""
        value = doc.get(self.time_key)
        if type(value) is str:
            found = self.stamps.get(value) or self.parse_time(value)
            if found is not None:
                return found
            self.tag(doc, ["bad_timestamp"])
        else:
            self.tag(doc, ["missing_timestamp" if value is None else "bad_timestamp"])
        return self._stamp_of(datetime.fromtimestamp(time.time(), UTC))

    def parse_time(self, value: str) -> Stamp | None:
        """Parse and cache one timestamp value; None when it does not fit `parse.time_format`."""
        try:
            parsed = datetime.strptime(value, self._format)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self._zone)
        result = self._stamp_of(parsed)
        if len(self.stamps) >= _CACHE_LIMIT:
            self.stamps.clear()
        self.stamps[value] = result
        return result

    def _stamp_of(self, moment: datetime) -> Stamp:
        utc = moment.astimezone(UTC)
        iso = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        index = f"{self._prefix}-{utc.strftime(self._date_format)}".encode()
        return iso, index, iso.encode()
