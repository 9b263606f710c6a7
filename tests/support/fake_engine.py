"""An in-process engine for the administration requests the test nodes cannot answer (ILM, ISM).

The Maven-built test nodes have neither Elasticsearch's ILM (x-pack) nor OpenSearch's ISM
(index-management plugin). ``FakeEngine`` answers the few requests `logship setup` and
`logship prune` send with the bodies and status codes the engines document:

* Elasticsearch ILM: ``GET /_ilm/status`` -> ``{"operation_mode": "RUNNING"}``;
  ``GET /_ilm/policy/<name>`` -> ``{"<name>": {"version", "modified_date", "policy", "in_use_by"}}``
  or 404 ``resource_not_found_exception``; ``PUT /_ilm/policy/<name>`` -> ``{"acknowledged": true}``.
* OpenSearch ISM: ``GET /_plugins/_ism/policies/<id>`` -> ``{"_id", "_version", "_seq_no",
  "_primary_term", "policy": {... "policy_id", "last_updated_time", "schema_version",
  "error_notification"}}`` or 404 ``status_exception`` "Policy not found"; ``PUT`` creates (201,
  the policy nested once more under ``policy``) or, with ``if_seq_no`` and ``if_primary_term``
  matching, updates (200); a mismatch or a missing pair on an existing policy is a 409.
* Without a lifecycle service both engines answer 400 ``no handler found for uri``, except
  Elasticsearch 8, which answers ``GET /_ilm/status`` 405 (the path matches a POST route).

``serve()`` runs it as a local HTTP server, so the requests go through logship's own HTTP stack.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web

__all__ = ["FakeEngine"]


def _error(status: int, kind: str, reason: str) -> tuple[int, Any]:
    cause = {"type": kind, "reason": reason}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


class FakeEngine:
    def __init__(
        self, distribution: str, *, lifecycle: bool = True, match_only_text: bool = True, version: str = ""
    ) -> None:
        self.distribution = distribution
        self.version = version or ("9.1.0" if distribution == "elasticsearch" else "2.19.0")
        self.lifecycle = lifecycle
        self.match_only_text = match_only_text
        self.requests: list[tuple[str, str, Any]] = []
        self.templates: dict[str, Any] = {}
        self.ilm: dict[str, dict[str, Any]] = {}
        self.ism: dict[str, dict[str, Any]] = {}
        self.indices: list[str] = []
        self._seq = 0

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in ("PUT", "DELETE")]

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Answer HTTP on a free loopback port; yields the URL."""

        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            status, payload = self.answer(request.method, request.path_qs, json.loads(raw) if raw else None)
            headers = {"X-Elastic-Product": "Elasticsearch"} if self.distribution == "elasticsearch" else {}
            text = json.dumps(payload) if payload is not None else ""
            return web.Response(status=status, text=text, content_type="application/json", headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()

    def answer(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, target, body))
        url = urlsplit(target)
        path, query = unquote(url.path), parse_qs(url.query)
        parts = [p for p in path.split("/") if p]
        no_handler = 400, {"error": f"no handler found for uri [{path}] and method [{method}]"}
        if path == "/":
            version: dict[str, Any] = {"number": self.version}
            if self.distribution == "opensearch":
                version["distribution"] = "opensearch"
            return 200, {"name": "node-1", "cluster_name": "test", "version": version}
        if parts[:1] == ["_index_template"]:
            return self._template(method, parts[1], body)
        if parts[:1] == ["_ilm"]:
            if not self.lifecycle and self.version.startswith("8."):  # the path matches a POST route
                return 405, {
                    "error": f"Incorrect HTTP method for uri [{path}] and method [{method}], allowed: [POST]"
                }
            if not self.lifecycle or self.distribution != "elasticsearch":
                return no_handler
            if parts == ["_ilm", "status"]:
                return 200, {"operation_mode": "RUNNING"}
            return self._ilm(method, parts[2])
        if parts[:2] == ["_plugins", "_ism"]:
            if not self.lifecycle or self.distribution != "opensearch":
                return no_handler
            if parts == ["_plugins", "_ism", "policies"]:
                return 200, {"policies": [], "total_policies": 0}
            return self._ism(method, parts[3], query)
        if parts[:2] == ["_cat", "indices"]:
            return 200, [{"index": name} for name in self.indices]
        if method == "DELETE" and len(parts) == 1:
            for name in parts[0].split(","):
                self.indices.remove(name)
            return 200, {"acknowledged": True}
        return no_handler

    def _template(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if name == "_simulate":
            if self.match_only_text:
                return 200, {"template": body["template"], "overlapping": []}
            return _error(400, "mapper_parsing_exception", "No handler for type [match_only_text]")
        if method == "PUT":
            self.templates[name] = body
            return 200, {"acknowledged": True}
        if name not in self.templates:
            return _error(404, "resource_not_found_exception", f"index template matching [{name}] not found")
        return 200, {"index_templates": [{"name": name, "index_template": self.templates[name]}]}

    def _ilm(self, method: str, name: str) -> tuple[int, Any]:
        if method == "PUT":
            return self.put_ilm(name, self._last_body())
        if name not in self.ilm:
            return _error(404, "resource_not_found_exception", f"Lifecycle policy not found: {name}")
        stored = self.ilm[name]
        return 200, {
            name: {
                "version": stored["version"],
                "modified_date": "2026-01-01T00:00:00.000Z",
                "policy": stored["policy"],
                "in_use_by": {"indices": [], "data_streams": [], "composable_templates": []},
            }
        }

    def put_ilm(self, name: str, body: Any) -> tuple[int, Any]:
        version = self.ilm.get(name, {}).get("version", 0) + 1
        self.ilm[name] = {"version": version, "policy": body["policy"]}
        return 200, {"acknowledged": True}

    def _last_body(self) -> Any:
        return self.requests[-1][2]

    def _ism(self, method: str, policy_id: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        stored = self.ism.get(policy_id)
        if method == "GET":
            if stored is None:
                return _error(404, "status_exception", "Policy not found")
            return 200, stored
        body = self._last_body()
        seq, term = query.get("if_seq_no", [None])[0], query.get("if_primary_term", [None])[0]
        if stored is not None and (seq != str(stored["_seq_no"]) or term != str(stored["_primary_term"])):
            return _error(409, "version_conflict_engine_exception", f"[{policy_id}]: version conflict")
        self._seq += 1
        policy = {
            "policy_id": policy_id,
            "last_updated_time": 1577990761311,
            "schema_version": 21,
            "error_notification": None,
            **body["policy"],
        }
        version = 1 if stored is None else stored["_version"] + 1
        self.ism[policy_id] = {
            "_id": policy_id,
            "_version": version,
            "_seq_no": self._seq,
            "_primary_term": 1,
            "policy": policy,
        }
        created = {"_id": policy_id, "_version": version, "_primary_term": 1, "_seq_no": self._seq}
        return (201 if stored is None else 200), {**created, "policy": {"policy": policy}}
