"""Retention by the engine: an ILM policy (Elasticsearch) or an ISM policy (OpenSearch).

Both delete a daily index once its whole day is older than `index.retention_days`: the policy
waits `retention_days + 1` days from the index's origination, which is the start of its day
(ILM parses it from the name when the date format is `%Y.%m.%d`; otherwise, and on ISM, it is
the creation time, which for live logs is the first record of the day).

* ILM: the policy is attached by the index template (`index.lifecycle.name`).
* ISM: the policy's `ism_template` attaches it to new indices matching the template's patterns.

Both are plain JSON requests (the bodies the engines document), so one logship speaks to
Elasticsearch 8 and 9 and OpenSearch alike.

``decide`` maps `index.retention` to who deletes: "engine", "logship" or "off".
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from logship.errors import EngineRejected
from logship.settings import Settings
from logship.sinks.elasticsearch.admin import AdminClient, EngineInfo, Request
from logship.sinks.elasticsearch.bulk import error_reason
from logship.sinks.elasticsearch.managed import MANAGED_BY, Step, digest, judge
from logship.sinks.elasticsearch.templates import PRIORITY, index_patterns

__all__ = ["Ilm", "Ism", "Lifecycle", "Retention", "decide", "lifecycle_for", "policy_name"]

Retention = Literal["engine", "logship", "off"]

_NO_HANDLER = "no handler found"
_ISM_MARKER = re.compile(r"\[" + MANAGED_BY + r" digest ([0-9a-f]+)\]")


def policy_name(prefix: str) -> str:
    return f"{prefix}-logship-retention"


def decide(setting: str, retention_days: int, engine_has_lifecycle: bool) -> Retention:
    """Who deletes old indices, given `index.retention` and what the engine offers."""
    if setting == "off" or retention_days == 0:
        return "off"
    if setting == "auto":
        return "engine" if engine_has_lifecycle else "logship"
    return "engine" if setting == "engine" else "logship"


class Lifecycle(Protocol):
    service: str  # "ILM" or "ISM"

    async def missing(self) -> str | None:
        """None when the engine has the lifecycle service, else why not, in words."""
        ...

    def template_settings(self) -> dict[str, Any]:
        """Index settings the index template carries to attach the policy."""
        ...

    async def step(self, overwrite: bool) -> Step:
        """Compare the installed policy with the wanted one."""
        ...


def lifecycle_for(client: AdminClient, info: EngineInfo, settings: Settings) -> Lifecycle:
    if info.distribution == "opensearch":
        return Ism(client, settings)
    return Ilm(client, info, settings)


def _describe(settings: Settings) -> str:
    days = settings.index.retention_days
    return f"delete the {settings.elasticsearch.index_prefix} daily indices {days} days after their day"


class Ilm:
    """Elasticsearch index lifecycle management (`/_ilm`)."""

    service = "ILM"

    def __init__(self, client: AdminClient, info: EngineInfo, settings: Settings) -> None:
        self._client = client
        self._info = info
        self._settings = settings
        self.name = policy_name(settings.elasticsearch.index_prefix)

    def body(self) -> dict[str, Any]:
        days = self._settings.index.retention_days
        policy: dict[str, Any] = {
            "phases": {"delete": {"min_age": f"{days + 1}d", "actions": {"delete": {}}}},
        }
        policy["_meta"] = {
            "managed_by": MANAGED_BY,
            "digest": digest(policy),
            "description": f"logship: {_describe(self._settings)}",
        }
        return {"policy": policy}

    async def missing(self) -> str | None:
        request = Request("GET", "/_ilm/status")
        answer = await self._client.send(request)
        if answer.ok:
            return None
        reason = error_reason(answer.body)
        # Without the module, the path is unknown (400 "no handler found", Elasticsearch 9) or
        # matches another route that has no GET (405, Elasticsearch 8).
        if answer.status == 405 or (answer.status in (400, 404) and _NO_HANDLER in reason):
            return f"{self._info} has no ILM service (its x-pack-ilm module is not installed)"
        raise EngineRejected(f"GET {request.path}: HTTP {answer.status}: {reason}")

    def template_settings(self) -> dict[str, Any]:
        lifecycle: dict[str, Any] = {"name": self.name}
        if self._settings.elasticsearch.index_date_format == "%Y.%m.%d":
            # The index's age counts from the day in its name, so a backfilled day ages correctly.
            lifecycle["parse_origination_date"] = True
        return {"lifecycle": lifecycle}

    async def step(self, overwrite: bool) -> Step:
        body = self.body()
        path = f"/_ilm/policy/{self.name}"
        answer = await self._client.expect(Request("GET", path), 404)
        present = answer.status != 404
        marker = None
        if present and isinstance(answer.body, dict):
            entry = answer.body.get(self.name, {})
            marker = entry.get("policy", {}).get("_meta") if isinstance(entry, dict) else None
        outcome = judge(present, marker, body["policy"]["_meta"]["digest"], overwrite)
        request = Request("PUT", path, body)

        async def send() -> None:
            await self._client.expect(request)

        what = f"ILM policy {self.name} ({_describe(self._settings)})"
        return Step(what, outcome, request, send)


class Ism:
    """OpenSearch index state management, through the plain transport."""

    service = "ISM"

    def __init__(self, client: AdminClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self.name = policy_name(settings.elasticsearch.index_prefix)

    def body(self) -> dict[str, Any]:
        es = self._settings.elasticsearch
        days = self._settings.index.retention_days
        patterns = index_patterns(es.index_prefix, es.index_date_format)
        after = {"min_index_age": f"{days + 1}d"}
        policy: dict[str, Any] = {
            "default_state": "keep",
            "states": [
                {
                    "name": "keep",
                    "actions": [],
                    "transitions": [{"state_name": "delete", "conditions": after}],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": patterns, "priority": PRIORITY}],
        }
        # ISM policies have no _meta: the marker rides in the description.
        policy["description"] = f"logship: {_describe(self._settings)} [{MANAGED_BY} digest {digest(policy)}]"
        return {"policy": policy}

    async def missing(self) -> str | None:
        request = Request("GET", "/_plugins/_ism/policies?size=1")
        answer = await self._client.send(request)
        if answer.ok:
            return None
        reason = error_reason(answer.body)
        if answer.status in (400, 404, 405) and _NO_HANDLER in reason:
            return "OpenSearch has no ISM service (its index-management plugin is not installed)"
        raise EngineRejected(f"GET {request.path}: HTTP {answer.status}: {reason}")

    def template_settings(self) -> dict[str, Any]:
        return {}  # the policy's ism_template attaches it

    async def step(self, overwrite: bool) -> Step:
        body = self.body()
        path = f"/_plugins/_ism/policies/{self.name}"
        answer = await self._client.expect(Request("GET", path), 404)
        marker: dict[str, Any] | None = None
        present = answer.status != 404
        if present:
            found = answer.body if isinstance(answer.body, dict) else {}
            match = _ISM_MARKER.search(str(found.get("policy", {}).get("description", "")))
            if match:
                marker = {"managed_by": MANAGED_BY, "digest": match.group(1)}
            # An update must name the version it replaces.
            path += f"?if_seq_no={found.get('_seq_no')}&if_primary_term={found.get('_primary_term')}"
        wanted = _ISM_MARKER.search(body["policy"]["description"])
        assert wanted is not None
        outcome = judge(present, marker, wanted.group(1), overwrite)
        request = Request("PUT", path, body)

        async def send() -> None:
            await self._client.expect(request)

        return Step(f"ISM policy {self.name} ({_describe(self._settings)})", outcome, request, send)
