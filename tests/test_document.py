"""One record, both forms: a JSON object line kept as bytes (fast) and the same line decoded build
the same document, whichever stage builds it (the print sink, `decode`, the Elasticsearch encoder)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.acks import FileAcks
from logship.block import Block, Events, Origin, SlowRecord
from logship.document import decode, documents, fast_document
from logship.parse import ADDED_BY_PARSE, METADATA_FIELDS, Decoder, Parser
from logship.settings import ParseSettings
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder
from logship.transforms.enrich import Enrich

FIELDS = {"hostname": "h1", "environment": "test", "service": "aichat-backend"}
TAKEN = ADDED_BY_PARSE | METADATA_FIELDS | set(FIELDS) | {"timestamp", "tags"}

text = st.text(st.characters(codec="utf-8"), max_size=20)
scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8
)
fields = st.dictionaries(text.filter(lambda k: k not in TAKEN), value, max_size=6)
moments = st.datetimes(datetime(1990, 1, 1), datetime(2025, 12, 31))


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A JSON object line as a logging library might write it: spacing and escaping vary."""
    record: dict[str, Any] = {"timestamp": draw(moments).strftime("%Y-%m-%d %H:%M:%S")}
    record.update(draw(fields))
    items = list(record.items())
    order = draw(st.permutations(range(len(items))))
    line = json.dumps(
        {items[i][0]: items[i][1] for i in order},
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    return line.encode()


def parse(lines: list[bytes], decoder: Decoder, *, decoded: bool) -> Events:
    """parse -> enrich; with ``decoded`` the lines come as records the parser must decode."""
    enrich = Enrich(FIELDS)
    parser = Parser(
        ParseSettings(),
        stack_trace_field="error.stack_trace",
        max_line_bytes=1 << 20,
        reserved=enrich.adds,
        decoder=decoder,
    )
    offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    end = offsets[-1] + len(lines[-1]) + 1
    if decoded:
        slow = [SlowRecord(o, line, None, None) for o, line in zip(offsets, lines, strict=True)]
        block = Block(0, end, [], slow)
    else:
        block = Block(0, end, [(0, list(lines))], [])
    block.origin, block.ack = Origin("/var/log/app.log", "key"), FileAcks(0).block(end)
    return enrich(parser.parse(block))


def encoded(events: Events) -> list[tuple[Any, dict[str, Any]]]:
    encoder = ElasticsearchEncoder("aichat", "%Y.%m.%d", "h1")
    out = []
    for item in encoder.encode(events):
        action, doc = item.rstrip(b"\n").split(b"\n")
        out.append((orjson.loads(action), orjson.loads(doc)))
    return sorted(out, key=lambda pair: pair[1]["log.offset"])


@pytest.mark.parametrize("decoder", ["msgspec", "orjson"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(records(), min_size=1, max_size=4))
def test_fast_and_decoded_records_build_the_same_document(lines: list[bytes], decoder: Decoder) -> None:
    fast = parse(lines, decoder, decoded=False)
    assert len(fast.fast) == len(lines) and not fast.docs  # the fast path is what is compared
    by_parser = parse(lines, decoder, decoded=True)
    assert not by_parser.fast
    by_decode = parse(lines, decoder, decoded=False)
    decode(by_decode)

    built = documents(fast)
    assert built == [fast_document(record, fast.splice) for record in fast.fast]
    as_json = [orjson.loads(doc) for doc in built]
    # `decode` parses the fast document: the same members in the same order.
    assert [list(d.items()) for d in as_json] == [
        list(orjson.loads(doc).items()) for doc in documents(by_decode)
    ]
    # The parser's decoded path adds the same members (the order of the added ones may differ).
    assert as_json == [orjson.loads(doc) for doc in documents(by_parser)]
    # The encoder splices the document itself: the same items as for the decoded records.
    assert encoded(fast) == encoded(by_parser) == encoded(by_decode)
    assert [doc for _, doc in encoded(fast)] == sorted(as_json, key=lambda d: d["log.offset"])
