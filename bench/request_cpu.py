#!/usr/bin/env python3
"""CPU per bulk request of logship's HTTP client: one checkout, or several alternating.

Each run starts a fresh Python with PYTHONPATH set to a checkout, which sends `--requests`
sequential bulk requests of about `--kib` KiB (the size of a one-second batch at 1,000 records/s)
through that checkout's `BulkClient` to bench/discard_endpoint.py (its own process), after 20 not
counted; it prints the client process's CPU time (user + system, `time.process_time`) per request.
The checkouts alternate within each run, so a noisy machine hurts them alike.

    python bench/request_cpu.py --runs 5                        # this checkout
    python bench/request_cpu.py --runs 5 --logship-src ../old   # and another one: before/after
    python bench/request_cpu.py --set elasticsearch.gzip=true   # with gzip bodies
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from benchlib import REPO, DiscardEndpoint, add_checkouts_option, checkouts, rotated

CLIENT = r"""
import asyncio, json, sys, time
from logship.settings import ElasticsearchSettings
from logship.sinks.elasticsearch.bulk import BulkClient

url, requests, kib, gzip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
doc = b'{"create":{"_index":"aichat-2026.12.03","_id":"h-%d"}}\n' + b'{"message":"' + b"x" * 220 + b'"}\n'
body = b"".join(doc % i for i in range(kib * 1024 // len(doc)))

async def main() -> None:
    client = BulkClient(ElasticsearchSettings(hosts=[url], gzip=gzip))
    try:
        for _ in range(20):
            assert (await client.bulk(body)).status == 200
        started = time.process_time()
        for _ in range(requests):
            await client.bulk(body)
        used = time.process_time() - started
    finally:
        await client.close()
    print(json.dumps({"bytes": len(body), "cpu_ms_per_request": round(used / requests * 1000, 3)}))

asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kib", type=int, default=280)
    parser.add_argument("--gzip", action="store_true", help="gzip the request bodies")
    add_checkouts_option(parser)
    args = parser.parse_args()
    shippers = checkouts([REPO, *args.logship_src])
    results: dict[str, list[float]] = {c.label: [] for c in shippers}
    with DiscardEndpoint() as endpoint:
        for number in range(1, args.runs + 1):
            for checkout in rotated(shippers, number):
                argv = [endpoint.url, str(args.requests), str(args.kib), "1" if args.gzip else "0"]
                done = subprocess.run(
                    [sys.executable, "-P", "-c", CLIENT, *argv],
                    env=checkout.env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                report = {"shipper": checkout.label, "run": number, **json.loads(done.stdout)}
                results[checkout.label].append(report["cpu_ms_per_request"])
                print(json.dumps(report), flush=True)
    for label, values in results.items():
        print(
            f"{label}: CPU ms per request min {min(values):g} median {statistics.median(values):g} "
            f"max {max(values):g}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
