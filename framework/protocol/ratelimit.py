"""Sans-IO rate-limit bookkeeping (protocol.md §6.2); the backoff arithmetic is :mod:`framework.protocol.backoff`.

The platform documents HTTP 429 and a set of body codes but no rate-limit headers, so the limiter
*learns*: each 429 on a route blocks that route until the wait is over and widens the minimum spacing
between later calls to it; successes narrow the spacing again. ``Retry-After`` is honoured when a
server (e.g. a proxy or the emulator) sends it; its presence on the real platform is UNCONFIRMED.

Nothing here sleeps or does I/O: callers pass ``now`` (monotonic seconds) and a random source.
"""

from __future__ import annotations

import email.utils
import random as _random
from dataclasses import dataclass, field

from framework.protocol.backoff import Backoff, RandomSource

__all__ = ["RouteLimiter", "RouteState", "parse_retry_after", "route_key"]


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
    """What the limiter knows about one route."""

    blocked_until: float = 0.0
    """No call before this time (set by a 429)."""
    interval: float = 0.0
    """Learned minimum spacing between calls."""
    next_free: float = 0.0
    """Earliest time the next call may start (reservations of concurrent callers)."""
    strikes: int = 0
    """Consecutive 429s; drives the backoff when no ``Retry-After`` is given."""


@dataclass(slots=True)
class RouteLimiter:
    """Per-route bookkeeping. Call :meth:`acquire` before a request, then :meth:`on_success` or
    :meth:`on_rate_limited` with its outcome.
    """

    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, factor=2.0, cap=60.0, jitter=0.25))
    initial_interval: float = 0.2
    """Spacing learned after the first 429 on a route."""
    max_interval: float = 10.0
    decay: float = 0.8
    """Each success multiplies the spacing by this; it drops to 0 below ``initial_interval / 4``."""
    max_routes: int = 4096
    rand: RandomSource = _random.random
    _routes: dict[str, RouteState] = field(default_factory=dict)

    def state(self, key: str) -> RouteState | None:
        """The state of ``key`` (``None`` when nothing was learned)."""
        return self._routes.get(key)

    def peek(self, key: str, now: float) -> float:
        """Seconds a call to ``key`` would have to wait now, without reserving a slot."""
        st = self._routes.get(key)
        if st is None:
            return 0.0
        return max(0.0, st.blocked_until - now, st.next_free - now)

    def acquire(self, key: str, now: float) -> float:
        """Reserve the next slot on ``key``; returns how long the caller must wait first."""
        st = self._routes.get(key)
        if st is None:
            return 0.0
        start = max(now, st.blocked_until, st.next_free)
        st.next_free = start + st.interval
        return start - now

    def on_success(self, key: str) -> None:
        """A call to ``key`` succeeded: forget the strikes and relax the spacing."""
        st = self._routes.get(key)
        if st is None:
            return
        st.strikes = 0
        st.interval *= self.decay
        if st.interval < self.initial_interval / 4:
            del self._routes[key]

    def on_rate_limited(self, key: str, now: float, retry_after: float | None = None) -> float:
        """A call to ``key`` was rate limited: block the route and return the wait before retrying.

        ``retry_after`` (seconds) wins when given; otherwise the backoff of the strike count is used.
        """
        st = self._routes.get(key)
        if st is None:
            self._prune(now)
            st = self._routes[key] = RouteState()
        st.strikes += 1
        wait = retry_after if retry_after is not None else self.backoff.delay(st.strikes, self.rand)
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
