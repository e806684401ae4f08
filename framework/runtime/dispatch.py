"""From shard readers to the event sink: a bounded stream, a dedupe window and handler isolation.

Shard readers call :meth:`EventDispatcher.put`, which only waits when the stream is full
(backpressure; heartbeats run in their own task and are never held up). One dispatcher task takes
events off the stream in order and awaits the sink; an exception from the sink is logged and counted,
never propagated to a shard. An event the platform pushes twice (same envelope ``id``, or, without
one, the same ``d.id``) is delivered once, within a bounded window of recent keys.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        if key in self._keys:
            return True
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
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
    """A bounded stream into ``sink`` with dedupe and failure isolation. Run :meth:`run` in a task group."""

    def __init__(self, sink: EventSink, *, buffer: int = 1024, dedupe_window: int = 10_000) -> None:
        self.sink = sink
        self.stats = DispatchStats()
        self.dedupe = DedupeWindow(dedupe_window)
        self._send: MemoryObjectSendStream[InboundEvent]
        self._receive: MemoryObjectReceiveStream[InboundEvent]
        self._send, self._receive = anyio.create_memory_object_stream[InboundEvent](max_buffer_size=buffer)
        self._closed = False
        self.done = anyio.Event()
        """Set when :meth:`run` has delivered everything after :meth:`close`."""

    async def put(self, event: InboundEvent) -> None:
        """Queue an event; waits while the stream is full. Dropped (and logged) after :meth:`close`."""
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            await self._send.send(event)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.warning("dispatcher closed; dropping %s event", event.type)

    def pending(self) -> int:
        """Events queued but not yet handed to the sink."""
        return self._send.statistics().current_buffer_used

    def close(self) -> None:
        """Accept no more events; :meth:`run` returns once the queued ones are delivered."""
        if not self._closed:
            self._closed = True
            self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver events until :meth:`close` has been called and the stream is drained."""
        task_status.started()
        receive = self._receive
        deliver = self._deliver
        async with receive:
            while True:
                # take what is queued without a checkpoint per event; yield once per batch
                try:
                    event = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        event = await receive.receive()
                    except anyio.EndOfStream:
                        break
                except anyio.EndOfStream:
                    break
                await deliver(event)
        self.done.set()

    async def _deliver(self, event: InboundEvent) -> None:
        self.stats.received += 1
        key = dedupe_key(event)
        if key is not None and self.dedupe.seen(key):
            self.stats.duplicates += 1
            return
        try:
            await self.sink(event)
        except Exception:
            self.stats.failures += 1
            log.exception("event sink failed on %s (shard %s, seq %s)", event.type, event.shard_id, event.seq)
        else:
            self.stats.delivered += 1
