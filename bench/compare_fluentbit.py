#!/usr/bin/env python3
"""Side by side: logship and Fluent Bit ship the same AI Chat backend log into the same discard endpoint.

Both shippers read one file written once by bench/aichat_logger.py (1,008,000 records by default,
no rotation; every 500th record carries a Python traceback, every 200th message breaks its JSON
line) and send it to one bench/discard_endpoint.py. The runs alternate, logship then Fluent Bit,
so a noisy machine hurts both alike; the summary gives the median of each.

    python bench/compare_fluentbit.py --fluent-bit build/bin/fluent-bit --runs 3
    FLUENT_BIT=build/bin/fluent-bit python bench/compare_fluentbit.py --dir bench-data
    python bench/compare_fluentbit.py --fluent-bit ... --fb-multiline off   # no traceback handling

logship runs `logship replay FILE` (as bench/run_bench.py does) and exits at the end of the file:
its wall time is from start to exit. Fluent Bit tails the file from its head (`Read_from_Head On`,
a fresh DB file in a scratch directory each run) and never exits, so the script polls the
endpoint's `/_stats/discard` until the documents expected have arrived (or the count stops growing
for `--idle` seconds), then stops it with SIGTERM. Its wall time is from start to the last bulk
request the endpoint counted. For both, CPU seconds and peak RSS are the process's own (its
threads included), from the rusage `os.wait4` returns.

The Fluent Bit pipeline is the one a Fluent Bit user would write for these logs:

* `tail` with Fluent Bit's built-in `python` multiline parser (`--fb-multiline python`, the
  default). It applies, but only in part: its start state is the `Traceback (most recent call
  last):` line, so it joins the four traceback lines into one record, yet cannot join them to
  the JSON line before them. Each traceback therefore arrives as a record of its own: Fluent Bit
  sends records + tracebacks documents (1,010,016 for 1,008,000 records), where logship attaches
  the traceback to its record (`error.stack_trace`) and sends exactly the records written. With
  `--fb-multiline off` every traceback line is a record (records + 4 x tracebacks).
  The last record of the default input is a traceback, which Fluent Bit may hold until its
  multiline flush timer fires (4 s for built-in parsers) in case more lines follow. The figures
  are given both to the last document and to the one before that final record
  (`..._before_final_flush`; the same when it was not held).
* the `parser` filter with a `json` parser (`Time_Key timestamp`, `Time_Format %Y-%m-%d
  %H:%M:%S`) on the `log` key (tail ignores `Parser` when a multiline parser is set). Lines the
  parser rejects (the broken JSON lines, the tracebacks) are sent as `{"log": "<raw line>"}`,
  where logship repairs or falls back and keeps the fields.
  Such records carry the time Fluent Bit read them as `@timestamp`, not the time they were
  logged. Otherwise the documents match logship's, less the fields logship adds (`_id`,
  `log.file.path`, `log.offset`, the original `timestamp`).
* `record_modifier` adding hostname, environment and service (logship's `[enrich.fields]`);
* `es` to the endpoint: `Logstash_Format On`, `Logstash_Prefix aichat`, `Suppress_Type_Name On`,
  `Buffer_Size False`, its default 2 workers; `Flush 1`. `--fb-mem-buf-limit` sets tail's
  `Mem_Buf_Limit` (unset by default: Fluent Bit then reads ahead without bound).

Building the peer. There is no distribution package to rely on; build a release (-O2, not the
default Debug) binary from a release tag of https://github.com/fluent/fluent-bit:

    apt-get install cmake flex bison build-essential libyaml-dev libssl-dev libsqlite3-dev pkg-config
    cmake -S fluent-bit -B build -DFLB_RELEASE=On -DCMAKE_BUILD_TYPE=Release \\
        -DFLB_MINIMAL=On -DFLB_IN_TAIL=On -DFLB_FILTER_PARSER=On -DFLB_FILTER_RECORD_MODIFIER=On \\
        -DFLB_FILTER_MODIFY=On -DFLB_OUT_ES=On -DFLB_OUT_NULL=On -DFLB_OUT_STDOUT=On \\
        -DFLB_EXAMPLES=Off -DFLB_SHARED_LIB=Off -DFLB_TESTS_RUNTIME=Off -DFLB_TESTS_INTERNAL=Off \\
        -DFLB_WASM=Off -DFLB_LUAJIT=Off -DFLB_KAFKA=Off -DFLB_ZIG=Off -DFLB_PROXY_GO=Off \\
        -DFLB_CUSTOM_CALYPTIA=Off -DFLB_STREAM_PROCESSOR=Off -DFLB_PREFER_SYSTEM_LIB_SQLITE=On
    make -C build -j2          # build/bin/fluent-bit

`FLB_RELEASE=On` is what makes it a release build (it sets RelWithDebInfo: -O2 -g -DNDEBUG);
`FLB_MINIMAL=On` turns every plugin off and the options after it turn back on the ones used here.
Keep `FLB_HTTP_SERVER` and `FLB_AWS`/`FLB_SIGNV4` at their defaults: in 4.2 the build fails
without them. `FLB_PREFER_SYSTEM_LIB_SQLITE` only matters if the bundled SQLite source is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import DiscardEndpoint, write_input

TRACEBACK_START = b"Traceback (most recent call last):\n"
ENRICH = {"hostname": "bench", "environment": "bench", "service": "aichat-backend"}
POLL_SECONDS = 0.05


@dataclass
class Run:
    """One shipper's pass over the file."""

    shipper: str
    run: int
    records: int
    documents: int
    expected_documents: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_kib: int
    exit_code: int
    extra: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "shipper": self.shipper,
            "run": self.run,
            "records": self.records,
            "documents_received": self.documents,
            "documents_expected": self.expected_documents,
            "complete": self.documents == self.expected_documents,
            "wall_seconds": round(self.wall_seconds, 2),
            "records_per_second": round(self.records / self.wall_seconds),
            "cpu_seconds_per_million": round(self.cpu_seconds / self.records * 1e6, 2),
            "peak_rss_mb": round(self.peak_rss_kib / 1024, 1),
            "exit_code": self.exit_code,
            **self.extra,
        }


