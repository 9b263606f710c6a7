"""The chaos tests' one rig: a scenario's directories, configuration, logship process and checks.

A rig writes into an index prefix of its own (``chaos-<name>-<random>``), so scenarios never see
each other's documents, nor those of other tests or of ``scripts/quickstart``, in any order, on
any day. Its configuration is always written by ``harness.toml_config`` (atomically), from the
rig's own overrides plus those of the moment (``write_config``). The ``make_rig`` fixture
(tests/chaos/conftest.py) makes rigs and, afterwards, kills what still runs and deletes the
rig's indices and index templates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from engine_fixture import count, delete_index_templates, delete_indices, search_all, unique_prefix
from support.harness import Delivery, Logship, check_documents, free_port, toml_config

Overrides = Mapping[str, Mapping[str, Any]]

# Every rig's own settings, under whatever a scenario adds.
BASE: dict[str, dict[str, Any]] = {"pipeline": {"drain_timeout_seconds": 20.0}}


def merge(*layers: Overrides | None) -> dict[str, dict[str, Any]]:
    """Overrides layered section by section, later ones winning key by key."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in (layer or {}).items():
            out.setdefault(section, {}).update(values)
    return out


class Rig:
    """One scenario: its logs, state, configuration, `logship run` process and index prefix.

    ``engine_url`` is the engine the documents are read back from; ``es_url`` is where logship
    sends them (a fault proxy in front of the engine, a dead port, or the engine itself).
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        engine_url: str,
        *,
        es_url: str | None = None,
        patterns: Iterable[str] = ("*.log",),
        overrides: Overrides | None = None,
    ) -> None:
        self.name = name
        self.engine_url = engine_url.rstrip("/")
        self.prefix = unique_prefix(f"chaos-{name}")
        self.logs = directory / "logs"
        self.state = directory / "state"
        self.logs.mkdir(parents=True)
        self.state.mkdir(parents=True)
        self.config = directory / "logship.toml"
        self.overrides = merge(BASE, overrides)
        self.es_url = es_url or self.engine_url
        self.patterns = tuple(patterns)
        self.ship = Logship(self.config, free_port(), directory / "logship.log")
        self.write_config()
        self.started = time.monotonic()
        self.final_metrics: dict[str, float] = {}

    # -- configuration ---------------------------------------------------------------------

    def write_config(
        self,
        es_url: str | None = None,
        patterns: Iterable[str] | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        """(Re)write the configuration: the rig's overrides plus ``overrides`` for this once.

        ``es_url`` and ``patterns``, when given, are kept for the next writes.
        """
        if es_url is not None:
            self.es_url = es_url
        if patterns is not None:
            self.patterns = tuple(patterns)
        toml_config(
            self.config,
            logs=self.logs,
            state=self.state,
            es_url=self.es_url,
            http_port=self.ship.http_port,
            index_prefix=self.prefix,
            patterns=self.patterns,
            overrides=merge(self.overrides, overrides),
        )

    # -- where things are -------------------------------------------------------------------

    @property
    def pattern(self) -> str:
        """The rig's indices."""
        return f"{self.prefix}-*"

    @property
    def dead_letter(self) -> Path:
        return self.state / "dead-letter.ndjson"

    @property
    def positions(self) -> Path:
        return self.state / "positions" / "positions.json"

    # -- the process ------------------------------------------------------------------------

    def start(self) -> Logship:
        return self.ship.start()

    def stop(self) -> None:
        """SIGTERM; logship must exit 0."""
        code = self.ship.stop(timeout=60)
        assert code == 0, f"logship exited with {code} on SIGTERM:\n{self.ship.log_tail()}"

    def running(self) -> bool:
        return self.ship.proc is not None and self.ship.proc.poll() is None

    def kill_if_running(self) -> None:
        """Kill logship if a failed assertion left it running."""
        if self.running():
            self.ship.kill()

    def errors(self) -> list[dict[str, Any]]:
        """logship's ERROR and CRITICAL log records so far."""
        return [r for r in self.ship.log_records() if r.get("level") in ("ERROR", "CRITICAL")]

    # -- the engine -------------------------------------------------------------------------

    def count(self) -> int:
        """Documents in the rig's indices; 0 while the engine cannot answer (shards recovering)."""
        try:
            return count(self.engine_url, self.pattern)
        except (RuntimeError, OSError):
            return 0

    def documents(self) -> list[dict[str, Any]]:
        return search_all(self.engine_url, self.pattern)

    def wait_for(self, n: int, timeout: float) -> bool:
        """Wait until the engine holds at least ``n`` documents and logship has nothing in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                if not self.running():
                    return True
                m = self.ship.metrics()
                lag = sum(v for k, v in m.items() if k.startswith("logship_file_lag_bytes"))
                if m.get("logship_inflight_bytes", 1) == 0 and lag == 0:
                    return True
            time.sleep(0.5)
        return False

    def finish(self, expected: Iterable[int], timeout: float = 90, lost_bytes: int = 0) -> Delivery:
        """Wait (bounded) for delivery, stop logship, compare the engine with ``expected``; print the line."""
        seqs = set(expected)
        delivered = self.wait_for(len(seqs), timeout)
        if self.running():
            self.final_metrics = self.ship.metrics()
            self.stop()
        result = check_documents(self.documents(), seqs)
        print("\n" + result.report(self.name, time.monotonic() - self.started), flush=True)
        if not delivered:
            print(
                f"[{self.name}] delivery did not complete within {timeout:.0f} s; logship log tail:\n"
                f"{self.ship.log_tail()}"
            )
        result.assert_exactly_once()
        lost = self.final_metrics.get("logship_lost_bytes_total", 0.0)
        assert lost == lost_bytes, (
            f"logship counted {lost:.0f} lost bytes, expected {lost_bytes}:\n{self.ship.log_tail()}"
        )
        return result

    def cleanup(self) -> None:
        """Kill what still runs; delete the rig's indices and templates (if the engine still runs)."""
        self.kill_if_running()
        try:
            delete_indices(self.engine_url, self.pattern)
            delete_index_templates(self.engine_url, self.pattern)
        except OSError:
            pass  # a node of the test's own, already stopped: its data goes with tmp_path


class MakeRig(Protocol):
    """The ``make_rig`` fixture: ``make_rig(name, ...)`` -> a new :class:`Rig` (see its arguments)."""

    def __call__(
        self,
        name: str,
        *,
        engine_url: str | None = None,
        es_url: str | None = None,
        patterns: Iterable[str] = ("*.log",),
        overrides: Overrides | None = None,
    ) -> Rig: ...
