#!/usr/bin/env python3
"""Write AI Chat backend logs the way the backend itself writes them.

The backend logs through Python's ``logging`` module with a hand-built "JSON" format string
and the date format ``%Y-%m-%d %H:%M:%S``; this writer does the same, so what it produces has
the backend's quirks, on purpose and at rates you choose:

* the format string does not escape the message, so a message holding a double quote or a
  backslash makes a line no JSON parser accepts (``--quote-every``);
* ``logger.exception()`` appends a multi-line Python traceback after the JSON line
  (``--traceback-every``; such a record replaces the ordinary one of its seq).

Every message carries a unique token ``seq=<n>``, so a checker can verify that each record
arrived exactly once.

Rotation is either the backend's ``RotatingFileHandler`` (rename: NAME -> NAME.1 -> NAME.2 ...,
``--max-bytes``, ``--backup-count``) or, with ``--copytruncate-bytes``, logrotate's copytruncate:
the file is copied to NAME.1 (older copies shifted up) and truncated in place while the handler
keeps writing through its O_APPEND descriptor.

Examples:

    bench/aichat_logger.py --dir /tmp/aichat --records 100000
    bench/aichat_logger.py --dir /tmp/aichat --records 50000 --rate 2000 --max-bytes 1000000
    bench/aichat_logger.py --dir /tmp/aichat --records 50000 --copytruncate-bytes 1000000

``--times FILE`` writes each record's seq and the wall-clock time its line was written (after the
handler flushed it), for measuring the delay from write to searchable. SIGTERM stops the writer
after the record being written; the summary says how many were written.

Standard library only.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The backend's logging configuration, character for character.
LOG_FORMAT = (
    '{"timestamp": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", '
    '"message": "%(message)s", "module": "%(module)s", "function": "%(funcName)s", '
    '"line": "%(lineno)d"}'
)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LOGGER_NAME = "aichat"

MODELS = ("gpt-4", "gpt-4o", "claude-3", "llama-3")
ACTIONS = ("send_message", "create_conversation", "upload_file", "login", "logout", "ai_request")
# fmt: off
VOCABULARY = (
    "hello", "can", "you", "help", "me", "write", "a", "short", "summary", "of", "this", "report",
    "please", "explain", "the", "error", "in", "my", "code", "translate", "it", "into", "french",
    "what", "does", "the", "model", "answer", "stream", "tokens", "upload", "pdf",
)
# fmt: on
NON_ASCII = " naïve café 日本語 🚀"
# Levels of the ordinary records, with their weights in percent.
LEVELS = ((logging.INFO, 90), (logging.WARNING, 8), (logging.ERROR, 2))


@dataclass(frozen=True)
class Options:
    """The command line, parsed."""

    directory: Path
    file: str
    records: int
    start_seq: int
    rate: float
    max_bytes: int
    backup_count: int
    copytruncate_bytes: int
    traceback_every: int
    quote_every: int
    seed: int
    times: Path | None = None


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n", 1)[0],
        epilog="Every NTH option counts in seq: seq % N == N - 1 is affected; 0 turns it off.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="directory of the log file (created)")
    parser.add_argument("--file", default="app.log", help="log file name inside --dir (default: %(default)s)")
    parser.add_argument("--records", type=int, required=True, help="number of records to write")
    parser.add_argument("--start-seq", type=int, default=0, help="seq of the first record (default: 0)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="records per second; 0 = as fast as possible (default)"
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=10 * 1024 * 1024,
        help="RotatingFileHandler: rotate by rename at this size; 0 = never (default: %(default)s)",
    )
    parser.add_argument(
        "--backup-count", type=int, default=5, help="rotated files kept (default: %(default)s)"
    )
    parser.add_argument(
        "--copytruncate-bytes",
        type=int,
        default=0,
        help="rotate by copy and truncate in place at this size instead of by rename; 0 = off (default)",
    )
    parser.add_argument(
        "--traceback-every",
        type=int,
        default=500,
        metavar="N",
        help="every Nth record is logged with logger.exception() (default: %(default)s)",
    )
    parser.add_argument(
        "--quote-every",
        type=int,
        default=200,
        metavar="N",
        help='every Nth message holds a " and a \\, breaking its JSON line (default: %(default)s)',
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--times",
        type=Path,
        metavar="FILE",
        help="write `seq unix-time` per record, the time its line was written (default: none)",
    )
    ns = parser.parse_args(argv)
    for name in ("records", "start_seq", "max_bytes", "backup_count", "copytruncate_bytes"):
        if getattr(ns, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    if ns.rate < 0 or ns.traceback_every < 0 or ns.quote_every < 0:
        parser.error("--rate, --traceback-every and --quote-every must not be negative")
    return Options(
        directory=ns.dir,
        file=ns.file,
        records=ns.records,
        start_seq=ns.start_seq,
        rate=ns.rate,
        max_bytes=ns.max_bytes,
        backup_count=ns.backup_count,
        copytruncate_bytes=ns.copytruncate_bytes,
        traceback_every=ns.traceback_every,
        quote_every=ns.quote_every,
        seed=ns.seed,
        times=ns.times,
    )


def make_handler(path: Path, opts: Options) -> logging.FileHandler:
    """The backend's file handler: rotating by rename, or a plain one when copytruncate rotates."""
    handler: logging.FileHandler
    if opts.copytruncate_bytes:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")  # opened with O_APPEND
    else:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=opts.max_bytes, backupCount=opts.backup_count, encoding="utf-8"
        )
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=DATE_FORMAT))
    handler.setLevel(logging.INFO)
    return handler


