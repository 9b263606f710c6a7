"""Log files as the application writes them, and Fluentd pos_file lines pointing into them."""

from __future__ import annotations

import logging
from pathlib import Path

FORMAT = (
    '{"timestamp": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": "%(message)s", '
    '"module": "%(module)s", "function": "%(funcName)s", "line": "%(lineno)d"}'
)


def write_log(path: Path, records: int, start: int = 0) -> None:
    """Write records through the logging module, as the application does."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger(f"aichat.test.{path.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for i in range(start, start + records):
            logger.info("record seq=%d", i)
    finally:
        logger.removeHandler(handler)
        handler.close()


def line_end(path: Path, lines: int) -> int:
    """Byte offset just after the first ``lines`` lines: where Fluentd's position stands."""
    data = path.read_bytes()
    offset = 0
    for _ in range(lines):
        offset = data.index(b"\n", offset) + 1
    return offset


def entry(path: Path, pos: int, ino: int) -> str:
    return f"{path}\t{pos:016x}\t{ino:016x}\n"
