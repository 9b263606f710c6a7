#!/usr/bin/env python3
"""Catch-up after an outage: `catch_up = "in-order"` against `"live-first"`, same scenario.

The application writes `--rate` records/s (bench/aichat_logger.py, 10 MB rename rotation); `logship
run` ships through a fault proxy in front of a real engine, which cuts the engine off for
`--outage` seconds, then lets `--capacity` records/s through until the backlog has drained (the
scenario of tests/integration/test_catch_up.py, measured as tests/support/catchup.py says). For
each mode it prints, for the records written while the backlog drained, the delay from write to
indexed and to searchable (median, p99), the drain time, the total time, and the records written
and found in the engine. Not in CI.

    url=$(scripts/search-node start --engine elasticsearch --port 9271)
    python bench/catch_up_bench.py --es-url $url
    python bench/catch_up_bench.py --es-url $url --modes live-first --outage 20 --refresh 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from engine_fixture import delete_index_templates, delete_indices, unique_prefix
from support.catchup import Figures, Plan, quantile
from support.catchup_scenario import Scenario


def one(plan: Plan, url: str) -> Figures:
    prefix = unique_prefix(f"bench-catchup-{plan.catch_up}")
    with tempfile.TemporaryDirectory(prefix="logship-catchup-") as work:
        try:
            with Scenario(plan, url, Path(work), prefix) as scenario:
                return scenario.run()
        finally:
            delete_indices(url, f"{prefix}-*")
            delete_index_templates(url, f"{prefix}-*")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--es-url", required=True, help="a real engine (scripts/search-node start)")
    parser.add_argument("--modes", nargs="+", default=["in-order", "live-first"])
    parser.add_argument("--rate", type=int, default=5_000, help="records written per second")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the engine is cut off")
    parser.add_argument("--capacity", type=int, default=8_000, help="records/s let through afterwards")
    parser.add_argument(
        "--refresh", type=float, default=5.0, help="index.refresh_interval_seconds (logship's default: 5)"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=10 * 1024 * 1024, help="the application's rotation (0: none)"
    )
    args = parser.parse_args()
    rows = []
    for mode in args.modes:
        plan = Plan(
            catch_up=mode,
            rate=args.rate,
            outage_s=args.outage,
            capacity=args.capacity,
            max_bytes=args.max_bytes,
            overrides={"index": {"refresh_interval_seconds": args.refresh}},
        )
        figures = one(plan, args.es_url)
        print(figures.line(), flush=True)
        rows.append(figures)
    print(
        f"\n{'catch_up':<11} {'records':>8} {'searchable median':>18} {'p99':>7} {'indexed median':>15} "
        f"{'p99':>7} {'drain s':>8} {'total s':>8} {'written':>8} {'in engine':>10} {'missing':>8} "
        f"{'twice':>6}"
    )
    for f in rows:
        print(
            f"{f.plan.catch_up:<11} {f.live:>8} {quantile(f.searchable, 0.5):>18.1f} "
            f"{quantile(f.searchable, 0.99):>7.1f} {quantile(f.indexed, 0.5):>15.1f} "
            f"{quantile(f.indexed, 0.99):>7.1f} {f.drain_s:>8.0f} {f.total_s:>8.0f} {f.written:>8} "
            f"{f.in_engine:>10} {len(f.missing):>8} {len(f.twice):>6}"
        )
    return 0 if all(not f.missing and not f.twice for f in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
