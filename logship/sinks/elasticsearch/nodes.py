"""Keep-alive HTTP/1.1 to the engine's nodes, for the bulk path: one request, its whole answer.

Each request goes to the next node in turn, from a random first one. A node that cannot be
reached (refused, reset, closed before answering) hands the request on to the next one at once, so
one dead node among several fails no request: each hand-over counts as a retry (reason
"connection"), and a node going down or coming back is logged once. Every node failing raises. A
timeout is not handed on: waiting again elsewhere would multiply the time the setting allows.

A node that failed rests: for 1 s, doubling with each failure in a row up to 30 s, it is asked
only after every node awake has failed, so a node that accepts connections and never answers costs
one timeout per rest rather than one per turn. Its first answer ends the rest.

Why not aiohttp under elastic_transport, as the admin client does: at one 280 KB bulk request a
second they cost about 1.1 ms of CPU per request against 0.45 ms here, a sixth of all the work of
logship following files written at 1,000 records/s. What is kept of them: TLS with the configured
CA (or unverified, when told), each node's credentials and path prefix, gzip bodies, one timeout
per request, chunked and gzip answers, a kept-alive connection closed by the server meanwhile.

Failures are raised as elastic_transport's errors, so that ``bulk.no_answer`` alone turns them
into logship's, for this client and the admin client alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import ssl
import time
import zlib
from dataclasses import dataclass, field

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, NodeConfig, TlsError, TransportError

from logship import __version__
from logship.errors import ConfigError
from logship.observe.metrics import RETRIES

__all__ = ["Answer", "NodePool"]

Answer = tuple[int, bytes]  # status, body

log = logging.getLogger(__name__)

_USER_AGENT = f"logship/{__version__}"

REST_SECONDS, MAX_REST_SECONDS = 1.0, 30.0  # as elastic_transport's dead-node backoff


class _Lost(Exception):
    """The connection failed before an answer began: the request may be sent again elsewhere."""


@dataclass(slots=True)
class _Node:
    config: NodeConfig
    tls: ssl.SSLContext | None
    head: bytes  # the Host and credential header lines of every request to this node
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    failures: int = 0  # failed requests in a row: it is down
    resting_until: float = 0.0  # monotonic; asked after the nodes awake until then

    @property
    def name(self) -> str:
        return f"{self.config.scheme}://{self.config.host}:{self.config.port}"


def _tls_context(config: NodeConfig) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=config.ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            [
                f"setting `elasticsearch.ca_file`: cannot load {config.ca_certs} ({exc}); give the PEM "
                "file of the CA that signed the engine's certificate"
            ]
        ) from exc
    if not config.verify_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _node(config: NodeConfig) -> _Node:
    host = f"[{config.host}]" if ":" in config.host else config.host
    lines = [f"Host: {host}:{config.port}", f"User-Agent: {_USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in config.headers.items()]
    head = "".join(line + "\r\n" for line in lines).encode("latin-1")
    return _Node(config, _tls_context(config) if config.scheme == "https" else None, head)


class NodePool:
    """Requests to the nodes of ``configs`` in turn, each over a kept-alive connection."""

    def __init__(self, configs: list[NodeConfig]) -> None:
        self._nodes = [_node(c) for c in configs]
        self._next = random.randrange(len(self._nodes))  # so that many shippers do not start on one node
        self._compress = configs[0].http_compress  # one setting for all nodes
        self._many = len(self._nodes) > 1

    async def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """Send one request; raises elastic_transport's ConnectionError, ConnectionTimeout or
        TlsError when no node answered, TransportError when an answer was not HTTP."""
        first = self._next
        self._next = (first + 1) % len(self._nodes)
        if body is not None and self._compress:
            body, headers = gzip.compress(body), {**headers, "content-encoding": "gzip"}
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
                problems.append(f"{node.name}: {exc}")
                self._failed(node, str(exc))
                continue
            except ConnectionTimeout as exc:
                self._failed(node, str(exc))
                raise
            if node.failures and self._many:
                log.warning("Engine node answers again", extra={"node": node.name})
            node.failures, node.resting_until = 0, 0.0
            return answer
        raise TransportConnectionError("; ".join(problems))

    def _failed(self, node: _Node, error: str) -> None:
        node.failures += 1
        rest = min(MAX_REST_SECONDS, REST_SECONDS * 2 ** min(node.failures - 1, 10))
        node.resting_until = time.monotonic() + rest
        if node.failures == 1 and self._many:
            log.warning(
                "Engine node unreachable; its requests go to the other nodes until it answers",
                extra={"node": node.name, "error": error},
            )

    async def close(self) -> None:
        """Close the idle connections (the ones in use close when their request ends)."""
        for node in self._nodes:
            while node.idle:
                _, writer = node.idle.pop()
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()

    async def _send(
        self, node: _Node, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        config = node.config
        lines = [f"{method} {config.path_prefix}{target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n" + node.head + b"\r\n"
        try:
            async with asyncio.timeout(config.request_timeout):
                # A kept-alive connection the server closed meanwhile fails before any answer: the
                # request then goes once more over a new connection to the same node.
                while node.idle:
                    reader, writer = node.idle.pop()
                    if reader.at_eof() or writer.is_closing():
                        writer.close()
                        continue
                    try:
                        return await _exchange(node, reader, writer, head, body)
                    except _Lost:
                        break
                reader, writer = await _connect(node)
                return await _exchange(node, reader, writer, head, body)
        except TimeoutError:
            raise ConnectionTimeout(f"no answer from {node.name} in {config.request_timeout:g} s") from None


async def _connect(node: _Node) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    config = node.config
    try:
        return await asyncio.open_connection(
            config.host, config.port, ssl=node.tls, server_hostname=config.host if node.tls else None
        )
    except ssl.SSLError as exc:
        raise TlsError(f"{node.name}: {exc}") from exc
    except OSError as exc:
        raise _Lost(exc.strerror or str(exc)) from exc


async def _exchange(
    node: _Node,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    head: bytes,
    body: bytes | None,
) -> Answer:
    """Write the request, read its answer, keep the connection for the next one when it may be."""
    keep = False
    try:
        writer.write(head)
        if body:
            writer.write(body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise _Lost("the connection was closed before an answer")
        status, body, keep = await _answer(status_line, reader)
        return status, body
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise _Lost(str(exc) or type(exc).__name__) from exc
    except ssl.SSLError as exc:
        raise TlsError(f"{node.name}: {exc}") from exc
    except (ValueError, IndexError) as exc:  # also what StreamReader raises past its line limit
        raise TransportError(f"{node.name} sent an answer that is not HTTP/1.1: {exc}") from exc
    finally:
        if keep:
            node.idle.append((reader, writer))
        else:
            writer.close()


async def _answer(status_line: bytes, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    version, code, *_ = status_line.split(None, 2)
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"status line {status_line[:80]!r}")
    status = int(code)
    keep = version == b"HTTP/1.1"
    length: int | None = None
    chunked = zipped = False
    while (line := await _line(reader)) not in (b"\r\n", b"\n"):
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"content-encoding":
            zipped = value == b"gzip"
        elif name == b"connection":
            keep = value == b"keep-alive" or (keep and value != b"close")
    if chunked:
        body = await _chunks(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    elif status in (204, 304) or status < 200:
        body = b""
    else:  # delimited by the end of the connection
        body, keep = await reader.read(), False
    if zipped:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"a gzip body that does not decompress ({exc})") from exc
    return status, body, keep


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line:
        raise asyncio.IncompleteReadError(b"", None)  # the connection ended inside the answer
    return line


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await _line(reader)).split(b";", 1)[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    return b"".join(parts)
