"""Cursors: a followed file read from more than one place, on real files written by `logging`.

A bounded cursor reads up to its stop and hands out its last record there; a restart from a store
with ranges beyond the prefix reads exactly the gaps (bounded BACKFILL cursors) and the rest from
the highest delivered byte (LIVE); a record and its traceback are never split between cursors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from logship.acks import Lane
from logship.settings import MultilineSettings
from logship.sources.tail.cursor import live_start
from logship.sources.tail.discovery import Candidate
from logship.sources.tail.identity import check_path
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.reader import LineReader
from logship.sources.tail.unopened import Unopened

from support.applog import app_log
from support.tailsource import (
    Collector,
    key_of,
    record_starts,
    running,
    settings,
    tail_source,
    write,
    write_with_tracebacks,
)


def splitter() -> RecordSplitter:
    m = MultilineSettings()
    return RecordSplitter(r"^\{", m.max_lines, 1 << 20, m.max_bytes)


def stored(path: Path, offset: int, delivered: tuple[tuple[int, int], ...]) -> FilePosition:
    st, check = path.stat(), check_path(str(path), offset)
    return FilePosition(key_of(path), str(path), st.st_dev, st.st_ino, offset, st.st_size, check, delivered)


def test_a_bounded_reader_reads_nothing_past_its_stop_and_hands_out_its_last_record(logs: Path) -> None:
    with app_log(logging.FileHandler(logs / "app.log")) as logger:
        write_with_tracebacks(logger, 0, 30)
    path = logs / "app.log"
    starts = record_starts(path)
    stop = starts[22]  # record 21 (a traceback follows it) ends here
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = LineReader(fd, starts[3], splitter(), 4096, 1 << 20, stop=stop)
        blocks = []
        while reader.read():  # as the source does: a block read, what is complete handed out
            if (block := reader.take(hold_last=True)) is not None:
                blocks.append(block)
        # nothing past the stop was read, and the last record went out at the stop, traceback and
        # all, though continuation lines could have followed it in the file
        assert reader.next_read == stop and reader.reached and reader.buffered == 0
    finally:
        os.close(fd)
    assert blocks[0].start == starts[3] and blocks[-1].end == stop
    offsets = sorted(o for b in blocks for o in [r[0] for r in b.records] + _run_offsets(b.runs))
    assert offsets == starts[3:22]
    (tail,) = [r for b in blocks for r in b.records if r[0] == starts[21]]
    assert tail[2] is not None and b"ValueError: bad request 21" in tail[2]


def _run_offsets(runs: list[tuple[int, list[bytes]]]) -> list[int]:
    out = []
    for offset, lines in runs:
        for line in lines:
            out.append(offset)
            offset += len(line) + 1
    return out


def test_the_live_start_is_never_inside_a_traceback(logs: Path) -> None:
    with app_log(logging.FileHandler(logs / "app.log")) as logger:
        write_with_tracebacks(logger, 0, 15)  # record 14 is the last, with its traceback
    path = logs / "app.log"
    starts = record_starts(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert live_start(fd, path.stat().st_size, splitter()) == starts[14]
        # An unfinished last line is not looked at: it may be a record or a continuation.
        with open(path, "ab") as f:
            f.write(b'  File "x.py", line')
        assert live_start(fd, path.stat().st_size, splitter()) == starts[14]
    finally:
        os.close(fd)


def test_a_restart_from_stored_ranges_reads_exactly_the_gaps(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            messages = write_with_tracebacks(logger, 0, 100)
            path = logs / "app.log"
            starts = record_starts(path)
            # delivered: records 0-19 (prefix), 40-59 and 80-89; the gaps 20-39, 60-79; then 90-99
            ranges = ((starts[40], starts[60]), (starts[80], starts[90]))
            collector = Collector()
            source = tail_source(settings(tmp_path), restored=[stored(path, starts[20], ranges)])
            async with running(source, collector.emit):
                await collector.wait_records(50)
                later = write(logger, 100, 5)  # written after the restart: read by the live cursor
                await collector.wait_records(55)
                await asyncio.sleep(0.1)  # a tick more: nothing else comes
                (position,) = source.positions()
        expected = messages[20:40] + messages[60:80] + messages[90:100] + later
        assert sorted(collector.messages()) == sorted(expected)  # each once, nothing delivered before
        lanes = {b.start: b.ack.lane for b in collector.blocks if b.ack is not None}
        assert {lane for start, lane in lanes.items() if start < starts[80]} == {Lane.BACKFILL}
        assert {lane for start, lane in lanes.items() if start >= starts[90]} == {Lane.LIVE}
        assert all(b.end <= starts[40] or b.start >= starts[60] for b in collector.blocks)  # stops kept
        assert position.offset == path.stat().st_size and position.delivered == ()  # joined

    asyncio.run(main())


def test_a_stored_file_that_cannot_be_opened_lags_by_its_undelivered_bytes_only() -> None:
    waiting = Unopened()
    c = Candidate("/logs/app.log", 1, 2, 900, 0.0, True)
    waiting.failed(c, 100, True, PermissionError(13, "Permission denied"), ((300, 400), (500, 700)))
    assert waiting.lag() == 900 - 100 - 100 - 200
