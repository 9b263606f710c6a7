"""The parse stage, the enrich transform and the Elasticsearch encoder together, as the pipeline chains
them: the backend's lines (valid, broken by quotes, not JSON at all) in, bulk items out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from logship.acks import FileAcks
from logship.block import Block, Events, Finished, Origin, Routed, SlowRecord
from logship.document import decode, documents
from logship.parse import Decoder, Parser, _stamp_of
from logship.settings import ParseSettings
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder, file_id
from logship.transforms.enrich import Enrich

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


class Chain:
    """parse -> enrich -> encode, with the file id fixed to ``abc``."""

    decoder: Decoder = "msgspec"

    def __init__(self, **parse: str) -> None:
        self.enrich = Enrich(FIELDS)
        self.parser = Parser(
            ParseSettings.model_validate(parse),
            stack_trace_field="error.stack_trace",
            max_line_bytes=1024,
            reserved=self.enrich.adds,
            decoder=self.decoder,
        )
        self.encoder = ElasticsearchEncoder("aichat", "%Y.%m.%d", "h1")
        self.encoder._ids["key"] = b"abc"

    def events(self, block: Block) -> Events:
        block.origin = Origin("/var/log/aichat/app.log", "key")
        return self.enrich(self.parser.parse(block))

    def items(self, block: Block) -> list[bytes]:
        return self.encoder.encode(self.events(block))


@pytest.fixture(autouse=True, params=["msgspec", "orjson"])
def _decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with both first looks at a line: they must not differ in anything."""
    monkeypatch.setattr(Chain, "decoder", request.param)


def encoder(**parse: str) -> Chain:
    return Chain(**parse)


def document_of(item: bytes) -> bytes:
    return item[item.index(b"\n") + 1 : -1]


