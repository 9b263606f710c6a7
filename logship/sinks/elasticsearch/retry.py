"""What to do with a failed request or item, and how long to wait before trying again."""

from __future__ import annotations

import random
from enum import Enum

from logship.errors import BadAnswer, EngineRedirected, EngineTimeout, EngineUnreachable
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk

__all__ = [
    "Backoff",
    "Limits",
    "Verdict",
    "classify_item",
    "classify_request",
    "failure_reason",
    "halves",
    "item_retry_reason",
]


class Verdict(Enum):
    """What the sink does with a request or an item; decided here, acted on in the sink."""

    DELIVERED = "delivered"
    RETRY = "retry"  # a whole request again after a backoff; an item in a later batch
    DEAD = "dead"  # to the dead-letter file
    SPLIT = "split"  # the request in halves, each sent on its own
    ABANDON = "abandon"  # given up on, not delivered (replay only): positions never pass it


def classify_item(status: int) -> Verdict:
    """201 created and 409 (already indexed by an earlier attempt) are delivered; 429/5xx retried,
    and so are 403 and 404: for a ``create`` they speak of the index, not the document (no such
    index, as a cluster answers while it recovers its state or when it may not create indices; a
    write block; a missing privilege). Once the cluster or an operator clears that, the same
    document is accepted, so it is kept in the pipeline rather than dead-lettered."""
    if status in (200, 201, 409):
        return Verdict.DELIVERED
    if status in (403, 404, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.DEAD


def item_retry_reason(status: int) -> str:
    """The retry reason label of an item ``classify_item`` retries."""
    if status == 429:
        return "item_429"
    return "item_4xx" if status < 500 else "item_5xx"


def classify_request(status: int, items: int) -> tuple[Verdict, str]:
    """Verdict on a whole bulk response of ``items`` items, and the retry reason label.

    A 413 or 400 splits the request until the offending document stands alone, and that one is
    dead-lettered: the engine refuses the document, not the moment."""
    if status == 200:
        return Verdict.DELIVERED, ""
    if status in (400, 413):
        label = "http_413" if status == 413 else "http_4xx"
        return (Verdict.SPLIT if items > 1 else Verdict.DEAD), label
    if status == 429:
        return Verdict.RETRY, "http_429"
    if status >= 500:
        return Verdict.RETRY, "http_5xx"
    # 401/403/404 and the like: an operator must fix credentials or the URL; nothing is dropped meanwhile.
    return Verdict.RETRY, "http_4xx"


class Limits:
    """`delivery.max_retries` and a replay's attempt limit, applied alike to requests and items."""

    def __init__(self, max_retries: int, abandon_after: int) -> None:
        self.max_retries = max_retries
        self.abandon_after = abandon_after

    def judge(self, failures: int) -> Verdict:
        """RETRY while within the limits; past a replay's limit ABANDON, past `max_retries` DEAD."""
        if self.abandon_after and failures > self.abandon_after:
            return Verdict.ABANDON
        if self.max_retries and failures > self.max_retries:
            return Verdict.DEAD
        return Verdict.RETRY


class Backoff:
    """Exponential backoff with jitter: initial * 2^n, capped, each delay drawn from [d/2, d]."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial = initial
        self._cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self._cap, self._initial * (2 ** min(self.failures, 30)))
        self.failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


def failure_reason(exc: EngineUnreachable | EngineRedirected) -> str:
    """The retry label of a request that got no usable answer."""
    if isinstance(exc, EngineRedirected):
        return "http_3xx"  # a configuration error: retried until the operator fixes the URL
    if isinstance(exc, BadAnswer):
        return "bad_response"
    return "timeout" if isinstance(exc, EngineTimeout) else "connection"


def halves(batch: Batch) -> tuple[Batch, Batch]:
    """A batch split in two (the ``SPLIT`` verdict), its items in order."""
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
