"""The cut-over from Fluentd while the application keeps writing and rotating, into the real engine.

The application (`bench/aichat_logger.py`, RotatingFileHandler, small files) writes throughout.
Fluentd's pos_file, in its exact format, records a position N in the then-current file; the
application goes on through several rotations; then `logship migrate fluentd` and `logship run
--config` of the file it wrote, untouched. The engine must hold exactly the records after N, each
once: the records before N were Fluentd's, and would be stored twice under logship's ids.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.positions import FilePosition, PositionStore

from engine_fixture import count, free_port, search_all
from support.harness import SEQ, Logship, check_documents, wait_until, write_logs

pytestmark = [pytest.mark.integration]

RECORDS = 12_000
RATE = 2_500  # records/s
MAX_BYTES = 64 * 1024


@dataclass
class Cutover:
    """Fluentd's last position: the file it was reading, where, and the last seq it had shipped."""

    pos_file: Path
    ino: int
    pos: int
    last_shipped: int


def fluent_conf(
    path: Path, logs: Path, pos_file: Path, es_url: str, prefix: str, read_from_head: bool
) -> Path:
    es = urlsplit(es_url)
    path.write_text(
        f"""<source>
  @type tail
  path {logs}/*.log
  pos_file {pos_file}
  tag aichat.app
  read_from_head {str(read_from_head).lower()}
  refresh_interval 1
  <parse>
    @type json
    time_key timestamp
    time_format %Y-%m-%d %H:%M:%S
  </parse>
</source>

<filter aichat.app>
  @type record_transformer
  <record>
    hostname test-host
    environment test
    service aichat-backend
  </record>
</filter>

<match aichat.app>
  @type elasticsearch
  host {es.hostname}
  port {es.port}
  scheme {es.scheme}
  logstash_format true
  logstash_prefix {prefix}
  <buffer>
    flush_interval 1s
  </buffer>
</match>
"""
    )
    return path


def record_position(app: Path, pos_file: Path) -> Cutover:
    """Write the pos_file as Fluentd does after committing the last complete line of ``app``."""
    with app.open("rb") as f:
        ino = os.fstat(f.fileno()).st_ino
        data = f.read()
    pos = data.rindex(b"\n") + 1
    last = data[: pos - 1].rsplit(b"\n", 1)[-1]
    match = SEQ.search(last.decode())
    assert match is not None, last
    # in_tail's format: path, position and inode, the numbers as 16 hex digits
    pos_file.write_text(f"{app}\t{pos:016x}\t{ino:016x}\n")
    return Cutover(pos_file, ino, pos, int(match.group(1)))


def rotations_since(logs: Path, ino: int) -> int:
    """How many times the file with inode ``ino`` has been rotated (app.log.K: K), 0 if not."""
    for p in logs.iterdir():
        try:
            if p.stat().st_ino == ino:
                return int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0
        except FileNotFoundError:
            continue  # renamed meanwhile
    return -1


