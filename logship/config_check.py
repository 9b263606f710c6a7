"""`logship check`: validate the configuration, print it (secrets redacted) and every problem found."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from logship.errors import ConfigError
from logship.exitcodes import Exit
from logship.observe.logs import redact_mapping
from logship.settings import Settings
from logship.transforms.enrich import configured_fields
from logship.wiring import build_sink

__all__ = ["check", "check_fields", "where"]


def where(config: Path | None) -> str:
    """The configuration's origin, as error messages name it."""
    return str(config) if config else "the built-in defaults"


def check_fields(settings: Settings, config: Path | None) -> None:
    """Expand `enrich.fields` now, so that an unset or refused variable is a configuration error."""
    try:
        configured_fields(settings)
    except ConfigError as exc:
        raise ConfigError([f"{where(config)}: {p}" for p in exc.problems]) from exc


def check(settings: Settings, config: Path | None, connect: bool) -> int:
    """Raise ConfigError with every problem, or print the settings; ``connect``: ask the engine too."""
    problems: list[str] = []
    origin = where(config)
    try:
        check_fields(settings, config)
    except ConfigError as exc:
        problems.extend(exc.problems)
    for setting, directory in (
        ("tail.positions_dir", settings.tail.positions_dir),
        ("dead_letter.path", settings.dead_letter.path.parent),
    ):
        if not _writable_dir(directory):
            problems.append(
                f"{origin}: setting `{setting}`: {directory} cannot be created or written by this user"
            )
    if problems:
        raise ConfigError(problems)
    print(orjson.dumps(redact_mapping(settings.model_dump(mode="json")), option=orjson.OPT_INDENT_2).decode())
    for warning in build_sink(settings, None).warnings():  # contacts nothing yet
        print(f"warning: {warning}", file=sys.stderr)
    print(f"configuration OK ({origin})", file=sys.stderr)
    if connect:
        from logship.engine_commands import check_connection

        return check_connection(settings)
    return Exit.OK


def _writable_dir(directory: Path) -> bool:
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
