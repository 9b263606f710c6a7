"""The allocator bounds are set where glibc is there, and nothing breaks where it is not."""

from __future__ import annotations

import sys
from unittest.mock import patch

import pytest

from logship.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_bounds_are_set_with_glibc() -> None:
    # The test image is Debian's (glibc); a bulk body larger than glibc allows is clamped.
    assert keep_freed_memory(9 * 2**20, 16 * 2**20)
    assert keep_freed_memory(2**40, 16 * 2**20)


def test_without_mallopt_nothing_happens() -> None:
    with patch("ctypes.CDLL", side_effect=OSError("no libc")):
        assert not keep_freed_memory(9 * 2**20, 16 * 2**20)
    with patch("sys.platform", "darwin"):
        assert not keep_freed_memory(9 * 2**20, 16 * 2**20)
