"""What the benchmark scripts share: the input, the discarding endpoint, logship checkouts and their
configuration, the measure of a process tree, running Fluent Bit once, min/median/max summaries."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import tomli_w

from ports import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKLOAD = HERE / "aichat_logger.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENRICH = {"hostname": "bench", "environment": "bench", "service": "aichat-backend"}
T = TypeVar("T")
TRACEBACK_START = b"Traceback (most recent call last):\n"


# -- the discarding endpoint ----------------------------------------------------------------------


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


# -- the input --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """The generated log and what it holds."""

    log: Path
    records: int
    lines: int
    tracebacks: int
    ends_in_traceback: bool
    size: int


def write_input(work: Path, records: int) -> Input:
    """``work/app.log`` with ``records`` records, no rotation; written once, reused while it is there."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "app.log"
    marker = work / f".records-{records}"
    if not marker.exists():
        print(f"writing {records} records to {log} ...", file=sys.stderr)
        for old in [*work.glob("app.log*"), *work.glob(".records-*")]:
            old.unlink()
        command = [sys.executable, str(WORKLOAD), "--dir", str(work), "--records", str(records)]
        subprocess.run([*command, "--max-bytes", "0"], check=True, stdout=subprocess.DEVNULL)
        marker.touch()
    lines = tracebacks = 0
    last_start = b""
    with log.open("rb") as f:
        for line in f:
            lines += 1
            if line == TRACEBACK_START:
                tracebacks += 1
                last_start = line
            elif line.startswith(b"{"):
                last_start = line
    return Input(log, records, lines, tracebacks, last_start == TRACEBACK_START, log.stat().st_size)


# -- logship checkouts and their configuration ------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """A source tree of logship, run as ``python -m logship`` with ``PYTHONPATH`` set to it."""

    root: Path
    label: str

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-P", "-m", "logship", *args]  # -P: not the current directory first

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root)}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def checkouts(roots: Iterable[Path]) -> list[Checkout]:
    """Checkouts labelled ``logship@<short commit>`` (``+`` when logship/ has uncommitted changes).

    Exits when a root does not hold the logship it is meant to run (an installed copy would win).
    Two checkouts of one commit get their directory's name appended to tell them apart.
    """
    found: list[Checkout] = []
    for given in roots:
        root = given.resolve()
        probe = subprocess.run(
            [sys.executable, "-P", "-c", "import logship; print(logship.__file__)"],
            env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
        )
        module = Path(probe.stdout.strip()).resolve() if probe.returncode == 0 else None
        if module is None or not module.is_relative_to(root):
            raise SystemExit(f"{root}: `import logship` with PYTHONPATH={root} finds {module}, not this tree")
        commit = _git(root, "rev-parse", "--short", "HEAD")
        dirty = "+" if _git(root, "status", "--porcelain", "--", "logship") else ""
        found.append(Checkout(root, f"logship@{commit}{dirty}" if commit else f"logship({root.name})"))
    labels = [c.label for c in found]
    return [Checkout(c.root, f"{c.label}({c.root.name})") if labels.count(c.label) > 1 else c for c in found]


