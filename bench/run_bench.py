#!/usr/bin/env python3
"""Replay throughput: logship (one or more checkouts) and optionally Fluent Bit over the same file.

The input is written once by bench/aichat_logger.py (1,008,000 records by default, about 292 MB,
no rotation; every 500th record carries a Python traceback, every 200th message breaks its JSON
line) and kept while `--dir` holds it. Every run replays the whole file into one
bench/discard_endpoint.py, running in its own process, or with `--engine URL` into a real
Elasticsearch or OpenSearch node. The shippers alternate within each run (each logship checkout,
then Fluent Bit; the order rotates from one run to the next), so a noisy machine and the order
hurt them alike; each run prints a JSON line, and the end a
summary with the min, median and max of records/s, wall seconds, CPU seconds per million records
and peak RSS of each shipper (JSON on stdout, a table on stderr).

    python bench/run_bench.py --runs 3                          # this checkout, 1,008,000 records
    python bench/run_bench.py --runs 3 --peers BIN              # and Fluent Bit (or FLUENT_BIT=BIN)
    python bench/run_bench.py --logship-src ../old              # and a second checkout: before/after
    python bench/run_bench.py --engine http://127.0.0.1:9200    # what the engine limits
    python bench/run_bench.py --engine URL --engine-pid PID     # and the engine's CPU per million
    python bench/run_bench.py --reject 0.2                      # the endpoint refuses 20 % with 429
    python bench/run_bench.py --set batch.max_documents=2000    # vary a setting (repeatable)

Measure. logship runs `python -m logship replay FILE` with PYTHONPATH set to its checkout (the
one holding this script, then each `--logship-src DIR`, labelled by its short commit, `+` when
its logship/ has uncommitted changes) and exits at the end of the file: its wall time is from
start to exit. CPU seconds and peak RSS are those of its whole process tree (benchlib.ProcessTree:
wait4's rusage of the process, which holds its threads and every child it reaped, plus any
descendant still alive, sampled from /proc while it runs); `processes` says how many there were.
Documents are counted by the endpoint (or the engine), not taken from logship's word.

Fluent Bit (`--peers BIN`) tails the file from its head (`Read_from_Head On`, a fresh DB file each
run) and never exits, so the script polls the endpoint until the documents expected have arrived
(or the count stops growing for `--idle` seconds), then stops it with SIGTERM. Its wall time is
from start to the last bulk request the endpoint counted; CPU and RSS are measured as logship's.
The pipeline is the one a Fluent Bit user would write for these logs:

* `tail` with Fluent Bit's built-in `python` multiline parser (`--fb-multiline python`, the
  default). Its start state is the `Traceback (most recent call last):` line, so it joins the
  traceback lines into one record but cannot join them to the JSON line before them: Fluent Bit
  sends records + tracebacks documents (1,010,016 for 1,008,000 records), where logship attaches
  the traceback to its record (`error.stack_trace`). With `--fb-multiline off` every traceback
  line is a record. The last record of the default input is a traceback, which Fluent Bit may
  hold until its multiline flush timer fires (4 s): the throughput is also given to the document
  before that final record (`..._before_final_flush`).
* the `parser` filter with a `json` parser (`Time_Key timestamp`, `Time_Format %Y-%m-%d
  %H:%M:%S`) on the `log` key. Lines it rejects (broken JSON lines, tracebacks) are sent as
  `{"log": "<raw line>"}` with the read time as `@timestamp`, where logship repairs or falls back
  and keeps the fields.
* `record_modifier` adding hostname, environment and service (logship's `[enrich.fields]`);
* `es` to the endpoint: `Logstash_Format On`, `Logstash_Prefix aichat`, `Suppress_Type_Name On`,
  `Buffer_Size False`, its default 2 workers; `Flush 1`. `--fb-mem-buf-limit` sets tail's
  `Mem_Buf_Limit` (unset by default: Fluent Bit then reads ahead without bound).

Building the peer: a release binary (-O2; a Debug build is about 2x slower and no fair comparison)
from a release tag of https://github.com/fluent/fluent-bit:

    apt-get install cmake flex bison build-essential libyaml-dev libssl-dev libsqlite3-dev pkg-config
    cmake -S fluent-bit -B build -DFLB_RELEASE=On -DCMAKE_BUILD_TYPE=Release \\
        -DFLB_MINIMAL=On -DFLB_IN_TAIL=On -DFLB_FILTER_PARSER=On -DFLB_FILTER_RECORD_MODIFIER=On \\
        -DFLB_FILTER_MODIFY=On -DFLB_OUT_ES=On -DFLB_OUT_NULL=On -DFLB_OUT_STDOUT=On \\
        -DFLB_EXAMPLES=Off -DFLB_SHARED_LIB=Off -DFLB_TESTS_RUNTIME=Off -DFLB_TESTS_INTERNAL=Off \\
        -DFLB_WASM=Off -DFLB_LUAJIT=Off -DFLB_KAFKA=Off -DFLB_ZIG=Off -DFLB_PROXY_GO=Off \\
        -DFLB_CUSTOM_CALYPTIA=Off -DFLB_STREAM_PROCESSOR=Off -DFLB_PREFER_SYSTEM_LIB_SQLITE=On
    make -C build -j2          # build/bin/fluent-bit

`FLB_RELEASE=On` is what makes it a release build (RelWithDebInfo: -O2 -g -DNDEBUG);
`FLB_MINIMAL=On` turns every plugin off and the options after it turn back on the ones used here.
Keep `FLB_HTTP_SERVER` and `FLB_AWS`/`FLB_SIGNV4` at their defaults: in 4.2 the build fails
without them.

With `--engine URL` each run writes to indices of its own prefix (`bench-<random>-<n>-*`, with
the index template `logship setup` installs for it, 0 replicas, no retention policy; the setup is
not timed), checks that the engine holds exactly the records replayed, and deletes the indices
and the template afterwards. The first run also warms the engine (JIT, caches): read the median.
Fluent Bit and `--reject` only run against the discarding endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    Checkout,
    DiscardEndpoint,
    FluentBit,
    Input,
    Run,
    add_checkouts_option,
    add_settings_option,
    checkouts,
    engine_cleanup,
    engine_request,
    fluent_bit_version,
    logship_config,
    print_summary,
    rotated,
    run_fluent_bit,
    run_logship_replay,
    summarize,
    write_input,
)


def emit(run: Run, runs: list[Run]) -> None:
    runs.append(run)
    print(json.dumps(run.report()), flush=True)


def discard_session(
    args: argparse.Namespace, data: Input, shippers: list[Checkout], fb: FluentBit | None, scratch: Path
) -> list[Run]:
    runs: list[Run] = []
    order: list[Checkout | FluentBit] = [*shippers, *([fb] if fb else [])]
    with DiscardEndpoint(args.reject) as endpoint:
        for number in range(1, args.runs + 1):
            for shipper in rotated(order, number):
                if isinstance(shipper, FluentBit):
                    emit(run_fluent_bit(number, data, endpoint, scratch, shipper), runs)
                    continue
                config = logship_config(scratch, endpoint.url, settings=args.set)
                before = endpoint.stats()["documents"]
                run = run_logship_replay(number, data, shipper, config, scratch)
                run.documents = endpoint.stats()["documents"] - before
                run.extra["items_rejected_total"] = endpoint.stats()["rejected"]
                emit(run, runs)
    return runs


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (its threads included), from /proc."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_session(
    args: argparse.Namespace, data: Input, shippers: list[Checkout], scratch: Path
) -> list[Run]:
    runs: list[Run] = []
    token = secrets.token_hex(4)
    for number in range(1, args.runs + 1):
        for checkout in rotated(shippers, number):
            index = shippers.index(checkout)
            prefix = f"bench-{token}-{number}-{index}"
            settings = [
                f'elasticsearch.index_prefix="{prefix}"',
                "index.replicas=0",
                'index.retention="off"',
                *args.set,
            ]
            config = logship_config(scratch, args.engine, settings=settings)
            try:
                setup = subprocess.run(
                    checkout.command("setup", "--config", str(config)),
                    env=checkout.env(),
                    capture_output=True,
                    text=True,
                )
                if setup.returncode != 0:
                    raise SystemExit(f"logship setup failed:\n{setup.stdout}{setup.stderr}")
                engine_cpu = process_cpu_seconds(args.engine_pid)
                run = run_logship_replay(number, data, checkout, config, scratch)
                if engine_cpu is not None:
                    used = (process_cpu_seconds(args.engine_pid) or engine_cpu) - engine_cpu
                    run.extra["engine_cpu_seconds_per_million"] = round(used / data.records * 1e6, 2)
                engine_request(args.engine, "POST", f"/{prefix}-*/_refresh")
                count = engine_request(args.engine, "GET", f"/{prefix}-*/_count")
                run.documents = int(count["count"]) if count else 0
                run.extra["index_prefix"] = prefix
            finally:
                deleted = engine_cleanup(args.engine, prefix)
            run.extra["deleted_afterwards"] = deleted
            emit(run, runs)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="The module docstring (at the top of this file) explains what is measured and how.",
    )
    parser.add_argument("--records", type=int, default=1_008_000)
    parser.add_argument(
        "--dir", type=Path, help="reuse or keep the generated log here (default: a temporary dir)"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs every shipper once")
    add_checkouts_option(parser)
    parser.add_argument(
        "--peers",
        "--fluent-bit",
        dest="fluent_bit",
        default=os.environ.get("FLUENT_BIT"),
        metavar="BIN",
        help="also run this Fluent Bit binary, a release build (default: $FLUENT_BIT)",
    )
    parser.add_argument(
        "--engine", metavar="URL", help="replay into this Elasticsearch/OpenSearch node, not the endpoint"
    )
    parser.add_argument(
        "--engine-pid",
        type=int,
        help="with --engine: also report the CPU the engine's process (this pid) spent per million records",
    )
    add_settings_option(parser)
    parser.add_argument(
        "--reject",
        type=float,
        default=0.0,
        help="share of items the endpoint refuses with 429 (a busy cluster)",
    )
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
    if args.engine and (args.fluent_bit or args.reject):
        parser.error("--engine measures logship alone: Fluent Bit and --reject need the discarding endpoint")
    if args.fluent_bit and args.idle <= 4.5 and args.fb_multiline == "python":
        parser.error("--idle must exceed the 4 s multiline flush timeout")

    shippers = checkouts([REPO, *args.logship_src])
    work = args.dir or Path(tempfile.mkdtemp(prefix="logship-bench-"))
    data = write_input(work, args.records)
    header: dict[str, Any] = {
        "records": data.records,
        "lines": data.lines,
        "tracebacks": data.tracebacks,
        "bytes": data.size,
        "target": args.engine or "discard endpoint",
        "logship": {c.label: str(c.root) for c in shippers},
    }
    fb = None
    if args.fluent_bit:
        fb = FluentBit(args.fluent_bit, args.fb_multiline, args.fb_mem_buf_limit, args.idle, args.timeout)
        header["fluent_bit"] = fluent_bit_version(args.fluent_bit)
    print(json.dumps({"input": header}), flush=True)

    with tempfile.TemporaryDirectory(prefix="logship-bench-run-") as tmp:
        if args.engine:
            runs = engine_session(args, data, shippers, Path(tmp))
        else:
            runs = discard_session(args, data, shippers, fb, Path(tmp))
    summary = summarize([r.report() for r in runs])
    print(json.dumps({"summary": summary}))
    target = f"into {args.engine}" if args.engine else "into the discarding endpoint"
    print_summary(summary, f"{data.records:,} records {target}, {args.runs} alternating runs")
    failed = [r for r in runs if not r.ok]
    for r in failed:
        documents = f"{r.documents} of {r.expected_documents} documents"
        print(f"run {r.run} of {r.shipper}: exit {r.exit_code}, {documents}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
