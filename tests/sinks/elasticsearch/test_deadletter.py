"""The dead-letter files: bounded by `dead_letter.max_bytes`, rotated without ever deleting, each id
written once; past the bound rejected records wait (unacknowledged) instead of being dropped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
from sinks.elasticsearch.test_deadletter_full_disk import RejectEverything

from logship import deadletter_files
from logship.acks import FileAcks
from logship.observe.health import HealthState
from logship.observe.metrics import DEAD_LETTER_BYTES, DEAD_LETTER_FULL
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink


def item(i: int, pad: int = 900) -> bytes:
    doc = json.dumps({"n": i, "pad": "p" * pad}).encode()
    return b'{"create":{"_index":"aichat-2026.11.26","_id":"0123456789abcdef-%d"}}\n%s\n' % (i, doc)


class CountedDeadLetters(DeadLetterFile):
    """A DeadLetterFile that counts the sink's attempts to write to it."""

    attempts = 0

    def write(self, letters: list[DeadLetter]) -> int:
        self.attempts += 1
        return super().write(letters)


def letters(lo: int, hi: int) -> list[DeadLetter]:
    return [DeadLetter(item(i), 400, "mapper_parsing_exception") for i in range(lo, hi)]


def ids_in(path: Path) -> list[str]:
    out = []
    for p in deadletter_files.existing(path):
        out += [orjson.loads(line)["id"] for line in p.read_bytes().splitlines()]
    return out


def test_the_files_never_exceed_the_bound_and_rotation_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dead = DeadLetterFile(path, max_bytes=64 * 1024, max_files=4)
    settled = sum(dead.write(letters(i, i + 5)) for i in range(0, 200, 5))
    assert 0 < settled < 200  # ~1 KiB a line: about 64 of them fit
    names = [p.name for p in deadletter_files.existing(path)]
    assert names == ["dl.ndjson.3", "dl.ndjson.2", "dl.ndjson.1", "dl.ndjson"]
    assert deadletter_files.total_bytes(path) <= 64 * 1024
    assert DEAD_LETTER_BYTES._value.get() == deadletter_files.total_bytes(path)
    # Every settled letter is in the files, in order, once; nothing past them.
    assert ids_in(path) == [f"0123456789abcdef-{i}" for i in range(settled)]


def test_a_batch_is_written_as_far_as_the_bound_allows(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dead = DeadLetterFile(path, max_bytes=64 * 1024, max_files=1)
    settled = dead.write(letters(0, 100))
    assert 50 < settled < 100
    assert dead.write(letters(settled, 100)) == 0  # full: nothing more, nothing dropped
    assert "`dead_letter.max_bytes`" in dead.full_message() and "replay --dead-letter" in dead.full_message()


def test_an_id_already_in_the_files_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    assert DeadLetterFile(path, max_files=2, max_bytes=1 << 20).write(letters(0, 50)) == 50
    size = deadletter_files.total_bytes(path)
    # Another process (a second replay of the same input), and this one again.
    again = DeadLetterFile(path, max_files=2, max_bytes=1 << 20)
    assert again.write(letters(0, 50)) == 50
    assert again.write(letters(25, 60)) == 35
    assert again.write(letters(55, 60) + letters(55, 60)) == 10
    assert deadletter_files.total_bytes(path) > size
    assert sorted(ids_in(path)) == sorted(f"0123456789abcdef-{i}" for i in range(60))


def test_an_id_whose_file_was_removed_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dead = DeadLetterFile(path, max_bytes=1 << 20)
    dead.write(letters(0, 10))
    read = [deadletter_files.ReadFile(p, p.stat().st_dev, p.stat().st_ino, p.stat().st_size) for p in [path]]
    assert deadletter_files.remove_unchanged(path, read) == [path]
    assert dead.write(letters(0, 10)) == 10
    assert ids_in(path) == [f"0123456789abcdef-{i}" for i in range(10)]


def test_a_file_written_to_after_it_was_read_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dead = DeadLetterFile(path, max_bytes=1 << 20)
    dead.write(letters(0, 10))
    st = path.stat()
    read = [deadletter_files.ReadFile(path, st.st_dev, st.st_ino, st.st_size)]
    dead.write(letters(10, 11))
    assert deadletter_files.remove_unchanged(path, read) == []
    elsewhere = tmp_path / "copy.ndjson"
    elsewhere.write_bytes(path.read_bytes())
    st = elsewhere.stat()
    copy = [deadletter_files.ReadFile(elsewhere, st.st_dev, st.st_ino, st.st_size)]
    assert deadletter_files.remove_unchanged(path, copy) == []  # not a dead-letter file of ours
    assert elsewhere.exists()


def test_past_the_bound_records_wait_unacknowledged_and_go_on_once_there_is_room(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "dl.ndjson"
        health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
        dead = CountedDeadLetters(path, max_bytes=64 * 1024, max_files=2)
        sink = ElasticsearchSink(
            ElasticsearchSettings(),
            DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.05),
            dead,
            namespace="h",
            health=health,
            transport=RejectEverything(),
        )
        acks = FileAcks(0)
        chunk = Chunk([item(i) for i in range(100)], acks.block(1000))
        sending = asyncio.create_task(sink.send([(chunk, range(100))]))
        async with asyncio.timeout(30):
            while not DEAD_LETTER_FULL._value.get():
                await asyncio.sleep(0.01)
            full_at = dead.attempts
            while dead.attempts < full_at + 3:  # it tried again, and again, and still waits
                await asyncio.sleep(0.01)
        assert not sending.done() and acks.committed == 0  # the position does not move past them
        assert 0 < chunk.remaining < 100
        healthy, body = health.report()
        check = body["checks"]["dead_letter"]  # type: ignore[index]
        assert not healthy and check["status"] == "fail" and check["detail"].startswith("full: ")
        dead.max_bytes = 1 << 20  # the operator raises the bound
        async with asyncio.timeout(30):
            sent = await sending
        assert sent.tally[Outcome.DEAD_LETTERED] == 100 and acks.committed == 1000
        assert DEAD_LETTER_FULL._value.get() == 0 and health.report()[0]
        assert sorted(ids_in(path)) == sorted(f"0123456789abcdef-{i}" for i in range(100))
        await sink.close()

    asyncio.run(scenario())


def test_a_replay_does_not_wait_for_room_without_end(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "dl.ndjson"
        sink = ElasticsearchSink(
            ElasticsearchSettings(),
            DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.05),
            DeadLetterFile(path, max_bytes=64 * 1024, max_files=1),
            namespace="h",
            health=None,
            abandon_after=3,
            transport=RejectEverything(),
        )
        acks = FileAcks(0)
        chunk = Chunk([item(i) for i in range(100)], acks.block(1000))
        async with asyncio.timeout(30):
            sent = await sink.send([(chunk, range(100))])
        written = len(ids_in(path))
        assert 0 < written < 100
        assert (
            sent.tally[Outcome.DEAD_LETTERED] == written and sent.tally[Outcome.UNDELIVERED] == 100 - written
        )
        assert chunk.abandoned and acks.committed == 0  # never past what was not kept
        assert DEAD_LETTER_FULL._value.get() == 0  # nobody waits any more
        await sink.close()

    asyncio.run(scenario())
