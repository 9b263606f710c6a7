"""A real search engine for the tests: fixture, node handle and stdlib HTTP helpers.

Wired in by ``from engine_fixture import *`` in tests/conftest.py.

* ``search_engine`` (session fixture): the engine for the whole run. Reuses
  ``LOGSHIP_TEST_ES_URL`` when set (never started or stopped here); otherwise starts a
  node of engine ``LOGSHIP_TEST_ENGINE`` (``elasticsearch`` by default, ``elasticsearch8`` or
  ``opensearch``) on a free port with a fresh data directory, and stops it at session end.
* ``SearchNode``: a dedicated node driven through ``scripts/search-node``, for outage
  tests: ``stop()`` it, wait, ``start()`` it again on the same port with the same data.
* ``index_prefix`` (fixture): an index prefix that belongs to one test alone (its name and a
  random suffix); the test writes and counts only ``<prefix>-*``, and its indices are deleted
  afterwards. So tests never see each other's documents, nor those of ``scripts/quickstart``
  (``aichat-*``), whatever the order and whatever the day.
* ``count``, ``search_all``, ``delete_indices``, ``refresh``: helpers built on the tests' one
  HTTP client, ``support.httpclient`` (``http_json`` is re-exported from there).
* ``SearchCluster``: a dedicated N-node cluster (``scripts/search-node start --nodes N``)
  whose nodes are killed and restarted one by one, for the cluster chaos tests.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ports import free_port
from support.httpclient import http_json

__all__ = [
    "SearchCluster",
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
ENGINES = ("elasticsearch", "elasticsearch8", "opensearch")
# first start may build the launcher with Maven (a cold ~/.m2 downloads ~150 MB)
START_TIMEOUT_S = 900.0


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
    """Number of documents in the matching indices, after a refresh (0 if none match).

    An index the engine is still creating (logship's first bulk request auto-creates it) answers 503
    until its shard has started: asked again for a few seconds rather than taken for a failure.
    """
    deadline = time.monotonic() + 10
    while True:
        refresh(url, index_pattern)
        status, payload = http_json("GET", f"{url.rstrip('/')}/{_q(index_pattern)}/_count?{LENIENT}")
        if status != 503 or time.monotonic() > deadline:
            result: int = _ok(status, payload, f"count {index_pattern}")["count"]
            return result
        time.sleep(0.1)


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


# ---------------------------------------------------------------- a cluster


def free_port_block(count: int, offset: int = 100, low: int = 20000, high: int = 32000) -> int:
    """A port P below the ephemeral range such that P..P+count-1 and P+offset.. are free right now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - offset - count)
        ports = [base + i for i in range(count)] + [base + offset + i for i in range(count)]
        try:
            for port in ports:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no block of {count} free ports found between {low} and {high}")


