"""TailSource in-process on real files written by Python's `logging`: new files, read_from, rotation
by rename and by copytruncate, truncation, restored positions, deleted files, exclusions, acks.

The source runs as a task into an ``emit`` that collects the blocks and (unless told not to)
finishes their acks, as a sink does once a block is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import shutil
import time
from pathlib import Path

import pytest

from logship.budget import InflightBudget
from logship.sources.tail.discovery import Candidate, listed_identity
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.source import TailSource

from support.applog import app_log
from support.tailsource import (
    Collector,
    counting_ticks,
    eventually,
    key_of,
    lost_bytes,
    positions,
    running,
    settings,
    tail_source,
    write,
)

# -- new files and where reading starts ------------------------------------------------------


def test_a_file_present_at_start_is_read_from_its_first_byte(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            expected = write(logger, 0, 20)
            collector = Collector()
            source = tail_source(settings(tmp_path))
            async with running(source, collector.emit):
                await collector.wait_records(20)
            assert collector.messages() == expected
            assert collector.records[0].offset == 0
            assert {r.key for r in collector.records} == {key_of(logs / "app.log")}
            size = (logs / "app.log").stat().st_size
            assert positions(source) == {key_of(logs / "app.log"): (str(logs / "app.log"), size)}

    asyncio.run(main())


def test_a_pass_that_emitted_reports_caught_up_and_idle_ticks_do_not(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        reports: list[int] = []  # records emitted when each report came
        source = tail_source(settings(tmp_path), caught_up=lambda: reports.append(len(collector.records)))
        ticks = counting_ticks(source)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            write(logger, 0, 20)
            async with running(source, collector.emit):
                await collector.wait_records(20)
                await eventually(lambda: bool(reports) and reports[-1] == 20)
                count = len(reports)
                await ticks.wait_more(15)  # with nothing to read
                assert len(reports) == count
                write(logger, 20, 5)
                await eventually(lambda: reports[-1] == 25)

    asyncio.run(main())


def test_a_file_created_while_running_is_read_from_its_first_byte(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path))
        async with running(source, collector.emit):
            await source.scanned.wait()
            with app_log(logging.FileHandler(logs / "app.log")) as logger:
                expected = write(logger, 0, 10)
                await collector.wait_records(10)
                size = (logs / "app.log").stat().st_size
                assert positions(source) == {key_of(logs / "app.log"): (str(logs / "app.log"), size)}
        assert collector.messages() == expected
        offsets = [r.offset for r in collector.records]
        assert offsets[0] == 0 and offsets == sorted(set(offsets))

    asyncio.run(main())


def test_a_traceback_stays_with_its_record(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            write(logger, 0, 2)
            try:
                raise ValueError("model quota exceeded")
            except ValueError:
                logger.exception("request 2 failed")
            write(logger, 3, 2)
            collector = Collector()
            async with running(tail_source(settings(tmp_path)), collector.emit):
                await collector.wait_records(5)
        assert collector.messages() == [
            "request 0 served",
            "request 1 served",
            "request 2 failed",
            "request 3 served",
            "request 4 served",
        ]
        trace = collector.records[2].trace
        assert trace is not None and trace.startswith(b"Traceback") and b"model quota exceeded" in trace

    asyncio.run(main())


def test_read_from_tail_skips_what_a_file_held_at_start(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            write(logger, 0, 10)
            size = (logs / "app.log").stat().st_size
            collector = Collector()
            source = tail_source(settings(tmp_path, read_from="tail"))
            async with running(source, collector.emit):
                await source.scanned.wait()
                expected = write(logger, 10, 5)
                await collector.wait_records(5)
        assert collector.messages() == expected
        assert collector.records[0].offset == size

    asyncio.run(main())


def test_read_from_tail_still_reads_a_file_created_later_from_its_start(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path, read_from="tail"))
        async with running(source, collector.emit):
            await source.scanned.wait()
            with app_log(logging.FileHandler(logs / "app.log")) as logger:
                expected = write(logger, 0, 5)
                await collector.wait_records(5)
        assert collector.messages() == expected
        assert collector.records[0].offset == 0

    asyncio.run(main())


def test_read_from_tail_does_not_apply_after_a_first_start(tmp_path: Path, logs: Path) -> None:
    # A store holding files: logship (or a takeover) has looked before, so a file it does not know
    # was created since, and all of it is new.
    with app_log(logging.FileHandler(logs / "app.log")) as logger:
        expected = write(logger, 0, 10)

    async def main() -> None:
        collector = Collector()
        earlier = FilePosition("another-file", str(logs / "old.log"), 0, 0, 10, 10)  # delivered, gone
        source = tail_source(
            settings(tmp_path, read_from="tail"), restored=[earlier], scanned_at=time.time() - 60
        )
        async with running(source, collector.emit):
            await collector.wait_records(10)
        assert collector.messages() == expected
        assert collector.records[0].offset == 0

    asyncio.run(main())


# -- rotation and truncation ----------------------------------------------------------------


def test_rename_rotation_finishes_the_old_file_and_follows_the_new_one(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        budget = InflightBudget(100, lambda _: None, lambda _: None)
        collector = Collector()
        source = tail_source(settings(tmp_path), budget=budget)
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            async with running(source, collector.emit):
                expected = write(logger, 0, 20)
                await collector.wait_records(20)
                old_key = key_of(logs / "app.log")
                await budget.acquire(100)  # the source reads nothing while the budget is spent
                expected += write(logger, 20, 5)  # left unread in the file that is rotated away
                handler.doRollover()  # app.log -> app.log.1, a new app.log
                expected += write(logger, 25, 10)
                budget.release(100)
                await collector.wait_records(35)
                new_key = key_of(logs / "app.log")
                assert positions(source) == {
                    old_key: (str(logs / "app.log.1"), (logs / "app.log.1").stat().st_size),
                    new_key: (str(logs / "app.log"), (logs / "app.log").stat().st_size),
                }
        assert sorted(collector.messages()) == sorted(expected)
        assert [r.message for r in collector.records if r.key == old_key] == expected[:25]
        assert [r.message for r in collector.records if r.key == new_key] == expected[25:]
        assert next(r.offset for r in collector.records if r.key == new_key) == 0

    asyncio.run(main())


def test_a_rename_rotation_is_followed_without_waiting_for_the_scan(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path, scan_interval_seconds=30.0))
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            async with running(source, collector.emit):
                expected = write(logger, 0, 20)
                await collector.wait_records(20)
                old_key = key_of(logs / "app.log")
                expected += write(logger, 20, 5)
                handler.doRollover()  # app.log -> app.log.1, a new app.log; the next scan is 30 s away
                expected += write(logger, 25, 10)
                async with asyncio.timeout(2.0):
                    await collector.wait_records(35)
                new_key = key_of(logs / "app.log")
                followed = sorted(f.path for f in source.files)
                assert followed == [str(logs / "app.log"), str(logs / "app.log.1")]
        assert [r.message for r in collector.records if r.key == old_key] == expected[:25]
        assert [r.message for r in collector.records if r.key == new_key] == expected[25:]
        assert len(collector.records) == 35

    asyncio.run(main())


def test_settled_files_do_not_bring_a_scan_at_every_tick(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup followed under its new name, and a deleted file still open (its blocks are not
    delivered yet): once a scan has seen them, their names no longer ask for another."""

    async def main() -> None:
        collector = Collector(ack=False)  # undelivered: every file stays open
        source = tail_source(settings(tmp_path, scan_interval_seconds=30.0))
        ticks = counting_ticks(source)
        count = [0]
        scan = source.discovery.scan

        def counted() -> list[Candidate]:
            count[0] += 1
            return scan()

        monkeypatch.setattr(source.discovery, "scan", counted)
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger, app_log(logging.FileHandler(logs / "other.log")) as other:
            async with running(source, collector.emit):
                write(logger, 0, 5)
                write(other, 0, 5)
                await collector.wait_records(10)
                handler.doRollover()
                write(logger, 5, 5)
                await collector.wait_records(15)  # the rotation was noticed and scanned
                (logs / "other.log").unlink()
                before = count[0]
                await ticks.wait_more(50)
                assert count[0] - before <= 2  # the scan the deletion asked for
                assert sorted(f.path for f in source.files) == [
                    str(logs / p) for p in ("app.log", "app.log.1", "other.log")
                ]

    asyncio.run(main())


