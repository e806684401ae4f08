"""No chat stalled by another (issue 19 item 2), through the emulator over loopback sockets: slow handlers in
twenty groups, or a group whose replies are rate limited, never hold up a quick reply in a healthy group; one
chat's messages are still answered in the order they were sent."""

from __future__ import annotations

import time

import anyio
import pytest

from framework.app import Bot, Context
from framework.testing import connect

pytestmark = pytest.mark.anyio


async def test_twenty_slow_groups_do_not_delay_a_quick_group() -> None:
    bot = Bot("hol", help=False)
    release = anyio.Event()
    slow_started = 0
    all_slow = anyio.Event()

    @bot.command("slow")
    async def slow(ctx: Context) -> None:
        nonlocal slow_started
        slow_started += 1
        if slow_started == 20:
            all_slow.set()
        await release.wait()
        await ctx.reply("slow done")

    pong = anyio.Event()

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")
        pong.set()

    async with connect(bot, transport="loopback", timeout=10) as chat:
        for i in range(20):
            await chat.group(f"G-slow-{i}").user("u").at("/slow")
        with anyio.fail_after(5):
            await all_slow.wait()
        started = time.monotonic()
        await chat.group("G-quick").user("u").at("/ping")
        with anyio.fail_after(5):
            await pong.wait()  # the reply was accepted by the emulator
        assert time.monotonic() - started < 2.0  # answered while the twenty slow handlers still run
        release.set()
        replies = await chat.replies()
    assert sorted(replies) == ["pong"] + ["slow done"] * 20


async def test_a_rate_limited_group_does_not_delay_replies_in_a_healthy_group() -> None:
    bot = Bot("hol", help=False)

    healthy = anyio.Event()

    @bot.command("ping")
    async def ping(ctx: Context, word: str) -> None:
        await ctx.reply(f"pong {word}")
        if word == "healthy":
            healthy.set()

    async with connect(bot, transport="loopback", timeout=30) as chat:
        # the busy group's replies are refused with 429 three times: its handlers wait on the limiter (~6 s)
        chat.control.rate_limit(3, path_prefix="/v2/groups/G-busy/")
        busy = chat.group("G-busy").user("u")
        for i in range(20):
            await busy.at(f"/ping {i}")
        await anyio.sleep(0.2)  # the busy group's first handler is retrying by now
        started = time.monotonic()
        await chat.group("G-healthy").user("u").at("/ping healthy")
        with anyio.fail_after(10):
            await healthy.wait()
        assert time.monotonic() - started < 2.0
        assert not any(m.target_id == "G-busy" for m in chat.world.sent_by_id.values())  # still waiting
        sent = await chat.sent()
    busy_replies = [m.content for m in sent if m.target_id == "G-busy"]
    assert busy_replies == [f"pong {i}" for i in range(20)]  # one chat: answered in the order it asked


async def test_the_same_message_redelivered_under_a_new_envelope_id_is_answered_once() -> None:
    """Issue 19 item 7, over loopback sockets: the platform pushes one message twice with two envelope ids."""
    bot = Bot("dedupe", help=False)

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    async with connect(bot, transport="loopback", timeout=10) as chat:
        first = await chat.group("G1").user("u").at("/ping")
        assert await chat.replies() == ["pong"]
        chat.emulator.gateway.dispatch(first.type, first.d, event_id=f"{first.id}-again")  # same d.id
        await chat.group("G1").user("u").at("/ping")  # a new message: answered; also proves the copy was read
        assert await chat.replies() == ["pong"]
