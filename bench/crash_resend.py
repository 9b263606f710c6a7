#!/usr/bin/env python3
"""Records sent again after kill -9: what a crash costs the engine.

`logship run` follows logs the workload writes at a steady rate into a discarding endpoint that
counts every document it receives (duplicates included); logship is killed with SIGKILL at the
given moments and started again. Afterwards, received - written = records sent a second time
(the real engine would refuse them as already present, but pays for each).

    python bench/crash_resend.py                              # 8,000 records/s, two kills
    python bench/crash_resend.py --rate 8000 --seconds 12 --kills 4 7
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url, timeout=5) as r:
        data: dict[str, int] = json.loads(r.read())
        return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=8000, help="records per second the application writes")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the application writes")
    parser.add_argument("--kills", type=float, nargs="*", default=[4.0, 8.0], help="seconds at which to kill")
    parser.add_argument("--config-extra", default="", help="TOML appended to the configuration")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="logship-crash-"))
    logs = work / "logs"
    port, http = free_port(), free_port()
    endpoint = subprocess.Popen([sys.executable, str(HERE / "discard_endpoint.py"), "--port", str(port)])
    config = work / "logship.toml"
    config.write_text(
        f'[tail]\npaths = ["{logs}/*.log"]\npositions_dir = "{work / "state"}"\n'
        f'[elasticsearch]\nhosts = ["http://127.0.0.1:{port}"]\n'
        f'[dead_letter]\npath = "{work / "dead-letter.ndjson"}"\n'
        f'[http]\nlisten = "127.0.0.1:{http}"\n'
        f'[enrich.fields]\nhostname = "bench"\nenvironment = "bench"\nservice = "aichat-backend"\n'
        + args.config_extra
    )
    records = int(args.rate * args.seconds)

    def start() -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "logship", "run", "--config", str(config)]
        return subprocess.Popen(cmd, stderr=subprocess.DEVNULL)

    try:
        time.sleep(1)
        proc = start()
        time.sleep(1)
        workload = [sys.executable, str(HERE / "aichat_logger.py"), "--dir", str(logs)]
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
        deadline = time.monotonic() + 120
        while get_json(f"http://127.0.0.1:{port}/_stats/discard")["documents"] < records:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        received = get_json(f"http://127.0.0.1:{port}/_stats/discard")["documents"]
        print(
            json.dumps(
                {
                    "records_written": records,
                    "documents_received": received,
                    "sent_again": received - records,
                    "kills": len(args.kills),
                    "rate": args.rate,
                }
            )
        )
        return 0 if received >= records else 1
    finally:
        endpoint.terminate()
        endpoint.wait()
        if os.environ.get("KEEP") is None:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
