"""Fields added to every record: ``${VAR}`` / ``${VAR:-default}`` expanded once, at start."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping

from logship.errors import ConfigError

__all__ = ["expand", "resolve_fields"]

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
                f"setting `{setting}`: environment variable {name} is not set (set it, or write ${{{name}:-default}})"
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
