"""Intents from what the bot needs (issue 10): scenes, required and optional intents, the emulator's grant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from framework import Bot, Context, Intents
from framework.app import BotError, Scene
from framework.cli.loader import load_object
from framework.clock import ScaledClock
from framework.config import ConfigError, load_settings
from framework.emulator.config import DEFAULT_APP_ID
from framework.models.intents import DEFAULT_PERMITTED, NEEDS_APPROVAL, approval_note
from framework.protocol.gateway import GatewayFatalError
from framework.testing import Emulator, EmulatorConfig, connect, inprocess_runner
from framework.testing.recording import RecordingApi, at_message, c2c, group_at

ROOT = Path(__file__).resolve().parents[2]
GROUP = Intents.GROUP_AND_C2C_EVENT
GUILD = Intents.PUBLIC_GUILD_MESSAGES
DM = Intents.DIRECT_MESSAGE


def hello_bot() -> Bot:
    """A fresh copy of examples/hello_bot.py's bot, loaded the way ``qqbot run`` loads it (its own module object)."""
    bot = load_object(str(ROOT / "examples" / "hello_bot.py"))
    assert isinstance(bot, Bot)
    return bot


def pinger(**kwargs: object) -> Bot:
    bot = Bot("pinger", **kwargs)  # type: ignore[arg-type]

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    return bot


# -- what the bot asks for -----------------------------------------------------------------------


def test_the_example_bot_requires_only_what_a_new_bot_has() -> None:
    bot = hello_bot()
    assert not bot.scenes_declared
    assert bot.required_intents == GUILD
    assert bot.optional_intents == GROUP | DM
    assert bot.intents == GUILD | GROUP | DM
    assert bot.required_intents & NEEDS_APPROVAL == Intents.NONE


def test_declared_scenes_make_scene_less_commands_required() -> None:
    bot = pinger(scenes=["group", "c2c"])
    assert bot.scenes == {Scene.GROUP, Scene.C2C}
    assert bot.required_intents == GROUP
    assert bot.optional_intents == Intents.NONE


def test_guild_is_the_channel_scene() -> None:
    bot = pinger(scenes=["guild"])
    assert bot.scenes == {Scene.CHANNEL}
    assert bot.intents == bot.required_intents == GUILD


def test_explicit_handlers_and_scoped_commands_are_required() -> None:
    bot = Bot()

    @bot.on_direct_message
    async def dm(ctx: Context) -> None: ...

    @bot.command("g", scenes=["group"])
    async def g(ctx: Context) -> None: ...

    @bot.command("any")
    async def anywhere(ctx: Context) -> None: ...

    assert bot.required_intents == DM | GROUP | GUILD  # GUILD: the scene-less command, granted to every bot
    assert bot.optional_intents == Intents.NONE  # what /any would add is required already


def test_an_unknown_scene_is_one_line_error() -> None:
    with pytest.raises(BotError, match=r"unknown scene 'grup'; expected some of group, c2c"):
        Bot(scenes=["grup"])


def test_the_config_wins_over_the_bot_argument() -> None:
    bot = pinger(scenes=["group"], config={"bot": {"scenes": ["guild"]}})
    assert bot.scenes == {Scene.CHANNEL}
    assert bot.intents == GUILD
    later = pinger(scenes=["group"])
    later.configure({"bot": {"scenes": ["c2c", "dm"]}})
    assert later.scenes == {Scene.C2C, Scene.DM}
    assert later.required_intents == GROUP | DM


