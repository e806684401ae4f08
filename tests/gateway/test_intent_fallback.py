"""Optional intents against the emulator, for an app granted only what a new bot has (DEFAULT_PERMITTED).

The platform refuses an identify that asks for intents the bot lacks: close 4014 as documented, or op 9 as
observed live (protocol.md §0, §2.4). The session manager then identifies once more without the optional
intents, logs one WARNING naming them, and runs with the rest.
"""

from __future__ import annotations

import logging

import pytest
from gateway_harness import INTENTS, harness

from framework import Bot, Context
from framework.clock import ScaledClock
from framework.emulator import EmulatorConfig, GatewaySettings
from framework.emulator.config import DEFAULT_APP_ID
from framework.models.intents import DEFAULT_PERMITTED, Intents
from framework.testing import connect

pytestmark = pytest.mark.anyio

OPTIONAL = int(Intents.GROUP_AND_C2C_EVENT | Intents.DIRECT_MESSAGE)


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("framework.runtime")
        and r.levelno == logging.WARNING
        and "optional intents" in r.getMessage()
    ]


@pytest.mark.parametrize("transport", ["socket", "pipe"])
@pytest.mark.parametrize("refusal", ["close", "op9"])
async def test_refused_optional_intents_are_dropped_once(
    transport: str, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = GatewaySettings(disallowed_intent_response=refusal)  # type: ignore[arg-type]
    async with harness(
        transport, settings=settings, allowed_intents=int(DEFAULT_PERMITTED), optional_intents=OPTIONAL
    ) as h:
        await h.wait_ready()
        h.push(0, 5)
        await h.wait_for(lambda: len(h.test_events()) == 5, what="5 events")
        conns = h.hub.recorder.connections
        assert [c.kind for c in conns] == [None, "identify"]
        first = conns[0]
        if refusal == "close":
            assert first.close_code_sent == 4014
        else:
            assert 9 in first.ops_sent
        (session,) = h.hub.recorder.sessions
        assert session.intents == INTENTS  # the required intents only
        assert h.manager.dropped_intents == OPTIONAL
        assert h.manager.status()[0].state == "ready"
    (warning,) = fallback_warnings(caplog)
    assert "GROUP_AND_C2C_EVENT" in warning and "DIRECT_MESSAGE" in warning and "PUBLIC_GUILD_MESSAGES" in warning


async def test_every_shard_drops_them_after_the_first_refusal(caplog: pytest.LogCaptureFixture) -> None:
    async with harness(
        "pipe", shards=3, allowed_intents=int(DEFAULT_PERMITTED), optional_intents=OPTIONAL, factor=50.0
    ) as h:
        await h.wait_ready(limit=20)
        kinds = [c.kind for c in h.hub.recorder.connections]
        assert kinds.count(None) == 1 and kinds.count("identify") == 3  # only shard 0 was refused
        assert all(s.intents == INTENTS for s in h.hub.recorder.sessions)
    assert len(fallback_warnings(caplog)) == 1


async def test_granted_optional_intents_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    async with harness("pipe", allowed_intents=INTENTS | OPTIONAL, optional_intents=OPTIONAL) as h:
        await h.wait_ready()
        (session,) = h.hub.recorder.sessions
        assert session.intents == INTENTS | OPTIONAL
        assert h.manager.dropped_intents == 0
    assert fallback_warnings(caplog) == []


async def test_a_bot_runner_falls_back_for_a_new_bot(caplog: pytest.LogCaptureFixture) -> None:
    """A command bot serves every scene by default; an app granted only DEFAULT_PERMITTED still connects,
    answers in guild channels, and says once which intents it runs without."""
    bot = Bot("newbot")

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    assert bot.optional_intents & Intents.GROUP_AND_C2C_EVENT  # the group/C2C scenes need approval
    config = EmulatorConfig()
    config.allowed_intents = {DEFAULT_APP_ID: int(DEFAULT_PERMITTED)}  # what a new bot has
    # the retry waits for the next identify window (5 s): a scaled clock makes that 0.25 s
    async with connect(bot, config=config, clock=ScaledClock(20.0)) as chat:
        guild = chat.world.add_guild("1001")
        chat.world.add_channel(guild.id, "2001")
        await chat.channel("2001").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
        (session,) = chat.emulator.gateway.recorder.sessions
        assert session.intents == int(bot.required_intents)
    (warning,) = fallback_warnings(caplog)
    assert "GROUP_AND_C2C_EVENT" in warning
