"""Batcher: chunks (and items handed back) into batches bounded by documents and bytes."""

from __future__ import annotations

from logship.settings import BatchSettings
from logship.sinks.batcher import Batch, Batcher, body_of
from logship.sinks.chunk import Chunk


def items(first: int, count: int, size: int = 16) -> list[bytes]:
    """``count`` distinct items of exactly ``size`` bytes each, numbered from ``first``."""
    return [(b"%d" % n).ljust(size - 1, b".") + b"\n" for n in range(first, first + count)]


def flat(batch: Batch) -> list[bytes]:
    return [chunk.item(i) for chunk, which in batch for i in which]


def run(chunks: list[Chunk], *, docs: int = 5000, nbytes: int = 8 * 1024 * 1024) -> list[Batch]:
    """Batch the chunks, then take every batch: the full ones, then the one being filled."""
    batcher = Batcher(BatchSettings(max_documents=docs, max_bytes=nbytes))
    for chunk in chunks:
        batcher.add(chunk)
    out: list[Batch] = []
    while (batch := batcher.take()) is not None:
        out.append(batch)
    assert not batcher.partial and not batcher.full and batcher.docs == batcher.size == 0
    return out


def test_chunks_that_fit_share_one_batch() -> None:
    chunks = [Chunk(items(0, 3), None), Chunk(items(3, 4), None)]
    out = run(chunks)
    (batch,) = out
    assert [(chunk, which) for chunk, which in batch] == [(chunks[0], range(3)), (chunks[1], range(4))]
    assert flat(batch) == items(0, 7)


def test_batches_hold_at_most_max_documents() -> None:
    chunks = [Chunk(items(3 * n, 3), None) for n in range(7)]  # 21 items
    batches = run(chunks, docs=5)
    assert all(len(flat(b)) <= 5 for b in batches)
    assert [x for b in batches for x in flat(b)] == items(0, 21)
    assert len(batches) == 5  # 5 + 5 + 5 + 5 + 1


def test_batches_hold_at_most_max_bytes() -> None:
    chunks = [Chunk(items(2 * n, 2, size=300), None) for n in range(5)]  # 10 items of 300 bytes
    batches = run(chunks, nbytes=1024)
    assert all(len(body_of(b)) <= 1024 for b in batches)
    assert [len(flat(b)) for b in batches] == [3, 3, 3, 1]
    assert [x for b in batches for x in flat(b)] == items(0, 10, size=300)


def test_a_batch_is_full_as_soon_as_it_reaches_a_bound() -> None:
    batcher = Batcher(BatchSettings(max_documents=5))
    batcher.add(Chunk(items(0, 3), None))
    assert not batcher.full and batcher.partial and batcher.docs == 3
    batcher.add(Chunk(items(3, 2), None))
    assert len(batcher.full) == 1 and not batcher.partial  # nothing being filled
    batcher.add(Chunk(items(5, 1), None))
    assert [flat(b) for b in batcher.full] == [items(0, 5)] and batcher.partial


def test_a_chunk_larger_than_a_batch_is_spread_item_by_item() -> None:
    chunk = Chunk(items(0, 12), None)
    batches = run([chunk], docs=5)
    assert [[(c, which) for c, which in b] for b in batches] == [
        [(chunk, range(0, 5))],
        [(chunk, range(5, 10))],
        [(chunk, range(10, 12))],
    ]


def test_a_spread_chunk_first_fills_the_batch_already_started() -> None:
    first, second = Chunk(items(0, 3), None), Chunk(items(3, 9), None)
    batches = run([first, second], docs=5)
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
    batches = run([lead, chunk], nbytes=1024)
    assert [x for b in batches for x in flat(b)] == [lead.item(0), *chunk_items]
    assert all(len(body_of(b)) <= 1024 for b in batches)


def test_a_single_item_larger_than_max_bytes_goes_alone() -> None:
    big = b"x" * 2999 + b"\n"
    chunk = Chunk([b"a" * 99 + b"\n", big, b"b" * 99 + b"\n"], None)
    batches = run([chunk], nbytes=1024)
    assert [flat(b) for b in batches] == [[chunk.item(0)], [big], [chunk.item(2)]]


def test_each_batch_begun_has_a_new_generation() -> None:
    """What the outbox's flush timers tell batches apart by."""
    batcher = Batcher(BatchSettings(max_documents=2))
    batcher.add(Chunk(items(0, 1), None))
    first = batcher.generation
    batcher.add(Chunk(items(1, 1), None))  # full
    assert batcher.generation == first
    batcher.add(Chunk(items(2, 1), None))
    assert batcher.generation == first + 1
    batcher.take()
    batcher.take()
    batcher.add_items(Chunk(items(3, 1), None), [0])
    assert batcher.generation == first + 2


def test_items_handed_back_are_spread_over_batches_within_the_bounds() -> None:
    batcher = Batcher(BatchSettings(max_documents=4))
    first, second = Chunk(items(0, 4), None), Chunk(items(4, 4), None)
    batcher.add_items(first, [0, 2, 3])
    batcher.add_items(second, [1, 3])
    c, d = batcher.take(), batcher.take()
    assert c is not None and d is not None and batcher.take() is None
    assert flat(c) + flat(d) == [first.item(i) for i in (0, 2, 3)] + [second.item(i) for i in (1, 3)]
    assert c == [(first, [0, 2, 3]), (second, [1])] and d == [(second, [3])]


def test_items_handed_back_join_the_batch_being_filled() -> None:
    batcher = Batcher(BatchSettings(max_documents=10))
    old, new = Chunk(items(0, 4), None), Chunk(items(4, 2), None)
    batcher.add(new)
    batcher.add_items(old, [1])
    assert batcher.take() == [(new, range(2)), (old, [1])]
