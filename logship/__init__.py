"""logship: tail the AI Chat backend's JSON logs and bulk-index them into Elasticsearch."""

from __future__ import annotations

import time

__version__ = "0.1.0"
__all__ = ["STARTED_AT", "__version__"]

# Wall time this process began, before the heavy imports (seconds of them on a loaded machine): on
# a first run, rotated files written since then are logship's to ship (`logship.service`).
STARTED_AT = time.time()
