"""Property-based tests: arbitrary bytes through the splitter, the reader, parse -> enrich -> encode,
and the position store. Nothing raises, every line is shipped once, every item is valid JSON.

Derandomized with a modest number of examples, so the run is deterministic and short.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.block import Block, Origin
from logship.errors import PositionsError
from logship.parse import Decoder, Parser
from logship.settings import ParseSettings
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, PositionStore
from logship.sources.tail.reader import LineReader
from logship.transforms.enrich import Enrich

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Small caps, so that over-long lines and runaway records are common.
MAX_LINE, MAX_LINES, MAX_BYTES = 64, 3, 200

TIMES = ["2026-11-26 15:35:52", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "1969-12-31 23:59:59", "", "x"]
KEYS = ["timestamp", "message", "level", "tags", "hostname", "_id", "_index", "@timestamp", "log.offset"]
FIELDS = {"hostname": "h1", "environment": "test", "service": "aichat-backend"}
PATH = "/var/log/aichat/app.log"

json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=8),
    st.sampled_from(TIMES),
    st.lists(st.integers(0, 9)),
)
json_line = st.builds(
    lambda time, rest: orjson.dumps(rest if time is None else {"timestamp": time, **rest}),
    st.one_of(st.none(), st.sampled_from(TIMES)),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), json_value, max_size=4),
)
# A line: JSON objects (some broken), continuation lines, over-long lines, arbitrary bytes.
line = st.one_of(
    json_line,
    json_line.map(lambda b: b[:-1]),
    json_line.map(lambda b: b.replace(b'"', b'"\\"', 1)),
    st.binary(max_size=24),
    st.sampled_from([b"Traceback (most recent call last):", b'  File "x.py", line 1', b"", b"\r", b"\0\0"]),
    st.builds(lambda c, n: c * n, st.sampled_from([b"{", b"x", b"\0", b"\xff"]), st.integers(60, 300)),
).map(lambda b: b.replace(b"\n", b"\r"))
lines = st.lists(line, max_size=30)


@st.composite
def log_bytes(draw: st.DrawFn) -> bytes:
    """Lines joined by newlines, with or without a final newline, sometimes raw bytes after them."""
    body = b"\n".join(draw(lines))
    if draw(st.booleans()):
        body += b"\n"
    return body + draw(st.sampled_from([b"", b"\n"])) + draw(st.binary(max_size=8))


def splitter() -> RecordSplitter:
    return RecordSplitter(r"^\{", MAX_LINES, MAX_LINE, MAX_BYTES)


def line_end(data: bytes, pos: int) -> int:
    """End of the line at ``pos``, without its newline (the end of the data for an unterminated one)."""
    nl = data.find(b"\n", pos)
    return len(data) if nl < 0 else nl


def spans(block: Block, data: bytes, base: int = 0) -> list[tuple[int, int]]:
    """The byte range in ``data`` (which starts at file offset ``base``) of each record of ``block``,
    checking its content."""
    out = []
    for start, run in block.runs:
        pos = start - base
        for text in run:
            end = line_end(data, pos)
            assert data[pos:end] == text
            out.append((pos, min(end + 1, len(data))))
            pos = end + 1
    for start, first, rest, tag in block.records:
        offset = start - base
        end = line_end(data, offset)
        real = data[offset:end]
        if tag == "line_truncated":
            assert len(real) > MAX_LINE and first == real[:MAX_LINE]
        else:
            assert first == real
        stop = min(end + 1, len(data))
        if rest is not None:
            assert rest.count(b"\n") + 1 <= MAX_LINES
            assert data[stop : stop + len(rest)] == rest
            stop = min(stop + len(rest) + 1, len(data))
            assert data[stop - 1 : stop] in (b"\n", data[-1:])
        out.append((offset, stop))
    assert len(out) == len(block)
    return out


def assert_tiles(ranges: list[tuple[int, int]], start: int, end: int) -> None:
    """The ranges cover [start, end) exactly once, each non-empty."""
    at = start
    for a, b in sorted(ranges):
        assert a == at and b > a
        at = b
    assert at == end


@FUZZ
@given(data=log_bytes(), hold_last=st.booleans(), base=st.integers(0, 10**9))
def test_splitter_accounts_for_every_line_once(data: bytes, hold_last: bool, base: int) -> None:
    complete = data.rfind(b"\n") + 1
    block, used = splitter().split(data, base, complete, hold_last)
    ranges: list[tuple[int, int]] = []
    if block is not None:
        assert (block.start, block.end) == (base, base + used) and used > 0
        ranges += spans(block, data, base)
    else:
        assert used == 0
    if hold_last:  # the record held back comes out on the next call
        rest, more = splitter().split(data[used:], base + used, complete - used, hold_last=False)
        if rest is not None:
            assert (rest.start, rest.end) == (base + used, base + used + more)
            ranges += spans(rest, data, base)
        used += more
    assert used == complete
    assert_tiles(ranges, 0, complete)


@pytest.mark.parametrize(("literal", "regex"), [(r"^\{", r"^[{]"), (r"^x", r"^[x]"), (r'\{"t', r'[{]"t')])
@FUZZ
@given(
    data=log_bytes(),
    hold_last=st.booleans(),
    caps=st.tuples(st.integers(1, 4), st.integers(1, 300)),
    cut=st.integers(0, 40),
)
def test_a_literal_start_splits_as_its_regex_does(
    literal: str, regex: str, data: bytes, hold_last: bool, caps: tuple[int, int], cut: int
) -> None:
    """A literal start pattern is split line by line, without the regex: the blocks are the same."""
    data = data[: len(data) - cut]  # often an unterminated line at the end, as the reader has it
    fast, slow = (RecordSplitter(p, caps[0], MAX_LINE, caps[1]) for p in (literal, regex))
    assert fast._prefix is not None and slow._prefix is None
    complete = data.rfind(b"\n") + 1
    one, used = fast.split(data, 7, complete, hold_last)
    other, other_used = slow.split(data, 7, complete, hold_last)
    assert used == other_used
    assert (one is None) == (other is None)
    if one is not None and other is not None:
        assert (one.start, one.end, one.runs, one.records) == (
            other.start,
            other.end,
            other.runs,
            other.records,
        )


def read_all(path: Path, block_bytes: int, holds: list[bool]) -> list[Block]:
    """Read as tail does (take until nothing, holding the last record or not), then as replay ends."""
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, splitter(), block_bytes, MAX_LINE)
        blocks = []
        step = 0
        while reader.read():
            step += 1
            while (block := reader.take(hold_last=holds[step % len(holds)])) is not None:
                blocks.append(block)
        while (block := reader.take(hold_last=False, at_eof_final=True)) is not None:
            blocks.append(block)
        assert reader.buffered == 0
        return blocks
    finally:
        os.close(fd)


@FUZZ
@given(
    data=log_bytes(),
    block_bytes=st.integers(1, 97),
    holds=st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_reader_covers_every_byte_once(
    tmp_path: Path, data: bytes, block_bytes: int, holds: list[bool]
) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(data)
    blocks = read_all(path, block_bytes, holds)
    at = 0
    for block in blocks:  # in order, contiguous, each one's records tiling it
        assert block.start == at and block.end > at
        assert_tiles(spans(block, data), block.start, block.end)
        at = block.end
    assert at == len(data)


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


DECODERS: list[Decoder] = ["msgspec", "orjson"]


def chain(zone: str, decoder: Decoder, max_line: int = MAX_LINE) -> Callable[[Block], list[bytes]]:
    """parse -> enrich -> encode, as the pipeline chains them, with the file id fixed to ``abc``."""
    enrich = Enrich(FIELDS)
    parser = Parser(
        ParseSettings.model_validate({"timezone": zone}),
        stack_trace_field="error.stack_trace",
        max_line_bytes=max_line,
        reserved=enrich.adds,
        decoder=decoder,
    )
    encoder = ElasticsearchEncoder("aichat", "%Y.%m.%d", "h1")
    encoder._ids["key"] = b"abc"

    def items(block: Block) -> list[bytes]:
        block.origin = Origin(PATH, "key")
        return encoder.encode(enrich(parser.parse(block)))

    return items


@pytest.mark.parametrize("decoder", DECODERS)
@FUZZ
@given(data=log_bytes(), zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York"]))
def test_parse_enrich_encode_gives_one_valid_item_per_record(
    data: bytes, zone: str, decoder: Decoder
) -> None:
    complete = data.rfind(b"\n") + 1
    block, _ = splitter().split(data, 0, complete, hold_last=False)
    if block is None:
        return
    items = chain(zone, decoder)(block)
    assert len(items) == len(block)
    offsets = []
    for item in items:
        action_line, doc_line, tail = item.split(b"\n")
        assert tail == b""
        action = orjson.loads(action_line)
        doc = orjson.loads(doc_line)
        assert list(action) == ["create"] and set(action["create"]) == {"_index", "_id"}
        assert isinstance(doc, dict)
        assert STAMP.fullmatch(doc["@timestamp"])
        assert action["create"]["_index"] == "aichat-" + doc["@timestamp"][:10].replace("-", ".")
        assert action["create"]["_id"] == f"abc-{doc['log.offset']}"
        assert doc["log.file.path"] == PATH
        assert {k: doc[k] for k in FIELDS} == FIELDS
        offsets.append(doc["log.offset"])
    assert sorted(offsets) == sorted(a for a, _ in spans(block, data))


# JSON lines built from pieces where msgspec and orjson could part ways: numbers at and past the
# range of a double, escapes (surrogates, a reserved key spelt with an escape), non-ASCII and invalid
# UTF-8, control characters, nesting, repeated keys, whitespace, a time that is not a string.
LIMIT = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207"
NUMBERS = [
    "0", "-0", "1.5", "1e308", "1e309", "-1E400", "1e-400", "2.5e-324", "01", "1.", "-", "1e", "NaN",
    "18446744073709551616", "-9223372036854775809", "9" * 308, "9" * 309, "1" + "0" * 400,
    LIMIT + "0" * 206 + "e3", LIMIT[:16] + "e308", LIMIT[:17] + "e308", "1.7976931348623157e308",
    "1.7976931348623159e308",
]  # fmt: skip
STRINGS = [
    '"a"', '""', '"\\u00e9"', '"\\ud800"', '"\\ud83d\\ude00"', '"\\udc00"', '"\\x"', '"\\/\\n"',
    '"\t"', '"\x7f"', '"é"', '"\uffff"',
]  # fmt: skip
pieces = st.one_of(
    st.sampled_from(
        NUMBERS + STRINGS + ["true", "false", "null", "tru", "[]", "[1,]", "{}", '{"a":[1e400]}']
    ),
    st.builds(str, st.integers(-(10**30), 10**30)),
    st.builds(repr, st.floats(allow_nan=False, allow_infinity=False)),
).map(str.encode)
keys = st.one_of(
    st.sampled_from([*KEYS, "", "é", "environment", "_source", "\\u005fid", "time\\u0073tamp", "a b"]),
    st.text(max_size=3),
).map(lambda k: orjson.dumps(k) if "\\" not in k else f'"{k}"'.encode())
time_value = st.sampled_from([*TIMES, "2026-11-26 15:35:5\\u0032"]).map(lambda t: f'"{t}"'.encode())
member = st.one_of(
    st.tuples(keys, st.one_of(pieces, time_value)),
    st.tuples(st.just(b'"timestamp"'), st.one_of(time_value, pieces)),
)
space = st.sampled_from([b"", b" ", b"\t", b"\r", b"\x0c"])


@st.composite
def odd_json_line(draw: st.DrawFn) -> bytes:
    members = draw(st.lists(member, max_size=5))
    if draw(st.booleans()):
        members.insert(draw(st.integers(0, len(members))), (b'"timestamp"', draw(time_value)))
    sep = draw(space)
    body = b"{" + b",".join(sep + k + sep + b":" + sep + v for k, v in members) + b"}"
    if draw(st.integers(0, 9)) == 0:  # a byte invalid in UTF-8, somewhere
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x00"])) + body[at:]
    return body + draw(st.sampled_from([b"", b"", b" "]))


@pytest.mark.parametrize("lines", [st.lists(odd_json_line(), max_size=12), lines], ids=["odd_json", "log"])
def test_both_decoders_give_the_same_items(lines: st.SearchStrategy[list[bytes]]) -> None:
    """The same bytes give the same items, whichever decoder looks first, before and after the
    msgspec one has learned the records' keys (each block is parsed twice)."""

    @FUZZ
    @given(data=lines.map(lambda ls: b"\n".join(ls) + b"\n"), zone=st.sampled_from(["UTC", "Asia/Tokyo"]))
    def same(data: bytes, zone: str) -> None:
        with patch("time.time", return_value=1_790_000_000.0):  # records without a usable time
            # Long lines too: numbers of 400 digits, lines that are not cut.
            reference, learning = chain(zone, "orjson", 4096), chain(zone, "msgspec", 4096)
            for _ in range(2):
                block, _ = splitter().split(data, 0, len(data), hold_last=False)
                again, _ = splitter().split(data, 0, len(data), hold_last=False)
                assert block is not None and again is not None
                assert learning(block) == reference(again)

    same()


