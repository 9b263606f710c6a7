"""What a Fluentd conversion produces, and the context each plugin's mapping writes it into.

A *problem* is something logship cannot do as Fluentd did; a *note* is something that means nothing
for logship. Both name the file and line they come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logship.migrate.fluentd_tree import Directive, Param, Where

__all__ = ["Context", "Conversion", "Finding", "unexpanded"]

# Left in a value: Ruby Fluentd would have evaluated, or a `${...}` it would have expanded.
_UNEXPANDED = re.compile(r"#\{[^}]*\}?|\$\{[^}]*\}?")
# The only settings in which logship expands `${VAR}` itself.
_EXPANDED_SECTIONS = {"enrich"}


def unexpanded(value: Any) -> str | None:
    """The first ``#{...}`` or ``${...}`` left in ``value`` (text, or lists and tables of it)."""
    if isinstance(value, str):
        m = _UNEXPANDED.search(value)
        return m.group(0) if m is not None else None
    if isinstance(value, list | tuple):
        return next((u for v in value if (u := unexpanded(v)) is not None), None)
    if isinstance(value, dict):
        return unexpanded(list(value.values()))
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    """Something about the Fluentd file that logship does not carry over, and where it is."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Conversion:
    """logship settings (section -> key -> value) and what could not, or need not, be converted."""

    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)  # variables to set for the secrets left out
    pos_files: list[tuple[Where, str]] = field(default_factory=list)


@dataclass
class Context:
    """The conversion being built, and where each setting was taken from (to report conflicts)."""

    out: Conversion = field(default_factory=Conversion)
    set_at: dict[tuple[str, str], tuple[Any, Where]] = field(default_factory=dict)

    def problem(self, where: Where, message: str) -> None:
        self.out.problems.append(Finding(where, message))

    def note(self, where: Where, message: str) -> None:
        self.out.notes.append(Finding(where, message))

    def set(self, section: str, key: str, value: Any, where: Where) -> None:
        """Set ``section.key``; a different value set before is a problem (one setting for all files)."""
        if not self.literal(section, key, value, where):
            return
        previous = self.set_at.get((section, key))
        if previous is not None and previous[0] != value:
            self.problem(
                where,
                f"`{section}.{key}` would be {value!r} here but {previous[0]!r} at {previous[1]} "
                "(logship has one setting for all files)",
            )
            return
        self.set_at[(section, key)] = (value, where)
        self.out.settings.setdefault(section, {})[key] = value

    def literal(self, section: str, key: str, value: Any, where: Where) -> bool:
        """Whether ``value`` is plain text for ``section.key``; if not, a problem at ``where``.

        logship expands ``${VAR}`` only in ``enrich.fields``: anywhere else, a placeholder or Ruby
        would reach the file as text and fail only when logship runs (a path that matches nothing,
        a host that does not resolve).
        """
        if section in _EXPANDED_SECTIONS or (left := unexpanded(value)) is None:
            return True
        self.problem(
            where,
            f"`{section}.{key}` would keep {left!r}, which logship does not expand in this setting "
            "(only in `enrich.fields`): write the value itself in the Fluentd file, or set the "
            f"setting through logship's environment (LOGSHIP_{section.upper()}__{key.upper()})",
        )
        return False

    def set_from(self, section: str, key: str, p: Param, value: Callable[[Param], Any]) -> None:
        """Set ``section.key`` to ``value(p)``; a ValueError is a problem at the parameter's line."""
        try:
            converted = value(p)
        except ValueError as exc:
            self.problem(p.where, str(exc))
            return
        self.set(section, key, converted, p.where)

    def unknown(self, d: Directive, p: Param) -> None:
        self.problem(p.where, f"`{p.name}` of {d} (@type {d.type}) has no logship equivalent")
