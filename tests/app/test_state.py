"""State across events (``ctx.stored``): scopes, TTL, memory and Redis storage, through the emulator."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from framework.app import Bot, BotError, Context
from framework.app.state import MemoryStore, RedisStore
from framework.testing import ManualClock, connect

pytestmark = pytest.mark.anyio


class Prefs(msgspec.Struct):
    city: str = ""
    visits: int = 0


def prefs_bot(*, clock: ManualClock | None = None, config: dict[str, object] | None = None, ttl: float = 60) -> Bot:
    bot = Bot("prefs", clock=clock, config=config)

    @bot.command("set")
    async def set_city(ctx: Context, city: str) -> None:
        async with ctx.stored("user", Prefs, ttl=ttl) as prefs:
            prefs.city = city
        await ctx.reply(f"saved {city}")

    @bot.command("get")
    async def get_city(ctx: Context) -> None:
        async with ctx.stored("user", Prefs, ttl=ttl) as prefs:
            prefs.visits += 1
        await ctx.reply(f"{prefs.city or 'nothing'} ({prefs.visits})")

    @bot.command("count")
    async def count(ctx: Context) -> None:
        async with ctx.stored("chat") as chat_state, ctx.stored("conversation") as mine:
            chat_state["n"] = chat_state.get("n", 0) + 1
            mine["n"] = mine.get("n", 0) + 1
        await ctx.reply(f"chat {chat_state['n']}, you {mine['n']}")

    @bot.command("fail")
    async def fail(ctx: Context) -> None:
        async with ctx.stored("user", Prefs) as prefs:
            prefs.city = "Nowhere"
            raise RuntimeError("the handler failed halfway")

    @bot.command("forget")
    async def forget(ctx: Context) -> None:
        await ctx.forget("user")
        await ctx.reply("forgotten")

    return bot


async def test_user_state_persists_across_events_and_is_per_user() -> None:
    async with connect(prefs_bot()) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/set Paris")
        await alice.at("/get")
        await alice.at("/get")
        await chat.group("g1").user("bob").at("/get")
        assert await chat.replies() == ["saved Paris", "Paris (1)", "Paris (2)", "nothing (1)"]


async def test_chat_and_conversation_scopes() -> None:
    async with connect(prefs_bot()) as chat:
        await chat.group("g1").user("alice").at("/count")
        await chat.group("g1").user("bob").at("/count")
        await chat.group("g1").user("alice").at("/count")
        await chat.group("g2").user("alice").at("/count")
        await chat.c2c("alice").say("/count")
        assert await chat.replies() == [
            "chat 1, you 1",
            "chat 2, you 1",
            "chat 3, you 2",
            "chat 1, you 1",  # another group: another chat, another conversation
            "chat 1, you 1",
        ]


async def test_a_failed_block_saves_nothing_and_forget_deletes() -> None:
    async with connect(prefs_bot()) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/set Paris")
        await alice.at("/fail")
        (failure,) = await chat.errors()
        await alice.at("/get")
        await alice.at("/forget")
        await alice.at("/get")
        assert await chat.replies() == ["saved Paris", "Paris (1)", "forgotten", "nothing (1)"]
    assert "halfway" in str(failure.error)


async def test_state_expires_after_its_ttl_on_the_bots_clock() -> None:
    clock = ManualClock()
    async with connect(prefs_bot(clock=clock, ttl=60)) as chat:
        alice = chat.c2c("u1")
        await alice.say("/set Paris")
        await chat.settle()
        clock.set(clock.time() + 59)
        await alice.say("/get")  # saving again gives it 60 s more
        await chat.settle()
        clock.set(clock.time() + 61)
        await alice.say("/get")
        assert await chat.replies() == ["saved Paris", "Paris (1)", "nothing (1)"]


async def test_bad_models_and_scopes_are_clear_errors() -> None:
    class NoDefaults(msgspec.Struct):
        city: str

    bot = Bot("bad")

    @bot.command("a")
    async def a(ctx: Context) -> None:
        async with ctx.stored("user", NoDefaults):
            pass

    @bot.command("b")
    async def b(ctx: Context) -> None:
        async with ctx.stored("everyone"):  # type: ignore[call-overload]
            pass

    async with connect(bot) as chat:
        await chat.c2c("u1").say("/a")
        await chat.c2c("u1").say("/b")
        failures = await chat.errors()
    assert [str(f.error) for f in failures] == [
        "state 'user:u1': NoDefaults() needs arguments; give every field of the Struct a default",
        "state scope must be 'user', 'chat' or 'conversation', not 'everyone'",
    ]
    assert all(isinstance(f.error, BotError) for f in failures)


async def test_memory_store_ttl() -> None:
    now = [100.0]
    store = MemoryStore(lambda: now[0])
    await store.set("k", b"v", 10)
    await store.set("forever", b"f", None)
    assert await store.get("k") == b"v"
    now[0] = 110.0
    assert await store.get("k") is None
    assert await store.get("forever") == b"f"


# -- Redis: state shared by the processes of a fleet or an event bus -------------------------------


async def test_redis_state_is_shared_by_two_bot_processes(redis_url: str) -> None:
    """Two bots (two workers) with the same name and Redis: what one stored, the other reads."""
    config: dict[str, object] = {"state": {"redis": redis_url}}
    first, second = prefs_bot(config=config), prefs_bot(config=config)
    async with connect(first) as chat_one, connect(second) as chat_two:
        await chat_one.c2c("u1").say("/set Paris")
        assert await chat_one.replies() == ["saved Paris"]
        await chat_two.c2c("u1").say("/get")
        assert await chat_two.replies() == ["Paris (1)"]
        assert isinstance(second.state_store, RedisStore)
    assert isinstance(second.state_store, MemoryStore)  # back to memory once stopped


async def test_redis_state_expires(redis_url: str) -> None:
    bot = prefs_bot(config={"state": {"redis": redis_url}}, ttl=0.3)
    async with connect(bot) as chat:
        await chat.c2c("u1").say("/set Paris")
        await chat.settle()
        await anyio.sleep(0.6)  # Redis expires keys on its own clock
        await chat.c2c("u1").say("/get")
        assert await chat.replies() == ["saved Paris", "nothing (1)"]
