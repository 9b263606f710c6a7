"""Delivered byte ranges of one file: the committed prefix and what is delivered beyond it.

Today a file's position is one offset: every byte below it is delivered, none above. Live-first
catch-up (issue 22) ships a file from two places at once, so its position becomes a
``DeliveredRanges``: the committed prefix ``[0, committed)`` plus sorted, disjoint, non-adjacent
ranges ``[start, end)`` beyond it. The two cursors commit into the same value:

- the **live cursor** starts at the end of the file when the backlog grows too large and
  delivers ``[live_start, ...)``: one range beyond the prefix that grows as it ships;
- the **backfill cursor** reads ``gaps(live_start)`` from the committed prefix and delivers
  into the prefix; when it reaches ``live_start`` the range coalesces into the prefix, and the
  file is followed as today (``joined``).

Blocks finish out of order, so each delivery is merged as it is acknowledged, and the value is
stored after every commit. After a restart ``gaps(size)`` lists exactly the bytes never
delivered: both cursors resume from it, and only what was in flight at the crash is read again
(and refused by id). The stored form is a compact list of pairs (``to_json``); ``from_json``
refuses anything that is not canonical rather than guessing which bytes were delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logship.errors import PositionsError

__all__ = ["DeliveredRanges", "Range"]

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class DeliveredRanges:
    """Delivered bytes of one file: ``[0, committed)`` and the ``beyond`` ranges after it."""

    committed: int = 0
    # sorted, disjoint, non-adjacent, each non-empty and starting after ``committed``
    beyond: tuple[Range, ...] = ()

    @property
    def joined(self) -> bool:
        """Everything delivered is one prefix: the file is followed from one offset, as today."""
        return not self.beyond

    @property
    def end(self) -> int:
        """The end of the highest delivered range: where a live cursor resumes."""
        return self.beyond[-1][1] if self.beyond else self.committed

    def deliver(self, start: int, end: int) -> DeliveredRanges:
        """This value with ``[start, end)`` delivered too; delivering a byte again changes nothing."""
        if not 0 <= start <= end:
            raise ValueError(f"cannot deliver [{start}, {end}): not a range of file offsets")
        if end <= self.committed or start == end:
            return self
        kept: list[Range] = []
        for s, e in self.beyond:
            # ranges that overlap or touch the new one merge with it, so none stay adjacent
            if s <= end and e >= start:
                start, end = min(start, s), max(end, e)
            else:
                kept.append((s, e))
        if start <= self.committed:
            return DeliveredRanges(max(end, self.committed), tuple(kept))
        kept.append((start, end))
        kept.sort()
        return DeliveredRanges(self.committed, tuple(kept))

    def gaps(self, up_to: int) -> list[Range]:
        """The undelivered ranges below ``up_to`` (a file's size), in file order: what to read."""
        found: list[Range] = []
        position = self.committed
        for s, e in self.beyond:
            if s >= up_to:
                break
            found.append((position, s))
            position = e
        if position < up_to:
            found.append((position, up_to))
        return found

    def undelivered(self, size: int) -> int:
        """Bytes of a file of ``size`` bytes not delivered."""
        beyond = sum(min(e, size) - s for s, e in self.beyond if s < size)
        return max(0, size - self.committed - beyond)

    def delivered(self, offset: int) -> bool:
        """Whether the byte at ``offset`` is delivered."""
        return offset < self.committed or any(s <= offset < e for s, e in self.beyond)

    def to_json(self) -> list[list[int]]:
        """The delivered ranges as ``[[start, end], ...]``: the prefix is the pair starting at 0."""
        pairs = [[0, self.committed]] if self.committed else []
        pairs.extend([s, e] for s, e in self.beyond)
        return pairs

    @classmethod
    def from_json(cls, data: Any, where: str = "delivered ranges") -> DeliveredRanges:
        """Read ``to_json``'s form back; raise PositionsError naming ``where`` when it is malformed."""
        if not isinstance(data, list):
            raise PositionsError(f"{where}: expected a list of [start, end] pairs, found {data!r}")
        ranges: list[Range] = []
        for index, pair in enumerate(data):
            ranges.append(_pair(pair, f"{where}, pair {index}"))
            if len(ranges) > 1 and ranges[-2][1] >= ranges[-1][0]:
                raise PositionsError(
                    f"{where}, pair {index}: {list(ranges[-1])} is not after {list(ranges[-2])}; "
                    "pairs must be sorted, disjoint and not touching (the store was not written "
                    "by logship or is damaged)"
                )
        if ranges and ranges[0][0] == 0:
            return cls(ranges[0][1], tuple(ranges[1:]))
        return cls(0, tuple(ranges))


def _pair(pair: Any, where: str) -> Range:
    """One ``[start, end]`` pair of non-negative integers with ``start < end``."""
    if (
        not isinstance(pair, list)
        or len(pair) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
    ):
        raise PositionsError(f"{where}: expected [start, end] with two integer offsets, found {pair!r}")
    start, end = pair
    if start < 0 or end <= start:
        raise PositionsError(
            f"{where}: [{start}, {end}] is not a non-empty range of file offsets (0 <= start < end)"
        )
    return start, end
