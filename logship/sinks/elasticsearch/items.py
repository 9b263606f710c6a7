"""A bulk answer of 200, item by item: what the engine holds, what goes out again, what it refused.

Items the engine took (201, or 409: already present) are credited to their chunks at once; items it
pushed back on (429, 5xx, and 403/404, which speak of the index) are to be sent again; the others
become dead letters, credited only once the dead-letter file holds them (the caller writes them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logship.observe.metrics import RETRIES
from logship.sinks.batcher import Batch
from logship.sinks.elasticsearch.bulk import ItemResult
from logship.sinks.elasticsearch.deadletter import DeadLetter
from logship.sinks.elasticsearch.rejected import Owners
from logship.sinks.elasticsearch.retry import Verdict, classify_item, item_retry_reason

__all__ = ["SettledItems", "settle_items"]


@dataclass(slots=True)
class SettledItems:
    retry: Batch = field(default_factory=list)  # items to send again, per chunk
    letters: list[DeadLetter] = field(default_factory=list)
    owners: Owners = field(default_factory=list)  # dead letters per chunk, credited once durable
    indexed: int = 0
    present: int = 0
    reason: str = ""  # why the last item to send again was pushed back


def settle_items(pending: Batch, results: list[ItemResult]) -> SettledItems:
    """Sort the items of ``pending`` by their ``results`` (in request order)."""
    out = SettledItems()
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
                out.reason = "missing from the bulk response"
                RETRIES.labels("bad_response").inc()
                continue
            status, why = results[i]
            i += 1
            verdict = classify_item(status)
            if verdict is Verdict.DELIVERED:
                done += 1
                if status == 409:
                    out.present += 1
                else:
                    out.indexed += 1
            elif verdict is Verdict.RETRY:
                again.append(item)
                out.reason = f"item {status}: {why}"
                RETRIES.labels(item_retry_reason(status)).inc()
            else:
                out.letters.append(DeadLetter(chunk.item(item), status, why or f"status {status}"))
                dead += 1
        if done:
            chunk.delivered(done)
        if dead:
            out.owners.append((chunk, dead))
        if again:
            out.retry.append((chunk, again))
    return out
