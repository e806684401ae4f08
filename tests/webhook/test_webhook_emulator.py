"""The emulator's webhook sender (the platform's side) against the webhook app served by hypercorn on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from webhook_support import Recorder, served

from framework.clock import Clock, ScaledClock, VirtualClock
from framework.emulator.config import EmulatorConfig
from framework.emulator.webhook_sender import WebhookSender
from framework.emulator.world import World
from framework.models import InboundEvent
from framework.runtime.webhook import WebhookApp

pytestmark = pytest.mark.anyio

APP_ID = "102000777"
SECRET = "emulator-webhook-secret"
GROUP_D: dict[str, Any] = {
    "id": "ROBOT1.0_emulated",
    "content": " ping",
    "timestamp": "2026-11-27T12:00:00+08:00",
    "group_openid": "G_OPENID",
    "author": {"member_openid": "M_OPENID"},
}


@asynccontextmanager
async def platform(clock: Clock, url: str, **config: Any) -> AsyncIterator[tuple[World, WebhookSender]]:
    """An emulated platform whose webhook sender POSTs to ``url``."""
    cfg = EmulatorConfig(apps={APP_ID: SECRET}, webhook_url=url, **config)
    world = World(cfg, clock)
    sender = WebhookSender(cfg, clock, world, retry_delay=1.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sender.run)
        try:
            yield world, sender
        finally:
            sender.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


async def test_emulator_validates_the_callback_url() -> None:
    clock = VirtualClock()
    app = WebhookApp(clock=clock)
    app.add_bot(APP_ID, SECRET, Recorder())
    async with served(app) as url, platform(clock, url) as (_world, sender):
        assert await sender.validate_url()
        assert sender.validations[-1]["ok"] is True
        # a bot holding the wrong secret fails the platform's check
        wrong = WebhookApp(clock=clock)
        wrong.add_bot(APP_ID, "some-other-secret", Recorder())
        async with served(wrong) as wrong_url:
            assert not await sender.validate_url(wrong_url)
    assert app.stats.validations == 1


async def test_emulator_events_reach_the_handlers_once_each() -> None:
    clock = VirtualClock()
    sink = Recorder()
    app = WebhookApp(clock=clock)
    app.add_bot(APP_ID, SECRET, sink)
    async with served(app) as url, platform(clock, url) as (world, sender):
        emitted = [world.emit("GROUP_AT_MESSAGE_CREATE", {**GROUP_D, "content": f" n{n}"}) for n in range(5)]
        with anyio.fail_after(10):
            await sender.wait_idle()
        await wait_until(lambda: len(sink.events) == 5)
    assert [e.id for e in sink.events] == [e.id for e in emitted]
    assert all(e.source == "webhook" and e.type == "GROUP_AT_MESSAGE_CREATE" for e in sink.events)
    assert [e.decode().content for e in sink.events] == [f" n{n}" for n in range(5)]
    assert all(d.acked and len(d.attempts) == 1 for d in sender.deliveries)


async def test_slow_handler_is_acked_at_once_so_the_platform_does_not_retry() -> None:
    clock = VirtualClock()
    release = anyio.Event()
    seen: list[str] = []

    async def slow(event: InboundEvent) -> None:
        seen.append(event.id or "")
        await release.wait()

    app = WebhookApp(clock=clock)
    app.add_bot(APP_ID, SECRET, slow)
    async with served(app) as url, platform(clock, url, webhook_timeout=2.0) as (world, sender):
        first = world.emit("GROUP_AT_MESSAGE_CREATE", GROUP_D)
        second = world.emit("C2C_MESSAGE_CREATE", {**GROUP_D, "author": {"user_openid": "U"}})
        with anyio.fail_after(10):
            await sender.wait_idle()
        # both delivered and acknowledged on the first attempt while the handlers are still blocked
        assert [(d.acked, len(d.attempts)) for d in sender.deliveries] == [(True, 1), (True, 1)]
        await wait_until(lambda: len(seen) == 2)
        assert app.in_flight == 2
        release.set()
        await wait_until(lambda: app.in_flight == 0)
    assert seen == [first.id, second.id]


async def test_overloaded_bot_answers_503_and_the_platform_retry_is_dispatched_once() -> None:
    # shared scaled clock: the sender's retry delay (1 s) passes in 20 ms, and timestamps stay consistent
    clock = ScaledClock(50)
    release = anyio.Event()
    seen: list[str] = []

    async def blocking(event: InboundEvent) -> None:
        seen.append(event.id or "")
        if len(seen) == 1:
            await release.wait()

    app = WebhookApp(clock=clock, max_in_flight=1)
    app.add_bot(APP_ID, SECRET, blocking)
    async with served(app) as url, platform(clock, url, webhook_retries=50) as (world, sender):
        first = world.emit("GROUP_AT_MESSAGE_CREATE", GROUP_D)
        second = world.emit("GROUP_AT_MESSAGE_CREATE", {**GROUP_D, "content": " again"})
        # the first handler holds the only slot, so the second event is refused and retried
        await wait_until(lambda: len(sender.deliveries) == 2 and len(sender.deliveries[1].attempts) >= 2)
        assert seen == [first.id]
        release.set()
        with anyio.fail_after(10):
            await sender.wait_idle()
        await wait_until(lambda: len(seen) == 2)
    retried = sender.deliveries[1]
    assert retried.acked
    assert all(a.status == 503 and not a.acked for a in retried.attempts[:-1])
    assert retried.attempts[-1].status == 200
    assert seen == [first.id, second.id]
    assert app.stats.rejected_unavailable == len(retried.attempts) - 1


async def test_bot_down_then_up_gets_the_event_through_retries() -> None:
    clock = ScaledClock(20)
    sink = Recorder()
    app = WebhookApp(clock=clock)
    app.add_bot(APP_ID, SECRET, sink)
    # a bound but not listening socket: connections are refused and nobody else can take the port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    try:
        async with platform(clock, url, webhook_retries=200) as (world, sender):
            event = world.emit("GROUP_AT_MESSAGE_CREATE", GROUP_D)
            await wait_until(lambda: bool(sender.deliveries) and len(sender.deliveries[0].attempts) >= 1)
            assert sender.deliveries[0].attempts[0].status is None  # connection refused: the bot is down
            async with served(app, sock=sock):
                with anyio.fail_after(10):
                    await sender.wait_idle()
                await wait_until(lambda: len(sink.events) == 1)
    finally:
        if sock.fileno() != -1:
            sock.close()
    delivery = sender.deliveries[0]
    assert delivery.acked
    assert delivery.attempts[-1].status == 200
    assert [e.id for e in sink.events] == [event.id]
