"""Wiring: tail -> chunks -> batcher -> bulk senders -> acks -> positions, and its shutdown order.

Start-up: load positions, start the senders, then the readers. Shutdown (drain): stop the
readers, let the batcher flush, wait (bounded) for the senders, write positions a last time.
What was not delivered by the deadline is simply read again next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from logship.acks import Chunk, FileAcks
from logship.budget import InflightBudget
from logship.enrich import resolve_fields
from logship.errors import EngineUnreachable, PositionsError
from logship.observe.health import HealthState
from logship.observe.logs import redact
from logship.observe.metrics import BACKPRESSURE_SECONDS, INFLIGHT_BYTES, POSITION_WRITE_FAILURES
from logship.parse import Parser
from logship.settings import Settings
from logship.sink.batcher import Batch, Batcher
from logship.sink.bulk import BulkClient
from logship.sink.deadletter import DeadLetterFile
from logship.sink.encode import Encoder, document_of, file_id
from logship.sink.service import BulkSink, Tally
from logship.tail.fingerprint import fingerprint_fd
from logship.tail.multiline import RecordSplitter
from logship.tail.positions import FilePosition, PositionStore
from logship.tail.reader import LineReader
from logship.tail.source import TailSource

__all__ = ["Components", "ReplayProgress", "ServicePipeline", "replay_dead_letters", "replay_files"]

log = logging.getLogger(__name__)


class Components:
    """What both `run` and `replay` build from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fields = resolve_fields(settings.enrich.fields)
        # Document ids are namespaced by host, so equal files on two hosts never share ids.
        self.namespace = self.fields.get("hostname", "")
        self.parser = Parser(settings.parse, settings.elasticsearch)
        self.encoder = Encoder(
            self.parser, self.fields, settings.multiline.stack_trace_field, settings.tail.max_line_bytes
        )

    @staticmethod
    def budget_for(settings: Settings) -> InflightBudget:
        return InflightBudget(
            settings.delivery.max_inflight_bytes, INFLIGHT_BYTES.set, BACKPRESSURE_SECONDS.inc
        )

    def splitter(self) -> RecordSplitter:
        m = self.settings.multiline
        return RecordSplitter(m.start_pattern, m.max_lines, self.settings.tail.max_line_bytes)


class _Delivery:
    """The batcher and its senders, fed through ``put``; ``close`` flushes and waits for them."""

    def __init__(self, settings: Settings, sink: BulkSink) -> None:
        self.chunks: asyncio.Queue[Chunk | None] = asyncio.Queue()
        n = settings.delivery.max_concurrent_requests
        batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=n)
        self._tasks = [asyncio.create_task(Batcher(settings.batch, self.chunks, batches, n).run())]
        self._tasks += [asyncio.create_task(sink.run(batches)) for _ in range(n)]

    async def put(self, chunk: Chunk) -> None:
        await self.chunks.put(chunk)

    async def close(self, deadline: float | None) -> bool:
        """Flush and wait; True when everything finished before ``deadline`` (monotonic)."""
        await self.chunks.put(None)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            task.result()  # surface a crash instead of hiding it
        return not pending


