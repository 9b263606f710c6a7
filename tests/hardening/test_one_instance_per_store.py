"""One logship per position store: a second `logship run` on the same store exits 1 naming the lock
and its holder, leaves the store alone, and a holder killed with SIGKILL never blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.errors import StoreLocked
from logship.storelock import LOCK_NAME, StoreLock

from engine_fixture import count, free_port, search_all
from support.harness import Logship, check_documents, toml_config, wait_until, write_logs

pytestmark = [pytest.mark.integration]


def test_a_second_run_on_the_same_store_exits_1_and_a_killed_holder_never_blocks(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url = search_engine.url
    mine = f"{index_prefix}-*"
    logs, state = tmp_path / "logs", tmp_path / "state"
    write_logs(logs, 3000)

    def config(name: str, port: int) -> Path:
        # The same store and dead-letter file, each process its own HTTP port.
        return toml_config(
            tmp_path / name, logs=logs, state=state, es_url=url, http_port=port, index_prefix=index_prefix
        )

    first_port = free_port()
    first = Logship(config("first.toml", first_port), first_port, tmp_path / "first.log").start()
    assert first.proc is not None
    wait_until(lambda: count(url, mine) >= 3000, 120, what="3,000 documents")
    positions = state / "positions" / "positions.json"
    wait_until(positions.exists, 30, what="the first positions")

    second_port = free_port()
    second = subprocess.run(
        [sys.executable, "-m", "logship", "run", "--config", str(config("second.toml", second_port))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1, second.stderr
    lock = state / "positions" / LOCK_NAME
    assert str(lock) in second.stderr and f"PID {first.proc.pid}" in second.stderr, second.stderr
    assert "Started" not in second.stderr  # it read nothing and sent nothing
    assert positions.exists(), "the second instance must not touch the first one's store"
    assert orjson.loads(positions.read_bytes())["files"], "positions.json lost its entries"
    assert first.proc.poll() is None, "the first instance must keep running"

    first.kill()  # SIGKILL: no clean-up, the lock file stays with the dead PID in it
    assert lock.read_text().startswith(f"{first.proc.pid} ")
    write_logs(logs, 1000, start_seq=3000, seed=2)
    third_port = free_port()
    third = Logship(config("third.toml", third_port), third_port, tmp_path / "third.log").start()
    try:
        wait_until(lambda: count(url, mine) >= 4000, 120, what="4,000 documents")
        third.wait_settled()
    finally:
        assert third.stop() == 0, third.log_tail()
    check_documents(search_all(url, mine), range(4000)).assert_exactly_once()
    assert lock.read_text() == "", "a clean stop leaves no PID behind"


def test_the_lock_names_its_holder_and_is_free_again_once_released(tmp_path: Path) -> None:
    held = StoreLock(tmp_path / "positions", "logship run")
    held.acquire()
    try:
        with pytest.raises(StoreLocked) as caught:
            StoreLock(tmp_path / "positions", "logship migrate").acquire()
        message = str(caught.value)
        assert str(tmp_path / "positions" / LOCK_NAME) in message
        assert f"PID {os.getpid()}, logship run" in message and "`tail.positions_dir`" in message
    finally:
        held.release()
    with StoreLock(tmp_path / "positions", "logship migrate") as again:
        assert again.held


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from logship.storelock import StoreLock; "
            "StoreLock(Path(sys.argv[1]), 'logship run').acquire(); "
            "print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StoreLocked, match=f"PID {holder.pid}"):
            StoreLock(tmp_path, "logship run").acquire()
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"{holder.pid} ")  # stale PID, no flock
    with StoreLock(tmp_path, "logship run") as lock:
        assert lock.held


def test_migrate_does_not_write_a_store_another_logship_holds(tmp_path: Path) -> None:
    from logship.migrate.posfile import write_positions

    held = StoreLock(tmp_path, "logship run")
    held.acquire()
    try:
        with pytest.raises(StoreLocked, match="another logship"):
            write_positions(tmp_path, [], None, force=True)
        assert not (tmp_path / "positions.json").exists()
    finally:
        held.release()


def test_a_reload_onto_a_store_another_logship_holds_is_refused(tmp_path: Path) -> None:
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    (logs / "app.log").write_text('{"timestamp": "2026-11-26 10:00:00", "message": "x"}\n')
    port = free_port()
    dead_engine = f"http://127.0.0.1:{free_port()}"  # nothing is delivered; the stores are what counts

    def config(store: str) -> Path:
        return toml_config(
            tmp_path / "c.toml",
            logs=logs,
            state=state,
            es_url=dead_engine,
            http_port=port,
            index_prefix="reload",
            overrides={
                "tail": {"positions_dir": str(state / store)},
                "pipeline": {"drain_timeout_seconds": 1},
            },
        )

    ship = Logship(config("a"), port, tmp_path / "logship.log").start()
    other = StoreLock(state / "b", "logship run")
    other.acquire()
    try:
        config("b")
        ship.signal(signal.SIGHUP)
        wait_until(
            lambda: any(
                r.get("message") == "Configuration reload refused; the running configuration stays in force"
                for r in ship.log_records()
            ),
            30,
            what="the reload refused",
        )
        refused = next(
            r for r in ship.log_records() if r.get("message", "").startswith("Configuration reload")
        )
        assert str(state / "b" / LOCK_NAME) in refused["problems"][0], refused
        with pytest.raises(StoreLocked):
            StoreLock(state / "a", "test").acquire()  # still logship's
        other.release()
        ship.signal(signal.SIGHUP)
        wait_until(
            lambda: any(r.get("message") == "Configuration reloaded" for r in ship.log_records()),
            60,
            what="the reload",
        )
        with pytest.raises(StoreLocked):
            StoreLock(state / "b", "test").acquire()  # now logship's
        with StoreLock(state / "a", "test"):  # and the old store left
            pass
    finally:
        other.release()
        assert ship.stop() == 0, ship.log_tail()
