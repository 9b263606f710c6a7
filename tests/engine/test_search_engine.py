"""The test search engine (scripts/search-node, tests/engine/) behaves like the real thing.

Each test writes under its own index prefix (the ``index_prefix`` fixture) and counts only that:
the dates in the index names and documents below are data, not today's date.
"""

from __future__ import annotations

import urllib.error

import pytest

from engine_fixture import SearchNode, count, delete_indices, http_json, search_all
from support.httpclient import request

pytestmark = pytest.mark.integration

DAY = "2026.11.26"
DOCS = {
    "rec-1": {"@timestamp": "2026-11-26T08:00:00.000Z", "level": "INFO", "message": "hello"},
    "rec-2": {"@timestamp": "2026-11-26T08:00:01.250Z", "level": "WARN", "message": "slow"},
    "rec-3": {"@timestamp": "2026-11-26T08:00:02Z", "level": "ERROR", "message": "boom"},
}


def bulk_create(url: str, index: str, docs: dict[str, dict[str, str]]) -> list[dict[str, object]]:
    """`create` every doc with its explicit id; return the bulk response items."""
    lines: list[object] = []
    for doc_id, doc in docs.items():
        lines += [{"create": {"_index": index, "_id": doc_id}}, doc]
    status, body = http_json("POST", f"{url}/_bulk", lines, ndjson=True)
    assert status == 200, body
    return [item["create"] for item in body["items"]]


@pytest.fixture
def clean_index(index_prefix: str) -> str:
    """A daily index of this test's own (deleted afterwards by ``index_prefix``)."""
    return f"{index_prefix}-{DAY}"


def test_identifies_itself(search_engine: SearchNode) -> None:
    answer = request("GET", search_engine.url + "/", timeout=30)
    header = answer.header("X-Elastic-Product")
    info = answer.json()
    if search_engine.engine == "elasticsearch":
        assert header == "Elasticsearch"
        assert "distribution" not in info["version"]
    else:
        assert info["version"]["distribution"] == "opensearch"


def test_bulk_create_count_search_mapping(
    search_engine: SearchNode, index_prefix: str, clean_index: str
) -> None:
    url = search_engine.url
    mine = f"{index_prefix}-*"
    items = bulk_create(url, clean_index, DOCS)
    assert [i["status"] for i in items] == [201, 201, 201]
    assert count(url, mine) == 3

    again = bulk_create(url, clean_index, {"rec-2": DOCS["rec-2"]})
    assert again[0]["status"] == 409
    assert count(url, clean_index) == 3

    docs = search_all(url, mine)
    assert {d["_id"]: d["message"] for d in docs} == {k: v["message"] for k, v in DOCS.items()}
    assert {d["_index"] for d in docs} == {clean_index}

    status, hits = http_json(
        "POST", f"{url}/{clean_index}/_search", {"query": {"term": {"level.keyword": "WARN"}}}
    )
    assert status == 200
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["rec-2"]

    status, mapping = http_json("GET", f"{url}/{clean_index}/_mapping")
    assert status == 200
    assert mapping[clean_index]["mappings"]["properties"]["@timestamp"]["type"] == "date"

    assert delete_indices(url, mine) == [clean_index]
    assert count(url, mine) == 0
    assert http_json("GET", f"{url}/{clean_index}")[0] == 404


def test_search_all_pages(search_engine: SearchNode, clean_index: str) -> None:
    docs = {f"d{i}": {"@timestamp": "2026-11-26T09:00:00Z", "message": str(i)} for i in range(25)}
    bulk_create(search_engine.url, clean_index, docs)
    found = search_all(search_engine.url, clean_index, page_size=10)
    assert sorted(d["_id"] for d in found) == sorted(docs)


def test_dedicated_node_keeps_data_across_restart(search_engine: SearchNode, clean_index: str) -> None:
    node = SearchNode(search_engine.engine)
    try:
        node.start()
        assert node.is_running()
        bulk_create(node.url, clean_index, {"keep": DOCS["rec-1"]})
        assert count(node.url, clean_index) == 1
        node.stop()
        assert not node.is_running()
        with pytest.raises(urllib.error.URLError):  # connection refused
            http_json("GET", node.url + "/", timeout=5)
        node.start()
        assert count(node.url, clean_index) == 1
    finally:
        node.cleanup()
