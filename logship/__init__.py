"""logship: tail the AI Chat backend's JSON logs and bulk-index them into Elasticsearch."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
