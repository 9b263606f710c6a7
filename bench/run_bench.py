#!/usr/bin/env python3
"""Throughput benchmark: write N records with aichat_logger.py, replay them into a discarding endpoint.

Prints records/s, MiB/s, CPU seconds per million records and peak RSS of the logship process
(from wait4's rusage of that process alone; the endpoint runs in its own process). The peer is
Fluent Bit: bench/compare_fluentbit.py runs both on the same input in the same run, side by side.

    python bench/run_bench.py                      # 1,008,000 records (about 292 MB)
    python bench/run_bench.py --records 3600000    # a backlog of about 1 GB
    python bench/run_bench.py --reject 0.2         # the endpoint refuses 20 % of the items with 429
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import DiscardEndpoint, logship_config, write_input


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_008_000)
    parser.add_argument(
        "--dir", type=Path, help="reuse or keep the generated logs here (default: a temporary dir)"
    )
    parser.add_argument("--runs", type=int, default=1, help="replays to run over the same file")
    parser.add_argument(
        "--reject",
        type=float,
        default=0.0,
        help="share of items the endpoint refuses with 429 (a busy cluster)",
    )
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="logship-bench-"))
    log = write_input(work, args.records)
    size = log.stat().st_size

    with DiscardEndpoint(args.reject) as endpoint:
        config = logship_config(work, endpoint)
        for run in range(args.runs):
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "logship", "replay", str(log), "--config", str(config)],
                stdout=subprocess.PIPE,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
            out = proc.stdout.read().decode() if proc.stdout else ""
            code = os.waitstatus_to_exitcode(status)
            stats = endpoint.stats()
            cpu = usage.ru_utime + usage.ru_stime
            print(
                json.dumps(
                    {
                        "run": run + 1,
                        "exit_code": code,
                        "records": args.records,
                        "bytes": size,
                        "documents_received_total": stats["documents"],
                        "items_rejected_total": stats["rejected"],
                        "wall_seconds": round(wall, 2),
                        "records_per_second": round(args.records / wall),
                        "mib_per_second": round(size / wall / 2**20, 1),
                        "cpu_seconds_per_million": round(cpu / args.records * 1e6, 2),
                        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                        "summary": out.strip(),
                    }
                )
            )
            if code != 0:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
