"""Fluentd's ``tail`` + ``record_transformer`` + ``elasticsearch`` pipeline, mapped onto logship's settings.

logship has one pipeline: files -> JSON parsing -> static fields -> date-suffixed indices. What a
Fluentd configuration says beyond that (other plugins, tag routing to several outputs, label
pipelines, Ruby) is a *problem*: listed with its file and line, never silently dropped. What
means nothing for logship or Elasticsearch 8+ (``type_name``, ``index_name`` next to
``logstash_format true``, Fluentd's own buffer files) is a *note*.

This module sorts the sections and follows the tags from the sources to the filters and the output;
each plugin is mapped by its own module: ``fluentd_tail`` (in_tail and its parser), ``fluentd_record``
(record_transformer) and ``fluentd_elasticsearch`` (the output and its buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logship.migrate.fluentd_context import Context, Conversion, Finding
from logship.migrate.fluentd_elasticsearch import elasticsearch
from logship.migrate.fluentd_record import record_transformer
from logship.migrate.fluentd_tail import tail
from logship.migrate.fluentd_tree import ConfTree, Directive
from logship.migrate.fluentd_values import tag_matches

__all__ = ["Conversion", "Finding", "convert", "tag_matches"]


def convert(tree: ConfTree) -> Conversion:
    """Map the parsed Fluentd configuration onto logship's settings."""
    ctx = Context()
    _root(ctx, tree)
    order = {path: i for i, path in enumerate(tree.files)}  # files in the order Fluentd reads them
    for findings in (ctx.out.problems, ctx.out.notes):
        findings.sort(key=lambda f: (order.get(f.where.file, len(order)), f.where.line))
    return ctx.out


def _root(ctx: Context, tree: ConfTree) -> None:
    """Sort the top-level sections: tail sources, filters and matches are routed; the rest reported."""
    for where, warning in tree.warnings:
        ctx.note(where, warning)
    for p in tree.root.params:
        ctx.problem(p.where, f"`{p.name}` outside any section has no logship equivalent")
    sources: list[Directive] = []
    filters: list[Directive] = []
    matches: list[Directive] = []
    for d in tree.root.children:
        if d.name == "source":
            if d.type == "tail":
                sources.append(d)
            else:
                ctx.problem(d.where, f"{d} @type {d.type}: logship only follows files (Fluentd's in_tail)")
        elif d.name == "filter":
            filters.append(d)
        elif d.name == "match":
            matches.append(d)
        elif d.name == "label" and d.arg == "@FLUENT_LOG":
            ctx.note(d.where, f"{d} routes Fluentd's own log events; logship logs to stderr")
        elif d.name == "label":
            ctx.problem(
                d.where,
                f"{d} pipelines cannot be expressed: logship has one pipeline "
                "(files -> fields -> Elasticsearch)",
            )
        elif d.name == "system":
            ctx.note(d.where, f"{d} configures the Fluentd process; logship needs none of it")
        else:
            ctx.problem(d.where, f"{d} is not a Fluentd section logship knows")
    if not sources:
        ctx.problem(tree.root.where, "no <source> with @type tail: nothing to follow")
    _route(ctx, sources, filters, matches)


@dataclass
class _Routes:
    """Where the tail sources' tags lead: the filters and matches they reach, the output chosen."""

    tags: list[tuple[Directive, str]]
    chains: set[tuple[int, ...]] = field(default_factory=set)  # filter indices, one chain per tag
    used_filters: set[int] = field(default_factory=set)
    used_matches: set[int] = field(default_factory=set)
    output: Directive | None = None


def _route(
    ctx: Context, sources: list[Directive], filters: list[Directive], matches: list[Directive]
) -> None:
    """Follow each tail source's tag through the filters to its <match>, then map what is reached."""
    routes = _Routes(_tags(ctx, sources))
    for s, tag in routes.tags:
        _follow(ctx, routes, s, tag, filters, matches)
    if len(routes.chains) > 1:
        ctx.problem(
            routes.tags[0][0].where,
            "the tail sources pass through different filters; logship applies one set to all files",
        )
    for s, _ in routes.tags:
        tail(ctx, s)
    _filters(ctx, filters, routes)
    _unused_matches(ctx, matches, routes.used_matches)
    if routes.output is not None:
        elasticsearch(ctx, routes.output)


def _tags(ctx: Context, sources: list[Directive]) -> list[tuple[Directive, str]]:
    """Each tail source with the tag its events carry; a source without a tag is reported."""
    tags: list[tuple[Directive, str]] = []
    for s in sources:
        tag_param = s.get("tag")
        label = s.get("@label")
        if label is not None:
            ctx.problem(label.where, f"`@label {label.text}` routes to a <label> pipeline (not expressible)")
        if tag_param is None:
            ctx.problem(s.where, f"{s} has no `tag`, so Fluentd routes its events nowhere")
            continue
        # in_tail replaces `*` in the tag with the file's path, dots for slashes.
        tags.append((s, tag_param.text.replace("*", "var.log.file")))
    return tags


def _follow(
    ctx: Context, routes: _Routes, s: Directive, tag: str, filters: list[Directive], matches: list[Directive]
) -> None:
    """Record the filters and the first <match> that ``tag`` reaches; report a second output."""
    chain = tuple(i for i, f in enumerate(filters) if tag_matches(f.arg, tag))
    routes.chains.add(chain)
    routes.used_filters.update(chain)
    target = next((i for i, m in enumerate(matches) if tag_matches(m.arg, tag)), None)
    if target is None:
        ctx.problem(s.where, f"events tagged {tag!r} reach no <match> (Fluentd drops them)")
        return
    routes.used_matches.add(target)
    m = matches[target]
    if m.type != "elasticsearch":
        ctx.problem(m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch (tag {tag!r})")
    elif routes.output is None:
        routes.output = m
    elif routes.output is not m:
        ctx.problem(
            m.where,
            f"{m} is a second Elasticsearch output (the first is at {routes.output.where}); "
            "logship sends every file to one",
        )


def _filters(ctx: Context, filters: list[Directive], routes: _Routes) -> None:
    """Map the filters the tags pass through to [enrich] fields; report the others."""
    fields: dict[str, str] = {}
    for i, f in enumerate(filters):
        if i not in routes.used_filters:
            ctx.note(f.where, f"{f} matches none of the tail sources' tags; not converted")
        elif f.type == "record_transformer":
            fields.update(record_transformer(ctx, f, [t for _, t in routes.tags]))
        else:
            ctx.problem(f.where, f"{f} @type {f.type}: logship only adds static fields (record_transformer)")
    # Fluentd adds nothing unless told to: logship's default fields must not appear either.
    ctx.out.settings.setdefault("enrich", {})["fields"] = fields


def _unused_matches(ctx: Context, matches: list[Directive], used: set[int]) -> None:
    for i, m in enumerate(matches):
        if i in used:
            continue
        if m.type == "null":
            ctx.note(m.where, f"{m} @type null discards events logship never reads")
        elif m.type == "elasticsearch":
            ctx.note(m.where, f"{m} receives none of the tail sources' events; not converted")
        else:
            ctx.problem(m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch")
