"""Small helpers shared by the health endpoints and the log formatter."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from datetime import UTC, datetime

__all__ = ["python_version", "utc_timestamp", "version"]


def version() -> str:
    """logship's version: ``logship.__version__``, else the installed distribution's, else 0.0.0.

    Read lazily through ``sys.modules`` so importing this package never depends on the order
    in which ``logship/__init__.py`` defines ``__version__`` and imports its submodules.
    """
    package = sys.modules.get("logship")
    found = getattr(package, "__version__", None)
    if isinstance(found, str) and found:
        return found
    try:
        return importlib.metadata.version("logship")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def python_version() -> str:
    return platform.python_version()


def utc_timestamp(epoch_seconds: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z`` suffix, e.g. ``2024-05-01T12:00:00.123Z``."""
    moment = datetime.now(UTC) if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
