"""End to end: a Bot behind the real session manager and OpenAPI client, against the emulator on loopback.

Checks what the issue asks through the platform's own eyes: the intents the emulator recorded in
Identify, replies landing in the right scene with increasing ``msg_seq``, commands, interaction acks,
and a failing handler that does not stop the bot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
import pytest

from framework.app import ApiRequest, Bot, Context
from framework.clock import ScaledClock
from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.emulator.gateway.settings import GatewaySettings
from framework.models import Intents
from framework.plugins import hookimpl
from framework.protocol.gateway import GatewayConfig
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.gateway.sessions import LocalSessionManager
from framework.runtime.gateway.shard import ShardOptions
from framework.runtime.gateway.websocket import connect
from framework.runtime.openapi import OpenAPI
from framework.runtime.platform import Platform


@dataclass
class Stack:
    emulator: Emulator
    bot: Bot
    api: OpenAPI

    async def wait_for(self, cond: Callable[[], bool], what: str, limit: float = 10.0) -> None:
        with anyio.move_on_after(limit):
            while not cond():  # noqa: ASYNC110 - polling emulator state
                await anyio.sleep(0.005)
            return
        raise AssertionError(f"timed out waiting for {what}")


FACTOR = 20.0
HEARTBEAT_MS = 2000
HEARTBEAT_SLACK = 1.5
"""Real seconds added to the emulator's heartbeat watchdog (as tests/gateway/gateway_harness.py does)."""


