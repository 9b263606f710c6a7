"""bench/ports.py: the port handed to a server is not handed to anyone else meanwhile."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from ports import free_port


def test_the_port_is_refused_to_other_binds_and_to_port_0() -> None:
    port = free_port()
    with socket.socket() as other, pytest.raises(OSError, match="in use") as refused:
        other.bind(("127.0.0.1", port))
    assert refused.value.errno == errno.EADDRINUSE
    # What bind-and-release races with: another program asking the kernel for any free port.
    handed: list[int] = []
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            handed.append(s.getsockname()[1])
    assert port not in handed


def test_nothing_answers_on_it_until_a_server_binds_it() -> None:
    port = free_port()
    with socket.socket() as client, pytest.raises(ConnectionRefusedError):
        client.connect(("127.0.0.1", port))

    async def serve_once() -> bytes:
        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"up")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", port)  # SO_REUSEADDR, as aiohttp
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            data = await reader.read()
            writer.close()
            return data

    assert asyncio.run(serve_once()) == b"up"
