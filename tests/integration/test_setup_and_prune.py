"""`logship setup` and `logship prune` against the real engine (Elasticsearch, then OpenSearch).

Every test works under its own random index prefix and removes what it made, so the suite
passes on any day, in any order, and after other runs against the same engine.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logship.settings import Settings
from logship.sinks.elasticsearch.prune import prune
from logship.sinks.elasticsearch.setup import install

from engine_fixture import SearchNode, count, delete_indices, free_port, http_json, refresh
from support.harness import Logship, toml_config, wait_until, write_logs

pytestmark = [pytest.mark.integration, pytest.mark.opensearch]


@pytest.fixture
def prefix(search_engine: SearchNode) -> Iterator[str]:
    name = f"lsetup-{uuid.uuid4().hex[:8]}"
    yield name
    delete_indices(search_engine.url, f"{name}-*")
    http_json("DELETE", f"{search_engine.url}/_index_template/{name}-logship")


def configured(url: str, prefix: str, **index: object) -> Settings:
    return Settings.model_validate(
        {
            "elasticsearch": {"hosts": [url], "index_prefix": prefix},
            "index": {"replicas": 0, "refresh_interval_seconds": 1, **index},
        }
    )


def setup_lines(settings: Settings, dry_run: bool = False) -> list[str]:
    lines: list[str] = []
    assert asyncio.run(install(settings, dry_run=dry_run, out=lines.append)), lines
    return lines


def test_setup_installs_the_template_once_and_new_indices_get_its_mappings(
    search_engine: SearchNode, prefix: str
) -> None:
    url = search_engine.url
    settings = configured(url, prefix)

    dry = setup_lines(settings, dry_run=True)
    assert f"index template {prefix}-logship ({prefix}-0* .. {prefix}-9*): would be created" in dry
    assert f"PUT /_index_template/{prefix}-logship" in "\n".join(dry)
    assert http_json("GET", f"{url}/_index_template/{prefix}-logship")[0] == 404

    first = setup_lines(settings)
    assert f"index template {prefix}-logship ({prefix}-0* .. {prefix}-9*): created" in first
    # The test nodes have neither ILM nor ISM: retention falls to logship, and setup says why.
    retention = [line for line in first if line.startswith("retention:")]
    assert retention and "by logship" in retention[0] and "no I" in retention[0], first
    message_type = "text" if search_engine.engine == "elasticsearch" else "match_only_text"
    assert f"field `message`: {message_type} (" in "\n".join(first)

    again = setup_lines(settings)
    assert f"index template {prefix}-logship ({prefix}-0* .. {prefix}-9*): already up to date" in again

    index = f"{prefix}-{datetime.now(UTC):%Y.%m.%d}"
    doc = {
        "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": "ERROR",
        "logger": "aichat.api",
        "message": "upstream timed out after 30 s",
        "module": "chat",
        "function": "reply",
        "line": "72",
        "hostname": "web-1",
        "log.file.path": "/var/log/aichat/app.log",
        "log.offset": 1234,
        "error.stack_trace": "Traceback (most recent call last):\n  ValueError: boom",
        "request_id": "r-1",
        "tags": ["recovered_by_pattern"],
    }
    lines = [{"create": {"_index": index, "_id": "d1"}}, doc]
    status, body = http_json("POST", f"{url}/_bulk", lines, ndjson=True)
    assert status == 200 and not body["errors"], body
    refresh(url, index)

    status, mapping = http_json("GET", f"{url}/{index}/_mapping")
    assert status == 200
    props = mapping[index]["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date"
    for field in ("level", "logger", "module", "function", "hostname", "tags", "request_id"):
        assert props[field]["type"] == "keyword", field
    assert props["log"]["properties"]["file"]["properties"]["path"]["type"] == "keyword"
    assert props["log"]["properties"]["offset"]["type"] == "long"
    assert props["line"]["type"] == "integer"
    assert props["message"]["type"] == message_type
    assert props["error"]["properties"]["stack_trace"]["type"] == "text"

    def hits(query: dict[str, object]) -> int:
        status, found = http_json("POST", f"{url}/{index}/_search", {"query": query})
        assert status == 200, found
        total: int = found["hits"]["total"]["value"]
        return total

    assert hits({"range": {"line": {"gte": 70, "lte": 80}}}) == 1  # "72" was coerced to a number
    assert hits({"term": {"level": "ERROR"}}) == 1
    assert hits({"match": {"message": "timed out"}}) == 1
    assert hits({"match": {"error.stack_trace": "ValueError"}}) == 1


def test_run_on_a_bare_engine_installs_the_template(
    search_engine: SearchNode, prefix: str, tmp_path: Path
) -> None:
    """`logship run` alone (index.setup = "install", the default) leaves mapped indices."""
    url = search_engine.url
    logs = tmp_path / "logs"
    write_logs(logs, 500)
    port = free_port()
    config = toml_config(
        tmp_path / "logship.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=port,
        index_prefix=prefix,
        overrides={"index": {"replicas": 0}},
    )
    assert http_json("GET", f"{url}/_index_template/{prefix}-logship")[0] == 404
    ship = Logship(config, port, tmp_path / "logship.log").start()
    try:
        wait_until(lambda: count(url, f"{prefix}-*") >= 500, 90, what="500 documents")
    finally:
        code = ship.stop()
    assert code == 0, ship.log_tail()
    assert "Installed on the engine" in ship.log_tail(400)
    status, answer = http_json("GET", f"{url}/{prefix}-*/_mapping")
    assert status == 200 and answer, answer
    message_type = "text" if search_engine.engine == "elasticsearch" else "match_only_text"
    for index, mapping in answer.items():
        props = mapping["mappings"]["properties"]
        found = {name: props[name]["type"] for name in ("message", "level", "line", "@timestamp")}
        wanted = {"message": message_type, "level": "keyword", "line": "integer", "@timestamp": "date"}
        assert found == wanted, index


def _create(url: str, name: str) -> None:
    status, body = http_json("PUT", f"{url}/{name}", {"settings": {"number_of_replicas": 0}})
    assert status == 200, body


def _names(url: str, pattern: str) -> set[str]:
    status, rows = http_json("GET", f"{url}/_cat/indices/{pattern}?format=json&h=index")
    assert status == 200, rows
    return {row["index"] for row in rows}


def test_prune_deletes_only_this_prefixs_dated_indices_past_retention(
    search_engine: SearchNode, prefix: str
) -> None:
    url = search_engine.url
    now = datetime.now(UTC)
    old = f"{prefix}-{now - timedelta(days=40):%Y.%m.%d}"
    today = f"{prefix}-{now:%Y.%m.%d}"
    undated = f"{prefix}-latest"
    other = f"{prefix}-archive-{now - timedelta(days=40):%Y.%m.%d}"  # the `<prefix>-archive` prefix
    for name in (old, today, undated, other):
        _create(url, name)
    settings = configured(url, prefix, retention_days=30)

    lines: list[str] = []
    assert asyncio.run(prune(settings, dry_run=True, out=lines.append)) == [old]
    assert lines[0] == f"DELETE /{old}"
    assert _names(url, f"{prefix}-*") == {old, today, undated, other}

    lines.clear()
    assert asyncio.run(prune(settings, out=lines.append)) == [old]
    assert f"deleted {old} (older than 30 days)" in lines
    assert _names(url, f"{prefix}-*") == {today, undated, other}

    archive = configured(url, f"{prefix}-archive", retention_days=30)
    assert asyncio.run(prune(archive, dry_run=True, out=lines.append)) == [other]


def logship(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logship", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_commands_exit_codes(search_engine: SearchNode, prefix: str, tmp_path: Path) -> None:
    cfg = tmp_path / "logship.toml"
    es = f'[elasticsearch]\nhosts = ["{search_engine.url}"]\nindex_prefix = "{prefix}"\n'
    cfg.write_text(es + "[index]\nreplicas = 0\n")
    result = logship("setup", "--config", str(cfg), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"PUT /_index_template/{prefix}-logship" in result.stdout
    result = logship("prune", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert f"deleted 0 of 0 indices matching {prefix}-*" in result.stdout

    down = tmp_path / "down.toml"
    down.write_text('[elasticsearch]\nhosts = ["http://127.0.0.1:9"]\nrequest_timeout_seconds = 5\n')
    for command in ("setup", "prune"):
        result = logship(command, "--config", str(down))
        assert result.returncode == 1, result
        assert "cannot reach http://127.0.0.1:9" in result.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text('[index]\nretention = "never"\n')
    result = logship("setup", "--config", str(bad))
    assert result.returncode == 2 and f"{bad}: setting `index.retention`" in result.stderr
