"""The HTTP endpoints: ``/metrics``, ``/health`` (liveness), ``/health/detailed`` (readiness).

Served by aiohttp on the pipeline's own event loop, deliberately: ``/health`` answering proves
the loop is not blocked, which is what a liveness probe should restart for. Readiness comes from
:class:`HealthState` and answers 503 when a check fails, so Kubernetes and load balancers see it.
"""

from __future__ import annotations

import errno
import ipaddress

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logship.errors import LogshipError
from logship.observe._common import utc_timestamp, version
from logship.observe.health import HealthState
from logship.observe.metrics import REGISTRY

__all__ = ["HttpListenError", "HttpServer", "HttpSettings", "split_listen"]


def split_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6addr]:port"`` -> ``(host, port)``; ValueError if malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, e.g. 127.0.0.1:9611 or [::]:9611, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::]:9611, got {listen!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


class HttpSettings(BaseModel):
    """The ``[http]`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Serve /metrics, /health and /health/detailed.")
    listen: str = Field(
        default="127.0.0.1:9611",
        description=(
            "host:port to listen on ([::]:9611 for IPv6, 0.0.0.0:9611 in a container; "
            "port 0 picks a free port)."
        ),
    )
    engine_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="Readiness fails when the search engine has not answered for this long.",
    )
    stall_seconds: float = Field(
        default=300,
        gt=0,
        description="Readiness fails when bytes wait and nothing was delivered for this long.",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class HttpListenError(LogshipError):
    """The ``[http] listen`` address cannot be bound; ``errno`` is the socket error's."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


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
        self._port: int | None = None

    @property
    def port(self) -> int | None:
        """The bound port (useful with port 0), or None when not running."""
        return self._port

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._liveness)
        app.router.add_get("/health/detailed", self._readiness)
        return app

    async def start(self) -> None:
        if not self._settings.enabled or self._runner is not None:
            return
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpListenError(_listen_advice(self._settings.listen, exc), exc.errno) from exc
        self._runner = runner
        address = runner.addresses[0] if runner.addresses else None
        self._port = int(address[1]) if isinstance(address, tuple) else self._settings.port

    async def stop(self) -> None:
        runner, self._runner, self._port = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

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