class SearchCluster:
    """An N-node cluster on 127.0.0.1 (``scripts/search-node start --nodes N``), for cluster chaos.

    Node ``i`` answers HTTP on ``urls[i]``; its state (log, data) lives in its own directory under
    a private state root, removed by :meth:`cleanup`. Nodes are killed, stopped and started one
    by one; a restarted node rejoins with its data.
    """

    def __init__(self, engine: str = "elasticsearch", nodes: int = 3, heap: str = "320m") -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
        self.engine = engine
        self.heap = heap
        self.base_port = free_port_block(nodes)
        self.ports = [self.base_port + i for i in range(nodes)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.state_root = Path(tempfile.mkdtemp(prefix=f"{engine}-cluster-"))

    def _cmd(self, *args: str) -> list[str]:
        return [str(SEARCH_NODE), *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "SEARCH_NODE_STATE_DIR": str(self.state_root)}

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        result = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, env=self._env(), check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"search-node {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")

    def start(self) -> list[str]:
        """Start every node; return their URLs once they formed a cluster."""
        nodes, port = str(len(self.ports)), str(self.base_port)
        self._run(
            "start",
            "--engine",
            self.engine,
            "--nodes",
            nodes,
            "--port",
            port,
            "--heap",
            self.heap,
            timeout=START_TIMEOUT_S,
        )
        return self.urls

    def kill(self, *nodes: int) -> None:
        """SIGKILL these nodes (indices into ``urls``), like a crash; their data stays."""
        for i in nodes:
            self._run("kill", "--port", str(self.ports[i]))

    def stop(self, *nodes: int) -> None:
        """SIGTERM these nodes and wait until they are gone."""
        for i in nodes:
            self._run("stop", "--port", str(self.ports[i]), timeout=120)

    def restart(self, *nodes: int) -> list[subprocess.Popen[str]]:
        """Start these (stopped or killed) nodes again, all at once, in the background.

        Each rejoins with its settings and data; each returned process ends once its node answers
        and sees an elected master (see :meth:`wait_restarted`).
        """
        return [
            subprocess.Popen(
                self._cmd("start", "--port", str(self.ports[i])),
                env=self._env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in nodes
        ]

    @staticmethod
    def wait_restarted(procs: list[subprocess.Popen[str]], timeout: float = START_TIMEOUT_S) -> None:
        """Wait for the processes :meth:`restart` returned; raise if a node did not come back."""
        errors = []
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                errors.append(f"search-node start failed ({proc.returncode}):\n{err}")
        if errors:
            raise RuntimeError("\n".join(errors))

    def is_running(self, node: int) -> bool:
        result = subprocess.run(
            self._cmd("status", "--port", str(self.ports[node])),
            capture_output=True,
            text=True,
            timeout=60,
            env=self._env(),
            check=False,
        )
        return result.returncode == 0

    def live_url(self) -> str:
        """The URL of a node that answers HTTP (the first one that does)."""
        for url in self.urls:
            try:
                if http_json("GET", url + "/", timeout=5)[0] == 200:
                    return url
            except OSError:
                continue
        raise RuntimeError(f"no node of {self.urls} answers")

    def health(self, query: str = "", timeout: float = 120.0) -> dict[str, Any]:
        """``_cluster/health?<query>`` from a live node; raises unless it answers 200 in ``timeout``."""
        wait = max(1, int(timeout))
        status, payload = http_json(
            "GET",
            f"{self.live_url()}/_cluster/health?{query}&timeout={wait}s&master_timeout={wait}s",
            timeout=timeout + 10,
        )
        result: dict[str, Any] = _ok(status, payload, f"cluster health {query}")
        return result

    def heal(self, timeout: float = 180.0) -> None:
        """Start the nodes that are not running (a failed test may have left some down), then
        wait for green."""
        down = [i for i in range(len(self.ports)) if not self.is_running(i)]
        if down:
            self.wait_restarted(self.restart(*down))
        self.wait_for_green(timeout)

    def wait_for_green(self, timeout: float = 120.0) -> None:
        """Every node back and every shard copy assigned."""
        n = len(self.urls)
        self.health(f"wait_for_status=green&wait_for_nodes={n}&wait_for_no_relocating_shards=true", timeout)

    def node_index(self, name: str) -> int:
        """The index into ``urls`` of the node called ``name`` (node-<port>)."""
        return self.ports.index(int(name.rsplit("-", 1)[1]))

    def master(self) -> int:
        """The index of the elected master node."""
        status, rows = http_json("GET", f"{self.live_url()}/_cat/master?format=json")
        return self.node_index(_ok(status, rows, "cat master")[0]["node"])

    def primaries(self, index_pattern: str) -> dict[int, int]:
        """Started primary shards of the matching indices per node index."""
        status, rows = http_json("GET", f"{self.live_url()}/_cat/shards/{_q(index_pattern)}?format=json")
        out = dict.fromkeys(range(len(self.urls)), 0)
        for row in _ok(status, rows, f"cat shards {index_pattern}"):
            if row.get("prirep") == "p" and row.get("state") == "STARTED" and row.get("node"):
                out[self.node_index(row["node"])] += 1
        return out

    def log_file(self, node: int) -> Path:
        return self.state_root / f"{self.engine}-{self.ports[node]}" / "node.log"

    def cleanup(self) -> None:
        """Stop every node and remove the cluster's state and data."""
        try:
            self._run("stop", "--cluster", "--port", str(self.base_port), timeout=180)
        finally:
            shutil.rmtree(self.state_root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"SearchCluster(engine={self.engine!r}, urls={self.urls!r})"
