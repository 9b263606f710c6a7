"""Parsing the backend's lines (valid, broken by quotes, not JSON at all) and encoding bulk items."""

from __future__ import annotations

import orjson
import pytest

from logship.parse import Parser
from logship.settings import ElasticsearchSettings, ParseSettings
from logship.sink.encode import Encoder, document_of, file_id
from logship.tail.multiline import Block

GOOD = (
    b'{"timestamp": "2026-11-26 15:35:52", "level": "INFO", "logger": "aichat", "message": "seq=1 hello", '
    b'"module": "app", "function": "f", "line": "72"}'
)
# What the backend's format string writes for a message holding quotes and a backslash.
BROKEN = (
    b'{"timestamp": "2026-11-26 23:59:59", "level": "INFO", "logger": "aichat", '
    b'"message": "user said "hi" \\o/", "module": "app", "function": "f", "line": "7"}'
)
FIELDS = {"hostname": "h1", "environment": "test", "service": "aichat-backend"}


def encoder(**parse: str) -> Encoder:
    parser = Parser(ParseSettings(**parse), ElasticsearchSettings())  # type: ignore[arg-type]
    return Encoder(parser, FIELDS, "error.stack_trace", 1024)


def encode(
    lines: list[bytes], enc: Encoder | None = None
) -> list[tuple[dict[str, object], dict[str, object]]]:
    items = (enc or encoder()).encode(Block(0, 0, [(0, lines)], []), "/var/log/aichat/app.log", b"abc")
    out = []
    for item in items:
        action, doc = item.rstrip(b"\n").split(b"\n")
        out.append((orjson.loads(action)["create"], orjson.loads(doc)))
    return out


def test_valid_json_is_enriched_and_dated() -> None:
    ((action, doc),) = encode([GOOD])
    assert action == {"_index": "aichat-2026.11.26", "_id": "abc-0"}
    assert doc["@timestamp"] == "2026-11-26T15:35:52.000Z"
    assert doc["message"] == "seq=1 hello" and doc["line"] == "72"
    assert {k: doc[k] for k in FIELDS} == FIELDS
    assert doc["log.file.path"] == "/var/log/aichat/app.log" and doc["log.offset"] == 0
    assert "tags" not in doc


def test_offsets_and_ids_follow_the_bytes() -> None:
    (a1, d1), (a2, d2) = encode([GOOD, GOOD])
    assert d2["log.offset"] == len(GOOD) + 1 and a2["_id"] == f"abc-{len(GOOD) + 1}"


def test_broken_json_is_recovered_by_the_backend_template() -> None:
    ((action, doc),) = encode([BROKEN])
    assert doc["message"] == 'user said "hi" \\o/'
    assert doc["level"] == "INFO" and doc["line"] == "7"
    assert doc["tags"] == ["recovered_by_pattern"]
    assert action["_index"] == "aichat-2026.11.26"


def test_anything_else_keeps_its_raw_text_and_says_why() -> None:
    ((_, doc),) = encode([b"plain text, not json"])
    assert doc["message"] == "plain text, not json"
    assert "invalid_json" in doc["tags"] and "missing_timestamp" in doc["tags"]


@pytest.mark.parametrize(
    "line, tag",
    [
        (b"[1, 2]", "not_an_object"),
        (b"42", "not_an_object"),
        (b'{"message": "caf\xe9"}', "invalid_utf8"),
        (b"\x00\x00", "invalid_json"),
    ],
)
def test_odd_bytes_never_raise(line: bytes, tag: str) -> None:
    ((_, doc),) = encode([line])
    assert tag in doc["tags"]
    assert "@timestamp" in doc


def test_timezone_applies_to_zoneless_times() -> None:
    ((action, doc),) = encode([GOOD], encoder(timezone="America/New_York"))
    assert doc["@timestamp"] == "2026-11-26T20:35:52.000Z"


def test_index_date_comes_from_utc() -> None:
    line = GOOD.replace(b"2026-11-26 15:35:52", b"2026-11-26 23:30:00")
    ((action, doc),) = encode([line], encoder(timezone="America/New_York"))
    assert action["_index"] == "aichat-2026.11.27"


def test_unparsable_time_uses_the_read_time_and_tags() -> None:
    ((_, doc),) = encode([GOOD.replace(b"2026-11-26 15:35:52", b"yesterday")])
    assert doc["tags"] == ["bad_timestamp"]
    assert str(doc["@timestamp"]).endswith("Z")


def test_added_fields_override_colliding_record_fields_without_duplicate_keys() -> None:
    line = b'{"timestamp": "2026-11-26 15:35:52", "hostname": "app-said", "message": "m"}'
    item = encoder().encode(Block(0, 0, [(0, [line])], []), "p", b"abc")[0]
    doc = document_of(item)
    assert doc.count(b'"hostname"') == 1 and orjson.loads(doc)["hostname"] == "h1"


def test_traceback_goes_to_the_stack_trace_field() -> None:
    enc = encoder()
    items = enc.encode(Block(0, 0, [], [(5, GOOD, b"Traceback\n  boom", None)]), "p", b"abc")
    doc = orjson.loads(document_of(items[0]))
    assert doc["error.stack_trace"] == "Traceback\n  boom" and doc["log.offset"] == 5


def test_file_id_depends_on_host_and_identity() -> None:
    assert file_id("h1", "k") == file_id("h1", "k")
    assert file_id("h1", "k") != file_id("h2", "k") != file_id("h1", "j")
