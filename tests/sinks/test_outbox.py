"""Outbox: what the senders take next (a flush interval, a flush, items handed back, the end, and
live batches ahead of the backfill without starving it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from logship.acks import FileAcks, Lane
from logship.settings import BatchSettings
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk
from logship.sinks.outbox import Outbox, Pacing

LONG = 3600.0  # a flush interval no test waits for
GUARD = 30.0  # seconds before a test that waits for something that never comes fails
LIVE_FIRST = Pacing(live_first=True, every=5)


def items(first: int, count: int, size: int = 16) -> list[bytes]:
    """``count`` distinct items of exactly ``size`` bytes each, numbered from ``first``."""
    return [(b"%d" % n).ljust(size - 1, b".") + b"\n" for n in range(first, first + count)]


def flat(batch: Batch) -> list[bytes]:
    return [chunk.item(i) for chunk, which in batch for i in which]


def chunk_of(lane: Lane, first: int, count: int) -> Chunk:
    """A chunk read by a cursor of ``lane``."""
    return Chunk(items(first, count), FileAcks(0, lane).block(count))


async def settle() -> None:
    """Let the other tasks run for a few turns of the loop (none of them sleeps meanwhile)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def next_batch(outbox: Outbox) -> tuple[Lane, Batch] | None:
    """What a sender does: wait until a batch is ready, take it; None at the end."""
    while await outbox.wait():
        if (taken := outbox.take()) is not None:
            return taken
    return None


async def take(outbox: Outbox) -> Batch:
    taken = await next_batch(outbox)
    assert taken is not None
    return taken[1]


def pending(outbox: Outbox) -> asyncio.Task[tuple[Lane, Batch] | None]:
    return asyncio.create_task(next_batch(outbox))


def test_the_flush_interval_makes_a_partial_batch_due() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=100, flush_interval_seconds=0.01))
        async with asyncio.timeout(GUARD):
            outbox.put(Chunk(items(0, 3), None))
            assert flat(await take(outbox)) == items(0, 3)  # far below the bounds, without the end
            outbox.put(Chunk(items(3, 1), None))
            assert flat(await take(outbox)) == items(3, 1)
            outbox.returned([])
            outbox.returned([])
            outbox.close()
            assert await next_batch(outbox) is None

    asyncio.run(main())


def test_a_full_batch_goes_at_once_and_a_partial_one_waits_for_its_interval() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=5, flush_interval_seconds=LONG))
        async with asyncio.timeout(GUARD):
            outbox.put(Chunk(items(0, 3), None))
            waiting = pending(outbox)
            await settle()
            assert not waiting.done()
            outbox.put(Chunk(items(3, 4), None))  # fills the batch; two items begin the next
            got = await waiting
            assert got is not None and flat(got[1]) == items(0, 5)
            waiting = pending(outbox)
            await settle()
            assert not waiting.done()  # the two: an hour to go
            outbox.stop()
            waiting.cancel()

    asyncio.run(main())


def test_a_flush_makes_the_partial_batch_due_at_once() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=100, flush_interval_seconds=LONG))
        async with asyncio.timeout(GUARD):
            outbox.put(Chunk(items(0, 2), None))
            outbox.put(Chunk(items(2, 1), None))
            waiting = pending(outbox)
            await settle()
            assert not waiting.done()
            outbox.flush()  # the source caught up: no reason to wait the (hour-long) interval
            got = await waiting
            assert got is not None and flat(got[1]) == items(0, 3)
            outbox.flush()  # nothing batched: nothing to take
            waiting = pending(outbox)
            await settle()
            assert not waiting.done()
            outbox.returned([])
            outbox.close()
            assert await waiting is None
        outbox.stop()

    asyncio.run(main())


def test_a_due_batch_fills_until_a_sender_takes_it() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=100, flush_interval_seconds=LONG))
        outbox.put(Chunk(items(0, 2), None))
        outbox.flush()
        outbox.put(Chunk(items(2, 2), None))  # no sender was free meanwhile
        assert flat(await take(outbox)) == items(0, 4)
        outbox.stop()

    asyncio.run(main())


def test_items_handed_back_go_at_once_when_no_other_batch_is_out() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=100, flush_interval_seconds=LONG))
        first, second = Chunk(items(0, 4), None), Chunk(items(4, 4), None)
        async with asyncio.timeout(GUARD):
            outbox.put(first)
            outbox.flush()
            a = await take(outbox)
            outbox.put(second)
            outbox.flush()
            b = await take(outbox)
            assert a == [(first, range(4))] and b == [(second, range(4))]
            outbox.returned([(first, [1, 3])])  # another batch is out: they wait for the interval
            waiting = pending(outbox)
            await settle()
            assert not waiting.done()
            outbox.returned([(second, [0])])  # the last one out: all three go at once
            got = await waiting
            assert got is not None and got[1] == [(first, [1, 3]), (second, [0])]
            outbox.returned([])
            outbox.close()
            assert await next_batch(outbox) is None

    asyncio.run(main())


