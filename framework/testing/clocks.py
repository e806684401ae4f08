"""A clock that moves only when the test says so: :class:`ManualClock` (for scheduled jobs).

``framework.clock.VirtualClock`` jumps forward whenever something sleeps on it, so a job loop on it would run
back to back; :class:`ManualClock` makes sleepers wait until the test moves the time past their deadline
(``await chat.advance(300)`` steps through every deadline on the way, see docs/schedules.md).
"""

from __future__ import annotations

import heapq
import itertools

import anyio
import anyio.lowlevel

__all__ = ["ManualClock"]


class ManualClock:
    """Time stands still until :meth:`set` (or ``chat.advance``) moves it; ``sleep`` waits for that."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._ids = itertools.count()

    def monotonic(self) -> float:
        return self._now - self._start

    def time(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Return once the clock reads ``seconds`` later than now (at once for ``seconds <= 0``)."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        entry = (self._now + seconds, next(self._ids), anyio.Event())
        heapq.heappush(self._sleepers, entry)
        try:
            await entry[2].wait()
        finally:
            if not entry[2].is_set():  # cancelled: forget it
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def next_deadline(self) -> float | None:
        """The earliest time a sleeper waits for, if any."""
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, now: float) -> None:
        """Move the time to ``now`` (never backwards) and wake the sleepers whose deadline has come."""
        self._now = max(self._now, now)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()

    def __repr__(self) -> str:
        return f"ManualClock(t={self._now:.3f}, sleepers={len(self._sleepers)})"
