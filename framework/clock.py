"""Injected clocks: everything that waits (heartbeats, token expiry, identify windows, backoff,
rate limits) reads one of these, so tests can drive time without sleeping.

- :class:`SystemClock`: real time (the default).
- :class:`VirtualClock`: time moves only when someone sleeps on it; ``sleep`` jumps the clock and
  returns at once. For sans-IO and MockTransport tests: no real sleeping at all.
- :class:`ScaledClock`: real time sped up by a factor, for end-to-end tests over real sockets that
  involve waiting (a 45 s heartbeat interval passes in 45 ms at ``factor=1000``).

:func:`fail_after` bounds an operation by a clock's time (``anyio.fail_after`` only knows real time).
"""

from __future__ import annotations

import time as _time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from framework.interfaces import Clock  # the interface; re-exported here, where clocks live

__all__ = ["Clock", "ScaledClock", "SystemClock", "VirtualClock", "fail_after"]

_T = TypeVar("_T")


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return _time.monotonic()

    def time(self) -> float:
        return _time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that only moves when slept on (or advanced): ``sleep`` returns at once.

    Each ``sleep`` still yields to the event loop once, so concurrent tasks interleave.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start

    def monotonic(self) -> float:
        return self._now - self._start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"VirtualClock(t={self._now:.3f})"


class ScaledClock:
    """Real time multiplied by ``factor``: waits are ``factor`` times shorter than they read."""

    def __init__(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError(f"ScaledClock factor must be > 0, got {factor!r}")
        self.factor = factor
        self._t0 = _time.monotonic()
        self._wall0 = _time.time()

    def monotonic(self) -> float:
        return (_time.monotonic() - self._t0) * self.factor

    def time(self) -> float:
        return self._wall0 + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds) / self.factor)

    def __repr__(self) -> str:
        return f"ScaledClock(factor={self.factor})"


async def fail_after(clock: Clock, seconds: float, fn: Callable[[], Awaitable[_T]]) -> _T:
    """Return ``await fn()``, or cancel it and raise ``TimeoutError`` after ``seconds`` of ``clock`` time.

    An exception from ``fn`` propagates as itself (not wrapped in an exception group).
    """
    if isinstance(clock, SystemClock):
        with anyio.fail_after(seconds):
            return await fn()
    outcome: list[_T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def watchdog() -> None:
            await clock.sleep(seconds)
            tg.cancel_scope.cancel()

        tg.start_soon(watchdog)
        try:
            outcome.append(await fn())
        except Exception as exc:  # re-raised below, outside the task group
            errors.append(exc)
        tg.cancel_scope.cancel()
    if errors:
        raise errors[0]
    if not outcome:
        raise TimeoutError(f"timed out after {seconds} s")
    return outcome[0]
