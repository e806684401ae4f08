"""Issue 11 app-layer fixes: a matched command consumes its message, duplicate commands are refused,
keyboards need markdown, one INFO line per event and per reply."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framework import Bot, Context, Keyboard
from framework.app import BotError
from framework.cli.loader import load_object
from framework.plugins import PluginError, hookimpl
from framework.testing import connect
from framework.testing.recording import RecordingApi, c2c, group_at

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


def load_example() -> Bot:
    """A fresh copy of examples/hello_bot.py's bot, loaded the way ``qqbot run`` loads it (its own module object)."""
    bot = load_object(str(ROOT / "examples" / "hello_bot.py"))
    assert isinstance(bot, Bot)
    return bot


# -- a matched command consumes the message ------------------------------------------------------


@pytest.mark.parametrize("text", ["ping", "/ping", " /PING "])
async def test_the_example_bot_answers_ping_once_with_or_without_the_slash(text: str) -> None:
    async with connect(load_example()) as chat:
        await chat.group("g1").user("alice").at(text)
        assert await chat.replies() == ["pong"]
        await chat.c2c("bob").say(text)
        assert await chat.replies() == ["pong"]
        await chat.group("g1").user("alice").at("hello there")
        assert await chat.replies() == ["you said: hello there"]


async def test_the_docs_first_snippet_bot_answers_a_command_once() -> None:
    bot = Bot("demo")
    api = RecordingApi()
    bot.bind(api)

    @bot.on_group_at_message
    async def hello(ctx: Context) -> None:
        await ctx.reply(f"you said {ctx.text}")

    @bot.command("roll", aliases=["r"])
    async def roll(ctx: Context, sides: int = 6) -> None:
        await ctx.reply("rolled")

    await bot.dispatch(group_at("roll 6"))
    await bot.dispatch(group_at("/r"))
    await bot.dispatch(group_at("/roll many", msg_id="m2"))  # a usage reply also consumes the message
    await bot.dispatch(group_at("hi", msg_id="m3"))
    texts = api.texts()
    assert texts[:2] == ["rolled", "rolled"]
    assert texts[2] is not None and texts[2].startswith("sides: ")
    assert texts[3:] == ["you said hi"]


async def test_block_false_lets_the_handlers_run_too() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    seen: list[str] = []

    @bot.command("log", block=False)
    async def log_it(ctx: Context) -> None:
        seen.append("command")

    @bot.on_c2c_message
    async def handler(ctx: Context) -> None:
        seen.append(f"handler saw /{ctx.command}")

    await bot.dispatch(c2c("/log"))
    assert seen == ["command", "handler saw /log"]


async def test_a_command_whose_rule_declines_does_not_consume() -> None:
    bot = Bot()
    bot.bind(RecordingApi())
    seen: list[str] = []

    async def never(ctx: Context) -> bool:
        return False

    @bot.command("secret", rule=never)
    async def secret(ctx: Context) -> None:
        seen.append("command")

    @bot.on_c2c_message
    async def handler(ctx: Context) -> None:
        seen.append(f"handler {ctx.command}")

    await bot.dispatch(c2c("/secret"))
    assert seen == ["handler None"]


# -- duplicate commands --------------------------------------------------------------------------


def test_a_second_command_with_the_same_name_or_alias_is_refused() -> None:
    bot = Bot()

    @bot.command("roll", aliases=["dice"])
    async def roll(ctx: Context) -> None: ...

    with pytest.raises(BotError, match=r"^command /dice is registered twice: by the bot \(.*roll\) and by the bot"):

        @bot.command("dice")
        async def dice(ctx: Context) -> None: ...

    assert [c.name for c in bot.commands] == ["roll"]


class PingPlugin:
    """A plugin that also registers /ping."""

    @hookimpl
    def qqbot_register(self, bot: Bot) -> None:
        @bot.command("other")
        async def other(ctx: Context) -> None:
            await ctx.reply("other")

        @bot.command("ping")
        async def plugin_ping(ctx: Context) -> None:
            await ctx.reply("plugin pong")


async def test_a_plugin_clash_disables_the_plugin_not_the_bot() -> None:
    bot = Bot(plugins=[PingPlugin()])
    api = RecordingApi()
    bot.bind(api)

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    bot.prepare()
    assert [c.name for c in bot.commands] == ["ping"]  # the plugin lost everything it registered
    [failure] = bot.plugins.failures
    assert "command /ping is registered twice: by the bot" in str(failure.error)
    assert "by plugin 'PingPlugin'" in str(failure.error)
    await bot.dispatch(c2c("/ping"))
    assert api.texts() == ["pong"]


def test_a_plugin_clash_stops_a_strict_bot() -> None:
    bot = Bot(plugins=[PingPlugin()], strict=True)

    @bot.command("ping")
    async def ping(ctx: Context) -> None: ...

    with pytest.raises(PluginError, match="registered twice"):
        bot.prepare()


# -- keyboards ride on markdown ------------------------------------------------------------------


async def test_a_keyboard_without_markdown_is_refused_before_sending() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    errors: list[BaseException] = []

    @bot.on_c2c_message
    async def handler(ctx: Context) -> None:
        try:
            await ctx.reply("pick one", keyboard=Keyboard(id="kb1"))
        except BotError as exc:
            errors.append(exc)
        await ctx.reply(markdown="pick one", keyboard=Keyboard(id="kb1"))

    await bot.dispatch(c2c("menu"))
    assert [str(e) for e in errors] == [
        "a keyboard travels only on a markdown message: pass markdown=... with keyboard=... "
        "(ctx.reply(markdown=text, keyboard=kb))"
    ]
    [sent] = api.sends
    message = sent.message
    assert message is not None and message.msg_type == 2 and message.keyboard == Keyboard(id="kb1")


# -- one INFO line per event and per reply -------------------------------------------------------


async def test_one_info_line_per_handled_event_and_per_reply(caplog: pytest.LogCaptureFixture) -> None:
    bot = load_example()
    bot.bind(RecordingApi())
    caplog.set_level(logging.INFO, logger="framework.app")
    await bot.dispatch(group_at("/ping", group="g1", member="alice"))
    await bot.dispatch(group_at("a rather long message that goes on and on", group="g1", member="alice", msg_id="m2"))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("framework.app")]
    assert len(lines) == 4, lines
    assert lines[0] == "reply → group g1: 'pong'"
    assert lines[1].startswith("group g1 · alice 'ping' → /ping (") and lines[1].endswith(" ms)")
    assert lines[2] == "reply → group g1: 'you said: a rather long message that go…'"
    assert lines[3].startswith("group g1 · alice 'a rather long message t…' → ")
    assert "echo (" in lines[3]


async def test_direct_path_handlers_log_too_and_nothing_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot()
    bot.bind(RecordingApi())

    @bot.on_c2c_message
    async def quiet(event: object) -> None: ...

    caplog.set_level(logging.WARNING, logger="framework.app")
    await bot.dispatch(c2c("hi", user="bob"))
    assert [r for r in caplog.records if r.name.startswith("framework.app")] == []
    caplog.set_level(logging.INFO, logger="framework.app")
    await bot.dispatch(c2c("hi", user="bob", msg_id="c2"))
    [line] = [r.getMessage() for r in caplog.records if r.name.startswith("framework.app")]
    assert line.startswith("c2c bob · bob 'hi' → ") and "quiet (" in line
