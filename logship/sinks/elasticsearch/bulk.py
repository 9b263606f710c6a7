"""The bulk HTTP service: one NDJSON body in, the status and raw body out.

It speaks plain ``application/x-ndjson`` over the session of :mod:`.nodes`, so Elasticsearch 8
and 9 and OpenSearch 2 all accept it. Responses are not deserialized on the way: the sink decides
whether it needs to look at the items at all.

Credentials in a host URL (``http://user:pass@host:9200``) authenticate requests to that host:
they become that node's Authorization header and never appear in an error (every message leaving
this module is passed through :func:`redact`).
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson

from logship.observe.logs import redact
from logship.settings import ElasticsearchSettings
from logship.sinks.elasticsearch.nodes import NodeConfig, NodePool, tls_context

__all__ = [
    "BulkClient",
    "BulkResponse",
    "ItemResult",
    "NotABulkResponse",
    "Transport",
    "error_reason",
    "item_results",
    "node_configs",
    "node_pool",
    "transport_warnings",
]

# Only what the item handling reads: the engine neither serializes nor sends each item's index,
# id, version and shards (about 100 bytes an item).
BULK_TARGET = "/_bulk?filter_path=errors,items.*.error,items.*.status"


@dataclass(frozen=True, slots=True)
class BulkResponse:
    status: int
    body: bytes

    @property
    def all_created(self) -> bool:
        """True when the engine says no item failed; then the items need not be parsed."""
        return self.status == 200 and b'"errors":false' in self.body[:200]


# (status, reason or None)
ItemResult = tuple[int, str | None]


class NotABulkResponse(ValueError):
    """A 200 answer whose body is not a bulk response (a proxy's page, a truncated body)."""


def item_results(body: bytes) -> list[ItemResult]:
    """Per-item status and reason of a bulk response, in request order; raises NotABulkResponse
    when the body is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotABulkResponse("not JSON") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise NotABulkResponse("no `items` list")
    results: list[ItemResult] = []
    for entry in items:
        result = next(iter(entry.values()), None) if isinstance(entry, dict) else None
        if not isinstance(result, dict) or not isinstance(result.get("status", 0), int):
            raise NotABulkResponse("an item without a result")
        error = result.get("error")
        results.append((int(result.get("status", 0)), None if error is None else error_reason(error)))
    return results


def error_reason(body: Any) -> str:
    """The engine's reason for an error (an answer's body, or one item's error), in one line: the
    error and its deepest cause."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if not isinstance(error, dict):
        return str(error)[:500]
    reason = f"{error.get('type')}: {error.get('reason')}"
    cause = error
    while isinstance(cause.get("caused_by"), dict):
        cause = cause["caused_by"]
    if cause is not error:
        reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return reason


class Transport(Protocol):
    """What the sink needs of the engine; tests swap in a fake that answers in-process."""

    async def bulk(self, body: bytes) -> BulkResponse: ...

    async def info(self) -> BulkResponse: ...

    async def close(self) -> None: ...


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_warnings(settings: ElasticsearchSettings) -> list[str]:
    """What is unsafe in how the engine is reached; logged once when logship starts."""
    warnings = []
    if not settings.verify_certs:
        warnings.append(
            "TLS certificates of the engine are not verified (`elasticsearch.verify_certs = false`): "
            "anyone on the network path can pose as the engine and read the logs and credentials; "
            "set `elasticsearch.ca_file` to the CA that signed the engine's certificate instead"
        )
    global_credentials = settings.api_key is not None or settings.username is not None
    for host in settings.hosts:
        url = urlsplit(host)
        credentials = global_credentials or url.username is not None
        if credentials and url.scheme == "http" and not _loopback(url.hostname or ""):
            warnings.append(
                f"credentials are sent in clear text over http:// to {redact(host)} "
                "(`elasticsearch.hosts`): use https://"
            )
    return warnings


def node_configs(settings: ElasticsearchSettings) -> list[NodeConfig]:
    """`elasticsearch.hosts`, one node each, with its credentials (from the settings, or from the
    URL itself, which never reaches the HTTP library)."""
    common: dict[str, str] = {}
    if settings.api_key:
        common["authorization"] = f"ApiKey {settings.api_key}"
    elif settings.username is not None and settings.password is not None:
        common["authorization"] = _basic(settings.username, settings.password)
    nodes = []
    for host in settings.hosts:
        url = urlsplit(host)
        headers = dict(common)
        if url.username is not None:  # settings refuse these next to username or api_key
            headers["authorization"] = _basic(unquote(url.username), unquote(url.password or ""))
        nodes.append(
            NodeConfig(
                scheme=url.scheme,
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 9200),
                path_prefix=url.path.rstrip("/"),
                headers=tuple(headers.items()),
            )
        )
    return nodes


def node_pool(settings: ElasticsearchSettings, *, compress: bool = False) -> NodePool:
    """The session to the configured cluster."""
    https = any(host.startswith("https:") for host in settings.hosts)
    ca = str(settings.ca_file) if settings.ca_file else None
    return NodePool(
        node_configs(settings),
        timeout=settings.request_timeout_seconds,
        tls=tls_context(ca, settings.verify_certs) if https else None,
        compress=compress,
        max_answer_bytes=settings.max_answer_bytes,
        label=", ".join(redact(h) for h in settings.hosts),
    )


class BulkClient:
    """Sends bulk bodies to the configured engine nodes."""

    def __init__(self, settings: ElasticsearchSettings) -> None:
        self.pool = node_pool(settings, compress=settings.gzip)
        self.hosts = [redact(h) for h in settings.hosts]

    async def bulk(self, body: bytes) -> BulkResponse:
        """POST one bulk body; raises EngineUnreachable when no usable HTTP answer came back,
        EngineRedirected on a redirect."""
        return await self._request("POST", BULK_TARGET, body, "application/x-ndjson")

    async def info(self) -> BulkResponse:
        """GET / (the engine's name and version)."""
        return await self._request("GET", "/", None, None)

    async def _request(
        self, method: str, target: str, body: bytes | None, content_type: str | None
    ) -> BulkResponse:
        headers = {"accept": "application/json"}
        if content_type is not None:
            headers["content-type"] = content_type
        status, answer = await self.pool.request(method, target, body, headers)
        return BulkResponse(status, answer)

    async def close(self) -> None:
        await self.pool.close()
