"""Writing the documents the engine rejected (or that were given up on) to the dead-letter files,
durably, before their records count as delivered."""

from __future__ import annotations

import asyncio
import logging

from logship.errors import DeadLetterError
from logship.observe.health import HealthState
from logship.observe.metrics import DEAD_LETTER_FULL, DEAD_LETTER_WRITE_FAILURES, RECORDS
from logship.sinks import Outcome, Tally
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sinks.elasticsearch.retry import Backoff

__all__ = ["Owners", "RejectedWriter"]

log = logging.getLogger(__name__)

# The chunks the letters come from, in the letters' order, with how many items of each.
Owners = list[tuple[Chunk, int]]


class RejectedWriter:
    """Writes dead letters until they are durable; reports the files full while a sender waits for
    room in them."""

    def __init__(
        self,
        dead: DeadLetterFile,
        backoff: tuple[float, float],
        health: HealthState | None,
        abandon_after: int,
    ) -> None:
        """``backoff`` is (initial, cap) seconds between attempts; ``abandon_after`` > 0 (replay):
        stop waiting for room after that many rounds and count the records as undelivered."""
        self._dead = dead
        self._backoff = backoff
        self._health = health
        self._abandon_after = abandon_after
        self._full = False
        self._waiting = 0  # senders whose rejected records wait for room in the files

    async def write(self, letters: list[DeadLetter], owners: Owners, tally: Tally) -> None:
        """Write the rejected documents durably, retrying until it works: until then their records
        stay undelivered and their files' positions do not move past them. Past
        `dead_letter.max_bytes` they wait likewise, and the in-flight bound pauses reading."""
        backoff = Backoff(*self._backoff)
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
                tally[Outcome.DEAD_LETTERED] += settled
                RECORDS.labels("dead_lettered").inc(settled)
                if not pending:
                    break
                if not waits:
                    self._waiting += 1
                    self._room_changed()
                waits += 1
                if self._abandon_after and waits > self._abandon_after:
                    # A replay does not wait without end: these records count as not delivered.
                    for chunk, count in owners:
                        chunk.abandon(count)
                    tally[Outcome.UNDELIVERED] += len(pending)
                    break
                await asyncio.sleep(backoff.next_delay())
        finally:
            if waits:
                self._waiting -= 1
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
        full = self._waiting > 0
        if full == self._full:
            return
        self._full = full
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


def _credit(owners: Owners, count: int) -> None:
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
