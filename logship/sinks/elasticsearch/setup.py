"""`logship setup`: install, idempotently, the index template and the retention policy.

Order: ask the engine what it is and what it offers (lifecycle service, `match_only_text`),
compare each object with what is installed (see managed.py), then create or update what
differs: the lifecycle policy first, as the template names it. With ``dry_run`` only reading
requests are sent, and the writing ones are printed (method, path, body) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logship.errors import EngineRejected
from logship.settings import Settings
from logship.sinks.elasticsearch.admin import AdminClient
from logship.sinks.elasticsearch.lifecycle import decide, lifecycle_for, policy_name
from logship.sinks.elasticsearch.managed import Step
from logship.sinks.elasticsearch.templates import index_template, message_field_type, template_step

__all__ = ["Plan", "install", "plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What setup found: one step per object, and how the engine is served."""

    steps: list[Step]
    message_type: str
    why: str
    retention: str
    service: str
    missing: str | None


async def install(
    settings: Settings,
    *,
    dry_run: bool = False,
    overwrite: bool = False,
    out: Callable[[str], None] = print,
) -> bool:
    """Run `logship setup`, writing one line per finding to ``out``; False if an object was left alone.

    Raises EngineUnreachable or EngineRejected when the engine does not answer or refuses.
    """
    client = AdminClient(settings.elasticsearch)
    try:
        return await _install(client, settings, dry_run, overwrite, out)
    finally:
        await client.close()


async def plan(client: AdminClient, settings: Settings, overwrite: bool) -> Plan:
    """Ask the engine what it offers and compare each object with what is installed (reads only)."""
    index = settings.index
    info = await client.info()
    lifecycle = lifecycle_for(client, info, settings)
    steps: list[Step] = []
    template_lifecycle: dict[str, Any] = {}
    missing: str | None = None
    if index.retention != "off" and index.retention_days > 0:
        missing = await lifecycle.missing()
        if missing is not None and index.retention == "engine":
            raise EngineRejected(
                f'`index.retention = "engine"`, but {missing}: set `index.retention` to "logship" '
                '(or "auto") to have logship delete old indices'
            )
    retention = decide(index.retention, index.retention_days, missing is None)
    if retention == "engine":
        steps.append(await lifecycle.step(overwrite))
        template_lifecycle = lifecycle.template_settings()
    message_type, why = await message_field_type(client)
    template = index_template(settings, message_type, template_lifecycle)
    steps.append(await template_step(client, settings, template, overwrite))
    return Plan(steps, message_type, why, retention, lifecycle.service, missing)


async def _install(
    client: AdminClient, settings: Settings, dry_run: bool, overwrite: bool, out: Callable[[str], None]
) -> bool:
    info = await client.info()
    out(f"engine: {info} at {client.hosts}{' (dry run: nothing is changed)' if dry_run else ''}")
    found = await plan(client, settings, overwrite)
    ok = True
    for step in found.steps:
        out(step.line(dry_run))
        if step.outcome == "foreign":
            ok = False
        elif step.outcome in ("create", "update") and step.request is not None:
            if dry_run:
                out(step.request.render())
            elif step.send is not None:
                await step.send()
    out(f"field `message`: {found.message_type} ({found.why})")
    out(_retention_line(settings, found.retention, found.service, found.missing))
    return ok


def _retention_line(settings: Settings, retention: str, service: str, missing: str | None) -> str:
    days = settings.index.retention_days
    if retention == "off":
        return "retention: off (indices are kept until deleted by hand)"
    if retention == "engine":
        name = policy_name(settings.elasticsearch.index_prefix)
        return f"retention: {days} days, by the engine ({service} policy {name}, attached to new indices)"
    why = f"{missing}; " if missing else ""
    return (
        f"retention: {days} days, by logship: {why}`logship run` deletes older indices daily "
        "(or schedule `logship prune`)"
    )