def test_the_end_waits_for_every_batch_out_to_come_back() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=100, flush_interval_seconds=LONG))
        chunk = Chunk(items(0, 3), None)
        async with asyncio.timeout(GUARD):
            outbox.put(chunk)
            outbox.close()
            assert await take(outbox) == [(chunk, range(3))]  # the end makes the partial batch due
            ends = [pending(outbox), pending(outbox)]  # two senders
            await settle()
            assert not any(t.done() for t in ends)  # no end while the batch is out
            outbox.returned([(chunk, [1])])  # it comes back with one item to send again
            got = await ends[0]  # at once: no flush interval while closing
            assert got is not None and flat(got[1]) == [chunk.item(1)]
            await settle()
            assert not ends[1].done()
            outbox.returned([])  # delivered
            assert await ends[1] is None and await next_batch(outbox) is None

    asyncio.run(main())


def test_the_end_with_nothing_pending_ends_every_sender() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(flush_interval_seconds=LONG))
        waiting = [pending(outbox) for _ in range(3)]
        await settle()
        outbox.close()
        assert await asyncio.gather(*waiting) == [None, None, None]

    asyncio.run(main())


def test_items_handed_back_go_out_again_and_every_item_is_delivered_once() -> None:
    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=7, flush_interval_seconds=0.01))
        chunks = [Chunk(items(10 * n, 10), None) for n in range(6)]
        delivered: list[bytes] = []
        attempts: dict[bytes, int] = {}
        sent_batches: list[Batch] = []

        async def sender() -> None:
            # Pushes back on each item whose number is a multiple of 3 twice, then takes it.
            while (taken := await next_batch(outbox)) is not None:
                sent_batches.append(taken[1])
                again: Batch = []
                for chunk, which in taken[1]:
                    back = []
                    for i in which:
                        x = chunk.item(i)
                        attempts[x] = attempts.get(x, 0) + 1
                        if int(x.split(b".")[0]) % 3 == 0 and attempts[x] <= 2:
                            back.append(i)
                        else:
                            delivered.append(x)
                    if back:
                        again.append((chunk, back))
                await asyncio.sleep(0)
                outbox.returned(again)

        async with asyncio.timeout(GUARD):
            senders = [asyncio.create_task(sender()) for _ in range(2)]
            for chunk in chunks:
                outbox.put(chunk)
                await asyncio.sleep(0)
            outbox.close()
            await asyncio.gather(*senders)
        assert sorted(delivered) == sorted(items(0, 60))  # nothing lost, nothing twice
        assert all(len(flat(b)) <= 7 for b in sent_batches)
        for x, n in attempts.items():
            assert n == (3 if int(x.split(b".")[0]) % 3 == 0 else 1)
        assert outbox.out == 0 and outbox.state()["batched_documents"] == 0

    asyncio.run(main())


# -- lanes -----------------------------------------------------------------------------------


def taken(pacing: Pacing, puts: Callable[[Outbox], None], n: int) -> list[tuple[Lane, list[bytes]]]:
    """Call ``puts`` on an outbox of two-item batches, then take ``n`` batches (each comes back
    at once, delivered): their lanes and items."""

    async def main() -> list[tuple[Lane, list[bytes]]]:
        outbox = Outbox(BatchSettings(max_documents=2, flush_interval_seconds=LONG), pacing)
        puts(outbox)
        out = []
        for _ in range(n):
            got = await next_batch(outbox)
            assert got is not None
            out.append((got[0], flat(got[1])))
            outbox.returned([])
        outbox.stop()
        return out

    return asyncio.run(main())


def lanes(pacing: Pacing, puts: Callable[[Outbox], None], n: int) -> list[Lane]:
    return [lane for lane, _ in taken(pacing, puts, n)]


def test_live_batches_overtake_backfill_batches_ready_before_them() -> None:
    def puts(outbox: Outbox) -> None:
        for n in range(3):
            outbox.put(chunk_of(Lane.BACKFILL, 10 * n, 2))  # three full backfill batches
        outbox.put(chunk_of(Lane.LIVE, 100, 2))  # then a live one

    assert lanes(LIVE_FIRST, puts, 4) == [Lane.LIVE, Lane.BACKFILL, Lane.BACKFILL, Lane.BACKFILL]


def test_the_backfill_gets_one_request_in_every_five_under_a_live_stream() -> None:
    def puts(outbox: Outbox) -> None:
        for n in range(20):
            outbox.put(chunk_of(Lane.BACKFILL, 1000 + 10 * n, 2))
        for n in range(40):
            outbox.put(chunk_of(Lane.LIVE, 10 * n, 2))

    assert lanes(LIVE_FIRST, puts, 25) == [Lane.LIVE] * 4 + [Lane.BACKFILL] + [Lane.LIVE] * 4 + [
        Lane.BACKFILL
    ] + [Lane.LIVE] * 4 + [Lane.BACKFILL] + [Lane.LIVE] * 4 + [Lane.BACKFILL] + [Lane.LIVE] * 4 + [
        Lane.BACKFILL
    ]