def parse_setting(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` (value in TOML syntax, or else a plain string) -> (path, value)."""
    key, sep, raw = text.partition("=")
    if not sep or "." not in key:
        raise ValueError(f"{text!r}: expected section.key=value, e.g. tail.poll_interval_seconds=1.0")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def _setting(text: str) -> str:
    try:
        parse_setting(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def add_settings_option(parser: argparse.ArgumentParser) -> None:
    """``--set section.key=value`` (repeatable), checked as it is parsed."""
    parser.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a logship setting merged into the generated configuration (TOML value); repeatable",
    )


def add_checkouts_option(parser: argparse.ArgumentParser) -> None:
    """``--logship-src DIR`` (repeatable): another checkout measured in the same session."""
    parser.add_argument(
        "--logship-src",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also measure the logship of this checkout (e.g. a git worktree of an older commit); repeatable",
    )


def _merge(into: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for part in path[:-1]:
        into = into.setdefault(part, {})
        if not isinstance(into, dict):
            raise ValueError(f"{'.'.join(path)}: {part} is not a table")
    into[path[-1]] = value


def logship_config(
    work: Path,
    url: str,
    *,
    logs: Path | None = None,
    settings: Iterable[str] = (),
    name: str = "logship.toml",
) -> Path:
    """A configuration shipping ``logs/*.log`` (when given) to ``url``, its state under ``work``.

    ``settings`` are ``section.key=value`` strings merged into it (they win over what is written here).
    """
    config: dict[str, Any] = {
        "elasticsearch": {"hosts": [url]},
        "dead_letter": {"path": str(work / "dead-letter.ndjson")},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "enrich": {"fields": dict(ENRICH)},
    }
    if logs is not None:
        config["tail"] = {"paths": [f"{logs}/*.log"], "positions_dir": str(work / "state")}
    for text in settings:
        _merge(config, *parse_setting(text))
    path = work / name
    path.write_text(tomli_w.dumps(config))
    return path


def create_app_log(logs: Path) -> None:
    """Create the application's (empty) log file before logship starts, as on a host.

    A file created later is found at the next scan (`tail.scan_interval_seconds`), and what was
    written meanwhile is read as a backlog, which costs less per record than following the file and
    would flatter a longer scan interval.
    """
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "app.log").touch()


# -- the measure of a process and its descendants ---------------------------------------------------


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, start time, CPU seconds of the process and of the children it reaped), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = text.rsplit(")", 1)[1].split()
    return int(f[1]), int(f[19]), sum(int(x) for x in f[11:15]) / CLOCK_TICKS


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class ProcessTree:
    """CPU time and peak memory of a process and every process it starts, from /proc and wait4.

    CPU at a moment: the sum, over the process and its live descendants, of their user + system
    time plus that of the children each one reaped (``/proc/PID/stat`` utime, stime, cutime,
    cstime), so every thread and every process of the tree counts once. When the process exits,
    its ``wait4`` rusage (itself, its threads and every descendant it reaped) replaces its share,
    and descendants that outlive it are added from /proc. Peak memory: the sum of the peak RSS
    (VmHWM, or ru_maxrss at exit) of every process seen in the tree, sampled while it runs; exact
    for a single process, an upper bound when there are several. A descendant that exits unreaped
    after being orphaned between two samples is missed (logship starts no process today).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = (_stat(pid) or (0, 0, 0.0))[1]
        self._hwm: dict[tuple[int, int], int] = {}  # (pid, start time) -> VmHWM in KiB
        self.processes_seen = 1
        self.result: tuple[int, float] | None = None

    def _members(self) -> dict[tuple[int, int], float]:
        table: dict[int, tuple[int, int, float]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
                table[int(entry.name)] = stat
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        members: dict[tuple[int, int], float] = {}
        todo = [self.pid] if self.pid in table and table[self.pid][1] == self._start else []
        while todo:
            pid = todo.pop()
            members[(pid, table[pid][1])] = table[pid][2]
            todo.extend(children.get(pid, ()))
        return members

    def sample(self) -> float:
        """The tree's CPU seconds now; records each member's peak RSS."""
        members = self._members()
        for key in members:
            self._hwm[key] = max(self._hwm.get(key, 0), _hwm_kib(key[0]))
        self.processes_seen = max(self.processes_seen, len(self._hwm))
        return sum(members.values())

    def peak_rss_mb(self) -> float:
        return sum(self._hwm.values()) / 1024

    def poll(self) -> tuple[int, float] | None:
        """(exit code, CPU seconds of the tree) once the process exited (it is reaped here), else None."""
        if self.result is not None:
            return self.result
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if not pid:
            return None
        root = (self.pid, self._start)
        self._hwm[root] = max(self._hwm.get(root, 0), usage.ru_maxrss)
        cpu = usage.ru_utime + usage.ru_stime
        for pid, start in list(self._hwm):
            stat = _stat(pid) if pid != self.pid else None
            if stat is not None and stat[1] == start:  # outlived the process: not in its rusage
                cpu += stat[2]
        self.result = os.waitstatus_to_exitcode(status), cpu
        return self.result

    def wait(self, timeout: float | None = None, interval: float = 0.25) -> tuple[int, float] | None:
        """Sample until the process exits: (exit code, CPU seconds of the tree); None after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (done := self.poll()) is None:
            self.sample()
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(interval)
        return done

    def settled(self, timeout: float = 20.0) -> float:
        """Wait until a starting process tree stops using CPU (imports done, files opened); its CPU then."""
        deadline = time.monotonic() + timeout
        last = self.sample()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.sample()
            if now - last < 0.02:
                return now
            last = now
        return last


def stop(proc: subprocess.Popen[bytes], tree: ProcessTree, grace: float = 30.0) -> tuple[int, float]:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code and the tree's CPU seconds."""
    proc.send_signal(signal.SIGTERM)
    done = tree.wait(timeout=grace)
    if done is None:
        proc.kill()
        done = tree.wait()
        assert done is not None
    proc.returncode = done[0]
    return done


# -- one run and summaries ----------------------------------------------------------------------------


@dataclass
class Run:
    """One shipper's pass over the input."""

    shipper: str
    run: int
    records: int
    documents: int
    expected_documents: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    exit_code: int
    processes: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.documents == self.expected_documents and self.exit_code in (0, -signal.SIGTERM)

    def report(self) -> dict[str, Any]:
        wall = max(self.wall_seconds, 1e-9)
        return {
            "shipper": self.shipper,
            "run": self.run,
            "records": self.records,
            "documents_received": self.documents,
            "documents_expected": self.expected_documents,
            "complete": self.documents == self.expected_documents,
            "wall_seconds": round(self.wall_seconds, 2),
            "records_per_second": round(self.records / wall),
            "cpu_seconds_per_million": round(self.cpu_seconds / self.records * 1e6, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "processes": self.processes,
            "exit_code": self.exit_code,
            **self.extra,
        }


SUMMARY_ROWS = (
    ("records/s", "records_per_second"),
    ("records/s before final flush", "records_per_second_before_final_flush"),
    ("wall s", "wall_seconds"),
    ("CPU s per million records", "cpu_seconds_per_million"),
    ("engine CPU s per million records", "engine_cpu_seconds_per_million"),
    ("share of a core", "share_of_a_core"),
    ("peak RSS MB", "peak_rss_mb"),
)


def rotated(items: Sequence[T], run: int) -> list[T]:
    """``items`` starting at the (run - 1)-th: who goes first changes from one run to the next."""
    start = (run - 1) % len(items)
    return [*items[start:], *items[:start]]


def summarize(reports: Sequence[Mapping[str, Any]], group: str = "shipper") -> dict[str, Any]:
    """Min, median and max of each figure of SUMMARY_ROWS over the reports of each ``group`` value."""
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(r[group] for r in reports):
        mine = [r for r in reports if r[group] == name]
        figures: dict[str, Any] = {
            "runs": len(mine),
            "all_complete": all(r.get("complete", True) for r in mine),
        }
        for _, key in SUMMARY_ROWS:
            values = [r[key] for r in mine if key in r]
            if values:
                median = statistics.median(values)
                figures[key] = {"min": min(values), "median": round(median, 3), "max": max(values)}
        summary[str(name)] = figures
    return summary


def print_summary(summary: Mapping[str, Any], title: str) -> None:
    """The summary as a table on stderr: one block per shipper, min / median / max per figure."""

    def cell(value: float) -> str:
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"

    print(f"\n{title}", file=sys.stderr)
    print(f"{'':<32}{'min':>12}{'median':>12}{'max':>12}", file=sys.stderr)
    for name, figures in summary.items():
        state = "all complete" if figures["all_complete"] else "INCOMPLETE runs"
        print(f"{name}  ({figures['runs']} runs, {state})", file=sys.stderr)
        for label, key in SUMMARY_ROWS:
            if key in figures:
                f = figures[key]
                row = f"{cell(f['min']):>12}{cell(f['median']):>12}{cell(f['max']):>12}"
                print(f"  {label:<30}{row}", file=sys.stderr)


# -- logship replay, once ----------------------------------------------------------------------------


def run_logship_replay(number: int, data: Input, checkout: Checkout, config: Path, scratch: Path) -> Run:
    """``logship replay FILE`` of ``checkout``: wall time from start to exit, its process tree's CPU/RSS.

    The documents counted are those the run's summary line says were indexed.
    """
    out_path = scratch / f"replay-{number}.out"
    with out_path.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            checkout.command("replay", str(data.log), "--config", str(config)), stdout=out, env=checkout.env()
        )
        tree = ProcessTree(proc.pid)
        done = tree.wait()
        wall = time.monotonic() - started
    assert done is not None
    proc.returncode, cpu = done
    summary = out_path.read_text().strip()
    indexed = 0
    for part in summary.split(","):
        if part.strip().startswith("indexed:"):
            indexed = int(part.split(":")[1])
    return Run(
        shipper=checkout.label,
        run=number,
        records=data.records,
        documents=indexed,
        expected_documents=data.records,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_mb=tree.peak_rss_mb(),
        exit_code=proc.returncode,
        processes=tree.processes_seen,
        extra={"summary": summary},
    )


# -- Fluent Bit, once ---------------------------------------------------------------------------------
#
# The pipeline is the one a Fluent Bit user would write for these logs (see run_bench.py's
# docstring for what it does with tracebacks and broken lines): tail with the built-in `python`
# multiline parser (or none), the parser filter with a json parser, record_modifier adding
# ENRICH, the es output with Logstash_Format into the endpoint.


def fluent_bit_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[0]


def fluent_bit_config(
    data: Input, endpoint: DiscardEndpoint, run_dir: Path, multiline: str, mem_buf_limit: str
) -> Path:
    """Write the Fluent Bit configuration (classic format) and its parsers file into run_dir."""
    parsers = run_dir / "parsers.conf"
    parsers.write_text(
        "[PARSER]\n"
        "    Name        aichat_json\n"
        "    Format      json\n"
        "    Time_Key    timestamp\n"
        "    Time_Format %Y-%m-%d %H:%M:%S\n"
    )
    if multiline == "python":
        # tail ignores Parser once a multiline parser is set: the json parser runs as a filter.
        tail_parse = "    multiline.parser  python\n"
        parse_filter = (
            "[FILTER]\n"
            "    Name     parser\n"
            "    Match    aichat\n"
            "    Key_Name log\n"
            "    Parser   aichat_json\n\n"
        )
    else:
        tail_parse = "    Parser            aichat_json\n"
        parse_filter = ""
    limit = f"    Mem_Buf_Limit     {mem_buf_limit}\n" if mem_buf_limit else ""
    records = "".join(f"    Record {key} {value}\n" for key, value in ENRICH.items())
    config = run_dir / "fluent-bit.conf"
    config.write_text(
        "[SERVICE]\n"
        "    Flush        1\n"
        "    Grace        1\n"
        "    Log_Level    error\n"
        f"    Parsers_File {parsers}\n\n"
        "[INPUT]\n"
        "    Name              tail\n"
        "    Tag               aichat\n"
        f"    Path              {data.log}\n"
        "    Read_from_Head    On\n"
        f"    DB                {run_dir / 'tail.db'}\n"
        f"{tail_parse}{limit}\n"
        f"{parse_filter}"
        "[FILTER]\n"
        "    Name   record_modifier\n"
        "    Match  aichat\n"
        f"{records}\n"
        "[OUTPUT]\n"
        "    Name               es\n"
        "    Match              aichat\n"
        "    Host               127.0.0.1\n"
        f"    Port               {endpoint.port}\n"
        "    Logstash_Format    On\n"
        "    Logstash_Prefix    aichat\n"
        "    Suppress_Type_Name On\n"
        "    Buffer_Size        False\n"
    )
    return config


@dataclass(frozen=True)
class FluentBit:
    """How to run the peer: its binary, traceback handling, tail Mem_Buf_Limit, when to stop it."""

    binary: str
    multiline: str = "python"
    mem_buf_limit: str = ""
    idle: float = 10.0
    timeout: float = 900.0
    label: str = "fluent-bit"
    poll_seconds: float = 0.05


def run_fluent_bit(number: int, data: Input, endpoint: DiscardEndpoint, scratch: Path, fb: FluentBit) -> Run:
    """Fluent Bit over ``data.log`` into ``endpoint`` from a fresh tail DB, until every document came.

    It never exits by itself: the endpoint's counts are polled until the documents expected have
    arrived (or the count stopped growing for ``fb.idle`` seconds), then it gets SIGTERM. Wall time
    is from its start to the last bulk request the endpoint counted; CPU and peak RSS are those of
    its process tree (threads included) at exit, so they include the 1 s flush and grace periods.
    """
    run_dir = scratch / f"fluent-bit-{number}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config = fluent_bit_config(data, endpoint, run_dir, fb.multiline, fb.mem_buf_limit)
    if fb.multiline == "python":
        # The python parser joins a traceback's lines but not to the JSON line before them.
        expected = data.records + data.tracebacks
        held = 1 if data.ends_in_traceback else 0  # kept back until the multiline flush timeout
    else:
        expected, held = data.lines, 0
    before = endpoint.stats()["documents"]
    with (run_dir / "fluent-bit.out").open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen([fb.binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    tree = ProcessTree(proc.pid)
    count, changed, polls = 0, started, 0
    before_final: float | None = None
    stats: dict[str, Any] = {}
    while True:
        stats = endpoint.stats()
        now = time.monotonic()
        if stats["documents"] - before != count:
            count, changed = stats["documents"] - before, now
        if before_final is None and count >= expected - held:
            before_final = float(stats["last_bulk_at"])
        if count >= expected or tree.poll() is not None:
            break
        if now - changed > (fb.idle if count else fb.timeout) or now - started > fb.timeout:
            break
        polls += 1
        if polls % 4 == 0:
            tree.sample()
        time.sleep(fb.poll_seconds)
    last = float(stats["last_bulk_at"]) if count else time.monotonic()
    exited = tree.poll()
    if exited is None:
        cpu_at_stop = tree.sample()
        code, cpu = stop(proc, tree)
    else:  # it exited by itself
        code, cpu = exited
        cpu_at_stop = cpu
        proc.returncode = code
    if code not in (0, -signal.SIGTERM) or count != expected:
        tail = (run_dir / "fluent-bit.out").read_text(errors="replace")[-2000:]
        print(
            f"fluent-bit run {number}: exit {code}, {count} of {expected} documents\n{tail}", file=sys.stderr
        )
    extra: dict[str, Any] = {"multiline": fb.multiline}
    if held and before_final is not None:
        extra["wall_seconds_before_final_flush"] = round(before_final - started, 2)
        extra["records_per_second_before_final_flush"] = round(data.records / (before_final - started))
    extra["cpu_seconds_at_stop_per_million"] = round(cpu_at_stop / data.records * 1e6, 2)
    return Run(
        shipper=fb.label,
        run=number,
        records=data.records,
        documents=count,
        expected_documents=expected,
        wall_seconds=max(last - started, 1e-9),
        cpu_seconds=cpu,
        peak_rss_mb=tree.peak_rss_mb(),
        exit_code=code,
        processes=tree.processes_seen,
        extra=extra,
    )


# -- a real engine -----------------------------------------------------------------------------------


def engine_request(url: str, method: str, path: str) -> Any:
    """One JSON request to a search engine; the decoded answer (None for 404)."""
    request = urllib.request.Request(url.rstrip("/") + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def engine_cleanup(url: str, prefix: str) -> list[str]:
    """Delete the indices ``<prefix>-*`` and index templates ``<prefix>*`` (by name: wildcard deletes
    are refused by default); the names deleted."""
    gone: list[str] = []
    indices = engine_request(url, "GET", f"/_cat/indices/{prefix}-*?format=json&h=index") or []
    names = [i["index"] for i in indices]
    if names:
        engine_request(url, "DELETE", "/" + ",".join(names))
        gone += names
    templates = engine_request(url, "GET", f"/_index_template/{prefix}*") or {}
    for template in templates.get("index_templates", []):
        engine_request(url, "DELETE", f"/_index_template/{template['name']}")
        gone.append(f"template {template['name']}")
    return gone
