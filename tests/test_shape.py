"""msgspec's first look at a line: it accepts only what orjson would make a fast record, and learns
the keys of the records it had to leave to orjson. (tests/test_fuzz.py holds both decoders to the
same items over arbitrary lines.)"""

from __future__ import annotations

import orjson
import pytest

from logship.block import Block, Origin
from logship.parse import ADDED_BY_PARSE, METADATA_FIELDS, Parser
from logship.settings import ParseSettings
from logship.shape import MAX_KEYS, Shape

RESERVED = ADDED_BY_PARSE | METADATA_FIELDS | {"hostname"}
LINE = b'{"timestamp": "2026-11-26 15:35:52", "level": "INFO", "n": 3, "ok": true, "x": null}'


def accepts(shape: Shape, line: bytes) -> bool:
    try:
        shape.decode(line)
    except Exception:
        return False
    return True


def learned() -> Shape:
    shape = Shape("timestamp", RESERVED)
    assert shape.learn(orjson.loads(LINE))
    return shape


def test_the_time_alone_needs_nothing_learned() -> None:
    shape = Shape("timestamp", RESERVED)
    assert shape.decode(b'{"timestamp": "t"}').time == "t"
    assert not accepts(shape, LINE)  # keys not learned yet


def test_learned_keys_are_accepted_in_any_order_and_subset() -> None:
    shape = learned()
    assert shape.decode(LINE).time == "2026-11-26 15:35:52"
    assert shape.decode(b'{"n": 1.5e3, "timestamp": "t"}').time == "t"
    assert not shape.learn(orjson.loads(LINE))  # nothing new


@pytest.mark.parametrize(
    "line",
    [
        b'{"level": "INFO"}',  # no time
        b'{"timestamp": 5}',  # a time that is not a string
        b'{"timestamp": "t", "_id": "x"}',  # a reserved key
        b'{"timestamp": "t", "\\u005fid": "x"}',  # the same, escaped
        b'{"timestamp": "t", "hostname": "h"}',  # a key a transform adds
        b'{"timestamp": "t", "other": 1}',  # a key not learned
        b'{"timestamp": "t", "n": [1]}',  # nested
        b'{"timestamp": "t", "n": 1e400}',  # beyond a double: orjson rejects the line
        b'{"timestamp": "t", "n": ' + b"9" * 309 + b"}",
        b'{"timestamp": "t", "level": "\xff"}',  # invalid UTF-8
        b'{"timestamp": "t", "level": "\\ud800"}',  # a lone surrogate
        b'{"timestamp": "t", "level": "a\tb"}',  # a control character
        b'{"timestamp": "t", "level": "INFO",}',
        b"[1]",
    ],
)
def test_anything_orjson_would_not_make_fast_is_refused(line: bytes) -> None:
    assert not accepts(learned(), line)


def test_only_flat_records_with_nameable_keys_are_learned_and_only_so_many() -> None:
    shape = Shape("timestamp", RESERVED)
    assert not shape.learn({"timestamp": "t", "nested": {"a": 1}})
    assert not shape.learn({"timestamp": "t", 'a"b': 1})
    assert shape.learn({"timestamp": "t", **{f"k{i}": i for i in range(MAX_KEYS)}})
    assert not shape.learn({"timestamp": "t", "one_more": 1})


def test_a_reserved_time_key_is_never_used() -> None:
    assert not Shape("@timestamp", RESERVED).usable


def parser() -> Parser:
    return Parser(
        ParseSettings(), stack_trace_field="error.stack_trace", max_line_bytes=4096, reserved=frozenset()
    )


def test_the_parser_learns_and_then_takes_records_through_the_shape() -> None:
    p = parser()
    block = Block(0, 0, [(0, [LINE] * 10)], [], Origin("/x.log", "k"))
    assert len(p.parse(block).fast) == 10
    assert p._shape is not None and p._shape.keys == ["level", "n", "ok", "x"]


def test_the_parser_rests_the_shape_while_most_lines_are_refused() -> None:
    p = parser()
    nested = b'{"timestamp": "2026-11-26 15:35:52", "a": {"b": 1}}'
    for _ in range(5):
        events = p.parse(Block(0, 0, [(0, [nested] * 1000)], [], Origin("/x.log", "k")))
        assert len(events.fast) == 1000  # orjson made them fast; the shape could not learn them
    assert p._resting > 0
