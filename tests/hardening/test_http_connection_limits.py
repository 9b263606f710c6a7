"""The metrics/health server with real sockets: idle and slow clients are cut, connections are capped,
and descriptors stay free for the pipeline."""

from __future__ import annotations

import asyncio
import http.client
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from logship.observe.health import HealthState
from logship.observe.server import HttpServer, HttpSettings

T = TypeVar("T")


def health_state() -> HealthState:
    return HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)


def serve_while(settings: HttpSettings, client: Callable[[int], T]) -> T:
    """Run the server on this loop while ``client(port)`` runs in a thread."""

    async def go() -> T:
        server = HttpServer(settings, health_state())
        await server.start()
        try:
            assert server.port is not None
            return await asyncio.to_thread(client, server.port)
        finally:
            await server.stop()

    return asyncio.run(go())


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def get_health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return int(response.status)


def test_idle_and_slow_connections_are_closed_after_the_timeout() -> None:
    def client(port: int) -> tuple[list[bool], bool, float, int]:
        idle = [connect(port) for _ in range(50)]
        slow = connect(port)
        try:
            started = time.monotonic()
            slow_cut = False
            for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"x" * 100:  # headers never end
                try:
                    slow.send(bytes([ch]))
                except OSError:
                    slow_cut = True
                    break
                time.sleep(0.05)
            slow_cut = slow_cut or closed_by_server(slow)
            took = time.monotonic() - started
            results = [closed_by_server(s) for s in idle]
        finally:
            for s in [*idle, slow]:
                s.close()
        return results, slow_cut, took, get_health(port)

    settings = HttpSettings(listen="127.0.0.1:0", idle_timeout_seconds=0.5)
    idle_cut, slow_cut, took, status = serve_while(settings, client)
    assert all(idle_cut) and slow_cut and took < 3 and status == 200


def test_a_keep_alive_client_is_served_between_pauses() -> None:
    def client(port: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        statuses = []
        for _ in range(4):
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            time.sleep(0.3)
        conn.close()
        return statuses

    settings = HttpSettings(listen="127.0.0.1:0", idle_timeout_seconds=1.0)
    assert serve_while(settings, client) == [200, 200, 200, 200]


def test_health_answers_while_the_connection_limit_is_taken_by_idle_clients() -> None:
    def client(port: int) -> tuple[int, int]:
        idle = [connect(port) for _ in range(100)]
        try:
            time.sleep(0.2)
            status = get_health(port)
            cut = sum(closed_by_server(s) for s in idle[:80])
        finally:
            for s in idle:
                s.close()
        return status, cut

    settings = HttpSettings(listen="127.0.0.1:0", idle_timeout_seconds=30, max_connections=10)
    status, cut = serve_while(settings, client)
    assert status == 200 and cut == 80  # the oldest were closed to make room


SERVER = """
import asyncio, os, resource, sys, tempfile
from logship.observe.health import HealthState
from logship.observe.server import HttpServer, HttpSettings

resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

async def main():
    health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
    settings = HttpSettings(listen="127.0.0.1:0", idle_timeout_seconds=60, max_connections=10000)
    server = HttpServer(settings, health)
    await server.start()
    print(server.port, flush=True)
    stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    failures = 0
    directory = tempfile.mkdtemp()
    while not stop.done():  # a position write every 20 ms, as the pipeline does
        try:
            fd = os.open(os.path.join(directory, "positions.json.tmp"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError:
            failures += 1
        await asyncio.sleep(0.02)
    print(failures, flush=True)
    await server.stop()

asyncio.run(main())
"""


def test_connections_leave_descriptors_for_the_pipeline_under_a_low_file_limit() -> None:
    sockets: list[socket.socket] = []
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            port = int(proc.stdout.readline())
            for _ in range(300):
                with suppress(OSError):
                    sockets.append(connect(port))
            time.sleep(0.3)
            status = get_health(port)
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            failures = int(proc.stdout.readline())
        finally:
            for s in sockets:
                s.close()
            if proc.poll() is None:
                proc.kill()
    assert status == 200
    assert failures == 0
