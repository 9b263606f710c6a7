"""The stages joined into one flow, shared by every command:

    source --Block--> parse --Events--> transforms --Events--> sink.encode --Chunk--> outbox --> sink.send
                                                                                                  |
    positions <-- acks (ordered prefix per file) <----------- Chunk.delivered / abandon <---------+

``Flow`` is what a source emits into; ``run_to_end`` runs a replay's source to its end. ``logship run`` is
`logship.service`; `logship.wiring` builds the source and the sink from the settings.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from logship.acks import Lane
from logship.block import Block, Events, Finished
from logship.budget import InflightBudget
from logship.errors import PipelineFailed
from logship.observe.metrics import BACKPRESSURE_SECONDS, CONCURRENCY_LIMIT, INFLIGHT_BYTES, REQUESTS
from logship.parse import Parser
from logship.settings import BatchSettings, Settings
from logship.sinks import Sink, Tally
from logship.sinks.concurrency import AdaptiveConcurrency
from logship.sinks.outbox import IN_ORDER, Outbox, Pacing
from logship.sources import Source
from logship.transforms import Transform
from logship.transforms.enrich import Enrich, configured_fields

__all__ = [
    "Flow",
    "ReplayProgress",
    "Stages",
    "inflight_budget",
    "run_to_end",
]

log = logging.getLogger(__name__)

REQUESTS_BY_LANE = {lane: REQUESTS.labels(lane=lane.value) for lane in Lane}


class Stages:
    """Parsing and the transforms, built from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.fields = configured_fields(settings)
        self.transforms: list[Transform] = [Enrich(self.fields)]
        self.parser = Parser(
            settings.parse,
            stack_trace_field=settings.multiline.stack_trace_field,
            max_line_bytes=settings.tail.max_line_bytes,
            reserved=frozenset().union(*(t.adds for t in self.transforms)),
        )

    def process(self, block: Block | Finished) -> Events | Finished:
        if isinstance(block, Finished):
            return block  # the dead-letter source's documents: the sink routes them
        events = self.parser.parse(block)
        for transform in self.transforms:
            events = transform(events)
        return events


def inflight_budget(settings: Settings) -> InflightBudget:
    return InflightBudget(settings.delivery.max_inflight_bytes, INFLIGHT_BYTES.set, BACKPRESSURE_SECONDS.inc)


class Flow:
    """From a source's blocks to the sink, one batch's way in one place: ``emit`` processes and
    encodes a block, waits for room under the in-flight bound and puts the chunk in the outbox;
    each sender takes a batch from the outbox (`logship.sinks.outbox` picks which), sends it and
    hands back what came back: items to send again return to the outbox, the rest is settled."""

    def __init__(
        self,
        stages: Stages,
        sink: Sink,
        batching: BatchSettings,
        budget: InflightBudget,
        pacing: Pacing = IN_ORDER,
        live_lag: Callable[[float], None] | None = None,
    ) -> None:
        self._stages = stages
        self._sink = sink
        self._budget = budget
        self._live_first = pacing.live_first
        self._live_lag = live_lag
        self.tally = Tally()
        self.settled = asyncio.Event()  # set whenever records reached an outcome (positions may move)
        self._outbox = Outbox(batching, pacing)
        n = sink.concurrency
        self._concurrency = AdaptiveConcurrency(n, CONCURRENCY_LIMIT.set)
        self._tasks = [asyncio.create_task(self._send(), name=f"sender {i + 1}") for i in range(n)]

    async def emit(self, block: Block | Finished) -> None:
        read_at = time.monotonic()
        events = self._stages.process(block)
        chunk = self._sink.encode(events)
        if not chunk.count:
            if events.ack is not None:
                events.ack.done()
                self.settled.set()
            return
        lane = chunk.ack.lane if self._live_first and chunk.ack is not None else Lane.LIVE
        chunk.release = self._budget.release
        if lane is Lane.LIVE and self._live_lag is not None:
            chunk.release = functools.partial(self._delivered_live, read_at)
        await self._budget.acquire(chunk.nbytes, lane)
        self._outbox.put(chunk)

    def _delivered_live(self, read_at: float, nbytes: int) -> None:
        self._budget.release(nbytes)
        if self._live_lag is not None:
            self._live_lag(time.monotonic() - read_at)

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        """The senders: each runs until ``close``."""
        return tuple(self._tasks)

    def state(self) -> dict[str, int]:
        """Where what is in flight waits: the batches being filled and queued, the requests sent
        (logged at shutdown, so that a stall can be placed)."""
        return {**self._outbox.state(), "concurrency_limit": self._concurrency.limit}

    def flush(self) -> None:
        """Send what is batched without waiting for the flush interval (the source caught up)."""
        self._outbox.flush()

    async def _send(self) -> None:
        while await self._outbox.wait():
            async with self._concurrency:
                # Chosen when the request can go: a live batch ready by then goes first.
                if (taken := self._outbox.take()) is None:
                    continue  # another sender took it
                lane, batch = taken
                REQUESTS_BY_LANE[lane].inc()
                sent = await self._sink.send(batch)
            await self._concurrency.observe(sent.pushback)
            self.tally.update(sent.tally)
            self.settled.set()
            self._outbox.returned(sent.retry)  # every batch comes back, retries or not

    async def close(self, deadline: float | None) -> bool:
        """Flush and wait; True when everything was settled before ``deadline`` (monotonic).

        At the deadline, when a task crashed, or when ``close`` itself is cancelled (an abort), the
        senders are cancelled and awaited: none outlives the Flow. What they held is simply not
        committed.
        """
        self._outbox.close()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            done, pending = await asyncio.wait(
                self._tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
            )
        finally:
            await self.abort()
        for task in done:
            if task.exception() is not None:  # surfaced, not hidden
                raise PipelineFailed.of(task)
        return not pending

    async def abort(self) -> None:
        """Cancel the senders still running, and wait until they have ended."""
        self._outbox.stop()
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)


# -- replay ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayProgress:
    """What a replay has done so far; ``total_bytes`` is known up front."""

    total_bytes: int = 0
    read_bytes: int = 0
    records: int = 0
    started: float = field(default_factory=time.monotonic)

    def read(self, nbytes: int, records: int) -> None:
        self.read_bytes += nbytes
        self.records += records


async def run_to_end(settings: Settings, source: Source, sink: Sink, budget: InflightBudget) -> Tally:
    """Run ``source`` to its end into ``sink``, then drain; what became of the records."""
    flow = Flow(Stages(settings), sink, settings.batch, budget)
    try:
        await source.run(flow.emit)
    finally:
        await flow.close(None)
        await sink.close()
    return flow.tally
