"""Records holding the engine's metadata names (`_id`, `_index`, ...) are indexed, the names moved aside."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.acks import FileAcks
from logship.block import Block, Origin, SlowRecord
from logship.parse import METADATA_FIELDS, Parser
from logship.settings import ParseSettings
from logship.sinks.elasticsearch.encode import ElasticsearchEncoder
from logship.transforms.enrich import Enrich

from engine_fixture import delete_indices, search_all

TS = '"timestamp": "2026-11-26 10:00:00"'
LINES = [
    f'{{{TS}, "message": "m1", "_id": "abc", "_index": "other", "_source": {{"a": 1}}}}',
    f'{{{TS}, "message": "m2", "_routing": "r", "_version": 3, "_seq_no": 1, "_ignored": "x"}}',
    f'{{{TS}, "message": "m3", "_field_names": ["f"], "_doc_count": "many", "_private": "kept"}}',
    f'{{{TS}, "message": "m4"}}',
]


def documents(lines: list[str]) -> list[dict[str, Any]]:
    enrich = Enrich({"service": "aichat"})
    parser = Parser(
        ParseSettings(), stack_trace_field="error.stack_trace", max_line_bytes=4096, reserved=enrich.adds
    )
    block = Block(0, 0, [(0, [line.encode() for line in lines])], [])
    block.origin, block.ack = Origin("/logs/app.log", "key"), FileAcks(0).block(1)
    encoder = ElasticsearchEncoder("aichat", "%Y.%m.%d", "h1")
    items = encoder.encode(enrich(parser.parse(block)))
    docs = [orjson.loads(item.rstrip(b"\n").split(b"\n")[1]) for item in items]
    return sorted(docs, key=lambda doc: str(doc["message"]))


def test_metadata_names_are_moved_under_event_original_fields() -> None:
    docs = documents(LINES)
    assert all(METADATA_FIELDS.isdisjoint(doc) for doc in docs)
    assert docs[0]["event.original_fields._id"] == "abc"
    assert docs[0]["event.original_fields._index"] == "other"
    assert docs[0]["event.original_fields._source"] == {"a": 1}
    assert docs[1]["event.original_fields._version"] == 3
    assert docs[2]["_private"] == "kept" and docs[2]["event.original_fields._doc_count"] == "many"
    assert "metadata_field_renamed" in docs[0]["tags"] and "tags" not in docs[3]
    assert all(doc["service"] == "aichat" and doc["message"].startswith("m") for doc in docs)


def test_a_record_with_a_metadata_name_and_a_traceback_is_renamed_too() -> None:
    enrich = Enrich({})
    parser = Parser(
        ParseSettings(), stack_trace_field="error.stack_trace", max_line_bytes=4096, reserved=enrich.adds
    )
    raw = f'{{{TS}, "message": "m", "_id": "abc"}}'.encode()
    block = Block(0, 0, [], [SlowRecord(0, raw, b"Traceback", None)])
    block.origin, block.ack = Origin("/logs/app.log", "key"), FileAcks(0).block(1)
    ((_, doc, _),) = parser.parse(block).docs
    assert "_id" not in doc and doc["event.original_fields._id"] == "abc"


@pytest.mark.integration
@pytest.mark.opensearch
def test_the_engine_indexes_such_records(search_engine: Any, tmp_path: Path) -> None:
    url = search_engine.url
    delete_indices(url, "it-meta-*")
    log = tmp_path / "app.log"
    log.write_text("\n".join(LINES) + "\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[elasticsearch]\nhosts = ["{url}"]\nindex_prefix = "it-meta"\n'
        f'[dead_letter]\npath = "{tmp_path}/dl"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "logship", "replay", str(log), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "indexed: 4" in result.stdout and "dead-lettered: 0" in result.stdout
    docs = {d["message"]: d for d in search_all(url, "it-meta-*")}
    assert set(docs) == {"m1", "m2", "m3", "m4"}
    assert docs["m1"]["event.original_fields._id"] == "abc"  # the source as sent
    assert docs["m1"]["_index"].startswith("it-meta-")  # the engine's own index, not the record's
