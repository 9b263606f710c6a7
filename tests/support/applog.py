"""The AI Chat backend's logging, in-process: its format string, a logger of one's own per use."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

# The backend's hand-built "JSON" format: a message holding `"` or `\` breaks the line's JSON.
BACKEND_FORMAT = (
    '{"timestamp": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", '
    '"message": "%(message)s", "module": "%(module)s", "function": "%(funcName)s", '
    '"line": "%(lineno)d"}'
)
_names = itertools.count()


@contextmanager
def app_log(handler: logging.FileHandler) -> Iterator[logging.Logger]:
    """A logger of its own writing through ``handler`` with the backend's format; closed afterwards."""
    handler.setFormatter(logging.Formatter(BACKEND_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger(f"aichat.backend.test{next(_names)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()
