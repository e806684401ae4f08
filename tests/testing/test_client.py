"""The test client end to end: a real Bot, the runner, the gateway client and the emulator (no mocks).

Every test runs on asyncio and trio; the scene tests also run over both transports (in process and
loopback sockets).
"""

from __future__ import annotations

import anyio
import pytest

from framework.app import Bot, Context
from framework.clock import ScaledClock
from framework.models import Channel, Intents, Interaction
from framework.models.api import ChannelToCreate, MessageToCreate
from framework.runtime.openapi import OpenAPI, OpenAPIError
from framework.testing import BotErrorsNotChecked, Emulator, EmulatorConfig, PendingEventsError, Transport, connect

pytestmark = pytest.mark.anyio


def make_bot(errors: list[str] | None = None) -> Bot:
    """A small bot: a command, a handler per scene and an interaction handler."""
    bot = Bot("tested")

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        """Answer pong."""
        await ctx.reply("pong")

    @bot.on_group_at_message
    async def group(ctx: Context) -> None:
        if ctx.command:
            return
        if ctx.text == "three":
            for word in ("one", "two", "three"):
                await ctx.reply(word)
        elif ctx.text == "boom":
            raise RuntimeError("the handler failed")
        elif ctx.text == "flood":
            for n in range(6):  # the platform allows 5 replies per message
                await ctx.reply(f"flood {n}")
        else:
            await ctx.reply(f"group: {ctx.text}")

    @bot.on_c2c_message
    async def c2c(ctx: Context) -> None:
        if not ctx.command:
            await ctx.reply(f"c2c: {ctx.text}")

    @bot.on_at_message
    async def guild(ctx: Context) -> None:
        if not ctx.command:
            await ctx.reply(f"guild: {ctx.text}")

    @bot.on_direct_message
    async def dm(ctx: Context) -> None:
        if not ctx.command:
            await ctx.reply(f"dm: {ctx.text}")

    @bot.on_interaction
    async def clicked(event: Interaction, ctx: Context) -> None:
        await ctx.reply(f"clicked {event.data.resolved.button_data}")

    if errors is not None:

        @bot.on_error
        async def record(error: BaseException) -> None:
            errors.append(str(error))

    return bot


