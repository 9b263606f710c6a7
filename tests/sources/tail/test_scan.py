"""The scanner against a real directory whose names move between its listing and its opens."""

from __future__ import annotations

import os
import time
from pathlib import Path

from logship.settings import MultilineSettings, TailSettings
from logship.sources.tail.discovery import Candidate, Discovery
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import StoreState
from logship.sources.tail.scan import Scanner


class RotatesAfterListing(Discovery):
    """Lists, then rotates the directory once (app.log.N -> N+1, app.log -> .1, a new app.log)
    before the scanner opens what it listed, as a rotation in a busy application does."""

    def __init__(self, logs: Path, tail: TailSettings) -> None:
        super().__init__(tail.paths, tail.exclude, set(), [])
        self.logs = logs
        self.rotate_once = True

    def scan(self) -> list[Candidate]:
        listed = super().scan()
        if self.rotate_once:
            self.rotate_once = False
            for n in sorted((int(p.suffix[1:]) for p in self.logs.glob("app.log.*")), reverse=True):
                os.rename(self.logs / f"app.log.{n}", self.logs / f"app.log.{n + 1}")
            os.rename(self.logs / "app.log", self.logs / "app.log.1")
            (self.logs / "app.log").write_bytes(b'{"n": "new"}\n')
        return listed


def test_a_rotated_file_renamed_between_listing_and_opening_is_opened_at_the_next_scan(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    last_scan = time.time() - 100
    for name, n in (("app.log", 3), ("app.log.1", 2), ("app.log.2", 1)):
        (logs / name).write_bytes(b'{"n": %d}\n' % n)
        # Written after the last scan (so shipped in full), but more than a scan ago by now.
        os.utime(logs / name, (last_scan + 50, last_scan + 50))
    tail = TailSettings(paths=[str(logs / "*.log")], positions_dir=tmp_path / "positions")
    m = MultilineSettings()
    splitter = RecordSplitter(r"^\{", m.max_lines, tail.max_line_bytes, m.max_bytes)
    scanner = Scanner(tail, splitter, StoreState({}, last_scan, None), set())
    scanner.discovery = RotatesAfterListing(logs, tail)
    inodes = {os.stat(p).st_ino for p in logs.iterdir()}
    try:
        scanner.scan(initial=True)  # every rotated file's name now leads to another file
        scanner.scan(initial=False)
        followed = {f.ino: f.reader.next_read for f in scanner.files}
        assert inodes <= followed.keys()  # the three files listed first, whatever their names now
        assert all(followed[ino] == 0 for ino in inodes)  # each from its start
    finally:
        scanner.close()
