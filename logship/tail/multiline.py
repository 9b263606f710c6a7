"""Grouping complete lines into records: a line that does not start a record continues the last one.

The work is per block, not per line: one regex search tells whether a block holds any
continuation line at all; only then are record boundaries found line by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Block", "RecordSplitter", "SlowRecord"]

# (start offset, first line, continuation lines or None, tag or None)
SlowRecord = tuple[int, bytes, bytes | None, str | None]


@dataclass(slots=True)
class Block:
    """Complete records read from one file, from byte ``start`` up to byte ``end``.

    ``lines`` is the common case, one record per line and contiguous from ``start``;
    otherwise ``records`` lists each record with its own offset.
    """

    start: int
    end: int
    lines: list[bytes] | None
    records: list[SlowRecord] | None

    def __len__(self) -> int:
        return len(self.lines) if self.lines is not None else len(self.records or ())


class RecordSplitter:
    """Finds record boundaries in a buffer of complete lines."""

    def __init__(self, start_pattern: str, max_lines: int, max_line_bytes: int) -> None:
        body = start_pattern[1:] if start_pattern.startswith("^") else start_pattern
        self._starts = re.compile(start_pattern.encode(), re.MULTILINE)  # `^` must hold at any line start
        # Matches at the beginning of any line that does NOT start a record.
        self._continuation = re.compile(b"(?m)^(?!(?:" + body.encode() + b"))")
        self._max_lines = max_lines
        self._max_line = max_line_bytes

    def split(self, buf: bytes, base: int, complete: int, hold_last: bool) -> tuple[Block | None, int]:
        """Split ``buf[:complete]`` (complete lines, starting at file offset ``base``).

        With ``hold_last`` the last record stays unread: its continuation may still be coming.
        Returns the block and how many bytes of ``buf`` it consumed.
        """
        if complete == 0:
            return None, 0
        if self._continuation.search(buf, 0, complete - 1) is None:
            # Every line starts a record.
            cut = complete
            if hold_last:
                cut = buf.rfind(b"\n", 0, complete - 1) + 1
                if cut == 0:
                    return None, 0
            lines = buf[: cut - 1].split(b"\n")
            return Block(base, base + cut, lines, None), cut
        return self._slow(buf, base, complete, hold_last)

    def _slow(self, buf: bytes, base: int, complete: int, hold_last: bool) -> tuple[Block | None, int]:
        starts: list[int] = []
        pos = 0
        match = self._starts.match
        while pos < complete:
            nl = buf.index(b"\n", pos)
            if pos == 0 or match(buf, pos) is not None:
                starts.append(pos)
            pos = nl + 1
        if hold_last:
            cut = starts.pop()
            if not starts:
                return None, 0
        else:
            cut = complete
        records: list[SlowRecord] = []
        bounds = starts + [cut]
        for i in range(len(starts)):
            s, e = bounds[i], bounds[i + 1]
            nl = buf.index(b"\n", s)
            first = buf[s:nl]
            rest = buf[nl + 1 : e - 1] if nl + 1 < e else None
            tag = None
            if rest is not None and rest.count(b"\n") >= self._max_lines:
                rest = b"\n".join(rest.split(b"\n", self._max_lines)[: self._max_lines])
                tag = "multiline_truncated"
            if len(first) > self._max_line:
                first = first[: self._max_line]
                tag = "line_truncated"
            records.append((base + s, first, rest, tag))
        return Block(base, base + cut, None, records), cut
