"""`logship replay`: ship named files (or dead-letter files) once, show progress, print the summary."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from logship import deadletter_files
from logship.allocator import keep_freed_memory_for
from logship.errors import ConfigError
from logship.exitcodes import Exit
from logship.observe.logs import configure_logging
from logship.pipeline import ReplayProgress, replay_dead_letters, replay_files
from logship.progress import ProgressReporter
from logship.settings import Settings
from logship.sinks import Outcome, Tally
from logship.sinks.elasticsearch.bulk import warn_about_transport

__all__ = ["replay"]


def replay(
    settings: Settings, files: list[Path], *, print_only: bool, dead_letter: bool, max_retries: int
) -> int:
    """Exit 0 when every record was delivered, 1 when any was not, 2 on a usage error."""
    if max_retries < 0:
        raise ConfigError(["--max-retries: must be 0 or more"])
    configure_logging(settings.log.level)
    keep_freed_memory_for(settings)
    if not print_only:
        warn_about_transport(settings.elasticsearch)
    if dead_letter:  # with its rotated copies, oldest first
        files = list(dict.fromkeys(p for f in files for p in deadletter_files.existing(f) or [f]))
    missing = [f"{f}: no such file" for f in files if not f.is_file()]
    if missing:
        for line in missing:
            print(f"logship replay: {line}", file=sys.stderr)
        return Exit.USAGE
    progress = ReplayProgress(total_bytes=sum(f.stat().st_size for f in files))
    reporter = ProgressReporter(progress, sys.stderr) if not print_only else None

    out = sys.stdout.buffer if print_only else None

    async def go() -> tuple[Tally, float]:
        task = asyncio.create_task(
            replay_dead_letters(settings, files, progress, max_retries)
            if dead_letter
            else replay_files(settings, files, progress, out, max_retries)
        )
        if reporter is not None:
            await reporter.follow(task)
        return await task, time.monotonic()

    tally, finished = asyncio.run(go())
    print(summary(progress, tally, finished), file=sys.stderr if print_only else sys.stdout)
    if tally[Outcome.DEAD_LETTERED]:
        print(
            f"dead-lettered documents are in {settings.dead_letter.path}; fix the cause, then run "
            f"`logship replay --dead-letter {settings.dead_letter.path}`",
            file=sys.stderr,
        )
    return Exit.FAILED if tally[Outcome.DEAD_LETTERED] or tally[Outcome.UNDELIVERED] else Exit.OK


def summary(progress: ReplayProgress, tally: Tally, now: float) -> str:
    """The line a replay ends with: what was read and what became of it."""
    return (
        f"records read: {progress.records}, indexed: {tally[Outcome.INDEXED]}, already present: "
        f"{tally[Outcome.ALREADY_PRESENT]}, dead-lettered: {tally[Outcome.DEAD_LETTERED]}, not delivered: "
        f"{tally[Outcome.UNDELIVERED]}, seconds: {now - progress.started:.2f}"
    )
