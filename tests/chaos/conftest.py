"""The ``make_rig`` fixture of the chaos scenarios (see support/rig.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from engine_fixture import SearchNode
from support.rig import MakeRig, Overrides, Rig


@pytest.fixture
def make_rig(tmp_path: Path, search_engine: SearchNode) -> Iterator[MakeRig]:
    """``make_rig(name, engine_url=..., es_url=..., patterns=..., overrides=...)`` makes a scenario's
    rig (against the session's engine unless ``engine_url`` says otherwise); afterwards its
    process is killed if still running and its indices and templates are deleted."""
    made: list[Rig] = []

    def make(
        name: str,
        *,
        engine_url: str | None = None,
        es_url: str | None = None,
        patterns: Iterable[str] = ("*.log",),
        overrides: Overrides | None = None,
    ) -> Rig:
        made.append(
            Rig(
                tmp_path / f"rig-{len(made)}",
                name,
                engine_url or search_engine.url,
                es_url=es_url,
                patterns=patterns,
                overrides=overrides,
            )
        )
        return made[-1]

    yield make
    for r in made:
        r.cleanup()
