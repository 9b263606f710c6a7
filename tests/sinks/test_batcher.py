"""Batcher: chunks into batches bounded by documents and bytes, a flush interval, and the end."""

from __future__ import annotations

import asyncio

from logship.settings import BatchSettings
from logship.sinks.batcher import CLOSE, FLUSH, Batch, Batcher, Inbox, Returned, body_of
from logship.sinks.chunk import Chunk

LONG = 3600.0  # a flush interval no test waits for
GUARD = 30.0  # seconds before a test that waits for something that never comes fails


def items(first: int, count: int, size: int = 16) -> list[bytes]:
    """``count`` distinct items of exactly ``size`` bytes each, numbered from ``first``."""
    return [(b"%d" % n).ljust(size - 1, b".") + b"\n" for n in range(first, first + count)]


def flat(batch: Batch) -> list[bytes]:
    return [chunk.item(i) for chunk, which in batch for i in which]


async def run(
    chunks: list[Chunk], *, docs: int = 5000, nbytes: int = 8 * 1024 * 1024, senders: int = 1
) -> list[Batch | None]:
    """Feed the chunks then the end to a batcher whose senders deliver every batch and hand it
    back with nothing to send again; return everything the batcher put on the batch queue."""
    settings = BatchSettings(max_documents=docs, max_bytes=nbytes, flush_interval_seconds=LONG)
    inbox: Inbox = asyncio.Queue()
    outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
    for chunk in chunks:
        inbox.put_nowait(chunk)
    inbox.put_nowait(CLOSE)
    out: list[Batch | None] = []

    async def sender() -> None:
        while True:
            batch = await outbox.get()
            out.append(batch)
            if batch is None:
                return
            inbox.put_nowait(Returned([]))  # every batch sent comes back, here with nothing to send again

    async with asyncio.timeout(GUARD):
        await asyncio.gather(
            Batcher(settings, inbox, outbox, senders).run(), *(sender() for _ in range(senders))
        )
    assert inbox.empty() and outbox.empty()
    return out


def batches_of(out: list[Batch | None]) -> list[Batch]:
    """The batches before the end markers (which must all come last)."""
    batches = [b for b in out if b is not None]
    assert out[: len(batches)] == batches
    return batches


def test_chunks_that_fit_share_one_batch() -> None:
    chunks = [Chunk(items(0, 3), None), Chunk(items(3, 4), None)]
    out = asyncio.run(run(chunks))
    (batch,) = batches_of(out)
    assert [(chunk, which) for chunk, which in batch] == [(chunks[0], range(3)), (chunks[1], range(4))]
    assert flat(batch) == items(0, 7)


def test_batches_hold_at_most_max_documents() -> None:
    chunks = [Chunk(items(3 * n, 3), None) for n in range(7)]  # 21 items
    batches = batches_of(asyncio.run(run(chunks, docs=5)))
    assert all(len(flat(b)) <= 5 for b in batches)
    assert [x for b in batches for x in flat(b)] == items(0, 21)
    assert len(batches) == 5  # 5 + 5 + 5 + 5 + 1


def test_batches_hold_at_most_max_bytes() -> None:
    chunks = [Chunk(items(2 * n, 2, size=300), None) for n in range(5)]  # 10 items of 300 bytes
    batches = batches_of(asyncio.run(run(chunks, nbytes=1024)))
    assert all(len(body_of(b)) <= 1024 for b in batches)
    assert [len(flat(b)) for b in batches] == [3, 3, 3, 1]
    assert [x for b in batches for x in flat(b)] == items(0, 10, size=300)


def test_a_batch_is_sent_as_soon_as_it_is_full() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=5, flush_interval_seconds=LONG)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 1).run())
        async with asyncio.timeout(GUARD):
            inbox.put_nowait(Chunk(items(0, 5), None))
            batch = await outbox.get()  # neither the end nor the flush interval came
            assert batch is not None and flat(batch) == items(0, 5)
            inbox.put_nowait(Returned([]))
            inbox.put_nowait(CLOSE)
            await batcher
        assert outbox.get_nowait() is None and outbox.empty()

    asyncio.run(main())


