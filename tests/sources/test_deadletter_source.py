"""The dead-letter source: each entry becomes a finished document with the index and id it was first
sent under; a line that is no entry is skipped, said and counted, never sent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from logship.block import Block, Finished, Routed
from logship.sources.deadletter import DeadLetterSource


def test_entries_become_finished_documents_with_their_index_and_id(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.ndjson"
    entries: list[dict[str, Any]] = [
        {"index": "aichat-2026.11.26", "id": "f1-0", "document": {"message": "a"}, "reason": "mapping"},
        {"index": "aichat-2026.11.27", "id": "f1-99", "document": {"message": "b", "n": 2}, "reason": "x"},
    ]
    bad = b'{"index": "i", "id": "d", "document": "not an object"}\n'
    path.write_bytes(orjson.dumps(entries[0]) + b"\n" + bad + b"\n" + orjson.dumps(entries[1]) + b"\n")
    emitted: list[Block | Finished] = []
    read: list[tuple[int, int]] = []

    async def emit(block: Block | Finished) -> None:
        emitted.append(block)

    source = DeadLetterSource([path], lambda nbytes, records: read.append((nbytes, records)))
    asyncio.run(source.run(emit))

    (finished,) = emitted
    assert isinstance(finished, Finished)
    assert finished.docs == [Routed(e["index"], e["id"], e["document"]) for e in entries]
    assert source.skipped == 1
    assert sum(n for n, _ in read) == path.stat().st_size and sum(r for _, r in read) == 2
    assert finished.ack is not None
