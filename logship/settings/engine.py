"""The sections of the search engine: how to reach it ([elasticsearch]) and its indices ([index])."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from logship.observe.logs import redact
from logship.settings.section import Section

__all__ = ["ElasticsearchSettings", "IndexSettings"]

# Characters the engine refuses in an index name (besides uppercase letters).
_INDEX_NAME_FORBIDDEN = re.compile(r'[\\/*?"<>| ,#:]')
_SAMPLE_DAYS = [datetime(2026, month, 1 + month, 13, 5, 9, tzinfo=UTC) for month in range(1, 13)]


class ElasticsearchSettings(Section):
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


class IndexSettings(Section):
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
