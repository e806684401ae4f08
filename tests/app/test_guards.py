"""Command guards through the emulator: cooldowns per user/chat/global, permissions from member roles and the
config's allow-list, and ``on_command_error`` with its default replies."""

from __future__ import annotations

import pytest

from framework.app import (
    Bot,
    BotError,
    CommandArgumentError,
    CommandOnCooldown,
    Context,
    Cooldown,
    MissingPermission,
    Router,
    admins_only,
    allowed,
)
from framework.app.errors import HandlerSignatureError
from framework.emulator import Emulator
from framework.testing import ManualClock, connect

pytestmark = pytest.mark.anyio


def guarded_bot(clock: ManualClock, *, mods: list[str] | None = None) -> Bot:
    bot = Bot("guarded", clock=clock, config={"permissions": {"mods": mods or []}})

    @bot.command("daily", cooldown=Cooldown(1, 60))
    async def daily(ctx: Context) -> None:
        await ctx.reply("daily bonus")

    @bot.command("roll", cooldown=Cooldown(2, 10, per="chat"))
    async def roll(ctx: Context, sides: int = 6) -> None:
        await ctx.reply(f"rolled d{sides}")

    @bot.command("announce", cooldown=Cooldown(1, 30, per="global"))
    async def announce(ctx: Context) -> None:
        await ctx.reply("announced")

    @bot.command("kick", permission=admins_only() | allowed("mods"))
    async def kick(ctx: Context, who: str) -> None:
        await ctx.reply(f"kicked {who}")

    return bot


async def test_cooldown_per_user_with_the_default_reply() -> None:
    clock = ManualClock()
    async with connect(guarded_bot(clock)) as chat:
        alice, bob = chat.group("g1").user("alice"), chat.group("g1").user("bob")
        await alice.at("/daily")
        await alice.at("/daily")
        await bob.at("/daily")
        await chat.settle()
        clock.set(clock.time() + 45)
        await alice.at("/daily")
        await chat.settle()
        clock.set(clock.time() + 15)
        await alice.at("/daily")
        assert await chat.replies() == [
            "daily bonus",
            "/daily is cooling down: try again in 60 s.",
            "daily bonus",  # bob has his own
            "/daily is cooling down: try again in 15 s.",
            "daily bonus",
        ]
        assert await chat.errors() == []  # a user's mistake is not the bot's error


async def test_cooldown_per_chat_and_global() -> None:
    clock = ManualClock()
    async with connect(guarded_bot(clock)) as chat:
        g1, g2 = chat.group("g1"), chat.group("g2")
        await g1.user("alice").at("/roll")
        await g1.user("bob").at("/roll 20")
        await g1.user("carol").at("/roll")  # the group's two rolls are used up
        await g2.user("alice").at("/roll")  # another chat
        await g1.user("alice").at("/announce")
        await g2.user("bob").at("/announce")  # global: one for everyone
        assert await chat.replies() == [
            "rolled d6",
            "rolled d20",
            "/roll is cooling down: try again in 10 s.",
            "rolled d6",
            "announced",
            "/announce is cooling down: try again in 30 s.",
        ]


async def test_a_bad_argument_does_not_use_up_the_cooldown() -> None:
    clock = ManualClock()
    async with connect(guarded_bot(clock)) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/roll many")
        await alice.at("/roll")
        await alice.at("/roll")
        replies = await chat.replies()
    assert replies[0].startswith("sides: ") and replies[0].endswith("Usage: /roll [sides: int = 6]")
    assert replies[1:] == ["rolled d6", "rolled d6"]


async def test_permission_from_the_member_role_and_the_allow_list() -> None:
    clock = ManualClock()
    async with connect(guarded_bot(clock, mods=["dave"])) as chat:
        g1 = chat.group("g1")
        await g1.user("alice").at("/kick bob")  # a plain member
        await g1.user("olga", role="owner").at("/kick bob")
        await g1.user("adam", role="admin").at("/kick bob")
        await g1.user("dave").at("/kick bob")  # listed in permissions.mods
        await chat.c2c("dave").say("/kick bob")  # the same id in C2C: listed too
        assert await chat.replies() == [
            "You may not use /kick.",
            "kicked bob",
            "kicked bob",
            "kicked bob",
            "kicked bob",
        ]


async def test_permission_from_guild_roles() -> None:
    emulator = Emulator()
    emulator.world.add_guild("9001", "guild")
    emulator.world.add_channel("9001", "777", "general")
    emulator.world.add_member("9001", "42", "carol", roles=["2"])  # a guild admin
    emulator.world.add_member("9001", "43", "dan", roles=["1"])  # everyone
    async with connect(guarded_bot(ManualClock()), emulator=emulator) as chat:
        await chat.channel("777").user("43").at("/kick x")
        await chat.channel("777").user("42").at("/kick x")
        assert await chat.replies() == ["You may not use /kick.", "kicked x"]


async def test_on_command_error_replaces_the_default_replies() -> None:
    clock = ManualClock()
    bot = guarded_bot(clock)
    seen: list[tuple[str, str]] = []
    router = Router("errors")

    @router.on_command_error
    async def friendly(error: Exception, ctx: Context) -> None:
        seen.append((type(error).__name__, ctx.command or ""))
        if isinstance(error, CommandOnCooldown):
            await ctx.reply(f"wait {error.retry_after:.0f}s")
        elif isinstance(error, MissingPermission):
            await ctx.reply("ask a moderator")
        elif isinstance(error, CommandArgumentError):
            await ctx.reply("try /help")

    bot.include(router)
    async with connect(bot) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/daily")
        await alice.at("/daily")
        await alice.at("/kick bob")
        await alice.at("/roll x")
        assert await chat.replies() == ["daily bonus", "wait 60s", "ask a moderator", "try /help"]
    assert seen == [("CommandOnCooldown", "daily"), ("MissingPermission", "kick"), ("CommandArgumentError", "roll")]


async def test_a_failing_command_error_handler_is_reported() -> None:
    bot = guarded_bot(ManualClock())

    @bot.on_command_error
    async def broken(error: Exception, ctx: Context) -> None:
        raise RuntimeError("the error handler failed")

    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("/kick bob")
        (failure,) = await chat.errors()
        assert await chat.replies() == []
    assert str(failure.error) == "the error handler failed"


def test_guards_are_checked_when_declared() -> None:
    with pytest.raises(BotError, match="rate must be >= 1"):
        Cooldown(0, 10)
    with pytest.raises(BotError, match="expected 'user', 'chat' or 'global'"):
        Cooldown(1, 10, per="guild")  # type: ignore[arg-type]
    bot = Bot("sig")
    with pytest.raises(HandlerSignatureError, match=r"takes \(error, ctx\)"):

        @bot.on_command_error
        async def one_arg(error: Exception) -> None: ...
