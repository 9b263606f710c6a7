"""Record boundaries: single lines, tracebacks, held-back last records, over-long lines."""

from __future__ import annotations

import os
from pathlib import Path

from logship.block import Block
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.reader import LineReader

TRACE = b'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: boom\n'


def splitter() -> RecordSplitter:
    return RecordSplitter(r"^\{", max_lines=500, max_line_bytes=1024, max_bytes=65536)


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


def test_too_many_continuation_lines_start_new_records_and_nothing_is_dropped() -> None:
    lines = b"".join(b"line %d\n" % i for i in range(10))
    buf = b'{"a":1}\n' + lines
    block, _ = RecordSplitter(r"^\{", max_lines=3, max_line_bytes=1024, max_bytes=65536).split(
        buf, 0, len(buf), hold_last=False
    )
    assert block is not None and not block.runs
    assert [(first, rest, tag) for _, first, rest, tag in block.records] == [
        (b'{"a":1}', b"line 0\nline 1\nline 2", "multiline_truncated"),
        (b"line 3", b"line 4\nline 5\nline 6", "multiline_continued"),
        (b"line 7", b"line 8\nline 9", "multiline_continued"),
    ]
    assert [offset for offset, *_ in block.records] == [0, 8 + 7 * 3, 8 + 7 * 7]


def test_a_multiline_record_is_cut_at_max_bytes() -> None:
    buf = b'{"a":1}\n' + b"x" * 99 + b"\n" + b"y" * 99 + b"\n" + b"z" * 99 + b"\n"
    block, _ = RecordSplitter(r"^\{", max_lines=500, max_line_bytes=1024, max_bytes=1024 + 8).split(
        buf, 0, len(buf), hold_last=False
    )
    assert block is not None and len(block.records) == 1  # under the cap: one record
    block, _ = RecordSplitter(r"^\{", max_lines=500, max_line_bytes=1024, max_bytes=250).split(
        buf, 0, len(buf), hold_last=False
    )
    assert block is not None
    assert [len(first) + (len(rest) + 1 if rest else 0) + 1 for _, first, rest, _ in block.records] == [
        208,
        100,
    ]


def test_a_runaway_record_is_read_in_linear_time_and_bounded_memory(tmp_path: Path) -> None:
    # 8 MB of lines that never start a record: before the cap this took quadratic time and held
    # the whole file in one record; now the reader hands out bounded pieces as it goes.
    path = tmp_path / "plain.log"
    path.write_bytes(b'{"a":1}\n' + b"not a record start, just text\n" * 280_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, RecordSplitter(r"^\{", 500, 1024, 65536), 262144, 1024)
        records = lines = largest_buffer = 0
        while reader.read():
            largest_buffer = max(largest_buffer, reader.buffered)
            while (block := reader.take(hold_last=True)) is not None:
                records += len(block)
                lines += sum(1 + (rest.count(b"\n") + 1 if rest else 0) for _, _, rest, _ in block.records)
        final = reader.take(hold_last=False)
        assert final is not None
        records += len(final)
        lines += sum(1 + (rest.count(b"\n") + 1 if rest else 0) for _, _, rest, _ in final.records)
    finally:
        os.close(fd)
    assert lines == 280_001  # every line shipped
    assert records == -(-280_001 // 501)  # pieces of one line plus 500 continuation lines
    assert largest_buffer < 65536 + 262144 + 1024


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
        reader = LineReader(fd, 0, RecordSplitter(r"^\{", 500, 1024, 65536), 4096, 1024)
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
        offset, head, _rest, tag = records[0]
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
        assert block.end == path.stat().st_size  # the added newline is not the file's
    finally:
        os.close(fd)


def replay_blocks(path: Path, block_bytes: int) -> list[Block]:
    """Read a file as `logship replay` does: to its end, then the final, unterminated line."""
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, 0, splitter(), block_bytes, 1024)
        blocks = []
        while True:
            got = reader.read()
            block = reader.take(hold_last=got > 0, at_eof_final=got == 0)
            if block is not None:
                blocks.append(block)
            elif got == 0:
                return blocks
    finally:
        os.close(fd)


def test_replay_ships_an_over_long_unterminated_last_line(tmp_path: Path) -> None:
    # A file of NUL bytes without any newline was read, skipped as an over-long line, and dropped.
    path = tmp_path / "nul.log"
    path.write_bytes(b"\0" * 300_000)
    (block,) = replay_blocks(path, 65536)
    assert block.runs == []
    assert block.records == [(0, b"\0" * 1024, None, "line_truncated")]
    assert (block.start, block.end) == (0, 300_000)


def test_replay_ships_records_before_an_over_long_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b'{"a":1}\n' + b"x" * 10_000)
    blocks = replay_blocks(path, 4096)
    assert [line for b in blocks for _, lines in b.runs for line in lines] == [b'{"a":1}']
    assert [(r[0], len(r[1]), r[3]) for b in blocks for r in b.records] == [(8, 1024, "line_truncated")]
    assert blocks[-1].end == 10_008
