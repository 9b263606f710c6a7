"""The tests' one HTTP client: blocking requests with ``urllib.request`` (standard library only,
independent of the HTTP library logship uses). Not named ``http``, so that it never shadows the
standard library's package when a script in this directory runs on its own.

* ``request(method, url, body)`` -> :class:`Response` (status, headers, raw body). An HTTP error
  status is returned, not raised; a connection that fails raises ``OSError``.
* ``http_json(method, url, body)`` -> ``(status, decoded JSON or None)``, for the engine's API.
* ``get(url)`` -> :class:`Response`, for logship's own /health and /metrics.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Response", "get", "http_json", "request"]


@dataclass(frozen=True)
class Response:
    """One answer: its status, headers (names in lower case) and body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body decoded as JSON; None for an empty body."""
        return json.loads(self.body) if self.body.strip() else None


def request(
    method: str,
    url: str,
    body: Any = None,
    *,
    ndjson: bool = False,
    timeout: float = 60.0,
) -> Response:
    """Send one request and read the whole answer.

    ``body`` is JSON-encoded; with ``ndjson=True`` it must be a list of objects, sent as NDJSON
    (one object a line, as ``_bulk`` wants). ``bytes`` are sent as they are.
    """
    data: bytes | None = None
    headers = {"Accept": "application/json"}
    if isinstance(body, bytes):
        data = body
        headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
    elif body is not None:
        if ndjson:
            data = "".join(json.dumps(line) + "\n" for line in body).encode()
            headers["Content-Type"] = "application/x-ndjson"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(int(resp.status), bytes(resp.read()), _headers(resp.headers.items()))
    except urllib.error.HTTPError as error:  # an error status is an answer too (e.g. a 503 report)
        with error:
            return Response(int(error.code), bytes(error.read()), _headers(error.headers.items()))


def get(url: str, *, timeout: float = 10.0) -> Response:
    """``GET url``."""
    return request("GET", url, timeout=timeout)


def http_json(
    method: str, url: str, body: Any = None, *, ndjson: bool = False, timeout: float = 60.0
) -> tuple[int, Any]:
    """Send a request; return (status, decoded JSON or None). HTTP errors are returned, not raised."""
    answer = request(method, url, body, ndjson=ndjson, timeout=timeout)
    return answer.status, answer.json()


def _headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in items}
