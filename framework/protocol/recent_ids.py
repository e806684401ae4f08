"""A bounded memory of recently seen ids: delivering a redelivered event (or acknowledging an interaction) once.

One structure serves every "have I seen this id lately?" question in the framework: the gateway
dispatcher's dedupe window (size bound only), the webhook app's redelivery window (size and age) and
the app's interaction acknowledgements. Sans-IO: time, when an age limit is wanted, comes from ``now``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable

__all__ = ["RecentIds"]


class RecentIds:
    """Remembers up to ``max_size`` keys (oldest forgotten first) and, with ``ttl``, for ``ttl`` seconds of ``now()``.

    ``ttl=None`` bounds by size only and never reads the time; ``now`` is required when ``ttl`` is set.
    A set answers membership and a deque keeps arrival order, so :meth:`seen` costs a set lookup and a
    deque append (it sits on the gateway's per-event path).
    """

    __slots__ = ("_keys", "_max_size", "_now", "_order", "_stamps", "_ttl")

    def __init__(
        self, max_size: int = 10_000, *, ttl: float | None = None, now: Callable[[], float] | None = None
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size!r}")
        if ttl is not None and now is None:
            raise ValueError("a ttl needs a now() time source")
        self._max_size = max_size
        self._ttl = ttl
        self._now = now
        self._keys: set[Hashable] = set()
        self._order: deque[Hashable] = deque()  # oldest first
        self._stamps: deque[float] = deque()  # parallel to _order, only with a ttl

    @property
    def max_size(self) -> int:
        """How many keys are kept at most."""
        return self._max_size

    def __len__(self) -> int:
        return len(self._keys)

    def _expire(self) -> float:
        """Forget the keys older than the ttl; returns the time read."""
        assert self._ttl is not None and self._now is not None  # only called with a ttl
        now = self._now()
        limit = now - self._ttl
        stamps, order, keys = self._stamps, self._order, self._keys
        while stamps and stamps[0] <= limit:
            stamps.popleft()
            keys.discard(order.popleft())
        return now

    def add(self, key: Hashable) -> bool:
        """Record ``key``; True when it is new, False when it was already seen within the window."""
        return not self.seen(key)

    def seen(self, key: Hashable) -> bool:
        """Record ``key``; True when it was already seen within the window (the negation of :meth:`add`)."""
        if self._ttl is not None:
            return self._seen_timed(key)
        keys = self._keys  # size-bound only: the delivery path's case, once per event
        if key in keys:
            return True
        keys.add(key)
        order = self._order
        order.append(key)
        if len(order) > self._max_size:
            keys.discard(order.popleft())
        return False

    def _seen_timed(self, key: Hashable) -> bool:
        now = self._expire()
        keys = self._keys
        if key in keys:
            return True
        keys.add(key)
        self._order.append(key)
        self._stamps.append(now)
        if len(self._order) > self._max_size:
            keys.discard(self._order.popleft())
            self._stamps.popleft()
        return False

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (e.g. an accepted callback that could not be acknowledged, so it will come again).

        Linear in the window size; it is for the rare failure path, not per event.
        """
        if key not in self._keys:
            return
        self._keys.discard(key)
        index = self._order.index(key)
        del self._order[index]
        if self._stamps:
            del self._stamps[index]

    def __contains__(self, key: Hashable) -> bool:
        if self._ttl is not None:
            self._expire()
        return key in self._keys

    def __repr__(self) -> str:
        return f"RecentIds({len(self._keys)}/{self._max_size}, ttl={self._ttl!r})"
