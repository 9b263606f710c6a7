"""logship/progress.py: the replay progress line, and that it is drawn on a terminal only."""

from __future__ import annotations

import asyncio
import io
import os
import select
import time
from typing import TextIO

from logship.pipeline import ReplayProgress
from logship.progress import MiB, ProgressReporter, render


def test_render_shows_share_rate_and_time_left() -> None:
    p = ReplayProgress(total_bytes=100 * MiB, read_bytes=25 * MiB, records=50_000, started=10.0)
    line = render(p, now=20.0, width=20)
    # a quarter in 10 s: 5,000 records/s, 2.5 MiB/s, so 75 MiB need 30 s more
    assert line == ("[#####...............]  25.0%     25.0/100.0 MiB      5,000 records/s     30s left")


def test_render_caps_the_share_and_copes_with_empty_input() -> None:
    grown = ReplayProgress(total_bytes=MiB, read_bytes=2 * MiB, records=1, started=0.0)
    assert render(grown, now=1.0, width=10).startswith("[##########] 100.0%")  # a file grew meanwhile
    empty = ReplayProgress(total_bytes=0, started=5.0)
    assert render(empty, now=5.0, width=4).startswith("[####] 100.0%      0.0/0.0 MiB          0 records/s")


def follow_a_replay(stream: TextIO) -> tuple[ReplayProgress, int]:
    """A task that reads 4 MiB in four steps while the reporter follows it on ``stream``; the progress
    and the bytes the task had read when ``follow`` returned."""
    progress = ReplayProgress(total_bytes=4 * MiB)

    async def replay() -> None:
        for _ in range(4):
            await asyncio.sleep(0.05)
            progress.read(MiB, 1000)

    async def main() -> int:
        task = asyncio.create_task(replay())
        await ProgressReporter(progress, stream, interval=0.01).follow(task)
        read_then = progress.read_bytes
        await task
        return read_then

    return progress, asyncio.run(main())


def test_a_terminal_gets_the_line_redrawn_until_the_end() -> None:
    controller, terminal = os.openpty()
    try:
        with open(terminal, "w", closefd=False) as stream:
            _, read_then = follow_a_replay(stream)
        drawn = _read_until_newline(controller)
    finally:
        os.close(controller)
        os.close(terminal)
    assert read_then == 4 * MiB  # follow returned once the replay was over, not before
    frames = drawn.replace("\r\n", "\n").split("\r")[1:]
    assert len(frames) >= 3, drawn  # redrawn while running, not only at the end
    assert "  0.0%" in frames[0] or " 25.0%" in frames[0]
    assert frames[-1].startswith("[" + "#" * 30 + "] 100.0%") and frames[-1].endswith("\n")


def _read_until_newline(controller: int, timeout: float = 10.0) -> str:
    """What the terminal side was given, up to its last newline: the kernel hands a pty's output
    over to the controller side a moment later, so one non-blocking read may miss the end."""
    drawn = b""
    deadline = time.monotonic() + timeout
    while not drawn.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], deadline - time.monotonic())
        if ready:
            drawn += os.read(controller, 1 << 16)
    return drawn.decode()


def test_anything_else_gets_nothing_and_is_not_waited_on_for_it() -> None:
    stream = io.StringIO()
    _, read_then = follow_a_replay(stream)
    assert stream.getvalue() == ""
    assert read_then < 4 * MiB  # follow returned at once, with the replay still running
