"""The emulator's virtual clock: real time plus an offset that tests move forward."""

from __future__ import annotations

import threading
import time


class Clock:
    """``now()`` is wall-clock time + ``offset``; :meth:`advance` only ever moves forward, so
    expiries, assignment deadlines, auto-approval and the 24 h token window fire on demand."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = float(offset)
        self._lock = threading.Lock()
        self.on_change: list = []  # callbacks(offset), e.g. persistence

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); returns the new ``now()``."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} s")
        with self._lock:
            self._offset += float(seconds)
        for cb in list(self.on_change):
            cb(self._offset)
        return self.now()
