"""What the sink does with each status, and how long it waits before trying again."""

from __future__ import annotations

import random

import pytest

from logship.sinks.elasticsearch.retry import Backoff, Limits, Verdict, classify_item, classify_request


@pytest.mark.parametrize("status", [200, 201, 409])
def test_item_created_or_already_present_is_delivered(status: int) -> None:
    assert classify_item(status) is Verdict.DELIVERED


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_item_throttled_or_failing_on_the_engine_is_retried(status: int) -> None:
    assert classify_item(status) is Verdict.RETRY


@pytest.mark.parametrize("status", [403, 404])
def test_item_refused_for_its_index_is_retried(status: int) -> None:
    assert classify_item(status) is Verdict.RETRY


@pytest.mark.parametrize("status", [0, 202, 301, 400, 401, 408, 413, 422, 499])
def test_item_rejected_for_good_is_dead_lettered(status: int) -> None:
    assert classify_item(status) is Verdict.DEAD


def test_request_200_is_delivered_item_by_item() -> None:
    assert classify_request(200, 2) == (Verdict.DELIVERED, "")


def test_request_413_is_split() -> None:
    assert classify_request(413, 2) == (Verdict.SPLIT, "http_413")


def test_request_400_is_split() -> None:
    assert classify_request(400, 2) == (Verdict.SPLIT, "http_4xx")


@pytest.mark.parametrize("status", [400, 413])
def test_a_single_document_refused_is_dead_lettered(status: int) -> None:
    assert classify_request(status, 1)[0] is Verdict.DEAD


@pytest.mark.parametrize(("failures", "verdict"), [(0, Verdict.RETRY), (3, Verdict.RETRY), (4, Verdict.DEAD)])
def test_past_max_retries_is_dead(failures: int, verdict: Verdict) -> None:
    assert Limits(max_retries=3, abandon_after=0).judge(failures) is verdict


def test_a_replay_abandons_before_the_retry_limit_dead_letters() -> None:
    assert Limits(max_retries=3, abandon_after=3).judge(4) is Verdict.ABANDON
    assert Limits(max_retries=0, abandon_after=0).judge(10**6) is Verdict.RETRY


def test_request_429_is_retried() -> None:
    assert classify_request(429, 2) == (Verdict.RETRY, "http_429")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_request_5xx_is_retried(status: int) -> None:
    assert classify_request(status, 2) == (Verdict.RETRY, "http_5xx")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_request_other_4xx_is_retried_until_an_operator_fixes_it(status: int) -> None:
    assert classify_request(status, 2) == (Verdict.RETRY, "http_4xx")


class Bounds:
    """Records the bounds each delay is drawn from, and draws their upper end."""

    def __init__(self) -> None:
        self.drawn: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.drawn.append((a, b))
        return b


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> Bounds:
    recorder = Bounds()
    monkeypatch.setattr(random, "uniform", recorder.uniform)
    return recorder


def test_backoff_doubles_from_the_initial_delay(bounds: Bounds) -> None:
    backoff = Backoff(0.5, 100.0)
    delays = [backoff.next_delay() for _ in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert backoff.failures == 5


def test_backoff_is_capped(bounds: Bounds) -> None:
    backoff = Backoff(1.0, 5.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_stays_capped_after_very_many_failures(bounds: Bounds) -> None:
    backoff = Backoff(0.5, 30.0)
    for _ in range(200):
        backoff.next_delay()
    assert bounds.drawn[-1] == (15.0, 30.0)


def test_backoff_jitter_is_drawn_from_the_upper_half(bounds: Bounds) -> None:
    backoff = Backoff(1.0, 8.0)
    for _ in range(5):
        backoff.next_delay()
    assert bounds.drawn == [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (4.0, 8.0)]


def test_backoff_delays_stay_within_the_jitter_bounds() -> None:
    backoff = Backoff(0.25, 2.0)
    for failures in range(12):
        ceiling = min(2.0, 0.25 * 2**failures)
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_reset_starts_again_from_the_initial_delay(bounds: Bounds) -> None:
    backoff = Backoff(0.5, 30.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 0.5
