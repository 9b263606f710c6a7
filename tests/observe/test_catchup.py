"""BacklogTrend: the time a catch-up has left, from how its backlog shrank over the last minute."""

from __future__ import annotations

from logship.observe.catchup import BacklogTrend
from logship.sources import CatchUp


def backlog(nbytes: int) -> CatchUp:
    return CatchUp(backlog_bytes=nbytes, oldest_seconds=None, files=1)


def test_no_estimate_from_one_look_or_looks_too_close_together() -> None:
    trend = BacklogTrend()
    trend.add(0.0, backlog(1000))
    assert trend.seconds_left() is None
    trend.add(1.0, backlog(900))  # one second: too short to tell a rate
    assert trend.seconds_left() is None
    trend.add(2.0, backlog(800))
    assert trend.seconds_left() == 800 / 100


def test_the_rate_spans_the_last_minute_only() -> None:
    trend = BacklogTrend(window=60.0)
    trend.add(0.0, backlog(100_000))
    trend.add(50.0, backlog(10_000))  # fast at first
    for t in range(60, 130, 10):
        trend.add(float(t), backlog(10_000 - (t - 50) * 10))  # then 10 bytes/s
    # From the look at 60 s (9,900) to the one at 120 s (9,300): 10 bytes/s, 930 s to go.
    assert trend.seconds_left() == 9_300 / 10


def test_unknown_while_the_backlog_grows_or_holds_and_forgotten_once_caught_up() -> None:
    trend = BacklogTrend()
    trend.add(0.0, backlog(1000))
    trend.add(10.0, backlog(1000))
    assert trend.seconds_left() is None
    trend.add(20.0, backlog(1500))
    assert trend.seconds_left() is None
    trend.add(30.0, None)  # caught up
    trend.add(40.0, backlog(500))
    assert trend.seconds_left() is None  # a new catch-up starts with no past
