"""Fluentd's ``tail`` + ``record_transformer`` + ``elasticsearch`` pipeline, mapped onto logship's settings.

logship has one pipeline: files -> JSON parsing -> static fields -> date-suffixed indices. What a
Fluentd configuration says beyond that (other plugins, tag routing to several outputs, label
pipelines, Ruby) is a *problem*: listed with its file and line, never silently dropped. What
means nothing for logship or Elasticsearch 8+ (``type_name``, ``index_name`` next to
``logstash_format true``, Fluentd's own buffer files) is a *note*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from logship.migrate.fluentd_conf import ConfTree, Directive, Param, Where

__all__ = ["Conversion", "Finding", "convert", "tag_matches"]

# Parameters that change nothing for logship, and why.
_TAIL_NOTES = {
    "read_lines_limit": "logship reads `tail.read_block_bytes` at a time",
    "enable_watch_timer": "logship watches with file events and polls `tail.poll_interval_seconds`",
    "enable_stat_watcher": "logship watches with file events and polls `tail.poll_interval_seconds`",
    "pos_file_compaction_interval": "logship's position store has no compaction",
    "open_on_every_update": "logship keeps files open and detects rotation itself",
    "skip_refresh_on_startup": "logship scans once at start",
    "ignore_repeated_permission_error": "logship logs an unreadable file once per scan",
    "follow_inodes": "logship identifies files by their first line, across renames",
    "emit_unmatched_lines": "logship ships every line",
    "@log_level": "logship has one `log.level`",
}
_PARSE_NOTES = {
    "json_parser": "logship parses JSON with orjson",
    "@log_level": "logship has one `log.level`",
}
_ES_NOTES = {
    "type_name": "mapping types do not exist on Elasticsearch 8+",
    "suppress_type_name": "mapping types do not exist on Elasticsearch 8+",
    "reload_connections": "logship rotates requests over `elasticsearch.hosts`",
    "reload_on_failure": "logship rotates requests over `elasticsearch.hosts`",
    "reconnect_on_error": "logship reconnects on every error",
    "reload_after": "logship rotates requests over `elasticsearch.hosts`",
    "sniffer_class_name": "logship does not sniff the cluster",
    "with_transporter_log": "logship logs failed requests itself",
    "log_es_400_reason": "logship always keeps the engine's reason (in the dead-letter file)",
    "verify_es_version_at_startup": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "default_elasticsearch_version": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "validate_client_version": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "http_backend": "logship uses aiohttp",
    "prefer_oj_serializer": "logship encodes with orjson",
    "include_timestamp": "logship always writes @timestamp",
    "utc_index": "logship's index dates are in UTC",
    "write_operation": "logship uses `create` with deterministic ids, so nothing is indexed twice",
    "unrecoverable_error_types": "logship dead-letters documents the engine refuses for good",
    "emit_error_for_missing_id": "logship sets every document's id",
    "slow_flush_log_threshold": "see the `logship_bulk_request_duration_seconds` metric",
    "ssl_version": "negotiated by Python's ssl module",
    "ssl_min_version": "negotiated by Python's ssl module",
    "ssl_max_version": "negotiated by Python's ssl module",
    "@log_level": "logship has one `log.level`",
}
_BUFFER_NOTES = {
    "@type": "the log files are logship's buffer; it keeps no copy",
    "type": "the log files are logship's buffer; it keeps no copy",
    "path": "the log files are logship's buffer; it keeps no copy",
    "flush_mode": "logship flushes on size or `batch.flush_interval_seconds`",
    "flush_at_shutdown": "logship drains on SIGTERM (`pipeline.drain_timeout_seconds`)",
    "overflow_action": "logship pauses reading at `delivery.max_inflight_bytes`",
    "total_limit_size": "logship pauses reading at `delivery.max_inflight_bytes`; nothing is dropped",
    "queue_limit_length": "logship pauses reading at `delivery.max_inflight_bytes`; nothing is dropped",
    "queued_chunks_limit_size": "logship pauses reading at `delivery.max_inflight_bytes`",
    "retry_type": "logship backs off exponentially with jitter",
    "retry_exponential_backoff_base": "logship doubles the delay on each failure",
    "retry_randomize": "logship always adds jitter",
    "retry_timeout": "logship retries until delivered (or `delivery.max_retries`)",
    "chunk_full_threshold": "logship sends a batch when it is full",
    "compress": "see `elasticsearch.gzip`",
    "timekey": "logship batches by size and time, not by record time",
    "timekey_wait": "logship batches by size and time, not by record time",
    "timekey_use_utc": "logship batches by size and time, not by record time",
    "@id": "",
}
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
# Ruby strptime/strftime directives and Python's equivalents (None: no equivalent).
_TIME_DIRECTIVES: dict[str, str | None] = {
    **{c: "%" + c for c in "YmdHMSyIpbBaAjzZUWw%"},
    "e": "%d",
    "h": "%b",
    "T": "%H:%M:%S",
    "F": "%Y-%m-%d",
    "R": "%H:%M",
    "D": "%m/%d/%y",
    "L": "%f",
    "N": "%f",
    "3N": "%f",
    "6N": "%f",
    ":z": "%z",
    "s": None,
    "9N": None,
}
_DATE_DIRECTIVES = {c: "%" + c for c in "YmdHyjUWbBaAGVu%"}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something about the Fluentd file that logship does not carry over, and where it is."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Conversion:
    """logship settings (section -> key -> value) and what could not, or need not, be converted."""

    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)  # variables to set for the secrets left out
    pos_files: list[tuple[Where, str]] = field(default_factory=list)


def convert(tree: ConfTree) -> Conversion:
    """Map the parsed Fluentd configuration onto logship's settings."""
    mapper = _Mapper()
    mapper.root(tree)
    order = {path: i for i, path in enumerate(tree.files)}  # files in the order Fluentd reads them
    for findings in (mapper.out.problems, mapper.out.notes):
        findings.sort(key=lambda f: (order.get(f.where.file, len(order)), f.where.line))
    return mapper.out


