"""Driving real processes for integration and chaos tests: the workload, logship, and checks.

Everything here talks to real things: `bench/aichat_logger.py` writes through the real
logging module, `logship run` runs as its own process and is signalled and killed for real,
and the checks read the documents back from the real search engine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

# free_port is re-exported for the tests that import it from here.
from engine_fixture import free_port as free_port
from support.httpclient import Response, get

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = REPO / "bench" / "aichat_logger.py"
SEQ = re.compile(r"seq=(\d+)")


def write_logs(
    directory: Path,
    records: int,
    *,
    start_seq: int = 0,
    rate: float = 0,
    max_bytes: int = 0,
    backup_count: int = 5,
    copytruncate_bytes: int = 0,
    traceback_every: int = 500,
    quote_every: int = 200,
    file: str = "app.log",
    seed: int = 1,
    background: bool = False,
) -> subprocess.Popen[bytes] | None:
    """Run the workload; wait for it unless ``background``."""
    cmd = [
        sys.executable,
        str(WORKLOAD),
        "--dir",
        str(directory),
        "--file",
        file,
        "--records",
        str(records),
        "--start-seq",
        str(start_seq),
        "--rate",
        str(rate),
        "--max-bytes",
        str(max_bytes),
        "--backup-count",
        str(backup_count),
        "--copytruncate-bytes",
        str(copytruncate_bytes),
        "--traceback-every",
        str(traceback_every),
        "--quote-every",
        str(quote_every),
        "--seed",
        str(seed),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if background:
        return proc
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return None


def toml_config(
    path: Path,
    *,
    logs: Path,
    state: Path,
    es_url: str,
    http_port: int,
    index_prefix: str,
    patterns: Iterable[str] = ("*.log",),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write a logship configuration for a test, with fast timings; return ``path``.

    ``overrides`` maps a section (``"batch"``, ``"enrich.fields"``, ...) to the settings to add
    or replace in it. The file is replaced atomically, as configuration management does: a
    reload signalled while it is being written never reads half a file.
    """
    config: dict[str, dict[str, Any]] = {
        "tail": {
            "paths": [str(logs / p) for p in patterns],
            "positions_dir": str(state / "positions"),
            "scan_interval_seconds": 0.25,
            "close_inactive_seconds": 2.0,
        },
        "dead_letter": {"path": str(state / "dead-letter.ndjson")},
        "elasticsearch": {"hosts": [es_url], "index_prefix": index_prefix},
        "batch": {"flush_interval_seconds": 0.2},
        "delivery": {"retry_initial_seconds": 0.2, "retry_max_seconds": 2.0},
        "http": {"listen": f"127.0.0.1:{http_port}"},
        "enrich.fields": {"hostname": "test-host", "environment": "test", "service": "aichat-backend"},
    }
    for section, values in (overrides or {}).items():
        config.setdefault(section, {}).update(values)
    tables: dict[str, Any] = {}
    for section, values in config.items():  # "enrich.fields" is the table fields in the table enrich
        table = tables
        for name in section.split("."):
            table = table.setdefault(name, {})
        table.update(values)
    text = tomli_w.dumps(tables)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


@dataclass
class Logship:
    """A `logship run` process."""

    config: Path
    http_port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    nofile: int | None = None  # RLIMIT_NOFILE, soft and hard, set in the child before exec

    def _limit(self) -> None:
        if self.nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, command: list[str] | None = None) -> Logship:
        """Start `logship run --config` (or ``command``, which runs it) and wait for /health."""
        env = {**os.environ, **self.env}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "logship", "run", "--config", str(self.config)],
            stdout=self._log,
            stderr=self._log,
            env=env,
            preexec_fn=self._limit if self.nofile is not None else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"logship exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.get("/health")
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"logship did not answer /health within 30 s:\n{self.log_tail()}")

    def get(self, path: str) -> Response:
        """``GET path`` from logship's HTTP server (/health, /metrics, ...)."""
        return get(f"http://127.0.0.1:{self.http_port}{path}", timeout=5)

    def metrics(self) -> dict[str, float]:
        """Samples of the /metrics page, keyed by `name{labels}` as printed."""
        out: dict[str, float] = {}
        for line in self.get("/metrics").body.decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def metric(self, key: str) -> float:
        return self.metrics().get(key, 0.0)

    def settled(self) -> bool:
        """logship says it has nothing left to do: no byte in flight, no file behind its committed
        position (the lag is set at every scan), no file waiting to be opened."""
        m = self.metrics()
        lag = sum(v for k, v in m.items() if k.startswith("logship_file_lag_bytes"))
        return (
            m.get("logship_inflight_bytes", 1) == 0 and m.get("logship_files_not_opened", 1) == 0 and lag == 0
        )

    def wait_settled(self, timeout: float = 60) -> None:
        """Wait until :meth:`settled`: whatever logship read is delivered (or dead-lettered) and
        counted, so what the engine and the metrics hold now is final."""
        wait_until(self.settled, timeout, interval=0.2, what="logship to deliver everything it read")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._log.close()

    def wait_exit(self, timeout: float) -> int:
        """Wait, without signalling, for the process to exit on its own; returns the exit code
        (raises subprocess.TimeoutExpired if it is still running)."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        """logship's own JSON log lines, decoded (other lines skipped)."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def wait_until(
    predicate: Callable[[], object], timeout: float, interval: float = 0.5, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Delivery:
    """What the engine holds, compared with what was written."""

    written: int
    found: int
    duplicates: list[int]
    missing: list[int]
    malformed: list[str]

    def report(self, scenario: str, seconds: float) -> str:
        return (
            f"[{scenario}] written={self.written} found={self.found} duplicates={len(self.duplicates)} "
            f"missing={len(self.missing)} malformed={len(self.malformed)} seconds={seconds:.1f}"
        )

    def assert_exactly_once(self) -> None:
        assert not self.malformed, f"malformed documents: {self.malformed[:5]}"
        assert not self.duplicates, f"{len(self.duplicates)} seq duplicated, e.g. {self.duplicates[:10]}"
        assert not self.missing, f"{len(self.missing)} seq missing, e.g. {self.missing[:10]}"
        assert self.found == self.written


REQUIRED = ("@timestamp", "hostname", "environment", "service", "message", "log.file.path", "log.offset")


def check_documents(docs: list[dict[str, Any]], expected: Iterable[int]) -> Delivery:
    """Every expected seq exactly once; every document carries the fields logship adds."""
    expected_set = set(expected)
    seqs: Counter[int] = Counter()
    malformed = []
    for d in docs:
        source = d.get("_source", d)
        missing_fields = [f for f in REQUIRED if f not in source]
        match = SEQ.search(str(source.get("message", "")))
        if missing_fields or match is None:
            malformed.append(f"{d.get('_id')}: missing {missing_fields or 'seq'}")
            continue
        seqs[int(match.group(1))] += 1
    return Delivery(
        written=len(expected_set),
        found=len(docs),
        duplicates=sorted(s for s, n in seqs.items() if n > 1),
        missing=sorted(expected_set - set(seqs)),
        malformed=malformed,
    )
