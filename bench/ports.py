"""A TCP port for a server started next, that no other process is handed meanwhile.

Binding port 0 and closing the socket (the usual helper) leaves the port free for the next bind(0)
anywhere on the machine: two tests, or a test and the engine, can then be handed the same port.
Here the port is left in TIME_WAIT instead: the kernel gives no port in TIME_WAIT to bind(0) nor
to a bind without SO_REUSEADDR for a minute, while a server binding it with SO_REUSEADDR (asyncio
and aiohttp, Elasticsearch, OpenSearch all do) gets it at once. A URL on such a port refuses
connections, so it also serves as "an engine that does not answer".

Importable by the benchmarks (bench/ is their directory), the tests (pytest's `pythonpath`) and
scripts (`python bench/ports.py` prints one).
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` held in TIME_WAIT: free for a SO_REUSEADDR server, not for anyone else."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(1)
        port: int = listener.getsockname()[1]
        with socket.create_connection((host, port)) as client:
            accepted, _ = listener.accept()
            # The accepting side closes first, so the TIME_WAIT is on this port's end.
            accepted.close()
            client.recv(1)  # the close reached the client: the server end is in TIME_WAIT now
    return port


if __name__ == "__main__":
    print(free_port())
