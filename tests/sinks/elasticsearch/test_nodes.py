"""The bulk path's own HTTP/1.1 client (nodes.py) on the wire: kept-alive connections, a connection
the server dropped, dead nodes, timeouts, chunked and gzip answers, gzip bodies, TLS, answers that
are not HTTP, and a bulk request over TLS into the real engine."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
from aiohttp import web

from logship.errors import EngineTimeout, EngineUnreachable
from logship.observe.metrics import REGISTRY
from logship.settings import ElasticsearchSettings
from logship.sinks.elasticsearch.bulk import BulkClient, BulkResponse

from engine_fixture import SearchNode, count, free_port

ITEM = b'{"create":{"_index":"aichat-2026.11.27","_id":"n-1"}}\n{"n":1}\n'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def server(
    handler: Handler, *, tls: ssl.SSLContext | None = None, keepalive: float = 75.0
) -> AsyncIterator[tuple[int, set[int]]]:
    """An HTTP server answering every path with ``handler``; yields its port and the client ports
    of the connections it accepted."""
    peers: set[int] = set()

    async def each(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            peers.add(peer[1])
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", each)
    runner = web.AppRunner(app, keepalive_timeout=keepalive)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    try:
        yield int(runner.addresses[0][1]), peers
    finally:
        await runner.cleanup()


async def echo(request: web.Request) -> web.Response:
    """The request as the server saw it, as JSON (a gzip body decompressed: aiohttp does it)."""
    raw = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "body": raw.decode(),
            "headers": dict(request.headers),
        }
    )


@asynccontextmanager
async def bulk_client(settings: ElasticsearchSettings) -> AsyncIterator[BulkClient]:
    client = BulkClient(settings)
    try:
        yield client
    finally:
        await client.close()


async def send(settings: ElasticsearchSettings, *bodies: bytes | None) -> list[BulkResponse]:
    """One BulkClient sending ``bodies`` in turn (None: GET /)."""
    async with bulk_client(settings) as client:
        return [await (client.info() if b is None else client.bulk(b)) for b in bodies]


def seen(response: BulkResponse) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(response.body)
    return data


def test_requests_share_one_kept_alive_connection() -> None:
    async def go() -> tuple[list[BulkResponse], set[int]]:
        async with (
            server(echo) as (port, peers),
            bulk_client(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}/prefix/"])) as client,
        ):
            return [await client.bulk(ITEM) for _ in range(3)], peers

    answers, peers = asyncio.run(go())
    assert [a.status for a in answers] == [200, 200, 200]
    request = seen(answers[0])
    assert (
        request["method"] == "POST"
        and request["path"] == "/prefix/_bulk"
        and request["body"] == ITEM.decode()
    )
    assert request["headers"]["Content-Type"] == "application/x-ndjson"
    assert len(peers) == 1


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def go() -> tuple[list[int], set[int]]:
        async with (
            server(echo, keepalive=0.05) as (port, peers),
            bulk_client(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"])) as client,
        ):
            first = await client.bulk(ITEM)
            await asyncio.sleep(0.3)  # the server closes the idle connection meanwhile
            second = await client.bulk(ITEM)
            return [first.status, second.status], peers

    statuses, peers = asyncio.run(go())
    assert statuses == [200, 200] and len(peers) == 2


@asynccontextmanager
async def raw_server(answer: Callable[[int], bytes | None]) -> AsyncIterator[int]:
    """A TCP server reading HTTP requests and writing ``answer(n)`` for the n-th request of each
    connection (from 1); None closes the connection without an answer."""

    handlers: list[asyncio.Task[None]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        n = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                n += 1
                reply = answer(n)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(listener.sockets[0].getsockname()[1])
    finally:
        listener.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listener.wait_closed()


OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"errors":false}'


def test_a_kept_connection_dropped_at_the_next_request_is_retried_on_a_new_one() -> None:
    async def go() -> list[int]:
        # Every connection answers its first request and drops the second unanswered.
        async with raw_server(lambda n: OK if n == 1 else None) as port:
            return [
                a.status
                for a in await send(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"]), *[ITEM] * 3)
            ]

    assert asyncio.run(go()) == [200, 200, 200]


def test_chunked_and_gzip_answers_are_read_whole() -> None:
    document = {"items": [{"create": {"status": 201}}] * 2000, "errors": False}

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if request.path == "/_bulk":
            response.enable_compression(web.ContentCoding.gzip)
        response.enable_chunked_encoding()
        await response.prepare(request)
        raw = orjson.dumps(document)
        for start in range(0, len(raw), 7000):
            await response.write(raw[start : start + 7000])
        await response.write_eof()
        return response

    async def go() -> list[BulkResponse]:
        async with server(chunked) as (port, peers):
            async with bulk_client(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"])) as client:
                answers = [await client.bulk(ITEM), await client.info(), await client.bulk(ITEM)]
            assert len(peers) == 1
            return answers

    for answer in asyncio.run(go()):
        assert answer.status == 200 and orjson.loads(answer.body) == document


def test_gzip_bodies_carry_their_encoding() -> None:
    async def go() -> BulkResponse:
        async with (
            server(echo) as (port, _),
            bulk_client(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"], gzip=True)) as client,
        ):
            return await client.bulk(ITEM)

    request = seen(asyncio.run(go()))
    assert request["headers"]["Content-Encoding"] == "gzip" and request["body"] == ITEM.decode()


def test_a_dead_node_hands_its_requests_to_the_next(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    retries = REGISTRY.get_sample_value("logship_retries_total", {"reason": "connection"}) or 0.0

    async def go() -> list[int]:
        async with server(echo) as (port, _):
            return [
                a.status
                for a in await send(
                    ElasticsearchSettings(hosts=[dead, f"http://127.0.0.1:{port}"]), *[ITEM] * 4
                )
            ]

    assert asyncio.run(go()) == [200] * 4
    # Two of the four requests were the dead node's turn. The first was handed on, and counted;
    # the node then rested, so the second went to the live node at once.
    after = REGISTRY.get_sample_value("logship_retries_total", {"reason": "connection"})
    assert after == retries + 1
    warned = [r for r in caplog.records if r.getMessage().startswith("Engine node unreachable")]
    assert len(warned) == 1 and warned[0].__dict__["node"] == dead


def test_every_node_dead_is_one_error_naming_each() -> None:
    ports = [free_port(), free_port()]
    with pytest.raises(EngineUnreachable) as err:
        asyncio.run(send(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{p}" for p in ports]), ITEM))
    message = str(err.value)
    assert message.startswith("connection: cannot reach")
    assert all(f"http://127.0.0.1:{p}: " in message for p in ports)


def test_a_slow_node_times_out_and_the_connection_is_not_reused() -> None:
    slow = True

    async def sometimes_slow(request: web.Request) -> web.StreamResponse:
        if slow:
            await asyncio.sleep(2)
        return await echo(request)

    async def go() -> tuple[str, int, set[int]]:
        nonlocal slow
        async with server(sometimes_slow) as (port, peers):
            settings = ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"], request_timeout_seconds=0.3)
            async with bulk_client(settings) as client:
                with pytest.raises(EngineTimeout) as err:
                    await client.bulk(ITEM)
                slow = False
                return str(err.value), (await client.bulk(ITEM)).status, peers

    message, status, peers = asyncio.run(go())
    assert message.startswith("timeout: no answer from http://127.0.0.1:") and status == 200
    assert len(peers) == 2


def test_a_node_that_never_answers_rests_after_its_timeout() -> None:
    """A node that accepts connections and never answers costs one timeout, not one per turn: it
    rests (1 s, then 2 s), while the other node answers every request; after its rest it is asked
    again."""

    async def go() -> tuple[list[int | str], list[int | str], int]:
        accepted = 0

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await reader.read()  # until the client gives up
            writer.close()

        hole = await asyncio.start_server(hold, "127.0.0.1", 0)
        hole_url = f"http://127.0.0.1:{hole.sockets[0].getsockname()[1]}"

        async def outcomes(client: BulkClient, n: int) -> list[int | str]:
            out: list[int | str] = []
            for _ in range(n):
                try:
                    out.append((await client.bulk(ITEM)).status)
                except EngineTimeout:
                    out.append("timeout")
            return out

        try:
            async with server(echo) as (port, _):
                settings = ElasticsearchSettings(
                    hosts=[hole_url, f"http://127.0.0.1:{port}"], request_timeout_seconds=0.3
                )
                async with bulk_client(settings) as client:
                    first = await outcomes(client, 6)  # well within the first rest (1 s)
                    await asyncio.sleep(1.1)
                    second = await outcomes(client, 2)  # the hole has its turn in one of two
        finally:
            hole.close()
            await hole.wait_closed()
        return first, second, accepted

    first, second, accepted = asyncio.run(go())
    assert sorted(first, key=str) == [200] * 5 + ["timeout"]
    assert sorted(second, key=str) == [200, "timeout"]
    assert accepted == 2


def test_an_answer_that_is_not_http_is_reported() -> None:
    async def go() -> None:
        async with raw_server(lambda n: b"SSH-2.0-OpenSSH_9.6\r\n") as port:
            await send(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"]), ITEM)

    with pytest.raises(EngineUnreachable) as err:
        asyncio.run(go())
    message = str(err.value)
    assert message.startswith("bad answer: http://127.0.0.1:") and "not HTTP/1.1" in message


def test_a_gzip_answer_that_does_not_decompress_is_reported() -> None:
    broken = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 5\r\n\r\nhello"

    async def go() -> None:
        async with raw_server(lambda n: broken) as port:
            await send(ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"]), ITEM)

    with pytest.raises(EngineUnreachable) as err:
        asyncio.run(go())
    assert "bad answer" in str(err.value) and "gzip body that does not decompress" in str(err.value)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def test_tls_verified_against_the_ca_file(tmp_path: Path, authority: trustme.CA) -> None:
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))

    async def go(**settings: Any) -> BulkResponse:
        async with (
            server(echo, tls=tls_server_context(authority)) as (port, _),
            bulk_client(ElasticsearchSettings(hosts=[f"https://localhost:{port}"], **settings)) as client,
        ):
            return await client.bulk(ITEM)

    assert asyncio.run(go(ca_file=ca_file)).status == 200
    assert asyncio.run(go(ca_file=other, verify_certs=False)).status == 200
    with pytest.raises(EngineUnreachable) as err:
        asyncio.run(go(ca_file=other))
    assert str(err.value).startswith(
        "TLS failure talking to https://localhost:"
    ) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)


@asynccontextmanager
async def tls_proxy(context: ssl.SSLContext, target: str) -> AsyncIterator[int]:
    """TLS in front of ``target`` (http://host:port): each connection relayed byte for byte."""
    host, port = target.removeprefix("http://").rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        engine_reader, engine_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, engine_writer), pipe(engine_reader, client_writer))

    listener = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    try:
        yield int(listener.sockets[0].getsockname()[1])
    finally:
        listener.close()


def test_bulk_over_tls_into_the_real_engine(
    tmp_path: Path, authority: trustme.CA, search_engine: SearchNode, index_prefix: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    body = b"".join(
        b'{"create":{"_index":"%s-2026.11.27","_id":"tls-%d"}}\n{"n":%d}\n' % (index_prefix.encode(), n, n)
        for n in range(50)
    )

    async def go() -> list[BulkResponse]:
        async with (
            tls_proxy(tls_server_context(authority), search_engine.url) as port,
            bulk_client(
                ElasticsearchSettings(hosts=[f"https://localhost:{port}"], ca_file=ca_file)
            ) as client,
        ):
            return [await client.bulk(body), await client.bulk(body)]

    first, again = asyncio.run(go())
    assert first.status == 200 and first.all_created
    assert [item["create"]["status"] for item in orjson.loads(again.body)["items"]] == [409] * 50
    assert count(search_engine.url, f"{index_prefix}-*") == 50
