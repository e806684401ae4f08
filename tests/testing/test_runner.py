"""BotRunner against the emulator in process: readiness, status, shards, fatal errors and the shutdown order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from framework.app import Bot, Context
from framework.clock import ScaledClock
from framework.emulator import Emulator, EmulatorConfig
from framework.models import InboundEvent, Intents
from framework.protocol.gateway import GatewayFatalError
from framework.runner import BotRunner, EventTracker
from framework.testing import inprocess_runner


@asynccontextmanager
async def running(bot: Bot, emulator: Emulator, **options: Any) -> AsyncIterator[BotRunner]:
    """``bot`` under a BotRunner wired to ``emulator``'s in-process transports."""
    async with emulator, inprocess_runner(bot, emulator, **options) as runner:
        yield runner


async def handled(tracker: EventTracker, event_id: str) -> None:
    with anyio.fail_after(5):
        while tracker.state(event_id) != "handled":
            await tracker.changed()


@pytest.mark.anyio
async def test_lifecycle_order_status_and_clean_close() -> None:
    calls: list[str] = []
    bot = Bot("lifecycle")

    @bot.on_startup
    async def up() -> None:
        calls.append("startup")

    @bot.on_shutdown
    async def down() -> None:
        calls.append("shutdown")

    @bot.on_c2c_message
    async def echo(ctx: Context) -> None:
        calls.append(f"handled {ctx.text}")
        await ctx.reply(ctx.text)

    emulator = Emulator()
    async with running(bot, emulator) as runner:
        assert calls == ["startup"]
        assert runner.api is not None and bot.api is runner.api
        with anyio.fail_after(5):
            await runner.wait_ready()
        status = runner.status()
        assert status.ready and [s.state for s in status.shards] == ["ready"]
        assert emulator.gateway.recorder.sessions[0].intents == int(bot.intents) == int(Intents.GROUP_AND_C2C_EVENT)
        event = emulator.control.c2c_message("hello", openid="u1")
        await handled(runner.tracker, event.id)
        assert [m.content for m in emulator.control.sent("c2c", "u1")] == ["hello"]
        assert runner.status().handled >= 2  # READY and the message
    assert calls == ["startup", "handled hello", "shutdown"]
    assert [c.client_close_code for c in emulator.gateway.recorder.connections] == [1000]
    assert runner.api is None and runner.status().in_flight == 0


@pytest.mark.anyio
async def test_shutdown_waits_for_running_handlers() -> None:
    bot = Bot("patient")
    started = anyio.Event()
    finished: list[str] = []

    @bot.on_c2c_message
    async def slow(ctx: Context) -> None:
        started.set()
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        await ctx.reply("finished")
        finished.append("handler")

    @bot.on_shutdown
    async def down() -> None:
        finished.append("shutdown")

    emulator = Emulator()
    async with running(bot, emulator) as runner:
        await runner.wait_ready()
        emulator.control.c2c_message("go", openid="u1")
        await started.wait()
    assert finished == ["handler", "shutdown"]  # the handler ended (and replied) before the shutdown hooks
    assert [m.content for m in emulator.control.sent("c2c", "u1")] == ["finished"]


@pytest.mark.anyio
async def test_a_handler_past_the_deadline_is_cancelled() -> None:
    bot = Bot("stuck")
    started = anyio.Event()
    outcome: list[str] = []

    @bot.on_c2c_message
    async def stuck(ctx: Context) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise

    @bot.on_shutdown
    async def down() -> None:
        outcome.append("shutdown")

    emulator = Emulator()
    async with running(bot, emulator, handler_deadline=0.05) as runner:
        await runner.wait_ready()
        emulator.control.c2c_message("go", openid="u1")
        await started.wait()
        assert runner.status().in_flight == 1
    assert outcome == ["cancelled", "shutdown"]
    assert runner.status().in_flight == 0


@pytest.mark.anyio
async def test_several_shards_are_all_ready_and_share_the_events() -> None:
    bot = Bot("sharded")
    seen: list[int | None] = []

    @bot.on_at_message
    async def at(ctx: Context) -> None:
        seen.append(ctx.inbound.shard_id)

    # identifies are paced 5 s apart (max_concurrency 1): 100 ms here. x50, not x100: at x100 the heartbeat
    # watchdog's slack (half of 41.25 s) and the 20 s hello timeout were ~200 ms of real time, which a loaded
    # host's scheduling stalls can use up; at x50 they are ~400 ms
    clock = ScaledClock(50.0)
    emulator = Emulator(EmulatorConfig(shards=2), clock=clock)
    guilds = [emulator.world.add_guild(str(n << 22)) for n in (0, 1)]  # one guild per shard
    for guild in guilds:
        emulator.world.add_channel(guild.id, f"c{guild.id}")
    async with running(bot, emulator, clock=clock) as runner:
        with anyio.fail_after(5):
            await runner.wait_ready()
        assert [s.shard_id for s in runner.status().shards] == [0, 1] and runner.status().ready
        for guild in guilds:
            (at_event, _) = emulator.control.channel_message(f"c{guild.id}", "hi", mention_bot=True)
            await handled(runner.tracker, at_event.id)
    assert len(seen) == 2 and set(seen) == {0, 1}


@pytest.mark.anyio
async def test_a_fatal_gateway_error_is_raised_from_wait_ready() -> None:
    bot = Bot("greedy")

    @bot.on_c2c_message
    async def c2c(ctx: Context) -> None:
        pass

    emulator = Emulator(EmulatorConfig(allowed_intents={"102000001": int(Intents.GUILDS)}))
    async with running(bot, emulator) as runner:
        with pytest.raises(GatewayFatalError), anyio.fail_after(5):
            await runner.wait_ready()
        with pytest.raises(GatewayFatalError):
            await runner.wait_closed()
        assert not runner.status().ready
    assert emulator.gateway.recorder.close_codes_sent() == [4014]


@pytest.mark.anyio
async def test_stop_ends_the_sessions_and_the_runner_can_start_again() -> None:
    # the second identify must wait out the 5 s identify window: 100 ms here (x50 for a loaded host, see above)
    clock = ScaledClock(50.0)
    emulator = Emulator(clock=clock)
    runner = inprocess_runner(Bot("stoppable"), emulator, clock=clock)
    async with emulator:
        async with runner:
            await runner.wait_ready()
            runner.stop()
            with anyio.fail_after(5):
                await runner.wait_closed()
            assert not runner.status().ready
        async with runner:  # the same runner, started again
            with anyio.fail_after(5):
                await runner.wait_ready()
            assert runner.status().ready
    assert [c.client_close_code for c in emulator.gateway.recorder.connections if c.session_id] == [1000, 1000]
    assert [r.accepted for r in emulator.gateway.recorder.identifies][-1]


def test_the_tracker_remembers_a_bounded_number_of_handled_ids() -> None:
    tracker = EventTracker(remember=2)
    events = [InboundEvent(type="C2C_MESSAGE_CREATE", data=msgspec.Raw(b"{}"), id=f"e{n}") for n in range(3)]
    for event in events:
        tracker.started(event)
    assert [tracker.state(e.id or "") for e in events] == ["running"] * 3 and tracker.in_flight == 3
    for event in events:
        tracker.finished(event)
    assert [tracker.state(e.id or "") for e in events] == ["unseen", "handled", "handled"]
    assert (tracker.received, tracker.handled, tracker.in_flight) == (3, 3, 0)
