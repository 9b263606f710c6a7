"""Fluentd's ``in_tail`` source and its parser (``<parse>`` or old-style ``format``) onto logship's
``tail``, ``parse`` and ``multiline`` settings."""

from __future__ import annotations

import re

from logship.migrate.fluentd_context import Context
from logship.migrate.fluentd_notes import PARSE_NOTES, TAIL_NOTES
from logship.migrate.fluentd_tree import Directive, Param
from logship.migrate.fluentd_values import (
    boolean,
    iana_zone,
    python_regex,
    seconds,
    size,
    split_list,
    strptime_format,
)

__all__ = ["tail"]

# Old-style parser parameters written straight into <source> (besides `format...`).
_PARSE_KEYS = {
    "time_key",
    "time_format",
    "timezone",
    "keep_time_key",
    "localtime",
    "utc",
    "time_type",
    "json_parser",
    "null_value_pattern",
    "null_empty_string",
    "estimate_current_event",
    "types",
}


def tail(ctx: Context, s: Directive) -> None:
    """Map one ``<source>`` with ``@type tail``; its files join those of the other sources."""
    delimiter = s.get("path_delimiter")
    parse_params: list[Param] = []
    for p in s.params:
        name = p.name
        if name in ("@type", "type", "tag", "@id", "@label", "path_delimiter"):
            continue
        if name == "path":
            _add_globs(ctx, "paths", split_list(p, delimiter.text if delimiter else ","), p)
        elif name == "exclude_path":
            _add_globs(ctx, "exclude", split_list(p), p)
        elif name == "pos_file":
            ctx.out.pos_files.append((p.where, p.text))
        elif name == "read_from_head":
            ctx.set_from("tail", "read_from", p, lambda p: "head" if boolean(p) else "tail")
        elif name == "refresh_interval":
            ctx.set_from("tail", "scan_interval_seconds", p, seconds)
        elif name == "rotate_wait":
            ctx.set_from("tail", "close_inactive_seconds", p, seconds)
        elif name == "multiline_flush_interval":
            ctx.set_from("multiline", "flush_timeout_seconds", p, seconds)
        elif name == "max_line_size":
            ctx.set_from("tail", "max_line_bytes", p, size)
            ctx.note(p.where, "Fluentd skips longer lines; logship cuts them and tags them `line_truncated`")
        elif name in ("encoding", "from_encoding") and p.text.lower().replace("-", "") == "utf8":
            continue
        elif name in TAIL_NOTES:
            ctx.note(p.where, f"`{name}` ignored: {TAIL_NOTES[name]}")
        elif name.startswith("format") or name in _PARSE_KEYS:
            parse_params.append(p)
        else:
            ctx.unknown(s, p)
    if s.get("read_from_head") is None:
        # Fluentd's default: files found at start are read from their end.
        ctx.set("tail", "read_from", "tail", s.where)
    _parser(ctx, s, parse_params)
    for c in s.children:
        if c.name != "parse":
            ctx.problem(c.where, f"{c} inside {s} has no logship equivalent")


def _add_globs(ctx: Context, key: str, globs: list[str], p: Param) -> None:
    """Add ``globs`` to ``tail.<key>``, which the other sources share."""
    if ctx.literal("tail", key, globs, p.where):
        current = ctx.out.settings.setdefault("tail", {}).setdefault(key, [])
        current.extend(x for x in globs if x not in current)


def _parser(ctx: Context, s: Directive, parse_params: list[Param]) -> None:
    """Map the source's parser: its one <parse> section, or its old-style parse parameters."""
    sections = s.sections("parse")
    if sections and parse_params:
        ctx.problem(parse_params[0].where, "both a <parse> section and old-style parse parameters")
    if sections:
        parse(ctx, sections[0], sections[0].params)
        for extra in sections[1:]:
            ctx.problem(extra.where, "several <parse> sections: logship parses one JSON format")
    else:
        parse(ctx, s, parse_params)


def parse(ctx: Context, d: Directive, params: list[Param]) -> None:
    """Map the parser of a source: ``params`` of its ``<parse>`` section, or its old-style ones."""
    kind = next((p for p in params if p.name in ("@type", "type", "format")), None)
    fmt = kind.text if kind is not None else "none"
    where = kind.where if kind is not None else d.where
    if fmt not in ("json", "multiline"):
        ctx.problem(where, f"parser {fmt!r}: logship reads JSON records (format json)")
    for p in params:
        name = p.name
        if p is kind or name == "@id":
            continue
        if name == "time_key":
            ctx.set("parse", "time_key", p.text, p.where)
        elif name == "time_format":
            ctx.set_from("parse", "time_format", p, lambda p: strptime_format(p.text))
        elif name == "timezone":
            ctx.set_from("parse", "timezone", p, lambda p: iana_zone(p.text))
        elif (name == "utc" and boolean(p)) or (name == "localtime" and not boolean(p)):
            ctx.set("parse", "timezone", "UTC", p.where)
        elif name in ("utc", "localtime", "keep_time_key") or (name == "time_type" and p.text == "string"):
            continue
        elif name == "format_firstline" and fmt == "multiline":
            ctx.set("multiline", "start_pattern", python_regex(p.text), p.where)
        elif re.fullmatch(r"format\d+", name) and fmt == "multiline":
            ctx.problem(p.where, f"`{name}`: logship parses each record as JSON, not with multiline regexes")
        elif name in PARSE_NOTES:
            ctx.note(p.where, f"`{name}` ignored: {PARSE_NOTES[name]}")
        else:
            ctx.unknown(d, p)
    names = {p.name for p in params}
    if "time_key" not in names and fmt == "json":
        ctx.set("parse", "time_key", "time", where)  # the json parser's default
    if "time_format" not in names:
        ctx.note(where, "no `time_format`: Fluentd guesses; logship uses `parse.time_format` (check it)")
    if not names & {"timezone", "utc", "localtime"}:
        ctx.note(
            where,
            "Fluentd read times without a zone in the host's local time; logship uses `parse.timezone` "
            '(UTC unless set): set it to the host\'s zone (e.g. "Europe/Berlin") unless it runs in UTC',
        )
    keep = next((p for p in params if p.name == "keep_time_key"), None)
    if keep is None or not boolean(keep):
        ctx.note(
            keep.where if keep else where,
            "Fluentd removed the time field from the record (keep_time_key false); logship keeps it "
            "and adds @timestamp",
        )
