"""Delivering batches: send, classify each item, retry only what failed, dead-letter the rest.

Whole-request failures (no answer, 429, 5xx) are retried with backoff and jitter, without limit
by default, while the readers stay paused by the in-flight bound. A 413 or 400 splits the batch
until the offending document stands alone. Per-item 429/5xx are re-sent on their own; other 4xx
go to the dead-letter file with the engine's reason. A record counts as delivered only when the
engine holds it or the dead-letter file does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from logship.acks import Chunk
from logship.errors import DeadLetterError, EngineUnreachable
from logship.observe.health import HealthState
from logship.observe.metrics import BULK_DURATION, BULK_REQUESTS, LAST_DELIVERY, RECORDS, RETRIES
from logship.settings import DeliverySettings
from logship.sink.batcher import Batch, body_of
from logship.sink.bulk import BulkClient, BulkResponse, item_results
from logship.sink.deadletter import DeadLetter, DeadLetterFile
from logship.sink.retry import Backoff, Verdict, classify_item, classify_request

__all__ = ["BulkSink", "Tally"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Tally:
    """Records by outcome, for the replay summary (the metrics hold the same for `run`)."""

    indexed: int = 0
    already_present: int = 0
    dead_lettered: int = 0
    undelivered: int = 0


class BulkSink:
    """Sends batches from a queue until it receives ``None``."""

    def __init__(
        self,
        client: BulkClient,
        dead_letters: DeadLetterFile,
        settings: DeliverySettings,
        health: HealthState | None,
        *,
        abandon_after: int = 0,
    ) -> None:
        """``abandon_after`` > 0 (replay): after that many failed attempts, stop trying and count
        the records as undelivered instead of waiting for the engine without end."""
        self._abandon_after = abandon_after
        self._client = client
        self._dead = dead_letters
        self._settings = settings
        self._health = health
        self.tally = Tally()
        self._last_warning = 0.0

    async def run(self, batches: asyncio.Queue[Batch | None]) -> None:
        while (batch := await batches.get()) is not None:
            await self.deliver(batch)

    async def deliver(self, batch: Batch) -> None:
        backoff = Backoff(self._settings.retry_initial_seconds, self._settings.retry_max_seconds)
        attempts = 0
        pending = batch
        last_reason = ""
        while pending:
            attempts += 1
            if self._abandon_after and attempts > self._abandon_after + 1:
                for chunk, which in pending:
                    self.tally.undelivered += len(which)
                    chunk.abandon(len(which))
                log.error("Giving up on records the engine did not accept", extra={"reason": last_reason})
                return
            limit = self._settings.max_retries
            if limit and attempts > limit + 1:
                await self._dead_letter_all(
                    pending, 0, f"gave up after {attempts - 1} attempts: {last_reason}"
                )
                return
            body = body_of(pending)
            started = time.monotonic()
            try:
                response = await self._client.bulk(body)
            except EngineUnreachable as exc:
                BULK_REQUESTS.labels("error").inc()
                reason = "timeout" if str(exc).startswith("timeout") else "connection"
                last_reason = str(exc)
                if self._health is not None:
                    self._health.engine_failed(last_reason)
                await self._wait(backoff, reason, last_reason, len(body))
                continue
            BULK_DURATION.observe(time.monotonic() - started)
            BULK_REQUESTS.labels(f"{response.status // 100}xx").inc()
            if self._health is not None:
                self._health.engine_answered()
            verdict, reason = classify_request(response.status)
            if verdict is Verdict.DELIVERED:
                pending, last_reason = await self._settle(pending, response)
                if pending:
                    await self._wait(backoff, "", last_reason, 0)
                continue
            last_reason = f"HTTP {response.status}: {response.body[:300].decode('utf-8', 'replace')}"
            if response.status in (400, 413):
                total = sum(len(which) for _, which in pending)
                if total == 1:
                    RETRIES.labels(reason).inc()
                    await self._dead_letter_all(pending, response.status, last_reason)
                    return
                RETRIES.labels(reason).inc()
                first, second = _halves(pending)
                await self.deliver(first)
                pending = second
                continue
            await self._wait(backoff, reason, last_reason, len(body))

    async def _settle(self, pending: Batch, response: BulkResponse) -> tuple[Batch, str]:
        """Account a 200 answer item by item; return what must be sent again and why."""
        if response.all_created:
            count = 0
            for chunk, which in pending:
                chunk.delivered(len(which))
                count += len(which)
            self.tally.indexed += count
            RECORDS.labels("indexed").inc(count)
            self._delivered()
            return [], ""
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
                status, why = results[i] if i < len(results) else (0, "missing from the bulk response")
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
                    RETRIES.labels("item_429" if status == 429 else "item_5xx").inc()
                else:
                    letters.append(DeadLetter(chunk.item(item), status, why or f"status {status}"))
                    dead += 1
            if done:
                chunk.delivered(done)
            if dead:
                owners.append((chunk, dead))
            if again:
                retry.append((chunk, again))
        self.tally.indexed += indexed
        self.tally.already_present += present
        RECORDS.labels("indexed").inc(indexed)
        RECORDS.labels("already_present").inc(present)
        if letters:
            await self._write_dead(letters, owners)
        if indexed or present:
            self._delivered()
        return retry, last_reason

    async def _dead_letter_all(self, pending: Batch, status: int, reason: str) -> None:
        letters = [DeadLetter(chunk.item(i), status, reason) for chunk, which in pending for i in which]
        await self._write_dead(letters, [(chunk, len(which)) for chunk, which in pending])

    async def _write_dead(self, letters: list[DeadLetter], owners: list[tuple[Chunk, int]]) -> None:
        backoff = Backoff(self._settings.retry_initial_seconds, self._settings.retry_max_seconds)
        while True:
            try:
                self._dead.write(letters)
                break
            except DeadLetterError as exc:
                log.error("Cannot write the dead-letter file; retrying", extra={"error": str(exc)})
                await asyncio.sleep(backoff.next_delay())
        for letter in letters[:3]:
            log.warning(
                "Document rejected by the engine, written to the dead-letter file",
                extra={
                    "status": letter.status,
                    "reason": letter.reason,
                    "dead_letter_file": str(self._dead.path),
                },
            )
        for chunk, count in owners:
            chunk.delivered(count)
        self.tally.dead_lettered += len(letters)
        RECORDS.labels("dead_lettered").inc(len(letters))

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