class ServicePipeline:
    """`logship run`: one configured instance, until ``stop`` or ``abort``."""

    def __init__(self, settings: Settings, health: HealthState) -> None:
        self.settings = settings
        self.health = health
        self.components = Components(settings)
        self.store = PositionStore(settings.tail.positions_dir)
        self.source: TailSource | None = None
        self._stop = asyncio.Event()
        self._abort = asyncio.Event()
        self._saving: asyncio.Task[bool] | None = None  # the periodic position write in progress

    def lag_bytes(self) -> int:
        return sum(f.lag for f in self.source.files) if self.source is not None else 0

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Second signal: stop waiting for in-flight requests."""
        self._abort.set()
        self._stop.set()

    async def run(self) -> None:
        s = self.settings
        state = self.store.load()
        client = BulkClient(s.elasticsearch)
        sink = BulkSink(client, DeadLetterFile(s.dead_letter.path), s.delivery, self.health)
        delivery = _Delivery(s, sink)
        budget = Components.budget_for(s)
        ignore = {str(s.dead_letter.path), str(self.store.path)}
        source = self.source = TailSource(
            s.tail,
            self.components.splitter(),
            s.multiline.flush_timeout_seconds,
            self.components.encoder,
            self.components.namespace,
            state,
            budget,
            delivery.put,
            ignore,
        )
        reading = asyncio.create_task(source.run())
        flushing = asyncio.create_task(self._flush_positions(source))
        pinging = asyncio.create_task(self._ping(client))
        log.info(
            "Started",
            extra={
                "paths": s.tail.paths,
                "hosts": [redact(h) for h in s.elasticsearch.hosts],
                "positions": str(self.store.path),
            },
        )
        try:
            await self._stop.wait()
        finally:
            log.info(
                "Stopping: delivering what is in flight",
                extra={"inflight_bytes": budget.used, "deadline_seconds": s.pipeline.drain_timeout_seconds},
            )
            source.stop()
            reading.cancel()  # it may be waiting for room in the in-flight bound
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            deadline = time.monotonic() + s.pipeline.drain_timeout_seconds
            closing = asyncio.create_task(delivery.close(deadline))
            aborting = asyncio.create_task(self._abort.wait())
            await asyncio.wait([closing, aborting], return_when=asyncio.FIRST_COMPLETED)
            aborting.cancel()
            if not closing.done():
                closing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closing
                drained = False
            else:
                drained = closing.result()
            for task in (flushing, pinging):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._saving is not None:  # a cancelled flusher's write still runs in its thread
                await asyncio.wait([self._saving])
            self._save(source)
            source.close_all()
            await client.close()
            if drained:
                log.info("Stopped; everything read was delivered")
            else:
                log.warning(
                    "Stopped before everything read was delivered; it will be read again at the next start",
                    extra={"undelivered_bytes": budget.used},
                )

    async def _ping(self, client: BulkClient) -> None:
        """Ask the engine for its name now and then, so readiness reflects it even when idle."""
        every = max(1.0, self.settings.http.engine_timeout_seconds / 4)
        while True:
            try:
                await client.info()
                self.health.engine_answered()
            except EngineUnreachable as exc:
                self.health.engine_failed(str(exc))
            await asyncio.sleep(every)

    async def _flush_positions(self, source: TailSource) -> None:
        last: list[object] = []
        # The first scan is stored at once: were logship to crash before the first periodic write,
        # the next start would be a first run, which skips the rotated files it never saw.
        await source.scanned.wait()
        while True:
            positions = source.positions()
            current: list[object] = [positions, source.scanned_at]
            if current != last:
                # Shielded and kept: two writers at once would race on the store's temporary
                # file, so the final save at shutdown waits for this one instead.
                self._saving = asyncio.ensure_future(
                    asyncio.to_thread(self._save_list, positions, source.scanned_at)
                )
                ok = await asyncio.shield(self._saving)
                if ok:
                    last = current
            await asyncio.sleep(self.settings.pipeline.positions_flush_seconds)

    def _save(self, source: TailSource) -> None:
        self._save_list(source.positions(), source.scanned_at)

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


# -- replay ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayProgress:
    """What a replay has done so far; ``total_bytes`` is known up front."""

    total_bytes: int = 0
    read_bytes: int = 0
    records: int = 0
    started: float = field(default_factory=time.monotonic)


async def replay_files(
    settings: Settings,
    paths: Iterable[Path],
    progress: ReplayProgress,
    print_to: Callable[[bytes], None] | None,
    abandon_after: int,
) -> Tally:
    """Ship each file from its first byte to its end; with ``print_to``, print documents instead."""
    components = Components(settings)
    encoder, splitter = components.encoder, components.splitter()
    s = settings
    sink = delivery = budget = client = None
    if print_to is None:
        sink, delivery, budget, client = _replay_delivery(settings, abandon_after)
    try:
        for path in paths:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                key = fingerprint_fd(fd, s.tail.fingerprint_bytes) or _whole_file_key(fd)
                fid = file_id(components.namespace, key)
                name = str(path.resolve())
                reader = LineReader(fd, 0, splitter, s.tail.read_block_bytes, s.tail.max_line_bytes)
                acks = FileAcks(0)
                at_end = False
                while True:
                    if budget is not None:
                        await budget.wait_for_room()
                    if not at_end:
                        got = reader.read()
                        progress.read_bytes += got
                        at_end = got == 0
                    block = reader.take(hold_last=not at_end, at_eof_final=at_end)
                    if block is None:
                        if at_end:
                            break
                        continue
                    items = encoder.encode(block, name, fid)
                    progress.records += len(items)
                    if print_to is not None:
                        for item in items:
                            print_to(document_of(item))
                        continue
                    assert delivery is not None and budget is not None
                    await _hand_on(
                        delivery, budget, Chunk(acks, block.start, block.end, items, name, budget.release)
                    )
                    await asyncio.sleep(0)
            finally:
                os.close(fd)
    finally:
        if delivery is not None:
            await delivery.close(None)
        if client is not None:
            await client.close()
    return sink.tally if sink is not None else Tally()


async def replay_dead_letters(
    settings: Settings, paths: Iterable[Path], progress: ReplayProgress, abandon_after: int
) -> Tally:
    """Send dead-lettered documents again, with their original index and id."""
    sink, delivery, budget, client = _replay_delivery(settings, abandon_after)
    acks = FileAcks(0)
    try:
        for path in paths:
            with path.open("rb") as f:
                # Only what the file held at the start: when it is `dead_letter.path` itself,
                # documents rejected again are appended to it while it is read, and reading
                # those too would send them round forever.
                end = os.fstat(f.fileno()).st_size
                read = 0
                items: list[bytes] = []
                for number, line in enumerate(f, 1):
                    if read >= end:
                        break
                    read += len(line)
                    progress.read_bytes += len(line)
                    if not line.strip():
                        continue
                    try:
                        entry = orjson.loads(line)
                        action = orjson.dumps({"create": {"_index": entry["index"], "_id": entry["id"]}})
                        doc = orjson.dumps(entry["document"])
                    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                        log.error(
                            "Skipping a line that is not a dead-letter entry",
                            extra={"file": str(path), "line": number, "error": str(exc)},
                        )
                        sink.tally.undelivered += 1
                        continue
                    items.append(action + b"\n" + doc + b"\n")
                    progress.records += 1
                    if len(items) >= 1000:
                        await _hand_on(delivery, budget, Chunk(acks, 0, 0, items, str(path), budget.release))
                        items = []
                if items:
                    await _hand_on(delivery, budget, Chunk(acks, 0, 0, items, str(path), budget.release))
    finally:
        await delivery.close(None)
        await client.close()
    return sink.tally


async def _hand_on(delivery: _Delivery, budget: InflightBudget, chunk: Chunk) -> None:
    """Wait for room under the in-flight bound, then pass the chunk to the batcher."""
    await budget.acquire(chunk.nbytes)
    await delivery.put(chunk)


def _replay_delivery(
    settings: Settings, abandon_after: int
) -> tuple[BulkSink, _Delivery, InflightBudget, BulkClient]:
    client = BulkClient(settings.elasticsearch)
    sink = BulkSink(
        client,
        DeadLetterFile(settings.dead_letter.path),
        settings.delivery,
        None,
        abandon_after=abandon_after,
    )
    budget = Components.budget_for(settings)
    return sink, _Delivery(settings, sink), budget, client


def _whole_file_key(fd: int) -> str:
    """Identity of a file with no complete first line (replay only ships whole files)."""
    import hashlib

    return hashlib.blake2b(os.pread(fd, 65536, 0), digest_size=8).hexdigest()
