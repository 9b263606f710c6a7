"""The Elasticsearch sink: encode Events as bulk items; send batches, classify each item, hand
back what the engine pushed back on, dead-letter the rest.

Whole-request failures (no answer, 429, 5xx) are retried with backoff and jitter, without limit
by default, while the readers stay paused by the in-flight bound. A request the engine refused to
connect to goes again as soon as the engine answers anything (the probe, another request), not at
the end of a backoff that may have grown to `retry_max_seconds` during an outage. A 413 or 400
splits the batch until the offending document stands alone. Per-item 429/5xx, and 403/404 (which
speak of the index, not the document), are handed back to go out in a later batch, so a busy
engine rejecting some items never holds a sender; the sender pauses only when an answer accepted
nothing. Other 4xx go to the dead-letter file with the engine's reason. A record counts as
delivered only when the engine holds it or the dead-letter file does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from logship.block import Events, Finished
from logship.errors import EngineRedirected, EngineUnreachable
from logship.observe.health import HealthState
from logship.observe.logs import redact
from logship.observe.metrics import (
    BULK_DURATION,
    BULK_REQUESTS,
    LAST_DELIVERY,
    RECORDS,
    RETRIES,
)
from logship.settings import DeliverySettings, ElasticsearchSettings, Settings
from logship.sinks import Outcome, Sent, Tally
from logship.sinks.batcher import Batch, body_of
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import (
    BulkClient,
    BulkResponse,
    NotABulkResponse,
    Transport,
    item_results,
    transport_warnings,
)
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder
from logship.sinks.elasticsearch.items import settle_items
from logship.sinks.elasticsearch.nodes import NodePool
from logship.sinks.elasticsearch.rejected import Owners, RejectedWriter
from logship.sinks.elasticsearch.retry import (
    Backoff,
    Limits,
    Verdict,
    classify_request,
    failure_reason,
    halves,
)
from logship.sinks.elasticsearch.upkeep import Upkeep

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
        run_settings: Settings | None = None,
    ) -> None:
        """``namespace`` (the host name) makes ids unique per host; ``abandon_after`` > 0 (replay):
        after that many failed attempts, stop trying and count the records as undelivered instead
        of waiting for the engine without end; ``transport`` replaces the HTTP client (tests);
        ``run_settings``: the whole configuration at `logship run`, whose setup and retention
        ``start`` runs beside the sending."""
        self._es = es
        self._encoder = ElasticsearchEncoder(es.index_prefix, es.index_date_format, namespace)
        self._client: Transport = transport if transport is not None else BulkClient(es)
        self._limits = Limits(delivery.max_retries, abandon_after)
        self._delays = (delivery.retry_initial_seconds, delivery.retry_max_seconds)
        self._rejected = RejectedWriter(dead_letters, self._delays, health, abandon_after)
        self._health = health
        self._last_warning = 0.0
        # Grows while answers accept nothing at all; reset by any accepted item.
        self._pushback = self._backoff()
        self.concurrency = delivery.max_concurrent_requests
        self.destination = ", ".join(redact(host) for host in es.hosts)
        self._gate: asyncio.Event | None = None
        # Set while the engine answers; cleared when it refused a connection: wakes the retries.
        self._answering = asyncio.Event()
        self._answering.set()
        self._gate_until = 0.0
        self._upkeep = Upkeep(self._client, dead_letters, run_settings)

    def encode(self, events: Events | Finished) -> Chunk:
        return Chunk(self._encoder.encode(events), events.ack)

    def warnings(self) -> list[str]:
        return transport_warnings(self._es)

    def start(self) -> list[asyncio.Task[None]]:
        tasks = self._upkeep.start(self.pool)
        if self._upkeep.first_check is not None:
            # The first sends wait (bounded) for the setup's first check: an index created before
            # its template would miss the mappings.
            self._gate = self._upkeep.first_check
            self._gate_until = time.monotonic() + self._upkeep.first_check_wait
        return tasks

    async def ping(self) -> None:
        """Ask the engine for its name; raises EngineUnreachable when it does not answer."""
        await self._upkeep.ping()
        self._answering.set()

    async def describe(self) -> str:
        return await self._upkeep.describe()

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
        """One batch until each item is settled or handed back. This loop acts on the verdicts of
        `retry`: a whole-request failure is sent again after a backoff (the engine took nothing), a
        split puts the halves in place of the request, the first half first with attempts of its
        own; the limits are judged before each attempt."""
        todo = [_Request(batch, self._backoff())]
        while todo:
            request = todo[-1]
            limit = self._limits.judge(request.failures)
            if limit is not Verdict.RETRY:
                todo.pop()
                await self._give_up(request.batch, limit, request.failures, request.reason, sent.tally)
                continue
            verdict, label = await self._attempt(request, sent)
            if verdict is Verdict.RETRY:
                request.failures += 1
                # Refused: the engine is down, and its return ends the wait. Not a timeout: an
                # engine too busy to answer a bulk request in time may well answer the probe.
                wake = self._answering if label == "connection" else None
                await self._wait(request.backoff, label, request.reason, request.size, wake)
                continue
            todo.pop()
            if verdict is Verdict.SPLIT:
                RETRIES.labels(label).inc()
                first, second = halves(request.batch)
                request.batch, request.failures = second, request.failures + 1
                todo += [request, _Request(first, self._backoff())]
            elif verdict is Verdict.DEAD:
                RETRIES.labels(label).inc()
                await self._give_up(request.batch, verdict, 0, request.reason, sent.tally, request.status)

    async def _attempt(self, request: _Request, sent: Sent) -> tuple[Verdict, str]:
        """Send the request once; a 200 answer is settled item by item here. Returns the verdict on
        the request and its retry label."""
        body = body_of(request.batch)
        request.size = len(body)
        started = time.monotonic()
        try:
            response = await self._client.bulk(body)
        except (EngineUnreachable, EngineRedirected) as exc:
            BULK_REQUESTS.labels("3xx" if isinstance(exc, EngineRedirected) else "error").inc()
            request.reason = str(exc)
            label = failure_reason(exc)
            if label == "connection":
                self._answering.clear()
            if self._health is not None:
                self._health.engine_failed(request.reason)
            sent.pushback = True
            return Verdict.RETRY, label
        BULK_DURATION.observe(time.monotonic() - started)
        BULK_REQUESTS.labels(f"{response.status // 100}xx").inc()
        self._answering.set()
        if self._health is not None:
            self._health.engine_answered()
        request.status = response.status
        verdict, label = classify_request(response.status, sum(len(which) for _, which in request.batch))
        if verdict is not Verdict.DELIVERED:
            request.reason = f"HTTP {response.status}: {response.body[:300].decode('utf-8', 'replace')}"
            sent.pushback = sent.pushback or response.status in (429, 503)
            return verdict, label
        try:
            again, reason, accepted = await self._settle(request.batch, response, sent.tally)
        except NotABulkResponse as exc:
            # A proxy's page or a cut body: nothing is known of the items; send them again.
            excerpt = response.body[:200].decode("utf-8", "replace")
            request.reason = f"HTTP 200 but not a bulk response ({exc}): {excerpt}"
            return Verdict.RETRY, "bad_response"
        if accepted:
            self._pushback.reset()
        if again:
            sent.pushback = True
            await self._hand_back(again, reason, sent)
            if not accepted:  # the engine took nothing: this sender slows down
                await self._wait(self._pushback, "", reason, 0)
        return Verdict.DELIVERED, ""

    async def _hand_back(self, again: Batch, reason: str, sent: Sent) -> None:
        """Items the engine pushed back on: to a later batch, or given up on past the limits."""
        letters: list[DeadLetter] = []
        owners: Owners = []
        for chunk, which in again:
            keep: list[int] = []
            dead = abandon = 0
            for i in which:
                n = chunk.failed(i)
                verdict = self._limits.judge(n)
                if verdict is Verdict.ABANDON:
                    abandon += 1
                elif verdict is Verdict.DEAD:
                    letters.append(DeadLetter(chunk.item(i), 0, f"gave up after {n} attempts: {reason}"))
                    dead += 1
                else:
                    keep.append(i)
            if keep:
                sent.retry.append((chunk, keep))
            if dead:
                owners.append((chunk, dead))
            if abandon:
                sent.tally[Outcome.UNDELIVERED] += abandon
                chunk.abandon(abandon)
        if letters:
            await self._rejected.write(letters, owners, sent.tally)

    async def _give_up(
        self, batch: Batch, verdict: Verdict, failures: int, reason: str, tally: Tally, status: int = 0
    ) -> None:
        """A whole request past the limits (``failures`` attempts), or a document the engine refuses."""
        if verdict is Verdict.ABANDON:
            for chunk, which in batch:
                tally[Outcome.UNDELIVERED] += len(which)
                chunk.abandon(len(which))
            log.error("Giving up on records the engine did not accept", extra={"reason": reason})
            return
        if failures:
            reason = f"gave up after {failures} attempts: {reason}"
        letters = [DeadLetter(chunk.item(i), status, reason) for chunk, which in batch for i in which]
        await self._rejected.write(letters, [(chunk, len(which)) for chunk, which in batch], tally)

    async def _settle(self, pending: Batch, response: BulkResponse, tally: Tally) -> tuple[Batch, str, bool]:
        """Account a 200 answer item by item; return what must be sent again, why, and whether the
        engine accepted anything."""
        if response.all_created:
            self._all_created(pending, tally)
            return [], "", True
        items = settle_items(pending, item_results(response.body))
        tally[Outcome.INDEXED] += items.indexed
        tally[Outcome.ALREADY_PRESENT] += items.present
        RECORDS.labels("indexed").inc(items.indexed)
        RECORDS.labels("already_present").inc(items.present)
        if items.letters:
            await self._rejected.write(items.letters, items.owners, tally)
        if items.indexed or items.present:
            self._delivered()
        return items.retry, items.reason, bool(items.indexed or items.present or items.letters)

    def _all_created(self, pending: Batch, tally: Tally) -> None:
        count = 0
        for chunk, which in pending:
            chunk.delivered(len(which))
            count += len(which)
        tally[Outcome.INDEXED] += count
        RECORDS.labels("indexed").inc(count)
        self._delivered()

    def _backoff(self) -> Backoff:
        return Backoff(*self._delays)

    def _delivered(self) -> None:
        LAST_DELIVERY.set(time.time())
        if self._health is not None:
            self._health.delivered()

    async def _wait(
        self, backoff: Backoff, reason: str, detail: str, size: int, wake: asyncio.Event | None = None
    ) -> None:
        """Sleep the backoff's next delay, or until ``wake`` is set."""
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
        if wake is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()


@dataclass(slots=True)
class _Request:
    """A batch, or part of one after a split, and what its attempts found so far."""

    batch: Batch
    backoff: Backoff
    failures: int = 0  # attempts that did not settle it
    reason: str = ""  # why the last one did not
    status: int = 0  # the last answer's HTTP status
    size: int = 0  # bytes of the last body sent
