"""``bot.lock(name)``: one holder at a time, in one process (:class:`LocalLocks`) or across a fleet.

A bot starts with :class:`LocalLocks` (anyio locks by name). ``BotRunner`` with ``sessions = "redis://..."``
swaps in :class:`framework.runtime.locks.RedisLocks` while the bot runs, so the same code holds the lock
across every process of the fleet (token-checked, renewed, cancelled when lost: docs/fleet.md).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio

from framework.errors import LockTimeout

__all__ = ["LocalLocks", "Locks"]


class Locks(Protocol):
    """What ``bot.lock`` needs: ``lock(name, ttl=, wait=)``, an async context manager yielding a token."""

    def lock(self, name: str, *, ttl: float = 10.0, wait: float | None = None) -> AbstractAsyncContextManager[str]: ...


class LocalLocks:
    """Locks by name within this process. ``ttl`` is accepted for the same signature as
    :class:`~framework.runtime.locks.RedisLocks` (a local lock cannot outlive its holder, so it is not needed)."""

    def __init__(self) -> None:
        self._locks: dict[str, anyio.Semaphore] = {}  # not task-owned: a lock by name

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float = 10.0, wait: float | None = None) -> AsyncIterator[str]:
        """Hold the lock ``name`` for the block (yields a token); :class:`~framework.errors.LockTimeout` after
        ``wait`` seconds (None: as long as it takes)."""
        held = self._locks.setdefault(name, anyio.Semaphore(1))
        taken = False
        with anyio.move_on_after(wait):
            await held.acquire()
            taken = True
        if not taken:
            raise LockTimeout(f"lock {name!r}: still held by another holder after {wait:g} s")
        try:
            yield secrets.token_hex(8)
        finally:
            held.release()

    def __repr__(self) -> str:
        return f"LocalLocks({sorted(self._locks)})"
