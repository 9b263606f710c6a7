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


def _route(
    ctx: Context, sources: list[Directive], filters: list[Directive], matches: list[Directive]
) -> None:
    """Follow each tail source's tag through the filters to its <match>, then map what is reached."""
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
            ctx.problem(s.where, f"events tagged {tag!r} reach no <match> (Fluentd drops them)")
            continue
        used_matches.add(target)
        m = matches[target]
        if m.type != "elasticsearch":
            ctx.problem(m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch (tag {tag!r})")
        elif output is None:
            output = m
        elif output is not m:
            ctx.problem(
                m.where,
                f"{m} is a second Elasticsearch output (the first is at {output.where}); "
                "logship sends every file to one",
            )
    if len({tuple(c) for c in applied.values()}) > 1:
        first = next(iter(tags))[0]
        ctx.problem(
            first.where,
            "the tail sources pass through different filters; logship applies one set to all files",
        )
    for s, _ in tags:
        tail(ctx, s)
    fields: dict[str, str] = {}
    for i, f in enumerate(filters):
        if i not in used_filters:
            ctx.note(f.where, f"{f} matches none of the tail sources' tags; not converted")
        elif f.type == "record_transformer":
            fields.update(record_transformer(ctx, f, [t for _, t in tags]))
        else:
            ctx.problem(f.where, f"{f} @type {f.type}: logship only adds static fields (record_transformer)")
    # Fluentd adds nothing unless told to: logship's default fields must not appear either.
    ctx.out.settings.setdefault("enrich", {})["fields"] = fields
    for i, m in enumerate(matches):
        if i in used_matches:
            continue
        if m.type == "null":
            ctx.note(m.where, f"{m} @type null discards events logship never reads")
        elif m.type == "elasticsearch":
            ctx.note(m.where, f"{m} receives none of the tail sources' events; not converted")
        else:
            ctx.problem(m.where, f"{m} @type {m.type}: logship writes only to Elasticsearch")
    if output is not None:
        elasticsearch(ctx, output)
