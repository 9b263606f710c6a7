#!/usr/bin/env python3
"""Dead-letter write throughput: what an engine refusing every record costs logship's writer.

Writes the workload's records (bench/aichat_logger.py) as rejected bulk items into a dead-letter
file in batches of `batch.max_documents`, through the writer `logship run` uses (lock, known-id
sync, rotation, fsync per batch), then writes them all again (a second replay of the same input:
every id is known, nothing written), then times the first write of a fresh writer on the full
files (a restart: it reads the ids back). Prints the figures; asserts nothing about speed.

    python bench/dead_letter_write.py [--records 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from logship import deadletter_files
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile

HERE = Path(__file__).resolve().parent
REASON = "document_parsing_exception: failed to parse field [level] of type [integer]"


def letters(log: Path) -> list[DeadLetter]:
    out = []
    for offset, line in enumerate(log.read_bytes().splitlines()):
        route = {"_index": "aichat-2026.12.03", "_id": f"0123456789abcdef-{offset}"}
        action = orjson.dumps({"create": route})
        out.append(DeadLetter(action + b"\n" + line + b"\n", 400, REASON))
    return out


def timed(dead: DeadLetterFile, all_letters: list[DeadLetter], batch: int) -> tuple[float, int]:
    started = time.perf_counter()
    settled = 0
    for i in range(0, len(all_letters), batch):
        settled += dead.write(all_letters[i : i + batch])
    return time.perf_counter() - started, settled


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        workload = [sys.executable, str(HERE / "aichat_logger.py"), "--dir", str(work), "--max-bytes", "0"]
        subprocess.run(
            [*workload, "--records", str(args.records)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        items = letters(work / "app.log")
        path = work / "dead-letter.ndjson"
        dead = DeadLetterFile(path, max_bytes=64 << 30, max_files=4)
        seconds, settled = timed(dead, items, args.batch)
        size = deadletter_files.total_bytes(path)
        print(
            f"first write: {settled} documents, {size / 1e6:.1f} MB in {seconds:.2f} s: "
            f"{settled / seconds:,.0f} documents/s, {size / 1e6 / seconds:.1f} MB/s"
        )
        seconds, settled = timed(dead, items, args.batch)
        print(
            f"same input again (every id known, nothing written): {settled} documents in {seconds:.2f} s: "
            f"{settled / seconds:,.0f} documents/s, "
            f"files grew {deadletter_files.total_bytes(path) - size} bytes"
        )
        fresh = DeadLetterFile(path, max_bytes=64 << 30, max_files=4)
        started = time.perf_counter()
        fresh.write(items[:1])
        print(
            f"restart: first write reads the ids of {size / 1e6:.1f} MB back in "
            f"{time.perf_counter() - started:.2f} s"
        )


if __name__ == "__main__":
    main()
