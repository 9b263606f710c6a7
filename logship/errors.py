"""The one exception tree of logship.

    LogshipError
    ├── ConfigError          a setting is missing, malformed or contradicts another (exit code 2)
    │   └── EngineRedirected the engine's URL answers with a redirect (3xx)
    ├── PositionsError       the position store cannot be read or written
    │   └── StoreLocked      another logship holds the position store's lock
    ├── DeadLetterError      the dead-letter file cannot be written (delivery must stop)
    ├── EngineUnreachable    no answer from the search engine (refused, reset, TLS failure)
    │   ├── EngineTimeout    no answer within `elasticsearch.request_timeout_seconds`
    │   └── BadAnswer        an answer that is not HTTP, is broken or exceeds `max_answer_bytes`
    ├── EngineRejected       the engine answered an administration request with an error
    └── PipelineFailed       a part of `logship run` failed unexpectedly (a bug): it stops, exit 1

Third-party exceptions are translated into these at the module that calls the library, with
``raise ... from`` so the original stays in the traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "BadAnswer",
    "ConfigError",
    "DeadLetterError",
    "EngineRedirected",
    "EngineRejected",
    "EngineTimeout",
    "EngineUnreachable",
    "LogshipError",
    "PipelineFailed",
    "PositionsError",
    "StoreLocked",
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


class StoreLocked(PositionsError):
    """Another process holds the position store's lock (or the lock file cannot be opened)."""


class DeadLetterError(LogshipError):
    """A rejected document could not be made durable in the dead-letter file."""


class EngineUnreachable(LogshipError):
    """The search engine did not answer (connection refused or reset, TLS failure)."""


class EngineTimeout(EngineUnreachable):
    """The search engine did not answer in time."""


class BadAnswer(EngineUnreachable):
    """The engine (or what stands in front of it) answered, but not with a usable HTTP answer:
    retried like a 5xx."""


class EngineRedirected(ConfigError):
    """A node answered with a redirect: `elasticsearch.hosts` names the wrong URL."""


class PipelineFailed(LogshipError):
    """A part of the pipeline ended with an error nothing handles (a bug): logship stops."""

    @classmethod
    def of(cls, task: asyncio.Task[None]) -> PipelineFailed:
        """The failure of ``task``, which ended (raised, or returned when it should not have)."""
        error = None if task.cancelled() else task.exception()
        failed = cls(f"the {task.get_name()} failed: {error!r}" if error else f"the {task.get_name()} ended")
        failed.__cause__ = error
        return failed


class EngineRejected(LogshipError):
    """The search engine answered an administration request (setup, prune) with an error."""
