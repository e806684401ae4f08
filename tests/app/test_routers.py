"""Routers: a bot split across routers behaves as one bot; plugins contribute routers and lose them whole."""

from __future__ import annotations

import warnings

import msgspec
import pytest

from framework.app import Bot, BotError, CallNext, Context, HandlerSignatureError, Hook, Router
from framework.models import GroupMessage, Intents
from framework.plugins import PluginError, hookimpl
from framework.testing.recording import RecordingApi, c2c, group_at


def greetings() -> Router:
    """A router as a module would declare it (built in a function: each test gets its own)."""
    router = Router("greetings")

    @router.on_group_at_message
    async def hello(message: GroupMessage) -> None:
        await message.reply(f"hello {message.content.strip()}")

    @router.command("wave", aliases=["w"])
    async def wave(ctx: Context, times: int = 1) -> None:
        """Wave back."""
        await ctx.reply("o/" * times)

    return router


@pytest.mark.anyio
async def test_an_included_router_serves_as_if_registered_on_the_bot() -> None:
    bot = Bot("split")
    api = RecordingApi()
    bot.bind(api)
    seen: list[str] = []

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    router = greetings()

    @router.middleware
    async def tag(ctx: Context, call_next: CallNext) -> None:
        seen.append(f"mw {ctx.type}")
        await call_next()

    assert bot.include(router) is router
    assert router.bot is bot and router.parent is bot and bot.routers == (router,)
    assert bot.intents == Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE | Intents.GROUP_AND_C2C_EVENT
    await bot.dispatch(group_at("/wave 2", msg_id="m1"))
    await bot.dispatch(group_at("there", msg_id="m2"))
    await bot.dispatch(c2c("/ping", msg_id="c1"))
    await bot.dispatch(c2c("/help", msg_id="c2"))
    texts = api.texts()
    assert texts[:3] == ["o/o/", "hello there", "pong"]
    assert texts[3] is not None and "/ping" in texts[3] and "/wave — Wave back." in texts[3]
    assert seen == ["mw GROUP_AT_MESSAGE_CREATE"] * 2 + ["mw C2C_MESSAGE_CREATE"] * 2  # middleware wraps the whole bot
    assert [c.name for c in bot.commands] == ["ping", "wave"]
    assert [h.router for h in bot.handlers] == [router]
    info = bot.describe()
    assert info["routers"] == ["greetings"]
    assert [(c["name"], c["router"], c["plugin"]) for c in info["commands"]] == [
        ("ping", None, None),
        ("wave", "greetings", None),
    ]


@pytest.mark.anyio
async def test_nested_routers_run_in_tree_order_and_join_after_inclusion() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    order: list[str] = []
    outer, inner = Router("outer"), Router("inner")
    outer.include(inner)

    @inner.on_c2c_message
    async def from_inner(ctx: Context) -> None:
        order.append("inner")

    @outer.on_c2c_message
    async def from_outer(ctx: Context) -> None:
        order.append("outer")

    @bot.on_c2c_message
    async def from_bot(ctx: Context) -> None:
        order.append("bot")

    bot.include(outer)
    await bot.dispatch(c2c("one", msg_id="c1"))
    assert order == ["bot", "outer", "inner"]
    [route] = [r for r in bot.routes() if r["event"] == "C2C_MESSAGE_CREATE"]
    assert [name.rsplit(".", 1)[-1] for name in route["handlers"]] == ["from_bot", "from_outer", "from_inner"]
    assert route["direct"] is False  # they take a Context

    late = Router("late")
    inner.include(late)  # a router joining a router that already belongs to the bot

    @late.on_c2c_message
    async def from_late(ctx: Context) -> None:
        order.append("late")

    await bot.dispatch(c2c("two", msg_id="c2"))
    assert order[3:] == ["bot", "outer", "inner", "late"]
    assert late.bot is bot and inner.routers == (late,)


