"""Sans-IO arithmetic of a fleet of processes sharing a bot's shards (docs/fleet.md).

Plain values in, plain values out; no Redis, no clock, no anyio. The Redis session manager
(:mod:`framework.runtime.gateway.sessions.redis`) feeds it what it read from Redis and acts on the answer:

- :func:`quotas`: how many shards each live process should hold (``M // N``, the first ``M % N``
  processes in id order one more), so that every process computes the same split from the same view;
- :func:`plan`: what one process does this round: which free shards to try to take, which of its own to
  hand over (at most ``max_moves`` per round, only at a safe point: shards that are READY or idle);
- :class:`LeaseTiming`: until when a holder may keep serving a shard after a renewal, measured on its own
  clock from the moment it *sent* the renewal, minus a clock-rate allowance and a margin for closing the
  connection, so that it has stopped before the lease can expire in Redis and another process takes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LeaseTiming", "Plan", "holders_from", "plan", "quotas", "spread_order"]


def quotas(members: Iterable[str], shard_count: int) -> dict[str, int]:
    """Target shard count of each member: ``shard_count // n``, plus one for the first ``shard_count % n``
    members in sorted order. Every member computes the same answer from the same set."""
    ordered = sorted(set(members))
    if not ordered:
        return {}
    base, extra = divmod(max(0, shard_count), len(ordered))
    return {member: base + (1 if index < extra else 0) for index, member in enumerate(ordered)}


def spread_order(member: str, shards: Iterable[int]) -> list[int]:
    """``shards`` in an order that depends on ``member``: processes that look for free shards at the same time
    try different ones first instead of all racing for the lowest id."""
    return sorted(shards, key=lambda s: hashlib.blake2b(f"{member}/{s}".encode(), digest_size=8).digest())


@dataclass(frozen=True, slots=True)
class Plan:
    """One round's decision for one process."""

    target: int
    """Shards this process should hold."""
    acquire: tuple[int, ...]
    """Free shards to try to take (in this order), at most ``target - held``."""
    release: tuple[int, ...]
    """Own shards to hand over now (their sessions stay resumable for the taker)."""


def plan(
    me: str,
    members: Iterable[str],
    holders: Mapping[int, str | None],
    shard_count: int,
    *,
    movable: Iterable[int] | None = None,
    max_moves: int = 1,
) -> Plan:
    """Decide what ``me`` does this round.

    ``members`` are the live processes (``me`` is counted even if missing), ``holders`` maps every shard
    ``[0, shard_count)`` to the member holding its lease (None: free; a shard missing from the map counts as
    free). ``movable`` are the own shards at a safe point to hand over (default: all own shards).

    A process above its target releases at most ``max_moves`` shards per round (highest ids first, so the
    choice is stable); a process below its target tries free shards. A lease held by a process no longer in
    ``members`` is left alone: it expires by itself, and only then is the shard free.
    """
    live = set(members) | {me}
    target = quotas(live, shard_count)[me]
    mine = sorted(s for s in range(shard_count) if holders.get(s) == me)
    if len(mine) > target:
        allowed = set(mine if movable is None else movable) & set(mine)
        excess = len(mine) - target
        release = tuple(sorted(allowed, reverse=True)[: min(excess, max(0, max_moves))])
        return Plan(target, (), release)
    free = [s for s in range(shard_count) if holders.get(s) is None]
    want = target - len(mine)
    return Plan(target, tuple(spread_order(me, free)[:want]), ())


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """Lease arithmetic, in seconds.

    Redis starts a lease's ``ttl`` when the command *arrives*, which is after the holder sent it; so the
    holder counts from the send time (never later than Redis's start). Its own clock may run slow compared
    with the Redis host's by at most ``drift`` (a fraction), and closing a connection takes up to ``margin``.
    The holder therefore stops serving at :meth:`serve_until` and has stopped before the lease can expire
    on the Redis host and be taken by another process.
    """

    ttl: float = 15.0
    renew_every: float = 3.0
    drift: float = 0.01
    margin: float = 3.0

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.renew_every <= 0:
            raise ValueError(f"lease ttl and renew interval must be positive, got {self.ttl} and {self.renew_every}")
        if not 0 <= self.drift < 0.5:
            raise ValueError(f"lease drift must be in [0, 0.5), got {self.drift}")
        if self.serve_window() <= self.renew_every:
            raise ValueError(
                f"lease ttl {self.ttl:g} s leaves {self.serve_window():.2f} s of service after the margin "
                f"({self.margin:g} s) and drift; raise the ttl above {self.renew_every:g} s of renewal plus the margin"
            )

    def serve_window(self) -> float:
        """Seconds a renewal buys the holder, on its own clock."""
        return self.ttl * (1.0 - self.drift) - self.margin

    def serve_until(self, sent_at: float) -> float:
        """The holder's clock reading after which it must have stopped, for a renewal sent at ``sent_at``."""
        return sent_at + self.serve_window()

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl * 1000))

    @classmethod
    def for_ttl(cls, ttl: float, *, close_timeout: float = 2.0) -> LeaseTiming:
        """Defaults derived from ``ttl``: renew every ``ttl / 5``, 1 % drift, a margin of ``close_timeout``
        plus one second (at most ``ttl / 4``)."""
        margin = min(close_timeout + 1.0, ttl / 4)
        return cls(ttl=ttl, renew_every=ttl / 5, drift=0.01, margin=margin)


def holders_from(values: Sequence[str | None]) -> dict[int, str | None]:
    """``{shard: member}`` from the lease values ``"member token"`` read for shards ``0, 1, ...`` (None: free)."""
    out: dict[int, str | None] = {}
    for shard, value in enumerate(values):
        out[shard] = None if not value else value.rsplit(" ", 1)[0]
    return out
