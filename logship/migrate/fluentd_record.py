"""Fluentd's ``record_transformer`` filter onto logship's static fields (``enrich.fields``)."""

from __future__ import annotations

import re

from logship.migrate.fluentd_context import Context
from logship.migrate.fluentd_tree import Directive, Param
from logship.migrate.fluentd_values import boolean

__all__ = ["record_transformer"]


def record_transformer(ctx: Context, f: Directive, tags: list[str]) -> dict[str, str]:
    """The fields a ``<filter>`` adds to the events of the tail sources (tagged ``tags``)."""
    for p in f.params:
        if p.name in ("@type", "type", "@id"):
            continue
        if p.name == "enable_ruby":
            if boolean(p):
                ctx.problem(
                    p.where,
                    "`enable_ruby true`: logship evaluates no Ruby; a <record> value may only be text, "
                    "${HOSTNAME} or an environment variable",
                )
        elif p.name == "auto_typecast":
            ctx.note(p.where, "`auto_typecast` ignored: logship's added fields are strings")
        else:
            ctx.unknown(f, p)
    fields: dict[str, str] = {}
    for c in f.children:
        if c.name != "record":
            ctx.problem(c.where, f"{c} inside {f} has no logship equivalent")
            continue
        for p in c.params:
            value = _field_value(ctx, p, tags)
            if value is not None:
                fields[p.name] = value
    return fields


def _field_value(ctx: Context, p: Param, tags: list[str]) -> str | None:
    """logship's text for one ``<record>`` entry, or None when it depends on the event."""
    if not isinstance(p.value, str):
        ctx.problem(p.where, f"`{p.name}`: logship adds text fields only, not JSON values")
        return None
    for code in p.ruby:
        ctx.problem(
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
            ctx.problem(
                p.where,
                f"`{p.name}`: placeholder {placeholder} takes its value from each event; "
                "logship adds fixed fields only",
            )
    if not expressible:
        return None
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value):
        if name != "HOSTNAME" and f"${{{name}}}" not in p.placeholders:
            ctx.note(
                p.where,
                f"`{p.name}` reads ${{{name}}}: logship refuses to start while {name} is unset (Fluentd "
                f"wrote an empty string); write ${{{name}:-default}} to allow that",
            )
    return value
