"""The Elasticsearch sink: encode Events as bulk items; send batches, classify each item, hand
back what the engine pushed back on, dead-letter the rest.

Whole-request failures (no answer, 429, 5xx) are retried with backoff and jitter, without limit
by default, while the readers stay paused by the in-flight bound. A 413 or 400 splits the batch
until the offending document stands alone. Per-item 429/5xx, and 403/404 (which speak of the index,
not the document), are handed back to go out in a later batch, so a busy engine rejecting some
items never holds a sender; the sender pauses only when an answer accepted nothing. Other 4xx go
to the dead-letter file with the engine's reason. A record counts as delivered only when the
engine holds it or the dead-letter file does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from logship.block import Events
from logship.errors import BadAnswer, DeadLetterError, EngineRedirected, EngineTimeout, EngineUnreachable
from logship.observe.health import HealthState
from logship.observe.metrics import (
    BULK_DURATION,
    BULK_REQUESTS,
    DEAD_LETTER_FULL,
    DEAD_LETTER_WRITE_FAILURES,
    LAST_DELIVERY,
    RECORDS,
    RETRIES,
)
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Sent, Tally
from logship.sinks.batcher import Batch, body_of
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import (
    BulkClient,
    BulkResponse,
    NotABulkResponse,
    Transport,
    item_results,
)
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder
from logship.sinks.elasticsearch.nodes import NodePool
from logship.sinks.elasticsearch.retry import (
    Backoff,
    Verdict,
    classify_item,
    classify_request,
    item_retry_reason,
)

__all__ = ["ElasticsearchSink"]

log = logging.getLogger(__name__)


class ElasticsearchSink:
    """Bulk-indexes into ``<index_prefix>-<date>`` indices; rejected documents go to the dead-letter file."""

    def __init__(
        self,
        es: ElasticsearchSettings,
        delivery: DeliverySettings,
        dead_letters: DeadLetterFile,
        *,
        namespace: str,
        health: HealthState | None,
        abandon_after: int = 0,
        transport: Transport | None = None,
    ) -> None:
        """``namespace`` (the host name) makes ids unique per host; ``abandon_after`` > 0 (replay):
        after that many failed attempts, stop trying and count the records as undelivered instead
        of waiting for the engine without end; ``transport`` replaces the HTTP client (tests)."""
        self._encoder = ElasticsearchEncoder(es.index_prefix, es.index_date_format, namespace)
        self._client: Transport = transport if transport is not None else BulkClient(es)
        self._abandon_after = abandon_after
        self._dead = dead_letters
        self._settings = delivery
        self._health = health
        self._last_warning = 0.0
        self._dead_letter_full = False
        self._waiting_for_room = 0  # senders whose rejected records wait for room in the files
        # Grows while answers accept nothing at all; reset by any accepted item.
        self._pushback = Backoff(delivery.retry_initial_seconds, delivery.retry_max_seconds)
        self.concurrency = delivery.max_concurrent_requests
        self._gate: asyncio.Event | None = None
        self._gate_until = 0.0

    def hold_first_send(self, gate: asyncio.Event, seconds: float) -> None:
        """The first requests wait until ``gate`` is set, for at most ``seconds`` from now (the
        engine's setup at start: an index created before the template would miss its mappings)."""
        self._gate, self._gate_until = gate, time.monotonic() + seconds

    def encode(self, events: Events) -> Chunk:
        return Chunk(self._encoder.encode(events), events.ack)

    async def ping(self) -> None:
        """Ask the engine for its name; raises EngineUnreachable when it does not answer."""
        await self._client.info()

    @property
    def pool(self) -> NodePool | None:
        """The session to the engine, for the administration requests of `logship run`."""
        return self._client.pool if isinstance(self._client, BulkClient) else None

    async def close(self) -> None:
        await self._client.close()

    async def send(self, batch: Batch) -> Sent:
        if self._gate is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, self._gate_until - time.monotonic())):
                    await self._gate.wait()
            self._gate = None
        sent = Sent(Tally())
        await self._deliver(batch, sent)
        return sent

    async def _deliver(self, batch: Batch, sent: Sent) -> None:
        """One batch until each item is settled or handed back; whole-request failures are retried
        here, with backoff, since the engine took nothing."""
        tally = sent.tally
        backoff = Backoff(self._settings.retry_initial_seconds, self._settings.retry_max_seconds)
        attempts = 0
        pending = batch
        last_reason = ""
        while pending:
            attempts += 1
            if self._abandon_after and attempts > self._abandon_after + 1:
                for chunk, which in pending:
                    tally.undelivered += len(which)
                    chunk.abandon(len(which))
                log.error("Giving up on records the engine did not accept", extra={"reason": last_reason})
                return
            limit = self._settings.max_retries
            if limit and attempts > limit + 1:
                await self._dead_letter_all(
                    pending, 0, f"gave up after {attempts - 1} attempts: {last_reason}", tally
                )
                return
            body = body_of(pending)
            started = time.monotonic()
            try:
                response = await self._client.bulk(body)
            except (EngineUnreachable, EngineRedirected) as exc:
                BULK_REQUESTS.labels("3xx" if isinstance(exc, EngineRedirected) else "error").inc()
                reason = _failure_reason(exc)
                last_reason = str(exc)
                if self._health is not None:
                    self._health.engine_failed(last_reason)
                sent.pushback = True
                await self._wait(backoff, reason, last_reason, len(body))
                continue
            BULK_DURATION.observe(time.monotonic() - started)
            BULK_REQUESTS.labels(f"{response.status // 100}xx").inc()
            if self._health is not None:
                self._health.engine_answered()
            verdict, reason = classify_request(response.status)
            if verdict is Verdict.DELIVERED:
                try:
                    again, last_reason, accepted = await self._settle(pending, response, tally)
                except NotABulkResponse as exc:
                    # A proxy's page or a cut body: nothing is known of the items; send them again.
                    excerpt = response.body[:200].decode("utf-8", "replace")
                    last_reason = f"HTTP 200 but not a bulk response ({exc}): {excerpt}"
                    await self._wait(backoff, "bad_response", last_reason, len(body))
                    continue
                if accepted:
                    self._pushback.reset()
                if again:
                    sent.pushback = True
                    await self._hand_back(again, last_reason, sent)
                    if not accepted:  # the engine took nothing: this sender slows down
                        await self._wait(self._pushback, "", last_reason, 0)
                return
            last_reason = f"HTTP {response.status}: {response.body[:300].decode('utf-8', 'replace')}"
            if response.status in (400, 413):
                total = sum(len(which) for _, which in pending)
                if total == 1:
                    RETRIES.labels(reason).inc()
                    await self._dead_letter_all(pending, response.status, last_reason, tally)
                    return
                RETRIES.labels(reason).inc()
                first, second = _halves(pending)
                await self._deliver(first, sent)
                pending = second
                continue
            sent.pushback = sent.pushback or response.status in (429, 503)
            await self._wait(backoff, reason, last_reason, len(body))

    async def _hand_back(self, again: Batch, reason: str, sent: Sent) -> None:
        """Items the engine pushed back on: to a later batch, or given up on past the retry limits."""
        limit, give_up = self._settings.max_retries, self._abandon_after
        letters: list[DeadLetter] = []
        owners: list[tuple[Chunk, int]] = []
        for chunk, which in again:
            keep: list[int] = []
            dead = abandon = 0
            for i in which:
                n = chunk.failed(i)
                if give_up and n > give_up:
                    abandon += 1
                elif limit and n > limit:
                    letters.append(DeadLetter(chunk.item(i), 0, f"gave up after {n} attempts: {reason}"))
                    dead += 1
                else:
                    keep.append(i)
            if keep:
                sent.retry.append((chunk, keep))
            if dead:
                owners.append((chunk, dead))
            if abandon:
                sent.tally.undelivered += abandon
                chunk.abandon(abandon)
        if letters:
            await self._write_dead(letters, owners, sent.tally)

    async def _settle(self, pending: Batch, response: BulkResponse, tally: Tally) -> tuple[Batch, str, bool]:
        """Account a 200 answer item by item; return what must be sent again, why, and whether the
        engine accepted anything."""
        if response.all_created:
            count = 0
            for chunk, which in pending:
                chunk.delivered(len(which))
                count += len(which)
            tally.indexed += count
            RECORDS.labels("indexed").inc(count)
            self._delivered()
            return [], "", True
        results = item_results(response.body)
        retry: Batch = []
        letters: list[DeadLetter] = []
        owners: list[tuple[Chunk, int]] = []  # dead-lettered items per chunk, credited once durable
        indexed = present = 0
        last_reason = ""
        i = 0
        for chunk, which in pending:
            done = dead = 0
            again: list[int] = []
            for item in which:
                if i >= len(results):
                    # The answer lists fewer items than were sent: the engine said nothing of this
                    # one, so it goes out again.
                    i += 1
                    again.append(item)
                    last_reason = "missing from the bulk response"
                    RETRIES.labels("bad_response").inc()
                    continue
                status, why = results[i]
                i += 1
                verdict = classify_item(status)
                if verdict is Verdict.DELIVERED:
                    done += 1
                    if status == 409:
                        present += 1
                    else:
                        indexed += 1
                elif verdict is Verdict.RETRY:
                    again.append(item)
                    last_reason = f"item {status}: {why}"
                    RETRIES.labels(item_retry_reason(status)).inc()
                else:
                    letters.append(DeadLetter(chunk.item(item), status, why or f"status {status}"))
                    dead += 1
            if done:
                chunk.delivered(done)
            if dead:
                owners.append((chunk, dead))
            if again:
                retry.append((chunk, again))
        tally.indexed += indexed
        tally.already_present += present
        RECORDS.labels("indexed").inc(indexed)
        RECORDS.labels("already_present").inc(present)
        if letters:
            await self._write_dead(letters, owners, tally)
        if indexed or present:
            self._delivered()
        return retry, last_reason, bool(indexed or present or letters)

    async def _dead_letter_all(self, pending: Batch, status: int, reason: str, tally: Tally) -> None:
        letters = [DeadLetter(chunk.item(i), status, reason) for chunk, which in pending for i in which]
        await self._write_dead(letters, [(chunk, len(which)) for chunk, which in pending], tally)

    async def _write_dead(
        self, letters: list[DeadLetter], owners: list[tuple[Chunk, int]], tally: Tally
    ) -> None:
        """Write the rejected documents durably, retrying until it works: until then their records
        stay undelivered and their files' positions do not move past them. Past
        `dead_letter.max_bytes` they wait likewise, and the in-flight bound pauses reading."""
        backoff = Backoff(self._settings.retry_initial_seconds, self._settings.retry_max_seconds)
        pending = letters
        waits = 0  # rounds spent waiting for room
        try:
            while pending:
                try:
                    settled = await asyncio.to_thread(self._dead.write, pending)
                except DeadLetterError as exc:
                    DEAD_LETTER_WRITE_FAILURES.inc()
                    if self._health is not None:
                        self._health.dead_letter_failed(str(exc))
                    log.error("Cannot write the dead-letter file; retrying", extra={"error": str(exc)})
                    await asyncio.sleep(backoff.next_delay())
                    continue
                _credit(owners, settled)
                pending = pending[settled:]
                tally.dead_lettered += settled
                RECORDS.labels("dead_lettered").inc(settled)
                if not pending:
                    break
                if not waits:
                    self._waiting_for_room += 1
                    self._room_changed()
                waits += 1
                if self._abandon_after and waits > self._abandon_after:
                    # A replay does not wait without end: these records count as not delivered.
                    for chunk, count in owners:
                        chunk.abandon(count)
                    tally.undelivered += len(pending)
                    break
                await asyncio.sleep(backoff.next_delay())
        finally:
            if waits:
                self._waiting_for_room -= 1
                self._room_changed()
        if self._health is not None:
            self._health.dead_letter_written()
        for letter in letters[: min(3, len(letters) - len(pending))]:
            log.warning(
                "Document rejected by the engine, written to the dead-letter file",
                extra={
                    "status": letter.status,
                    "reason": letter.reason,
                    "dead_letter_file": str(self._dead.path),
                },
            )

    def _room_changed(self) -> None:
        """Report the dead-letter files full while any sender waits for room in them."""
        full = self._waiting_for_room > 0
        if full == self._dead_letter_full:
            return
        self._dead_letter_full = full
        DEAD_LETTER_FULL.set(int(full))
        if full:
            message = self._dead.full_message()
            log.error("The dead-letter files are full; rejected records wait", extra={"error": message})
            if self._health is not None:
                self._health.dead_letter_full(message)
        else:
            log.info("The dead-letter files have room again", extra={"file": str(self._dead.path)})
            if self._health is not None:
                self._health.dead_letter_full(None)

    def _delivered(self) -> None:
        LAST_DELIVERY.set(time.time())
        if self._health is not None:
            self._health.delivered()

    async def _wait(self, backoff: Backoff, reason: str, detail: str, size: int) -> None:
        if reason:
            RETRIES.labels(reason).inc()
        delay = backoff.next_delay()
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            log.warning(
                "Bulk request failed; retrying",
                extra={"reason": detail, "retry_in_seconds": round(delay, 2), "bytes": size},
            )
        await asyncio.sleep(delay)


