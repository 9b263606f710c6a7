"""Reading a child process's log lines as they come, to act on what it says rather than after a sleep."""

from __future__ import annotations

import subprocess
import threading
import time


class StderrLines:
    """Collects ``proc``'s stderr lines in a thread; ``wait_for`` returns once a line holds a text."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        with proc.stderr:  # closed at its end: the process exited
            for line in proc.stderr:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    raise AssertionError(f"no log line with {text!r} in {timeout} s: {self.lines[-20:]}")
                self._changed.wait(min(left, 0.5))

    def text(self) -> str:
        """Every line so far; after the process exited, every line it wrote."""
        self._thread.join(timeout=60)
        with self._changed:
            return "\n".join(self.lines)