@pytest.mark.anyio
async def test_excluding_a_router_drops_its_handlers_and_intents() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    router = Router("dm")

    @router.on_direct_message
    async def dm(ctx: Context) -> None: ...

    @router.on_c2c_message
    async def chat(ctx: Context) -> None:
        await ctx.reply("router")

    bot.include(router)
    assert bot.intents == Intents.DIRECT_MESSAGE | Intents.GROUP_AND_C2C_EVENT
    await bot.dispatch(c2c("hi", msg_id="c1"))
    bot.exclude(router)
    assert router.bot is None and bot.handlers == [] and bot.intents == Intents.NONE
    await bot.dispatch(c2c("hi", msg_id="c2"))
    assert api.texts() == ["router"]
    with pytest.raises(BotError, match=r"^router 'dm' is not included in the bot; exclude it from its parent$"):
        bot.exclude(router)


def test_a_router_has_one_parent_and_no_cycle() -> None:
    bot, other = Bot("one"), Bot("two")
    a, b = Router("a"), Router("b")
    bot.include(a)
    with pytest.raises(BotError, match=r"^router 'a' is already included in the bot; a router has one parent"):
        other.include(a)
    a.include(b)
    with pytest.raises(BotError, match=r"^cannot include router 'a' in router 'b': 'a' contains it \(a cycle\)$"):
        b.include(a)
    with pytest.raises(BotError, match=r"^cannot include router 'b' in router 'b': 'b' contains it \(a cycle\)$"):
        b.include(b)
    with pytest.raises(BotError, match=r"^router 'a' is already included in the bot; a router has one parent"):
        bot.include(a)  # the same router twice
    with pytest.raises(BotError, match=r"^cannot include bot 'two': a Bot is the root router; include a Router"):
        bot.include(other)
    assert bot.routers == (a,) and a.routers == (b,) and b.routers == ()


def test_a_command_name_is_refused_across_routers_naming_both_owners() -> None:
    bot = Bot()

    @bot.command("wave")
    async def mine(ctx: Context) -> None: ...

    with pytest.raises(BotError, match=r"^command /wave is registered twice: by the bot \(.*mine\) and by router "):
        bot.include(greetings())
    assert bot.routers == ()  # refused whole

    extras = bot.include(Router("extras"))
    with pytest.raises(BotError, match=r"^command /wave is registered twice: by the bot \(.*\) and by router 'extras'"):

        @extras.command("WAVE")
        async def theirs(ctx: Context) -> None: ...

    # two routers apart from any bot: the clash shows when the second joins the first's tree
    first, second = greetings(), Router("second")

    @second.command("w")
    async def w(ctx: Context) -> None: ...

    with pytest.raises(BotError, match=r"^command /w is registered twice: by router 'greetings' .* router 'second'"):
        first.include(second)


def test_a_router_apart_from_a_bot_is_checked_when_included() -> None:
    router = Router("late-binding")

    with pytest.raises(HandlerSignatureError, match="is not an async function"):

        @router.on_c2c_message
        def not_async(ctx: Context) -> None: ...

    @router.on_c2c_message
    async def needs_config(ctx: Context, config: Settings) -> None: ...

    bot = Bot()
    with pytest.raises(HandlerSignatureError, match="config"):
        bot.include(router)  # nothing provides Settings to this bot
    assert bot.routers == () and router.bot is None
    bot.provide(Settings, Settings())
    bot.include(router)
    assert [h.name.rsplit(".", 1)[-1] for h in bot.handlers] == ["needs_config"]


class Settings(msgspec.Struct):
    greeting: str = "hi"