A = FilePosition("k1", "/logs/app.log", 1, 2, 100, 200)

entry = st.dictionaries(
    st.sampled_from(["key", "path", "dev", "ino", "offset", "size"]),
    st.one_of(
        st.integers(-5, 2**63 - 1), st.text(max_size=3), st.none(), st.floats(), st.lists(st.integers(0, 9))
    ),
)
store_body = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda files, scanned: orjson.dumps({"version": 1, "files": files, "scanned_at": scanned}),
        st.lists(st.one_of(entry, st.integers(0, 9), st.text(max_size=3)), max_size=3),
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3)),
    ),
)


@FUZZ
@given(main=st.one_of(st.none(), store_body), previous=st.sampled_from(["none", "good", "damaged"]))
def test_position_store_load_falls_back_and_never_raises(main: bytes | None, previous: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_load(PositionStore(Path(directory)), main, previous)


def check_load(store: PositionStore, main: bytes | None, previous: str) -> None:
    if previous == "good":
        store.save([A], 1.0)
        store.save([A], 1.0)  # the first store is now positions.json.prev
    elif previous == "damaged":
        store.previous.write_bytes(b"\0")
    if main is not None:
        store.path.write_bytes(main)
    elif store.path.exists():
        store.path.unlink()
    try:
        state = store.load()
    except PositionsError:  # only for directory problems, which there are none of here
        raise AssertionError("load() raised PositionsError on a readable directory") from None
    if state.recovered_from is None:
        # The main file was used (or there was nothing at all).
        assert main is not None or previous == "none"
        assert all(isinstance(p, FilePosition) and p.offset >= 0 for p in state.files.values())
    elif previous == "good":
        assert state.files == {"k1": A}
    else:
        assert state.files == {} and state.scanned_at is None
