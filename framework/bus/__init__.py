"""The event bus: gateway processes publish every dispatch event to a durable stream, workers run the handlers.

- :mod:`framework.bus.message`: the message format and the partitioning (sans I/O).
- :mod:`framework.bus.base`: the backend interface (:class:`EventBus`).
- :mod:`framework.bus.redis`: Redis Streams (the ``redis`` extra).
- :mod:`framework.bus.nats`: NATS JetStream (the ``nats`` extra; asyncio only).
- :mod:`framework.bus.publisher`: the gateway side's sink (bounded buffer, documented full-buffer policy).
- :mod:`framework.bus.consumer`: the worker side, feeding a bot's dispatcher and acknowledging when it finished.

See docs/event-bus.md.
"""

from __future__ import annotations

from typing import Any

from framework.bus.base import BusEntry, BusUnavailable, EventBus
from framework.bus.consumer import BusConsumer, ConsumerStats
from framework.bus.message import BusMessage, decode_message, encode_message, partition_key, partition_of
from framework.bus.publisher import BusPublisher, FullPolicy, PublisherStats

__all__ = [
    "BusConsumer",
    "BusEntry",
    "BusMessage",
    "BusPublisher",
    "BusUnavailable",
    "ConsumerStats",
    "EventBus",
    "FullPolicy",
    "PublisherStats",
    "check_bus_url",
    "decode_message",
    "encode_message",
    "open_bus",
    "partition_key",
    "partition_of",
]


def check_bus_url(url: str) -> str:
    """The URL's backend (``redis`` or ``nats``) once its options are valid; ValueError naming the fix otherwise."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss"):
        from framework.bus.redis import parse_redis_bus_url

        parse_redis_bus_url(url)
        return "redis"
    if scheme in ("nats", "tls"):
        from framework.bus.nats_url import parse_nats_bus_url

        parse_nats_bus_url(url)
        return "nats"
    raise ValueError(f"--bus {url.split('@')[-1]!r}: expected redis://HOST:PORT/DB or nats://HOST:PORT")


def open_bus(url: str, *, app_id: str, **options: Any) -> Any:
    """The backend a ``--bus`` URL names, to enter with ``async with``."""
    if check_bus_url(url) == "nats":
        try:
            from framework.bus.nats import NatsJetStreamBus
        except ImportError as exc:
            raise RuntimeError(
                f"--bus nats://... needs the nats extra: pip install 'qqbot-framework[nats]' ({exc})"
            ) from None
        return NatsJetStreamBus(url, app_id=app_id, **options)
    try:
        from framework.bus.redis import RedisStreamsBus
    except ImportError as exc:
        raise RuntimeError(
            f"--bus redis://... needs the redis extra: pip install 'qqbot-framework[redis]' ({exc})"
        ) from None
    return RedisStreamsBus(url, app_id=app_id, **options)