def test_a_rotation_while_reading_waits_for_room_opens_the_new_file_at_once(
    tmp_path: Path, logs: Path
) -> None:
    """Reading is stalled under the in-flight bound (the engine is down): the new file a rotation
    creates is opened within a tick all the same, so the application may delete it later."""

    async def main() -> None:
        budget = InflightBudget(1, lambda _: None, lambda _: None)
        await budget.acquire(10)  # spent: reading waits for room
        source = tail_source(settings(tmp_path, scan_interval_seconds=30.0), budget=budget)
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            write(logger, 0, 5)
            async with running(source, Collector().emit):
                await source.scanned.wait()
                handler.doRollover()
                write(logger, 5, 5)
                new = os.stat(logs / "app.log")
                try:
                    async with asyncio.timeout(2.0):
                        await eventually(
                            lambda: (new.st_dev, new.st_ino) in {(f.dev, f.ino) for f in source.files}
                        )
                finally:
                    budget.release(10)  # so that the source can stop

    asyncio.run(main())


async def scans(source: TailSource, n: int) -> None:
    """Until the source has scanned the directories ``n`` more times."""
    for _ in range(n):
        before = source.scanned_at

        def rescanned(before: float | None = before) -> bool:
            return source.scanned_at != before

        await eventually(rescanned)


