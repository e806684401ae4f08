"""Sans-IO backoff arithmetic shared by every retry loop: token fetches, REST retries and 429s, gateway reconnects.

- :class:`Backoff`: the policy, a pure function of the attempt number (capped exponential, "equal jitter").
- :class:`BackoffCounter`: the policy plus a count of consecutive failures, for loops that keep state
  (the gateway machine's reconnects).

Nothing here sleeps: callers pass a random source and wait the returned delay on their own clock.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffCounter", "RandomSource"]

RandomSource = Callable[[], float]
"""Returns a float in ``[0, 1)``; ``random.random`` by default, a constant in tests."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``min(cap, base * factor**(attempt-1))`` minus up to ``jitter`` of it.

    ``attempt`` counts from 1. With ``jitter=0.5`` the delay lies in ``[d/2, d]`` ("equal jitter"),
    which spreads retries of many clients while keeping a floor.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay before attempt ``attempt + 1``."""
        exponent = max(0, attempt - 1)
        # avoid float overflow for absurd attempt counts
        if exponent > 64:
            return self.cap
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, attempt: int, rand: RandomSource = _random.random) -> float:
        """The jittered delay after the ``attempt``-th failure."""
        ceiling = self.ceiling(attempt)
        return ceiling * (1.0 - self.jitter * min(max(rand(), 0.0), 1.0))


class BackoffCounter:
    """Counts consecutive failures and answers each with the :class:`Backoff` delay of that attempt."""

    __slots__ = ("_rand", "failures", "policy")

    def __init__(self, policy: Backoff, rand: RandomSource = _random.random) -> None:
        self.policy = policy
        self.failures = 0
        self._rand = rand

    def next_delay(self) -> float:
        """Count one failure and return how long to wait before trying again."""
        self.failures += 1
        return self.policy.delay(self.failures, self._rand)

    def reset(self) -> None:
        """Forget the failures (the next delay is the first one again)."""
        self.failures = 0

    def __repr__(self) -> str:
        return f"BackoffCounter({self.policy!r}, failures={self.failures})"
