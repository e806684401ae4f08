"""The identify queue: every Identify of a process (startup and reconnect alike) goes through one.

Two limits from ``/gateway/bot`` (protocol.md §2.5):

- ``max_concurrency`` identifies per 5-second window. Shards are bucketed by
  ``shard_id % max_concurrency``; each bucket lets one identify through per window, lowest waiting
  shard id first.
- ``session_start_limit.remaining`` sessions until ``reset_after`` ms have passed. When the budget is
  spent the queue waits for the reset; :meth:`IdentifyQueue.check_budget` refuses at start when the
  budget cannot cover the shards and the reset is further away than the caller will wait.

Resumes do not go through the queue (they do not start a session).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from framework.clock import Clock, SystemClock
from framework.errors import QQBotError
from framework.models.api import SessionStartLimit

__all__ = ["IDENTIFY_WINDOW", "IdentifyQueue", "IdentifyTicket", "SessionStartLimitError"]

log = logging.getLogger(__name__)

#: Seconds per identify window (protocol.md §2.5: ``max_concurrency`` sessions per 5 s).
IDENTIFY_WINDOW = 5.0


class SessionStartLimitError(QQBotError, RuntimeError):
    """The session start budget cannot cover the shards to start."""


class IdentifyTicket:
    """Handed out by :meth:`IdentifyQueue.slot`; set ``sent`` once the Identify frame is written."""

    __slots__ = ("sent", "shard_id")

    def __init__(self, shard_id: int) -> None:
        self.shard_id = shard_id
        self.sent = False


class _Bucket:
    def __init__(self) -> None:
        self.waiters: list[tuple[int, int]] = []
        self.busy = False
        self.next_at = float("-inf")


class IdentifyQueue:
    """Paces identifies: ``max_concurrency`` per window, and the session start budget."""

    def __init__(
        self,
        limit: SessionStartLimit | None = None,
        *,
        clock: Clock | None = None,
        window: float = IDENTIFY_WINDOW,
        margin: float = 0.5,
        shard_count: int | None = None,
    ) -> None:
        limit = limit or SessionStartLimit(total=1000, remaining=1000, reset_after=86_400_000, max_concurrency=1)
        self.clock = clock or SystemClock()
        self.window = window
        self.margin = margin
        """Added to the window: the platform measures it on arrival, and frames can be delayed in transit."""
        self.shard_count = shard_count
        """Total shards, for the progress line (``shard 3/20 waiting …``)."""
        self.max_concurrency = max(1, limit.max_concurrency)
        self.total = limit.total
        self.remaining = limit.remaining
        if limit.total <= 0 and limit.remaining <= 0:  # no figures given (e.g. a hand-made GatewayBot)
            self.remaining = sys.maxsize
        self.reset_at = self.clock.monotonic() + limit.reset_after / 1000.0
        self.granted: list[tuple[int, float]] = []
        """``(shard_id, clock time)`` of every identify sent through the queue, for status and tests."""
        self._buckets = [_Bucket() for _ in range(self.max_concurrency)]
        self._cond = anyio.Condition()
        self._counter = itertools.count()
        self._startup: set[int] = set()

    def expect(self, shard_ids: list[int]) -> None:
        """Declare the shards about to start: each bucket then serves them in shard-id order even when
        a higher shard's connection is ready first (task start order is not guaranteed, e.g. on trio)."""
        self._startup.update(shard_ids)

    async def forget(self, shard_id: int) -> None:
        """A shard ended without identifying: stop holding its place in the startup order."""
        if shard_id in self._startup:
            self._startup.discard(shard_id)
            async with self._cond:
                self._cond.notify_all()

    def _blocked_by_startup(self, shard_id: int) -> bool:
        mc = self.max_concurrency
        return any(other < shard_id and other % mc == shard_id % mc for other in self._startup)

    def check_budget(self, shards: int, *, max_wait: float) -> float:
        """Return how long starting ``shards`` sessions must wait for the budget reset (0 if covered).

        Raises :class:`SessionStartLimitError` when the budget is short and the reset is further away
        than ``max_wait`` seconds.
        """
        if self.remaining >= shards:
            return 0.0
        wait = max(0.0, self.reset_at - self.clock.monotonic())
        if wait > max_wait or (self.total and self.total < shards):
            raise SessionStartLimitError(
                f"session start limit: {self.remaining} of {self.total} sessions left, {shards} shards to start, "
                f"budget resets in {wait:.0f} s (more than the {max_wait:.0f} s we may wait)"
            )
        return wait

    @asynccontextmanager
    async def slot(self, shard_id: int) -> AsyncIterator[IdentifyTicket]:
        """Hold the right to send one Identify for ``shard_id``; send it inside the ``async with`` and set
        ``ticket.sent``. A slot left unused (the connection failed first) neither starts a window nor
        spends the session budget."""
        bucket = self._buckets[shard_id % self.max_concurrency]
        me = (shard_id, next(self._counter))
        async with self._cond:
            heapq.heappush(bucket.waiters, me)
            try:
                while bucket.busy or bucket.waiters[0] != me or self._blocked_by_startup(shard_id):
                    await self._cond.wait()
            except BaseException:
                bucket.waiters.remove(me)
                heapq.heapify(bucket.waiters)
                self._cond.notify_all()
                raise
            heapq.heappop(bucket.waiters)
            bucket.busy = True
            self._startup.discard(shard_id)
        ticket = IdentifyTicket(shard_id)
        took_budget = False
        try:
            wait = bucket.next_at - self.clock.monotonic()
            if wait > 0:
                log.info(
                    "shard %s waiting %.1f s for an identify slot (max_concurrency %d)",
                    shard_id if self.shard_count is None else f"{shard_id}/{self.shard_count}",
                    wait,
                    self.max_concurrency,
                )
            await self._wait_until(bucket.next_at)
            await self._take_budget(shard_id)
            took_budget = True
            yield ticket
        finally:
            if ticket.sent:
                self.granted.append((shard_id, self.clock.monotonic()))
                bucket.next_at = self.clock.monotonic() + self.window + self.margin
            elif took_budget:
                self.remaining += 1
            bucket.busy = False
            with anyio.CancelScope(shield=True):
                async with self._cond:
                    self._cond.notify_all()

    async def _wait_until(self, at: float) -> None:
        delay = at - self.clock.monotonic()
        if delay > 0:
            await self.clock.sleep(delay)

    async def _take_budget(self, shard_id: int) -> None:
        now = self.clock.monotonic()
        if now >= self.reset_at:
            self.remaining = self.total or self.remaining
            self.reset_at = now + 86_400.0
        if self.remaining <= 0:
            wait = self.reset_at - now
            log.warning("session start limit spent; shard %d waits %.0f s for the reset", shard_id, wait)
            await self._wait_until(self.reset_at)
            self.remaining = self.total or 1
            self.reset_at = self.clock.monotonic() + 86_400.0
        self.remaining -= 1
