"""Observability for logship: Prometheus metrics, health state, the HTTP endpoints, JSON logs.

The pipeline imports the metric objects from :mod:`logship.observe.metrics` and reports
progress to a :class:`HealthState`; the CLI calls :func:`configure_logging` first and runs an
:class:`HttpServer` next to the pipeline.
"""

from __future__ import annotations

from logship.observe.health import HealthState
from logship.observe.logs import SECRET_FIELD_NAMES, configure_logging, redact, redact_mapping
from logship.observe.metrics import REGISTRY
from logship.observe.server import HttpListenError, HttpServer, HttpSettings

__all__ = [
    "REGISTRY",
    "SECRET_FIELD_NAMES",
    "HealthState",
    "HttpListenError",
    "HttpServer",
    "HttpSettings",
    "configure_logging",
    "redact",
    "redact_mapping",
]
