"""Record boundaries: single lines, tracebacks, held-back last records, over-long lines."""

from __future__ import annotations

import os
from pathlib import Path

from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.reader import LineReader

TRACE = b'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: boom\n'


def splitter() -> RecordSplitter:
    return RecordSplitter(r"^\{", max_lines=500, max_line_bytes=1024)


def test_single_lines_hold_back_the_last_record() -> None:
    buf = b'{"a":1}\n{"a":2}\n{"a":3}\n'
    block, used = splitter().split(buf, 100, len(buf), hold_last=True)
    assert block is not None
    assert block.runs == [(100, [b'{"a":1}', b'{"a":2}'])]
    assert block.records == []
    assert used == 16 and block.end == 116


def test_without_hold_everything_is_handed_out() -> None:
    buf = b'{"a":1}\n{"a":2}\n'
    block, used = splitter().split(buf, 0, len(buf), hold_last=False)
    assert block is not None and used == len(buf)
    assert block.runs == [(0, [b'{"a":1}', b'{"a":2}'])]


def test_traceback_joins_the_record_before_it() -> None:
    buf = b'{"a":1}\n{"a":2}\n' + TRACE + b'{"a":3}\n{"a":4}\n'
    block, used = splitter().split(buf, 0, len(buf), hold_last=True)
    assert block is not None
    assert block.runs == [(0, [b'{"a":1}']), (8 + 8 + len(TRACE), [b'{"a":3}'])]
    assert block.records == [(8, b'{"a":2}', TRACE[:-1], None)]
    assert used == len(buf) - len(b'{"a":4}\n')


def test_traceback_at_the_end_is_held_with_its_record() -> None:
    buf = b'{"a":1}\n{"a":2}\n' + TRACE
    block, used = splitter().split(buf, 0, len(buf), hold_last=True)
    assert block is not None
    assert block.runs == [(0, [b'{"a":1}'])] and block.records == []
    assert used == 8
    rest, used2 = splitter().split(buf[used:], 8, len(buf) - used, hold_last=False)
    assert rest is not None and rest.records == [(8, b'{"a":2}', TRACE[:-1], None)]
    assert used2 == len(buf) - 8


def test_too_many_continuation_lines_are_cut_and_tagged() -> None:
    lines = b"".join(b"line %d\n" % i for i in range(10))
    buf = b'{"a":1}\n' + lines
    block, _ = RecordSplitter(r"^\{", max_lines=3, max_line_bytes=1024).split(
        buf, 0, len(buf), hold_last=False
    )
    assert block is not None
    ((offset, first, rest, tag),) = block.records
    assert rest == b"line 0\nline 1\nline 2" and tag == "multiline_truncated"


def test_reader_waits_for_an_unfinished_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":3')
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, splitter(), 4096, 1024)
        assert reader.read() > 0
        block = reader.take(hold_last=False)
        assert block is not None and block.runs == [(0, [b'{"a":1}', b'{"a":2}'])]
        assert reader.take(hold_last=False) is None  # {"a":3 has no newline yet
        with path.open("ab") as f:
            f.write(b"}\n")
        reader.read()
        block = reader.take(hold_last=False)
        assert block is not None and block.runs == [(16, [b'{"a":3}'])] and block.end == 24
    finally:
        os.close(fd)


def test_reader_cuts_an_over_long_line_and_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    long_line = b'{"m":"' + b"x" * 50_000 + b'"}\n'
    path.write_bytes(b'{"a":1}\n' + long_line + b'{"a":2}\n')
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, RecordSplitter(r"^\{", 500, 1024), 4096, 1024)
        blocks = []
        while reader.read():
            while (block := reader.take(hold_last=True)) is not None:
                blocks.append(block)
        while (block := reader.take(hold_last=False)) is not None:
            blocks.append(block)
        runs = [line for b in blocks for _, lines in b.runs for line in lines]
        records = [r for b in blocks for r in b.records]
        assert runs == [b'{"a":1}', b'{"a":2}']
        assert len(records) == 1
        offset, head, rest, tag = records[0]
        assert offset == 8 and len(head) == 1024 and tag == "line_truncated"
        assert blocks[-1].end == path.stat().st_size
    finally:
        os.close(fd)


def test_replay_ships_an_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b'{"a":1}\n{"a":2}')
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, splitter(), 4096, 1024)
        reader.read()
        block = reader.take(hold_last=False, at_eof_final=True)
        assert block is not None and block.runs == [(0, [b'{"a":1}', b'{"a":2}'])]
    finally:
        os.close(fd)
