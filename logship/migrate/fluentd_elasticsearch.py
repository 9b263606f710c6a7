"""Fluentd's ``elasticsearch`` output and its ``<buffer>`` onto logship's ``elasticsearch``, ``batch``
and ``delivery`` settings. Credentials are never written to the file: they become environment
variables to set (:attr:`Conversion.environment`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from logship.migrate.fluentd_context import Context
from logship.migrate.fluentd_notes import BUFFER_NOTES, ES_NOTES
from logship.migrate.fluentd_tree import Directive, Param, Where
from logship.migrate.fluentd_values import boolean, number, seconds, size, split_list, strftime_format

__all__ = ["elasticsearch"]

# Fluentd v0.12 wrote buffer settings straight into <match>; their v1 names.
_OLD_BUFFER = {
    "flush_interval": "flush_interval",
    "buffer_chunk_limit": "chunk_limit_size",
    "buffer_chunk_records_limit": "chunk_limit_records",
    "num_threads": "flush_thread_count",
    "retry_wait": "retry_wait",
    "max_retry_wait": "retry_max_interval",
    "retry_limit": "retry_max_times",
    "disable_retry_limit": "retry_forever",
    "buffer_type": "@type",
    "buffer_path": "path",
    "buffer_queue_limit": "queue_limit_length",
    "flush_at_shutdown": "flush_at_shutdown",
}
# Parameters of <match> read as a whole by elasticsearch() and _hosts().
_HANDLED = (
    "@type", "type", "@id", "host", "port", "scheme", "path", "hosts", "logstash_format",
    "logstash_prefix", "index_name", "user", "password", "api_key",
)  # fmt: skip


def elasticsearch(ctx: Context, m: Directive) -> None:
    """Map the one ``<match>`` with ``@type elasticsearch`` that the tail sources' events reach."""
    given = {p.name: p for p in m.params}
    for p in m.params:
        _param(ctx, m, p)
    _hosts(ctx, m, given)
    logstash = given.get("logstash_format")
    if logstash is not None and boolean(logstash):
        prefix = given.get("logstash_prefix")
        ctx.set(
            "elasticsearch",
            "index_prefix",
            prefix.text if prefix else "logstash",
            prefix.where if prefix else m.where,
        )
        index_name = given.get("index_name")
        if index_name is not None:
            ctx.note(index_name.where, "`index_name` ignored: `logstash_format true` names the indices")
    else:
        where = logstash.where if logstash else m.where
        name = given.get("index_name")
        ctx.problem(
            name.where if name else where,
            f"one index {name.text if name else 'fluentd'!r} (logstash_format false): logship writes "
            "date-suffixed indices <prefix>-<date> (set logstash_format true)",
        )
    buffers = m.sections("buffer")
    for b in buffers[:1]:
        if b.arg and b.arg.replace(" ", "") not in ("", "tag", "time", "tag,time", "time,tag"):
            ctx.note(b.where, f"chunk keys {b.arg!r} ignored: logship batches by size and time")
        _buffer(ctx, b, b.params)
    for extra in buffers[1:]:
        ctx.problem(extra.where, "a second <buffer> section")
    for c in m.children:
        if c.name != "buffer":
            ctx.problem(c.where, f"{c} inside {m} has no logship equivalent")


def _param(ctx: Context, m: Directive, p: Param) -> None:
    name = p.name
    if name in _HANDLED:
        return
    if name == "logstash_dateformat":
        ctx.set_from("elasticsearch", "index_date_format", p, lambda p: strftime_format(p.text))
    elif name == "logstash_prefix_separator" and p.text != "-":
        ctx.problem(p.where, f"index separator {p.text!r}: logship always writes <prefix>-<date>")
    elif name == "logstash_prefix_separator":
        return
    elif name == "time_key":
        parse_key = ctx.set_at.get(("parse", "time_key"))
        if parse_key is not None and parse_key[0] != p.text:
            ctx.problem(
                p.where,
                f"`time_key {p.text}`: logship takes @timestamp and the index date from "
                f"`parse.time_key` ({parse_key[0]!r})",
            )
    elif name == "time_precision":
        ctx.note(p.where, "`time_precision` ignored: logship writes @timestamp with milliseconds")
    elif name == "ssl_verify":
        ctx.set_from("elasticsearch", "verify_certs", p, boolean)
    elif name == "ca_file":
        ctx.set("elasticsearch", "ca_file", p.text, p.where)
    elif name == "request_timeout":
        ctx.set_from("elasticsearch", "request_timeout_seconds", p, _duration)
    elif name == "compression_level":
        ctx.set("elasticsearch", "gzip", p.text != "no_compression", p.where)
    elif name == "bulk_message_request_threshold":
        if p.text.strip() != "-1":
            ctx.set_from("batch", "max_bytes", p, size)
    elif name in ES_NOTES:
        ctx.note(p.where, f"`{name}` ignored: {ES_NOTES[name]}")
    elif name in _OLD_BUFFER:
        _buffer(ctx, m, [Param(_OLD_BUFFER[name], p.value, p.where)], old=True)
    else:
        ctx.unknown(m, p)


