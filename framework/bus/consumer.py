"""The worker side of the bus: read entries, feed the bot's :class:`~framework.delivery.EventDispatcher`, acknowledge
each entry once the bot finished its event (at least once).

For each batch :class:`BusConsumer` asks the bus which events were already handled (the idempotency guard, keyed
by :func:`~framework.delivery.dedupe_key`: the envelope id) and acknowledges those at once; an entry whose key is
being handled here already (a repeat published twice) is acknowledged with it. The rest go to
``dispatcher.put`` (waiting for queue space: backpressure), with at most ``max_inflight`` entries unacknowledged.
The consumer observes the dispatcher: when it reports an event finished (handled, failed or timed out) the entry
is marked handled and acknowledged, in batches, one round trip each. An event the dispatcher drops as a
duplicate (its own dedupe window, e.g. the same message under a new envelope id) is never started: once the
dispatcher has nothing queued, such entries are acknowledged too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from anyio.abc import TaskStatus

from framework.bus.base import BusEntry, BusUnavailable, EventBus
from framework.bus.message import BusMessage
from framework.delivery import EventDispatcher, dedupe_key
from framework.models.envelope import InboundEvent

__all__ = ["BusConsumer", "ConsumerStats"]

log = logging.getLogger("framework.bus.consumer")


@dataclass
class ConsumerStats:
    received: int = 0
    """Entries read from the bus."""
    delivered: int = 0
    """Events handed to the dispatcher."""
    already_handled: int = 0
    """Entries acknowledged without running because the guard said they were handled."""
    acknowledged: int = 0
    undecodable: int = 0


class _Running:
    __slots__ = ("entries", "key", "started")

    def __init__(self, entry: BusEntry, key: str | None) -> None:
        self.entries = [entry]
        self.key = key
        self.started = False


class BusConsumer:
    """Feed ``dispatcher`` from ``bus``; run :meth:`run` in a task group, :meth:`stop` ends it after the events read
    were handled and acknowledged."""

    def __init__(
        self, bus: EventBus, dispatcher: EventDispatcher, *, max_inflight: int = 1024, batch: int = 128
    ) -> None:
        self.bus = bus
        self.dispatcher = dispatcher
        self.max_inflight = max_inflight
        self.batch = batch
        self.stats = ConsumerStats()
        self._running: dict[int, _Running] = {}  # id(event) -> its entries
        self._by_key: dict[str, _Running] = {}
        self._done: list[tuple[BusEntry, str | None]] = []
        self._wake_acker = anyio.Event()
        self._space = anyio.Event()
        self._stopping = False
        self._stopped = anyio.Event()
        self.failing_since: float | None = None
        """``anyio.current_time()`` when reading from the bus began to fail (None while reads succeed): the worker's
        ``/readyz`` answers 503 meanwhile."""
        self.last_error: str | None = None
        """Why the last failed bus call failed."""
        dispatcher.add_observer(self)

    def __repr__(self) -> str:
        return f"BusConsumer(bus={self.bus!r}, inflight={len(self._running)})"

    def message_of(self, event: InboundEvent) -> BusMessage | None:
        """The bus message ``event`` was read from, while it is being handled (for observers: its trace context)."""
        running = self._running.get(id(event))
        return running.entries[0].message if running is not None else None

    # -- DeliveryObserver ---------------------------------------------------------------------

    def started(self, event: InboundEvent) -> None:
        running = self._running.get(id(event))
        if running is not None:
            running.started = True

    def finished(self, event: InboundEvent) -> None:
        running = self._running.pop(id(event), None)
        if running is None:
            return
        self._finish(running)

    def _finish(self, running: _Running) -> None:
        if running.key is not None and self._by_key.get(running.key) is running:
            del self._by_key[running.key]
        self._done.extend((entry, running.key) for entry in running.entries)
        self._wake_acker.set()

    # -- the loops ----------------------------------------------------------------------------

    def inflight(self) -> int:
        return len(self._running) + len(self._done)

    def stop(self) -> None:
        """Read no more; :meth:`run` returns once what was read is acknowledged."""
        self._stopping = True
        self._wake_acker.set()
        self._space.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._acker)
            task_status.started()
            try:
                await self._reader()
            finally:
                self._stopping = True
                self._wake_acker.set()
                with anyio.CancelScope(shield=True):
                    await self._stopped.wait()

    async def _reader(self) -> None:
        bus = self.bus
        delay = 0.1
        while not self._stopping:
            if self.inflight() >= self.max_inflight:
                self._space = anyio.Event()
                await self._space.wait()
                continue
            try:
                entries = await bus.receive(min(self.batch, self.max_inflight - self.inflight()))
                self.failing_since = None
                if not entries:
                    self._sweep()
                    continue
                await self._feed(entries)
                delay = 0.1
            except BusUnavailable as exc:
                self.last_error = str(exc)
                if self.failing_since is None:
                    self.failing_since = anyio.current_time()
                log.warning("bus: %s; retrying in %.1f s", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _feed(self, entries: list[BusEntry]) -> None:
        self.stats.received += len(entries)
        fresh: list[tuple[BusEntry, InboundEvent, str | None]] = []
        for entry in entries:
            if entry.message is None:
                self.stats.undecodable += 1
                self._done.append((entry, None))
                continue
            event = entry.message.event(self.bus.name)
            fresh.append((entry, event, dedupe_key(event)))
        keyed = [key for _, _, key in fresh if key is not None]
        seen = dict(zip(keyed, await self.bus.handled(keyed), strict=True)) if keyed else {}
        for entry, event, key in fresh:
            if key is not None and seen.get(key):
                self.stats.already_handled += 1
                self._done.append((entry, key))
                continue
            if key is not None:
                same = self._by_key.get(key)
                if same is not None:  # the same event read twice (published twice): acknowledged with the first
                    same.entries.append(entry)
                    continue
            running = _Running(entry, key)
            self._running[id(event)] = running
            if key is not None:
                self._by_key[key] = running
            self.stats.delivered += 1
            await self.dispatcher.put(event)
        if self._done:
            self._wake_acker.set()
        self._sweep()

    def _sweep(self) -> None:
        """Entries the dispatcher dropped as duplicates: with nothing queued or held, every event put was either
        started or dropped (no checkpoint between taking an event and starting it)."""
        if self.dispatcher.pending() or self.dispatcher.closed:
            return
        dropped = [k for k, r in self._running.items() if not r.started]
        for k in dropped:
            self._finish(self._running.pop(k))

    async def _acker(self) -> None:
        delay = 0.1
        try:
            while True:
                if not self._done:
                    if self._stopping and not self._running:
                        return
                    self._wake_acker = anyio.Event()
                    await self._wake_acker.wait()
                    continue
                batch, self._done = self._done[:512], self._done[512:]
                try:
                    await self.bus.acknowledge(batch)
                except BusUnavailable as exc:
                    self._done[:0] = batch
                    log.warning("bus: cannot acknowledge %d handled event(s): %s; retrying", len(batch), exc)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.1
                self.stats.acknowledged += len(batch)
                self._space.set()
        finally:
            self._stopped.set()
