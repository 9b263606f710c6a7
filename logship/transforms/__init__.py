"""Transforms: Events in, Events out, applied in order after parsing. Enrichment is the first.

A transform may work on bytes (add JSON members to ``Events.splice``, which every fast record's
document gains, and update the decoded documents alike) or on decoded records (call
``logship.document.decode(events)`` first, then change ``Events.docs``).
"""

from __future__ import annotations

from typing import Protocol

from logship.block import Events

__all__ = ["Transform"]


class Transform(Protocol):
    @property
    def adds(self) -> frozenset[str]:
        """Fields this transform splices into fast records; the parser decodes a record that
        already has one, so the added value replaces the record's own."""
        ...

    def __call__(self, events: Events, /) -> Events: ...
