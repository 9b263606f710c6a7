"""The tail source's fixtures: ``logs``, the directory the tests' applications log into."""

from __future__ import annotations

from support.tailsource import logs

__all__ = ["logs"]
