"""A bounded memory of recently seen event ids, for dispatching redelivered callbacks once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["RecentIds"]


class RecentIds:
    """Remembers up to ``max_size`` keys for ``ttl`` seconds of ``now()`` time (oldest forgotten first)."""

    def __init__(self, *, max_size: int, ttl: float, now: Callable[[], float]) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size!r}")
        self._max_size = max_size
        self._ttl = ttl
        self._now = now
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest, stamp = next(iter(self._seen.items()))
            if now - stamp < self._ttl and len(self._seen) <= self._max_size:
                break
            del self._seen[oldest]

    def add(self, key: Hashable) -> bool:
        """Record ``key``; False when it was already seen within the window."""
        now = self._now()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        if len(self._seen) > self._max_size:
            self._seen.popitem(last=False)
        return True

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (used when an accepted callback could not be acknowledged)."""
        self._seen.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        self._expire(self._now())
        return key in self._seen
