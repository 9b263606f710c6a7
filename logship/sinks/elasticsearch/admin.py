"""Administration requests to the engine (`logship setup`, `logship prune`, the checks of `run`):
JSON in, JSON out, over the same session, nodes, credentials and TLS as the bulk requests.

Plain requests serve Elasticsearch 8 and 9 and OpenSearch alike, ILM and ISM included. Every
failure leaves this module as a logship error: no answer is EngineUnreachable, an error answer
EngineRejected, a redirect EngineRedirected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from logship.errors import EngineRejected
from logship.observe.logs import redact
from logship.settings import ElasticsearchSettings
from logship.sinks.elasticsearch.bulk import error_reason, node_pool
from logship.sinks.elasticsearch.nodes import NodePool

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
    """JSON requests to the configured engine; over ``pool`` when given (it stays open), else over
    a session of its own."""

    def __init__(self, settings: ElasticsearchSettings, pool: NodePool | None = None) -> None:
        self.hosts = ", ".join(redact(h) for h in settings.hosts)
        self._own = pool is None
        self._pool = pool if pool is not None else node_pool(settings)
        self._info: EngineInfo | None = None

    async def send(self, request: Request) -> Answer:
        """Send ``request``; any HTTP answer is returned, no answer raises EngineUnreachable."""
        headers = {"accept": "application/json"}
        body = None
        if request.body is not None:
            headers["content-type"] = "application/json"
            body = orjson.dumps(request.body)
        status, raw = await self._pool.request(request.method, request.path, body, headers)
        return Answer(status, _decoded(raw))

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

    async def close(self) -> None:
        if self._own:
            await self._pool.close()


def _decoded(raw: bytes) -> Any:
    """JSON, or the text of a body that is not (a proxy's page), or None for an empty one."""
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:2000].decode("utf-8", "replace")
