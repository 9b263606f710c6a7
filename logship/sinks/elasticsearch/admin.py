"""Administration requests to the engine (`logship setup`, `logship prune`): JSON in, JSON out.

The plain transport (the same node settings, authentication and TLS as the bulk client) serves
both Elasticsearch and OpenSearch. For Elasticsearch-only APIs (ILM) ``elasticsearch()`` hands
out the typed ``AsyncElasticsearch`` client over the same nodes; it refuses servers that are not
Elasticsearch, so nothing OpenSearch needs goes through it. Every failure leaves this module as
a logship error: no answer is EngineUnreachable, an error answer EngineRejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from elastic_transport import AsyncTransport, BaseAsyncNode, TransportError
from elastic_transport.client_utils import DEFAULT

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

from logship.errors import EngineRejected
from logship.observe.logs import redact
from logship.settings import ElasticsearchSettings
from logship.sinks.elasticsearch.bulk import error_reason, no_answer, node_configs

__all__ = ["AdminClient", "Answer", "EngineInfo", "Request"]

Distribution = Literal["elasticsearch", "opensearch"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: what `--dry-run` prints and what is otherwise sent."""

    method: str
    path: str
    body: Any = None

    def render(self) -> str:
        head = f"{self.method} {self.path}"
        if self.body is None:
            return head
        return head + "\n" + orjson.dumps(self.body, option=orjson.OPT_INDENT_2).decode()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # decoded JSON, or None for an empty body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class EngineInfo:
    distribution: Distribution
    version: str

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    def __str__(self) -> str:
        name = "OpenSearch" if self.distribution == "opensearch" else "Elasticsearch"
        return f"{name} {self.version}"


class AdminClient:
    """JSON requests to the configured engine; ``node_class`` lets tests answer in-process."""

    def __init__(
        self, settings: ElasticsearchSettings, node_class: type[BaseAsyncNode] | str = "aiohttp"
    ) -> None:
        self.hosts = ", ".join(redact(h) for h in settings.hosts)
        self._nodes = node_configs(settings)
        self._node_class = node_class
        self._transport = AsyncTransport(
            self._nodes, node_class=node_class, max_retries=1, retry_on_timeout=False, meta_header=False
        )
        self._es: AsyncElasticsearch | None = None
        self._info: EngineInfo | None = None

    async def send(self, request: Request) -> Answer:
        """Send ``request``; any HTTP answer is returned, no answer raises EngineUnreachable."""
        headers = {"accept": "application/json"}
        if request.body is not None:
            headers["content-type"] = "application/json"
        try:
            resp = await self._transport.perform_request(
                request.method, request.path, body=request.body, headers=headers
            )
        except TransportError as exc:
            raise no_answer(exc, self.hosts) from exc
        return Answer(resp.meta.status, resp.body if resp.body not in ("", b"") else None)

    async def expect(self, request: Request, *also_ok: int) -> Answer:
        """Send ``request``; an answer that is neither 2xx nor in ``also_ok`` raises EngineRejected."""
        answer = await self.send(request)
        if not answer.ok and answer.status not in also_ok:
            raise EngineRejected(
                f"{request.method} {request.path}: HTTP {answer.status}: {error_reason(answer.body)}"
            )
        return answer

    async def info(self) -> EngineInfo:
        """The engine's distribution and version (GET /), asked once."""
        if self._info is None:
            body = (await self.expect(Request("GET", "/"))).body
            version = body.get("version", {}) if isinstance(body, dict) else {}
            distribution: Distribution = (
                "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
            )
            self._info = EngineInfo(distribution, str(version.get("number", "0")))
        return self._info

    def elasticsearch(self) -> AsyncElasticsearch:
        """The typed client over the same nodes (Elasticsearch servers only)."""
        if self._es is None:
            # Imported here: the typed client is heavy, and only the ILM calls of `setup` need it.
            from elasticsearch import AsyncElasticsearch

            self._es = AsyncElasticsearch(
                self._nodes,
                node_class=DEFAULT if isinstance(self._node_class, str) else self._node_class,
                max_retries=1,
                retry_on_timeout=False,
            )
        return self._es

    async def close(self) -> None:
        await self._transport.close()
        if self._es is not None:
            await self._es.close()
