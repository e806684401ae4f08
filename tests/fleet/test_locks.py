"""RedisLocks against a real redis-server of the suite's own (conftest): exclusion, renewal, token-checked
release, and a lost lock cancelling its block, on asyncio and trio."""

from __future__ import annotations

import time

import anyio
import pytest

from framework.runtime.locks import LockLost, LockTimeout, RedisLocks

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_holder_at_a_time_and_a_slow_holder_keeps_its_lock(redis_server, backend: str) -> None:
    events: list[str] = []

    async def main() -> None:
        async with RedisLocks(redis_server.url, app_id="1") as locks:

            async def holder(name: str, hold: float) -> None:
                async with locks.lock("job", ttl=1.0):
                    events.append(f"{name} in")
                    await anyio.sleep(hold)  # longer than the TTL: renewals keep it
                    events.append(f"{name} out")

            async with anyio.create_task_group() as tg:
                tg.start_soon(holder, "a", 2.5)
                await anyio.sleep(0.2)
                tg.start_soon(holder, "b", 0.1)
                await anyio.sleep(1.5)  # a is past its TTL and still holds the lock
                with pytest.raises(LockTimeout):
                    async with locks.lock("job", ttl=1.0, wait=0.3):
                        pass

    anyio.run(main, backend=backend)
    assert events == ["a in", "a out", "b in", "b out"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lock_taken_by_another_holder_cancels_the_block_and_is_not_released_by_it(redis_server, backend: str) -> None:
    async def main() -> None:
        async with RedisLocks(redis_server.url, app_id="1") as locks:
            client = locks._client
            started = time.monotonic()
            with pytest.raises(LockLost, match="another holder has it now"):
                async with locks.lock("job", ttl=1.5):
                    # the lock expires behind the holder's back and another holder takes it
                    await client.set("qqbot:{1}:lock:job", "someone-else", px=10_000)
                    await anyio.sleep(30)  # cancelled at the next renewal, within ttl / 3
            assert time.monotonic() - started < 1.5
            assert await client.get("qqbot:{1}:lock:job") == "someone-else"  # not deleted by the old holder

    anyio.run(main, backend=backend)


def test_a_holder_cut_off_from_redis_stops_before_its_lock_expires(redis_server) -> None:
    async def main() -> None:
        async with RedisLocks(redis_server.url, app_id="1") as locks:
            started = time.monotonic()
            with pytest.raises(LockLost, match="no renewal reached Redis"):
                async with locks.lock("job", ttl=2.0):
                    redis_server.stop()
                    await anyio.sleep(30)
            cancelled_after = time.monotonic() - started
        # before the TTL: nobody else could have taken it yet (Redis would have kept it 2 s after the last renewal)
        assert cancelled_after < 2.0, cancelled_after

    anyio.run(main)
