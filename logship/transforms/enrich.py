"""The enrich transform: fields added to every record, ``${VAR}`` / ``${VAR:-default}`` expanded at start."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping

import orjson

from logship.block import Events
from logship.errors import ConfigError

__all__ = ["Enrich", "expand", "resolve_fields"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: str, env: Mapping[str, str], setting: str) -> str:
    """Substitute ``${VAR}`` and ``${VAR:-default}``; no other syntax, no code evaluation."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found:
            return found
        if default is not None:
            return default
        if name == "HOSTNAME":
            # Shells set HOSTNAME without exporting it; systemd sets nothing: use the real name.
            return socket.gethostname()
        raise ConfigError(
            [
                f"setting `{setting}`: environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}})"
            ]
        )

    return _VAR.sub(one, value)


def resolve_fields(fields: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Expand every configured field; raise ConfigError naming each unset variable."""
    source = os.environ if env is None else env
    problems: list[str] = []
    resolved: dict[str, str] = {}
    for key, value in fields.items():
        try:
            resolved[key] = expand(value, source, f"enrich.fields.{key}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return resolved


class Enrich:
    """Adds ``enrich.fields`` to every record; they replace a record's own fields of the same name."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.adds = frozenset(fields)
        # `,"hostname":"…","environment":"…","service":"…"`: spliced as bytes into fast records.
        self._fragment = b"," + orjson.dumps(fields)[1:-1] if fields else b""

    def __call__(self, events: Events) -> Events:
        events.splice += self._fragment
        for _, doc, _, route in events.docs:
            if route is None:
                doc.update(self.fields)
        return events
