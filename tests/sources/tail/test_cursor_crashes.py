"""Cursors and the position store across crashes, as a property: any interleaving of reads by any
cursor, live cursors started at record starts, block acks in any order, store writes and crashes
(which lose what was in flight and what was delivered since the last store write) ends with every
record delivered, and each restart reads exactly the records the store does not hold, once each.

The file is real, written by `logging` with tracebacks; the cursors are those of a followed file
(``TrackedFile``), restarted from what the real ``PositionStore`` wrote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.block import Block
from logship.settings import MultilineSettings, TailSettings
from logship.sources.tail.cursor import Cursor
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, PositionStore
from logship.sources.tail.tracked import TrackedFile

from support.applog import app_log
from support.tailsource import record_starts, write_with_tracebacks


@dataclass
class Log:
    path: Path
    size: int
    starts: list[int]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    directory = tmp_path_factory.mktemp("logs")
    with app_log(logging.FileHandler(directory / "app.log")) as logger:
        write_with_tracebacks(logger, 0, 150)
    path = directory / "app.log"
    return Log(path, path.stat().st_size, record_starts(path))


def offsets(block: Block) -> Iterator[int]:
    for offset, lines in block.runs:
        for line in lines:
            yield offset
            offset += len(line) + 1
    for record in block.records:
        yield record[0]


@dataclass
class Run:
    """A followed file from one start of logship to its crash."""

    tracked: TrackedFile
    origin: FilePosition | None  # what the store held when it started
    in_flight: list[tuple[Cursor, Block]] = field(default_factory=list)
    read: list[int] = field(default_factory=list)  # record offsets, in read order


def start(log: Log, fd: int, position: FilePosition | None) -> Run:
    tail = TailSettings(paths=[str(log.path)], read_block_bytes=4096)
    m = MultilineSettings()
    splitter = RecordSplitter(r"^\{", m.max_lines, tail.max_line_bytes, m.max_bytes)
    offset, delivered = (position.offset, position.delivered) if position is not None else (0, ())
    tracked = TrackedFile(str(log.path), fd, 1, 1, offset, "k", True, splitter, tail, delivered)
    tracked.size = log.size
    return Run(tracked, position)


def read(run: Run, cursor: Cursor) -> bool:
    """One block of ``cursor``, as the source reads it (the file is complete: at its end the last
    record goes, as after the flush timeout). False when it had nothing more."""
    got = cursor.reader.read()
    block = cursor.reader.take(hold_last=bool(got))
    if block is None:
        return bool(got)
    block.ack = cursor.acks.block(block.end)
    run.in_flight.append((cursor, block))
    run.read.extend(offsets(block))
    return True


def save(store: PositionStore, run: Run, log: Log) -> FilePosition:
    position = run.tracked.position()
    assert position is not None
    store.save([position], None)
    (loaded,) = store.load().files.values()
    return loaded


def delivered_records(log: Log, position: FilePosition | None) -> set[int]:
    ranges = position.ranges if position is not None else None
    return {s for s in log.starts if ranges is not None and ranges.delivered(s)}


Step = tuple[str, int]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["read", "read", "read", "ack", "ack", "split", "save", "crash"]), st.integers(0, 200)
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS)
def test_a_restart_reads_every_undelivered_record_once(
    log: Log, tmp_path_factory: pytest.TempPathFactory, steps: list[Step]
) -> None:
    store = PositionStore(tmp_path_factory.mktemp("positions"))
    fd = os.open(log.path, os.O_RDONLY)
    try:
        stored: FilePosition | None = None
        run = start(log, fd, stored)
        for kind, n in steps:
            tracked = run.tracked
            if kind == "read":
                read(run, tracked.cursors[n % len(tracked.cursors)])
            elif kind == "ack" and run.in_flight:
                _, block = run.in_flight.pop(n % len(run.in_flight))
                assert block.ack is not None
                block.ack.done()
                tracked.drop_finished()
            elif kind == "split":
                at = log.starts[n % len(log.starts)]
                if len(tracked.cursors) == 1 and at > tracked.head.reader.next_read:
                    tracked.split(at)
            elif kind == "save":
                stored = save(store, run, log)
            elif kind == "crash":
                check_run(log, run)
                run = start(log, fd, stored)
        # the last run: read and deliver everything
        while any(read(run, c) for c in list(run.tracked.cursors)) or run.in_flight:
            for _, block in run.in_flight:
                assert block.ack is not None
                block.ack.done()
            run.in_flight.clear()
            run.tracked.drop_finished()
        check_run(log, run)
        final = save(store, run, log)
        assert final.offset == log.size and final.delivered == () and run.tracked.joined
    finally:
        os.close(fd)


def check_run(log: Log, run: Run) -> None:
    """Within a run no record is read twice, none the store held as delivered is read again, and
    a cursor never reads past its stop (a record with its traceback stays whole)."""
    assert len(run.read) == len(set(run.read))
    assert not set(run.read) & delivered_records(log, run.origin)
    assert set(run.read) <= set(log.starts)
    for cursor, block in run.in_flight:
        assert cursor.stop is None or block.end <= cursor.stop
    if all(c.reader.next_read >= (c.stop or log.size) for c in run.tracked.cursors) and not run.in_flight:
        # read to the end: exactly what the store did not hold
        assert set(run.read) == set(log.starts) - delivered_records(log, run.origin)


def test_two_cursors_give_the_records_one_cursor_gives_over_long_lines_and_tracebacks(
    tmp_path: Path,
) -> None:
    """Ids come from offsets: split anywhere at a record start, the records (offset, tag, bytes
    kept) are those one cursor reads, also for a line cut for its length and a traceback."""
    directory = tmp_path / "logs"
    directory.mkdir()
    with app_log(logging.FileHandler(directory / "app.log")) as logger:
        write_with_tracebacks(logger, 0, 20)
        logger.info("x" * 6000)  # over `max_line_bytes`: cut, tagged line_truncated
        write_with_tracebacks(logger, 20, 20)
    path = directory / "app.log"
    log = Log(path, path.stat().st_size, record_starts(path))
    tail = TailSettings(paths=[str(path)], read_block_bytes=4096, max_line_bytes=1024)
    fd = os.open(path, os.O_RDONLY)
    try:
        one = records_read(log, fd, tail, None)
        assert any(tag == "line_truncated" for _, tag, _ in one)
        for split in log.starts[1:]:
            assert records_read(log, fd, tail, split) == one
    finally:
        os.close(fd)


Kept = tuple[int, str | None, bytes]  # a record's offset, tag and bytes


def records_read(log: Log, fd: int, tail: TailSettings, split: int | None) -> list[Kept]:
    m = MultilineSettings()
    splitter = RecordSplitter(r"^\{", m.max_lines, tail.max_line_bytes, m.max_bytes)
    tracked = TrackedFile(str(log.path), fd, 1, 1, 0, "k", True, splitter, tail)
    if split is not None:
        tracked.split(split)
    out: list[Kept] = []
    for cursor in tracked.cursors:
        while True:
            got = cursor.reader.read()
            block = cursor.reader.take(hold_last=bool(got))
            if block is not None:
                out += [(o, None, line) for o, line in lines_of(block)]
                out += [(r[0], r[3], r[1] + (r[2] or b"")) for r in block.records]
            elif not got:
                break
    return sorted(out)


def lines_of(block: Block) -> Iterator[tuple[int, bytes]]:
    for offset, lines in block.runs:
        for line in lines:
            yield offset, line
            offset += len(line) + 1