def _hosts(ctx: Context, m: Directive, given: dict[str, Param]) -> None:
    scheme = given["scheme"].text if "scheme" in given else "http"
    port = given["port"].text if "port" in given else "9200"
    path = given["path"].text.rstrip("/") if "path" in given else ""
    user, password = given.get("user"), given.get("password")
    url_credentials: Where | None = None
    urls = []
    if "hosts" in given:
        where = given["hosts"].where
        for entry in split_list(given["hosts"]):
            if "://" in entry:
                parts = urlsplit(entry)
                if parts.username or parts.password:
                    url_credentials = where
                host = parts.hostname or ""
                netloc = f"[{host}]" if ":" in host else host
                urls.append(f"{parts.scheme}://{netloc}:{parts.port or port}{parts.path.rstrip('/') or path}")
            else:
                host, _, entry_port = entry.partition(":")
                urls.append(f"{scheme}://{host}:{entry_port or port}{path}")
    else:
        host = given["host"].text if "host" in given else "localhost"
        where = given["host"].where if "host" in given else m.where
        urls.append(f"{scheme}://{host}:{port}{path}")
    ctx.set("elasticsearch", "hosts", urls, where)
    if url_credentials is not None:
        ctx.note(url_credentials, "credentials in `hosts` URLs are not copied into the TOML")
        _secret(ctx, "username", "the user in the `hosts` URLs", url_credentials)
        _secret(ctx, "password", "the password in the `hosts` URLs", url_credentials)
    if user is not None or password is not None:
        # logship needs both or neither: both come from the environment.
        for key, p in (("username", user), ("password", password)):
            if p is not None:
                shown = p.text if key == "username" and not p.ruby else None
                _secret(ctx, key, f"`{p.name}` at {p.where}", p.where, shown, p)
    if "api_key" in given:
        p = given["api_key"]
        _secret(ctx, "api_key", f"`api_key` at {p.where}", p.where, None, p)


def _secret(
    ctx: Context, key: str, what: str, where: Where, shown: str | None = None, p: Param | None = None
) -> None:
    """Ask for ``elasticsearch.<key>`` in the environment instead of the file."""
    env = f"LOGSHIP_ELASTICSEARCH__{key.upper()}"
    origin = ""
    if p is not None:
        m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", p.text)
        if m is not None and not p.placeholders:
            origin = f" (Fluentd read it from ${m.group(1)})"
            shown = f"${m.group(1)}"
    value = f"={shown}" if shown is not None else ""
    line = f"{env}{value}  # {what}{origin}"
    if line not in ctx.out.environment:
        ctx.out.environment.append(line)
    ctx.note(where, f"`elasticsearch.{key}` is not written to the file: set {env}{origin}")


def _buffer(ctx: Context, d: Directive, params: list[Param], old: bool = False) -> None:
    """Map buffer parameters: of a ``<buffer>`` section, or (``old``) v0.12 ones written in ``<match>``."""
    for p in params:
        name = p.name
        if name == "flush_interval":
            ctx.set_from("batch", "flush_interval_seconds", p, _duration)
        elif name == "chunk_limit_size":
            ctx.set_from("batch", "max_bytes", p, size)
        elif name == "chunk_limit_records":
            ctx.set_from("batch", "max_documents", p, size)
        elif name == "flush_thread_count":
            ctx.set_from("delivery", "max_concurrent_requests", p, size)
        elif name == "retry_wait":
            ctx.set_from("delivery", "retry_initial_seconds", p, _duration)
        elif name == "retry_max_interval":
            ctx.set_from("delivery", "retry_max_seconds", p, _duration)
        elif name == "retry_forever":
            if boolean(p):
                ctx.set("delivery", "max_retries", 0, p.where)
        elif name == "retry_max_times":
            ctx.set_from("delivery", "max_retries", p, size)
            ctx.note(
                p.where,
                "after `delivery.max_retries` logship dead-letters a document (Fluentd dropped chunks)",
            )
        elif name in BUFFER_NOTES:
            if BUFFER_NOTES[name]:
                ctx.note(p.where, f"`{name}` ignored: {BUFFER_NOTES[name]}")
        elif old:
            ctx.unknown(d, p)
        else:
            ctx.problem(p.where, f"`{name}` of <buffer> has no logship equivalent")


def _duration(p: Param) -> int | float:
    return number(seconds(p))
