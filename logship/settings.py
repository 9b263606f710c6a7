"""The configuration model: one TOML file, every key defaulted, environment overrides.

Precedence, highest first: ``LOGSHIP_<SECTION>__<KEY>`` environment variables, the TOML file,
the defaults below (which equal ``conf/logship.toml``). Every problem is reported at once, each
naming the setting and the file.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from logship.errors import ConfigError
from logship.observe.logs import redact
from logship.observe.server import HttpSettings

__all__ = [
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
    "Settings",
    "TailSettings",
    "load_settings",
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
        "head", description='Where to start a file seen for the first time: "head" or "tail".'
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
        10.0, gt=0, description="Safety-net re-evaluation of the globs; file events trigger a scan sooner."
    )
    poll_interval_seconds: float = Field(
        0.25, gt=0, description="How often idle files are checked for appended data."
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
        "%Y.%m.%d", description="strftime format of the index date, taken from @timestamp in UTC."
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

    @field_validator("index_prefix")
    @classmethod
    def _index_name(cls, value: str) -> str:
        # The engine's own rules for index names.
        if not value or value != value.lower() or value[0] in "-_+" or re.search(r'[\\/*?"<>| ,#:]', value):
            raise ValueError(
                f'{value!r} is not a valid index name prefix (lowercase, no spaces or \\/*?"<>|,#:, '
                "not starting with -, _ or +)"
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
        64 * MiB,
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


class PipelineSettings(_Section):
    drain_timeout_seconds: float = Field(
        20.0, gt=0, description="On SIGTERM, time allowed to deliver what is in flight before exiting."
    )
    positions_flush_seconds: float = Field(
        1.0, gt=0, description="How often delivered positions are written to disk."
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOGSHIP_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    tail: TailSettings = TailSettings()
    multiline: MultilineSettings = MultilineSettings()
    parse: ParseSettings = ParseSettings()
    enrich: EnrichSettings = EnrichSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    index: IndexSettings = IndexSettings()
    batch: BatchSettings = BatchSettings()
    delivery: DeliverySettings = DeliverySettings()
    dead_letter: DeadLetterSettings = DeadLetterSettings()
    pipeline: PipelineSettings = PipelineSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init arguments; the environment overrides it, key by key.
        return (env_settings, init_settings)

    @property
    def state_file_mode(self) -> int:
        """Permissions of positions.json (and its .prev/.tmp) and of the dead-letter file."""
        return 0o640 if self.pipeline.state_files_group_readable else 0o600


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (pass --config with an existing file)"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc


def load_settings(path: Path | None, *, refuse_empty: bool = False) -> Settings:
    """Load ``path`` (or the defaults alone) over the environment; raise ConfigError listing every problem.

    ``refuse_empty`` (reload): a file without a setting, most likely being rewritten, is not "all defaults".
    """
    data = _read_toml(path) if path is not None else {}
    where = str(path) if path is not None else "the built-in defaults"
    if refuse_empty and path is not None and not data:
        empty = "the file holds no setting (empty, or being rewritten); reloading it would reset every"
        raise ConfigError([f"{path}: {empty} setting to its default. Write it completely, then reload again"])
    try:
        settings = Settings(**data)
    except SettingsError as exc:
        # A list or table setting from the environment must be JSON; the library names no variable.
        raise ConfigError(_environment_problems() or [f"environment: {exc}"]) from exc
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            source = _source_of(key, where)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown setting (check the spelling against the configuration reference in the README)"
            problems.append(f"{source}: setting `{key}`: {msg}")
        raise ConfigError(problems) from exc
    problems = _check_paths(settings, where) + _check_index_dates(settings, where)
    if problems:
        raise ConfigError(problems)
    return settings


def _environment_problems() -> list[str]:
    """Name each ``LOGSHIP_<SECTION>__<KEY>`` variable of a list or table setting that is not JSON."""
    problems = []
    for name, value in sorted(os.environ.items()):
        parts = name.removeprefix("LOGSHIP_").lower().split("__")
        if not name.startswith("LOGSHIP_") or len(parts) != 2:
            continue
        section = Settings.model_fields.get(parts[0])
        model = section.annotation if section is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(parts[1])
        origin = getattr(field.annotation, "__origin__", None) if field is not None else None
        if origin not in (list, dict):
            continue
        try:
            json.loads(value)
        except ValueError:
            example = '["/var/log/aichat/*.log"]' if origin is list else '{"service": "aichat"}'
            problems.append(
                f"environment {name}: setting `{'.'.join(parts)}`: not valid JSON; write it as JSON, "
                f"e.g. {name}='{example}'"
            )
    return problems


def _source_of(key: str, where: str) -> str:
    parts = key.split(".")
    env = "LOGSHIP_" + "__".join(p.upper() for p in parts[:2])
    return f"{where} (or environment {env})" if env in os.environ else where


def _check_paths(settings: Settings, where: str) -> list[str]:
    problems = []
    ca = settings.elasticsearch.ca_file
    if ca is not None and not ca.is_file():
        problems.append(f"{where}: setting `elasticsearch.ca_file`: {ca} is not a readable file")
    elif ca is not None:
        try:
            ssl.create_default_context(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            problems.append(
                f"{where}: setting `elasticsearch.ca_file`: {ca} is not a PEM certificate file "
                f"({getattr(exc, 'reason', None) or exc}); give the certificate of the CA that signed "
                "the engine's certificate"
            )
    auth = settings.elasticsearch
    if any(urlsplit(h).username is not None for h in auth.hosts) and (
        auth.username is not None or auth.api_key is not None
    ):
        problems.append(
            f"{where}: setting `elasticsearch.hosts`: a URL carries credentials and "
            "`elasticsearch.username` or `api_key` is set too; keep only one (preferably "
            "LOGSHIP_ELASTICSEARCH__USERNAME/PASSWORD, out of the URL)"
        )
    if (auth.username is None) != (auth.password is None):
        problems.append(
            f"{where}: setting `elasticsearch.username`/`elasticsearch.password`: set both or neither"
        )
    if auth.api_key is not None and auth.username is not None:
        problems.append(
            f"{where}: setting `elasticsearch.api_key`: use either an API key or username/password, not both"
        )
    return problems


def _check_index_dates(settings: Settings, where: str) -> list[str]:
    """Retention reads an index's date back from its name: the format must survive the round trip."""
    index = settings.index
    if index.retention == "off" or index.retention_days == 0:
        return []
    fmt = settings.elasticsearch.index_date_format
    sample = datetime(2024, 11, 26, 13, 14, 15)
    try:
        name = sample.strftime(fmt)
        ok = datetime.strptime(name, fmt).strftime(fmt) == name and "%Y" in fmt.replace("%%", "")
    except ValueError:
        ok = False
    if ok:
        return []
    return [
        f"{where}: setting `elasticsearch.index_date_format`: {fmt!r} cannot be read back from an index "
        "name (it needs %Y and only strptime directives), so retention could not date the indices; "
        'change it or set `index.retention` to "off"'
    ]
