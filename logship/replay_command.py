"""`logship replay`: ship named files (or dead-letter files) once, show progress, print the summary."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from logship import deadletter_files
from logship.allocator import keep_freed_memory_for
from logship.budget import InflightBudget
from logship.deadletter_files import remove_unchanged
from logship.errors import ConfigError
from logship.exitcodes import Exit
from logship.observe.logs import configure_logging
from logship.pipeline import ReplayProgress, inflight_budget, run_to_end
from logship.progress import ProgressReporter
from logship.settings import Settings
from logship.sinks import Outcome, Sink, Tally, log_warnings
from logship.sources.deadletter import DeadLetterSource
from logship.wiring import build_sink, dead_letter_source, file_replay_source

__all__ = ["replay", "replay_dead_letters", "summary"]

log = logging.getLogger(__name__)


def replay(
    settings: Settings, files: list[Path], *, print_only: bool, dead_letter: bool, max_retries: int
) -> int:
    """Exit 0 when every record was delivered, 1 when any was not, 2 on a usage error."""
    if max_retries < 0:
        raise ConfigError(["--max-retries: must be 0 or more"])
    configure_logging(settings.log.level)
    keep_freed_memory_for(settings)
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
        budget = inflight_budget(settings)
        sink = build_sink(settings, None, print_to=out, abandon_after=max_retries)
        log_warnings(sink)
        if dead_letter:
            work = replay_dead_letters(settings, dead_letter_source(files, progress.read), sink, budget)
        else:
            work = run_to_end(
                settings, file_replay_source(settings, files, budget, progress.read), sink, budget
            )
        task = asyncio.create_task(work)
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
    if tally[Outcome.PRINTED]:  # `--print` contacts no engine: nothing was indexed or refused
        return (
            f"records read: {progress.records}, printed: {tally[Outcome.PRINTED]}, "
            f"seconds: {now - progress.started:.2f}"
        )
    return (
        f"records read: {progress.records}, indexed: {tally[Outcome.INDEXED]}, already present: "
        f"{tally[Outcome.ALREADY_PRESENT]}, dead-lettered: {tally[Outcome.DEAD_LETTERED]}, not delivered: "
        f"{tally[Outcome.UNDELIVERED]}, seconds: {now - progress.started:.2f}"
    )


async def replay_dead_letters(
    settings: Settings, source: DeadLetterSource, sink: Sink, budget: InflightBudget
) -> Tally:
    """Send dead-lettered documents again, with their original index and id; once all are in
    the engine, remove the dead-letter files read."""
    tally = await run_to_end(settings, source, sink, budget)
    tally[Outcome.UNDELIVERED] += source.skipped
    if not any(tally[o] for o in (Outcome.DEAD_LETTERED, Outcome.UNDELIVERED, Outcome.PRINTED)):
        # Every document is in the engine now: the dead-letter files read make room (for a
        # `logship run` waiting on `dead_letter.max_bytes`). Those written to since stay.
        removed = await asyncio.to_thread(remove_unchanged, settings.dead_letter.path, source.read_files)
        if removed:
            log.info(
                "Removed the dead-letter files whose documents were all delivered",
                extra={"files": [str(p) for p in removed]},
            )
    return tally
