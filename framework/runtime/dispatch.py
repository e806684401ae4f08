"""From shard readers to the event sink: one bounded queue, a dedupe window, a fixed set of workers.

Shard readers call :meth:`EventDispatcher.put`: it drops duplicates (an event the platform pushes twice,
same envelope ``id`` or, without one, the same ``d.id``, within a bounded window of recent keys) and
appends the event to a bounded FIFO queue without a checkpoint; it only waits when the queue is full
(backpressure; heartbeats run in their own task and are never held up). ``workers`` tasks take events
off the queue in arrival order and await the sink, so events start in the order the shards received
them and at most ``workers`` run at once (one worker: strictly one after the other). A worker takes
queued events back to back and only waits when the queue is empty, which keeps the per-event cost to a
deque operation. An exception from the sink is logged and counted, never propagated to a shard.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import msgspec
from anyio.abc import TaskStatus

from framework.models.envelope import InboundEvent

__all__ = ["DedupeWindow", "DispatchStats", "EventDispatcher", "EventSink"]

log = logging.getLogger(__name__)

EventSink = Callable[[InboundEvent], Awaitable[None]]

#: Events whose ``d`` is not a message and must never be deduplicated by ``d.id``.
_NO_DEDUPE = frozenset({"READY", "RESUMED"})


class _HasId(msgspec.Struct):
    id: str | None = None


_id_decoder = msgspec.json.Decoder(_HasId)


class DedupeWindow:
    """Remembers the last ``size`` keys; :meth:`seen` reports (and records) a key."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: set[str] = set()
        self._order: deque[str] = deque()  # oldest first

    def seen(self, key: str) -> bool:
        keys = self._keys
        if key in keys:
            return True
        keys.add(key)
        order = self._order
        order.append(key)
        if len(order) > self.size:
            keys.discard(order.popleft())
        return False

    def __len__(self) -> int:
        return len(self._keys)


def dedupe_key(event: InboundEvent) -> str | None:
    """The envelope id, else ``d.id`` (prefixed by the type), else None (never deduplicated)."""
    if event.type in _NO_DEDUPE:
        return None
    if event.id:
        return event.id
    try:
        inner = _id_decoder.decode(event.data).id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return f"{event.type}:{inner}" if inner else None


@dataclass
class DispatchStats:
    """Counters of one dispatcher."""

    received: int = 0
    delivered: int = 0
    duplicates: int = 0
    failures: int = 0


class EventDispatcher:
    """A bounded queue into ``sink`` served by ``workers`` tasks, with dedupe and failure isolation.

    Run :meth:`run` in a task group; :meth:`close` ends it once the queue is drained.
    """

    def __init__(self, sink: EventSink, *, buffer: int = 1024, dedupe_window: int = 10_000, workers: int = 1) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, got {buffer}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.sink = sink
        self.buffer = buffer
        self.workers = workers
        self.stats = DispatchStats()
        self.dedupe = DedupeWindow(dedupe_window)
        self._queue: deque[InboundEvent] = deque()
        self._idle: deque[anyio.Event] = deque()  # one per worker waiting for an event
        self._waking = False  # an idle worker was woken and has not taken an event yet
        self._full: deque[anyio.Event] = deque()  # one per put() waiting for space
        self._busy = 0
        self._closed = False
        self.drained = anyio.Event()
        """Set after :meth:`close` once every queued event has been handed to the sink."""
        self.done = anyio.Event()
        """Set after :meth:`close` once every event has been delivered and the workers have ended."""

    @property
    def running(self) -> int:
        """Events being handled by the sink now."""
        return self._busy

    async def put(self, event: InboundEvent) -> None:
        """Queue an event (duplicates are dropped); waits while the queue is full. Dropped (and logged)
        after :meth:`close`."""
        queue = self._queue
        while len(queue) >= self.buffer and not self._closed:
            space = anyio.Event()
            self._full.append(space)
            try:
                await space.wait()
            except BaseException:  # cancelled: pass a wake-up meant for us on, or withdraw
                if space.is_set():
                    if self._full:
                        self._full.popleft().set()
                else:
                    self._full.remove(space)
                raise
        # from here on no checkpoint: a put() cancelled while waiting has recorded nothing
        if self._closed:
            log.warning("dispatcher closed; dropping %s event", event.type)
            return
        self.offer(event)  # there is room (no checkpoint since the check): always queued or deduplicated

    def offer(self, event: InboundEvent) -> bool:
        """:meth:`put` without waiting, for the shard readers' hot path: queue ``event`` (or drop it as a
        duplicate) and return True; return False, doing nothing, when the queue is full or closed (then
        await :meth:`put`, which waits for space or logs the drop)."""
        queue = self._queue
        if len(queue) >= self.buffer or self._closed:
            return False
        stats = self.stats
        stats.received += 1
        key = event.id
        if not key or event.type in _NO_DEDUPE:
            key = dedupe_key(event)
        if key is not None:
            # DedupeWindow.seen, inlined
            window = self.dedupe
            keys = window._keys
            if key in keys:
                stats.duplicates += 1
                return True
            keys.add(key)
            order = window._order
            order.append(key)
            if len(order) > window.size:
                keys.discard(order.popleft())
        queue.append(event)
        if self._idle and not self._waking:
            self._wake_one()
        return True

    def _wake_one(self) -> None:
        # One waking worker at a time: it wakes the next one when it finds more queued (see _worker),
        # so a burst does not wake every idle worker only for most of them to find the queue empty.
        self._waking = True
        self._idle.popleft().set()

    def pending(self) -> int:
        """Events queued but not yet handed to the sink."""
        return len(self._queue)

    def close(self) -> None:
        """Accept no more events; :meth:`run` returns once the queued ones are delivered."""
        if self._closed:
            return
        self._closed = True
        for waiters in (self._idle, self._full):
            while waiters:
                waiters.popleft().set()
        if not self._queue:
            self.drained.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the queue with the workers until :meth:`close` has been called and it is drained."""
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(self.workers):
                    tg.start_soon(self._worker)
                task_status.started()
        finally:
            if self._closed and not self._queue:
                self.drained.set()
                self.done.set()

    async def _worker(self) -> None:
        queue = self._queue
        full = self._full
        stats = self.stats
        while True:
            if queue:
                # no checkpoint between queued events: the sink's own awaits are the only ones
                event = queue.popleft()
                if full:
                    full.popleft().set()
                elif not queue and self._closed:
                    self.drained.set()
                self._busy += 1
                try:
                    await self.sink(event)  # read per event: the owner may swap the sink while running
                except Exception:
                    stats.failures += 1
                    log.exception("event sink failed on %s (shard %s, seq %s)", event.type, event.shard_id, event.seq)
                else:
                    stats.delivered += 1
                finally:
                    self._busy -= 1
            elif self._closed:
                return
            else:
                wake = anyio.Event()
                self._idle.append(wake)
                try:
                    await wake.wait()
                finally:
                    if wake.is_set():
                        self._waking = False
                    else:  # cancelled while idle: nobody may count on this worker any more
                        self._idle.remove(wake)
                if len(queue) > 1 and self._idle and not self._waking:
                    self._wake_one()  # more than this worker can take now: bring in another
