"""The one exception tree of logship.

    LogshipError
    ├── ConfigError          a setting is missing, malformed or contradicts another (exit code 2)
    ├── PositionsError       the position store cannot be read or written
    ├── DeadLetterError      the dead-letter file cannot be written (delivery must stop)
    ├── EngineUnreachable    no answer from the search engine (refused, reset, TLS failure)
    │   └── EngineTimeout    no answer within `elasticsearch.request_timeout_seconds`
    └── EngineRejected       the engine answered an administration request with an error

Third-party exceptions are translated into these at the module that calls the library, with
``raise ... from`` so the original stays in the traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeadLetterError",
    "EngineRejected",
    "EngineTimeout",
    "EngineUnreachable",
    "LogshipError",
    "PositionsError",
]


class LogshipError(Exception):
    """Base of every error logship raises on purpose."""


class ConfigError(LogshipError):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class PositionsError(LogshipError):
    """The position store cannot be read or written."""


class DeadLetterError(LogshipError):
    """A rejected document could not be made durable in the dead-letter file."""


class EngineUnreachable(LogshipError):
    """The search engine did not answer (connection refused or reset, TLS failure)."""


class EngineTimeout(EngineUnreachable):
    """The search engine did not answer in time."""


class EngineRejected(LogshipError):
    """The search engine answered an administration request (setup, prune) with an error."""
