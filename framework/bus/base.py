"""The backend interface of the event bus: what a Redis Streams (or NATS, Kafka, Pulsar) adapter provides.

The gateway side only calls :meth:`EventBus.publish`. The worker side runs :meth:`EventBus.run` (membership,
partition assignment, claiming a dead worker's entries) and loops over :meth:`EventBus.receive`, then reports
each entry's end with :meth:`EventBus.acknowledge`; :meth:`EventBus.handled` answers the idempotency guard.
Everything else (the buffer and its policy, feeding the bot's dispatcher, acknowledging when the handlers
finished) is backend-independent, in :mod:`framework.bus.publisher` and :mod:`framework.bus.consumer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from anyio.abc import TaskStatus

from framework.bus.message import BusMessage

__all__ = ["BusEntry", "BusUnavailable", "EventBus"]


class BusUnavailable(Exception):
    """The bus could not be reached (or did not answer in time); the operation may be retried."""


@dataclass(slots=True)
class BusEntry:
    """One received entry: where it came from and what it holds (``message`` None: undecodable)."""

    partition: int
    entry_id: str
    message: BusMessage | None


class EventBus(Protocol):
    """A partitioned, durable stream of :class:`BusMessage` entries with consumer acknowledgements.

    Contract: an entry received and not acknowledged is delivered again (to this or another worker) once the
    backend decides its worker is gone; entries of one partition are received by one worker at a time, in
    publish order.
    """

    partitions: int
    name: str
    """``redis``, ``nats``, ...: the ``source`` of the events workers hand to their bot."""

    async def publish(self, batch: Sequence[tuple[int, bytes]], /) -> None:
        """Append each ``(partition, encoded message)`` in order; raise :class:`BusUnavailable` when it failed (part
        of the batch may have been stored: the consumer's idempotency guard absorbs the repeat)."""
        ...

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Worker side: keep this worker's membership and partitions until cancelled; started once assigned."""
        ...

    async def receive(self, limit: int, /) -> list[BusEntry]:
        """Worker side: up to ``limit`` entries of this worker's partitions (claimed ones first), in order per
        partition; an empty list after a short wait when there are none."""
        ...

    async def handled(self, keys: Sequence[str], /) -> list[bool]:
        """Worker side: whether each idempotency key was marked handled (within its TTL)."""
        ...

    async def acknowledge(self, done: Sequence[tuple[BusEntry, str | None]], /) -> None:
        """Worker side: mark each key handled (with the TTL) and acknowledge its entry, as one step per entry."""
        ...

    def seq_store(self) -> Any:
        """Worker side: shared ``msg_seq`` counters (:class:`framework.app.ledger.SeqStore`) for the bot's replies."""
        ...
