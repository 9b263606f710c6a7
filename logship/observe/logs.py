"""logship's own logs: one JSON object per line on stderr, in the monitoring guide's fields.

Fields: ``timestamp`` (ISO 8601 UTC, milliseconds), ``level``, ``logger``, ``message``,
``module``, ``function``, ``line`` (a string, as the guide's format writes it, so logship's
records map like the application's), then every key passed with ``extra={...}``, then
``error.type``/``error.message``/``error.stack_trace`` when ``exc_info`` is set.

Unlike the guide's ``%``-format string, the encoder escapes quotes, backslashes, newlines and
control characters, so every record stays exactly one valid JSON line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import TextIO

import orjson

from logship.observe._common import utc_timestamp

__all__ = [
    "SECRET_FIELD_NAMES",
    "JsonFormatter",
    "configure_logging",
    "redact",
    "redact_mapping",
]

# Setting names whose values are never printed (``logship check``, start-up summary).
SECRET_FIELD_NAMES: frozenset[str] = frozenset({"password", "api_key"})

MASK = "***"

# Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)
_CORE_FIELDS = ("timestamp", "level", "logger", "message", "module", "function", "line")

# scheme://user:password@  ->  scheme://user:***@   (password may itself contain '@')
_URL_CREDENTIALS = re.compile(
    r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s?#]*)(?::(?P<password>[^/\s?#]*))?@"
)


class JsonFormatter(logging.Formatter):
    """Formats a LogRecord as one JSON object (no trailing newline; the handler adds it)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "timestamp": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "module": record.module,
            "function": record.funcName,
            "line": str(record.lineno),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS:
                continue
            # An extra named like a core field (the guide's own example passes "timestamp")
            # must not overwrite it.
            fields[f"extra.{key}" if key in _CORE_FIELDS else key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            fields["error.type"] = type(exc).__name__
            fields["error.message"] = str(exc)
            fields["error.stack_trace"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["error.stack_trace"] = record.exc_text
        if record.stack_info:
            fields["stack_info"] = self.formatStack(record.stack_info)
        return _dumps(fields)


def _dumps(fields: Mapping[str, object]) -> str:
    try:
        return orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses integers beyond 64 bits and strings with lone surrogates (undecodable
        # file names); the standard library escapes both rather than losing the record.
        return json.dumps(fields, default=str, ensure_ascii=True)


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so reconfiguring replaces it."""


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send all logging (root logger and below) as JSON lines to ``stream`` (stderr).

    Idempotent: a second call replaces the handler installed by the first.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
            handler.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    # warnings.warn() output becomes a JSON record too, instead of free text on stderr.
    logging.captureWarnings(True)
    # aiohttp logs one line per request; health probes and scrapes would drown everything.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def redact(value: str) -> str:
    """Mask credentials in URLs: ``http://user:pass@host`` -> ``http://user:***@host``.

    A URL with a user but no password (``http://token@host``) is masked whole, since the
    user part is then usually a token.
    """

    def mask(match: re.Match[str]) -> str:
        if match.group("password") is None:
            return f"{match.group('prefix')}{MASK}@"
        return f"{match.group('prefix')}{match.group('user')}:{MASK}@"

    return _URL_CREDENTIALS.sub(mask, value)


def redact_mapping(data: Mapping[str, object]) -> dict[str, object]:
    """A copy of nested settings data safe to print: secret fields masked, URLs redacted."""
    return {key: _redact_value(key, value) for key, value in data.items()}


def _redact_value(key: str, value: object) -> object:
    if key.lower() in SECRET_FIELD_NAMES and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(key, item) for item in value]
    return value
