"""The ``--bus nats://...`` URL, parsed without the nats extra (so the CLI checks it before connecting)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from framework.bus.base import bus_options

__all__ = ["NatsBusConfig", "parse_nats_bus_url"]


@dataclass(frozen=True, slots=True)
class NatsBusConfig:
    """A parsed ``--bus nats://HOST:PORT?partitions=16&maxlen=100000&lease_ttl=10&idempotency_ttl=86400``."""

    nats_url: str
    namespace: str = "qqbot"
    partitions: int = 16
    maxlen: int = 100_000
    lease_ttl: float = 10.0
    idempotency_ttl: int = 86_400


def parse_nats_bus_url(url: str) -> NatsBusConfig:
    """Validate ``url``; ValueError naming the bad part and the fix."""
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls"):
        raise ValueError(f"--bus {parts.scheme}://...: expected nats://HOST:PORT (or tls://, redis://)")
    if not parts.hostname:
        raise ValueError("--bus nats://: the URL names no host; use nats://HOST:PORT")
    options, rest = bus_options(parts.query)
    return NatsBusConfig(urlunsplit(parts._replace(query=urlencode(rest))), **options)
