"""Delivered byte ranges: merging, gaps, the stored form, and exactly-once across crashes."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from logship.errors import PositionsError
from logship.sources.tail.ranges import DeliveredRanges, Range

EMPTY = DeliveredRanges()


def test_delivering_in_order_advances_the_prefix() -> None:
    state = EMPTY.deliver(0, 10).deliver(10, 25)
    assert state == DeliveredRanges(25) and state.joined and state.end == 25


def test_a_live_range_beyond_the_prefix_joins_when_the_backfill_reaches_it() -> None:
    state = DeliveredRanges(100).deliver(500, 600).deliver(600, 650)
    assert state == DeliveredRanges(100, ((500, 650),)) and not state.joined and state.end == 650
    assert state.gaps(700) == [(100, 500), (650, 700)]
    state = state.deliver(100, 300).deliver(300, 500)
    assert state == DeliveredRanges(650) and state.joined


def test_ranges_that_overlap_or_touch_merge() -> None:
    state = EMPTY.deliver(10, 20).deliver(30, 40).deliver(50, 60)
    assert state.beyond == ((10, 20), (30, 40), (50, 60))
    assert state.deliver(20, 30).beyond == ((10, 40), (50, 60))
    assert state.deliver(15, 55).beyond == ((10, 60),)
    assert state.deliver(5, 10).beyond == ((5, 20), (30, 40), (50, 60))
    assert state.deliver(0, 10) == DeliveredRanges(20, ((30, 40), (50, 60)))


def test_delivering_again_changes_nothing() -> None:
    state = DeliveredRanges(100, ((200, 300),))
    assert state.deliver(0, 100) is state and state.deliver(10, 20) is state and state.deliver(5, 5) is state
    assert state.deliver(200, 300) == state and state.deliver(250, 260) == state


def test_a_backwards_or_negative_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[20, 10\)"):
        EMPTY.deliver(20, 10)
    with pytest.raises(ValueError, match=r"\[-1, 10\)"):
        EMPTY.deliver(-1, 10)


def test_gaps_stop_at_the_size_given() -> None:
    state = DeliveredRanges(100, ((200, 300), (400, 500)))
    assert state.gaps(1000) == [(100, 200), (300, 400), (500, 1000)]
    assert state.gaps(250) == [(100, 200)]
    assert state.gaps(500) == [(100, 200), (300, 400)]
    assert state.gaps(150) == [(100, 150)]
    assert state.gaps(50) == [] and DeliveredRanges(100).gaps(100) == []
    assert [state.delivered(n) for n in (0, 99, 100, 199, 200, 299, 300)] == [1, 1, 0, 0, 1, 1, 0]


@pytest.mark.parametrize(
    ("state", "stored"),
    [
        (EMPTY, []),
        (DeliveredRanges(100), [[0, 100]]),
        (DeliveredRanges(0, ((5, 9),)), [[5, 9]]),
        (DeliveredRanges(100, ((200, 300), (400, 500))), [[0, 100], [200, 300], [400, 500]]),
    ],
)
def test_stored_form_round_trips(state: DeliveredRanges, stored: list[list[int]]) -> None:
    assert state.to_json() == stored
    assert DeliveredRanges.from_json(orjson.loads(orjson.dumps(stored))) == state


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        ({"committed": 5}, "expected a list of"),
        ([[0, 5], 7], r"pair 1: expected \[start, end\]"),
        ([[0, 5, 9]], r"pair 0: expected \[start, end\]"),
        ([[0, "5"]], "two integer offsets"),
        ([[0, True]], "two integer offsets"),
        ([[0, 5.0]], "two integer offsets"),
        ([[-3, 5]], r"\[-3, 5\] is not a non-empty range"),
        ([[7, 7]], r"\[7, 7\] is not a non-empty range"),
        ([[9, 4]], r"\[9, 4\] is not a non-empty range"),
        ([[0, 10], [5, 20]], r"pair 1: \[5, 20\] is not after \[0, 10\]"),
        ([[20, 30], [0, 10]], r"pair 1: \[0, 10\] is not after \[20, 30\]"),
        ([[0, 10], [10, 20]], "not touching"),
    ],
)
def test_malformed_stored_form_is_refused(stored: Any, says: str) -> None:
    with pytest.raises(PositionsError, match=says) as raised:
        DeliveredRanges.from_json(stored, "positions.json, file k1")
    assert str(raised.value).startswith("positions.json, file k1")


class CrashingShipper(RuleBasedStateMachine):
    """Two-cursor shipping of a growing file, modelled byte by byte.

    Pending ranges are read in pieces (a cursor reads a range from its start), in any order
    across ranges; pieces read are delivered in any order. The state is stored with ``to_json``
    at any step; a crash forgets what was in flight, reads the last stored form back and
    resumes from ``gaps(size)``. Each byte may be read once, plus once per crash that found it in
    flight (or delivered after the last store write); after the final drain every byte is read.
    """

    @initialize(size=st.integers(0, 120))
    def start(self, size: int) -> None:
        self.size = size
        self.state = EMPTY
        self.pending: list[Range] = self.state.gaps(size)
        self.in_flight: list[Range] = []
        self.reads = [0] * size
        self.allowed = [1] * size
        self.delivered: set[int] = set()
        self.stored, self.stored_delivered = orjson.dumps(self.state.to_json()), set[int]()

    @rule(extra=st.integers(1, 60))
    def grow(self, extra: int) -> None:
        """The application writes more: the live cursor's next range."""
        self.pending.append((self.size, self.size + extra))
        self.reads += [0] * extra
        self.allowed += [1] * extra
        self.size += extra

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.pending) - 1))
        start, end = self.pending[index]
        cut = data.draw(st.integers(start + 1, end))
        self._read(index, cut)

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        start, end = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self._deliver(start, end)

    @rule()
    def store(self) -> None:
        self.stored, self.stored_delivered = orjson.dumps(self.state.to_json()), set(self.delivered)

    @rule(stored_first=st.booleans())
    def crash(self, stored_first: bool) -> None:
        """``kill -9``: right after a store write, or with deliveries since the last one lost."""
        if stored_first:
            self.store()
        again = {n for start, end in self.in_flight for n in range(start, end)}
        for offset in again | (self.delivered - self.stored_delivered):
            self.allowed[offset] += 1
        self.in_flight = []
        self.delivered = set(self.stored_delivered)
        self.state = DeliveredRanges.from_json(orjson.loads(self.stored))
        self.pending = self.state.gaps(self.size)

    @invariant()
    def state_is_canonical_and_exact(self) -> None:
        state = self.state
        bounds = [state.committed] + [n for pair in state.beyond for n in pair]
        assert all(a < b for a, b in pairwise(bounds)), state
        assert {n for n in range(self.size) if state.delivered(n)} == self.delivered
        assert all(n <= a for n, a in zip(self.reads, self.allowed, strict=True))

    def teardown(self) -> None:
        if not hasattr(self, "state"):
            return
        while self.pending:
            self._read(0, self.pending[0][1])
        while self.in_flight:
            self._deliver(*self.in_flight.pop())
        assert self.state == DeliveredRanges(self.size)
        assert all(n >= 1 for n in self.reads), "a byte was never read"
        assert all(n <= a for n, a in zip(self.reads, self.allowed, strict=True)), "a byte read twice"

    def _read(self, index: int, cut: int) -> None:
        start, end = self.pending[index]
        if cut < end:
            self.pending[index] = (cut, end)
        else:
            del self.pending[index]
        self.in_flight.append((start, cut))
        for offset in range(start, cut):
            self.reads[offset] += 1

    def _deliver(self, start: int, end: int) -> None:
        self.state = self.state.deliver(start, end)
        self.delivered.update(range(start, end))


CrashingShipper.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_every_byte_is_read_once_across_crashes = CrashingShipper.TestCase
