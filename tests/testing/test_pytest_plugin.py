"""The ``qqbot`` pytest plugin (loaded through its ``pytest11`` entry point): its fixtures in use."""

from __future__ import annotations

import pytest

from framework.app import Bot, Context
from framework.testing import Chat, Emulator
from framework.testing.pytest_plugin import ConnectFactory

pytestmark = pytest.mark.anyio


def echo_bot() -> Bot:
    bot = Bot("plugin-tested")

    @bot.on_c2c_message
    async def echo(ctx: Context) -> None:
        await ctx.reply(f"echo: {ctx.text}")

    return bot


@pytest.fixture
def qqbot_bot() -> Bot:
    return echo_bot()


def test_qqbot_emulator_is_fresh_for_each_test(qqbot_emulator: Emulator) -> None:
    assert isinstance(qqbot_emulator, Emulator) and not qqbot_emulator.running
    assert qqbot_emulator.world.api_calls == [] and qqbot_emulator.world.groups == {}


async def test_qqbot_connect_uses_the_tests_emulator(qqbot_emulator: Emulator, qqbot_connect: ConnectFactory) -> None:
    qqbot_emulator.world.add_c2c_user("seeded", nick="Seeded user")
    async with qqbot_connect(echo_bot(), transport="loopback") as chat:
        assert chat.emulator is qqbot_emulator
        await chat.c2c("seeded").say("hi")
        assert await chat.replies() == ["echo: hi"]
    assert qqbot_emulator.control.sent("c2c", "seeded")[0].content == "echo: hi"


async def test_qqbot_chat_is_connected_to_qqbot_bot(qqbot_chat: Chat, qqbot_emulator: Emulator) -> None:
    assert qqbot_chat.bot.name == "plugin-tested" and qqbot_chat.emulator is qqbot_emulator
    await qqbot_chat.c2c("u1").say("hello")
    assert await qqbot_chat.replies() == ["echo: hello"]
