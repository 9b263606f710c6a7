"""The HTTP endpoints: ``/metrics``, ``/health`` (liveness), ``/health/detailed`` (readiness).

Served by aiohttp on the pipeline's own event loop, deliberately: ``/health`` answering proves
the loop is not blocked, which is what a liveness probe should restart for. Readiness comes from
:class:`HealthState` and answers 503 when a check fails, so Kubernetes and load balancers see it.

The endpoints share the process with the pipeline, so no client may starve it: a connection idle
(or sending its request too slowly) for ``idle_timeout_seconds`` is closed, at most
``max_connections`` are open at once, and a connection is never accepted into the last descriptors
of the process (the pipeline needs them for log files and position writes). When either limit is
reached, the oldest idle connection is closed to make room, so a probe still gets its answer.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from logship.errors import LogshipError
from logship.fdlimit import free_descriptors
from logship.observe._common import utc_timestamp, version
from logship.observe.health import HealthState
from logship.observe.httpsettings import HttpSettings, split_listen
from logship.observe.metrics import REGISTRY

__all__ = ["HttpListenError", "HttpServer", "HttpSettings", "split_listen"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpListenError(LogshipError):
    """The ``[http] listen`` address cannot be bound; ``errno`` is the socket error's."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


def _fd_reserve(limit: int) -> int:
    """Descriptors kept free for the pipeline: a quarter of the limit, at most 128."""
    return min(128, limit // 4)


def _abort(transport: asyncio.BaseTransport) -> None:
    # close() would wait for a slow reader to take the buffered answer.
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


class _Connection:
    __slots__ = ("busy", "last", "timer", "transport")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.busy = 0  # requests being handled
        self.last = time.monotonic()  # opened, or last response handed over
        self.timer: asyncio.TimerHandle | None = None


class _Guard:
    """Admits, times out and evicts the server's connections (see the module docstring)."""

    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self._max = max_connections
        self._timeout = idle_timeout
        self._open: dict[asyncio.BaseTransport, _Connection] = {}  # oldest first
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self._reserve = _fd_reserve(soft) if soft != resource.RLIM_INFINITY else 128
        # asyncio accepts up to `backlog` connections per loop iteration, before any evicted one is
        # closed: half the reserve bounds what a burst can take from it.
        self.backlog = max(8, min(64, self._reserve // 2))

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _GuardedProtocol(self, inner())

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        # One eviction per admission: an aborted socket is only closed on the next loop iteration,
        # so counting free descriptors again right away would evict every idle connection.
        if (len(self._open) >= self._max or self._short_of_descriptors()) and not self._evict_oldest_idle():
            return False
        conn = _Connection(transport)
        self._open[transport] = conn
        self._arm(conn, self._timeout)
        return True

    def _short_of_descriptors(self) -> bool:
        free = free_descriptors()
        return free is not None and free < self._reserve

    def _evict_oldest_idle(self) -> bool:
        for conn in self._open.values():
            if not conn.busy:
                self._close(conn)
                return True
        return False

    def _arm(self, conn: _Connection, delay: float) -> None:
        conn.timer = asyncio.get_running_loop().call_later(delay, self._expire, conn)

    def _expire(self, conn: _Connection) -> None:
        if conn.transport not in self._open:
            return
        left = conn.last + self._timeout - time.monotonic()
        if conn.busy or left > 0:
            self._arm(conn, max(left, 0.05) if not conn.busy else self._timeout)
        else:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        self.forget(conn.transport)
        _abort(conn.transport)

    def forget(self, transport: asyncio.BaseTransport) -> None:
        conn = self._open.pop(transport, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()

    def close_all(self) -> None:
        for conn in list(self._open.values()):
            self._close(conn)

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        conn = self._open.get(request.transport) if request.transport is not None else None
        if conn is not None:
            conn.busy += 1
        try:
            return await handler(request)
        finally:
            if conn is not None:
                conn.busy -= 1
                conn.last = time.monotonic()


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's admission and bookkeeping."""

    def __init__(self, guard: _Guard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(transport):
            _abort(transport)
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return  # refused: aiohttp never saw it
        self._guard.forget(self._transport)
        self._inner.connection_lost(exc)


class HttpServer:
    """Runs the endpoints until :meth:`stop`; does nothing when ``enabled`` is false."""

    def __init__(
        self,
        settings: HttpSettings,
        health: HealthState,
        *,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self._settings = settings
        self._health = health
        self._registry = registry
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._guard = _Guard(settings.max_connections, settings.idle_timeout_seconds)
        self._port: int | None = None

    @property
    def port(self) -> int | None:
        """The bound port (useful with port 0), or None when not running."""
        return self._port

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard.middleware])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._liveness)
        app.router.add_get("/health/detailed", self._readiness)
        return app

    async def start(self) -> None:
        if not self._settings.enabled or self._runner is not None:
            return
        timeout = self._settings.idle_timeout_seconds
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, keepalive_timeout=timeout)
        await runner.setup()
        assert runner.server is not None
        try:
            # Not web.TCPSite: every connection goes through the guard first.
            self._listener = await asyncio.get_running_loop().create_server(
                self._guard.protocol_factory(runner.server),
                self._settings.host,
                self._settings.port,
                reuse_address=True,
                backlog=self._guard.backlog,
            )
        except OSError as exc:
            await runner.cleanup()
            raise HttpListenError(_listen_advice(self._settings.listen, exc), exc.errno) from exc
        self._runner = runner
        sockets = self._listener.sockets
        self._port = int(sockets[0].getsockname()[1]) if sockets else self._settings.port

    async def stop(self) -> None:
        runner, self._runner, self._port = self._runner, None, None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if runner is not None:
            await runner.cleanup()
        self._guard.close_all()

    async def _metrics(self, request: web.Request) -> web.Response:
        # Same content negotiation as prometheus_client's own handlers (text or OpenMetrics).
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self._registry), headers={"Content-Type": content_type})

    async def _liveness(self, request: web.Request) -> web.Response:
        body = {"status": "healthy", "timestamp": utc_timestamp(), "version": version()}
        return _json(body, 200)

    async def _readiness(self, request: web.Request) -> web.Response:
        healthy, body = self._health.report()
        return _json(body, 200 if healthy else 503)


def _json(body: object, status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def _listen_advice(listen: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        problem = "the address is already in use (another logship, or another program)"
        advice = "stop that process, or set [http] listen to a free host:port"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        problem = "permission denied"
        advice = "use a port above 1023 in [http] listen"
    elif exc.errno == errno.EADDRNOTAVAIL:
        problem = "no local interface has that address"
        advice = "set [http] listen to an address of this host, or 0.0.0.0"
    else:
        problem = exc.strerror or str(exc)
        advice = "check [http] listen"
    return (
        f"cannot listen on [http] listen = {listen!r}: {problem}; {advice} "
        "(or set [http] enabled = false to run without metrics and health endpoints)"
    )
