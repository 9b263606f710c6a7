"""The exit codes of every `logship` command, in one table (the README's "Command line and exit
codes" section says what each command means by them)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Exit"]


class Exit(IntEnum):
    OK = 0
    # Records not delivered (replay), a runtime failure, an engine that does not answer or refuses
    # (`check --connect`, `setup`, `prune`), a position store that could not be written (`migrate`).
    FAILED = 1
    # Usage or configuration error; `migrate`: something cannot be converted.
    USAGE = 2
    # SIGINT before the command had set up its own handling (the shell's 128 + SIGINT).
    INTERRUPTED = 130
