"""`logship run`: a live source into a sink, the positions, and the shutdown order.

Start-up: load positions, start the senders, then the readers. Shutdown (drain): stop the
readers, let the outbox send what is batched, wait (bounded) for the senders, write positions a last time.
What was not delivered by the deadline is simply read again next time. Which source and which
sink is the caller's choice (`logship.wiring` for the real ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from logship import STARTED_AT
from logship.budget import InflightBudget
from logship.errors import EngineRedirected, EngineUnreachable, PipelineFailed, PositionsError
from logship.observe.health import HealthState
from logship.observe.metrics import LIVE_LAG, POSITION_WRITE_FAILURES
from logship.pipeline import Flow, Stages, inflight_budget
from logship.settings import Settings
from logship.sinks import Sink, log_warnings
from logship.sinks.outbox import Pacing
from logship.sources import CatchUp, LiveSource
from logship.sources.tail.positions import FilePosition, PositionStore, StoreState

__all__ = ["Service", "SinkFactory", "SourceFactory"]

log = logging.getLogger(__name__)

SCAN_TIME_REFRESH_SECONDS = 60.0
# How often the destination is asked while it does not answer.
PING_WHILE_DOWN_SECONDS = 1.0
# How often the health state looks at a catch-up's backlog, for its estimate of the time left.
CATCH_UP_LOOK_SECONDS = 5.0

# (settings, the positions restored, the in-flight bound, "caught up": flush the batch now,
# "the destination is unreachable now")
SourceFactory = Callable[
    [Settings, StoreState, InflightBudget, Callable[[], None], Callable[[], bool]], LiveSource
]
SinkFactory = Callable[[Settings, HealthState], Sink]


class Service:
    """`logship run`: one configured instance, until ``stop`` or ``abort``."""

    def __init__(
        self, settings: Settings, health: HealthState, sources: SourceFactory, sinks: SinkFactory
    ) -> None:
        self.settings = settings
        self.health = health
        self.stages = Stages(settings)
        self.store = PositionStore(settings.tail.positions_dir, settings.state_file_mode)
        self.source: LiveSource | None = None
        self._sources = sources
        self._sinks = sinks
        self._stop = asyncio.Event()
        self._abort = asyncio.Event()
        self._saving: asyncio.Future[bool] | None = None  # the periodic position write in progress

    def lag_bytes(self) -> int:
        return self.source.lag() if self.source is not None else 0

    def unopened_files(self) -> list[str]:
        return self.source.unopened() if self.source is not None else []

    def catch_up(self) -> CatchUp | None:
        return self.source.catch_up() if self.source is not None else None

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Second signal: stop waiting for in-flight requests."""
        self._abort.set()
        self._stop.set()

    async def run(self) -> None:
        s = self.settings
        state = self._restore()
        sink = self._sinks(s, self.health)
        log_warnings(sink)
        beside = sink.start()  # the sink's own work (engine setup, retention); not watched
        budget = inflight_budget(s)
        flow = Flow(self.stages, sink, s.batch, budget, Pacing.of(s.delivery), LIVE_LAG.observe)
        health = self.health
        source = self.source = self._sources(s, state, budget, flow.flush, lambda: health.engine_unreachable)
        reading = asyncio.create_task(source.run(flow.emit), name="reader")
        flushing = asyncio.create_task(self._flush_positions(source, flow.settled), name="position writer")
        pinging = asyncio.create_task(self._ping(sink), name="sink probe")
        looking = asyncio.create_task(self._look_at_catch_up(), name="catch-up watch")
        log.info(
            "Started",
            extra={
                "paths": s.tail.paths,
                "destination": sink.destination,
                "positions": str(self.store.path),
            },
        )
        try:
            failed = await self._until_stop([reading, flushing, pinging, looking, *flow.tasks])
        finally:
            log.info(
                "Stopping: delivering what is in flight",
                extra={
                    "inflight_bytes": budget.used,
                    "reader_waits_for_bytes": budget.wanted,
                    "deadline_seconds": s.pipeline.drain_timeout_seconds,
                    **flow.state(),
                },
            )
            drained = False
            try:
                source.stop()
                reading.cancel()  # it may be waiting for room in the in-flight bound
                await asyncio.wait([reading])
                drained = await self._drain(flow)
            finally:
                # Whatever happened above: the last position write and the sink's close.
                saved = await self._close(source, sink, [flushing, pinging, looking, *beside])
                self._report(drained, saved, budget.used)
        if failed is not None:
            raise failed

    def _restore(self) -> StoreState:
        state = self.store.load()
        if state.scanned_at is None and not state.files:
            # A first run. What the application wrote since logship started is logship's to ship,
            # even if it was rotated away before the first scan (start-up can take seconds on a
            # loaded machine): the start counts as the last scan. Stored at once, so that a crash
            # before the first scan does not make the next start a first run again, which would
            # skip what was rotated meanwhile.
            state = StoreState({}, STARTED_AT, state.recovered_from)
            self._save_list([], STARTED_AT)
        return state

    async def _drain(self, flow: Flow) -> bool:
        """Deliver what is in flight until the drain deadline or an abort; True when all was."""
        deadline = time.monotonic() + self.settings.pipeline.drain_timeout_seconds
        closing = asyncio.create_task(flow.close(deadline))
        aborting = asyncio.create_task(self._abort.wait())
        await asyncio.wait([closing, aborting], return_when=asyncio.FIRST_COMPLETED)
        aborting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await aborting
        if not closing.done():
            closing.cancel()  # Flow.close cancels its senders, and waits for them
            with contextlib.suppress(asyncio.CancelledError):
                await closing
            return False
        return closing.result()  # raises PipelineFailed when a sender crashed

    async def _close(self, source: LiveSource, sink: Sink, tasks: list[asyncio.Task[None]]) -> bool:
        """End ``tasks``, write the positions a last time (whether that worked), close both ends."""
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        if self._saving is not None:  # a cancelled flusher's write still runs in its thread
            await asyncio.wait([self._saving])
        saved = self._save(source)
        source.close()
        await sink.close()
        return saved

    def _report(self, drained: bool, saved: bool, undelivered: int) -> None:
        if drained and saved:
            log.info("Stopped; everything read was delivered")
        elif drained:
            log.error(
                "Stopped; everything read was delivered but the positions were not saved: it will "
                "be read again at the next start (the engine recognises it, no duplicates)",
                extra={"positions": str(self.store.path)},
            )
        else:
            log.warning(
                "Stopped before everything read was delivered; it will be read again at the next start",
                extra={"undelivered_bytes": undelivered},
            )

    async def _until_stop(self, tasks: list[asyncio.Task[None]]) -> PipelineFailed | None:
        """Wait for ``stop``; None then. Each of ``tasks`` runs until then unless a bug ends it: then
        its error, after which logship stops as for SIGTERM and exits non-zero, so that its
        supervisor restarts it rather than it running on with a part dead (what the dead part held
        was never committed, so it is read again)."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        for task in tasks:
            if task.done():
                failed = PipelineFailed.of(task)
                log.error("A part of the pipeline failed; stopping", extra={"error": str(failed)})
                return failed
        return None

    async def _ping(self, sink: Sink) -> None:
        """Ask the sink's destination now and then, so readiness reflects it even when idle; once
        a second while it does not answer, so that its return is seen at once (the requests
        waiting to be tried again then go, and a catch-up stops treating it as down)."""
        every = max(1.0, self.settings.http.engine_timeout_seconds / 4)
        while True:
            try:
                await sink.ping()
                self.health.engine_answered()
            except (EngineUnreachable, EngineRedirected) as exc:
                self.health.engine_failed(str(exc))
            await asyncio.sleep(PING_WHILE_DOWN_SECONDS if self.health.engine_unreachable else every)

    async def _look_at_catch_up(self) -> None:
        """Note the backlog every few seconds while running: the health answer's estimate of the
        time left comes from how it shrank (whether or not anyone asks for it meanwhile)."""
        while True:
            self.health.look_at_catch_up()
            await asyncio.sleep(CATCH_UP_LOOK_SECONDS)

    async def _flush_positions(self, source: LiveSource, settled: asyncio.Event) -> None:
        """Write the positions when they moved, at most once per `pipeline.positions_flush_seconds`.

        Woken by deliveries rather than a timer: an idle logship does not wake up to compare them.
        The scan time changes at every scan but only bounds which unknown rotated files a restart
        ships (an older one ships more, never less), so alone it is written once a minute.
        """
        stored: list[FilePosition] | None = None
        stored_scan = 0.0
        # The first scan is stored at once: were logship to crash before the first periodic write,
        # the next start would be a first run, which skips the rotated files it never saw.
        await source.scanned.wait()
        while True:
            settled.clear()
            positions = source.positions()
            scanned_at = source.scanned_at
            ok = True
            if positions != stored or (scanned_at or 0.0) - stored_scan >= SCAN_TIME_REFRESH_SECONDS:
                # Shielded and kept: two writers at once would race on the store's temporary
                # file, so the final save at shutdown waits for this one instead.
                loop = asyncio.get_running_loop()
                self._saving = loop.run_in_executor(None, self._save_list, positions, scanned_at)
                ok = await asyncio.shield(self._saving)
                if ok:
                    stored, stored_scan = positions, scanned_at or 0.0
            interval = self.settings.pipeline.positions_flush_seconds
            next_write = time.monotonic() + interval
            if ok:  # a failed write is tried again after the interval, whatever happens
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SCAN_TIME_REFRESH_SECONDS):
                        await settled.wait()
            # At most one write per interval; a delivery a little early (deliveries come once a
            # tick) is written at once rather than on a wakeup of its own.
            if (wait := next_write - time.monotonic()) > interval / 4:
                await asyncio.sleep(wait)

    def _save(self, source: LiveSource) -> bool:
        return self._save_list(source.positions(), source.scanned_at)

    def _save_list(self, positions: list[FilePosition], scanned_at: float | None) -> bool:
        try:
            self.store.save(positions, scanned_at)
        except PositionsError as exc:
            POSITION_WRITE_FAILURES.inc()
            self.health.positions_failed(str(exc))
            log.error("Cannot write positions", extra={"error": str(exc)})
            return False
        self.health.positions_written()
        return True
