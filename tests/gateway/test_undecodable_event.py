"""An event whose payload does not decode into its model (sent over the emulator's loopback wire): one
WARNING per event type naming the type, id, shard and seq, the error hooks still run, and no misleading
"handler dispatch failed on ?" line."""

from __future__ import annotations

import logging

import pytest

from framework.app import Bot
from framework.models import C2CMessage
from framework.testing import connect

pytestmark = pytest.mark.anyio


async def test_undecodable_payload_is_logged_with_type_id_and_shard(caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot(help=False)
    ran: list[str] = []

    @bot.on_c2c_message
    async def echo(message: C2CMessage) -> None:
        ran.append(message.content)

    async with connect(bot, transport="loopback") as chat:
        caplog.set_level(logging.DEBUG, logger="framework.app.dispatch")
        for n in range(2):  # "id" must be a string: the model refuses it
            chat.control.emit("C2C_MESSAGE_CREATE", {"id": n, "content": "x", "author": {"user_openid": "u"}})
        await chat.c2c("u1").say("fine")
        failures = await chat.errors()
        assert [(f.handler, type(f.error).__name__) for f in failures] == [("payload decoding", "ValidationError")] * 2
        assert ran == ["fine"]
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "could not decode" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "C2C_MESSAGE_CREATE event (id C2C_MESSAGE_CREATE:" in warnings[0] and "shard 0, seq " in warnings[0]
    assert "$.id" in warnings[0]
    assert not [r for r in caplog.records if "failed on ?" in r.getMessage()]
