"""A replay gives each file the identity following it gave (its first-line fingerprint), except
that two different files of one replay never share one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from logship.block import Block, Finished
from logship.settings import MultilineSettings, TailSettings
from logship.sources.replay import FileReplaySource
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.multiline import RecordSplitter

BANNER = b'{"timestamp": "2026-12-02 10:00:00", "message": "Starting worker"}\n'


def replay_keys(tmp_path: Path, paths: list[Path]) -> dict[str, set[str]]:
    """Per file replayed (resolved name), the identities its blocks were sent under."""
    tail = TailSettings(paths=[str(tmp_path / "*.log")], positions_dir=tmp_path / "positions")
    m = MultilineSettings()
    splitter = RecordSplitter(r"^\{", m.max_lines, tail.max_line_bytes, m.max_bytes)
    source = FileReplaySource(paths, tail, splitter, None, lambda _b, _r: None)
    keys: dict[str, set[str]] = {}

    async def emit(block: Block | Finished) -> None:
        assert isinstance(block, Block) and block.ack is not None
        keys.setdefault(block.origin.path, set()).add(block.origin.key)
        block.ack.done()

    asyncio.run(source.run(emit))
    return keys


def record(n: int) -> bytes:
    return b'{"timestamp": "2026-12-02 10:00:01", "message": "record %d"}\n' % n


def test_two_files_of_one_replay_with_the_same_first_line_get_different_identities(tmp_path: Path) -> None:
    api, worker = tmp_path / "api.log", tmp_path / "worker.log"
    api.write_bytes(BANNER + record(1))
    worker.write_bytes(BANNER + record(2))
    keys = replay_keys(tmp_path, [api, worker])
    assert keys[str(api)] == {fingerprint_path(str(api), 1024)}  # as when it was followed
    (worker_key,) = keys[str(worker)]
    assert worker_key != fingerprint_path(str(api), 1024)
    # The same again: a second replay of the same files sends the same ids.
    assert replay_keys(tmp_path, [api, worker]) == keys


def test_one_file_given_twice_keeps_its_identity(tmp_path: Path) -> None:
    api = tmp_path / "api.log"
    api.write_bytes(BANNER + record(1))
    assert replay_keys(tmp_path, [api, api]) == {str(api): {fingerprint_path(str(api), 1024)}}
