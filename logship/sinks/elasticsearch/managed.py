"""Objects logship installs on the engine, and how `logship setup` tells whether one is current.

Each object (index template, lifecycle policy) carries a marker: ``managed_by: logship`` and a
digest of the body logship would install. The engine normalises what it stores (numbers as
strings, defaults filled in), so the digest, not the stored body, says whether it is current:

* absent                                   -> created
* marker with the same digest              -> already up to date (nothing sent)
* marker with another digest               -> updated (the configuration or logship changed)
* present without logship's marker         -> left alone, unless ``--overwrite``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from logship import hashing
from logship.sinks.elasticsearch.admin import Request

__all__ = ["MANAGED_BY", "Outcome", "Step", "digest", "judge"]

MANAGED_BY = "logship"

Outcome = Literal["create", "update", "up to date", "foreign"]

_PAST = {"create": "created", "update": "updated", "up to date": "already up to date"}


def digest(body: Any) -> str:
    """A short, stable hash of a JSON body (key order does not matter)."""
    return hashing.digest(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


def judge(present: bool, marker: dict[str, Any] | None, wanted: str, overwrite: bool) -> Outcome:
    """What to do with an object, given whether it exists and the marker it carries."""
    if not present:
        return "create"
    if not isinstance(marker, dict) or marker.get("managed_by") != MANAGED_BY:
        return "update" if overwrite else "foreign"
    return "up to date" if marker.get("digest") == wanted else "update"


@dataclass
class Step:
    """One object: what it is, what setup does about it, and the request that does it."""

    what: str
    outcome: Outcome
    request: Request | None = None
    send: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    def line(self, dry_run: bool) -> str:
        if self.outcome == "foreign":
            return (
                f"{self.what}: exists and was not installed by logship; left alone "
                "(pass --overwrite to replace it)"
            )
        if dry_run and self.outcome != "up to date":
            return f"{self.what}: would be {_PAST[self.outcome]}"
        return f"{self.what}: {_PAST[self.outcome]}"