def migrate(conf: Path, output: Path, positions: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "logship", "migrate", "fluentd", str(conf), "--output", str(output)]
    cmd += ["--positions-dir", str(positions), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def finish(writer: subprocess.Popen[bytes]) -> None:
    """Wait for the application to write its last record."""
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err.decode()


def run_env(tmp_path: Path, port: int) -> dict[str, str]:
    """What the migrated file does not say and the test needs: its own HTTP port and dead-letter file."""
    return {
        "LOGSHIP_HTTP__LISTEN": f"127.0.0.1:{port}",
        "LOGSHIP_DEAD_LETTER__PATH": str(tmp_path / "dead-letter.ndjson"),
    }


def write_through_the_cutover(tmp_path: Path, logs: Path) -> tuple[subprocess.Popen[bytes], Cutover]:
    """Start the application; record Fluentd's position; return once it has rotated twice since."""
    writer = write_logs(
        logs,
        RECORDS,
        rate=RATE,
        max_bytes=MAX_BYTES,
        backup_count=1000,
        traceback_every=0,
        quote_every=0,
        background=True,
    )
    assert writer is not None
    app = logs / "app.log"
    wait_until(lambda: (logs / "app.log.2").exists(), 60, 0.05, what="two rotations before the cut-over")
    cut = record_position(app, tmp_path / "fluentd" / "aichat.log.pos")
    wait_until(lambda: rotations_since(logs, cut.ino) >= 2, 60, 0.05, what="two rotations after the cut-over")
    assert writer.poll() is None, "the application must still be writing at the migration"
    return writer, cut


@pytest.mark.parametrize("read_from_head", [False, True])
def test_cutover_while_the_application_writes_ships_exactly_the_records_after_fluentd(
    search_engine: Any, index_prefix: str, tmp_path: Path, read_from_head: bool
) -> None:
    url, mine = search_engine.url, f"{index_prefix}-*"
    logs = tmp_path / "logs"
    (tmp_path / "fluentd").mkdir()
    writer, cut = write_through_the_cutover(tmp_path, logs)
    conf = fluent_conf(tmp_path / "fluent.conf", logs, cut.pos_file, url, index_prefix, read_from_head)
    done = migrate(conf, tmp_path / "take.toml", tmp_path / "positions")
    assert done.returncode == 0, done.stderr
    assert f"(inode {cut.ino}): resumes at byte {cut.pos} of" in done.stdout
    assert "lost" not in done.stdout
    port = free_port()
    proc = Logship(tmp_path / "take.toml", port, tmp_path / "logship.log", run_env(tmp_path, port)).start()
    try:
        finish(writer)
        expected = range(cut.last_shipped + 1, RECORDS)
        wait_until(lambda: count(url, mine) >= len(expected), 120, what=f"{len(expected)} documents")
        proc.wait_settled()  # anything extra would be in the engine now
        lost = proc.metric("logship_lost_bytes_total")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    check_documents(search_all(url, mine), expected).assert_exactly_once()
    assert lost == 0


def test_cutover_with_fluentds_file_deleted_before_logship_starts_loses_only_that_file(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url, mine = search_engine.url, f"{index_prefix}-*"
    logs = tmp_path / "logs"
    (tmp_path / "fluentd").mkdir()
    writer, cut = write_through_the_cutover(tmp_path, logs)
    conf = fluent_conf(tmp_path / "fluent.conf", logs, cut.pos_file, url, index_prefix, False)
    done = migrate(conf, tmp_path / "take.toml", tmp_path / "positions")
    assert done.returncode == 0, done.stderr
    assert f"(inode {cut.ino}): resumes at byte {cut.pos} of" in done.stdout
    # The first file rotated after the cut-over, Fluentd's, is deleted before logship starts. The
    # application is held meanwhile (SIGSTOP), so that no new file takes the freed inode number
    # before migrate looks again.
    writer.send_signal(signal.SIGSTOP)
    try:
        fluentds = next(p for p in logs.iterdir() if p.stat().st_ino == cut.ino)
        data = fluentds.read_bytes()
        fluentds.unlink()
        # migrate, asked again now, reports it lost without guessing how much
        again = migrate(conf, tmp_path / "other.toml", tmp_path / "other", "--dry-run")
    finally:
        writer.send_signal(signal.SIGCONT)
    gone = {int(m.group(1)) for m in SEQ.finditer(data[cut.pos :].decode())}
    assert again.returncode == 0, again.stderr
    assert (
        f"{fluentds.parent / 'app.log'} (inode {cut.ino}): lost: neither at its path nor at a rotated"
        in again.stdout
    )
    assert f"after byte {cut.pos}, is gone; how much cannot be known" in again.stdout
    port = free_port()
    proc = Logship(tmp_path / "take.toml", port, tmp_path / "logship.log", run_env(tmp_path, port)).start()
    try:
        finish(writer)
        expected = sorted(set(range(cut.last_shipped + 1, RECORDS)) - gone)
        wait_until(lambda: count(url, mine) >= len(expected), 120, what=f"{len(expected)} documents")
        proc.wait_settled()
        lost = proc.metric("logship_lost_bytes_total")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    assert gone and lost == len(data) - cut.pos
    check_documents(search_all(url, mine), expected).assert_exactly_once()


def test_run_uses_the_store_migrate_wrote_not_a_stale_one_at_the_default_place(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private /var/lib for logship needs root and unshare")
    url, mine = search_engine.url, f"{index_prefix}-*"
    logs = tmp_path / "logs"
    (tmp_path / "fluentd").mkdir()
    write_logs(logs, 1_000, traceback_every=0, quote_every=0)
    app = logs / "app.log"
    cut = record_position_at(app, tmp_path / "fluentd" / "aichat.log.pos", 400)
    # An earlier run's store at the default place (/var/lib/logship): app.log shipped to its end.
    stale = tmp_path / "stale"
    stale.mkdir()
    st = app.stat()
    key = fingerprint_path(str(app), 1024)
    assert key is not None
    stored = FilePosition(key, str(app), st.st_dev, st.st_ino, st.st_size, st.st_size)
    PositionStore(stale).save([stored], time.time())
    conf = fluent_conf(tmp_path / "fluent.conf", logs, cut.pos_file, url, index_prefix, False)
    done = migrate(conf, tmp_path / "take.toml", tmp_path / "positions")
    assert done.returncode == 0, done.stderr
    port = free_port()
    # logship sees the stale store at /var/lib/logship: a tmpfs over /var/lib in a mount namespace of
    # its own (the host's /var/lib is untouched)
    script = (
        "mount -t tmpfs tmpfs /var/lib && mkdir /var/lib/logship && "
        f"cp {stale}/positions.json /var/lib/logship/ && "
        f"exec {sys.executable} -m logship run --config {tmp_path / 'take.toml'}"
    )
    proc = Logship(tmp_path / "take.toml", port, tmp_path / "logship.log", run_env(tmp_path, port))
    proc.start(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    try:
        wait_until(lambda: count(url, mine) >= 600, 60, what="the 600 records after Fluentd's position")
        proc.wait_settled()
    finally:
        assert proc.stop() == 0, proc.log_tail()
    check_documents(search_all(url, mine), range(400, 1_000)).assert_exactly_once()
    started = next(r for r in proc.log_records() if r.get("message") == "Started")
    assert started["positions"] == str(tmp_path / "positions" / "positions.json")


def record_position_at(app: Path, pos_file: Path, lines: int) -> Cutover:
    """Fluentd's position after the first ``lines`` records of ``app`` (seq 0 .. lines-1)."""
    data = app.read_bytes()
    pos = 0
    for _ in range(lines):
        pos = data.index(b"\n", pos) + 1
    ino = app.stat().st_ino
    pos_file.write_text(f"{app}\t{pos:016x}\t{ino:016x}\n")
    return Cutover(pos_file, ino, pos, lines - 1)
