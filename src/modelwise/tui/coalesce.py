"""Coalescing for the console's background computations: at most one run at a time, and asks made
while one runs collapse into one more run with the newest arguments (the what-if line, the grid)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class LatestOnly(Generic[K]):
    """`want(key)` starts `start(key)` unless a run is in flight; `done()` (called on the main thread when
    a run finishes, however it ends) starts the newest key wanted meanwhile, if it differs from the one
    that just ran, and says whether the finished run is still the one wanted."""

    def __init__(self, start: Callable[[K], object]):
        self._start = start
        self.busy = False
        self.running: K | None = None
        self.wanted: K | None = None
        self.runs = 0

    def want(self, key: K) -> None:
        self.wanted = key
        if not self.busy:
            self._go()

    def done(self) -> bool:
        self.busy = False
        fresh = self.running == self.wanted
        if not fresh:
            self._go()
        return fresh

    def _go(self) -> None:
        self.busy = True
        self.running = self.wanted
        self.runs += 1
        self._start(self.wanted)  # type: ignore[arg-type]
