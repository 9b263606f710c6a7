"""Grouping complete lines into records: a line that does not start a record continues the last one.

The work is per block, not per line: one regex pass finds the continuation lines (a traceback
every few hundred records); the single-line records between them are handed on as runs of lines,
which the parser takes in its fast loop.
"""

from __future__ import annotations

import re

from logship.block import Block, SlowRecord

__all__ = ["RecordSplitter"]


class RecordSplitter:
    """Finds record boundaries in a buffer of complete lines."""

    def __init__(self, start_pattern: str, max_lines: int, max_line_bytes: int) -> None:
        body = start_pattern[1:] if start_pattern.startswith("^") else start_pattern
        # Matches the newline before a line that does NOT start a record. Starting the pattern
        # with a literal newline lets the regex engine skip ahead instead of trying every byte.
        self._continuation = re.compile(b"\n(?!(?:" + body.encode() + b"))")
        self._max_lines = max_lines
        self._max_line = max_line_bytes

    def split(self, buf: bytes, base: int, complete: int, hold_last: bool) -> tuple[Block | None, int]:
        """Split ``buf[:complete]`` (complete lines, starting at file offset ``base``).

        With ``hold_last`` the last record stays unread: its continuation may still be coming.
        Returns the block and how many bytes of ``buf`` it consumed.
        """
        if complete == 0:
            return None, 0
        # Continuation groups: (start of the record they belong to, first continuation byte, end).
        groups: list[tuple[int, int, int]] = []
        for match in self._continuation.finditer(buf, 0, complete - 1):
            pos = match.start() + 1
            end = buf.index(b"\n", pos) + 1
            if groups and groups[-1][2] == pos:
                groups[-1] = (groups[-1][0], groups[-1][1], end)
            else:
                groups.append((buf.rfind(b"\n", 0, pos - 1) + 1, pos, end))
        cut = complete
        if hold_last:
            if groups and groups[-1][2] == complete:
                cut = groups.pop()[0]
            else:
                cut = buf.rfind(b"\n", 0, complete - 1) + 1
            if cut == 0:
                return None, 0
        runs: list[tuple[int, list[bytes]]] = []
        records: list[SlowRecord] = []
        at = 0
        for start, first_cont, end in groups:
            if start > at:
                runs.append((base + at, buf[at : start - 1].split(b"\n")))
            records.append(self._record(buf, base, start, first_cont, end))
            at = end
        if cut > at:
            runs.append((base + at, buf[at : cut - 1].split(b"\n")))
        return Block(base, base + cut, runs, records), cut

    def _record(self, buf: bytes, base: int, start: int, first_cont: int, end: int) -> SlowRecord:
        first = buf[start : first_cont - 1]
        rest = buf[first_cont : end - 1]
        tag = None
        if rest.count(b"\n") >= self._max_lines:
            rest = b"\n".join(rest.split(b"\n", self._max_lines)[: self._max_lines])
            tag = "multiline_truncated"
        if len(first) > self._max_line:
            first = first[: self._max_line]
            tag = "line_truncated"
        return (base + start, first, rest, tag)
