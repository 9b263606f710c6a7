"""The outbox: what the senders take next, and what comes back from them.

A batch's way, in order: ``put`` adds an encoded chunk to the batch of its lane (`batcher`); a
sender ``wait``s until a batch is ready, then for its turn under the request concurrency; its
``take`` picks the lane that goes next at that moment and takes that lane's batch (a full one, or
the one being filled once it is due); the sender sends it and hands what came back to
``returned``: the items to send again join their lane's batch.

A partial batch is due after the flush interval, at a ``flush`` (the source caught up), when items
were handed back and no other batch is out (they have waited a round trip already; and when the
in-flight bound is spent, nothing else may come to fill the batch), and at ``close``. Until a
sender takes it, a due batch still fills: a sender busy with a slow engine finds fuller batches.
Batches are taken only as fast as senders are free, so the chunks waiting are bounded by the
in-flight bound alone, whatever the number of lanes.

Live first: while catching up live-first, batches hold one lane each (`logship.acks.Lane`). A free
sender takes a live batch first, and a backfill batch when no live one is ready, or when the
backfill has waited through ``every - 1`` live requests in a row: it gets at least one request in
``every`` (``1 / delivery.backfill_share``). In order, every chunk goes to one lane, as read.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from logship.acks import Lane
from logship.settings import BatchSettings, DeliverySettings
from logship.sinks.batcher import Batch, Batcher
from logship.sinks.chunk import Chunk

__all__ = ["IN_ORDER", "Outbox", "Pacing"]


@dataclass(frozen=True, slots=True)
class Pacing:
    """How lanes share the senders: ``live_first`` or one lane in read order; with live first,
    the backfill gets at least one request in ``every`` while it has a batch ready."""

    live_first: bool = False
    every: int = 5

    @classmethod
    def of(cls, delivery: DeliverySettings) -> Pacing:
        # Rounded down, so that the share is never below the setting's.
        return cls(delivery.catch_up == "live-first", max(1, math.floor(1 / delivery.backfill_share + 1e-9)))


IN_ORDER = Pacing()  # one lane, as read: the replays, and `catch_up = "in-order"`


class Outbox:
    """Batches per lane, taken by the senders in the order ``Pacing`` says; see the module."""

    def __init__(self, settings: BatchSettings, pacing: Pacing = IN_ORDER) -> None:
        self._interval = settings.flush_interval_seconds
        self._pacing = pacing
        self._lanes = {lane: Batcher(settings) for lane in Lane}
        self._due: dict[Lane, int] = {}  # the generation of each lane's batch that is due
        self._timers: dict[Lane, tuple[int, asyncio.TimerHandle]] = {}  # per generation
        self._streak = 0  # live batches taken in a row while a backfill batch was ready
        self._changed = asyncio.Event()  # a batch became ready, or the last came back
        self._closing = False
        self.out = 0  # batches taken and not yet come back

    def put(self, chunk: Chunk) -> None:
        """Batch ``chunk`` with its lane's (the lane of its ack; live when it has none)."""
        lane = self._lane_of(chunk)
        self._lanes[lane].add(chunk)
        self._filled(lane)

    def flush(self) -> None:
        """Every partial batch is due now (the source read all there was)."""
        for lane, batcher in self._lanes.items():
            if batcher.partial:
                self._due[lane] = batcher.generation
        self._poke()

    def close(self) -> None:
        """No more chunks: every batch is due, and ``take`` ends the senders once every batch out
        has come back with nothing to send again."""
        self._closing = True
        self._changed.set()

    async def wait(self) -> bool:
        """Until a batch is ready to take (True), or the outbox is closed and every batch taken
        came back with nothing to send again (False: the senders end)."""
        while not any(self._ready(lane) for lane in self._lanes):
            if self._closing and not self.out:
                return False
            self._changed.clear()
            await self._changed.wait()
        return True

    def take(self) -> tuple[Lane, Batch] | None:
        """The batch to send next and its lane; None when none is ready (another sender took it)."""
        taken = self._choose()
        if taken is not None:
            self.out += 1
        return taken

    def returned(self, again: Batch) -> None:
        """A batch taken came back; ``again`` holds its items to send again (often none)."""
        self.out -= 1
        for chunk, which in again:
            lane = self._lane_of(chunk)
            self._lanes[lane].add_items(chunk, list(which))
            if not self.out:
                self._due[lane] = self._lanes[lane].generation
            self._filled(lane)
        if not self.out:
            self._changed.set()  # the end may have come, or a batch handed back is due

    def stop(self) -> None:
        """Cancel the flush timers (the flow has ended)."""
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def state(self) -> dict[str, int]:
        """Where the batched items are (logged at shutdown, so that a stall can be placed)."""
        batchers = self._lanes.values()
        return {
            "batched_documents": sum(b.docs for b in batchers),
            "batched_bytes": sum(b.size for b in batchers),
            "batches_queued": sum(len(b.full) for b in batchers),
            "backfill_batches_queued": len(self._lanes[Lane.BACKFILL].full),
            "requests_in_flight": self.out,
        }

    def _lane_of(self, chunk: Chunk) -> Lane:
        if not self._pacing.live_first or chunk.ack is None:
            return Lane.LIVE
        return chunk.ack.lane

    def _filled(self, lane: Lane) -> None:
        """After items joined ``lane``: time its batch being filled, wake a sender if one is ready."""
        batcher = self._lanes[lane]
        generation = batcher.generation
        if batcher.partial and self._timers.get(lane, (None,))[0] != generation:
            if lane in self._timers:  # set for a batch taken or full since
                self._timers[lane][1].cancel()
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self._interval, self._expire, lane, generation)
            self._timers[lane] = (generation, timer)
        self._poke()

    def _expire(self, lane: Lane, generation: int) -> None:
        del self._timers[lane]
        if self._lanes[lane].partial and self._lanes[lane].generation == generation:
            self._due[lane] = generation
            self._poke()

    def _poke(self) -> None:
        if any(self._ready(lane) for lane in self._lanes):
            self._changed.set()

    def _ready(self, lane: Lane) -> bool:
        batcher = self._lanes[lane]
        if batcher.full:
            return True
        due = self._closing or self._due.get(lane) == batcher.generation
        return batcher.partial and due

    def _choose(self) -> tuple[Lane, Batch] | None:
        live, backfill = self._ready(Lane.LIVE), self._ready(Lane.BACKFILL)
        if backfill and (not live or self._streak >= self._pacing.every - 1):
            self._streak = 0
            return self._take(Lane.BACKFILL)
        if live:
            self._streak += backfill
            return self._take(Lane.LIVE)
        return None

    def _take(self, lane: Lane) -> tuple[Lane, Batch]:
        batch = self._lanes[lane].take()
        assert batch is not None  # the lane was ready
        return lane, batch
