"""A parsed Fluentd configuration: directives and parameters that remember their file and line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConfTree", "Directive", "Param", "Where"]


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a configuration file, printed as ``file:line``."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Param:
    """One ``key value`` line. ``value`` is a string, or a list/dict for JSON values."""

    name: str
    value: str | list[Any] | dict[str, Any]
    where: Where
    placeholders: tuple[str, ...] = ()  # ``${...}`` written in the file itself (plugin placeholders)
    ruby: tuple[str, ...] = ()  # embedded Ruby that is not an environment or host name lookup

    @property
    def text(self) -> str:
        return self.value if isinstance(self.value, str) else json.dumps(self.value)


@dataclass(slots=True)
class Directive:
    """A ``<name arg>`` section (or the root of the file) with its parameters and sub-sections."""

    name: str
    arg: str
    where: Where
    params: list[Param] = field(default_factory=list)
    children: list[Directive] = field(default_factory=list)

    def get(self, name: str) -> Param | None:
        """The parameter ``name``; the last one wins, as in Fluentd."""
        found = None
        for p in self.params:
            if p.name == name:
                found = p
        return found

    @property
    def type(self) -> str | None:
        """The plugin type: ``@type``, or the old ``type``."""
        p = self.get("@type") or self.get("type")
        return p.text if p is not None else None

    def sections(self, name: str) -> list[Directive]:
        return [c for c in self.children if c.name == name]

    def __str__(self) -> str:
        return f"<{self.name}{' ' + self.arg if self.arg else ''}>"


@dataclass(slots=True)
class ConfTree:
    """The parsed configuration: the root directive, the files read, and warnings (unmatched globs)."""

    root: Directive
    files: list[Path]
    warnings: list[tuple[Where, str]]
    total_bytes: int = 0  # characters read from all files, bounded against @include blow-ups
