"""Out-of-order acknowledgements commit only the delivered prefix."""

from __future__ import annotations

from logship.acks import Chunk, FileAcks


def test_commit_waits_for_the_oldest_chunk() -> None:
    released: list[int] = []
    acks = FileAcks(0)
    first = Chunk(acks, 0, 100, [b"a" * 10, b"b" * 10], "p", released.append)
    second = Chunk(acks, 100, 250, [b"c" * 5], "p", released.append)
    second.delivered(1)
    assert acks.committed == 0 and released == [5]
    first.delivered(1)
    assert acks.committed == 0
    first.delivered(1)
    assert acks.committed == 250 and released == [5, 20] and acks.outstanding == 0


def test_items_are_addressable_in_the_joined_body() -> None:
    chunk = Chunk(FileAcks(0), 0, 10, [b"one\n", b"two\n", b"three\n"], "p", lambda n: None)
    assert chunk.item(0) == b"one\n" and chunk.item(2) == b"three\n"
    assert bytes(chunk.span(1, 3)) == b"two\nthree\n" and chunk.nbytes == 14


def test_abandoned_chunk_frees_memory_but_never_commits() -> None:
    released: list[int] = []
    acks = FileAcks(0)
    chunk = Chunk(acks, 0, 10, [b"x"], "p", released.append)
    chunk.abandon(1)
    assert released == [1] and acks.committed == 0
