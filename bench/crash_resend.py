#!/usr/bin/env python3
"""Records sent again after kill -9: what a crash costs the engine.

`logship run` follows logs the workload writes at a steady rate into a discarding endpoint that
counts every document it receives (duplicates included); logship is killed with SIGKILL at the
given moments and started again. Afterwards, received - written = records sent a second time
(the real engine would refuse them as already present, but pays for each).

    python bench/crash_resend.py                              # 8,000 records/s, two kills
    python bench/crash_resend.py --rate 8000 --seconds 12 --kills 4 7
    python bench/crash_resend.py --set pipeline.positions_flush_seconds=1.0
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    REPO,
    WORKLOAD,
    DiscardEndpoint,
    add_settings_option,
    checkouts,
    create_app_log,
    logship_config,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=8000, help="records per second the application writes")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the application writes")
    parser.add_argument("--kills", type=float, nargs="*", default=[4.0, 8.0], help="seconds at which to kill")
    add_settings_option(parser)
    args = parser.parse_args()
    (checkout,) = checkouts([REPO])

    work = Path(tempfile.mkdtemp(prefix="logship-crash-"))
    logs = work / "logs"
    records = int(args.rate * args.seconds)
    try:
        with DiscardEndpoint() as endpoint:
            config = logship_config(work, endpoint.url, logs=logs, settings=args.set)
            create_app_log(logs)

            def start() -> subprocess.Popen[bytes]:
                cmd = checkout.command("run", "--config", str(config))
                return subprocess.Popen(cmd, env=checkout.env(), stderr=subprocess.DEVNULL)

            proc = start()
            time.sleep(1)
            workload = [sys.executable, str(WORKLOAD), "--dir", str(logs)]
            writer = subprocess.Popen(
                [*workload, "--records", str(records), "--rate", str(args.rate), "--max-bytes", "10485760"],
                stdout=subprocess.DEVNULL,
            )
            began = time.monotonic()
            for at in args.kills:
                time.sleep(max(0.0, began + at - time.monotonic()))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = start()
            writer.wait()
            endpoint.wait_for(records, 120)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            received = endpoint.stats()["documents"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"records_written": records, "documents_received": received, "sent_again": received - records}
    print(json.dumps({**result, "kills": len(args.kills), "rate": args.rate}))
    return 0 if received >= records else 1


if __name__ == "__main__":
    sys.exit(main())
