"""Chaos, part C: a real three-node cluster loses nodes while the application writes.

Everything is real: three Elasticsearch (or OpenSearch, ``LOGSHIP_TEST_ENGINE``) nodes on one
machine started by ``scripts/search-node start --nodes 3``, killed with SIGKILL and restarted with
their data; the workload logs through Python's logging module with rotation; ``logship run`` runs
as its own process. The scenarios' indices (prefix ``chaos-cluster-<name>``) have three primaries
and one replica each, so every node holds shard copies and a lost node is covered by the others.
Each scenario prints one line

    [scenario] written=… found=… duplicates=… missing=… malformed=… seconds=…

plus what the cluster went through, and asserts that every record arrived exactly once. The
cluster is started once for this module (it is the slow part), only when these tests run.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine_fixture import SearchCluster, count, delete_indices, http_json, search_all
from support.harness import Delivery, Logship, check_documents, free_port, toml_config, wait_until, write_logs

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

PREFIX = "chaos-cluster"
MiB = 1024 * 1024
# Records written and searchable before a scenario's writer starts: the first bulk requests into
# a new index wait for its creation and the dynamic mapping updates (cluster state published to
# three nodes): on a fresh cluster and a loaded machine 20-40 s, as long as the writer ran or longer.
PRIMER = 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[SearchCluster]:
    """Three nodes on free ports, each with its own state; the test indices get 3 shards, 1 replica."""
    engine = os.environ.get("LOGSHIP_TEST_ENGINE") or "elasticsearch"
    nodes = SearchCluster(engine, nodes=3, heap=os.environ.get("LOGSHIP_TEST_CLUSTER_HEAP", "320m"))
    started = time.monotonic()
    try:
        nodes.start()
        print(f"\n[cluster] {engine} x3 at {' '.join(nodes.urls)} up in {time.monotonic() - started:.1f} s")
        template = {
            "index_patterns": [f"{PREFIX}-*"],
            "priority": 500,
            "template": {"settings": {"number_of_shards": 3, "number_of_replicas": 1}},
        }
        status, body = http_json("PUT", f"{nodes.urls[0]}/_index_template/{PREFIX}", template)
        assert status == 200, body
        yield nodes
        http_json("DELETE", f"{nodes.live_url()}/_index_template/{PREFIX}")
    finally:
        nodes.cleanup()


_HEALTH_KEYS = ("status", "number_of_nodes", "unassigned_shards", "initializing_shards", "relocating_shards")


class Run:
    """One scenario: its logs, state, configuration (listing ``hosts``) and logship process."""

    def __init__(self, tmp_path: Path, cluster: SearchCluster, name: str, hosts: list[str]) -> None:
        self.name = name
        self.cluster = cluster
        self.prefix = f"{PREFIX}-{name}"
        self.pattern = f"{self.prefix}-*"
        self.logs = tmp_path / "logs"
        self.state = tmp_path / "state"
        self.logs.mkdir()
        self.state.mkdir()
        config = tmp_path / "logship.toml"
        http_port = free_port()
        toml_config(
            config,
            logs=self.logs,
            state=self.state,
            es_url=hosts[0],
            http_port=http_port,
            index_prefix=self.prefix,
            overrides={"elasticsearch": {"hosts": list(hosts)}},
        )
        delete_indices(cluster.live_url(), self.pattern)
        self.ship = Logship(config, http_port, tmp_path / "logship.log")
        self.writers: list[subprocess.Popen[bytes]] = []
        self.started = time.monotonic()
        self.primed = 0  # records written before the scenario's writer (seq 0..primed-1)

    def count(self, patience: float = 0.0) -> int:
        """Documents found so far; -1 while no node can answer, after trying for ``patience`` s
        (a search fails for a moment while the replicas of a lost node's primaries take over)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return count(self.cluster.live_url(), self.pattern)
            except (RuntimeError, OSError):
                if time.monotonic() >= deadline:
                    return -1
                time.sleep(0.5)

    def wait_for(self, n: int, timeout: float) -> None:
        try:
            wait_until(lambda: self.count() >= n, timeout, what=f"{n} documents in {self.pattern}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """What the cluster and logship say now: for a scenario that timed out."""
        try:
            health = self.cluster.health(timeout=10)
            cluster = " ".join(f"{k}={health.get(k)}" for k in _HEALTH_KEYS)
        except (RuntimeError, OSError) as exc:
            cluster = f"no health answer: {exc}"
        try:
            wanted = ("logship_records_total", "logship_retries_total", "logship_inflight_bytes")
            shown = {k: v for k, v in self.ship.metrics().items() if k.startswith(wanted) and v}
            metrics = " ".join(f"{k}={v:g}" for k, v in sorted(shown.items()))
        except OSError as exc:
            metrics = f"no /metrics answer: {exc}"
        return (
            f"documents now: {self.count()}\ncluster: {cluster}\nlogship metrics: {metrics}\n"
            f"logship log:\n{self.ship.log_tail(60)}"
        )

    def begin(self, records: int, rate: float) -> subprocess.Popen[bytes]:
        """Start logship, write ``PRIMER`` records and wait until they are searchable (the index
        exists, its mappings are in place), then start the application writing ``records`` more
        at ``rate``: the scenario's fault falls mid-stream however slow the engine's start."""
        self.ship.start()
        write_logs(self.logs, PRIMER, max_bytes=2 * MiB, backup_count=20)
        self.wait_for(PRIMER, 120)
        self.primed = PRIMER
        primed_in = time.monotonic() - self.started
        print(f"\n[{self.name}] the first {PRIMER} records searchable in {primed_in:.1f} s")
        proc = write_logs(
            self.logs,
            records,
            start_seq=PRIMER,
            rate=rate,
            max_bytes=2 * MiB,
            backup_count=20,
            background=True,
        )
        assert proc is not None
        self.writers.append(proc)
        return proc

    def assert_writing(self, writer: subprocess.Popen[bytes]) -> None:
        """The fault is about to fall: the application must still be writing."""
        if writer.poll() is not None:
            raise AssertionError(f"the application finished writing before the fault\n{self.diagnosis()}")

    def wait_for_written(self, n: int, timeout: float) -> None:
        """Until ``n`` of the scenario writer's records (beyond the primer) could be in the index."""
        self.wait_for(self.primed + n, timeout)

    def retries(self) -> dict[str, float]:
        """logship_retries_total by reason, as logship counted them."""
        prefix = 'logship_retries_total{reason="'
        return {k[len(prefix) : -2]: v for k, v in self.ship.metrics().items() if k.startswith(prefix) and v}

    def finish(self, writer: subprocess.Popen[bytes], records: int) -> Delivery:
        """Wait for the writer and every record, the cluster green, logship stopped; read back."""
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err.decode()
        total = self.primed + records
        self.wait_for(total, 180)
        self.cluster.wait_for_green(180)
        retries = self.retries()
        code = self.ship.stop(timeout=60)
        assert code == 0, f"logship exited with {code} on SIGTERM:\n{self.ship.log_tail()}"
        delivery = check_documents(search_all(self.cluster.live_url(), self.pattern), range(total))
        print(f"\n{delivery.report(self.name, time.monotonic() - self.started)} retries={retries}")
        return delivery

    def close(self) -> None:
        """Kill logship and the writer if a failed assertion left them running; delete the
        scenario's indices."""
        proc = self.ship.proc
        if proc is not None and proc.poll() is None:
            self.ship.kill()
        for writer in self.writers:
            if writer.poll() is None:
                writer.kill()
            writer.communicate()
        try:
            delete_indices(self.cluster.live_url(), self.pattern)
        except (RuntimeError, OSError):
            pass  # the cluster is gone; its cleanup removes the data


def _grows_while_down(run: Run, kill: Callable[[], None], seconds: float = 5.0) -> tuple[int, int]:
    """Documents found just before ``kill()`` and ``seconds`` after it."""
    before = run.count(patience=10)
    kill()
    time.sleep(seconds)
    return before, run.count(patience=10)


# -- 1. a node logship does not talk to ------------------------------------------------------------


def test_node_holding_primaries_killed_and_restarted(tmp_path: Path, cluster: SearchCluster) -> None:
    """logship talks to node 0 only; node 1 or 2 (the one with more primaries) is SIGKILLed
    mid-stream and restarted: its replicas are promoted, node 0 keeps accepting every bulk
    request, and the restarted node recovers its copies. Every record exactly once."""
    cluster.heal()
    run = Run(tmp_path, cluster, "other-node", hosts=[cluster.urls[0]])
    records = 30_000
    try:
        writer = run.begin(records, rate=1000)
        run.wait_for_written(1000, 60)
        primaries = cluster.primaries(run.pattern)
        victim = max((1, 2), key=lambda i: primaries[i])
        run.assert_writing(writer)
        killed = time.monotonic()
        before, after = _grows_while_down(run, lambda: cluster.kill(victim))
        restart = cluster.restart(victim)
        cluster.wait_restarted(restart)
        print(
            f"\n[other-node] primaries per node {primaries}; node {victim} down "
            f"{time.monotonic() - killed:.1f} s; documents {before} -> {after} in its first 5 s down"
        )
        assert after > before, "node 0 stopped accepting documents while another node was down"
        run.finish(writer, records).assert_exactly_once()
    finally:
        run.close()


# -- 2. the first listed node ------------------------------------------------------------------------


def test_first_listed_node_killed(tmp_path: Path, cluster: SearchCluster) -> None:
    """logship lists all three nodes; node 0, listed first, is SIGKILLed mid-stream and comes back
    ~20 s later. Requests rotate over the nodes: those whose turn is node 0 are refused and handed
    on to the next node at once (counted as retries); delivery goes on meanwhile. Every record
    exactly once."""
    cluster.heal()
    run = Run(tmp_path, cluster, "first-node", hosts=cluster.urls)
    records = 30_000
    try:
        writer = run.begin(records, rate=1000)
        run.wait_for_written(1000, 60)
        run.assert_writing(writer)
        killed = time.monotonic()
        before, after = _grows_while_down(run, lambda: cluster.kill(0))
        retries_down = run.retries()
        restart = cluster.restart(0)
        cluster.wait_restarted(restart)
        print(
            f"\n[first-node] node 0 down {time.monotonic() - killed:.1f} s; documents {before} -> {after} "
            f"in its first 5 s down; retries by then {retries_down}"
        )
        assert after > before, "delivery stopped while the first listed node was down"
        assert retries_down.get("connection", 0) >= 1, "no request was sent to the dead node"
        run.finish(writer, records).assert_exactly_once()
    finally:
        run.close()


def _readiness(run: Run) -> tuple[int, str]:
    """/health/detailed: its status and the search_engine check's detail."""
    answer = run.ship.get("/health/detailed")
    check = answer.json().get("checks", {}).get("search_engine", {})
    return answer.status, f"{check.get('status')}: {check.get('detail')}"


def test_ready_while_one_listed_node_is_down(tmp_path: Path, cluster: SearchCluster) -> None:
    """logship lists all three nodes and node 2 is down: the records keep arriving through the
    other two, so logship should stay ready (/health/detailed 200) all along."""
    cluster.heal()
    run = Run(tmp_path, cluster, "readiness", hosts=cluster.urls)
    records = 16_000
    try:
        writer = run.begin(records, rate=1000)
        run.wait_for_written(1000, 60)
        before = run.count(patience=10)
        cluster.kill(2)
        samples = []
        killed = time.monotonic()
        while time.monotonic() < killed + 8 and writer.poll() is None:  # while records keep coming
            samples.append(_readiness(run))
            time.sleep(0.2)
        after, sampled = run.count(patience=10), time.monotonic() - killed
        restart = cluster.restart(2)
        unready = [detail for status, detail in samples if status != 200]
        print(
            f"\n[readiness] node 2 down: documents {before} -> {after} in {sampled:.1f} s; "
            f"{len(unready)} of {len(samples)} readiness answers 503, e.g. {unready[:1]}"
        )
        cluster.wait_restarted(restart)
        run.finish(writer, records).assert_exactly_once()
        assert after > before
        assert not unready, f"{len(unready)} of {len(samples)} readiness answers were 503: {unready[0]}"
    finally:
        run.close()


# -- 3. the cluster loses its master -----------------------------------------------------------------


def _master_lost(cluster: SearchCluster, node: int) -> bool:
    """True when ``node`` answers but has no elected master (writes are refused)."""
    try:
        status, _ = http_json("GET", f"{cluster.urls[node]}/_cluster/health?master_timeout=1s", timeout=10)
    except OSError:
        return False
    return status == 503


def test_cluster_without_master_for_20_seconds(tmp_path: Path, cluster: SearchCluster) -> None:
    """Two of three nodes, the master among them, are SIGKILLed mid-stream: the survivor has no
    quorum, no master, and refuses every write, while the application keeps logging. ~20 s later
    both come back, the cluster re-forms and recovers from the nodes' data, and logship delivers
    the backlog. Every record exactly once."""
    cluster.heal()
    run = Run(tmp_path, cluster, "no-master", hosts=cluster.urls)
    records = 28_000
    try:
        writer = run.begin(records, rate=800)
        run.wait_for_written(1000, 60)
        master = cluster.master()
        survivor = 0 if master != 0 else 1
        victims = tuple(i for i in range(3) if i != survivor)
        at_kill = run.count(patience=10)
        run.assert_writing(writer)
        killed = time.monotonic()
        cluster.kill(*victims)
        wait_until(lambda: _master_lost(cluster, survivor), 30, what="the survivor to lose its master")
        lost = time.monotonic() - killed
        time.sleep(8)  # the restart itself takes ~10-20 s more: about 20 s without a master
        restarting = time.monotonic()
        restart = cluster.restart(*victims)
        cluster.wait_restarted(restart)
        without_master = time.monotonic() - killed
        print(
            f"\n[no-master] master was node {master}; killed {victims} at {at_kill} documents, node "
            f"{survivor} alone (master lost after {lost:.1f} s); restart took "
            f"{time.monotonic() - restarting:.1f} s; no master for {without_master:.1f} s; "
            f"application still writing: {writer.poll() is None}"
        )
        run.finish(writer, records).assert_exactly_once()
    finally:
        run.close()
