"""A fault-injecting HTTP proxy in front of a REAL search engine.

Everything is forwarded unchanged, except that ``POST /_bulk`` (and ``/<index>/_bulk``) can be
made to fail in the two ways a busy node fails and a test node cannot be made to fail on demand:

* item-level rejections: a random share (``item_reject_ratio``) of the bulk items is answered
  ``429 es_rejected_execution_exception`` without reaching the engine; the other items are
  forwarded, and the engine's answers are merged back in the original item order;
* whole-request bursts: the next N bulk requests are answered 429 or 503 outright (``burst``).

It also cuts the engine off and slows it down, as an outage and a busy engine do, on demand:

* ``cut()`` stops listening (new connections are refused) and resets the connections already open
  at their next request; ``restore()`` listens again on the same port;
* ``throttle(bytes_per_second)`` forwards the bulk bodies (as the engine receives them, decompressed)
  at that rate at most, in the order they arrived: a slow engine, not a failing one.

``observe``, when given, is called with each bulk request's items and the engine's answer to each,
once answered (the time an item became indexed, and so searchable within a refresh interval).

This is the one stub the chaos tests allow: a real node produces item-level 429s only under a
load that cannot be summoned in a test. The proxy counts what it did (``stats``).

In a test::

    with FaultProxy(upstream=engine.url, item_reject_ratio=0.2) as proxy:
        proxy.burst(503, 3)
        ... point logship at proxy.url ...
        assert proxy.stats()["items_rejected"] > 0

It runs its own event loop in a background thread, so a synchronous test drives it directly.
It can also run on its own (``python faultproxy.py --upstream URL --port N``) and is then
controlled over HTTP: ``GET /_faultproxy/stats``, ``POST /_faultproxy/config`` with
``{"item_reject_ratio": 0.2}`` and/or ``{"burst": {"status": 503, "count": 3}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["FaultProxy"]

# Headers that describe one hop or the body's framing; the proxy sets its own.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
    }
)
# Bulk actions followed by a source line; `delete` is not.
_WITH_SOURCE = frozenset({"index", "create", "update"})
# observe(items, answered_at): each item's lines (action, source) and the status the engine gave it.
Observer = Callable[[list[tuple[list[bytes], int]], float], None]
_BURST_ERRORS = {
    429: {"type": "es_rejected_execution_exception", "reason": "injected: rejected execution (burst)"},
    503: {"type": "unavailable_shards_exception", "reason": "injected: service unavailable (burst)"},
}


class FaultProxy:
    """The proxy; ``start``/``stop`` (or a ``with`` block) run it in a background thread."""

    def __init__(
        self,
        upstream: str,
        *,
        item_reject_ratio: float = 0.0,
        seed: int = 4,
        host: str = "127.0.0.1",
        port: int = 0,
        interim: bool = False,
        observe: Observer | None = None,
    ) -> None:
        """``interim``: write ``HTTP/1.1 100 Continue`` before every answer, as some proxies and
        servers do (unasked, or to a client that sent ``Expect: 100-continue``)."""
        self.upstream = upstream.rstrip("/")
        self.interim = interim
        self.observe = observe
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._ratio = item_reject_ratio
        self._bursts: list[int] = []  # statuses of the next whole-request failures, in order
        self._random = random.Random(seed)
        self._counts: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._site: web.TCPSite | None = None
        self._down = False
        self._bucket = _Bucket()

    # -- control (thread-safe) -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def item_reject_ratio(self) -> float:
        with self._lock:
            return self._ratio

    @item_reject_ratio.setter
    def item_reject_ratio(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"item_reject_ratio must be within [0, 1], not {ratio}")
        with self._lock:
            self._ratio = ratio

    def burst(self, status: int, count: int) -> None:
        """Answer the next ``count`` bulk requests (after bursts already queued) with ``status``."""
        if status not in _BURST_ERRORS:
            raise ValueError(f"burst status must be one of {sorted(_BURST_ERRORS)}")
        with self._lock:
            self._bursts.extend([status] * count)

    def clear_bursts(self) -> None:
        """Forward the bulk requests again (ends an outage made of bursts)."""
        with self._lock:
            self._bursts.clear()

    def cut(self) -> None:
        """The engine becomes unreachable: connections refused, open ones reset."""
        with self._lock:
            self._down = True
        self._call(self._close_site())

    def restore(self) -> None:
        """The engine is reachable again (through the same port)."""
        self._call(self._open_site())
        with self._lock:
            self._down = False

    def throttle(self, bytes_per_second: float) -> None:
        """Forward at most this many bulk body bytes per second; 0 lifts the limit."""
        self._bucket.rate = bytes_per_second

    def _call(self, coro: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def bursts_pending(self) -> int:
        with self._lock:
            return len(self._bursts)

    def stats(self) -> dict[str, int]:
        """requests, bulk_requests, bulk_items, items_forwarded, items_rejected, burst_429, burst_503, ..."""
        with self._lock:
            return dict(self._counts)

    def _count(self, **deltas: int) -> None:
        with self._lock:
            self._counts.update(deltas)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._serve, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fault proxy did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"the fault proxy did not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if (
            self._loop is not None
            and self._stopping is not None
            and self._thread is not None
            and self._thread.is_alive()
        ):
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = stopping = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=True, timeout=aiohttp.ClientTimeout(total=120))
        app = web.Application(client_max_size=1024**3)
        app.router.add_get("/_faultproxy/stats", self._stats_handler)
        app.router.add_post("/_faultproxy/config", self._config_handler)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        try:
            await self._runner.setup()
            await self._open_site()
            self.port = int(self._runner.addresses[0][1])
            self._ready.set()
            await stopping.wait()
        finally:
            await self._runner.cleanup()
            await self._session.close()

    async def _open_site(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()

    async def _close_site(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    # -- handlers --------------------------------------------------------------------------

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _config_handler(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "item_reject_ratio" in data:
            self.item_reject_ratio = float(data["item_reject_ratio"])
        if "burst" in data:
            self.burst(int(data["burst"]["status"]), int(data["burst"]["count"]))
        return web.json_response(
            {"item_reject_ratio": self.item_reject_ratio, "bursts_pending": self.bursts_pending()}
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._count(requests=1)
        with self._lock:
            down = self._down
        if down and request.transport is not None:  # reset, as a host whose engine died does
            sock = request.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            request.transport.abort()
            self._count(connections_reset=1)
            return web.Response(status=503)  # never sent: the connection is gone
        body = await request.read()
        if self.interim and request.transport is not None:
            request.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._count(interim_answers=1)
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        if request.method == "POST" and request.path.rstrip("/").endswith("/_bulk"):
            return await self._bulk(request, body)
        status, headers, payload = await self._forward(request, body)
        return web.Response(status=status, headers=headers, body=payload)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.raw_path_qs,
            headers=headers,
            # A file-like body: aiohttp warns (an error under pytest) when handed a large bytes body.
            data=io.BytesIO(body) if body else None,
        ) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
            return resp.status, out, payload

    async def _bulk(self, request: web.Request, body: bytes) -> web.StreamResponse:
        self._count(bulk_requests=1)
        with self._lock:
            burst = self._bursts.pop(0) if self._bursts else None
        if burst is not None:
            self._count(**{f"burst_{burst}": 1})
            return web.json_response(
                {"error": {**_BURST_ERRORS[burst], "root_cause": [_BURST_ERRORS[burst]]}, "status": burst},
                status=burst,
            )
        items = _split_items(body)
        with self._lock:
            ratio = self._ratio
            rejected = [ratio > 0 and self._random.random() < ratio for _ in items]
        self._count(bulk_items=len(items))
        await self._bucket.take(len(body))
        if not any(rejected):
            self._count(items_forwarded=len(items))
            status, headers, payload = await self._forward(request, body)
            if status == 200 and self.observe is not None:
                self.observe(_answered(items, json.loads(payload)["items"]), time.time())
            return web.Response(status=status, headers=headers, body=payload)
        started = time.monotonic()
        forward = [item for item, no in zip(items, rejected, strict=True) if not no]
        answers: list[dict[str, Any]] = []
        took = 0
        if forward:
            status, headers, payload = await self._forward(
                request, b"".join(line for item in forward for line in item)
            )
            if status != 200:  # nothing to merge into: pass the engine's answer on as it is
                self._count(items_forwarded=len(forward))
                return web.Response(status=status, headers=headers, body=payload)
            data = json.loads(payload)
            answers = data["items"]
            took = int(data.get("took", 0))
            if len(answers) != len(forward):
                raise web.HTTPBadGateway(text=f"engine answered {len(answers)} items for {len(forward)}")
        self._count(items_forwarded=len(forward), items_rejected=len(items) - len(forward))
        merged: list[dict[str, Any]] = []
        answered = iter(answers)
        for item, no in zip(items, rejected, strict=True):
            if no:
                action, meta = _action_of(item[0])
                merged.append(
                    {
                        action: {
                            "_index": meta.get("_index"),
                            "_id": meta.get("_id"),
                            "status": 429,
                            "error": {"type": "es_rejected_execution_exception", "reason": "injected"},
                        }
                    }
                )
            else:
                merged.append(next(answered))
        took = max(took, int((time.monotonic() - started) * 1000))
        if self.observe is not None:
            self.observe(_answered(items, merged), time.time())
        return web.json_response({"errors": True, "took": took, "items": merged})


class _Bucket:
    """A token bucket of bytes per second (0: no limit), taken in turn by the waiting requests."""

    def __init__(self) -> None:
        self.rate = 0.0
        self._level = 0.0
        self._stamp = time.monotonic()
        self._turn: asyncio.Lock | None = None

    async def take(self, n: int) -> None:
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            rate, now = self.rate, time.monotonic()
            if rate <= 0:
                self._level, self._stamp = 0.0, now
                return
            # At most a tenth of a second's worth saved up: a burst is not a faster engine.
            self._level = min(rate / 10, self._level + (now - self._stamp) * rate) - n
            self._stamp = now
            if self._level < 0:
                await asyncio.sleep(-self._level / rate)


def _answered(items: list[list[bytes]], answers: list[dict[str, Any]]) -> list[tuple[list[bytes], int]]:
    return [(item, int(next(iter(a.values()))["status"])) for item, a in zip(items, answers, strict=True)]


def _split_items(body: bytes) -> list[list[bytes]]:
    """The bulk body as items: [action line] or [action line, source line], newlines kept."""
    lines = [line + b"\n" for line in body.split(b"\n") if line.strip()]
    items: list[list[bytes]] = []
    i = 0
    while i < len(lines):
        action, _ = _action_of(lines[i])
        n = 2 if action in _WITH_SOURCE else 1
        items.append(lines[i : i + n])
        i += n
    return items


def _action_of(line: bytes) -> tuple[str, dict[str, Any]]:
    data = json.loads(line)
    action = next(iter(data))
    meta = data[action]
    return action, meta if isinstance(meta, dict) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="URL of the real search engine")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--item-reject-ratio", type=float, default=0.0)
    args = parser.parse_args()
    proxy = FaultProxy(args.upstream, item_reject_ratio=args.item_reject_ratio, port=args.port).start()
    print(proxy.url, flush=True)
    try:
        while proxy._thread is not None and proxy._thread.is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