def encode(lines: list[bytes], enc: Chain | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    items = (enc or encoder()).items(Block(0, 0, [(0, lines)], []))
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
    (_, _), (a2, d2) = encode([GOOD, GOOD])
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
    ("line", "tag"),
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
    ((_, doc),) = encode([GOOD], encoder(timezone="America/New_York"))
    assert doc["@timestamp"] == "2026-11-26T20:35:52.000Z"


def test_index_date_comes_from_utc() -> None:
    line = GOOD.replace(b"2026-11-26 15:35:52", b"2026-11-26 23:30:00")
    ((action, _),) = encode([line], encoder(timezone="America/New_York"))
    assert action["_index"] == "aichat-2026.11.27"


def test_unparsable_time_uses_the_read_time_and_tags() -> None:
    ((_, doc),) = encode([GOOD.replace(b"2026-11-26 15:35:52", b"yesterday")])
    assert doc["tags"] == ["bad_timestamp"]
    assert str(doc["@timestamp"]).endswith("Z")


def with_time(value: str) -> bytes:
    return GOOD.replace(b"2026-11-26 15:35:52", value.encode())


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01 00:00:00",  # was dated "1-01-01T..." in index "aichat-1.01.01"
        "0999-12-31 23:59:59",
        "1969-12-31 23:59:59",
        (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S"),
        "9999-12-31 23:59:59",
    ],
)
def test_a_time_outside_the_window_is_tagged_and_dated_by_the_read_time(value: str) -> None:
    before = datetime.now(UTC)
    ((action, doc),) = encode([with_time(value)])
    read = datetime.strptime(str(doc["@timestamp"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= read <= datetime.now(UTC)
    assert doc["tags"] == ["bad_timestamp"] and doc["timestamp"] == value  # the record keeps its own
    assert action["_index"] == f"aichat-{read:%Y.%m.%d}"


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_first_and_last_representable_times_in_a_zone_do_not_raise(zone: str) -> None:
    # Year 1 east of UTC and year 9999 west of it fall outside what datetime can represent in UTC.
    lines = [with_time("0001-01-01 00:00:00"), with_time("9999-12-31 23:59:59")]
    for _, doc in encode(lines, encoder(timezone=zone)):
        assert doc["tags"] == ["bad_timestamp"]


def test_the_window_bounds_are_inclusive_of_1970_and_a_few_hours_ahead() -> None:
    soon = (datetime.now(UTC) + timedelta(hours=12)).strftime("%Y-%m-%d %H:%M:%S")
    (_, first), (_, ahead) = encode([with_time("1970-01-01 00:00:00"), with_time(soon)])
    assert first["@timestamp"] == "1970-01-01T00:00:00.000Z" and "tags" not in first
    assert ahead["@timestamp"] == soon.replace(" ", "T") + ".000Z" and "tags" not in ahead


def test_a_rejected_time_is_checked_once_per_value() -> None:
    chain = encoder()
    chain.items(Block(0, 0, [(0, [with_time("0001-01-01 00:00:00")])], []))
    assert chain.parser._rejected == {"0001-01-01 00:00:00"} and not chain.parser._stamps
    # The rejection is looked up before parsing: a value found there is not parsed again.
    chain.parser._rejected.add("2026-11-26 15:35:52")
    ((_, doc),) = encode([GOOD], chain)
    assert doc["tags"] == ["bad_timestamp"]


def test_stamps_are_iso_8601_with_a_four_digit_year() -> None:
    assert _stamp_of(datetime(1, 1, 1, tzinfo=UTC)).iso == "0001-01-01T00:00:00.000Z"
    assert _stamp_of(datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)).iso == "2026-11-26T01:02:03.456Z"


def test_added_fields_override_colliding_record_fields_without_duplicate_keys() -> None:
    line = b'{"timestamp": "2026-11-26 15:35:52", "hostname": "app-said", "message": "m"}'
    item = encoder().items(Block(0, 0, [(0, [line])], []))[0]
    doc = document_of(item)
    assert doc.count(b'"hostname"') == 1 and orjson.loads(doc)["hostname"] == "h1"


def test_traceback_goes_to_the_stack_trace_field() -> None:
    enc = encoder()
    items = enc.items(Block(0, 0, [], [SlowRecord(5, GOOD, b"Traceback\n  boom", None)]))
    doc = orjson.loads(document_of(items[0]))
    assert doc["error.stack_trace"] == "Traceback\n  boom" and doc["log.offset"] == 5


def test_file_id_depends_on_host_and_identity() -> None:
    assert file_id("h1", "k") == file_id("h1", "k")
    assert file_id("h1", "k") != file_id("h2", "k") != file_id("h1", "j")


def test_valid_json_stays_bytes_and_is_not_reserialised() -> None:
    events = encoder().events(Block(0, 0, [(0, [GOOD])], []))
    assert len(events.fast) == 1 and not events.docs
    assert documents(events)[0].startswith(GOOD[:-1] + b',"@timestamp":"2026-11-26T15:35:52.000Z"')


def test_decoding_fast_records_gives_the_same_documents() -> None:
    chain = encoder()
    lines = [GOOD, GOOD.replace(b"seq=1", b"seq=2")]
    fast = chain.events(Block(0, 0, [(0, list(lines))], []))
    decoded = chain.events(Block(0, 0, [(0, list(lines))], []))
    decode(decoded)
    assert not decoded.fast and len(decoded.docs) == 2
    assert [orjson.loads(d) for d in documents(decoded)] == [orjson.loads(d) for d in documents(fast)]


def test_a_routed_document_keeps_its_index_and_id() -> None:
    events = Finished(Origin("dl", ""), FileAcks(0).block(1), [Routed("old-index", "old-id", {"n": 1})])
    (item,) = ElasticsearchEncoder("aichat", "%Y.%m.%d", "h1").encode(events)
    action, doc = item.rstrip(b"\n").split(b"\n")
    assert orjson.loads(action) == {"create": {"_index": "old-index", "_id": "old-id"}} and doc == b'{"n":1}'
