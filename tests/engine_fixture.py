"""A real search engine for the tests: fixture, node handle and stdlib HTTP helpers.

Wired in by ``from engine_fixture import *`` in tests/conftest.py.

* ``search_engine`` (session fixture): the engine for the whole run. Reuses
  ``LOGSHIP_TEST_ES_URL`` when set (never started or stopped here); otherwise starts a
  node of engine ``LOGSHIP_TEST_ENGINE`` (``elasticsearch`` by default, or ``opensearch``)
  on a free port with a fresh data directory, and stops it at session end.
* ``SearchNode``: a dedicated node driven through ``scripts/search-node``, for outage
  tests: ``stop()`` it, wait, ``start()`` it again on the same port with the same data.
* ``index_prefix`` (fixture): an index prefix that belongs to one test alone (its name and a
  random suffix); the test writes and counts only ``<prefix>-*``, and its indices are deleted
  afterwards. So tests never see each other's documents, nor those of ``scripts/quickstart``
  (``aichat-*``), whatever the order and whatever the day.
* ``count``, ``search_all``, ``delete_indices``, ``refresh``: helpers built on the tests' one
  HTTP client, ``support.httpclient`` (``http_json`` is re-exported from there).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.httpclient import http_json

__all__ = [
    "SearchNode",
    "count",
    "delete_index_templates",
    "delete_indices",
    "free_port",
    "http_json",
    "index_prefix",
    "refresh",
    "search_all",
    "search_engine",
    "unique_prefix",
]

REPO = Path(__file__).resolve().parent.parent
SEARCH_NODE = REPO / "scripts" / "search-node"
ENGINES = ("elasticsearch", "opensearch")
# first start may build the launcher with Maven (a cold ~/.m2 downloads ~150 MB)
START_TIMEOUT_S = 900.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SearchNode:
    """One single-node engine on 127.0.0.1, started and stopped via scripts/search-node.

    ``data_dir`` survives ``stop()``/``start()``, so indices are kept across an outage.
    A node made by :meth:`external` only points at a URL: start/stop/kill refuse.
    """

    def __init__(
        self,
        engine: str = "elasticsearch",
        port: int | None = None,
        data_dir: Path | str | None = None,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
        self.engine = engine
        self.port = port if port is not None else free_port()
        self._own_data = data_dir is None
        self.data_dir = (
            Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix=f"{engine}-data-"))
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.managed = True

    @classmethod
    def external(cls, url: str, engine: str | None = None) -> SearchNode:
        """A handle on an engine someone else runs at ``url`` (engine detected if not given)."""
        node = cls.__new__(cls)
        node.url = url.rstrip("/")
        node.port = urllib.parse.urlsplit(node.url).port or 9200
        node.engine = engine or detect_engine(node.url)
        node.data_dir = Path()
        node._own_data = False
        node.managed = False
        return node

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if not self.managed:
            raise RuntimeError(f"{self.url} is an external engine; it is not started or stopped here")
        return subprocess.run(
            [str(SEARCH_NODE), *args, "--port", str(self.port)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> str:
        """Start (or find running) the node with its data dir; return its URL once it answers."""
        result = self._run(
            "start", "--engine", self.engine, "--data", str(self.data_dir), timeout=START_TIMEOUT_S
        )
        if result.returncode != 0:
            raise RuntimeError(f"search-node start failed ({result.returncode}):\n{result.stderr}")
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: SIGTERM, SIGKILL after ``timeout`` seconds; returns when it is gone."""
        result = self._run("stop", "--timeout", str(timeout), timeout=timeout + 60)
        if result.returncode != 0:
            raise RuntimeError(f"search-node stop failed ({result.returncode}):\n{result.stderr}")

    def kill(self) -> None:
        """Hard stop (SIGKILL), like a crash; the data dir stays."""
        result = self._run("kill")
        if result.returncode != 0:
            raise RuntimeError(f"search-node kill failed ({result.returncode}):\n{result.stderr}")

    def is_running(self) -> bool:
        """True if the node process is alive (it may still be booting)."""
        if not self.managed:
            return True
        return self._run("status").returncode == 0

    def cleanup(self) -> None:
        """Stop the node and remove a data dir this object created."""
        if not self.managed:
            return
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def state_dir(self) -> Path:
        """scripts/search-node's directory for this node (node.log, node.pid, home/)."""
        root = os.environ.get("SEARCH_NODE_STATE_DIR") or REPO / ".search-node"
        return Path(root) / f"{self.engine}-{self.port}"

    @property
    def log_file(self) -> Path:
        """The node's console log."""
        return self.state_dir / "node.log"

    def __repr__(self) -> str:
        return f"SearchNode(engine={self.engine!r}, url={self.url!r}, data_dir={str(self.data_dir)!r})"


@pytest.fixture(scope="session")
def search_engine() -> Iterator[SearchNode]:
    """The search engine for the whole test session (see the module docstring)."""
    url = os.environ.get("LOGSHIP_TEST_ES_URL")
    engine = os.environ.get("LOGSHIP_TEST_ENGINE") or None
    if url:
        yield SearchNode.external(url, engine)
        return
    node = SearchNode(engine or "elasticsearch")
    node.start()
    try:
        yield node
    finally:
        node.cleanup()


