"""Imports point down the stages, never back up: cli -> service/pipeline -> {sources, transforms,
sinks} -> leaves (acks, block, budget, errors, settings, observe, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "logship"

# What each part may not import.
FORBIDDEN = {
    "sources": (
        "logship.sinks",
        "logship.transforms",
        "logship.parse",
        "logship.pipeline",
        "logship.service",
    ),
    "transforms": ("logship.sources", "logship.sinks", "logship.pipeline", "logship.service"),
    "sinks": (
        "logship.sources",
        "logship.transforms",
        "logship.parse",
        "logship.pipeline",
        "logship.service",
    ),
    "parse.py": ("logship.sources", "logship.sinks", "logship.transforms", "logship.pipeline"),
    "pipeline.py": ("logship.cli", "logship.service", "logship.wiring", "logship.sinks.elasticsearch"),
    # The service takes any live source and any sink: `logship.wiring` builds the real ones.
    "service.py": (
        "logship.cli",
        "logship.wiring",
        "logship.sinks.elasticsearch",
        "logship.sinks.stdout",
        "logship.sources.tail.source",
    ),
    "block.py": (
        "logship.sources",
        "logship.sinks",
        "logship.transforms",
        "logship.parse",
        "logship.pipeline",
    ),
    "document.py": (
        "logship.sources",
        "logship.sinks",
        "logship.transforms",
        "logship.parse",
        "logship.pipeline",
    ),
    "acks.py": ("logship.",),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_point_down(part: str) -> None:
    target = PACKAGE / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    wrong = [
        f"{f.relative_to(PACKAGE)} imports {name}"
        for f in files
        for name in sorted(imports_of(f))
        if name.startswith(FORBIDDEN[part])
    ]
    assert not wrong, wrong


def test_no_module_is_too_long_to_read() -> None:
    long = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 420
    ]
    assert not long, long
