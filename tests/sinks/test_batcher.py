"""Batcher: chunks into batches bounded by documents and bytes, a flush interval, and the end."""

from __future__ import annotations

import asyncio

from logship.settings import BatchSettings
from logship.sinks.batcher import Batch, Batcher, body_of
from logship.sinks.chunk import Chunk

LONG = 3600.0  # a flush interval no test waits for


def items(first: int, count: int, size: int = 16) -> list[bytes]:
    """``count`` distinct items of exactly ``size`` bytes each, numbered from ``first``."""
    return [(b"%d" % n).ljust(size - 1, b".") + b"\n" for n in range(first, first + count)]


def flat(batch: Batch) -> list[bytes]:
    return [chunk.item(i) for chunk, which in batch for i in which]


async def run(
    chunks: list[Chunk], *, docs: int = 5000, nbytes: int = 8 * 1024 * 1024, senders: int = 1
) -> list[Batch | None]:
    """Feed the chunks then the end to a batcher; return everything it put on the batch queue."""
    settings = BatchSettings(max_documents=docs, max_bytes=nbytes, flush_interval_seconds=LONG)
    inbox: asyncio.Queue[Chunk | None] = asyncio.Queue()
    outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
    for chunk in chunks:
        inbox.put_nowait(chunk)
    inbox.put_nowait(None)
    await Batcher(settings, inbox, outbox, senders).run()
    out: list[Batch | None] = []
    while not outbox.empty():
        out.append(outbox.get_nowait())
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
    chunks = [Chunk(items(0, 5), None)]
    out = asyncio.run(run(chunks, docs=5))
    assert len(out) == 2 and out[1] is None
    batch = out[0]
    assert batch is not None and flat(batch) == items(0, 5)


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
        inbox: asyncio.Queue[Chunk | None] = asyncio.Queue()
        outbox: asyncio.Queue[Batch | None] = asyncio.Queue()
        batcher = asyncio.create_task(Batcher(settings, inbox, outbox, 1).run())
        chunk = Chunk(items(0, 3), None)
        inbox.put_nowait(chunk)
        batch = await outbox.get()  # without the end and far below the bounds
        assert batch is not None and flat(batch) == items(0, 3)
        assert not batcher.done()
        later = Chunk(items(3, 1), None)
        inbox.put_nowait(later)
        batch = await outbox.get()
        assert batch is not None and flat(batch) == items(3, 1)
        inbox.put_nowait(None)
        await batcher
        assert outbox.get_nowait() is None
        assert outbox.empty()

    asyncio.run(main())
