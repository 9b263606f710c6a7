"""The enrich transform: fields added to every record, ``${VAR}`` / ``${VAR:-default}`` expanded at start.

The fields land in every document, readable by whoever reads the indices: logship's own variables
(``LOGSHIP_*``, where credentials are passed) and any variable holding a configured secret are refused.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Collection, Mapping
from urllib.parse import unquote, urlsplit

import orjson

from logship.block import Events
from logship.errors import ConfigError
from logship.settings import Settings

__all__ = ["Enrich", "configured_fields", "expand", "resolve_fields"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: str, env: Mapping[str, str], setting: str, secrets: Collection[str] = ()) -> str:
    """Substitute ``${VAR}`` and ``${VAR:-default}``; no other syntax, no code evaluation.

    ``LOGSHIP_*`` variables and variables whose value holds one of ``secrets`` are refused.
    """

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name.upper().startswith("LOGSHIP_"):
            raise ConfigError(
                [
                    f"setting `{setting}`: ${{{name}}} is logship's own configuration (it may hold the "
                    "engine's credentials) and would be copied into every document; use another variable"
                ]
            )
        found = env.get(name)
        if found and any(_holds(found, secret) for secret in secrets):
            raise ConfigError(
                [
                    f"setting `{setting}`: environment variable {name} holds a configured credential "
                    "(`elasticsearch.password`, `api_key` or a password in `hosts`) and would be copied "
                    "into every document; use another variable"
                ]
            )
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


def _holds(value: str, secret: str) -> bool:
    # Short secrets are compared whole: "a" must not refuse every value with an "a" in it.
    return value == secret or (len(secret) >= 6 and secret in value)


def resolve_fields(
    fields: Mapping[str, str], env: Mapping[str, str] | None = None, secrets: Collection[str] = ()
) -> dict[str, str]:
    """Expand every configured field; raise ConfigError naming each unset or refused variable."""
    source = os.environ if env is None else env
    problems: list[str] = []
    resolved: dict[str, str] = {}
    for key, value in fields.items():
        try:
            resolved[key] = expand(value, source, f"enrich.fields.{key}", secrets)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return resolved


def configured_fields(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``enrich.fields`` expanded, refusing the configured credentials (password, API key, URL passwords)."""
    es = settings.elasticsearch
    secrets = {es.password, es.api_key}
    secrets.update(unquote(p) for host in es.hosts if (p := urlsplit(host).password))
    return resolve_fields(settings.enrich.fields, env, {s for s in secrets if s})


class Enrich:
    """Adds ``enrich.fields`` to every record; they replace a record's own fields of the same name."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.adds = frozenset(fields)
        # `,"hostname":"…","environment":"…","service":"…"`: spliced as bytes into fast records.
        self._fragment = b"," + orjson.dumps(fields)[1:-1] if fields else b""

    def __call__(self, events: Events) -> Events:
        events.splice += self._fragment
        for _, doc, _ in events.docs:
            doc.update(self.fields)
        return events
