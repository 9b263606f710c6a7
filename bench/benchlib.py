"""What the benchmark scripts share: the discarding endpoint, a logship configuration, /proc readings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "aichat_logger.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DiscardEndpoint:
    """`discard_endpoint.py` in its own process, for the length of a ``with`` block."""

    def __init__(self, reject: float = 0.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._reject = reject
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DiscardEndpoint:
        cmd = [sys.executable, str(HERE / "discard_endpoint.py"), "--port", str(self.port)]
        self._proc = subprocess.Popen([*cmd, "--reject", str(self._reject)])
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the discarding endpoint did not start")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    def stats(self) -> dict[str, Any]:
        """Requests, documents (accepted), bytes, rejected items, time of the last bulk request."""
        with urllib.request.urlopen(self.url + "/_stats/discard", timeout=10) as r:
            data: dict[str, Any] = json.loads(r.read())
            return data

    def wait_for(self, documents: int, timeout: float) -> int:
        """Wait until ``documents`` were received (or ``timeout``); returns the count."""
        deadline = time.monotonic() + timeout
        while (got := int(self.stats()["documents"])) < documents and time.monotonic() < deadline:
            time.sleep(0.2)
        return got


def write_input(work: Path, records: int) -> Path:
    """``work/app.log`` with ``records`` records, no rotation; written once, reused while it is there."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "app.log"
    marker = work / f".records-{records}"
    if not marker.exists():
        print(f"writing {records} records to {log} ...", file=sys.stderr)
        for old in work.glob("app.log*"):
            old.unlink()
        command = [sys.executable, str(WORKLOAD), "--dir", str(work), "--records", str(records)]
        subprocess.run([*command, "--max-bytes", "0"], check=True)
        marker.touch()
    return log


def logship_config(
    work: Path, endpoint: DiscardEndpoint, *, logs: Path | None = None, extra: str = ""
) -> Path:
    """A configuration shipping ``logs/*.log`` (when given) to ``endpoint``, its state under ``work``."""
    path = work / "logship.toml"
    tail = f'[tail]\npaths = ["{logs}/*.log"]\npositions_dir = "{work / "state"}"\n' if logs else ""
    path.write_text(
        tail
        + f'[elasticsearch]\nhosts = ["{endpoint.url}"]\n'
        + f'[dead_letter]\npath = "{work / "dead-letter.ndjson"}"\n'
        + f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'
        + '[enrich.fields]\nhostname = "bench"\nenvironment = "bench"\nservice = "aichat-backend"\n'
        + extra
    )
    return path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def settled(pid: int, timeout: float = 20.0) -> float:
    """Wait until a starting process stops using CPU (imports done, files opened); its CPU time then."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return now
        last = now
    return last
