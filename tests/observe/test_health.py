from __future__ import annotations

from datetime import datetime

from logship.observe.health import HealthState
from logship.sources import CatchUp


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, lag: list[int] | None = None) -> HealthState:
    lag = lag if lag is not None else [0]
    return HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: lag[0], clock=clock)


def checks(state: HealthState) -> dict[str, dict[str, str]]:
    _, body = state.report()
    result = body["checks"]
    assert isinstance(result, dict)
    return result


def test_fresh_state_is_healthy_in_the_guides_shape() -> None:
    healthy, body = make(Clock()).report()
    assert healthy
    assert body["status"] == "healthy"
    assert set(body) == {"status", "timestamp", "version", "checks", "catch_up"}
    assert isinstance(body["timestamp"], str) and body["timestamp"].endswith("Z")
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).utcoffset() is not None
    assert body["checks"] == {
        "search_engine": {"status": "pass", "detail": "no request yet"},
        "positions": {"status": "pass", "detail": "not written yet"},
        "dead_letter": {"status": "pass", "detail": "writable"},
        "files": {"status": "pass", "detail": "all files open"},
        "delivery": {"status": "pass", "detail": "lag 0 bytes"},
        "catch_up": {"status": "pass", "detail": "following: no backlog"},
    }
    assert body["catch_up"] == {"catching_up": False}


def test_files_that_cannot_be_opened_fail_the_files_check_and_name_them() -> None:
    waiting = ["/logs/app.log", "/logs/app.log.1"]
    state = HealthState(
        engine_timeout_seconds=60,
        stall_seconds=300,
        lag_bytes=lambda: 0,
        unopened=lambda: waiting,
        clock=Clock(),
    )
    healthy, body = state.report()
    assert not healthy and body["status"] == "unhealthy"
    assert checks(state)["files"] == {
        "status": "fail",
        "detail": "2 files cannot be opened (retried at every tick): /logs/app.log, /logs/app.log.1",
    }
    waiting.clear()
    assert state.report()[0]


def test_engine_fails_on_failed_attempt_and_recovers_on_answer() -> None:
    clock = Clock()
    state = make(clock)
    assert not state.engine_unreachable
    state.engine_failed("connection refused")
    assert state.engine_unreachable  # a catch-up keeps its live cursors at the end meanwhile
    healthy, body = state.report()
    assert not healthy and body["status"] == "unhealthy"
    assert checks(state)["search_engine"] == {
        "status": "fail",
        "detail": "last request failed: connection refused",
    }
    state.engine_answered()
    assert not state.engine_unreachable
    assert checks(state)["search_engine"]["status"] == "pass"
    assert state.report()[0]


def test_engine_fails_when_last_answer_is_too_old() -> None:
    clock = Clock()
    state = make(clock)
    state.engine_answered()
    clock.now += 60
    assert checks(state)["search_engine"]["status"] == "pass"
    clock.now += 1
    engine = checks(state)["search_engine"]
    assert engine["status"] == "fail" and "no answer for 61s" in engine["detail"]


def test_positions_fail_only_while_last_write_failed() -> None:
    state = make(Clock())
    state.positions_written()
    state.positions_failed("No space left on device")
    positions = checks(state)["positions"]
    assert positions == {"status": "fail", "detail": "last write failed: No space left on device"}
    state.positions_written()
    assert checks(state)["positions"]["status"] == "pass"


def test_delivery_stall_counts_from_start_when_never_delivered() -> None:
    clock = Clock()
    lag = [100]
    state = make(clock, lag)
    clock.now += 299
    assert checks(state)["delivery"]["status"] == "pass"
    clock.now += 1
    delivery = checks(state)["delivery"]
    assert delivery["status"] == "fail"
    assert "100 bytes waiting" in delivery["detail"] and "since start" in delivery["detail"]
    assert not state.report()[0]


def test_delivery_stall_counts_from_last_delivery() -> None:
    clock = Clock()
    lag = [100]
    state = make(clock, lag)
    clock.now += 250
    state.delivered()
    clock.now += 299
    assert checks(state)["delivery"]["status"] == "pass"
    clock.now += 1
    assert checks(state)["delivery"]["status"] == "fail"
    state.delivered()
    assert checks(state)["delivery"]["status"] == "pass"


def test_idle_without_lag_is_not_a_stall() -> None:
    clock = Clock()
    state = make(clock, [0])
    clock.now += 10_000
    assert checks(state)["delivery"] == {"status": "pass", "detail": "lag 0 bytes"}


def test_broken_lag_probe_fails_the_check_instead_of_raising() -> None:
    def broken() -> int:
        raise OSError("stat failed")

    state = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=broken)
    delivery = checks(state)["delivery"]
    assert delivery["status"] == "fail" and "stat failed" in delivery["detail"]


def test_catching_up_passes_and_estimates_the_time_left_from_the_last_minute() -> None:
    clock = Clock()
    backlog: list[CatchUp | None] = [CatchUp(backlog_bytes=6_000_000, oldest_seconds=None, files=1)]
    state = HealthState(
        engine_timeout_seconds=60,
        stall_seconds=300,
        lag_bytes=lambda: 0,
        catch_up=lambda: backlog[0],
        clock=clock,
    )
    assert checks(state)["catch_up"] == {
        "status": "pass",
        "detail": "catching up live-first: 6000000 bytes of backlog in 1 file, time left unknown "
        "(the backlog did not shrink over the last minute)",
    }
    for _ in range(4):  # looks every 5 s by the service: 100,000 bytes/s
        clock.now += 5
        backlog[0] = CatchUp(backlog[0].backlog_bytes - 500_000, 1800.0, 1)  # type: ignore[union-attr]
        state.look_at_catch_up()
    healthy, body = state.report()
    assert healthy and body["catch_up"] == {
        "catching_up": True,
        "backlog_bytes": 4_000_000,
        "files": 1,
        "oldest_seconds": 1800.0,
        "seconds_left": 40.0,
    }
    assert checks(state)["catch_up"]["detail"].endswith("oldest record 1800s old, about 40s left")
    clock.now += 5
    backlog[0] = CatchUp(7_000_000, 1805.0, 1)  # a burst: more than a minute ago it was smaller
    assert "time left unknown" in checks(state)["catch_up"]["detail"]
    backlog[0] = None
    assert checks(state)["catch_up"]["detail"] == "following: no backlog"


def test_a_broken_catch_up_probe_reports_as_following() -> None:
    def broken() -> CatchUp | None:
        raise OSError("gone")

    state = HealthState(
        engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0, catch_up=broken, clock=Clock()
    )
    healthy, _ = state.report()
    assert healthy and checks(state)["catch_up"]["detail"] == "following: no backlog"
