"""Every request to the engine's nodes, over one ``aiohttp.ClientSession`` per configured cluster.

aiohttp keeps the connections alive, speaks TLS with the configured CA (or unverified, when told)
and skips interim answers (``100 Continue``). Requests go through the proxy that
``HTTPS_PROXY``/``HTTP_PROXY`` name (``NO_PROXY`` excepted), read once per node at start: aiohttp's
own ``trust_env`` would look them (and ~/.netrc) up in a worker thread at every request, which
costs more CPU than the request. What logship adds on top:

* Each request goes to the next node in turn, from a random first one. A node that cannot be
  reached (refused, reset, closed before answering) hands the request on to the next one at once,
  so one dead node among several fails no request: each hand-over counts as a retry (reason
  "connection"), and a node going down or coming back is logged once. Every node failing raises.
  A timeout is not handed on: waiting again elsewhere would multiply the time the setting allows.
* A node that failed rests: for 1 s, doubling with each failure in a row up to 30 s, it is asked
  only after every node awake has failed, so a node that accepts connections and never answers
  costs one timeout per rest rather than one per turn. Its first answer ends the rest.
* Bodies are gzipped (when configured) in a worker thread at a low level, off the event loop.
* Answers are bounded (:mod:`.answers`); a redirect is a configuration error naming its Location.

Failures leave as logship's errors with redacted messages: EngineUnreachable (EngineTimeout,
BadAnswer among them) or EngineRedirected.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
import urllib.request
import zlib
from dataclasses import dataclass

import aiohttp

from logship import __version__
from logship.errors import BadAnswer, ConfigError, EngineRedirected, EngineTimeout, EngineUnreachable
from logship.observe.logs import redact
from logship.observe.metrics import RETRIES
from logship.sinks.elasticsearch.answers import read_bounded

__all__ = ["Answer", "NodeConfig", "NodePool", "tls_context"]

Answer = tuple[int, bytes]  # status, body

log = logging.getLogger(__name__)

USER_AGENT = f"logship/{__version__}"
REST_SECONDS, MAX_REST_SECONDS = 1.0, 30.0
GZIP_LEVEL = 1  # `gzip.compress` defaults to 9: several times the CPU for a few percent less


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One node of `elasticsearch.hosts`: where it is and the headers (credentials) it gets."""

    scheme: str
    host: str
    port: int
    path_prefix: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(slots=True)
class _Node:
    config: NodeConfig
    base: str  # scheme://host:port/prefix
    headers: dict[str, str]
    proxy: str | None
    failures: int = 0  # failed requests in a row: it is down
    resting_until: float = 0.0  # monotonic; asked after the nodes awake until then


def tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            [
                f"setting `elasticsearch.ca_file`: cannot load {ca_file} ({exc}); give the PEM "
                "file of the CA that signed the engine's certificate"
            ]
        ) from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def proxy_for(config: NodeConfig) -> str | None:
    """The proxy the environment names for this node (HTTPS_PROXY or HTTP_PROXY, unless NO_PROXY)."""
    proxies = urllib.request.getproxies_environment()
    if urllib.request.proxy_bypass_environment(config.host, proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(config.scheme)


def _gzip(body: bytes) -> bytes:
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    return packer.compress(body) + packer.flush()


class _Lost(Exception):
    """The connection failed before an answer began: the request may be sent again elsewhere."""


class NodePool:
    """Requests to the nodes of ``configs`` in turn, over one session (created on first use, in
    the running event loop)."""

    def __init__(
        self,
        configs: list[NodeConfig],
        *,
        timeout: float,
        tls: ssl.SSLContext | None,
        compress: bool = False,
        max_answer_bytes: int = 64 << 20,
        label: str = "",
    ) -> None:
        """``label`` names the cluster in errors (the redacted hosts)."""
        self._nodes = [_Node(c, f"{c.name}{c.path_prefix}", dict(c.headers), proxy_for(c)) for c in configs]
        self._next = random.randrange(len(self._nodes))  # so that many shippers do not start on one node
        self._timeout = timeout
        self._tls = tls
        self._compress = compress
        self._max = max_answer_bytes
        self._many = len(self._nodes) > 1
        self._session: aiohttp.ClientSession | None = None
        self._label = label or ", ".join(c.name for c in configs)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._tls if self._tls is not None else True, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # read_bounded decompresses, within the bound
                timeout=aiohttp.ClientTimeout(total=None),  # request() bounds the whole exchange
                headers={"User-Agent": USER_AGENT},
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """Send one request and read its whole (bounded) answer."""
        first = self._next
        self._next = (first + 1) % len(self._nodes)
        if body is not None and self._compress:
            body = await asyncio.to_thread(_gzip, body)
            headers = {**headers, "content-encoding": "gzip"}
        now = time.monotonic()
        turns = [self._nodes[(first + step) % len(self._nodes)] for step in range(len(self._nodes))]
        # The nodes awake in their turn (the sort is stable), then the resting ones, soonest awake first.
        turns.sort(key=lambda node: max(node.resting_until, now))
        problems = []
        for step, node in enumerate(turns):
            if step:
                RETRIES.labels("connection").inc()
            try:
                answer = await self._send(node, method, target, body, headers)
            except _Lost as exc:
                problems.append(f"{node.config.name}: {exc}")
                self._failed(node, str(exc))
                continue
            except EngineTimeout as exc:
                self._failed(node, str(exc))
                raise
            if node.failures and self._many:
                log.warning("Engine node answers again", extra={"node": node.config.name})
            node.failures, node.resting_until = 0, 0.0
            return answer
        raise EngineUnreachable(redact(f"connection: cannot reach {self._label}: " + "; ".join(problems)))

    def _failed(self, node: _Node, error: str) -> None:
        node.failures += 1
        rest = min(MAX_REST_SECONDS, REST_SECONDS * 2 ** min(node.failures - 1, 10))
        node.resting_until = time.monotonic() + rest
        if node.failures == 1 and self._many:
            log.warning(
                "Engine node unreachable; its requests go to the other nodes until it answers",
                extra={"node": node.config.name, "error": error},
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(
        self, node: _Node, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        name = node.config.name
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    return await self._exchange(node, method, target, body, headers)
                except aiohttp.ServerDisconnectedError:
                    # A kept-alive connection the server closed meanwhile: once more, on a new one.
                    return await self._exchange(node, method, target, body, headers)
        except TimeoutError:
            raise EngineTimeout(f"timeout: no answer from {name} in {self._timeout:g} s") from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise EngineUnreachable(redact(f"TLS failure talking to {name}: {exc}")) from exc
        except aiohttp.ClientResponseError as exc:  # the parser's: not HTTP
            raise BadAnswer(f"bad answer: {name} sent an answer that is not HTTP/1.1: {exc.message}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise BadAnswer(f"bad answer: {name} sent a broken body: {exc}") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise _Lost(str(exc) or type(exc).__name__) from exc

    async def _exchange(
        self, node: _Node, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        session = self._open()
        async with session.request(
            method,
            node.base + target,
            data=body,
            headers={**node.headers, **headers},
            allow_redirects=False,
            proxy=node.proxy,
        ) as response:
            if 300 <= response.status < 400:
                location = response.headers.get("Location", "(no Location header)")
                raise EngineRedirected(
                    [
                        redact(
                            f"setting `elasticsearch.hosts`: {node.config.name} answered {method} "
                            f"{target.split('?', 1)[0]} with HTTP {response.status}, a redirect to "
                            f"{location}; logship does not follow redirects: set the URL the engine "
                            "answers at"
                        )
                    ]
                )
            data = await read_bounded(response, self._max, node.config.name)
            return response.status, data