@pytest.mark.parametrize("transport", ["inprocess", "loopback"])
async def test_every_scene_gets_its_reply(transport: Transport) -> None:
    bot = make_bot()
    async with connect(bot, transport=transport) as chat:
        await chat.group("g1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
        await chat.group("g1").user("alice").at("hello")
        assert await chat.replies() == ["group: hello"]
        await chat.c2c("u1").say("hi")
        assert await chat.replies() == ["c2c: hi"]
        await chat.channel("c1").user("bob").at("hello <you>")
        assert await chat.replies() == ["guild: hello <you>"]
        await chat.channel("c1").user("bob").say("not for the bot")  # MESSAGE_CREATE: not subscribed
        assert await chat.replies() == []
        await chat.dm("bob").say("psst")
        assert await chat.replies() == ["dm: psst"]
        click = await chat.group("g1").user("alice").click("button-data")
        assert await chat.replies() == ["clicked button-data"]
        assert chat.control.interaction_ack(click.d["id"]) == 0  # the bot acknowledged the click
        await chat.c2c("u1").click("menu")
        assert await chat.replies() == ["clicked menu"]
        await chat.channel("c1").user("bob").click("vote")
        assert await chat.replies() == ["clicked vote"]

        sent = await chat.sent()
        assert [(m.scene, m.content) for m in sent] == [
            ("group", "pong"),
            ("group", "group: hello"),
            ("c2c", "c2c: hi"),
            ("guild", "guild: hello <you>"),
            ("dm", "dm: psst"),
            ("group", "clicked button-data"),
            ("c2c", "clicked menu"),
            ("guild", "clicked vote"),
        ]
        assert sent[0].target_id == "g1" and sent[2].target_id == "u1" and sent[3].target_id == "c1"
        assert sent[5].body["event_id"] == click.id  # a click is answered by event_id
        assert await chat.sent() == []  # only what is new since the last call
        assert await chat.errors() == []


async def test_several_replies_to_one_message_share_msg_id_with_increasing_msg_seq() -> None:
    async with connect(make_bot()) as chat:
        event = await chat.group("g1").user("alice").at("three")
        assert await chat.replies() == ["one", "two", "three"]
        await chat.group("g1").user("alice").at("three")
        assert await chat.replies() == ["one", "two", "three"]
        sent = await chat.sent()
        bodies = [m.body for m in sent]
        assert [(b["msg_id"], b["msg_seq"]) for b in bodies[:3]] == [(event.d["id"], n) for n in (1, 2, 3)]
        second = bodies[3]["msg_id"]
        assert second != event.d["id"]
        assert [(b["msg_id"], b["msg_seq"]) for b in bodies[3:]] == [(second, n) for n in (1, 2, 3)]
        assert all(m.scene == "group" and m.target_id == "g1" for m in sent)


async def test_a_failing_handler_is_reported_and_the_bot_keeps_serving() -> None:
    seen_by_on_error: list[str] = []
    async with connect(make_bot(seen_by_on_error)) as chat:
        event = await chat.group("g1").user("alice").at("boom")
        assert await chat.replies() == []
        errors = await chat.errors()
        assert [(type(e.error), str(e.error)) for e in errors] == [(RuntimeError, "the handler failed")]
        assert errors[0].event_type == "GROUP_AT_MESSAGE_CREATE" and errors[0].event_id == event.id
        assert errors[0].handler is not None and "group" in errors[0].handler
        assert seen_by_on_error == ["the handler failed"]
        await chat.group("g1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
        assert await chat.errors() == []


async def test_breaking_a_platform_rule_fails_like_in_production() -> None:
    async with connect(make_bot()) as chat:
        await chat.group("g1").user("alice").at("flood")
        assert await chat.replies() == [f"flood {n}" for n in range(5)]
        (failure,) = await chat.errors()
        assert isinstance(failure.error, OpenAPIError) and failure.error.code == 40034128
        refused = [c for c in chat.control.calls("POST", "/v2/groups/") if c.status >= 400]
        assert len(refused) == 1


async def test_an_exception_in_the_block_comes_out_unwrapped() -> None:
    for transport in ("inprocess", "loopback"):
        with pytest.raises(AssertionError, match="the test's own failure"):
            async with connect(make_bot(), transport=transport) as chat:
                await chat.c2c("u1").say("hi")
                raise AssertionError("the test's own failure")


async def test_errors_the_test_did_not_read_fail_the_block() -> None:
    with pytest.raises(BotErrorsNotChecked, match="the handler failed"):
        async with connect(make_bot()) as chat:
            await chat.group("g1").user("alice").at("boom")
            assert await chat.replies() == []
    async with connect(make_bot(), check_errors=False) as chat:
        await chat.group("g1").user("alice").at("boom")
        assert await chat.replies() == []


async def test_identify_carries_exactly_the_bots_intents() -> None:
    bot = make_bot()
    expected = Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE | Intents.GROUP_AND_C2C_EVENT
    expected |= Intents.INTERACTION
    assert bot.intents == expected
    emulator = Emulator()
    async with connect(bot, emulator=emulator) as chat:
        assert chat.intents == bot.intents
        assert [s.intents for s in emulator.gateway.recorder.sessions] == [int(bot.intents)]


async def test_explicit_seeding_and_events_from_the_control_api() -> None:
    emulator = Emulator(EmulatorConfig(bot_username="seeded-bot"))
    emulator.world.add_guild("9001", "My guild")
    emulator.world.add_channel("9001", "777", "general")
    emulator.world.add_member("9001", "42", "carol")
    async with connect(make_bot(), emulator=emulator) as chat:
        assert chat.channel("777").guild_id == "9001"
        with pytest.raises(ValueError, match="belongs to guild"):
            chat.channel("777", guild_id="other")
        await chat.channel("777").user("42").at("hi")
        assert await chat.replies() == ["guild: hi"]
        assert chat.world.members["9001"]["42"].user.username == "carol"
        chat.control.c2c_message("direct", openid="u9")  # emitted outside the chat helpers: still awaited
        assert await chat.replies() == ["c2c: direct"]
        await chat.dm("42", guild_id="9001").say("x")
        assert [m.scene for m in await chat.sent()] == ["guild", "c2c", "dm"]
        assert await chat.replies() == ["dm: x"]
        (session,) = chat.world.dm_sessions.values()
        assert (session.recipient_id, session.source_guild_id) == ("42", "9001")


async def test_replies_wait_for_slow_handlers_and_name_what_is_pending() -> None:
    bot = Bot("slow")
    gate = anyio.Event()

    @bot.on_c2c_message
    async def slow(ctx: Context) -> None:
        await gate.wait()
        await ctx.reply("done")

    async with connect(bot, timeout=0.2) as chat:
        event = await chat.c2c("u1").say("hi")
        with pytest.raises(PendingEventsError) as caught:
            await chat.replies()
        message = str(caught.value)
        assert "C2C_MESSAGE_CREATE" in message and event.id in message and "still running" in message
        assert [e.id for e in chat.pending()] == [event.id]
        gate.set()
        chat.timeout = 5.0  # the reply's round trip within 0.2 s is too tight for a loaded host
        assert await chat.replies() == ["done"]
        assert chat.pending() == []


async def test_the_runner_stops_cleanly_with_the_client() -> None:
    emulator = Emulator()
    stopped: list[str] = []
    bot = make_bot()

    @bot.on_shutdown
    async def bye() -> None:
        stopped.append("shutdown")

    async with connect(bot, emulator=emulator) as chat:
        await chat.c2c("u1").say("hi")
        assert await chat.replies() == ["c2c: hi"]
        runner = chat.runner
        assert runner.status().ready
    assert stopped == ["shutdown"]
    assert [c.client_close_code for c in emulator.gateway.recorder.connections] == [1000]
    assert runner.status().in_flight == 0 and runner.api is None
    assert "FailureRecorder" not in " ".join(bot.plugins.names)  # the observer plugin was removed
    async with connect(bot) as chat:  # the same bot again (a fresh platform: identifies are rate limited)
        await chat.c2c("u1").say("again")
        assert await chat.replies() == ["c2c: again"]
    assert stopped == ["shutdown", "shutdown"]


async def test_replies_also_wait_for_events_the_bots_own_calls_caused() -> None:
    bot = Bot("builder")

    @bot.on_at_message
    async def build(ctx: Context, api: OpenAPI) -> None:
        await api.create_channel(ctx.guild_id, ChannelToCreate(name="made by the bot", type=0))

    @bot.on_channel_create
    async def created(event: Channel, api: OpenAPI) -> None:  # a second event, emitted by the REST call
        await api.post_channel_message(event.id, MessageToCreate(content=f"hello {event.name}"))

    async with connect(bot) as chat:
        await chat.channel("c1").user("bob").at("build")
        assert await chat.replies() == ["hello made by the bot"]
        (message,) = await chat.sent()
        assert message.scene == "guild" and chat.world.channels[message.target_id].name == "made by the bot"


async def test_messages_without_a_mention_reach_a_bot_that_subscribes_to_them() -> None:
    bot = Bot("listener")

    @bot.on_group_message
    async def group(ctx: Context) -> None:
        await ctx.reply(f"heard {ctx.text}")

    @bot.on_message
    async def channel(ctx: Context) -> None:
        await ctx.reply(f"saw {ctx.text}")

    async with connect(bot) as chat:
        assert Intents.GUILD_MESSAGES in chat.intents
        await chat.group("g1").user("alice").say("hello")
        assert await chat.replies() == ["heard hello"]
        await chat.channel("c1").user("bob").say("a & b")
        assert await chat.replies() == ["saw a & b"]
        await chat.channel("c1").user("bob").at("ping")  # AT_MESSAGE_CREATE is not handled; MESSAGE_CREATE is
        assert await chat.replies() == ["saw ping"]


@pytest.mark.parametrize("transport", ["inprocess", "loopback"])
async def test_replies_survive_a_dropped_gateway_connection(transport: Transport) -> None:
    # the reconnect backoff runs on the injected clock: 50x faster here
    async with connect(make_bot(), transport=transport, clock=ScaledClock(50.0)) as chat:
        assert chat.emulator.gateway.drop() == 1  # the emulator cuts the connection without a close frame
        await chat.c2c("u1").say("still there?")  # sent while the bot reconnects: resumed, then handled
        assert await chat.replies() == ["c2c: still there?"]
        assert [c.kind for c in chat.emulator.gateway.recorder.connections] == ["identify", "resume"]
