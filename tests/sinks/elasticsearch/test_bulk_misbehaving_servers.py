"""The HTTP stack against servers that misbehave in ways no real engine can be made to: a gzip bomb,
a huge Content-Length, an endless chunked body, a redirect, interim answers, and a forward proxy.

Each server is a raw asyncio server writing the bytes a broken node or proxy would write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
import trustme
from sinks.elasticsearch.test_sink import Delivery, Deltas, deliver

from logship.errors import BadAnswer, EngineRedirected
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome
from logship.sinks.elasticsearch.bulk import BulkClient
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

from support.harness import write_logs

BANNER = orjson.dumps({"cluster_name": "stub", "version": {"number": "9.5.3"}})
Writer = Callable[[asyncio.StreamWriter, int, bytes, bytes], Awaitable[None]]


def bulk_answer(body: bytes) -> bytes:
    """Every item of a bulk body created."""
    items = [{"create": {"status": 201}} for line in body.split(b"\n")[::2] if line.strip()]
    return orjson.dumps({"errors": False, "items": items})


def plain(status: int, body: bytes, extra: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + extra + b"\r\n" + body


@asynccontextmanager
async def raw_server(write: Writer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server reading HTTP/1.1 requests (Content-Length bodies) and answering each with ``write``
    (the writer, the number of the request, its head and its body). Yields its URL and the heads."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                if head.split(b" ", 2)[1].startswith(b"/_bulk"):
                    body = zlib.decompress(body, 47) if b"content-encoding: gzip" in head.lower() else body
                await write(writer, len(heads), head, body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", heads
    finally:
        server.close()
        await server.wait_closed()


def bomb(expanded: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(expanded >> 20)) + packer.flush()


def first_then_fine(first: int, bad: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Writer:
    """Answer the first ``first`` bulk requests with ``bad``, then every request properly."""

    async def write(writer: asyncio.StreamWriter, n: int, head: bytes, body: bytes) -> None:
        if not head.startswith(b"POST /_bulk"):
            writer.write(plain(200, BANNER))
        elif n <= first:
            await bad(writer)
        else:
            writer.write(plain(200, bulk_answer(body)))

    return write


def gzip_bomb_answer(payload: bytes) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    async def bad(writer: asyncio.StreamWriter) -> None:
        writer.write(plain(200, payload, b"content-encoding: gzip\r\n"))

    return bad


async def huge_content_length(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 3000000000\r\n\r\n")
    for _ in range(64):  # what a client reading it whole would buffer, and more to come
        writer.write(b"\0" * (1 << 20))
        await writer.drain()


async def endless_chunks(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (1 << 16) + b" " * (1 << 16) + b"\r\n"
    while True:  # until the client hangs up
        writer.write(chunk)
        await writer.drain()


def replay_rss(url: str, tmp_path: Path, records: int) -> tuple[int, str, int]:
    """`logship replay` of ``records`` records into ``url``: exit code, its output, peak RSS in KiB."""
    logs = tmp_path / "logs"
    write_logs(logs, records)
    config = tmp_path / "logship.toml"
    config.write_text(
        f'[elasticsearch]\nhosts = ["{url}"]\n[delivery]\nretry_initial_seconds = 0.05\n'
        f'[dead_letter]\npath = "{tmp_path / "dead.ndjson"}"\n'
    )
    measure = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(r.returncode)"
    )
    cmd = [sys.executable, "-c", measure, sys.executable, "-m", "logship", "replay", str(logs / "app.log")]
    done = subprocess.run(
        [*cmd, "--config", str(config)], capture_output=True, text=True, timeout=240, env=_no_proxy_env()
    )
    *_, rss = done.stderr.strip().splitlines()
    return done.returncode, done.stdout + done.stderr, int(rss)


def _no_proxy_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@pytest.mark.parametrize("kind", ["gzip bomb", "huge Content-Length"])
def test_an_oversized_answer_is_refused_within_bounded_memory_and_retried(tmp_path: Path, kind: str) -> None:
    payload = bomb(400 << 20) if kind == "gzip bomb" else b""
    bad = gzip_bomb_answer(payload) if kind == "gzip bomb" else huge_content_length

    async def go() -> tuple[int, str, int]:
        async with raw_server(first_then_fine(2, bad)) as (url, _):
            return await asyncio.to_thread(replay_rss, url, tmp_path, 2000)

    code, output, rss_kib = asyncio.run(go())
    assert code == 0, output[-3000:]
    assert "indexed: 2000" in output, output[-2000:]
    assert "answer too large" in output and "max_answer_bytes" in output, output[-3000:]
    print(f"{kind}: peak RSS of logship replay {rss_kib // 1024} MiB")
    assert rss_kib < 150 * 1024, f"peak RSS {rss_kib} KiB"


def test_oversized_answers_count_as_bad_responses_and_say_why(caplog: pytest.LogCaptureFixture) -> None:
    payload = bomb(128 << 20)
    settings = ElasticsearchSettings(max_answer_bytes=1 << 20)
    delivery_settings = DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.05)
    deltas = Deltas("bad_response")

    async def go() -> None:
        async with raw_server(first_then_fine(3, gzip_bomb_answer(payload))) as (url, _):
            es = settings.model_copy(update={"hosts": [url]})
            dead = DeadLetterFile(Path(os.devnull), 0o600)
            sink = ElasticsearchSink(es, delivery_settings, dead, namespace="t", health=None)
            delivery = Delivery(5)
            try:
                tally = await deliver(sink, delivery)
            finally:
                await sink.close()
            assert tally[Outcome.INDEXED] == 5 and delivery.acks.committed == 1000

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
    assert deltas.retries() == {"bad_response": 3}
    warnings = [r for r in caplog.records if r.getMessage() == "Bulk request failed; retrying"]
    assert len(warnings) == 1 and "answer too large" in str(warnings[0].__dict__["reason"])


def test_an_endless_chunked_body_is_cut_at_the_bound() -> None:
    async def go() -> None:
        async with raw_server(first_then_fine(1, endless_chunks)) as (url, _):
            client = BulkClient(ElasticsearchSettings(hosts=[url], max_answer_bytes=1 << 20))
            try:
                with pytest.raises(BadAnswer, match=r"answer too large: .* over 1048576 bytes"):
                    await client.bulk(b'{"create":{}}\n{}\n')
                assert (await client.bulk(b'{"create":{}}\n{}\n')).all_created
            finally:
                await client.close()

    asyncio.run(go())


def test_a_redirect_is_a_configuration_error_naming_the_location(tmp_path: Path) -> None:
    moved = b"location: https://es.example:9243/\r\n"

    async def write(writer: asyncio.StreamWriter, n: int, head: bytes, body: bytes) -> None:
        writer.write(plain(307, b"", moved))

    async def go() -> str:
        async with raw_server(write) as (url, heads):
            client = BulkClient(ElasticsearchSettings(hosts=[url]))
            try:
                with pytest.raises(EngineRedirected) as caught:
                    await client.bulk(b'{"create":{}}\n{}\n')
            finally:
                await client.close()
            assert len(heads) == 1  # not followed, not retried by the client itself
            config = tmp_path / "c.toml"
            config.write_text(f'[elasticsearch]\nhosts = ["{url}"]\n')
            check = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "logship", "check", "--connect", "--config", str(config),
                stderr=subprocess.PIPE, env=_no_proxy_env(),
            )  # fmt: skip
            _, err = await check.communicate()
            assert check.returncode == 2, err
            assert "https://es.example:9243/" in err.decode()
            return str(caught.value)

    message = asyncio.run(go())
    assert "elasticsearch.hosts" in message and "307" in message and "https://es.example:9243/" in message


def test_interim_answers_before_every_answer_are_skipped() -> None:
    async def write(writer: asyncio.StreamWriter, n: int, head: bytes, body: bytes) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(plain(200, bulk_answer(body) if head.startswith(b"POST") else BANNER))

    async def go() -> None:
        async with raw_server(write) as (url, heads):
            client = BulkClient(ElasticsearchSettings(hosts=[url]))
            try:
                for n in range(1, 4):  # each answer is its own request's, over one connection
                    answer = await client.bulk(b'{"create":{}}\n{}\n' * n)
                    assert answer.body.count(b'"status":201') == n
            finally:
                await client.close()
            assert len(heads) == 3

    asyncio.run(go())


@asynccontextmanager
async def forward_proxy(upstream_port: int) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP proxy: CONNECT tunnels and absolute-form requests both go to ``upstream_port`` on
    loopback, whatever host they name (which need not exist). Yields its URL and the request lines."""
    seen: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        if head.startswith(b"CONNECT "):
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # the absolute form goes upstream as the origin form
            method, target, rest = head.split(b" ", 2)
            path = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
            up_writer.write(b" ".join([method, path, rest]))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_requests_go_through_the_proxy_the_environment_names(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = trustme.CA()
    tls = None
    if scheme == "https":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("engine.invalid").configure_cert(tls)
    ca = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))

    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length")), 0)
        body = await reader.readexactly(length)
        writer.write(plain(200, bulk_answer(body), b"connection: close\r\n"))
        await writer.drain()
        writer.close()

    async def go() -> list[bytes]:
        upstream = await asyncio.start_server(engine, "127.0.0.1", 0, ssl=tls)
        port = upstream.sockets[0].getsockname()[1]
        try:
            async with forward_proxy(port) as (proxy, seen):
                for name in (
                    "HTTP_PROXY",
                    "HTTPS_PROXY",
                    "NO_PROXY",
                    "http_proxy",
                    "https_proxy",
                    "no_proxy",
                ):
                    monkeypatch.delenv(name, raising=False)
                monkeypatch.setenv(f"{scheme.upper()}_PROXY", proxy)
                settings = ElasticsearchSettings(hosts=[f"{scheme}://engine.invalid:9200"], ca_file=ca)
                client = BulkClient(settings)
                try:
                    assert (await client.bulk(b'{"create":{}}\n{}\n')).all_created
                finally:
                    await client.close()
                return seen
        finally:
            upstream.close()

    seen = asyncio.run(go())
    if scheme == "https":
        assert seen == [b"CONNECT engine.invalid:9200 HTTP/1.1"]
    else:
        assert seen == [
            b"POST http://engine.invalid:9200/_bulk?filter_path=errors,items.*.error,items.*.status HTTP/1.1"
        ]
