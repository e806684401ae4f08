"""The gateway side of the bus: a sink that publishes every dispatch event, never stalling the shards' heartbeats.

:class:`BusPublisher` is an ``async def sink(event)`` for a session manager or the webhook app. The sink only
appends the event to a bounded buffer; :meth:`BusPublisher.run` sends the buffer to the bus in batches (one
round trip per batch), in arrival order, and retries a failed batch until the bus takes it (a batch that timed
out may have been stored: the workers' idempotency guard absorbs the repeat).

When the buffer is full (the bus is slow or down), ``policy`` decides:

- ``"block"`` (default): the sink waits for space. The session manager's queue fills, then each shard stops
  reading its socket; heartbeats keep flowing (the shard's timer runs apart from its reader and tolerates the
  missing ACKs while it is blocked). Nothing is lost while the connection holds; if the platform drops it, the
  shard resumes from the last event it read and the platform resends the rest. The buffer and the queue are in
  memory: events in them are lost if the gateway process dies.
- ``"drop"``: the event is dropped and counted (:attr:`PublisherStats.dropped`); the first drop of an outage
  and then every thousandth is logged at WARNING, and the end of the outage (the bus answers again, or the buffer has
  room again) at WARNING with the count.

Observers read :attr:`BusPublisher.stats`, :meth:`BusPublisher.pending` and :attr:`BusPublisher.failing_since`
(the metrics plugin does, at scrape time); a tracer set as :attr:`BusPublisher.tracer` opens a span per event
and its trace context travels in the message (:attr:`~framework.bus.message.BusMessage.trace`). Without one the
per-event path is one ``None`` check.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
from anyio.abc import TaskStatus

from framework.bus.base import BusUnavailable, EventBus
from framework.bus.message import encode_event, partition_key, partition_of
from framework.models.envelope import InboundEvent

__all__ = ["BusPublisher", "FullPolicy", "PublishTracer", "PublisherStats"]

log = logging.getLogger("framework.bus.publisher")

FullPolicy = Literal["block", "drop"]


@dataclass
class PublisherStats:
    published: int = 0
    """Events the bus took."""
    dropped: int = 0
    """Events dropped by the ``drop`` policy."""
    retries: int = 0
    """Batches sent again after a failure."""
    blocked: int = 0
    """Times the sink waited for space (``block`` policy)."""


class PublishTracer(Protocol):
    """What :attr:`BusPublisher.tracer` is (:class:`~framework.observability.tracing.TracingPlugin` sets one)."""

    def start(self, event: InboundEvent) -> tuple[Any, dict[str, str]]:
        """Called when ``event`` enters the buffer: open its publish span; return a handle for :meth:`published`
        and the trace-context headers the message carries to the worker."""
        ...

    def published(self, spans: list[Any]) -> None:
        """The bus took the events of these handles (in publish order): end their spans."""
        ...


class BusPublisher:
    """Buffer ``buffer`` events at most, publish them to ``bus`` in batches of up to ``batch``.

    ``retry_delay`` is the first wait after a failed batch (doubling up to 5 s). Run :meth:`run` in a task
    group; :meth:`close` makes it return once the buffer is empty (or ``drain_timeout`` passed).
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        buffer: int = 10_000,
        policy: FullPolicy = "block",
        batch: int = 256,
        retry_delay: float = 0.1,
    ) -> None:
        if buffer < 1 or batch < 1:
            raise ValueError(f"buffer and batch must be at least 1, got {buffer} and {batch}")
        if policy not in ("block", "drop"):
            raise ValueError(f"policy must be 'block' or 'drop', got {policy!r}")
        self.bus = bus
        self.buffer = buffer
        self.policy = policy
        self.batch = batch
        self.retry_delay = retry_delay
        self.stats = PublisherStats()
        self.tracer: PublishTracer | None = None
        """Set by a tracing plugin (``qqbot_bus_started``) before events arrive; None: no span, no trace context."""
        self.failing_since: float | None = None
        """``time.monotonic()`` when the current outage began (a batch the bus refused, not yet published); None
        while the bus takes every batch."""
        self.last_error: str | None = None
        """Why the last failed batch failed (kept after the bus recovers)."""
        self._queue: deque[tuple[InboundEvent, float, tuple[Any, dict[str, str]] | None]] = deque()
        self._ready = anyio.Event()
        self._space = anyio.Event()
        self._closed = False
        self._outage_drops = 0
        self.finished = anyio.Event()
        """Set when :meth:`run` returned (after :meth:`close`, the buffer published)."""

    def __repr__(self) -> str:
        return f"BusPublisher(bus={self.bus!r}, queued={len(self._queue)}, policy={self.policy!r})"

    def pending(self) -> int:
        """Events buffered and not yet taken by the bus."""
        return len(self._queue)

    async def __call__(self, event: InboundEvent, prepared: Any = None) -> None:
        """The sink: buffer ``event`` (see the module docstring for a full buffer)."""
        queue = self._queue
        while len(queue) >= self.buffer:
            if self.policy == "drop":
                self.stats.dropped += 1
                self._outage_drops += 1
                if self._outage_drops == 1 or self._outage_drops % 1000 == 0:
                    log.warning(
                        "bus publisher buffer full (%d events): dropped %s event %s (%d dropped so far); the bus is "
                        "slow or down",
                        self.buffer,
                        event.type,
                        event.id,
                        self.stats.dropped,
                    )
                return
            self.stats.blocked += 1
            if self.stats.blocked == 1 or self.stats.blocked % 1000 == 0:
                log.warning(
                    "bus publisher buffer full (%d events): holding the gateway's events until the bus takes more",
                    self.buffer,
                )
            if self._space.is_set():
                self._space = anyio.Event()
            await self._space.wait()
        tracer = self.tracer
        traced = None
        if tracer is not None:
            try:
                traced = tracer.start(event)
            except Exception:  # a tracer's bug costs the trace, never the event
                log.exception(
                    "bus publisher: the tracer failed on %s event %s; published untraced", event.type, event.id
                )
        queue.append((event, time.time(), traced))
        self._ready.set()

    def close(self) -> None:
        """Take no more events; :meth:`run` returns once the buffer is published."""
        self._closed = True
        self._ready.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self._run()
        finally:
            self.finished.set()

    async def _run(self) -> None:
        queue = self._queue
        delay = self.retry_delay
        while True:
            if not queue:
                if self._closed:
                    return
                self._ready = anyio.Event()
                await self._ready.wait()
                continue
            taken = [queue[i] for i in range(min(self.batch, len(queue)))]
            batch = []
            spans = []
            for event, received, traced in taken:
                key = partition_key(event)
                if traced is None:
                    data = encode_event(event, received)
                else:
                    data = encode_event(event, received, traced[1])
                    spans.append(traced[0])
                batch.append((partition_of(key, self.bus.partitions, event.id), data))
            try:
                await self.bus.publish(batch)
            except BusUnavailable as exc:
                self.stats.retries += 1
                self.last_error = str(exc)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                    log.warning("bus unavailable: %s; %d event(s) buffered, retrying", exc, len(queue))
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _ in taken:
                queue.popleft()
            self.stats.published += len(taken)
            self._space.set()
            if spans and self.tracer is not None:
                try:
                    self.tracer.published(spans)
                except Exception:
                    log.exception("bus publisher: the tracer failed to end %d publish span(s)", len(spans))
            if self.failing_since is not None:
                log.warning(
                    "bus available again after %.1f s; %d event(s) dropped meanwhile, %d buffered",
                    time.monotonic() - self.failing_since,
                    self._outage_drops,
                    len(queue),
                )
                self.failing_since = None
                self._outage_drops = 0
                delay = self.retry_delay
            elif self._outage_drops and len(queue) < self.buffer:
                log.warning(
                    "bus publisher buffer has room again; %d event(s) dropped while it was full", self._outage_drops
                )
                self._outage_drops = 0
