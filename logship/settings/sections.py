"""The sections of the configuration model: each key typed, defaulted, described and validated."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from logship.observe.logs import redact

__all__ = [
    "BACKEND_TEMPLATE",
    "BatchSettings",
    "DeadLetterSettings",
    "DeliverySettings",
    "ElasticsearchSettings",
    "EnrichSettings",
    "IndexSettings",
    "LogSettings",
    "MultilineSettings",
    "ParseSettings",
    "PipelineSettings",
    "TailSettings",
]

MiB = 1024 * 1024

# The backend's format string is not a JSON encoder: a message holding `"` or `\` breaks the
# JSON, but the template around it still pins every field, so the message is what lies between
# its opening quote and the `", "module": "` that follows it.
BACKEND_TEMPLATE = (
    r'^\{"timestamp": "(?P<timestamp>[^"]*)", "level": "(?P<level>[^"]*)", '
    r'"logger": "(?P<logger>[^"]*)", "message": "(?P<message>.*)", '
    r'"module": "(?P<module>[^"]*)", "function": "(?P<function>[^"]*)", '
    r'"line": "(?P<line>[^"]*)"\}\s*$'
)

# Characters the engine refuses in an index name (besides uppercase letters).
_INDEX_NAME_FORBIDDEN = re.compile(r'[\\/*?"<>| ,#:]')
_SAMPLE_DAYS = [datetime(2026, month, 1 + month, 13, 5, 9, tzinfo=UTC) for month in range(1, 13)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TailSettings(_Section):
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


class MultilineSettings(_Section):
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


class ParseSettings(_Section):
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


class EnrichSettings(_Section):
    fields: dict[str, str] = Field(
        {"hostname": "${HOSTNAME}", "environment": "${ENVIRONMENT:-production}", "service": "aichat-backend"},
        description="Fields added to every record; `${VAR}` and `${VAR:-default}` expand from the "
        "environment.",
    )


class ElasticsearchSettings(_Section):
    hosts: list[str] = Field(
        ["http://localhost:9200"], min_length=1, description="Engine URLs; requests rotate over them."
    )
    index_prefix: str = Field("aichat", description="Index name prefix: <prefix>-<date>.")
    index_date_format: str = Field(
        "%Y.%m.%d",
        description="strftime format of the index date, taken from @timestamp in UTC; what it renders must "
        "be valid in an index name (lowercase; no space, comma, colon, hash, quote, slash, backslash, *, ?, "
        "<, > or pipe), which `check` verifies.",
    )
    username: str | None = Field(None, description="Basic authentication user.")
    password: str | None = Field(
        None, description="Basic authentication password (prefer LOGSHIP_ELASTICSEARCH__PASSWORD)."
    )
    api_key: str | None = Field(
        None, description="API key, base64 of id:key (prefer LOGSHIP_ELASTICSEARCH__API_KEY)."
    )
    ca_file: Path | None = Field(None, description="PEM file of the CA that signed the engine's certificate.")
    verify_certs: bool = Field(True, description="Verify the engine's TLS certificate.")
    request_timeout_seconds: float = Field(60.0, gt=0, description="Time allowed for one bulk request.")
    gzip: bool = Field(False, description="Compress bulk request bodies.")
    max_answer_bytes: int = Field(
        64 << 20,
        ge=1 << 16,
        description="Largest answer accepted from the engine, as sent and once decompressed; a larger one "
        "(a proxy's page, a gzip bomb) fails the request, which is retried.",
    )

    @field_validator("index_prefix")
    @classmethod
    def _index_name(cls, value: str) -> str:
        # The engine's own rules for index names.
        if not value or value != value.lower() or value[0] in "-_+" or _INDEX_NAME_FORBIDDEN.search(value):
            raise ValueError(
                f'{value!r} is not a valid index name prefix (lowercase, no spaces or \\/*?"<>|,#:, '
                "not starting with -, _ or +)"
            )
        return value

    @field_validator("index_date_format")
    @classmethod
    def _date_in_index_name(cls, value: str) -> str:
        # Rendered for a date in every month and on every weekday, so that names of months and days
        # (%b, %A) and any other directive show what the engine would be sent.
        for day in _SAMPLE_DAYS:
            rendered = day.strftime(value)
            if rendered != rendered.lower() or _INDEX_NAME_FORBIDDEN.search(rendered):
                raise ValueError(
                    f"{value!r} renders {day:%Y-%m-%d} as {rendered!r}, which is not valid in an index "
                    'name (lowercase, no spaces or \\/*?"<>|,#:); use digits and . or -, e.g. "%Y.%m.%d"'
                )
        return value

    @field_validator("hosts")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.match(r"^https?://[^/\s]+", host):
                raise ValueError(f"{redact(host)!r} is not an http:// or https:// URL")
        return value


class IndexSettings(_Section):
    shards: int = Field(1, ge=1, le=1024, description="Primary shards of each daily index.")
    replicas: int = Field(
        1, ge=0, le=32, description="Replica shards of each daily index (0 on a single-node engine)."
    )
    refresh_interval_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How soon indexed records become searchable; 0 turns periodic refresh off.",
    )
    codec: Literal["default", "best_compression"] = Field(
        "default",
        description='Stored fields compression: "default" (LZ4) or "best_compression" (smaller, slower).',
    )
    keyword_ignore_above: int = Field(
        1024,
        ge=1,
        le=8191,
        description="Other string fields are mapped as keyword; longer values are kept in the "
        "document but not indexed.",
    )
    retention_days: int = Field(
        30, ge=0, le=36500, description="Daily indices are deleted once they are older; 0 keeps them forever."
    )
    retention: Literal["auto", "engine", "logship", "off"] = Field(
        "auto",
        description='Who deletes old indices: "engine" (an ILM or ISM policy installed by `logship setup`), '
        '"logship" (`logship prune`, run daily by `logship run`), "auto" (the engine when it has a '
        'lifecycle service, else logship) or "off".',
    )
    setup: Literal["install", "check", "off"] = Field(
        "install",
        description="What `logship run` does about the index template (and the retention policy) at start "
        'and when the engine answers again after being unreachable: "install" creates what is missing '
        "(it warns about, and leaves, an outdated or foreign one: `logship setup` updates, `--overwrite` "
        'replaces), "check" only warns, "off" does neither. It runs beside the pipeline; only the first '
        "bulk request waits for the first check, at most 5 s.",
    )


class BatchSettings(_Section):
    max_documents: int = Field(5000, ge=1, description="Documents per bulk request at most.")
    max_bytes: int = Field(
        8 * MiB,
        ge=1024,
        description="Bytes per bulk request body at most (a single larger document goes alone).",
    )
    flush_interval_seconds: float = Field(1.0, gt=0, description="A partial batch is sent after this long.")


class DeliverySettings(_Section):
    max_concurrent_requests: int = Field(2, ge=1, le=64, description="Bulk requests in flight at once.")
    max_inflight_bytes: int = Field(
        16 * MiB,
        ge=MiB,
        description="Readers pause while this many encoded bytes are read but not yet delivered.",
    )
    retry_initial_seconds: float = Field(
        0.5, gt=0, description="First retry delay; it doubles on each failure, with jitter."
    )
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest retry delay.")
    max_retries: int = Field(
        0,
        ge=0,
        description="Retries of a failing document before it is dead-lettered; 0 retries without limit.",
    )


class DeadLetterSettings(_Section):
    path: Path = Field(
        Path("/var/lib/logship/dead-letter.ndjson"),
        description="NDJSON file of documents the engine rejected for good.",
    )
    max_bytes: int = Field(
        1024 * MiB,
        ge=64 * 1024,
        description="Bytes the dead-letter file and its rotated copies may hold together. Once reached, "
        "rejected records are not acknowledged: reading pauses, as for an engine outage, until "
        "`logship replay --dead-letter` has delivered and removed files or the bound is raised.",
    )
    max_files: int = Field(
        4,
        ge=1,
        le=100,
        description="The dead-letter file rotates to `<path>.1` ... `<path>.<max_files - 1>` once it holds "
        "`max_bytes / max_files`; rotation never deletes a file.",
    )


class PipelineSettings(_Section):
    drain_timeout_seconds: float = Field(
        20.0, gt=0, description="On SIGTERM, time allowed to deliver what is in flight before exiting."
    )
    positions_flush_seconds: float = Field(
        2.0,
        gt=0,
        description="How often delivered positions are written to disk (when they moved); after a crash, "
        "about this long of records is sent again (and recognised by their ids: no duplicates).",
    )
    state_files_group_readable: bool = Field(
        False,
        description="Create the position store and the dead-letter file 0640 (readable by the group) "
        "instead of 0600.",
    )


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of logship's own JSON logs on stderr."
    )
