"""Grouping complete lines into records: a line that does not start a record continues the last one.

The work is per block, not per line: one regex pass finds the continuation lines (a traceback
every few hundred records); the single-line records between them are handed on as runs of lines,
which the parser takes in its fast loop.
"""

from __future__ import annotations

import re
from itertools import repeat

from logship.block import Block, SlowRecord

__all__ = ["RecordSplitter", "literal_prefix"]

_SPECIAL = frozenset(".^$*+?{}[]|()")


def literal_prefix(body: str) -> bytes | None:
    """The bytes a start pattern (without its ``^``) matches when it is a plain literal (``\\{``,
    ``[20``…), else None."""
    out: list[str] = []
    chars = iter(body)
    for c in chars:
        if c == "\\":
            escaped = next(chars, "")
            if not escaped or escaped.isalnum() or not escaped.isascii():
                return None  # \d, \n, a trailing backslash: not a literal
            out.append(escaped)
        elif c in _SPECIAL:
            return None
        else:
            out.append(c)
    return "".join(out).encode()


class RecordSplitter:
    """Finds record boundaries in a buffer of complete lines."""

    def __init__(self, start_pattern: str, max_lines: int, max_line_bytes: int, max_bytes: int) -> None:
        body = start_pattern[1:] if start_pattern.startswith("^") else start_pattern
        # Matches the newline before a line that does NOT start a record. Starting the pattern
        # with a literal newline lets the regex engine skip ahead instead of trying every byte.
        self._continuation = re.compile(b"\n(?!(?:" + body.encode() + b"))")
        # A literal start (the default `^\{`) is checked per line at C speed, without a regex scan.
        self._prefix = literal_prefix(body)
        self._max_lines = max_lines
        self._max_line = max_line_bytes
        self._max_bytes = max_bytes

    def starts_record(self, buf: bytes, at: int) -> bool:
        """Whether the line at ``buf[at]`` (0, or just after a newline) starts a record."""
        return at == 0 or self._continuation.match(buf, at - 1) is None

    def split(self, buf: bytes, base: int, complete: int, hold_last: bool) -> tuple[Block | None, int]:
        """Split ``buf[:complete]`` (complete lines, starting at file offset ``base``).

        With ``hold_last`` the last record stays unread: its continuation may still be coming.
        Returns the block and how many bytes of ``buf`` it consumed.
        """
        if complete == 0:
            return None, 0
        if self._prefix is not None and buf.rfind(b"\n") + 1 == complete:
            return self._split_lines(buf, base, complete, hold_last, self._prefix)
        # Continuation groups: (start of the record they belong to, first continuation byte, end).
        found: list[tuple[int, int, int]] = []
        for match in self._continuation.finditer(buf, 0, complete - 1):
            pos = match.start() + 1
            end = buf.index(b"\n", pos) + 1
            if found and found[-1][2] == pos:
                found[-1] = (found[-1][0], found[-1][1], end)
            else:
                found.append((buf.rfind(b"\n", 0, pos - 1) + 1, pos, end))
        groups = [piece for group in found for piece in self._capped(buf, *group)]
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
        for start, first_cont, end, tag in groups:
            if start > at:
                runs.append((base + at, buf[at : start - 1].split(b"\n")))
            records.append(self._record(buf, base, start, first_cont, end, tag))
            at = end
        if cut > at:
            runs.append((base + at, buf[at : cut - 1].split(b"\n")))
        return Block(base, base + cut, runs, records), cut

    def _split_lines(
        self, buf: bytes, base: int, complete: int, hold_last: bool, prefix: bytes
    ) -> tuple[Block | None, int]:
        """``split`` for a literal start: the buffer is split into lines once, runs are slices of
        that list, and only the lines bounding continuation groups are located in bytes."""
        lines = buf.split(b"\n")
        del lines[-1]  # what follows `complete`: b"" or an unterminated line
        n = len(lines)
        starts = list(map(bytes.startswith, lines, repeat(prefix)))
        starts[0] = True  # the first line starts a record, whatever it holds
        found = _continuation_lines(starts)
        # Byte offsets of those lines, from the lengths of the lines before them.
        off = {0: 0}
        line = pos = 0
        for mark in (m for group in found for m in group):
            if mark not in off:
                pos += sum(map(len, lines[line:mark])) + mark - line
                off[line := mark] = pos
        off[n], off[n - 1] = complete, complete - len(lines[-1]) - 1
        pieces = [self._capped(buf, off[first], off[cont], off[end]) for first, cont, end in found]
        cut, cut_line = complete, n
        if hold_last:
            if found and found[-1][2] == n:
                held = pieces[-1].pop()
                cut = held[0]
                if pieces[-1]:  # its earlier pieces go now, and nothing follows them
                    cut_line = -1
                else:  # the whole record waits
                    pieces.pop()
                    cut_line = found.pop()[0]
            else:
                cut, cut_line = off[n - 1], n - 1
            if cut == 0:
                return None, 0
        runs: list[tuple[int, list[bytes]]] = []
        records: list[SlowRecord] = []
        at = 0
        for (first, _, end), group in zip(found, pieces, strict=True):
            if first > at:
                runs.append((base + off[at], lines[at:first]))
            records += [self._record(buf, base, *piece) for piece in group]
            at = end
        if cut_line > at:
            runs.append((base + off[at], lines[at:cut_line]))
        return Block(base, base + cut, runs, records), cut

    def _capped(
        self, buf: bytes, start: int, first_cont: int, end: int
    ) -> list[tuple[int, int, int, str | None]]:
        """A record cut into records of at most ``max_lines`` continuation lines and ``max_bytes``.

        Nothing is dropped: the lines past a cap start a new record, so a runaway traceback or a
        plain-text file is shipped in bounded pieces, and the reader never holds more than one
        piece back while it waits for the rest.
        """
        max_lines, max_bytes = self._max_lines, self._max_bytes
        if end - start <= max_bytes and buf.count(b"\n", first_cont, end) <= max_lines:
            return [(start, first_cont, end, None)]
        pieces: list[tuple[int, int, int, str | None]] = []
        head, cont, pos, lines = start, first_cont, first_cont, 0
        while pos < end:
            nl = buf.index(b"\n", pos) + 1
            if lines and (lines == max_lines or nl - head > max_bytes):
                pieces.append((head, cont, pos, "multiline_continued" if pieces else "multiline_truncated"))
                head, cont, lines = pos, nl, 0  # this line starts the next piece
            else:
                lines += 1
            pos = nl
        pieces.append((head, cont, end, "multiline_continued" if pieces else None))
        return pieces

    def _record(
        self, buf: bytes, base: int, start: int, first_cont: int, end: int, tag: str | None
    ) -> SlowRecord:
        first = buf[start : first_cont - 1]
        rest = buf[first_cont : end - 1] if first_cont < end else None
        if len(first) > self._max_line:
            first = first[: self._max_line]
            tag = "line_truncated"
        return SlowRecord(base + start, first, rest, tag)


def _continuation_lines(starts: list[bool]) -> list[tuple[int, int, int]]:
    """Continuation groups by line number, from which lines start a record: (the record's first
    line, its first continuation line, the line after its last)."""
    found: list[tuple[int, int, int]] = []
    if all(starts):
        return found
    n, at = len(starts), 1
    while True:
        try:
            cont = starts.index(False, at)
        except ValueError:
            return found
        end = cont + 1
        while end < n and not starts[end]:
            end += 1
        found.append((cont - 1, cont, end))
        at = end