def _credit(owners: list[tuple[Chunk, int]], count: int) -> None:
    """Mark the first ``count`` dead-lettered items of ``owners`` (in order) delivered."""
    while count and owners:
        chunk, n = owners[0]
        take = min(n, count)
        chunk.delivered(take)
        count -= take
        if take == n:
            owners.pop(0)
        else:
            owners[0] = (chunk, n - take)


def _failure_reason(exc: EngineUnreachable | EngineRedirected) -> str:
    """The retry label of a request that got no usable answer."""
    if isinstance(exc, EngineRedirected):
        return "http_3xx"  # a configuration error: retried until the operator fixes the URL
    if isinstance(exc, BadAnswer):
        return "bad_response"
    return "timeout" if isinstance(exc, EngineTimeout) else "connection"


def _halves(batch: Batch) -> tuple[Batch, Batch]:
    flat = [(chunk, i) for chunk, which in batch for i in which]
    mid = len(flat) // 2
    return _group(flat[:mid]), _group(flat[mid:])


def _group(flat: list[tuple[Chunk, int]]) -> Batch:
    out: list[tuple[Chunk, list[int]]] = []
    for chunk, i in flat:
        if out and out[-1][0] is chunk:
            out[-1][1].append(i)
        else:
            out.append((chunk, [i]))
    return list(out)
