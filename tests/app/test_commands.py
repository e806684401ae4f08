"""Commands: arguments from type hints, usage replies, aliases, /help, and every scene."""

from __future__ import annotations

from typing import Literal

import pytest

from framework.app import Bot, CommandArgumentError, Context, HandlerSignatureError, Scene
from framework.app.commands import Argument, parse_arguments
from framework.testing.recording import RecordingApi, at_message, c2c, direct_message, event, group_at


def make_bot() -> tuple[Bot, RecordingApi, list[tuple[object, ...]]]:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    calls: list[tuple[object, ...]] = []

    @bot.command("roll", aliases=["r", "dice"])
    async def roll(ctx: Context, sides: int = 6, times: int = 1) -> None:
        """Roll dice.

        Rolls `times` dice with `sides` sides.
        """
        calls.append(("roll", sides, times))
        await ctx.reply(f"rolled {sides}x{times}")

    @bot.command("say")
    async def say(ctx: Context, *, text: str) -> None:
        """Repeat the text."""
        calls.append(("say", text))

    @bot.command("sum")
    async def total(ctx: Context, *numbers: float) -> None:
        """Add numbers."""
        calls.append(("sum", sum(numbers)))

    @bot.command("mode")
    async def mode(ctx: Context, value: Literal["on", "off"], loud: bool = False) -> None:
        """Switch a mode."""
        calls.append(("mode", value, loud))

    return bot, api, calls


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/roll", ("roll", 6, 1)),
        ("roll 20", ("roll", 20, 1)),
        ("  /roll 20 3", ("roll", 20, 3)),
        ("/R 4", ("roll", 4, 1)),
        ("/dice 8", ("roll", 8, 1)),
        ("/ROLL 2", ("roll", 2, 1)),
        ("/say hello   world ", ("say", "hello   world")),
        ("/say\nline one\nline two", ("say", "line one\nline two")),
        ("/sum 1 2 3.5", ("sum", 6.5)),
        ("/sum", ("sum", 0)),
        ("/mode on yes", ("mode", "on", True)),
        ('/mode "off"', ("mode", "off", False)),
    ],
)
async def test_arguments_are_parsed_from_type_hints(text: str, expected: tuple[object, ...]) -> None:
    bot, _api, calls = make_bot()
    await bot.dispatch(group_at(text))
    assert calls == [expected]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("/roll six", "sides: expected a whole number, got 'six'", "/roll [sides: int = 6] [times: int = 1]"),
        ("/roll 1 2 3", "too many arguments: 3", "/roll"),
        ("/say", "missing argument text", "/say <text: text...>"),
        ("/mode maybe", "value: expected one of on, off, got 'maybe'", "/mode <value: on|off> [loud: yes/no = False]"),
        ("/mode", "missing argument value", "/mode"),
        ('/mode "on', "cannot split the arguments", "/mode"),
        ("/sum 1 x", "numbers: expected a number, got 'x'", "/sum [numbers: number...]"),
    ],
)
async def test_bad_arguments_get_a_usage_reply(text: str, problem: str, usage: str) -> None:
    bot, api, calls = make_bot()
    await bot.dispatch(c2c(text))
    assert calls == []
    [reply] = api.texts()
    assert reply is not None
    assert problem in reply
    assert "Usage: " + usage in reply


@pytest.mark.anyio
async def test_commands_work_in_every_scene_with_the_mention_stripped() -> None:
    bot, api, calls = make_bot()
    await bot.dispatch(at_message("<@!99> /roll 2"))
    await bot.dispatch(at_message("<@99> roll 3"))
    await bot.dispatch(direct_message("/roll 4"))
    await bot.dispatch(group_at(" /roll 5"))
    await bot.dispatch(c2c("roll 6"))
    assert [c[1] for c in calls] == [2, 3, 4, 5, 6]
    assert [c.method for c in api.sends] == [
        "post_channel_message",
        "post_channel_message",
        "post_dms_message",
        "post_group_message",
        "post_c2c_message",
    ]


@pytest.mark.anyio
async def test_only_the_bots_own_mention_is_stripped_once_its_id_is_known() -> None:
    bot, _api, calls = make_bot()
    await bot.dispatch(event("READY", {"session_id": "s", "user": {"id": "99", "bot": True}}))
    assert bot.bot_id == "99"
    await bot.dispatch(at_message("<@!99> /roll 2"))
    await bot.dispatch(at_message("<@!12345> /roll 3"))  # someone else's mention: not a command
    assert calls == [("roll", 2, 1)]


@pytest.mark.anyio
async def test_unknown_commands_and_plain_text_are_ignored() -> None:
    bot, api, calls = make_bot()
    await bot.dispatch(group_at("/nope"))
    await bot.dispatch(group_at("hello there"))
    await bot.dispatch(group_at(""))
    assert calls == [] and api.sends == []


@pytest.mark.anyio
async def test_help_lists_commands_and_explains_one() -> None:
    bot, api, _calls = make_bot()
    await bot.dispatch(c2c("/help"))
    await bot.dispatch(c2c("/help dice"))
    await bot.dispatch(c2c("/help nothing"))
    listing, detail, unknown = api.texts()
    assert listing is not None and detail is not None and unknown is not None
    assert "/roll — Roll dice." in listing and "/say — Repeat the text." in listing
    assert "Usage: /roll [sides: int = 6] [times: int = 1]" in detail
    assert "Aliases: /r, /dice" in detail and "Rolls `times` dice" in detail
    assert "Unknown command /nothing" in unknown


@pytest.mark.anyio
async def test_scenes_limit_commands_and_their_intents() -> None:
    from framework.models import Intents

    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    seen: list[str] = []

    @bot.command("grouponly", scenes=[Scene.GROUP])
    async def grouponly(ctx: Context) -> None:
        seen.append(ctx.type)

    assert bot.intents == Intents.GROUP_AND_C2C_EVENT
    await bot.dispatch(c2c("/grouponly"))
    await bot.dispatch(group_at("/grouponly"))
    assert seen == ["GROUP_AT_MESSAGE_CREATE"]


def test_unsupported_argument_types_fail_at_registration() -> None:
    bot = Bot()

    async def weird(ctx: Context, when: complex) -> None:
        pass

    with pytest.raises(HandlerSignatureError, match=r"weird.*'when'"):
        bot.command("weird")(weird)


def test_parse_arguments_directly() -> None:
    args = (Argument("n", int), Argument("name", str, "x"))
    assert parse_arguments(args, "3") == ([3, "x"], {})
    with pytest.raises(CommandArgumentError):
        parse_arguments(args, "")


@pytest.mark.anyio
async def test_a_user_help_command_replaces_the_builtin_one_and_help_can_be_disabled() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)

    @bot.command("help")
    async def my_help(ctx: Context) -> None:
        await ctx.reply("custom help")

    await bot.dispatch(c2c("/help"))
    assert api.texts() == ["custom help"]

    quiet = Bot(help=False)
    quiet_api = RecordingApi()
    quiet.bind(quiet_api)

    @quiet.command("x")
    async def x(ctx: Context) -> None:
        pass

    await quiet.dispatch(c2c("/help"))
    assert quiet_api.sends == []
