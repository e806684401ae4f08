"""Replies of an event handled again after a worker died, against the emulator and a real Redis or NATS server.

Two bots stand for two workers (each its own ledger, both counting ``msg_seq`` in the bus): the first answers
part of an event and "dies"; the second handles the same event again. The reply the first one sent is refused by
the platform's dedupe (40054005, same ``msg_id`` + ``msg_seq``) and taken as delivered; the one it never sent
goes out; the emulator records each reply once. A 40054005 on a number nobody took before still raises.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest

from framework import Bot, Context
from framework.app.ledger import ReplyLedger
from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models import InboundEvent
from framework.models.events import GroupMessage
from framework.models.results import Delivered
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import DuplicateMessageError, OpenAPI
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@asynccontextmanager
async def _platform() -> AsyncIterator[tuple[Emulator, OpenAPI]]:
    emulator = Emulator(EmulatorConfig())
    async with emulator.serve("127.0.0.1", 0) as base, httpx.AsyncClient(base_url=base) as http:
        tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(base), http=http)
        try:
            yield emulator, OpenAPI(tokens, base_url=base, http=http)
        finally:
            await tokens.aclose()


def _bus(backend: str, request: pytest.FixtureRequest) -> Any:
    if backend == "nats":
        from framework.bus.nats import NatsJetStreamBus

        return NatsJetStreamBus(f"{request.getfixturevalue('nats_server').url}?partitions=1", app_id="1")
    from framework.bus.redis import RedisStreamsBus

    return RedisStreamsBus(f"{request.getfixturevalue('redis_server').url}?partitions=1", app_id="1")


def _inbound(emulator: Emulator, group: str, text: str) -> InboundEvent:
    emitted = emulator.control.group_at_message(text, group_openid=group)
    return InboundEvent(
        type=emitted.type, data=msgspec.Raw(msgspec.json.encode(emitted.d)), id=emitted.id, source="redis"
    )


def _sent(emulator: Emulator, group: str) -> list[tuple[str, int]]:
    return [(m.body["content"], m.body["msg_seq"]) for m in emulator.control.sent("group", group)]


@pytest.mark.parametrize("backend", ["redis", "nats"])
async def test_a_reply_sent_before_the_crash_is_not_sent_again(
    backend: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "framework.app.reply")
    async with _platform() as (emulator, api), AsyncExitStack() as stack:
        first_bus = await stack.enter_async_context(_bus(backend, request))
        second_bus = await stack.enter_async_context(_bus(backend, request))
        dying, successor = Bot("a", scenes=["group"]), Bot("b", scenes=["group"])
        for bot, bus in ((dying, first_bus), (successor, second_bus)):
            bot.bind(api)
            bot.ledger = ReplyLedger(store=bus.seq_store())
        results: list[Any] = []

        @dying.on_group_at_message
        async def answer_once(ctx: Context[GroupMessage]) -> None:
            await ctx.reply("one")  # then the worker dies (SIGKILL): "two" never goes out from here

        @successor.on_group_at_message  # a plain handler: the direct path, a Context per reply
        async def answer_twice(message: GroupMessage) -> None:
            results.append(await message.reply("one"))
            results.append(await message.reply("two"))

        event = _inbound(emulator, "G1", "hi")
        await dying.process(event)
        assert _sent(emulator, "G1") == [("one", 1)]
        await successor.process(event)  # the same event delivered again, to another worker
        assert _sent(emulator, "G1") == [("one", 1), ("two", 2)]  # each reply once, in order
        assert isinstance(results[0], Delivered) and results[0].code == 40054005
        assert not isinstance(results[1], Delivered) and results[1].id
        assert "msg_seq 1 was sent by an earlier delivery of this event; not sent again" in caplog.text

        # another event about the same message (the platform pushed it again under a new envelope id) is no
        # replay: it gets fresh numbers, as a second reply always did
        again = InboundEvent(type=event.type, data=event.data, id=f"{event.id}-again", source="redis")
        await successor.process(again)
        assert _sent(emulator, "G1")[2:] == [("one", 3), ("two", 4)]
        assert [type(r).__name__ for r in results[2:]] == ["SendResult", "SendResult"]


@pytest.mark.parametrize("backend", ["redis", "nats"])
async def test_a_duplicate_on_a_first_delivery_still_raises(backend: str, request: pytest.FixtureRequest) -> None:
    async with _platform() as (emulator, api), _bus(backend, request) as bus:
        bot = Bot("a", scenes=["group"])
        bot.bind(api)
        bot.ledger = ReplyLedger(store=bus.seq_store())
        failures: list[BaseException] = []

        @bot.on_group_at_message
        async def answer(ctx: Context[GroupMessage]) -> None:
            try:
                await ctx.reply("hello")
            except DuplicateMessageError as exc:
                failures.append(exc)

        event = _inbound(emulator, "G2", "hi")
        message_id = msgspec.json.decode(event.data)["id"]
        await api.post_group_message(  # msg_seq 1 taken outside the bus's count (say, by a one-process bot)
            "G2", _body(message_id)
        )
        await bot.process(event)
        assert len(failures) == 1 and isinstance(failures[0], DuplicateMessageError), failures
        assert _sent(emulator, "G2") == [("taken", 1)]


def _body(message_id: str) -> Any:
    from framework.models.api import MessageToCreate, MsgType

    return MessageToCreate(content="taken", msg_type=MsgType.TEXT, msg_id=message_id, msg_seq=1)
