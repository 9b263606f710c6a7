"""The sections that say how lines are read and made records: [tail], [multiline], [parse], [enrich]."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from logship.settings.section import MiB, Section

__all__ = ["BACKEND_TEMPLATE", "EnrichSettings", "MultilineSettings", "ParseSettings", "TailSettings"]

# The backend's format string is not a JSON encoder: a message holding `"` or `\` breaks the
# JSON, but the template around it still pins every field, so the message is what lies between
# its opening quote and the `", "module": "` that follows it.
BACKEND_TEMPLATE = (
    r'^\{"timestamp": "(?P<timestamp>[^"]*)", "level": "(?P<level>[^"]*)", '
    r'"logger": "(?P<logger>[^"]*)", "message": "(?P<message>.*)", '
    r'"module": "(?P<module>[^"]*)", "function": "(?P<function>[^"]*)", '
    r'"line": "(?P<line>[^"]*)"\}\s*$'
)


class TailSettings(Section):
    paths: list[str] = Field(["/var/log/aichat/*.log"], description="Glob patterns of the files to follow.")
    exclude: list[str] = Field(
        [], description="Glob patterns of files never to read, even when `paths` match them."
    )
    positions_dir: Path = Field(
        Path("/var/lib/logship"), description="Directory holding the position store (positions.json)."
    )
    follow_symlinks_within: list[Path] = Field(
        [],
        description="Symbolic links among the matched files (and directories matched by a wildcard) are "
        "followed only when they resolve inside one of these directories; by default never.",
    )
    read_from: Literal["head", "tail"] = Field(
        "head",
        description="Where to start the files present at logship's very first start (no position store "
        'yet): "head" or "tail". A file created later is always read from its start.',
    )
    fingerprint_bytes: int = Field(
        1024,
        ge=16,
        le=65536,
        description="A file's identity is a hash of its first line, capped at this many bytes.",
    )
    max_line_bytes: int = Field(
        1 * MiB,
        ge=1024,
        description="Longer lines are cut to this size and tagged `line_truncated`; the rest of the line is "
        "skipped.",
    )
    read_block_bytes: int = Field(
        256 * 1024, ge=4096, le=16 * MiB, description="Bytes read from a file in one go."
    )
    scan_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the globs are evaluated again: how soon a new file matching `tail.paths` "
        "(or one that reappears) is found. A rotation of a followed file does not wait for it: each poll "
        "interval checks that the name of every followed file still leads to it, and scans at once when not.",
    )
    poll_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="How often followed files are checked for appended data; what arrived in between is "
        "read as one block and sent at once. Each tick costs a wakeup: shorter means less latency, more CPU.",
    )
    close_inactive_seconds: float = Field(
        30.0,
        gt=0,
        description="A rotated file, read and delivered to its end, is closed after this long without "
        "growth.",
    )

    @field_validator("follow_symlinks_within")
    @classmethod
    def _absolute(cls, value: list[Path]) -> list[Path]:
        for root in value:
            if not root.is_absolute():
                raise ValueError(f"{str(root)!r} is not an absolute path")
        return value


class MultilineSettings(Section):
    start_pattern: str = Field(
        r"^\{",
        description="Regex a line must match to start a new record; other lines continue the previous "
        "record.",
    )
    flush_timeout_seconds: float = Field(
        1.0, gt=0, description="The last record of a file is sent after this long without a following line."
    )
    max_lines: int = Field(
        500,
        ge=1,
        description="Continuation lines per record; further lines start a new record (the first tagged "
        "`multiline_truncated`, the next `multiline_continued`).",
    )
    max_bytes: int = Field(
        1 * MiB,
        ge=1024,
        description="Bytes per multi-line record at most; further lines start a new record, as with "
        "`max_lines`.",
    )
    stack_trace_field: str = Field(
        "error.stack_trace", description="Field receiving the continuation lines (a Python traceback)."
    )

    @field_validator("start_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value.encode())
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class ParseSettings(Section):
    time_key: str = Field("timestamp", description="Field holding the record's time.")
    time_format: str = Field("%Y-%m-%d %H:%M:%S", description="strptime format of `time_key`.")
    timezone: str = Field("UTC", description="IANA zone of timestamps that carry none.")
    fallback_patterns: list[str] = Field(
        [BACKEND_TEMPLATE],
        description="Regexes with named groups tried, in order, on lines that are not valid JSON; the "
        "groups become fields.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as UTC or Europe/Berlin)"
            ) from exc
        return value

    @field_validator("fallback_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for i, pattern in enumerate(value):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {i} is not a valid regular expression: {exc}") from exc
            if not compiled.groupindex:
                raise ValueError(f"pattern {i} has no named group, so it would recover no field")
        return value


class EnrichSettings(Section):
    fields: dict[str, str] = Field(
        {"hostname": "${HOSTNAME}", "environment": "${ENVIRONMENT:-production}", "service": "aichat-backend"},
        description="Fields added to every record; `${VAR}` and `${VAR:-default}` expand from the "
        "environment.",
    )
