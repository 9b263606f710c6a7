"""The configuration model: one TOML file, every key defaulted, environment overrides.

Precedence, highest first: ``LOGSHIP_<SECTION>__<KEY>`` environment variables, the TOML file,
the defaults below (which equal ``conf/logship.toml``). Every problem is reported at once, each
naming the setting and the file.
"""

from __future__ import annotations

import json
import os
import ssl
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from logship.errors import ConfigError
from logship.observe.httpsettings import HttpSettings
from logship.settings.delivery import (
    BatchSettings,
    DeadLetterSettings,
    DeliverySettings,
    LogSettings,
    PipelineSettings,
)
from logship.settings.engine import ElasticsearchSettings, IndexSettings
from logship.settings.reading import EnrichSettings, MultilineSettings, ParseSettings, TailSettings

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