# -- tag routing -----------------------------------------------------------------------------


def tag_matches(pattern: str, tag: str) -> bool:
    """Whether a ``<match>``/``<filter>`` pattern (``*``, ``**``, ``{a,b}``, several) matches ``tag``."""
    return any(re.fullmatch(_pattern_regex(p), tag) for p in pattern.split())


def _pattern_regex(pattern: str) -> str:
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern[1:-1]
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith(".**", i) and i + 3 == len(pattern):
            out.append(r"(?:\..*)?")  # `a.**` matches `a` too
            i += 3
        elif pattern.startswith("**.", i):
            out.append(r"(?:.*\.)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^.]*")
            i += 1
        elif pattern[i] == "{":
            end = pattern.find("}", i)
            if end < 0:
                out.append(re.escape(pattern[i:]))
                break
            out.append("(?:" + "|".join(_pattern_regex(a) for a in pattern[i + 1 : end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


# -- values ----------------------------------------------------------------------------------


def _bool(p: Param) -> bool:
    text = p.text.strip().lower()
    if text in ("", "true", "yes"):
        return True
    if text in ("false", "no"):
        return False
    raise ValueError(f"`{p.name} {p.text}` is not true or false")


def _seconds(p: Param) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", p.text)
    if m is None:
        raise ValueError(f"`{p.name} {p.text}` is not a duration (such as 5, 5s, 1m, 1h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _size(p: Param) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", p.text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"`{p.name} {p.text}` is not a size (such as 8388608, 8m, 1g)")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2).lower() or "_"))


def _list(p: Param, delimiter: str = ",") -> list[str]:
    if isinstance(p.value, list):
        return [str(v) for v in p.value]
    return [s.strip() for s in p.text.split(delimiter) if s.strip()]


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def strptime_format(ruby: str) -> str:
    """Python's strptime format for a Ruby one; ValueError naming the directive it cannot express."""
    out = []
    i = 0
    while i < len(ruby):
        if ruby[i] != "%":
            out.append(ruby[i])
            i += 1
            continue
        m = re.match(r"%(-?)(:z|\dN|.)", ruby[i:])
        directive = m.group(2) if m else ""
        python = _TIME_DIRECTIVES.get(directive)
        if python is None:
            raise ValueError(f"%{directive} has no strptime equivalent")
        out.append(python)
        i += len(m.group(0)) if m else 1
    return "".join(out)


def strftime_format(ruby: str) -> str:
    """Python's strftime format for a Ruby date format; ValueError naming the directive it cannot express."""
    for directive in re.findall(r"%(.)", ruby.replace("%%", "")):
        if directive not in _DATE_DIRECTIVES:
            raise ValueError(f"%{directive} has no strftime equivalent")
    return ruby


