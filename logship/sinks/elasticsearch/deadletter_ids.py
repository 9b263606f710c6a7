"""The ids already in the dead-letter files, so that a document rejected again is not written twice.

Read from the files themselves (what was read of each is remembered per inode, so appends by
another process are picked up and only new bytes read); when a file was removed or cut, the
set is read again from scratch, so an id never stays known after its document left the files
(that would drop the document the next time it is rejected). The set is bounded: past
``MAX_IDS`` further ids are not remembered, which can only write a document twice, never lose one.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from logship import deadletter_files

__all__ = ["MAX_IDS", "KnownIds"]

log = logging.getLogger(__name__)

MAX_IDS = 1_000_000
# A dead-letter line as orjson writes it: time, index, then id (neither a time nor an index
# name can hold a quote, so this finds the id without decoding the line).
_ID = re.compile(rb'^\{"time":"[^"]*","index":"[^"]*","id":"([^"\\]*)"', re.MULTILINE)
# logship's own ids, "<16 hex digits>-<offset>", packed into one int (a third of a str's memory).
_OWN = re.compile(r"([0-9a-f]{16})-([0-9]{1,15})")
_READ_BLOCK = 1 << 20


def _key(doc_id: str) -> int | str:
    match = _OWN.fullmatch(doc_id)
    return int(match.group(1), 16) << 50 | int(match.group(2)) if match else doc_id


class KnownIds:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[int | str] = set()
        self._read: dict[tuple[int, int], int] = {}  # (dev, inode) -> bytes read
        self._warned = False

    def __contains__(self, doc_id: str) -> bool:
        return _key(doc_id) in self._ids

    def add(self, doc_id: str) -> None:
        if len(self._ids) < MAX_IDS:
            self._ids.add(_key(doc_id))
        elif not self._warned:
            self._warned = True
            log.warning(
                "The dead-letter files hold more documents than logship remembers; a document "
                "rejected again may be written to them twice",
                extra={"dead_letter_file": str(self.path), "remembered": MAX_IDS},
            )

    def appended(self, target: Path, size_before: int, nbytes: int) -> None:
        """We appended ``nbytes`` to ``target`` (ids added by the caller): no need to read them back."""
        st = target.stat()
        key = (st.st_dev, st.st_ino)
        if self._read.get(key, 0) == size_before:
            self._read[key] = size_before + nbytes

    def sync(self) -> None:
        """Catch up with the files as they are now. Call under ``deadletter_files.locked``."""
        files = []
        for p in deadletter_files.existing(self.path):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            files.append((p, (st.st_dev, st.st_ino), st.st_size))
        present = {key for _, key, _ in files}
        if any(key not in present for key in self._read) or any(
            size < self._read.get(key, 0) for _, key, size in files
        ):
            self._ids.clear()
            self._read.clear()
        for p, key, size in files:
            start = self._read.get(key, 0)
            if size > start:
                self._read[key] = start + self._scan(p, start, size)

    def _scan(self, path: Path, start: int, end: int) -> int:
        """Add the ids of the whole lines in ``path[start:end]``; returns the bytes consumed."""
        consumed = 0
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            carry = b""
            pos = start
            while pos < end:
                block = os.pread(fd, min(_READ_BLOCK, end - pos), pos)
                if not block:
                    break
                pos += len(block)
                data = carry + block
                cut = data.rfind(b"\n") + 1
                for match in _ID.finditer(data, 0, cut):
                    self.add(match.group(1).decode("utf-8", errors="replace"))
                consumed += cut
                carry = data[cut:]
        finally:
            os.close(fd)
        return consumed
