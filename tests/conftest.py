"""Session-wide fixtures: the real search engine node (see engine_fixture.py)."""

from __future__ import annotations

from engine_fixture import search_engine

__all__ = ["search_engine"]