@asynccontextmanager
async def running(bot: Bot, settings: GatewaySettings | None = None) -> AsyncIterator[Stack]:
    clock = ScaledClock(FACTOR)
    config = EmulatorConfig(heartbeat_interval_ms=HEARTBEAT_MS)
    config.grant(DEFAULT_APP_ID, int(bot.intents))  # an approved bot (a new one has only guild @messages)
    settings = settings or GatewaySettings()
    if settings.heartbeat_timeout_factor == "auto":
        # The default watchdog (1.5 intervals) leaves half an interval between a heartbeat falling due and the
        # close: 50 ms of real time at 2 s and x20, which a loaded host's scheduling stall exceeds (a spurious 4009
        # and resume). This test checks the bot, not that watchdog (tests/emulator/test_gateway.py does): it waits
        # HEARTBEAT_SLACK more real seconds here (1.55 s of slack; a CI stall once took 0.35 s).
        interval = HEARTBEAT_MS / 1000 / FACTOR
        settings = dataclasses.replace(settings, heartbeat_timeout_factor=1.5 + HEARTBEAT_SLACK / interval)
    emulator = Emulator(config, clock=clock, gateway_settings=settings)
    async with emulator.serve("127.0.0.1", 0) as base, httpx.AsyncClient(base_url=base) as http:
        tokens = TokenManager(
            Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET),
            platform=Platform.at(base),
            http=http,
            clock=clock,
        )
        api = OpenAPI(tokens, base_url=base, http=http, clock=clock)
        async with bot.running(api):
            manager = LocalSessionManager(
                connect,
                tokens.get_token,
                api.get_gateway_bot,
                bot.dispatch,
                bot.intents,
                clock=clock,
                token_invalidate=tokens.invalidate,
                options=ShardOptions(
                    gateway=GatewayConfig(hello_timeout=10.0, ready_timeout=20.0),
                    connect_timeout=20.0,
                    close_timeout=2.0,
                ),
                drain_timeout=5.0,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(manager.run)
                stack = Stack(emulator, bot, api)
                await stack.wait_for(lambda: bot.bot_id is not None, "READY")
                yield stack
                with anyio.fail_after(10):
                    await manager.stop()
        await tokens.aclose()


class ApiWatcher:
    def __init__(self) -> None:
        self.requests: list[ApiRequest] = []

    @hookimpl
    def qqbot_api_request(self, request: ApiRequest) -> None:
        self.requests.append(request)


@pytest.mark.anyio
async def test_a_bot_serves_every_scene_through_the_emulator() -> None:
    watcher = ApiWatcher()
    bot = Bot("e2e", plugins=[watcher])
    errors: list[str] = []

    @bot.command("roll")
    async def roll(ctx: Context, sides: int = 6) -> None:
        """Roll a die."""
        await ctx.reply(f"rolled d{sides}")

    @bot.command("echo")
    async def echo(ctx: Context, *, text: str) -> None:
        await ctx.reply(text)

    @bot.on_group_at_message
    async def twice(ctx: Context) -> None:
        if ctx.text == "twice":
            await ctx.reply("one")
            await ctx.reply("two")
        if ctx.text == "boom":
            raise RuntimeError("handler failed")

    @bot.on_interaction
    async def clicked(ctx: Context) -> None:
        await ctx.reply("clicked")

    @bot.on_error
    async def record(error: BaseException) -> None:
        errors.append(str(error))

    expected = (
        Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE | Intents.GROUP_AND_C2C_EVENT | Intents.INTERACTION
    )
    assert bot.intents == expected

    async with running(bot) as stack:
        control = stack.emulator.control
        # the platform saw exactly the computed intents in Identify
        assert [s.intents for s in stack.emulator.gateway.recorder.sessions] == [int(expected)]

        group = control.group_at_message("/roll 20")
        gid = group.d["group_openid"]
        await stack.wait_for(lambda: len(control.sent("group", gid)) == 1, "the group reply")
        control.group_at_message("boom", group_openid=gid)  # fails, reported
        control.group_at_message("twice", group_openid=gid)
        await stack.wait_for(lambda: len(control.sent("group", gid)) == 3, "two more group replies")
        user = control.c2c_message("/roll x")
        openid = user.d["author"]["user_openid"]
        await stack.wait_for(lambda: len(control.sent("c2c", openid)) == 1, "the usage reply")
        click = control.button_click("c2c", openid, button_data="b")
        await stack.wait_for(lambda: control.interaction_ack(click.d["id"]) is not None, "the interaction ack")
        await stack.wait_for(lambda: len(control.sent("c2c", openid)) == 2, "the interaction reply")

        group_bodies = [m.body for m in control.sent("group", gid)]
        assert [b["content"] for b in group_bodies] == ["rolled d20", "one", "two"]
        first = group_bodies[1]["msg_id"]
        assert [(b["msg_id"], b["msg_seq"]) for b in group_bodies[1:]] == [(first, 1), (first, 2)]
        c2c_bodies = [m.body for m in control.sent("c2c", openid)]
        assert "Usage: /roll [sides: int = 6]" in c2c_bodies[0]["content"]
        assert c2c_bodies[1]["content"] == "clicked" and c2c_bodies[1]["event_id"]
        assert control.interaction_ack(click.d["id"]) == 0
        assert errors == ["handler failed"]

        # guild channel (@bot) and guild DM: escaped content, the <@!botid> prefix, msg_id without msg_seq
        guild = stack.emulator.world.add_guild()
        channel = stack.emulator.world.add_channel(guild.id)
        control.channel_message(channel.id, "/echo a<b & c", mention_bot=True)
        dm = control.dm("777", "/echo in private")
        await stack.wait_for(lambda: len(control.sent("guild", channel.id)) == 1, "the channel reply")
        await stack.wait_for(lambda: len(control.sent("dm", dm.d["guild_id"])) == 1, "the DM reply")
        [channel_reply] = control.sent("guild", channel.id)
        [dm_reply] = control.sent("dm", dm.d["guild_id"])
        assert channel_reply.body["content"] == "a<b & c" and channel_reply.body["msg_id"]
        assert dm_reply.body["content"] == "in private" and "msg_seq" not in dm_reply.body
    # the API hook saw the sends (bind() wired the client's on_response)
    assert any(
        r.method == "POST" and r.path == f"/v2/groups/{gid}/messages" and r.status == 200 for r in watcher.requests
    )
