"""The index template for `<prefix>-<date>` indices: explicit mappings and index settings.

Without it every string is dynamically mapped as `text` plus a `keyword` sub-field. With it:

* `@timestamp` is a date; `level`, `logger`, `module`, `function`, `hostname`, `environment`,
  `service`, `tags` and `log.file.path` are keywords; `line` (written as a string such as "72"
  by the application; the engine coerces it) and `log.offset` are numbers;
* `message` is full-text searchable: `match_only_text` (no scoring or positions kept, about half
  the disk of `text`) when the engine has it, else `text`. It has no keyword sub-field: messages
  are mostly unique, so a keyword copy would double their cost for aggregations nobody runs on
  them; aggregate on `logger`, `module`, `function` or `level` instead;
* the stack trace field (`multiline.stack_trace_field`) is `text`;
* every other string the application adds becomes a `keyword` (longer values than
  `index.keyword_ignore_above` are kept in the document, not indexed).

The patterns cover `<prefix>-` followed by what the date format starts with (`aichat-0*` ...
`aichat-9*` for `%Y.%m.%d`), not `<prefix>-*`: another prefix such as `aichat-archive` must get
neither these mappings nor, above all, this retention.
"""

from __future__ import annotations

import uuid
from typing import Any

from logship.errors import EngineRejected
from logship.settings import Settings
from logship.sinks.elasticsearch.admin import AdminClient, Request
from logship.sinks.elasticsearch.bulk import error_reason
from logship.sinks.elasticsearch.managed import MANAGED_BY, Step, digest, judge

__all__ = [
    "PRIORITY",
    "index_patterns",
    "index_template",
    "message_field_type",
    "refresh_interval",
    "template_name",
    "template_step",
]

PRIORITY = 200  # above the engines' built-in templates (100), which match other names anyway

KEYWORD_FIELDS = ("level", "logger", "module", "function", "hostname", "environment", "service", "tags")
# strftime directives whose output starts with a digit
_NUMERIC = set("YymdHIMSjUWGVuwCfz")


def template_name(prefix: str) -> str:
    return f"{prefix}-logship"


def index_patterns(prefix: str, date_format: str) -> list[str]:
    """Wildcard patterns matching `<prefix>-<date>` names and as few others as possible."""
    literal, i, directive = "", 0, ""
    while i < len(date_format):
        char = date_format[i]
        if char == "%":
            nxt = date_format[i + 1 : i + 2]
            if nxt == "%":
                literal += "%"
                i += 2
                continue
            directive = nxt
            break
        literal += char
        i += 1
    base = f"{prefix}-{literal}"
    if directive in _NUMERIC:
        return [f"{base}{digit}*" for digit in "0123456789"]
    return [f"{base}*"]


def refresh_interval(seconds: float) -> str:
    if seconds == 0:
        return "-1"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _nested(path: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """`a.b.c` -> {"a": {"properties": {"b": {"properties": {"c": mapping}}}}}."""
    parts = path.split(".")
    node: dict[str, Any] = mapping
    for part in reversed(parts[1:]):
        node = {"properties": {part: node}}
    return {parts[0]: node}


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        else:
            into[key] = value


def mappings(settings: Settings, message_type: str) -> dict[str, Any]:
    ignore_above = settings.index.keyword_ignore_above
    keyword = {"type": "keyword", "ignore_above": ignore_above}
    properties: dict[str, Any] = {"@timestamp": {"type": "date"}}
    properties.update({name: dict(keyword) for name in KEYWORD_FIELDS})
    properties["message"] = {"type": message_type}
    # A value that is not a number ("", "n/a") must not make the engine refuse the record.
    properties["line"] = {"type": "integer", "ignore_malformed": True}
    for path, mapping in (
        ("log.file.path", keyword),
        ("log.offset", {"type": "long"}),
        (settings.multiline.stack_trace_field, {"type": "text"}),
    ):
        _merge(properties, _nested(path, dict(mapping)))
    return {
        "dynamic_templates": [
            {"strings_as_keywords": {"match_mapping_type": "string", "mapping": keyword}},
        ],
        "properties": properties,
    }


def index_settings(settings: Settings, lifecycle: dict[str, Any]) -> dict[str, Any]:
    index = settings.index
    return {
        "index": {
            "number_of_shards": index.shards,
            "number_of_replicas": index.replicas,
            "refresh_interval": refresh_interval(index.refresh_interval_seconds),
            "codec": index.codec,
            **lifecycle,
        }
    }


def index_template(settings: Settings, message_type: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
    """The `_index_template` body; ``lifecycle`` holds index settings that attach an ILM policy."""
    es = settings.elasticsearch
    body: dict[str, Any] = {
        "index_patterns": index_patterns(es.index_prefix, es.index_date_format),
        "priority": PRIORITY,
        "template": {
            "settings": index_settings(settings, lifecycle),
            "mappings": mappings(settings, message_type),
        },
    }
    body["_meta"] = {
        "managed_by": MANAGED_BY,
        "digest": digest(body),
        "description": f"logship: mappings and settings of the {es.index_prefix} daily indices",
    }
    return body


async def message_field_type(client: AdminClient) -> tuple[str, str]:
    """`match_only_text` if the engine knows it, else `text`; and why, in words.

    Asked with a simulated template (nothing is stored): Elasticsearch has the type only with its
    mapper-extras module, OpenSearch since 2.12.
    """
    probe = {
        "index_patterns": [f"logship-probe-{uuid.uuid4().hex}-*"],
        "template": {"mappings": {"properties": {"message": {"type": "match_only_text"}}}},
    }
    answer = await client.send(Request("POST", "/_index_template/_simulate", probe))
    if answer.ok:
        return "match_only_text", "the engine supports it"
    reason = error_reason(answer.body)
    if answer.status == 400 and "match_only_text" in reason:
        return "text", "the engine has no match_only_text type (on Elasticsearch: no mapper-extras module)"
    raise EngineRejected(f"POST /_index_template/_simulate: HTTP {answer.status}: {reason}")


def _shown(patterns: list[str]) -> str:
    return f"{patterns[0]} .. {patterns[-1]}" if len(patterns) > 2 else ", ".join(patterns)


async def template_step(
    client: AdminClient, settings: Settings, body: dict[str, Any], overwrite: bool
) -> Step:
    """Compare the installed index template with ``body``."""
    name = template_name(settings.elasticsearch.index_prefix)
    path = f"/_index_template/{name}"
    answer = await client.expect(Request("GET", path), 404)
    present = answer.status != 404
    marker = None
    if present and isinstance(answer.body, dict):
        entries = answer.body.get("index_templates") or [{}]
        marker = entries[0].get("index_template", {}).get("_meta")
    outcome = judge(present, marker, body["_meta"]["digest"], overwrite)
    request = Request("PUT", path, body)

    async def send() -> None:
        await client.expect(request)

    return Step(f"index template {name} ({_shown(body['index_patterns'])})", outcome, request, send)
