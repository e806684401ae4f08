"""A Redis lock for user code, correct under slow holders and Redis trouble (docs/fleet.md#a-lock-for-your-code).

::

    locks = RedisLocks("redis://10.0.0.5:6379/0", app_id="102000001")
    async with locks:                                 # one Redis client for every lock
        async with locks.lock("daily-report", ttl=30):  # waits while another process holds it
            await send_the_report()

- **Token-checked**: the key holds a random token; renewal and release act only while it still holds
  this holder's token (one Lua script each), so a holder whose lock expired never deletes or extends the
  next holder's lock.
- **Renewed** every ``ttl / 3`` while the block runs, so a slow block keeps its lock.
- **Never lost silently**: when a renewal finds the token gone, or no renewal has succeeded for
  ``ttl × 0.99 − margin`` on this process's clock (Redis unreachable), the block is *cancelled* and
  :class:`LockLost` is raised from the ``async with``: the code stops before another holder can start.

Requires the ``redis`` extra (coredis).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import anyio

from framework.errors import LockLost, LockTimeout
from framework.protocol.fleet import LeaseTiming

__all__ = ["LockLost", "LockTimeout", "RedisLocks"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


# LockLost and LockTimeout live in framework.errors (bot.lock raises them in one process too)


class RedisLocks:
    """Locks named per app in one Redis (``<namespace>:{<app id>}:lock:<name>``). Use it as ``async with`` (it
    owns a Redis client), then :meth:`lock`."""

    def __init__(self, redis_url: str, *, app_id: str, namespace: str = "qqbot") -> None:
        self.redis_url = redis_url
        self.prefix = f"{namespace}:{{{app_id}}}:lock"
        self._client: Any = None
        self._cm: Any = None

    async def __aenter__(self) -> RedisLocks:
        import coredis

        client: coredis.Redis[str] = coredis.Redis.from_url(
            self.redis_url, decode_responses=True, connect_timeout=5.0, stream_timeout=5.0
        )
        self._cm = client
        self._client = await client.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        cm, self._cm, self._client = self._cm, None, None
        if cm is not None:
            await cm.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def lock(
        self, name: str, *, ttl: float = 10.0, wait: float | None = None, poll: float = 0.1
    ) -> AsyncIterator[str]:
        """Hold the lock ``name`` for the block (yields the holder's token). Waits for it at most ``wait``
        seconds (None: as long as it takes), then raises :class:`LockTimeout`; raises :class:`LockLost` when
        the lock was lost while the block ran (the block is cancelled at that moment)."""
        from coredis import PureToken

        client = self._client
        if client is None:
            raise RuntimeError("enter the RedisLocks first: `async with RedisLocks(url, app_id=...) as locks:`")
        timing = LeaseTiming(ttl=ttl, renew_every=ttl / 3, drift=0.01, margin=ttl / 10)
        key = f"{self.prefix}:{name}"
        token = secrets.token_hex(16)
        started = time.monotonic()
        while True:
            sent_at = time.monotonic()
            with anyio.fail_after(timing.renew_every):
                taken = await client.set(key, token, px=timing.ttl_ms, condition=PureToken.NX)
            if taken:
                break
            if wait is not None and time.monotonic() - started >= wait:
                raise LockTimeout(f"lock {name!r}: still held by another holder after {wait:g} s")
            await anyio.sleep(poll)
        lost: list[str] = []
        body = anyio.CancelScope()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep, client, key, token, timing, timing.serve_until(sent_at), body, lost)
                try:
                    with body:
                        yield token
                finally:
                    tg.cancel_scope.cancel()
        finally:
            # shielded and bounded; an unreachable Redis is ignored: the lock expires by itself
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(timing.renew_every),
                contextlib.suppress(Exception),
            ):
                await client.eval(_RELEASE, keys=[key], args=[token])
        if lost and body.cancelled_caught:
            raise LockLost(f"lock {name!r} was lost while its block ran ({lost[0]}); the block was cancelled")

    async def _keep(
        self,
        client: Any,
        key: str,
        token: str,
        timing: LeaseTiming,
        deadline: float,
        body: anyio.CancelScope,
        lost: list[str],
    ) -> None:
        async with anyio.create_task_group() as tg:

            async def renew() -> None:
                nonlocal deadline
                while True:
                    await anyio.sleep(timing.renew_every)
                    sent_at = time.monotonic()
                    try:
                        with anyio.fail_after(timing.renew_every):
                            ok = await client.eval(_RENEW, keys=[key], args=[token, timing.ttl_ms])
                    except Exception:
                        continue  # the deadline below decides
                    if not int(ok):
                        lost.append("another holder has it now: it expired before a renewal reached Redis")
                        body.cancel()
                        tg.cancel_scope.cancel()
                        return
                    deadline = sent_at + timing.serve_window()

            async def watch() -> None:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    await anyio.sleep(min(0.05, left))
                lost.append(f"no renewal reached Redis for {timing.serve_window():.1f} s")
                body.cancel()
                tg.cancel_scope.cancel()

            tg.start_soon(renew)
            tg.start_soon(watch)
