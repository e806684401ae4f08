"""Sans-IO rate-limit bookkeeping (protocol.md §6.2); the backoff arithmetic is :mod:`framework.protocol.backoff`.

The platform documents HTTP 429 and a set of body codes but no rate-limit headers, so the limiter
*learns*: each 429 on a route blocks that route until the wait is over and sets a minimum spacing
between the calls queued behind it. The first success once the block is over shows the platform
answers normally again, and the route is forgotten at once (no slow decay: a route must not stay
slow long after the platform recovered).

Bounds, so that nothing local outlives the platform's own limit:

- ``Retry-After`` is honoured when a server (a proxy, the emulator) sends it, its presence on the real
  platform is UNCONFIRMED, but the local block is capped at :data:`MAX_RETRY_AFTER` (60 s): the
  platform's documented short-window limits are per second or per minute (longer quotas arrive as
  body codes that are raised at once), so a longer value is either a proxy's guess or a daily quota,
  and one probe per minute costs less than a route held hostage for an hour.
- A reservation further ahead than the caller's limit is refused (nothing is booked), so callers
  that give up never push later callers back and the queue never reaches past ``max_reservation``.

Nothing here sleeps or does I/O: callers pass ``now`` (monotonic seconds) and a random source.
"""

from __future__ import annotations

import email.utils
import itertools
import math
import random as _random
from dataclasses import dataclass, field

from framework.protocol.backoff import Backoff, RandomSource

__all__ = ["MAX_RETRY_AFTER", "RouteLimiter", "RouteState", "parse_retry_after", "route_key"]

MAX_RETRY_AFTER = 60.0
"""Longest local block one 429 may cause, whatever ``Retry-After`` says (see the module docstring)."""

_epochs = itertools.count(1)


def parse_retry_after(value: str | None, now_unix: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or ``None``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, when.timestamp() - now_unix)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def route_key(method: str, template: str, major: str | None = None) -> str:
    """The limiter bucket of a request: verb, path template and the major id (channel, group, user...).

    Using the major id keeps a 429 on one channel from slowing sends to another, while ids that
    come and go (message ids) stay out of the key so the table does not grow without bound.
    """
    key = f"{method.upper()} {template}"
    return f"{key} [{major}]" if major else key


@dataclass(slots=True)
class RouteState:
    """What the limiter knows about one route (it exists only between a 429 and the next success)."""

    blocked_until: float = 0.0
    """No call before this time (set by a 429)."""
    interval: float = 0.0
    """Learned minimum spacing between calls queued behind the block."""
    next_free: float = 0.0
    """Earliest time the next call may start (reservations of concurrent callers)."""
    strikes: int = 0
    """Consecutive 429s; drives the backoff when no ``Retry-After`` is given."""
    epoch: int = field(default_factory=lambda: next(_epochs))
    """Identifies this episode: a waiter whose route changed epoch has a stale reservation."""


@dataclass(slots=True)
class RouteLimiter:
    """Per-route bookkeeping. Call :meth:`acquire` before a request, then :meth:`on_success` or
    :meth:`on_rate_limited` with its outcome.
    """

    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, factor=2.0, cap=60.0, jitter=0.25))
    initial_interval: float = 0.2
    """Spacing learned after the first 429 on a route (doubles per further 429)."""
    max_interval: float = 10.0
    max_retry_after: float = MAX_RETRY_AFTER
    """Cap on the local block of one 429, ``Retry-After`` included."""
    max_reservation: float = 60.0
    """No caller is booked a slot further ahead than this (seconds); :meth:`acquire` refuses instead."""
    max_routes: int = 4096
    rand: RandomSource = _random.random
    _routes: dict[str, RouteState] = field(default_factory=dict)

    def state(self, key: str) -> RouteState | None:
        """The state of ``key`` (``None`` when nothing was learned)."""
        return self._routes.get(key)

    def epoch(self, key: str) -> int:
        """The episode of ``key`` (0 when free); it changes when the route is forgotten or re-learned."""
        st = self._routes.get(key)
        return 0 if st is None else st.epoch

    def peek(self, key: str, now: float) -> float:
        """Seconds a call to ``key`` would have to wait now, without reserving a slot."""
        st = self._routes.get(key)
        if st is None:
            return 0.0
        return max(0.0, st.blocked_until - now, st.next_free - now)

    def acquire(self, key: str, now: float, max_wait: float = math.inf) -> float:
        """Reserve the next slot on ``key`` and return how long the caller must wait first.

        When that wait exceeds ``max_wait`` or :attr:`max_reservation`, nothing is reserved and the
        wait is returned anyway: the caller should give up (raise) rather than queue.
        """
        st = self._routes.get(key)
        if st is None:
            return 0.0
        start = max(now, st.blocked_until, st.next_free)
        wait = start - now
        if wait > min(max_wait, self.max_reservation):
            return wait
        st.next_free = start + st.interval
        return wait

    def on_success(self, key: str, now: float) -> bool:
        """A call to ``key`` succeeded at ``now``; returns ``True`` when this forgot the route.

        Once the block is over, one success proves the platform answers normally: strikes, spacing
        and queued reservations are dropped (waiters should re-:meth:`acquire`; see :meth:`epoch`).
        A success during the block (a call that started before the 429) changes nothing.
        """
        st = self._routes.get(key)
        if st is None or now < st.blocked_until:
            return False
        del self._routes[key]
        return True

    def on_rate_limited(self, key: str, now: float, retry_after: float | None = None) -> float:
        """A call to ``key`` was rate limited: block the route and return the wait before retrying.

        ``retry_after`` (seconds) wins when given, capped at :attr:`max_retry_after`; otherwise the
        backoff of the strike count is used.
        """
        st = self._routes.get(key)
        if st is None:
            self._prune(now)
            st = self._routes[key] = RouteState()
        st.strikes += 1
        wait = retry_after if retry_after is not None else self.backoff.delay(st.strikes, self.rand)
        wait = min(wait, self.max_retry_after)
        st.blocked_until = max(st.blocked_until, now + wait)
        st.next_free = max(st.next_free, st.blocked_until)
        st.interval = min(self.max_interval, max(self.initial_interval, st.interval * 2))
        return wait

    def _prune(self, now: float) -> None:
        if len(self._routes) < self.max_routes:
            return
        for key in [k for k, s in self._routes.items() if s.blocked_until <= now and s.next_free <= now]:
            del self._routes[key]
        while len(self._routes) >= self.max_routes:
            del self._routes[next(iter(self._routes))]