def test_a_chunk_larger_than_a_batch_is_spread_item_by_item() -> None:
    chunk = Chunk(items(0, 12), None)
    batches = batches_of(asyncio.run(run([chunk], docs=5)))
    assert [[(c, which) for c, which in b] for b in batches] == [
        [(chunk, range(0, 5))],
        [(chunk, range(5, 10))],
        [(chunk, range(10, 12))],
    ]


def test_a_spread_chunk_first_fills_the_batch_already_started() -> None:
    first, second = Chunk(items(0, 3), None), Chunk(items(3, 9), None)
    batches = batches_of(asyncio.run(run([first, second], docs=5)))
    assert [[(c, which) for c, which in b] for b in batches] == [
        [(first, range(0, 3)), (second, range(0, 2))],
        [(second, range(2, 7))],
        [(second, range(7, 9))],
    ]


def test_spreading_by_bytes_loses_and_repeats_no_item() -> None:
    sizes = [100, 700, 300, 900, 50, 50, 600, 200, 1000, 20]
    chunk_items = [(b"%d" % n).ljust(size - 1, b".") + b"\n" for n, size in enumerate(sizes)]
    lead = Chunk([b"lead".ljust(499, b".") + b"\n"], None)
    chunk = Chunk(chunk_items, None)
    batches = batches_of(asyncio.run(run([lead, chunk], nbytes=1024)))
    assert [x for b in batches for x in flat(b)] == [lead.item(0), *chunk_items]
    assert all(len(body_of(b)) <= 1024 for b in batches)


def test_a_single_item_larger_than_max_bytes_goes_alone() -> None:
    big = b"x" * 2999 + b"\n"
    chunk = Chunk([b"a" * 99 + b"\n", big, b"b" * 99 + b"\n"], None)
    batches = batches_of(asyncio.run(run([chunk], nbytes=1024)))
    assert [flat(b) for b in batches] == [[chunk.item(0)], [big], [chunk.item(2)]]


def test_the_end_sends_the_partial_batch_then_one_end_per_sender() -> None:
    chunk = Chunk(items(0, 2), None)
    out = asyncio.run(run([chunk], senders=3))
    assert len(out) == 4
    assert out[0] is not None and flat(out[0]) == items(0, 2)
    assert out[1:] == [None, None, None]


def test_the_end_with_nothing_pending_sends_only_the_ends() -> None:
    assert asyncio.run(run([], senders=2)) == [None, None]


def test_the_flush_interval_sends_a_partial_batch() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=100, flush_interval_seconds=0.01)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 1).run())
        async with asyncio.timeout(GUARD):
            chunk = Chunk(items(0, 3), None)
            inbox.put_nowait(chunk)
            batch = await outbox.get()  # without the end and far below the bounds
            assert batch is not None and flat(batch) == items(0, 3)
            assert not batcher.done()
            later = Chunk(items(3, 1), None)
            inbox.put_nowait(later)
            batch = await outbox.get()
            assert batch is not None and flat(batch) == items(3, 1)
            inbox.put_nowait(Returned([]))  # both batches delivered
            inbox.put_nowait(Returned([]))
            inbox.put_nowait(CLOSE)
            await batcher
        assert outbox.get_nowait() is None
        assert outbox.empty()

    asyncio.run(main())


def test_a_flush_request_sends_the_partial_batch_at_once() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=100, flush_interval_seconds=LONG)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 1).run())
        async with asyncio.timeout(GUARD):
            inbox.put_nowait(Chunk(items(0, 2), None))
            inbox.put_nowait(Chunk(items(2, 1), None))
            inbox.put_nowait(FLUSH)  # the source caught up: no reason to wait the (hour-long) interval
            batch = await outbox.get()
            assert batch is not None and flat(batch) == items(0, 3)
            inbox.put_nowait(FLUSH)  # nothing batched: nothing sent
            await settle()
            assert outbox.empty()
            inbox.put_nowait(Returned([]))
            inbox.put_nowait(CLOSE)
            await batcher
        assert outbox.get_nowait() is None and outbox.empty()

    asyncio.run(main())