def iana_zone(zone: str) -> str:
    """An IANA name for a Fluentd time zone (``Asia/Tokyo``, ``UTC``, ``+09:00``, ``-0500``)."""
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", zone.strip())
    if m is not None:
        sign, hours, minutes = m.groups()
        if minutes != "00":
            raise ValueError(f"{zone} is not a whole-hour offset; write an IANA zone name instead")
        if int(hours) == 0:
            return "UTC"
        return f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"  # POSIX signs are inverted
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{zone} is not a known time zone") from None
    return zone


def python_regex(ruby: str) -> str:
    """A Ruby ``/regex/`` as a Python pattern (named groups ``(?<n>`` become ``(?P<n>``)."""
    text = ruby.strip()
    if len(text) > 1 and text.startswith("/") and text.rstrip("imx").endswith("/"):
        text = text[1 : text.rstrip("imx").rfind("/")]
    return re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", text)


# -- the mapping -----------------------------------------------------------------------------


class _Mapper:
    def __init__(self) -> None:
        self.out = Conversion()
        self._set_at: dict[tuple[str, str], tuple[Any, Where]] = {}

    def problem(self, where: Where, message: str) -> None:
        self.out.problems.append(Finding(where, message))

    def note(self, where: Where, message: str) -> None:
        self.out.notes.append(Finding(where, message))

    def set(self, section: str, key: str, value: Any, where: Where) -> None:
        previous = self._set_at.get((section, key))
        if previous is not None and previous[0] != value:
            self.problem(
                where,
                f"`{section}.{key}` would be {value!r} here but {previous[0]!r} at {previous[1]} "
                "(logship has one setting for all files)",
            )
            return
        self._set_at[(section, key)] = (value, where)
        self.out.settings.setdefault(section, {})[key] = value

    def unknown(self, d: Directive, p: Param) -> None:
        self.problem(p.where, f"`{p.name}` of {d} (@type {d.type}) has no logship equivalent")

    def guarded(self, p: Param, apply: Any) -> None:
        """Run ``apply()``, turning a value error into a problem at the parameter's line."""
        try:
            apply()
        except ValueError as exc:
            self.problem(p.where, str(exc))

    # -- the whole file ------------------------------------------------------------------

    def root(self, tree: ConfTree) -> None:
        for where, warning in tree.warnings:
            self.note(where, warning)
        for p in tree.root.params:
            self.problem(p.where, f"`{p.name}` outside any section has no logship equivalent")
        sources: list[Directive] = []
        filters: list[Directive] = []
        matches: list[Directive] = []
        for d in tree.root.children:
            if d.name == "source":
                if d.type == "tail":
                    sources.append(d)
                else:
                    self.problem(
                        d.where, f"{d} @type {d.type}: logship only follows files (Fluentd's in_tail)"
                    )
            elif d.name == "filter":
                filters.append(d)
            elif d.name == "match":
                matches.append(d)
            elif d.name == "label" and d.arg == "@FLUENT_LOG":
                self.note(d.where, f"{d} routes Fluentd's own log events; logship logs to stderr")
            elif d.name == "label":
                self.problem(
                    d.where,
                    f"{d} pipelines cannot be expressed: logship has one pipeline "
                    "(files -> fields -> Elasticsearch)",
                )
            elif d.name == "system":
                self.note(d.where, f"{d} configures the Fluentd process; logship needs none of it")
            else:
                self.problem(d.where, f"{d} is not a Fluentd section logship knows")
        if not sources:
            self.problem(tree.root.where, "no <source> with @type tail: nothing to follow")
        self.route(sources, filters, matches)

    def route(self, sources: list[Directive], filters: list[Directive], matches: list[Directive]) -> None:
        tags: list[tuple[Directive, str]] = []
        for s in sources:
            tag_param = s.get("tag")
            label = s.get("@label")
            if label is not None:
                self.problem(
                    label.where, f"`@label {label.text}` routes to a <label> pipeline (not expressible)"
                )
            if tag_param is None:
                self.problem(s.where, f"{s} has no `tag`, so Fluentd routes its events nowhere")
                continue
            # in_tail replaces `*` in the tag with the file's path, dots for slashes.
            tags.append((s, tag_param.text.replace("*", "var.log.file")))
        used_filters: set[int] = set()
        used_matches: set[int] = set()
        applied: dict[str, list[int]] = {}
        output: Directive | None = None
        for s, tag in tags:
            chain = [i for i, f in enumerate(filters) if tag_matches(f.arg, tag)]
            applied[tag] = chain
            used_filters.update(chain)
            target = next((i for i, m in enumerate(matches) if tag_matches(m.arg, tag)), None)
            if target is None:
                self.problem(s.where, f"events tagged {tag!r} reach no <match> (Fluentd drops them)")
                continue
            used_matches.add(target)
            m = matches[target]
            if m.type != "elasticsearch":
                self.problem(
                    m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch (tag {tag!r})"
                )
            elif output is None:
                output = m
            elif output is not m:
                self.problem(
                    m.where,
                    f"{m} is a second Elasticsearch output (the first is at {output.where}); "
                    "logship sends every file to one",
                )
        if len({tuple(c) for c in applied.values()}) > 1:
            first = next(iter(tags))[0]
            self.problem(
                first.where,
                "the tail sources pass through different filters; logship applies one set to all files",
            )
        for s, _ in tags:
            self.tail(s)
        fields: dict[str, str] = {}
        for i, f in enumerate(filters):
            if i not in used_filters:
                self.note(f.where, f"{f} matches none of the tail sources' tags; not converted")
            elif f.type == "record_transformer":
                fields.update(self.record_transformer(f, [t for _, t in tags]))
            else:
                self.problem(
                    f.where, f"{f} @type {f.type}: logship only adds static fields (record_transformer)"
                )
        # Fluentd adds nothing unless told to: logship's default fields must not appear either.
        self.out.settings.setdefault("enrich", {})["fields"] = fields
        for i, m in enumerate(matches):
            if i in used_matches:
                continue
            if m.type == "null":
                self.note(m.where, f"{m} @type null discards events logship never reads")
            elif m.type == "elasticsearch":
                self.note(m.where, f"{m} receives none of the tail sources' events; not converted")
            else:
                self.problem(m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch")
        if output is not None:
            self.elasticsearch(output)

    # -- in_tail ---------------------------------------------------------------------------

    def tail(self, s: Directive) -> None:
        delimiter = s.get("path_delimiter")
        parse_params: list[Param] = []
        for p in s.params:
            name = p.name
            if name in ("@type", "type", "tag", "@id", "@label", "path_delimiter"):
                continue
            if name == "path":
                paths = _list(p, delimiter.text if delimiter else ",")
                current = self.out.settings.setdefault("tail", {}).setdefault("paths", [])
                current.extend(x for x in paths if x not in current)
            elif name == "exclude_path":
                current = self.out.settings.setdefault("tail", {}).setdefault("exclude", [])
                current.extend(x for x in _list(p) if x not in current)
            elif name == "pos_file":
                self.out.pos_files.append((p.where, p.text))
            elif name == "read_from_head":
                self.guarded(
                    p, lambda p=p: self.set("tail", "read_from", "head" if _bool(p) else "tail", p.where)
                )
            elif name == "refresh_interval":
                self.guarded(p, lambda p=p: self.set("tail", "scan_interval_seconds", _seconds(p), p.where))
            elif name == "rotate_wait":
                self.guarded(p, lambda p=p: self.set("tail", "close_inactive_seconds", _seconds(p), p.where))
            elif name == "multiline_flush_interval":
                self.guarded(
                    p, lambda p=p: self.set("multiline", "flush_timeout_seconds", _seconds(p), p.where)
                )
            elif name == "max_line_size":
                self.guarded(p, lambda p=p: self.set("tail", "max_line_bytes", _size(p), p.where))
                self.note(
                    p.where, "Fluentd skips longer lines; logship cuts them and tags them `line_truncated`"
                )
            elif name in ("encoding", "from_encoding") and p.text.lower().replace("-", "") == "utf8":
                continue
            elif name in _TAIL_NOTES:
                self.note(p.where, f"`{name}` ignored: {_TAIL_NOTES[name]}")
            elif name.startswith("format") or name in _PARSE_KEYS:
                parse_params.append(p)
            else:
                self.unknown(s, p)
        if s.get("read_from_head") is None:
            # Fluentd's default: files found at start are read from their end.
            self.set("tail", "read_from", "tail", s.where)
        sections = s.sections("parse")
        if sections and parse_params:
            self.problem(parse_params[0].where, "both a <parse> section and old-style parse parameters")
        if sections:
            self.parse(sections[0], sections[0].params)
            for extra in sections[1:]:
                self.problem(extra.where, "several <parse> sections: logship parses one JSON format")
        else:
            self.parse(s, parse_params)
        for c in s.children:
            if c.name != "parse":
                self.problem(c.where, f"{c} inside {s} has no logship equivalent")

    def parse(self, d: Directive, params: list[Param]) -> None:
        kind = next((p for p in params if p.name in ("@type", "type", "format")), None)
        fmt = kind.text if kind is not None else "none"
        where = kind.where if kind is not None else d.where
        if fmt not in ("json", "multiline"):
            self.problem(where, f"parser {fmt!r}: logship reads JSON records (format json)")
        for p in params:
            name = p.name
            if p is kind or name == "@id":
                continue
            if name == "time_key":
                self.set("parse", "time_key", p.text, p.where)
            elif name == "time_format":
                self.guarded(
                    p, lambda p=p: self.set("parse", "time_format", strptime_format(p.text), p.where)
                )
            elif name == "timezone":
                self.guarded(p, lambda p=p: self.set("parse", "timezone", iana_zone(p.text), p.where))
            elif (name == "utc" and _bool(p)) or (name == "localtime" and not _bool(p)):
                self.set("parse", "timezone", "UTC", p.where)
            elif name in ("utc", "localtime", "keep_time_key") or (
                name == "time_type" and p.text == "string"
            ):
                continue
            elif name == "format_firstline" and fmt == "multiline":
                self.set("multiline", "start_pattern", python_regex(p.text), p.where)
            elif re.fullmatch(r"format\d+", name) and fmt == "multiline":
                self.problem(
                    p.where, f"`{name}`: logship parses each record as JSON, not with multiline regexes"
                )
            elif name in _PARSE_NOTES:
                self.note(p.where, f"`{name}` ignored: {_PARSE_NOTES[name]}")
            else:
                self.unknown(d, p)
        names = {p.name for p in params}
        if "time_key" not in names and fmt == "json":
            self.set("parse", "time_key", "time", where)  # the json parser's default
        if "time_format" not in names:
            self.note(where, "no `time_format`: Fluentd guesses; logship uses `parse.time_format` (check it)")
        if not names & {"timezone", "utc", "localtime"}:
            self.note(
                where,
                "Fluentd read times without a zone in the host's local time; logship uses `parse.timezone` "
                '(UTC unless set): set it to the host\'s zone (e.g. "Europe/Berlin") unless it runs in UTC',
            )
        keep = next((p for p in params if p.name == "keep_time_key"), None)
        if keep is None or not _bool(keep):
            self.note(
                keep.where if keep else where,
                "Fluentd removed the time field from the record (keep_time_key false); logship keeps it "
                "and adds @timestamp",
            )

    # -- record_transformer ----------------------------------------------------------------

    def record_transformer(self, f: Directive, tags: list[str]) -> dict[str, str]:
        for p in f.params:
            if p.name in ("@type", "type", "@id"):
                continue
            if p.name == "enable_ruby":
                if _bool(p):
                    self.problem(
                        p.where,
                        "`enable_ruby true`: logship evaluates no Ruby; a <record> value may only be text, "
                        "${HOSTNAME} or an environment variable",
                    )
            elif p.name == "auto_typecast":
                self.note(p.where, "`auto_typecast` ignored: logship's added fields are strings")
            else:
                self.unknown(f, p)
        fields: dict[str, str] = {}
        for c in f.children:
            if c.name != "record":
                self.problem(c.where, f"{c} inside {f} has no logship equivalent")
                continue
            for p in c.params:
                value = self.field_value(p, tags)
                if value is not None:
                    fields[p.name] = value
        return fields

    def field_value(self, p: Param, tags: list[str]) -> str | None:
        if not isinstance(p.value, str):
            self.problem(p.where, f"`{p.name}`: logship adds text fields only, not JSON values")
            return None
        for code in p.ruby:
            self.problem(
                p.where,
                f"`{p.name}`: embedded Ruby #{{{code}}} is not evaluated (supported: Socket.gethostname, "
                "ENV['NAME'], ENV.fetch('NAME', 'default'))",
            )
        value = p.value
        expressible = not p.ruby
        for placeholder in p.placeholders:
            if placeholder == "${hostname}":
                value = value.replace(placeholder, "${HOSTNAME}")
            elif placeholder == "${tag}" and len(set(tags)) == 1 and "var.log.file" not in tags[0]:
                value = value.replace(placeholder, tags[0])
            else:
                expressible = False
                self.problem(
                    p.where,
                    f"`{p.name}`: placeholder {placeholder} takes its value from each event; "
                    "logship adds fixed fields only",
                )
        if not expressible:
            return None
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value):
            if name != "HOSTNAME" and f"${{{name}}}" not in p.placeholders:
                self.note(
                    p.where,
                    f"`{p.name}` reads ${{{name}}}: logship refuses to start while {name} is unset (Fluentd "
                    f"wrote an empty string); write ${{{name}:-default}} to allow that",
                )
        return value

    # -- elasticsearch ---------------------------------------------------------------------

    def elasticsearch(self, m: Directive) -> None:
        given = {p.name: p for p in m.params}
        for p in m.params:
            self.es_param(m, p, given)
        self.hosts(m, given)
        logstash = given.get("logstash_format")
        if logstash is not None and _bool(logstash):
            prefix = given.get("logstash_prefix")
            self.set("elasticsearch", "index_prefix", prefix.text if prefix else "logstash", m.where)
            index_name = given.get("index_name")
            if index_name is not None:
                self.note(index_name.where, "`index_name` ignored: `logstash_format true` names the indices")
        else:
            where = logstash.where if logstash else m.where
            name = given.get("index_name")
            self.problem(
                name.where if name else where,
                f"one index {name.text if name else 'fluentd'!r} (logstash_format false): logship writes "
                "date-suffixed indices <prefix>-<date> (set logstash_format true)",
            )
        buffers = m.sections("buffer")
        for b in buffers[:1]:
            if b.arg and b.arg.replace(" ", "") not in ("", "tag", "time", "tag,time", "time,tag"):
                self.note(b.where, f"chunk keys {b.arg!r} ignored: logship batches by size and time")
            self.buffer(b, b.params)
        for extra in buffers[1:]:
            self.problem(extra.where, "a second <buffer> section")
        for c in m.children:
            if c.name != "buffer":
                self.problem(c.where, f"{c} inside {m} has no logship equivalent")

    def es_param(self, m: Directive, p: Param, given: dict[str, Param]) -> None:
        name = p.name
        handled = (
            "@type", "type", "@id", "host", "port", "scheme", "path", "hosts", "logstash_format",
            "logstash_prefix", "index_name", "user", "password", "api_key",
        )  # fmt: skip
        if name in handled:
            return
        if name == "logstash_dateformat":
            self.guarded(
                p, lambda: self.set("elasticsearch", "index_date_format", strftime_format(p.text), p.where)
            )
        elif name == "logstash_prefix_separator" and p.text != "-":
            self.problem(p.where, f"index separator {p.text!r}: logship always writes <prefix>-<date>")
        elif name == "logstash_prefix_separator":
            return
        elif name == "time_key":
            parse_key = self._set_at.get(("parse", "time_key"))
            if parse_key is not None and parse_key[0] != p.text:
                self.problem(
                    p.where,
                    f"`time_key {p.text}`: logship takes @timestamp and the index date from "
                    f"`parse.time_key` ({parse_key[0]!r})",
                )
        elif name == "time_precision":
            self.note(p.where, "`time_precision` ignored: logship writes @timestamp with milliseconds")
        elif name == "ssl_verify":
            self.guarded(p, lambda: self.set("elasticsearch", "verify_certs", _bool(p), p.where))
        elif name == "ca_file":
            self.set("elasticsearch", "ca_file", p.text, p.where)
        elif name == "request_timeout":
            self.guarded(
                p, lambda: self.set("elasticsearch", "request_timeout_seconds", _number(_seconds(p)), p.where)
            )
        elif name == "compression_level":
            self.set("elasticsearch", "gzip", p.text != "no_compression", p.where)
        elif name == "bulk_message_request_threshold":
            if p.text.strip() != "-1":
                self.guarded(p, lambda: self.set("batch", "max_bytes", _size(p), p.where))
        elif name in _ES_NOTES:
            self.note(p.where, f"`{name}` ignored: {_ES_NOTES[name]}")
        elif name in _OLD_BUFFER:
            self.buffer(m, [Param(_OLD_BUFFER[name], p.value, p.where)], old=True)
        else:
            self.unknown(m, p)

    def hosts(self, m: Directive, given: dict[str, Param]) -> None:
        scheme = given["scheme"].text if "scheme" in given else "http"
        port = given["port"].text if "port" in given else "9200"
        path = given["path"].text.rstrip("/") if "path" in given else ""
        user, password = given.get("user"), given.get("password")
        url_credentials: Where | None = None
        urls = []
        if "hosts" in given:
            where = given["hosts"].where
            for entry in _list(given["hosts"]):
                if "://" in entry:
                    parts = urlsplit(entry)
                    if parts.username or parts.password:
                        url_credentials = where
                    host = parts.hostname or ""
                    netloc = f"[{host}]" if ":" in host else host
                    urls.append(
                        f"{parts.scheme}://{netloc}:{parts.port or port}{parts.path.rstrip('/') or path}"
                    )
                else:
                    host, _, entry_port = entry.partition(":")
                    urls.append(f"{scheme}://{host}:{entry_port or port}{path}")
        else:
            host = given["host"].text if "host" in given else "localhost"
            where = given["host"].where if "host" in given else m.where
            urls.append(f"{scheme}://{host}:{port}{path}")
        self.set("elasticsearch", "hosts", urls, where)
        if url_credentials is not None:
            self.note(url_credentials, "credentials in `hosts` URLs are not copied into the TOML")
            self.secret("username", "the user in the `hosts` URLs", url_credentials)
            self.secret("password", "the password in the `hosts` URLs", url_credentials)
        if user is not None or password is not None:
            # logship needs both or neither: both come from the environment.
            for key, p in (("username", user), ("password", password)):
                if p is not None:
                    shown = p.text if key == "username" and not p.ruby else None
                    self.secret(key, f"`{p.name}` at {p.where}", p.where, shown, p)
        if "api_key" in given:
            p = given["api_key"]
            self.secret("api_key", f"`api_key` at {p.where}", p.where, None, p)

    def secret(
        self, key: str, what: str, where: Where, shown: str | None = None, p: Param | None = None
    ) -> None:
        env = f"LOGSHIP_ELASTICSEARCH__{key.upper()}"
        origin = ""
        if p is not None:
            m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", p.text)
            if m is not None and not p.placeholders:
                origin = f" (Fluentd read it from ${m.group(1)})"
                shown = f"${m.group(1)}"
        value = f"={shown}" if shown is not None else ""
        line = f"{env}{value}  # {what}{origin}"
        if line not in self.out.environment:
            self.out.environment.append(line)
        self.note(where, f"`elasticsearch.{key}` is not written to the file: set {env}{origin}")

    # -- buffer ----------------------------------------------------------------------------

    def buffer(self, d: Directive, params: list[Param], old: bool = False) -> None:
        for p in params:
            name = p.name
            if name == "flush_interval":
                self.guarded(
                    p, lambda p=p: self.set("batch", "flush_interval_seconds", _number(_seconds(p)), p.where)
                )
            elif name == "chunk_limit_size":
                self.guarded(p, lambda p=p: self.set("batch", "max_bytes", _size(p), p.where))
            elif name == "chunk_limit_records":
                self.guarded(p, lambda p=p: self.set("batch", "max_documents", int(_size(p)), p.where))
            elif name == "flush_thread_count":
                self.guarded(
                    p, lambda p=p: self.set("delivery", "max_concurrent_requests", int(_size(p)), p.where)
                )
            elif name == "retry_wait":
                self.guarded(
                    p,
                    lambda p=p: self.set("delivery", "retry_initial_seconds", _number(_seconds(p)), p.where),
                )
            elif name == "retry_max_interval":
                self.guarded(
                    p, lambda p=p: self.set("delivery", "retry_max_seconds", _number(_seconds(p)), p.where)
                )
            elif name == "retry_forever":
                if _bool(p):
                    self.set("delivery", "max_retries", 0, p.where)
            elif name == "retry_max_times":
                self.guarded(p, lambda p=p: self.set("delivery", "max_retries", int(_size(p)), p.where))
                self.note(
                    p.where,
                    "after `delivery.max_retries` logship dead-letters a document (Fluentd dropped chunks)",
                )
            elif name in _BUFFER_NOTES:
                if _BUFFER_NOTES[name]:
                    self.note(p.where, f"`{name}` ignored: {_BUFFER_NOTES[name]}")
            elif old:
                self.unknown(d, p)
            else:
                self.problem(p.where, f"`{name}` of <buffer> has no logship equivalent")


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