@pytest.mark.anyio
async def test_lifecycle_and_error_hooks_of_routers_run_with_the_bots() -> None:
    bot = Bot()
    calls: list[str] = []
    router = Router("life")

    @bot.on_startup
    async def bot_up() -> None:
        calls.append("bot up")

    @router.on_startup
    async def router_up(b: Bot) -> None:
        calls.append(f"router up {b is bot}")

    @router.on_shutdown
    async def router_down() -> None:
        calls.append("router down")

    @router.on_error
    async def router_error(error: BaseException) -> None:
        calls.append(f"error {error}")

    @router.on_c2c_message
    async def broken(ctx: Context) -> None:
        raise ValueError("boom")

    bot.include(router)
    async with bot.running(RecordingApi()):
        await bot.process(c2c("x"))
    assert calls == ["bot up", "router up True", "error boom", "router down"]
    kinds = [(type(r).__name__, r.hook if isinstance(r, Hook) else None, r.router) for r in bot.registrations]
    assert kinds == [
        ("Hook", "startup", bot),
        ("Hook", "startup", router),
        ("Hook", "shutdown", router),
        ("Hook", "error", router),
        ("Handler", None, router),
    ]


# -- plugins contribute routers -----------------------------------------------------------------


class RouterPlugin:
    """Registers on the router it is given, and includes a router of its own."""

    @hookimpl
    def qqbot_register(self, router: Router) -> None:
        @router.command("plug")
        async def plug(ctx: Context) -> None:
            await ctx.reply("plugged")

        router.include(greetings())


class BrokenAfterRegistering:
    @hookimpl
    def qqbot_register(self, bot: Bot, router: Router) -> None:
        @bot.on_c2c_message  # registered on the bot: lands in the plugin's router
        async def echo(ctx: Context) -> None:
            await ctx.reply("echo")

        router.include(Router("helpers")).on_direct_message(echo)
        bot.include(Router("via-bot")).on_group_message(echo)  # included in the plugin's router too
        raise RuntimeError("half registered")


@pytest.mark.anyio
async def test_a_plugin_contributes_a_router() -> None:
    bot = Bot(plugins=[RouterPlugin()])
    api = RecordingApi()
    bot.bind(api)
    await bot.dispatch(c2c("/plug", msg_id="c1"))
    await bot.dispatch(group_at("/wave", msg_id="m1"))
    assert api.texts() == ["plugged", "o/"]
    [router] = bot.routers
    assert router is bot.plugins.routers["RouterPlugin"] and router.plugin == "RouterPlugin"
    assert {c.name: c.owner for c in bot.commands} == {"plug": "RouterPlugin", "wave": "RouterPlugin"}
    assert bot.describe()["handlers"][0]["plugin"] == "RouterPlugin"


def test_a_failing_plugin_loses_its_router_whole() -> None:
    bot = Bot(plugins=[BrokenAfterRegistering(), RouterPlugin()])

    @bot.on_group_at_message
    async def app(ctx: Context) -> None: ...

    bot.prepare()
    assert [f.plugin for f in bot.plugins.failures] == ["BrokenAfterRegistering"]
    assert [r.name for r in bot.routers] == ["RouterPlugin"]
    # the echo it registered on the bot and its "helpers" and "via-bot" routers went with it
    assert [(h.event_type, h.owner) for h in bot.handlers] == [
        ("GROUP_AT_MESSAGE_CREATE", None),
        ("GROUP_AT_MESSAGE_CREATE", "RouterPlugin"),
    ]
    with pytest.raises(PluginError, match="half registered"):
        Bot(plugins=[BrokenAfterRegistering()], strict=True).prepare()


def test_a_disabled_plugin_contributes_no_router() -> None:
    bot = Bot(plugins=[RouterPlugin()], config={"plugins": {"RouterPlugin": {"enabled": False}}})
    bot.prepare()
    assert bot.routers == () and bot.commands == [] and bot.plugins.names == []


def test_the_old_home_of_the_command_router_warns() -> None:
    import framework.app.commands as commands
    import framework.app.router as router_module

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert router_module.CommandRouter is commands.CommandRouter  # type: ignore[attr-defined]
    assert "moved to framework.app.commands.CommandRouter" in str(caught[0].message)