# -- batches that come back ------------------------------------------------------------------


async def settle() -> None:
    """Let the other tasks run for a few turns of the loop (none of them sleeps meanwhile)."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_items_handed_back_go_out_again_and_every_item_is_delivered_once() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=7, flush_interval_seconds=0.01)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=2)
        chunks = [Chunk(items(10 * n, 10), None) for n in range(6)]
        delivered: list[bytes] = []
        attempts: dict[bytes, int] = {}
        sent_batches: list[Batch] = []

        async def sender() -> None:
            # Pushes back on each item whose number is a multiple of 3 twice, then takes it.
            while (batch := await outbox.get()) is not None:
                sent_batches.append(batch)
                again: Batch = []
                for chunk, which in batch:
                    back: list[int] = []
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
                inbox.put_nowait(Returned(again))

        async with asyncio.timeout(GUARD):
            tasks = [asyncio.create_task(Batcher(settings, inbox, outbox, 2).run())]
            tasks += [asyncio.create_task(sender()) for _ in range(2)]
            for chunk in chunks:
                await inbox.put(chunk)
            await inbox.put(CLOSE)
            await asyncio.gather(*tasks)
        assert sorted(delivered) == sorted(items(0, 60))  # nothing lost, nothing twice
        assert all(len(flat(b)) <= 7 for b in sent_batches)
        for x, n in attempts.items():
            assert n == (3 if int(x.split(b".")[0]) % 3 == 0 else 1)
        assert inbox.empty() and outbox.empty()

    asyncio.run(main())


def test_items_handed_back_are_spread_over_batches_within_the_bounds() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=4, flush_interval_seconds=LONG)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 1).run())
        first, second = Chunk(items(0, 4), None), Chunk(items(4, 4), None)
        async with asyncio.timeout(GUARD):
            inbox.put_nowait(first)
            inbox.put_nowait(second)
            a, b = await outbox.get(), await outbox.get()
            assert a == [(first, range(4))] and b == [(second, range(4))]
            inbox.put_nowait(Returned([(first, [0, 2, 3])]))  # three of the first pushed back
            inbox.put_nowait(Returned([(second, [1, 3])]))  # two of the second
            inbox.put_nowait(CLOSE)
            c, d = await outbox.get(), await outbox.get()
            assert c is not None and d is not None
            assert flat(c) + flat(d) == [first.item(i) for i in (0, 2, 3)] + [second.item(i) for i in (1, 3)]
            assert len(flat(c)) == 4 and len(flat(d)) == 1
            inbox.put_nowait(Returned([]))
            inbox.put_nowait(Returned([]))
            await batcher
        assert outbox.get_nowait() is None and outbox.empty()

    asyncio.run(main())


def test_the_end_waits_for_every_batch_out_to_come_back() -> None:
    async def main() -> None:
        settings = BatchSettings(max_documents=100, flush_interval_seconds=LONG)
        inbox: Inbox = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 2).run())
        chunk = Chunk(items(0, 3), None)
        async with asyncio.timeout(GUARD):
            inbox.put_nowait(chunk)
            inbox.put_nowait(CLOSE)
            batch = await outbox.get()  # the end flushes the partial batch
            assert batch == [(chunk, range(3))]
            await settle()
            assert not batcher.done() and outbox.empty()  # no end while the batch is out
            inbox.put_nowait(Returned([(chunk, [1])]))  # it comes back with one item to send again
            batch = await outbox.get()  # sent at once: no flush interval while closing
            assert batch is not None and flat(batch) == [chunk.item(1)]
            await settle()
            assert not batcher.done() and outbox.empty()
            inbox.put_nowait(Returned([]))  # delivered
            await batcher
        assert [outbox.get_nowait(), outbox.get_nowait()] == [None, None] and outbox.empty()

    asyncio.run(main())
