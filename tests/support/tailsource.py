"""The tail source's tests' tools: a collecting ``emit``, the source built and run in-process, a
logger writing numbered records with the real logging module."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.acks import Lane
from logship.block import Block, Finished
from logship.budget import InflightBudget
from logship.observe.metrics import REGISTRY
from logship.settings import MultilineSettings, TailSettings
from logship.settings.delivery import DeliverySettings
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, StoreState
from logship.sources.tail.source import TailSource

GUARD = 30.0  # seconds before a test that waits for something that never comes fails


def write(logger: logging.Logger, first: int, count: int) -> list[str]:
    """Log ``count`` numbered records; return their messages."""
    messages = [f"request {n} served" for n in range(first, first + count)]
    for message in messages:
        logger.info(message)
    return messages


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    key: str
    offset: int
    message: str
    trace: bytes | None = None


class Collector:
    """An ``emit`` that keeps the blocks and their records; ``ack`` finishes each block's ack."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.blocks: list[Block] = []
        self.lanes: list[Lane | None] = []  # each block's lane when emitted (a cursor's may change)
        self.records: list[Seen] = []
        self._changed = asyncio.Condition()

    async def emit(self, block: Block | Finished) -> None:
        assert isinstance(block, Block)
        self.blocks.append(block)
        self.lanes.append(None if block.ack is None else block.ack.lane)
        origin = block.origin
        seen: list[Seen] = []
        for offset, lines in block.runs:
            for line in lines:
                seen.append(Seen(origin.path, origin.key, offset, _message(line)))
                offset += len(line) + 1
        for offset, first, rest, _tag in block.records:
            seen.append(Seen(origin.path, origin.key, offset, _message(first), rest))
        self.records += sorted(seen, key=lambda r: r.offset)  # a block's runs and records interleave
        if self.ack:
            assert block.ack is not None
            block.ack.done()
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def wait_records(self, n: int) -> None:
        await self.wait_for(lambda: len(self.records) >= n)

    def messages(self, path: Path | None = None) -> list[str]:
        return [r.message for r in self.records if path is None or r.path == str(path)]


def _message(line: bytes) -> str:
    return str(orjson.loads(line)["message"])


async def eventually(condition: Callable[[], bool]) -> None:
    """For states no event announces (a file closed, bytes read): look again until it holds."""
    while not condition():
        await asyncio.sleep(0.01)


class Ticks(asyncio.Event):
    """The source's tick event (it is set once per tick), counting the ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def set(self) -> None:
        self.count += 1
        super().set()

    async def wait_more(self, n: int) -> None:
        """Until ``n`` more ticks have passed."""
        target = self.count + n
        await eventually(lambda: self.count >= target)


def counting_ticks(source: TailSource) -> Ticks:
    ticks = Ticks()
    source._wake = ticks
    return ticks


def settings(tmp_path: Path, **kw: Any) -> TailSettings:
    values: dict[str, Any] = {
        "paths": [str(tmp_path / "logs" / "*.log")],
        "positions_dir": tmp_path / "positions",
        "scan_interval_seconds": 0.05,
        "poll_interval_seconds": 0.02,
    }
    values.update(kw)
    return TailSettings(**values)


def unbounded() -> InflightBudget:
    return InflightBudget(1 << 40, lambda _: None, lambda _: None)


def tail_source(
    tail: TailSettings,
    *,
    restored: list[FilePosition] | None = None,
    budget: InflightBudget | None = None,
    ignore: set[str] | None = None,
    flush_after: float = 0.02,
    caught_up: Callable[[], None] = lambda: None,
    scanned_at: float | None = None,
    delivery: DeliverySettings | None = None,
    unreachable: Callable[[], bool] = lambda: False,
) -> TailSource:
    state = StoreState({p.key: p for p in restored or []}, scanned_at, None)
    m = MultilineSettings()
    splitter = RecordSplitter(r"^\{", m.max_lines, tail.max_line_bytes, m.max_bytes)
    budget = budget or unbounded()
    return TailSource(
        tail, splitter, flush_after, state, budget, ignore or set(), caught_up, delivery, unreachable
    )


@asynccontextmanager
async def running(source: TailSource, emit: Callable[[Block | Finished], Any]) -> AsyncIterator[None]:
    """Run the source for the body of the ``with``; stop it and close its files afterwards."""
    task = asyncio.create_task(source.run(emit))
    try:
        async with asyncio.timeout(GUARD):
            yield
    finally:
        source.stop()
        try:
            await task
        finally:
            source.close()


def lost_bytes() -> float:
    return REGISTRY.get_sample_value("logship_lost_bytes_total") or 0.0


def key_of(path: Path) -> str:
    key = fingerprint_path(str(path), 1024)
    assert key is not None
    return key


def positions(source: TailSource) -> dict[str, tuple[str, int]]:
    """Per identity: (the file's name, committed offset)."""
    return {p.key: (p.path, p.offset) for p in source.positions()}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    return directory


def record_starts(path: Path) -> list[int]:
    """File offsets of the lines that start a record (a JSON line; a traceback continues one)."""
    data = path.read_bytes()
    starts, at = [], 0
    for line in data.splitlines(keepends=True):
        if line.startswith(b"{"):
            starts.append(at)
        at += len(line)
    return starts


def write_with_tracebacks(logger: logging.Logger, first: int, count: int) -> list[str]:
    """Numbered records, every seventh with a traceback after it; their messages."""
    messages = []
    for n in range(first, first + count):
        message = f"request {n} served"
        if n % 7 == 0:
            try:
                raise ValueError(f"bad request {n}")
            except ValueError:
                logger.exception(message)
        else:
            logger.info(message)
        messages.append(message)
    return messages
