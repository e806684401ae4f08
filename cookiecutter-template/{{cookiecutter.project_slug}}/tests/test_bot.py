"""Talk to the bot like a user would, through the platform emulator that ships with qqbot-framework."""

import pytest
from framework import Intents
from framework.testing import connect

from {{ cookiecutter.package_name }}.bot import bot, echo_text


def test_echo_text_skips_mentions_commands_and_blanks() -> None:
    assert echo_text("<@!1234> hello") == "echo: hello"
    assert echo_text("/ping") is None
    assert echo_text("   ") is None
{%- if cookiecutter.scene_guild %}


@pytest.mark.anyio
async def test_guild_ping() -> None:
    async with connect(bot) as chat:
        await chat.channel("c1").user("bob").at("/ping")
        assert await chat.replies() == ["pong"]


@pytest.mark.anyio
async def test_guild_echo() -> None:
    async with connect(bot) as chat:
        await chat.channel("c1").user("bob").at("hello")
        assert await chat.replies() == ["echo: hello"]
{%- endif %}
{%- if cookiecutter.scene_dm %}


@pytest.mark.anyio
async def test_dm_ping() -> None:
    async with connect(bot) as chat:
        await chat.dm("u2").say("/ping")
        assert await chat.replies() == ["pong"]


@pytest.mark.anyio
async def test_dm_echo() -> None:
    async with connect(bot) as chat:
        await chat.dm("u2").say("hello")
        assert await chat.replies() == ["echo: hello"]
{%- endif %}
{%- if cookiecutter.scene_group %}


@pytest.mark.anyio
async def test_group_ping() -> None:
    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]


@pytest.mark.anyio
async def test_group_echo() -> None:
    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("hello")
        assert await chat.replies() == ["echo: hello"]
{%- endif %}
{%- if cookiecutter.scene_c2c %}


@pytest.mark.anyio
async def test_c2c_ping() -> None:
    async with connect(bot) as chat:
        await chat.c2c("u1").say("/ping")
        assert await chat.replies() == ["pong"]


@pytest.mark.anyio
async def test_c2c_echo() -> None:
    async with connect(bot) as chat:
        await chat.c2c("u1").say("hello")
        assert await chat.replies() == ["echo: hello"]
{%- endif %}


def test_intents_follow_the_chosen_scenes() -> None:
{%- set flags = [] %}
{%- if cookiecutter.scene_guild %}{% set _ = flags.append("Intents.PUBLIC_GUILD_MESSAGES") %}{% endif %}
{%- if cookiecutter.scene_dm %}{% set _ = flags.append("Intents.DIRECT_MESSAGE") %}{% endif %}
{%- if cookiecutter.scene_group or cookiecutter.scene_c2c %}{% set _ = flags.append("Intents.GROUP_AND_C2C_EVENT") %}{% endif %}
    assert bot.intents == {{ flags | join(" | ") }}
