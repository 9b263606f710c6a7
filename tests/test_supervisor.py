"""logship/supervisor.py, on a real `logship run` process and real signals: a second SIGTERM aborts
the drain, and a reload moves the HTTP server and the position store's lock."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from logship.errors import StoreLocked
from logship.storelock import StoreLock

from engine_fixture import free_port
from support.harness import Logship, toml_config, wait_until, write_logs

# Nothing answers there, so what is read stays in flight and a drain has to wait for it.
DRAIN_SECONDS = 120.0


def configure(tmp_path: Path, http_port: int, positions: Path | None = None, dead: str = "") -> Path:
    overrides: dict[str, dict[str, Any]] = {
        "index": {"setup": "off"},
        "pipeline": {"drain_timeout_seconds": DRAIN_SECONDS},
    }
    if positions is not None:
        overrides["tail"] = {"positions_dir": str(positions)}
    return toml_config(
        tmp_path / "logship.toml",
        logs=tmp_path / "logs",
        state=tmp_path,
        es_url=dead or f"http://127.0.0.1:{free_port()}",
        http_port=http_port,
        index_prefix="unused",
        overrides=overrides,
    )


def lines_read(ship: Logship) -> float:
    return sum(v for k, v in ship.metrics().items() if k.startswith("logship_read_lines_total"))


def logged(ship: Logship, message: str) -> bool:
    return any(str(r.get("message", "")).startswith(message) for r in ship.log_records())


@pytest.fixture
def ship(tmp_path: Path) -> Any:
    (tmp_path / "logs").mkdir()
    port = free_port()
    running = Logship(configure(tmp_path, port), port, tmp_path / "logship.log")
    yield running
    if running.proc is not None and running.proc.poll() is None:
        running.kill()


def test_a_second_sigterm_ends_the_drain_at_once(ship: Logship, tmp_path: Path) -> None:
    write_logs(tmp_path / "logs", 500)
    ship.start()
    wait_until(lambda: lines_read(ship) >= 500, 30, 0.2, "the records read")
    ship.signal(signal.SIGTERM)
    wait_until(lambda: logged(ship, "Stopping"), 30, 0.2, "the drain to begin")
    time.sleep(1.0)
    assert ship.proc is not None and ship.proc.poll() is None  # draining: the engine never answers
    begun = time.monotonic()
    ship.signal(signal.SIGTERM)
    assert ship.wait_exit(timeout=30) == 0, ship.log_tail()
    assert time.monotonic() - begun < DRAIN_SECONDS / 4, "the second signal did not cut the drain short"


def test_a_reload_moves_the_http_server_and_the_store_lock(ship: Logship, tmp_path: Path) -> None:
    old_store, new_store = tmp_path / "positions", tmp_path / "moved"
    ship.start()
    with pytest.raises(StoreLocked):
        StoreLock(old_store, "test").acquire()
    new_port = free_port()
    configure(tmp_path, new_port, positions=new_store, dead=ship_engine(ship))
    ship.signal(signal.SIGHUP)
    wait_until(lambda: logged(ship, "Configuration reloaded"), 60, 0.2, "the reload")
    moved = Logship(ship.config, new_port, ship.log_path)
    assert moved.get("/health").status == 200
    with pytest.raises(OSError, match="refused"):
        ship.get("/health")  # the old port is closed
    released = StoreLock(old_store, "test")
    released.acquire()  # the old pipeline drained and wrote its positions there: left
    released.release()
    with pytest.raises(StoreLocked):
        StoreLock(new_store, "test").acquire()
    ship.http_port = new_port
    assert ship.stop() == 0, ship.log_tail()


def ship_engine(ship: Logship) -> str:
    """The engine URL of ``ship``'s configuration, kept across a rewrite."""
    import tomllib

    hosts: list[str] = tomllib.loads(ship.config.read_text())["elasticsearch"]["hosts"]
    return hosts[0]