def test_scenes_from_toml_and_environment(tmp_path: Path) -> None:
    toml = tmp_path / "qqbot.toml"
    toml.write_text('[bot]\nscenes = ["group", "guild"]\n', encoding="utf-8")
    assert load_settings(toml, environ={}).bot.scenes == ["group", "guild"]
    assert load_settings(toml, environ={"QQBOT_SCENES": "c2c,dm"}).bot.scenes == ["c2c", "dm"]
    toml.write_text('[bot]\nscenes = ["everywhere"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bot\.scenes"):
        load_settings(toml, environ={})


@pytest.mark.anyio
async def test_a_scene_less_command_answers_only_in_the_declared_scenes() -> None:
    bot = pinger(scenes=["group"])
    api = RecordingApi()
    bot.bind(api)
    await bot.dispatch(c2c("/ping"))
    await bot.dispatch(at_message("/ping"))
    assert api.texts() == []
    await bot.dispatch(group_at("/ping"))
    assert api.texts() == ["pong"]


@pytest.mark.anyio
async def test_on_any_message_follows_the_bot_scenes() -> None:
    bot = Bot(scenes=["c2c"])
    seen: list[str] = []

    @bot.on_any_message
    async def anything(ctx: Context) -> None:
        seen.append(f"{ctx.scene}:{ctx.text}")

    assert bot.required_intents == GROUP
    bot.bind(RecordingApi())
    await bot.dispatch(group_at("hi"))
    await bot.dispatch(c2c("hello"))
    assert seen == ["c2c:hello"]


def test_approval_notes_follow_the_protocol() -> None:
    assert DEFAULT_PERMITTED == Intents.GUILDS | Intents.PUBLIC_GUILD_MESSAGES | Intents.GUILD_MEMBERS
    assert approval_note(Intents.PUBLIC_GUILD_MESSAGES) == "granted to every bot"
    assert approval_note(Intents.GROUP_AND_C2C_EVENT) == "needs approval"
    assert approval_note(Intents.GUILD_MESSAGES) == "private bots only"


# -- the emulator's grant ------------------------------------------------------------------------


def test_a_plain_emulator_grants_what_a_new_bot_has() -> None:
    config = EmulatorConfig()
    assert config.intents_allowed(DEFAULT_APP_ID) == int(DEFAULT_PERMITTED)
    config.grant(DEFAULT_APP_ID, int(GROUP))
    assert config.intents_allowed(DEFAULT_APP_ID) == int(DEFAULT_PERMITTED | GROUP)


@pytest.mark.anyio
async def test_a_bot_that_requires_group_is_refused_by_a_plain_emulator() -> None:
    bot = pinger(scenes=["group"])
    emulator = Emulator()
    emulator.config.allowed_intents[DEFAULT_APP_ID] = emulator.config.default_intents  # listed: no grant
    async with emulator, inprocess_runner(bot, emulator) as runner:
        with pytest.raises(GatewayFatalError), anyio.fail_after(5):
            await runner.wait_ready()
    assert emulator.gateway.recorder.close_codes_sent() == [4014]


@pytest.mark.anyio
async def test_connect_grants_what_the_bot_asks_for() -> None:
    bot = pinger(scenes=["group", "c2c"])
    emulator = Emulator()
    async with connect(bot, emulator=emulator) as chat:
        await chat.group("g1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
    assert emulator.config.intents_allowed(DEFAULT_APP_ID) == int(DEFAULT_PERMITTED | GROUP)


# -- qqbot check ---------------------------------------------------------------------------------


def test_qqbot_check_lists_the_intents_and_which_need_approval(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "framework", "check", f"{ROOT / 'examples' / 'hello_bot.py'}:bot"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no qqbot.toml here
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:4] for line in lines if line.startswith("  ") and "_" in line.split()[0]}
    assert rows["PUBLIC_GUILD_MESSAGES"] == ["required", "granted", "to"]
    assert rows["GROUP_AND_C2C_EVENT"] == ["optional", "needs", "approval"]
    assert rows["DIRECT_MESSAGE"] == ["optional", "needs", "approval"]
    assert any(line.startswith("scenes:") and "not set" in line for line in lines)
    assert any("apply for intents marked 'needs approval'" in line for line in lines)


def test_qqbot_check_with_declared_scenes_from_the_environment(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "framework", "check", f"{ROOT / 'examples' / 'hello_bot.py'}:bot"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QQBOT_SCENES": "guild"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"intents:    {int(GUILD)} = PUBLIC_GUILD_MESSAGES" in result.stdout
    assert "scenes:     channel\n" in result.stdout


# -- the optional intents are dropped when the platform refuses them ------------------------------


@pytest.mark.anyio
async def test_a_new_bot_runs_the_example_without_the_optional_intents(caplog: pytest.LogCaptureFixture) -> None:
    bot = hello_bot()
    # the second identify waits out the 5 s identify window: 100 ms here. x50, not x100: at x100 the heartbeat
    # watchdog's slack (half of 41.25 s) and the 20 s hello timeout were ~200 ms of real time, which a loaded
    # host's scheduling stalls can use up; at x50 they are ~400 ms
    clock = ScaledClock(50.0)
    emulator = Emulator(clock=clock)
    emulator.config.allowed_intents[DEFAULT_APP_ID] = int(DEFAULT_PERMITTED)  # a new bot: no grant
    async with emulator, inprocess_runner(bot, emulator, clock=clock) as runner:
        with anyio.fail_after(5):
            await runner.wait_ready()
        asked = [s.intents for s in emulator.gateway.recorder.sessions]
        assert asked == [int(GUILD)]  # the only session that became READY
        assert emulator.gateway.recorder.close_codes_sent() == [4014]  # the first identify asked for more
    refused = [r.getMessage() for r in caplog.records if "DIRECT_MESSAGE" in r.getMessage()]
    assert refused, "the runtime logs which optional intents it dropped"
    assert "GROUP_AND_C2C_EVENT" in refused[0]


@pytest.mark.anyio
async def test_the_test_client_knows_which_optional_intents_were_dropped() -> None:
    clock = ScaledClock(50.0)  # x50 for a loaded host (see above)
    emulator = Emulator(clock=clock)
    emulator.config.allowed_intents[DEFAULT_APP_ID] = int(DEFAULT_PERMITTED)  # listed: connect() grants nothing
    async with connect(hello_bot(), emulator=emulator, clock=clock) as chat:
        assert chat.intents == GUILD
        await chat.group("g1").user("alice").at("/ping")  # never delivered: no waiting for it
        await chat.channel("c1").user("u1").at("/ping")
        assert await chat.replies() == ["pong"]