@dataclass(frozen=True)
class Input:
    """The generated log and what it holds."""

    log: Path
    records: int
    lines: int
    tracebacks: int
    ends_in_traceback: bool
    size: int


def prepare_input(work: Path, records: int) -> Input:
    """Write the records once (the same file and marker as bench/run_bench.py), then count its lines."""
    log = write_input(work, records)
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


def run_logship(number: int, data: Input, endpoint: DiscardEndpoint, scratch: Path) -> Run:
    config = scratch / "logship.toml"
    enrich = "".join(f'{key} = "{value}"\n' for key, value in ENRICH.items())
    config.write_text(
        f'[elasticsearch]\nhosts = ["{endpoint.url}"]\n'
        f'[dead_letter]\npath = "{scratch / "dead-letter.ndjson"}"\n'
        f"[enrich.fields]\n{enrich}"
    )
    before = endpoint.stats()["documents"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "logship", "replay", str(data.log), "--config", str(config)],
        stdout=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    return Run(
        shipper="logship",
        run=number,
        records=data.records,
        documents=endpoint.stats()["documents"] - before,
        expected_documents=data.records,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_kib=usage.ru_maxrss,
        exit_code=os.waitstatus_to_exitcode(status),
        extra={"summary": out.strip()},
    )


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


def proc_usage(pid: int) -> tuple[float, int]:
    """CPU seconds (utime + stime) and VmHWM in KiB of a live process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return cpu, hwm


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> tuple[int, resource.struct_rusage | None]:
    """SIGTERM, then SIGKILL after grace seconds; the exit status and rusage from wait4."""
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        time.sleep(0.02)


def run_fluent_bit(
    number: int,
    data: Input,
    endpoint: DiscardEndpoint,
    scratch: Path,
    binary: str,
    multiline: str,
    mem_buf_limit: str,
    idle: float,
    timeout: float,
) -> Run:
    run_dir = scratch / f"fluent-bit-{number}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config = fluent_bit_config(data, endpoint, run_dir, multiline, mem_buf_limit)
    if multiline == "python":
        expected = data.records + data.tracebacks
        held = 1 if data.ends_in_traceback else 0  # kept back until the multiline flush timeout
    else:
        expected, held = data.lines, 0
    before = endpoint.stats()["documents"]
    with (run_dir / "fluent-bit.out").open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen([binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    count, changed = 0, started
    before_final: float | None = None
    stats: dict[str, Any] = {}
    while True:
        stats = endpoint.stats()
        now = time.monotonic()
        if stats["documents"] - before != count:
            count, changed = stats["documents"] - before, now
        if before_final is None and count >= expected - held:
            before_final = float(stats["last_bulk_at"])
        if count >= expected or proc.poll() is not None:
            break
        if now - changed > (idle if count else timeout) or now - started > timeout:
            break
        time.sleep(POLL_SECONDS)
    last = float(stats["last_bulk_at"]) if count else time.monotonic()
    cpu_at_stop, hwm_at_stop = proc_usage(proc.pid) if proc.poll() is None else (0.0, 0)
    code, usage = stop(proc) if proc.returncode is None else (proc.returncode, None)
    if code not in (0, -signal.SIGTERM) or count != expected:
        tail = (run_dir / "fluent-bit.out").read_text(errors="replace")[-2000:]
        print(
            f"fluent-bit run {number}: exit {code}, {count} of {expected} documents\n{tail}", file=sys.stderr
        )
    extra: dict[str, Any] = {"multiline": multiline}
    if held and before_final is not None:
        extra["wall_seconds_before_final_flush"] = round(before_final - started, 2)
        extra["records_per_second_before_final_flush"] = round(data.records / (before_final - started))
    extra["cpu_seconds_at_stop_per_million"] = round(cpu_at_stop / data.records * 1e6, 2)
    extra["vmhwm_at_stop_mb"] = round(hwm_at_stop / 1024, 1)
    return Run(
        shipper="fluent-bit",
        run=number,
        records=data.records,
        documents=count,
        expected_documents=expected,
        wall_seconds=max(last - started, 1e-9),
        cpu_seconds=(usage.ru_utime + usage.ru_stime) if usage else cpu_at_stop,
        peak_rss_kib=usage.ru_maxrss if usage else hwm_at_stop,
        exit_code=code,
        extra=extra,
    )


def summarize(runs: list[Run]) -> dict[str, Any]:
    """The median of each figure over the runs of each shipper."""
    summary: dict[str, Any] = {}
    for shipper in ("logship", "fluent-bit"):
        reports = [r.report() for r in runs if r.shipper == shipper]
        if not reports:
            continue
        keys = [k for k, v in reports[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
        medians: dict[str, Any] = {
            k: statistics.median(r[k] for r in reports if k in r)
            for k in keys
            if k not in ("run", "exit_code")
        }
        medians["runs"] = len(reports)
        medians["all_complete"] = all(r["complete"] for r in reports)
        summary[shipper] = medians
    return summary


def print_table(summary: dict[str, Any]) -> None:
    rows = [
        ("records/s", "records_per_second"),
        ("records/s before final flush", "records_per_second_before_final_flush"),
        ("CPU s per million records", "cpu_seconds_per_million"),
        ("peak RSS MB", "peak_rss_mb"),
        ("documents received", "documents_received"),
        ("documents expected", "documents_expected"),
    ]
    names = [s for s in ("logship", "fluent-bit") if s in summary]
    print(
        f"{'median of ' + str(max(summary[s]['runs'] for s in names)) + ' runs':<32}", end="", file=sys.stderr
    )
    print("".join(f"{n:>14}" for n in names), file=sys.stderr)
    for label, key in rows:
        cells = "".join(f"{summary[n].get(key, '-'):>14}" for n in names)
        print(f"{label:<32}{cells}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fluent-bit",
        default=os.environ.get("FLUENT_BIT"),
        help="the fluent-bit binary (default: $FLUENT_BIT)",
    )
    parser.add_argument("--records", type=int, default=1_008_000)
    parser.add_argument(
        "--dir", type=Path, help="reuse or keep the generated log here (default: a temporary dir)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each shipper, alternating")
    parser.add_argument(
        "--fb-multiline",
        choices=("python", "off"),
        default="python",
        help="Fluent Bit's traceback handling: the built-in python multiline parser, or none",
    )
    parser.add_argument("--fb-mem-buf-limit", default="", help="Fluent Bit tail Mem_Buf_Limit, e.g. 64MB")
    parser.add_argument(
        "--idle", type=float, default=10.0, help="stop Fluent Bit once no document came for this long"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="longest Fluent Bit run, seconds")
    args = parser.parse_args()
    if not args.fluent_bit:
        parser.error("give --fluent-bit PATH or set FLUENT_BIT")
    if args.idle <= 4.5 and args.fb_multiline == "python":
        parser.error("--idle must exceed the 4 s multiline flush timeout")

    work = args.dir or Path(tempfile.mkdtemp(prefix="logship-compare-"))
    data = prepare_input(work, args.records)
    print(
        f"{data.records} records, {data.lines} lines, {data.tracebacks} tracebacks, {data.size} bytes",
        file=sys.stderr,
    )
    version = subprocess.run([args.fluent_bit, "--version"], capture_output=True, text=True, check=True)
    print(version.stdout.splitlines()[0], file=sys.stderr)

    runs: list[Run] = []
    with DiscardEndpoint() as endpoint, tempfile.TemporaryDirectory(prefix="logship-compare-run-") as tmp:
        scratch = Path(tmp)
        for number in range(1, args.runs + 1):
            for shipper in ("logship", "fluent-bit"):
                if shipper == "logship":
                    result = run_logship(number, data, endpoint, scratch)
                else:
                    result = run_fluent_bit(
                        number,
                        data,
                        endpoint,
                        scratch,
                        args.fluent_bit,
                        args.fb_multiline,
                        args.fb_mem_buf_limit,
                        args.idle,
                        args.timeout,
                    )
                runs.append(result)
                print(json.dumps(result.report()), flush=True)
    summary = summarize(runs)
    print(json.dumps({"summary": summary}))
    print_table(summary)
    failed = [
        r for r in runs if r.documents != r.expected_documents or r.exit_code not in (0, -signal.SIGTERM)
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
