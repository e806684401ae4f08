"""Rules compose with & | ~; middleware wraps dispatch in order; concurrency limits hold."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from framework.app import (
    Bot,
    CallNext,
    Context,
    admins_only,
    from_users,
    in_groups,
    in_scenes,
    keywords,
    regex,
    rule,
    startswith,
)
from framework.testing.recording import RecordingApi, at_message, c2c, group_at


@pytest.mark.anyio
async def test_rules_compose() -> None:
    bot = Bot()
    seen: list[str] = []

    @bot.on_group_at_message(rule=in_groups("G1", "G2") & (startswith("hi") | regex(r"^yo\b")) & ~from_users("BAD"))
    async def greet(ctx: Context) -> None:
        seen.append(f"{ctx.group_openid}:{ctx.text}")

    await bot.dispatch(group_at("hi all", group="G1"))
    await bot.dispatch(group_at("yo there", group="G2"))
    await bot.dispatch(group_at("yoyo", group="G2"))  # regex needs a word boundary
    await bot.dispatch(group_at("hi", group="G3"))  # wrong group
    await bot.dispatch(group_at("hi", group="G1", member="BAD"))  # excluded user
    await bot.dispatch(group_at("hello", group="G1"))  # no prefix
    assert seen == ["G1:hi all", "G2:yo there"]


@pytest.mark.anyio
async def test_admins_only_in_groups_and_guilds_and_async_rules() -> None:
    bot = Bot()
    seen: list[str] = []

    async def not_weekend(ctx: Context) -> bool:
        await anyio.lowlevel.checkpoint()
        return "weekend" not in ctx.text

    @bot.on_group_at_message(rule=admins_only() & rule(not_weekend))
    @bot.on_at_message(rule=admins_only() & keywords("deploy"))
    async def admin(ctx: Context) -> None:
        seen.append(ctx.user_id)

    await bot.dispatch(group_at("go", member="owner1", role="owner"))
    await bot.dispatch(group_at("go", member="member1", role="member"))
    await bot.dispatch(group_at("go weekend", member="admin1", role="admin"))
    await bot.dispatch(at_message("deploy now", user="guildadmin", roles=["1", "2"]))
    await bot.dispatch(at_message("deploy now", user="pleb", roles=["1"]))
    assert seen == ["owner1", "guildadmin"]


@pytest.mark.anyio
async def test_regex_match_is_kept_and_scene_rule() -> None:
    bot = Bot()
    seen: list[str] = []

    @bot.on_c2c_message(rule=regex(r"weather in (\w+)") & in_scenes("c2c"))
    async def weather(ctx: Context) -> None:
        seen.append(ctx.state["match"].group(1))

    await bot.dispatch(c2c("what is the weather in Paris"))
    assert seen == ["Paris"]
    assert repr(regex("a") & ~startswith("b")) == "Rule((regex('a') & ~startswith('b',)))"


@pytest.mark.anyio
async def test_middleware_runs_in_order_around_handlers_and_can_drop_events() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    trace: list[str] = []

    @bot.middleware
    async def outer(ctx: Context, call_next: CallNext) -> None:
        trace.append("outer>")
        await call_next()
        trace.append("<outer")

    @bot.middleware
    async def gate(ctx: Context, call_next: CallNext) -> None:
        trace.append("gate>")
        if ctx.text == "blocked":
            return
        ctx.state["seen_by_gate"] = True
        await call_next()
        trace.append("<gate")

    @bot.on_c2c_message
    async def handler(ctx: Context) -> None:
        trace.append(f"handler:{ctx.state['seen_by_gate']}")

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        trace.append("ping")

    await bot.dispatch(c2c("hello"))
    assert trace == ["outer>", "gate>", "handler:True", "<gate", "<outer"]
    trace.clear()
    await bot.dispatch(c2c("blocked"))
    assert trace == ["outer>", "gate>", "<outer"]
    trace.clear()
    await bot.dispatch(c2c("/ping"))  # commands run inside the same chain, and a match consumes the message
    assert trace == ["outer>", "gate>", "ping", "<gate", "<outer"]


@pytest.mark.anyio
async def test_per_handler_concurrency_limit() -> None:
    bot = Bot(concurrency=8)
    running = 0
    peak = 0
    done = 0

    @bot.on_c2c_message(concurrency=2)
    async def slow(ctx: Context) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        running -= 1
        done += 1

    async with bot.running():
        for i in range(10):
            await bot.dispatch(c2c("x", msg_id=f"c{i}", user=f"U{i}"))  # ten chats: no per-chat ordering
    assert done == 10
    assert peak == 2


@pytest.mark.anyio
async def test_without_a_limit_events_overlap() -> None:
    bot = Bot(concurrency=8)
    running = 0
    peak = 0

    @bot.on_c2c_message
    async def slow(ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        running -= 1

    async with bot.running():
        for i in range(10):
            await bot.dispatch(c2c("x", msg_id=f"c{i}", user=f"U{i}"))  # ten chats: no per-chat ordering
    assert peak > 2


@pytest.mark.anyio
async def test_one_users_messages_run_one_after_the_other_in_order() -> None:
    bot = Bot(concurrency=8)
    running = 0
    peak = 0
    seen: list[str] = []

    @bot.on_c2c_message
    async def slow(ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        seen.append(ctx.text)
        running -= 1

    async with bot.running():
        for i in range(10):
            await bot.dispatch(c2c(f"m{i}", msg_id=f"c{i}", user="same"))
    assert peak == 1
    assert seen == [f"m{i}" for i in range(10)]
