"""Progress of a batch on stderr: a redrawn bar on a terminal, plain lines for CI logs."""

from __future__ import annotations

import time
from typing import TextIO

_REDRAW_SECONDS = 0.1
_LINE_SECONDS = 10.0
_WIDTH = 30


class Progress:
    """Counts finished submissions; `enabled=False` (-q) prints nothing."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool, terminal: bool) -> None:
        self.total = total
        self._stream = stream
        self._enabled = enabled and total > 1
        self._terminal = terminal
        self._done = 0
        self._started = time.monotonic()
        self._shown_at = 0.0
        self._next_tenth = 1
        self._drawn = False

    @property
    def complete(self) -> bool:
        return self._done >= self.total

    def advance(self, count: int = 1) -> None:
        self._done += count
        if not self._enabled:
            return
        now = time.monotonic()
        if self._terminal:
            if now - self._shown_at >= _REDRAW_SECONDS or self.complete:
                self._draw(now)
        elif self._done * 10 >= self._next_tenth * self.total or now - self._shown_at >= _LINE_SECONDS:
            while self._done * 10 >= self._next_tenth * self.total:
                self._next_tenth += 1
            self._stream.write(f"progress: {self._status(now)}\n")
            self._stream.flush()
            self._shown_at = now

    def clear(self) -> None:
        """Erase the bar before other text is written to the same terminal."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _draw(self, now: float) -> None:
        filled = _WIDTH * self._done // self.total
        bar = "#" * filled + "." * (_WIDTH - filled)
        self._stream.write(f"\r\x1b[K[{bar}] {self._status(now)}")
        self._stream.flush()
        self._shown_at = now
        self._drawn = True

    def _status(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        left = (self.total - self._done) / rate if rate else 0.0
        return f"{self._done}/{self.total} ({100 * self._done // self.total}%), {rate:.0f}/s, {left:.0f} s left"
