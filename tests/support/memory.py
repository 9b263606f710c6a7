"""An in-memory live source and an in-memory sink, for running the real ``Service`` without files
or an engine. Each is what adding a source or a sink takes: one class implementing the protocol
(`logship.sources.LiveSource`, `logship.sinks.Sink`), passed to ``Service``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from logship.acks import FileAcks, Lane
from logship.block import Block, Events, Finished, Origin
from logship.document import documents
from logship.sinks import LocalSink, Outcome, Sent, Tally
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk
from logship.sources import CatchUp, Emit
from logship.sources.tail.positions import FilePosition, StoreState

__all__ = ["MemorySink", "MemorySource"]


class MemorySource:
    """Named in-memory "files" of JSON lines; each is read from where the positions ``restored``
    left it, and its position is the end of its longest delivered prefix.

    The files named in ``backfill`` are read as a catch-up's backlog (their blocks' lane is
    BACKFILL); ``catching_up`` is what ``catch_up()`` answers."""

    def __init__(
        self,
        files: dict[str, bytearray],
        restored: StoreState,
        caught_up: Callable[[], None],
        backfill: frozenset[str] = frozenset(),
    ) -> None:
        self._files = files
        self._caught_up = caught_up
        start = {name: restored.files[name].offset if name in restored.files else 0 for name in files}
        self._read = dict(start)  # offset read up to, per file
        self._acks = {
            name: FileAcks(offset, Lane.BACKFILL if name in backfill else Lane.LIVE)
            for name, offset in start.items()
        }
        self.catching_up: CatchUp | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._scanned = asyncio.Event()
        self._scanned_at: float | None = None
        self.emitted = 0  # records handed to the service
        self.ended = asyncio.Event()  # set when ``run`` returned

    def append(self, name: str, lines: list[bytes]) -> None:
        if name not in self._files:
            self._files[name] = bytearray()
            self._read[name] = 0
            self._acks[name] = FileAcks(0)
        self._files[name] += b"".join(line + b"\n" for line in lines)
        self._wake.set()

    @property
    def scanned(self) -> asyncio.Event:
        return self._scanned

    @property
    def scanned_at(self) -> float | None:
        return self._scanned_at

    async def run(self, emit: Emit) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                self._scanned_at = time.time()
                self._scanned.set()
                for name in list(self._files):
                    if (block := self._next_block(name)) is not None:
                        self.emitted += len(block)
                        await emit(block)
                self._caught_up()
                await self._wake.wait()
        finally:
            self.ended.set()

    def _next_block(self, name: str) -> Block | None:
        data, start = self._files[name], self._read[name]
        end = data.rfind(b"\n") + 1
        if end <= start:
            return None
        self._read[name] = end
        lines = bytes(data[start : end - 1]).split(b"\n")
        ack = self._acks[name].block(end)
        return Block(start, end, [(start, lines)], [], Origin(f"memory:{name}", name), ack)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def positions(self) -> list[FilePosition]:
        return [
            FilePosition(name, f"memory:{name}", 0, 0, acks.committed, len(self._files[name]))
            for name, acks in self._acks.items()
        ]

    def lag(self) -> int:
        return sum(len(data) - self._read[name] for name, data in self._files.items())

    def unopened(self) -> list[str]:
        return []

    def catch_up(self) -> CatchUp | None:
        return self.catching_up

    def close(self) -> None:
        pass


# Which items of a send to hand back, given the send's number (1, 2, ...) and its documents.
HandBack = Callable[[int, list[bytes]], list[int]]


class MemorySink(LocalSink):
    """Keeps every document it delivers. ``hand_back`` picks items of a send to return in
    ``Sent.retry`` (a busy destination); while ``gate`` is clear, sends wait (in flight)."""

    concurrency = 2
    destination = "memory"

    def __init__(self, hand_back: HandBack = lambda _n, _docs: [], gate: asyncio.Event | None = None) -> None:
        self._hand_back = hand_back
        self.gate = gate
        self.sends = 0
        self.waiting = 0  # sends waiting for the gate
        self.lanes: list[Lane] = []  # of each send, in the order the sends were called
        self.requests: list[list[bytes]] = []  # the documents of each send, in that order
        self.delivered: list[bytes] = []
        self.closed = False

    def encode(self, events: Events | Finished) -> Chunk:
        return Chunk(documents(events), events.ack)

    async def send(self, batch: Batch) -> Sent:
        ack = batch[0][0].ack
        self.lanes.append(Lane.LIVE if ack is None else ack.lane)
        self.requests.append([chunk.item(i) for chunk, which in batch for i in which])
        if self.gate is not None and not self.gate.is_set():
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        self.sends += 1
        items = [(chunk, i) for chunk, which in batch for i in which]
        back = set(self._hand_back(self.sends, [chunk.item(i) for chunk, i in items]))
        sent = Sent(Tally())
        for n, (chunk, i) in enumerate(items):
            if n in back:
                if sent.retry and sent.retry[-1][0] is chunk:
                    retry = sent.retry[-1][1]
                    assert isinstance(retry, list)
                    retry.append(i)
                else:
                    sent.retry.append((chunk, [i]))
            else:
                self.delivered.append(chunk.item(i))
                chunk.delivered(1)
                sent.tally[Outcome.INDEXED] += 1
        sent.pushback = bool(back)
        return sent

    async def describe(self) -> str:
        return self.destination

    async def close(self) -> None:
        self.closed = True
