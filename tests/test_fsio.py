"""Durable writes: complete or an error, and never a torn file left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from logship import fsio

from support.tmpfs import fill, tiny_tmpfs


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def three_bytes_at_a_time(fd: int, data: bytes | memoryview) -> int:
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", three_bytes_at_a_time)
    fsio.append_durably(tmp_path / "f", b"0123456789\n")
    fsio.replace_atomically(tmp_path / "g", b"abcdefghij")
    assert (tmp_path / "f").read_bytes() == b"0123456789\n" and (tmp_path / "g").read_bytes() == b"abcdefghij"


def test_a_full_disk_leaves_the_appended_file_as_it_was(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        target = mnt / "dead-letter.ndjson"
        fsio.append_durably(target, b"first whole line\n")
        fill(mnt, leave=4096)
        with pytest.raises(OSError, match="No space left") as caught:
            fsio.append_durably(target, b"x" * 20000 + b"\n")
        assert caught.value.errno == errno.ENOSPC
        assert target.read_bytes() == b"first whole line\n"  # the partial write was cut away


def test_a_full_disk_keeps_the_old_file_on_replace(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        target = mnt / "positions.json"
        fsio.replace_atomically(target, b'{"old": true}', keep_previous=mnt / "positions.json.prev")
        fill(mnt, leave=4096)
        with pytest.raises(OSError, match="No space left"):
            fsio.replace_atomically(target, b"y" * 20000, keep_previous=mnt / "positions.json.prev")
        assert target.read_bytes() == b'{"old": true}'
        assert not (mnt / "positions.json.tmp").exists()