def unique_prefix(name: str) -> str:
    """An index prefix nobody else uses: ``name`` made index-safe, and a random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].rstrip("-") or "test"
    return f"{slug}-{secrets.token_hex(4)}"


@pytest.fixture
def index_prefix(request: pytest.FixtureRequest, search_engine: SearchNode) -> Iterator[str]:
    """This test's own index prefix (see the module docstring); its indices go afterwards."""
    prefix = unique_prefix(request.node.name)
    yield prefix
    delete_indices(search_engine.url, f"{prefix}-*")


# ---------------------------------------------------------------- engine API helpers


def _ok(status: int, payload: Any, what: str) -> Any:
    if status >= 300:
        raise RuntimeError(f"{what}: HTTP {status}: {payload}")
    return payload


def _q(pattern: str) -> str:
    return urllib.parse.quote(pattern, safe=",*")


LENIENT = "ignore_unavailable=true&allow_no_indices=true"


def detect_engine(url: str) -> str:
    """'opensearch' if the root banner says so, else 'elasticsearch'."""
    status, info = http_json("GET", url.rstrip("/") + "/")
    _ok(status, info, f"GET {url}/")
    distribution = (info or {}).get("version", {}).get("distribution")
    return "opensearch" if distribution == "opensearch" else "elasticsearch"


def refresh(url: str, index_pattern: str) -> None:
    """Make everything indexed so far visible to search (missing indices are fine)."""
    status, payload = http_json("POST", f"{url.rstrip('/')}/{_q(index_pattern)}/_refresh?{LENIENT}")
    _ok(status, payload, f"refresh {index_pattern}")


def count(url: str, index_pattern: str) -> int:
    """Number of documents in the matching indices, after a refresh (0 if none match)."""
    refresh(url, index_pattern)
    status, payload = http_json("GET", f"{url.rstrip('/')}/{_q(index_pattern)}/_count?{LENIENT}")
    result: int = _ok(status, payload, f"count {index_pattern}")["count"]
    return result


def search_all(url: str, index_pattern: str, page_size: int = 1000) -> list[dict[str, Any]]:
    """Every document of the matching indices, after a refresh, via the scroll API.

    Each item is the document's ``_source`` plus its ``_id`` and ``_index`` keys.
    """
    base = url.rstrip("/")
    refresh(url, index_pattern)
    status, page = http_json(
        "POST",
        f"{base}/{_q(index_pattern)}/_search?scroll=2m&{LENIENT}",
        {"size": page_size, "sort": ["_doc"], "query": {"match_all": {}}},
    )
    page = _ok(status, page, f"search {index_pattern}")
    docs: list[dict[str, Any]] = []
    scroll_id = page.get("_scroll_id")
    try:
        while True:
            hits = page["hits"]["hits"]
            if not hits:
                break
            for hit in hits:
                docs.append({**hit.get("_source", {}), "_id": hit["_id"], "_index": hit["_index"]})
            status, page = http_json(
                "POST", f"{base}/_search/scroll", {"scroll": "2m", "scroll_id": scroll_id}
            )
            page = _ok(status, page, "scroll")
            scroll_id = page.get("_scroll_id", scroll_id)
    finally:
        if scroll_id:
            http_json("DELETE", f"{base}/_search/scroll", {"scroll_id": [scroll_id]})
    return docs


def delete_index_templates(url: str, pattern: str) -> list[str]:
    """Delete the composable index templates whose names match ``pattern``; return their names."""
    base = url.rstrip("/")
    status, payload = http_json("GET", f"{base}/_index_template/{_q(pattern)}")
    if status == 404:
        return []
    names = sorted(t["name"] for t in _ok(status, payload, f"list templates {pattern}")["index_templates"])
    for name in names:
        status, answer = http_json("DELETE", f"{base}/_index_template/{urllib.parse.quote(name, safe='')}")
        _ok(status, answer, f"delete template {name}")
    return names


def delete_indices(url: str, pattern: str) -> list[str]:
    """Delete the indices matching ``pattern`` (wildcards allowed); return their names.

    Names are resolved first, so this works where ``action.destructive_requires_name``
    forbids wildcard deletes (the default since Elasticsearch 8).
    """
    base = url.rstrip("/")
    status, rows = http_json(
        "GET", f"{base}/_cat/indices/{_q(pattern)}?format=json&h=index&expand_wildcards=all"
    )
    if status == 404:
        return []
    names = sorted(row["index"] for row in _ok(status, rows, f"list {pattern}") or [])
    for start in range(0, len(names), 50):
        chunk = ",".join(urllib.parse.quote(n, safe="") for n in names[start : start + 50])
        status, payload = http_json("DELETE", f"{base}/{chunk}?ignore_unavailable=true")
        _ok(status, payload, f"delete {chunk}")
    return names
