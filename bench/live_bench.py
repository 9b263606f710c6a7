#!/usr/bin/env python3
"""Live-mode cost: `logship run` following logs the application writes at a steady rate.

For each rate, each run and each checkout (alternating, the order rotating from run to run), the
workload writes for `--seconds` (10 MB rename rotation, its default tracebacks and broken lines)
while `logship run` ships into a discarding endpoint running in its own process. Measured from
the moment logship has settled (start-up, imports, excluded) until the endpoint has every record:
the CPU seconds of logship's process tree per million records, its share of a core over that
window and its peak RSS (see benchlib.ProcessTree). The end prints min / median / max per
checkout and rate, and with `--replay-cpu X` (run_bench.py's CPU seconds per million) the ratio
live / replay (the goal: at most 1.5).

    python bench/live_bench.py                                   # 1,000, 5,000 and 20,000 records/s
    python bench/live_bench.py --rates 5000 --seconds 60 --runs 3
    python bench/live_bench.py --logship-src ../old              # and another checkout: before/after
    python bench/live_bench.py --set tail.poll_interval_seconds=1.0 --replay-cpu 3.3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    WORKLOAD,
    Checkout,
    DiscardEndpoint,
    ProcessTree,
    add_checkouts_option,
    add_settings_option,
    checkouts,
    create_app_log,
    logship_config,
    print_summary,
    rotated,
    stop,
    summarize,
)

ROTATE_BYTES = 10 * 1024 * 1024


def one_rate(
    checkout: Checkout, number: int, rate: int, seconds: float, settings: list[str]
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="logship-live-"))
    logs = work / "logs"
    records = int(rate * seconds)
    try:
        with DiscardEndpoint() as endpoint:
            config = logship_config(work, endpoint.url, logs=logs, settings=settings)
            create_app_log(logs)
            proc = subprocess.Popen(
                checkout.command("run", "--config", str(config)),
                env=checkout.env(),
                stderr=subprocess.DEVNULL,
            )
            tree = ProcessTree(proc.pid)
            try:
                before = tree.settled()  # start-up (imports) is not what this measures
                began = time.monotonic()
                workload = [sys.executable, str(WORKLOAD), "--dir", str(logs), "--records", str(records)]
                subprocess.run(
                    [*workload, "--rate", str(rate), "--max-bytes", str(ROTATE_BYTES)],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                written = time.monotonic() - began
                got = endpoint.wait_for(records, 60)
                window = time.monotonic() - began
                used = tree.sample() - before
                rss = tree.peak_rss_mb()
            finally:
                code, _ = stop(proc, tree, grace=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "shipper": checkout.label,
        "group": f"{checkout.label} at {rate:,}/s",
        "run": number,
        "rate": rate,
        "records": records,
        "written_per_second": round(records / written),
        "documents_received": got,
        "complete": got == records,
        "exit_code": code,
        "window_seconds": round(window, 2),
        "cpu_seconds": round(used, 2),
        "cpu_seconds_per_million": round(used / records * 1e6, 2),
        "share_of_a_core": round(used / window, 4),
        "peak_rss_mb": round(rss, 1),
        "processes": tree.processes_seen,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="how long the application writes per rate"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per rate and checkout, alternating")
    add_checkouts_option(parser)
    add_settings_option(parser)
    parser.add_argument(
        "--replay-cpu",
        type=float,
        metavar="X",
        help="run_bench.py's CPU seconds per million records: also print live / replay",
    )
    args = parser.parse_args()

    shippers = checkouts([REPO, *args.logship_src])
    print(json.dumps({"logship": {c.label: str(c.root) for c in shippers}, "settings": args.set}), flush=True)
    reports: list[dict[str, Any]] = []
    for rate in args.rates:
        for number in range(1, args.runs + 1):
            for checkout in rotated(shippers, number):
                report = one_rate(checkout, number, rate, args.seconds, args.set)
                reports.append(report)
                print(json.dumps(report), flush=True)
    summary = summarize(reports, group="group")
    if args.replay_cpu:
        for group, figures in summary.items():
            ratios = [r["cpu_seconds_per_million"] / args.replay_cpu for r in reports if r["group"] == group]
            figures["live_to_replay_cpu"] = {
                "min": round(min(ratios), 2),
                "median": round(statistics.median(ratios), 2),
                "max": round(max(ratios), 2),
            }
    print(json.dumps({"summary": summary}))
    print_summary(summary, f"logship run, {args.seconds:g} s of writing per run, start-up excluded")
    if args.replay_cpu:
        print(
            f"\nCPU s per million, live / replay ({args.replay_cpu:g}); the goal is <= 1.5", file=sys.stderr
        )
        for group, figures in summary.items():
            f = figures["live_to_replay_cpu"]
            print(f"  {group:<40}{f['min']:>8}{f['median']:>8}{f['max']:>8}", file=sys.stderr)
    incomplete = [r for r in reports if not r["complete"]]
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