def test_a_rotated_file_is_closed_once_read_and_delivered(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path, close_inactive_seconds=0.05))
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            async with running(source, collector.emit):
                write(logger, 0, 10)
                await collector.wait_records(10)
                handler.doRollover()
                hour_ago = time.time() - 3600  # last written long ago (see the test below for recent)
                os.utime(logs / "app.log.1", (hour_ago, hour_ago))
                write(logger, 10, 3)
                await collector.wait_records(13)
                await eventually(lambda: [f.path for f in source.files] == [str(logs / "app.log")])
                await scans(source, 3)
                assert [f.path for f in source.files] == [str(logs / "app.log")]
        assert len(collector.records) == 13

    asyncio.run(main())


def test_an_unchanged_rotated_backup_is_not_fingerprinted_at_every_scan(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def counted(c: Candidate, limit: int) -> tuple[str | None, bool]:
        opened.append(c.path)
        return listed_identity(c, limit)

    monkeypatch.setattr("logship.sources.tail.facts.listed_identity", counted)

    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path, close_inactive_seconds=0.05))
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            async with running(source, collector.emit):
                write(logger, 0, 10)
                await collector.wait_records(10)
                handler.doRollover()
                write(logger, 10, 3)
                await collector.wait_records(13)
                await eventually(lambda: [f.path for f in source.files] == [str(logs / "app.log")])
                await scans(source, 2)
                backup = str(logs / "app.log.1")
                before = opened.count(backup)
                await scans(source, 5)
                assert opened.count(backup) == before  # known by inode, size and mtime
                os.utime(backup)  # touched: looked at again
                await scans(source, 2)
                assert opened.count(backup) > before

    asyncio.run(main())