def test_a_batch_holds_one_lane() -> None:
    def puts(outbox: Outbox) -> None:
        outbox.put(chunk_of(Lane.BACKFILL, 0, 1))
        outbox.put(chunk_of(Lane.LIVE, 100, 1))
        outbox.put(chunk_of(Lane.BACKFILL, 1, 1))
        outbox.put(chunk_of(Lane.LIVE, 101, 1))

    assert taken(LIVE_FIRST, puts, 2) == [(Lane.LIVE, items(100, 2)), (Lane.BACKFILL, items(0, 2))]


def test_in_order_keeps_one_lane_in_read_order() -> None:
    def puts(outbox: Outbox) -> None:
        outbox.put(chunk_of(Lane.BACKFILL, 0, 2))
        outbox.put(chunk_of(Lane.LIVE, 100, 2))
        outbox.put(chunk_of(Lane.BACKFILL, 2, 2))

    got = taken(Pacing(live_first=False), puts, 3)
    assert got == [(Lane.LIVE, items(0, 2)), (Lane.LIVE, items(100, 2)), (Lane.LIVE, items(2, 2))]


def test_the_backfill_goes_whenever_no_live_batch_is_ready() -> None:
    def puts(outbox: Outbox) -> None:
        outbox.put(chunk_of(Lane.BACKFILL, 0, 2))
        outbox.put(chunk_of(Lane.BACKFILL, 2, 2))

    assert lanes(LIVE_FIRST, puts, 2) == [Lane.BACKFILL, Lane.BACKFILL]


# -- any sequence ----------------------------------------------------------------------------

Op = tuple[str, int, int]  # ("put", lane, count) | ("flush", 0, 0) | ("take", 0, 0) | ("return", which, mask)
OPS = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 1), st.integers(1, 7)),
    st.tuples(st.just("flush"), st.just(0), st.just(0)),
    st.tuples(st.just("take"), st.just(0), st.just(0)),
    st.tuples(st.just("return"), st.integers(0, 7), st.integers(0, 255)),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=60), live_first=st.booleans())
def test_any_sequence_delivers_every_item_once_in_one_lane_batches_never_starving_the_backfill(
    ops: list[Op], live_first: bool
) -> None:
    """Puts of either lane, flushes, takes and returns with items handed back, in any order, then
    the end: every item is sent until delivered, once; a batch holds one lane and at most three
    items; live first, while backfill batches wait, one take in ``every`` at least is backfill;
    in order, items go out in the order they were put."""
    pacing = Pacing(live_first=live_first, every=3)

    async def main() -> None:
        outbox = Outbox(BatchSettings(max_documents=3, flush_interval_seconds=LONG), pacing)
        put: list[bytes] = []
        delivered: list[bytes] = []
        out: list[Batch] = []
        sent: list[bytes] = []
        live_run = 0  # live batches taken in a row while backfill batches waited

        def take() -> None:
            nonlocal live_run
            waiting = outbox.state()["backfill_batches_queued"] > 0
            if (taken := outbox.take()) is None:
                return
            lane, batch = taken
            assert 0 < len(flat(batch)) <= 3
            assert {(c.ack.lane if live_first and c.ack else Lane.LIVE) for c, _ in batch} == {lane}
            live_run = live_run + 1 if waiting and lane is Lane.LIVE else 0
            assert live_run < pacing.every
            out.append(batch)
            sent.extend(flat(batch))

        def give_back(i: int, mask: int) -> None:
            batch = out.pop(i % len(out))
            again: Batch = []
            for n, (chunk, which) in enumerate(batch):
                back = [k for k in which if mask >> ((n + k) % 8) & 1]
                delivered.extend(chunk.item(k) for k in which if k not in back)
                if back:
                    again.append((chunk, back))
            outbox.returned(again)

        for op, a, b in ops:
            if op == "put":
                chunk = chunk_of(Lane(("live", "backfill")[a]), len(put), b)
                put.extend(chunk.item(i) for i in range(chunk.count))
                outbox.put(chunk)
            elif op == "flush":
                outbox.flush()
            elif op == "take":
                take()
            elif out:
                give_back(a, b)
        outbox.close()
        async with asyncio.timeout(GUARD):
            while out or await outbox.wait():
                take()
                if out:
                    give_back(0, 0)
        assert sorted(delivered) == sorted(put)  # each once
        if not live_first:  # first sent in the order put (an item handed back goes again later)
            assert list(dict.fromkeys(sent)) == put
        outbox.stop()

    asyncio.run(main())
