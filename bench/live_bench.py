#!/usr/bin/env python3
"""Live-mode cost: `logship run` following logs the application writes at a steady rate.

The workload writes at each rate for a while (10 MB rename rotation, its default tracebacks and
broken lines) while `logship run` ships into the discarding endpoint. Prints, per rate, logship's
CPU seconds per million records and peak RSS, to compare with the replay figure of run_bench.py.

    python bench/live_bench.py                         # 1,000, 5,000 and 20,000 records/s
    python bench/live_bench.py --rates 5000 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import WORKLOAD, DiscardEndpoint, cpu_seconds, logship_config, peak_rss_mb, settled


def one_rate(rate: int, seconds: float, extra: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="logship-live-"))
    logs = work / "logs"
    records = int(rate * seconds)
    with DiscardEndpoint() as endpoint:
        config = logship_config(work, endpoint, logs=logs, extra=extra)
        proc = subprocess.Popen(
            [sys.executable, "-m", "logship", "run", "--config", str(config)], stderr=subprocess.DEVNULL
        )
        try:
            before = settled(proc.pid)  # start-up (imports) is not what this measures
            workload = [sys.executable, str(WORKLOAD), "--dir", str(logs), "--records", str(records)]
            subprocess.run(
                [*workload, "--rate", str(rate), "--max-bytes", "10485760"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            got = endpoint.wait_for(records, 60)
            used = cpu_seconds(proc.pid) - before
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return {
        "rate": rate,
        "records": records,
        "documents_received": got,
        "cpu_seconds": round(used, 2),
        "cpu_seconds_per_million": round(used / records * 1e6, 2),
        "share_of_a_core": round(used / seconds, 3),
        "peak_rss_mb": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="how long the application writes per rate"
    )
    parser.add_argument("--config-extra", default="", help="TOML appended to the configuration")
    args = parser.parse_args()
    for rate in args.rates:
        print(json.dumps(one_rate(rate, args.seconds, args.config_extra)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
