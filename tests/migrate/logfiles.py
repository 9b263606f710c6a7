"""Log files as the application writes them, and Fluentd pos_file lines pointing into them."""

from __future__ import annotations

import logging
from pathlib import Path

from support.applog import app_log


def write_log(path: Path, records: int, start: int = 0) -> None:
    """Write records through the logging module, as the application does."""
    with app_log(logging.FileHandler(path, encoding="utf-8")) as logger:
        for i in range(start, start + records):
            logger.info("record seq=%d", i)


def line_end(path: Path, lines: int) -> int:
    """Byte offset just after the first ``lines`` lines: where Fluentd's position stands."""
    data = path.read_bytes()
    offset = 0
    for _ in range(lines):
        offset = data.index(b"\n", offset) + 1
    return offset


def entry(path: Path, pos: int, ino: int) -> str:
    return f"{path}\t{pos:016x}\t{ino:016x}\n"
