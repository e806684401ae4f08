"""BotRunner keeps an EventTracker only when someone uses one: untracked runners add no observer to the
bot's dispatcher; ``status()`` counts every event either way; a tracker read mid-run sees what starts after.
Checked through the public ``runner.delivery`` (the bot's EventDispatcher), not private fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from framework.app import Bot
from framework.app.dispatcher import Dispatcher
from framework.emulator import Emulator
from framework.models import C2CMessage
from framework.runner import BotRunner, EventTracker
from framework.testing import inprocess_runner

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(bot: Bot, emulator: Emulator, **kw: Any) -> AsyncIterator[BotRunner]:
    runner = inprocess_runner(bot, emulator, **kw)
    async with emulator, runner:
        with anyio.fail_after(10):
            await runner.wait_ready()
        yield runner


def recording_bot(seen: list[str], done: anyio.Event, count: int) -> Bot:
    bot = Bot("tracking", help=False)

    @bot.on_c2c_message
    async def record(message: C2CMessage) -> None:
        seen.append(message.content)
        if len(seen) == count:
            done.set()

    return bot


async def settle(runner: BotRunner, done: anyio.Event) -> None:
    with anyio.fail_after(10):
        await done.wait()
        while runner.status().in_flight:  # the last handler returned; its worker records it next
            await anyio.lowlevel.checkpoint()


async def test_an_untracked_runner_counts_every_event_in_status() -> None:
    seen: list[str] = []
    done = anyio.Event()
    bot = recording_bot(seen, done, 5)
    emulator = Emulator()
    async with running(bot, emulator) as runner:
        delivery = runner.delivery
        assert delivery is not None and delivery is bot.delivery
        assert runner.manager is not None and runner.manager.dispatcher is delivery  # one path
        # no tracking layer per event: the sink is the bot's dispatch table itself (what bot.process calls)
        assert getattr(delivery.sink, "__func__", None) is Dispatcher.dispatch and delivery.observers == []
        for i in range(5):
            emulator.control.c2c_message(f"m{i}", openid="u1")
        await settle(runner, done)
        status = runner.status()
        assert (status.received, status.handled, status.in_flight) == (6, 6, 0)  # READY and five messages
        assert delivery.observers == []
    assert seen == [f"m{i}" for i in range(5)]


async def test_a_tracker_read_while_running_tracks_the_events_that_start_after() -> None:
    seen: list[str] = []
    done = anyio.Event()
    bot = recording_bot(seen, done, 2)
    emulator = Emulator()
    async with running(bot, emulator) as runner:
        first = emulator.control.c2c_message("before", openid="u1")
        with anyio.fail_after(10):
            while not seen:
                await anyio.lowlevel.checkpoint()
        tracker = runner.tracker  # created now
        assert runner.delivery is not None and runner.delivery.observers == [tracker]
        second = emulator.control.c2c_message("after", openid="u1")
        await settle(runner, done)
        assert tracker.state(second.id) == "handled" and tracker.state(first.id) == "unseen"
        assert (tracker.received, tracker.handled) == (1, 1)
        assert runner.status().handled == 3  # READY, before, after: status counts every event
        assert runner.tracker is tracker


async def test_a_tracker_given_or_read_before_start_sees_every_event() -> None:
    seen: list[str] = []
    done = anyio.Event()
    given = EventTracker()
    emulator = Emulator()
    async with running(recording_bot(seen, done, 1), emulator, tracker=given) as runner:
        assert runner.tracker is given
        event = emulator.control.c2c_message("x", openid="u1")
        await settle(runner, done)
        assert given.state(event.id) == "handled" and given.handled == 2  # READY too
