"""``async with bot.lock(name)``: one holder at a time, in one process (anyio) and, for a bot run with
``sessions = "redis://..."``, across the fleet (a real redis-server: another process's RedisLocks waits)."""

from __future__ import annotations

import anyio
import pytest

from framework import Bot
from framework.app.locks import LocalLocks
from framework.emulator import Emulator
from framework.errors import LockTimeout, QQBotError
from framework.runtime.locks import RedisLocks
from framework.testing import inprocess_runner


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_bot_lock_in_one_process_has_one_holder_at_a_time(backend: str) -> None:
    async def main() -> None:
        bot = Bot("locks")
        inside: list[str] = []
        peak = 0

        async def holder(name: str) -> None:
            nonlocal peak
            async with bot.lock("daily-report", ttl=5):
                inside.append(name)
                peak = max(peak, len(inside))
                await anyio.sleep(0.05)
                inside.remove(name)

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(holder, f"h{i}")
        assert peak == 1

        async with bot.lock("busy"):
            with pytest.raises(LockTimeout, match="'busy': still held") as caught:
                async with bot.lock("busy", wait=0.1):
                    pass
        assert isinstance(caught.value, QQBotError)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_fleet_bot_lock_is_held_in_redis(redis_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        bot = Bot("fleet-locks")

        @bot.on_ready
        async def ready() -> None:
            return None

        emulator = Emulator()
        async with emulator, inprocess_runner(bot, emulator, sessions=redis_server.url) as runner:
            with anyio.fail_after(20):
                await runner.wait_ready()
            assert isinstance(bot.locks, RedisLocks)  # swapped in for the run
            async with RedisLocks(redis_server.url, app_id=runner.app_id) as other_process:
                async with bot.lock("daily-report", ttl=5):
                    with pytest.raises(LockTimeout):  # another process of the fleet waits for it
                        async with other_process.lock("daily-report", wait=0.3):
                            pass
                async with other_process.lock("daily-report", wait=2):  # released: the other takes it
                    pass
        assert isinstance(bot.locks, LocalLocks)  # back to local locks after the run

    anyio.run(main, backend=backend)
