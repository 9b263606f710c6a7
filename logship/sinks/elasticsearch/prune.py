"""Retention by logship: `logship prune`, and the daily prune of `logship run`.

An index is deleted when its name is exactly `<index_prefix>-<date>` (the date read back with
`elasticsearch.index_date_format` and formatting to the same text) and the whole period it
covers ended more than `index.retention_days` ago. Anything else is never touched: a name that
does not parse, another prefix's index (`aichat-archive-2024.01.01` is not an `aichat` index:
"archive-2024.01.01" is no date), hidden and system indices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from logship.errors import LogshipError
from logship.settings import Settings
from logship.sinks.elasticsearch.admin import AdminClient, Request
from logship.sinks.elasticsearch.lifecycle import decide, lifecycle_for
from logship.sinks.elasticsearch.nodes import NodePool

__all__ = ["expired", "period_end", "prune", "prune_daily"]

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
FIRST_PRUNE_DELAY_SECONDS = 300.0  # `logship run` ships first; a short-lived run never prunes
RETRY_SECONDS = 3600.0
_DELETE_BATCH = 50


def period_end(name: str, prefix: str, date_format: str) -> datetime | None:
    """When the period of index ``name`` ends (UTC), or None if it is not `<prefix>-<date>`."""
    head = prefix + "-"
    if not name.startswith(head):
        return None
    text = name[len(head) :]
    try:
        start = datetime.strptime(text, date_format).replace(tzinfo=UTC)
    except ValueError:
        return None
    if start.strftime(date_format) != text:  # e.g. "2024.1.5" parses, but logship never wrote it
        return None
    if (start + timedelta(hours=1)).strftime(date_format) != text:
        return start + timedelta(hours=1)  # an hourly format
    end = start + DAY
    for _ in range(400):  # a daily format ends at once; weekly, monthly, yearly ones step on
        if end.strftime(date_format) != text:
            return end
        end += DAY
    return end


def expired(
    names: Iterable[str], prefix: str, date_format: str, retention_days: int, now: datetime
) -> list[str]:
    """The names among ``names`` whose period ended more than ``retention_days`` before ``now``."""
    cutoff = now - timedelta(days=retention_days)
    old = []
    for name in names:
        end = period_end(name, prefix, date_format)
        if end is not None and end <= cutoff:
            old.append(name)
    return sorted(old)


async def _list_indices(client: AdminClient, prefix: str) -> list[str]:
    pattern = quote(f"{prefix}-*", safe="*")
    answer = await client.expect(
        Request("GET", f"/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=open,closed"), 404
    )
    rows = answer.body if answer.status != 404 and isinstance(answer.body, list) else []
    return [str(row["index"]) for row in rows if isinstance(row, dict) and "index" in row]


async def prune_with(
    client: AdminClient, settings: Settings, dry_run: bool, out: Callable[[str], None], now: datetime
) -> list[str]:
    """Delete (or with ``dry_run`` print the requests deleting) the expired indices; return their names."""
    es, days = settings.elasticsearch, settings.index.retention_days
    names = await _list_indices(client, es.index_prefix)
    old = expired(names, es.index_prefix, es.index_date_format, days, now)
    verb = "would delete" if dry_run else "deleted"
    for start in range(0, len(old), _DELETE_BATCH):
        batch = old[start : start + _DELETE_BATCH]
        request = Request("DELETE", "/" + ",".join(quote(n, safe="") for n in batch))
        if dry_run:
            out(request.render())
        else:
            await client.expect(request)
        for name in batch:
            out(f"{verb} {name} (older than {days} days)")
    kept = len(names) - len(old)
    out(f"{verb} {len(old)} of {len(names)} indices matching {es.index_prefix}-*; kept {kept}")
    return old


async def prune(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
    now: datetime | None = None,
) -> list[str]:
    """`logship prune`; raises EngineUnreachable or EngineRejected when the engine fails."""
    if settings.index.retention == "off" or settings.index.retention_days == 0:
        out("retention is off (`index.retention` or `index.retention_days`): nothing to delete")
        return []
    client = AdminClient(settings.elasticsearch)
    try:
        return await prune_with(client, settings, dry_run, out, now or datetime.now(UTC))
    finally:
        await client.close()


async def _engine_retains(client: AdminClient, settings: Settings) -> bool:
    info = await client.info()
    missing = await lifecycle_for(client, info, settings).missing()
    return decide("auto", settings.index.retention_days, missing is None) == "engine"


async def prune_daily(settings: Settings, pool: NodePool | None = None) -> None:
    """For `logship run`: when retention falls to logship, prune five minutes after start, then daily.

    It never raises: a failure is logged and retried an hour later.
    """
    index = settings.index
    if index.retention in ("off", "engine") or index.retention_days == 0:
        return
    await asyncio.sleep(FIRST_PRUNE_DELAY_SECONDS)
    while True:
        client = AdminClient(settings.elasticsearch, pool)
        try:
            if index.retention == "auto" and await _engine_retains(client, settings):
                log.info("Old indices are deleted by the engine's lifecycle policy (`logship setup`)")
                return
            deleted = await prune_with(client, settings, False, lambda _line: None, datetime.now(UTC))
            log.info("Pruned old indices", extra={"deleted": deleted, "retention_days": index.retention_days})
            pause = 86400.0
        except LogshipError as exc:
            log.warning("Pruning old indices failed; trying again later", extra={"error": str(exc)})
            pause = RETRY_SECONDS
        finally:
            await client.close()
        await asyncio.sleep(pause)
