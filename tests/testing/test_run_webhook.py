"""run_webhook end to end: the emulator signs and POSTs callbacks to hypercorn on loopback, the bot replies
through the emulator's REST API."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from framework.app import Bot, Context
from framework.emulator import Emulator
from framework.runner import EventTracker, run_webhook
from framework.testing import emulator_credentials, emulator_platform

pytestmark = pytest.mark.anyio


async def test_a_group_message_by_signed_callback_gets_its_reply() -> None:
    bot = Bot("hooked")
    lifecycle: list[str] = []

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        """Answer pong."""
        await ctx.reply("pong")

    @bot.on_startup
    async def up() -> None:
        lifecycle.append("startup")

    @bot.on_shutdown
    async def down() -> None:
        lifecycle.append("shutdown")

    emulator = Emulator()
    tracker = EventTracker()
    stop = anyio.Event()
    async with emulator, anyio.create_task_group() as tg:
        host, port = await tg.start(
            partial(
                run_webhook,
                bot,
                credentials=emulator_credentials(emulator),
                platform=emulator_platform(emulator, "inprocess"),
                host="127.0.0.1",
                port=0,
                path="/qq/callback",
                shutdown_trigger=stop.wait,
                handle_signals=False,
                tracker=tracker,
            )
        )
        assert lifecycle == ["startup"]
        emulator.config.webhook_url = f"http://{host}:{port}/qq/callback"
        assert await emulator.webhook.validate_url()  # op 13 answered with the right signature

        event = emulator.control.group_at_message("/ping", group_openid="g1", member_openid="alice")
        with anyio.fail_after(5):
            while tracker.state(event.id) != "handled":
                await tracker.changed()
        (reply,) = emulator.control.sent("group", "g1")
        assert reply.body["content"] == "pong" and reply.body["msg_id"] == event.d["id"]
        assert reply.body["msg_seq"] == 1
        await emulator.webhook.wait_idle()
        (delivery,) = emulator.webhook.deliveries
        assert delivery.acked and delivery.event_id == event.id and [a.status for a in delivery.attempts] == [200]
        stop.set()
    assert lifecycle == ["startup", "shutdown"]
    assert tracker.received == tracker.handled == 1
