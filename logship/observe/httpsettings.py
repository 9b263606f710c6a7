"""The ``[http]`` section: apart from the server, so that loading the settings does not import
aiohttp's server side (a replay never serves)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["HttpSettings", "split_listen"]


def split_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6addr]:port"`` -> ``(host, port)``; ValueError if malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, e.g. 127.0.0.1:9611 or [::]:9611, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::]:9611, got {listen!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


class HttpSettings(BaseModel):
    """The ``[http]`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Serve /metrics, /health and /health/detailed.")
    listen: str = Field(
        default="127.0.0.1:9611",
        description=(
            "host:port to listen on ([::]:9611 for IPv6, 0.0.0.0:9611 in a container; "
            "port 0 picks a free port)."
        ),
    )
    engine_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="Readiness fails when the search engine has not answered for this long.",
    )
    stall_seconds: float = Field(
        default=300,
        gt=0,
        description="Readiness fails when bytes wait and nothing was delivered for this long.",
    )
    idle_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="A connection without a complete request for this long (idle, or a slow client) is "
        "closed.",
    )
    max_connections: int = Field(
        default=32,
        ge=1,
        le=10000,
        description="Connections open at once at most; beyond, the oldest idle one is closed.",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]
