"""Session-wide fixtures: the real search engine node, and each test's own index prefix
(see engine_fixture.py)."""

from __future__ import annotations

from engine_fixture import index_prefix, search_engine

__all__ = ["index_prefix", "search_engine"]
