"""Out-of-order acknowledgements commit only the delivered prefix."""

from __future__ import annotations

from logship.acks import FileAcks
from logship.sinks.chunk import Chunk


def test_commit_waits_for_the_oldest_block() -> None:
    released: list[int] = []
    acks = FileAcks(0)
    first = Chunk([b"a" * 10, b"b" * 10], acks.block(100))
    second = Chunk([b"c" * 5], acks.block(250))
    first.release = second.release = released.append
    second.delivered(1)
    assert acks.committed == 0 and released == [5]
    first.delivered(1)
    assert acks.committed == 0
    first.delivered(1)
    assert acks.committed == 250 and released == [5, 20] and acks.outstanding == 0


def test_items_are_addressable_in_the_joined_body() -> None:
    chunk = Chunk([b"one\n", b"two\n", b"three\n"], FileAcks(0).block(10))
    assert chunk.item(0) == b"one\n" and chunk.item(2) == b"three\n"
    assert bytes(chunk.span(1, 3)) == b"two\nthree\n" and chunk.nbytes == 14


def test_abandoned_chunk_frees_memory_but_never_commits() -> None:
    released: list[int] = []
    acks = FileAcks(0)
    chunk = Chunk([b"x"], acks.block(10))
    chunk.release = released.append
    chunk.abandon(1)
    assert released == [1] and acks.committed == 0 and acks.outstanding == 1
