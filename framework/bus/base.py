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
from urllib.parse import parse_qsl

from anyio.abc import TaskStatus

from framework.bus.message import BusMessage
from framework.errors import QQBotError

__all__ = ["BusEntry", "BusUnavailable", "EventBus", "bus_options"]


_INT_OPTIONS = {"partitions": (1, 4096), "maxlen": (100, 10**9), "idempotency_ttl": (1, 30 * 86_400)}


def bus_options(query: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The bus's own options in a ``--bus`` URL's query (``partitions``, ``maxlen``, ``lease_ttl``,
    ``idempotency_ttl``, ``namespace``), checked, and the other parameters; ValueError naming the bad one."""
    options: dict[str, Any] = {}
    rest = []
    for name, value in parse_qsl(query):
        if name in _INT_OPTIONS:
            low, high = _INT_OPTIONS[name]
            if not value.isdigit() or not low <= int(value) <= high:
                raise ValueError(f"--bus ...?{name}={value}: expected an integer in {low}..{high}")
            options[name] = int(value)
        elif name == "lease_ttl":
            try:
                ttl = float(value)
            except ValueError:
                ttl = -1.0
            if not 1.0 <= ttl <= 300.0:
                raise ValueError(f"--bus ...?lease_ttl={value}: expected seconds in 1..300")
            options[name] = ttl
        elif name == "namespace":
            if not value or not value.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"--bus ...?namespace={value!r}: expected letters, digits, '-' and '_'")
            options[name] = value
        else:
            rest.append((name, value))
    return options, rest


class BusUnavailable(QQBotError):
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