def test_a_closed_rotated_file_is_not_read_again(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        collector = Collector()
        source = tail_source(settings(tmp_path, close_inactive_seconds=0.05))
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            async with running(source, collector.emit):
                write(logger, 0, 10)
                await collector.wait_records(10)
                handler.doRollover()
                write(logger, 10, 3)
                await collector.wait_records(13)
                await eventually(lambda: [f.path for f in source.files] == [str(logs / "app.log")])
                # Closed within a second of its last write, as with any close_inactive_seconds
                # below a second; made certain here whatever the machine's load.
                os.utime(logs / "app.log.1")
                await scans(source, 3)
                rotated = logs / "app.log.1"
                old_key = key_of(rotated)
                # Known and stored, delivered to its end, until the file is gone.
                assert positions(source)[old_key] == (str(rotated), rotated.stat().st_size)
                before = lost_bytes()
                rotated.unlink()
                await scans(source, 2)
                assert old_key not in positions(source) and lost_bytes() == before
        assert sorted(collector.messages()) == sorted(f"request {n} served" for n in range(13))

    asyncio.run(main())


def test_copytruncate_is_finished_in_the_copy(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        budget = InflightBudget(100, lambda _: None, lambda _: None)
        collector = Collector()
        source = tail_source(settings(tmp_path), budget=budget)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            async with running(source, collector.emit):
                expected = write(logger, 0, 20)
                await collector.wait_records(20)
                key = key_of(logs / "app.log")
                read = (logs / "app.log").stat().st_size
                await budget.acquire(100)
                expected += write(logger, 20, 5)  # not read before the copy is taken
                shutil.copyfile(logs / "app.log", logs / "app.log.1")
                os.truncate(logs / "app.log", 0)
                expected += write(logger, 25, 10)  # the handler appends: from offset 0 again
                budget.release(100)
                await collector.wait_records(35)
                new_key = key_of(logs / "app.log")
                assert positions(source) == {
                    key: (str(logs / "app.log.1"), (logs / "app.log.1").stat().st_size),
                    new_key: (str(logs / "app.log"), (logs / "app.log").stat().st_size),
                }
        assert sorted(collector.messages()) == sorted(expected)
        from_copy = [r for r in collector.records[20:] if r.key == key]
        assert [r.message for r in from_copy] == expected[20:25]
        assert {r.path for r in from_copy} == {str(logs / "app.log.1")}
        assert from_copy[0].offset == read  # the same identity, at the same offsets
        rewritten = [r for r in collector.records if r.key == new_key]
        assert [r.message for r in rewritten] == expected[25:] and rewritten[0].offset == 0

    asyncio.run(main())


def test_truncation_restarts_at_zero_and_still_ships_the_records_read_before(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        before = lost_bytes()
        collector = Collector()
        # The last record of a file is held until more follows: it is read, not yet emitted.
        source = tail_source(settings(tmp_path), flush_after=3600)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            async with running(source, collector.emit):
                first = write(logger, 0, 10)
                await collector.wait_records(9)
                assert collector.messages() == first[:9]
                os.truncate(logs / "app.log", 0)
                second = write(logger, 10, 5)
                await collector.wait_records(14)  # all but the last record of the rewritten file
        assert collector.messages() == first + second[:4]
        assert next(r.offset for r in collector.records[10:]) == 0
        assert lost_bytes() - before == 0

    asyncio.run(main())


def test_truncation_counts_an_unfinished_last_line_as_lost(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        before = lost_bytes()
        path = logs / "app.log"
        collector = Collector()
        source = tail_source(settings(tmp_path))
        with app_log(logging.FileHandler(path)) as logger:
            async with running(source, collector.emit):
                first = write(logger, 0, 5)
                await collector.wait_records(5)
                with path.open("ab") as f:
                    f.write(b'{"timestamp": "2026-11-26 10:00:00", "mess')  # the writer died mid-line
                size = path.stat().st_size
                await eventually(lambda: bool(source.files) and source.files[0].reader.next_read == size)
                os.truncate(path, 0)
                second = write(logger, 5, 3)
                await collector.wait_records(8)
        assert collector.messages() == first + second
        assert lost_bytes() - before == len(b'{"timestamp": "2026-11-26 10:00:00", "mess')

    asyncio.run(main())


# -- positions -------------------------------------------------------------------------------


def test_a_restored_position_resumes_at_its_offset(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            first = write(logger, 0, 10)
            collector = Collector()
            source = tail_source(settings(tmp_path))
            async with running(source, collector.emit):
                await collector.wait_records(10)
            stored = source.positions()
            (position,) = stored
            assert position.offset == (logs / "app.log").stat().st_size
            second = write(logger, 10, 5)  # while logship is not running

            again = Collector()
            source = tail_source(settings(tmp_path), restored=stored)
            async with running(source, again.emit):
                await again.wait_records(5)
                third = write(logger, 15, 2)
                await again.wait_records(7)
        assert collector.messages() == first
        assert again.messages() == second + third  # nothing twice
        assert again.records[0].offset == position.offset

    asyncio.run(main())


def test_a_restored_position_follows_the_file_renamed_meanwhile(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            first = write(logger, 0, 10)
            collector = Collector()
            source = tail_source(settings(tmp_path))
            async with running(source, collector.emit):
                await collector.wait_records(10)
            stored = source.positions()
            unread = write(logger, 10, 4)
            handler.doRollover()  # rotated while logship is not running
            fresh = write(logger, 14, 3)

            again = Collector()
            source = tail_source(settings(tmp_path), restored=stored)
            async with running(source, again.emit):
                await again.wait_records(7)
        assert collector.messages() == first
        assert again.messages(logs / "app.log.1") == unread
        assert again.messages(logs / "app.log") == fresh

    asyncio.run(main())


def test_a_file_deleted_with_undelivered_bytes_is_counted_as_lost(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        path = logs / "app.log"
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
        collector = Collector(ack=False)  # read, never delivered
        source = tail_source(settings(tmp_path))
        async with running(source, collector.emit):
            await collector.wait_records(10)
        stored = source.positions()
        size = path.stat().st_size
        assert [(p.offset, p.size) for p in stored] == [(0, size)]
        path.unlink()

        before = lost_bytes()
        source = tail_source(settings(tmp_path), restored=stored)
        async with running(source, Collector().emit):
            await source.scanned.wait()
        assert lost_bytes() - before == size
        assert source.positions() == []

    asyncio.run(main())


def test_a_stored_file_no_longer_matched_is_not_lost(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        path = logs / "app.log"
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
        collector = Collector(ack=False)
        source = tail_source(settings(tmp_path))
        async with running(source, collector.emit):
            await collector.wait_records(10)
        stored = source.positions()

        before = lost_bytes()
        source = tail_source(settings(tmp_path, paths=[str(logs / "*.txt")]), restored=stored)
        async with running(source, Collector().emit):
            await source.scanned.wait()
        assert lost_bytes() - before == 0
        assert source.files == []

    asyncio.run(main())


def test_the_committed_position_never_passes_an_unacknowledged_block(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            write(logger, 0, 200)
        collector = Collector(ack=False)
        source = tail_source(settings(tmp_path, read_block_bytes=4096))
        key = key_of(logs / "app.log")
        async with running(source, collector.emit):
            await collector.wait_for(lambda: len(collector.blocks) >= 3)
            first, second, third = collector.blocks[:3]
            assert first.start == 0 and first.end == second.start and second.end == third.start
            assert positions(source)[key][1] == 0
            assert second.ack is not None and third.ack is not None and first.ack is not None
            third.ack.done()
            second.ack.done()
            assert positions(source)[key][1] == 0  # the first block is still undelivered
            first.ack.done()
            assert positions(source)[key][1] == third.end
            await collector.wait_records(200)
            for block in collector.blocks[3:]:
                assert block.ack is not None
                block.ack.done()
            assert positions(source)[key][1] == (logs / "app.log").stat().st_size

    asyncio.run(main())


# -- what is never read ----------------------------------------------------------------------


def test_excluded_and_ignored_files_are_never_read(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with (
            app_log(logging.FileHandler(logs / "app.log")) as app,
            app_log(logging.FileHandler(logs / "secret.log")) as secret,
            app_log(logging.FileHandler(logs / "own.log")) as own,
        ):
            write(app, 0, 3)
            write(secret, 0, 3)
            write(own, 0, 3)
            collector = Collector()
            source = tail_source(settings(tmp_path, exclude=["secret*.log"]), ignore={str(logs / "own.log")})
            async with running(source, collector.emit):
                await collector.wait_records(3)
                write(secret, 3, 3)
                write(own, 3, 3)
                scans = source.scanned_at
                write(app, 3, 3)
                await collector.wait_records(6)
                await eventually(lambda: source.scanned_at != scans)  # rescanned since
                assert [f.path for f in source.files] == [str(logs / "app.log")]
        assert {r.path for r in collector.records} == {str(logs / "app.log")}
        assert len(collector.records) == 6

    asyncio.run(main())


# -- discovery while reading waits -------------------------------------------------------------


def test_a_file_rotated_away_while_reading_waits_for_room_is_kept_open_and_shipped(
    tmp_path: Path, logs: Path
) -> None:
    """Reading pauses while the in-flight bound is spent (the engine is slow); the application
    rotates meanwhile and its rotation deletes a file logship has not read. Discovery keeps
    running, opens the file, and its records are shipped once room returns, deletion or not."""

    async def main() -> None:
        budget = InflightBudget(1, lambda _: None, lambda _: None)
        budget.used = 1  # spent: reading waits, as when the engine does not keep up
        collector = Collector()
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            expected = write(logger, 0, 20)
        source = tail_source(settings(tmp_path), budget=budget)
        async with running(source, collector.emit):
            try:
                await source.scanned.wait()
                with app_log(logging.FileHandler(logs / "later.log")) as logger:
                    expected += write(logger, 20, 50)
                await eventually(lambda: any(f.path == str(logs / "later.log") for f in source.files))
                (logs / "later.log").unlink()  # gone from the directory before a byte of it was read
                assert collector.records == []
            finally:
                budget.release(1)  # also lets a failing test stop the source
            await collector.wait_records(70)
        assert sorted(collector.messages()) == sorted(expected)

    asyncio.run(main())
