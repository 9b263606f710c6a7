"""In-process stand-ins for the engine and for a sink, for unit tests that need no search engine.

``FakeTransport`` implements ``logship.sinks.elasticsearch.bulk.Transport``: each bulk body goes to
a handler (body -> ``BulkResponse``, or raises ``EngineUnreachable``/``EngineTimeout``) and is
recorded, the way httpx tests script a ``MockTransport``. A ``Gate`` holds chosen requests in
flight until the test releases them. ``RecordingSink`` implements ``logship.sinks.Sink`` and keeps
every document it was sent.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from logship import document
from logship.block import Events, Finished
from logship.errors import EngineTimeout, EngineUnreachable
from logship.sinks import LocalSink, Outcome, Sent, Tally
from logship.sinks.batcher import Batch, body_of
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import BulkResponse

__all__ = [
    "FakeTransport",
    "Gate",
    "Handler",
    "RecordingSink",
    "all_created",
    "bulk_items",
    "documents",
    "ids",
    "per_item",
    "raising",
    "refused",
    "sequence",
    "timed_out",
    "whole_request",
]

# A request body in, the engine's answer out (or an exception: no answer).
Handler = Callable[[bytes], BulkResponse | Awaitable[BulkResponse]]


def bulk_items(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (action, document) pairs of an NDJSON bulk body, in order."""
    lines = body.splitlines()
    pairs = []
    for i in range(0, len(lines), 2):
        action: dict[str, Any] = orjson.loads(lines[i])["create"]
        doc: dict[str, Any] = orjson.loads(lines[i + 1])
        pairs.append((action, doc))
    return pairs


def ids(body: bytes) -> list[str]:
    """The document ids of a bulk body, in order."""
    return [str(action["_id"]) for action, _ in bulk_items(body)]


def documents(body: bytes) -> list[dict[str, Any]]:
    """The documents of a bulk body, in order."""
    return [doc for _, doc in bulk_items(body)]


def _answer(body: bytes, status_of: Callable[[int, dict[str, Any]], int]) -> BulkResponse:
    items = []
    for n, (action, _) in enumerate(bulk_items(body)):
        status = status_of(n, action)
        result: dict[str, Any] = {"_index": action["_index"], "_id": action["_id"], "status": status}
        if status >= 300:
            result["error"] = {"type": "fake_exception", "reason": f"status {status} for {action['_id']}"}
        items.append({"create": result})
    errors = any(item["create"]["status"] >= 300 for item in items)
    return BulkResponse(200, orjson.dumps({"errors": errors, "took": 1, "items": items}))


def all_created(body: bytes) -> BulkResponse:
    """200, every item 201 created (the answer whose items the sink does not parse)."""
    return _answer(body, lambda _n, _action: 201)


def per_item(status_of: Callable[[int, dict[str, Any]], int]) -> Handler:
    """200 with each item's status from ``status_of(position in the request, action)``."""
    return lambda body: _answer(body, status_of)


def whole_request(status: int, body: bytes = b'{"error":"fake"}') -> Handler:
    """The whole request answered with ``status`` (429, 5xx, 413, 401...)."""
    return lambda _body: BulkResponse(status, body)


def raising(exc: EngineUnreachable) -> Handler:
    """No answer: raise ``exc`` (an ``EngineTimeout`` is a timeout, any other a refused connection)."""

    def handler(_body: bytes) -> BulkResponse:
        raise exc

    return handler


def refused() -> Handler:
    return raising(EngineUnreachable("connection: cannot reach the fake engine"))


def timed_out() -> Handler:
    return raising(EngineTimeout("timeout: no answer from the fake engine in time"))


def sequence(*handlers: Handler) -> Handler:
    """The n-th request goes to ``handlers[n]``; the last one answers every request after."""
    calls = 0

    def handler(body: bytes) -> BulkResponse | Awaitable[BulkResponse]:
        nonlocal calls
        calls += 1
        return handlers[min(calls, len(handlers)) - 1](body)

    return handler


class Gate:
    """Holds the requests ``hold(body)`` picks until ``open()``; ``held`` counts those waiting."""

    def __init__(self, then: Handler = all_created, hold: Callable[[bytes], bool] = lambda _: True) -> None:
        self._then = then
        self._hold = hold
        self._opened = asyncio.Event()
        self._changed = asyncio.Condition()
        self.held = 0

    def open(self) -> None:
        self._opened.set()

    async def wait_held(self, n: int = 1) -> None:
        """Until at least ``n`` requests are held."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.held >= n)

    async def __call__(self, body: bytes) -> BulkResponse:
        if self._hold(body) and not self._opened.is_set():
            async with self._changed:
                self.held += 1
                self._changed.notify_all()
            try:
                await self._opened.wait()
            finally:
                self.held -= 1
        result = self._then(body)
        return await result if inspect.isawaitable(result) else result


class FakeTransport:
    """The sink's view of the engine, answered in-process by ``handler``; records every request."""

    def __init__(self, handler: Handler = all_created) -> None:
        self.handler = handler
        self.requests: list[bytes] = []  # bodies in the order they were sent
        self.answered: list[bytes] = []  # bodies answered (not raised on), in the order answered
        self.info_calls = 0
        self.closed = False
        self._changed = asyncio.Condition()

    async def bulk(self, body: bytes) -> BulkResponse:
        body = bytes(body)
        self.requests.append(body)
        await self._notify()
        result = self.handler(body)
        response = await result if inspect.isawaitable(result) else result
        self.answered.append(body)
        await self._notify()
        return response

    async def info(self) -> BulkResponse:
        self.info_calls += 1
        return BulkResponse(200, b'{"name":"fake","version":{"number":"9.5.3"}}')

    async def close(self) -> None:
        self.closed = True

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, re-checked after each request sent or answered."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def answered_ids(self) -> list[str]:
        return [i for body in self.answered for i in ids(body)]

    def sent_ids(self) -> list[str]:
        return [i for body in self.requests for i in ids(body)]


class RecordingSink(LocalSink):
    """A ``Sink`` that keeps each document it is sent, as JSON, and delivers it at once.

    With a ``gate``, every ``send`` waits for it first: the batches stay in flight meanwhile.
    """

    def __init__(self, concurrency: int = 1, gate: asyncio.Event | None = None) -> None:
        self.concurrency = concurrency
        self.destination = "a list"
        self.gate = gate
        self.batches: list[list[bytes]] = []
        self.closed = False

    def encode(self, events: Events | Finished) -> Chunk:
        return Chunk([doc + b"\n" for doc in document.documents(events)], events.ack)

    async def send(self, batch: Batch) -> Sent:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append(body_of(batch).splitlines())
        count = 0
        for chunk, which in batch:
            chunk.delivered(len(which))
            count += len(which)
        return Sent(Tally({Outcome.INDEXED: count}))

    async def describe(self) -> str:
        return "a recording sink"

    async def close(self) -> None:
        self.closed = True

    def documents(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for lines in self.batches for line in lines]