def copytruncate(path: Path, backup_count: int) -> None:
    """Rotate as logrotate's copytruncate does: shift NAME.i to NAME.i+1, copy NAME to NAME.1,
    truncate NAME in place (the writer's descriptor stays open and appends at the new end)."""
    if backup_count > 0:
        for i in range(backup_count - 1, 0, -1):
            src = path.with_name(f"{path.name}.{i}")
            if src.exists():
                os.replace(src, path.with_name(f"{path.name}.{i + 1}"))
        shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)


class Backend:
    """The parts of the AI Chat backend that log; one call writes one record."""

    def __init__(self, logger: logging.Logger, rng: random.Random) -> None:
        self.log = logger
        self.rng = rng

    def _text(self) -> str:
        rng = self.rng
        words = " ".join(rng.choices(VOCABULARY, k=rng.randint(3, 15)))
        if rng.random() < 0.02:
            words += NON_ASCII
        return words

    def handle_chat_request(self, seq: int, *, quoted: bool = False) -> None:
        """An ordinary record: what a request did, for which user, conversation and model."""
        rng = self.rng
        text = self._text()
        if quoted:  # the format string does not escape these: the line is no longer JSON
            text = f'prompt "{text}" in C:\\chats\\{seq}'
        level = rng.choices([lvl for lvl, _ in LEVELS], weights=[w for _, w in LEVELS])[0]
        self.log.log(
            level,
            "seq=%d action=%s model=%s user_id=%d conversation_id=%d %s",
            seq,
            rng.choice(ACTIONS),
            rng.choice(MODELS),
            rng.randint(1, 5000),
            rng.randint(1, 90000),
            text,
        )

    def query_database(self, seq: int) -> None:
        """A failed database call, logged with its traceback (one frame: four lines after the JSON)."""
        try:
            raise ConnectionError(f"connection to postgres refused (attempt {seq % 3 + 1})")
        except ConnectionError:
            self.log.exception("seq=%d Database connection failed", seq)


def file_size(handler: logging.FileHandler) -> int:
    """Size of the file the handler writes, through the handler's own descriptor."""
    stream = handler.stream
    return os.fstat(stream.fileno()).st_size if stream is not None else 0


def every(n: int, seq: int) -> bool:
    """True for the Nth, 2Nth, ... seq (seq % n == n - 1); never when n is 0."""
    return n > 0 and seq % n == n - 1


def write(opts: Options) -> tuple[int, float]:
    """Write the records (until SIGTERM at most); return how many and the seconds it took."""
    opts.directory.mkdir(parents=True, exist_ok=True)
    path = opts.directory / opts.file
    handler = make_handler(path, opts)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    backend = Backend(logger, random.Random(opts.seed))
    stopped: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    times = opts.times.open("w") if opts.times is not None else None
    started = time.monotonic()
    written = 0
    try:
        for i in range(opts.records):
            if stopped:
                break
            seq = opts.start_seq + i
            if every(opts.traceback_every, seq):
                backend.query_database(seq)
            else:
                backend.handle_chat_request(seq, quoted=every(opts.quote_every, seq))
            written += 1
            if times is not None:
                times.write(f"{seq} {time.time():.6f}\n")
            if opts.copytruncate_bytes and file_size(handler) >= opts.copytruncate_bytes:
                copytruncate(path, opts.backup_count)
            if opts.rate > 0:
                ahead = (i + 1) / opts.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        logger.removeHandler(handler)
        handler.close()
        if times is not None:
            times.close()
    return written, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    written, seconds = write(opts)
    last = opts.start_seq + written - 1
    print(
        f"wrote {written} records (seq {opts.start_seq}..{last}) to {opts.directory / opts.file} "
        f"in {seconds:.2f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
