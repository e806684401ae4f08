"""The bot's side of the one delivery path: dedupe on the message id, per-chat order, no chat stalled by
another, and the handler timeout reported to ``on_error`` (issue 19 items 2 and 7)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from framework.app import Bot, Context, HandlerTimeoutError
from framework.config import load_settings
from framework.models import InboundEvent
from framework.models.events import GroupMessage
from framework.testing.recording import c2c, group_at

pytestmark = pytest.mark.anyio


def renvelope(event: InboundEvent, envelope_id: str) -> InboundEvent:
    """The same payload under another envelope id (what a platform redelivery can look like)."""
    return InboundEvent(type=event.type, data=event.data, id=envelope_id, seq=event.seq, shard_id=event.shard_id)


async def test_the_same_message_under_a_new_envelope_id_is_handled_once() -> None:
    bot = Bot()
    handled: list[str] = []

    @bot.on_group_at_message
    async def on_group(message: GroupMessage) -> None:
        handled.append(message.id)

    first = group_at("hello", msg_id="m-1")
    async with bot.running():
        await bot.dispatch(renvelope(first, "GROUP_AT_MESSAGE_CREATE:aaa"))
        await bot.dispatch(renvelope(first, "GROUP_AT_MESSAGE_CREATE:bbb"))  # same d.id, new envelope
        await bot.dispatch(renvelope(group_at("again", msg_id="m-2"), "GROUP_AT_MESSAGE_CREATE:aaa"))
    assert handled == ["m-1", "m-2"]


async def test_events_without_a_message_id_are_deduplicated_on_the_envelope_id() -> None:
    bot = Bot()
    seen: list[str | None] = []

    @bot.on("GROUP_ADD_ROBOT")
    async def added(event: InboundEvent) -> None:
        seen.append(event.id)

    body = b'{"group_openid":"G1","op_member_openid":"U1","timestamp":1}'
    async with bot.running():
        for envelope_id in ("E1", "E1", "E2"):
            await bot.dispatch(InboundEvent(type="GROUP_ADD_ROBOT", data=body, id=envelope_id))  # type: ignore[arg-type]
    assert seen == ["E1", "E2"]


async def test_a_slow_group_does_not_hold_up_another_and_keeps_its_own_order() -> None:
    bot = Bot(concurrency=4)
    order: list[str] = []
    release = anyio.Event()
    quick = anyio.Event()

    @bot.on_group_at_message
    async def on_group(ctx: Context) -> None:
        if ctx.text == "slow-1":
            await release.wait()
        order.append(ctx.text)
        if ctx.text == "quick":
            quick.set()

    async with bot.running():
        await bot.dispatch(group_at("slow-1", msg_id="s1", group="G-slow"))
        await bot.dispatch(group_at("slow-2", msg_id="s2", group="G-slow"))
        await bot.dispatch(group_at("quick", msg_id="q1", group="G-quick"))
        with anyio.fail_after(5):
            await quick.wait()
        assert order == ["quick"]
        release.set()
    assert order == ["quick", "slow-1", "slow-2"]


async def test_a_handler_past_the_timeout_is_cancelled_and_reported_to_on_error() -> None:
    bot = Bot(handler_timeout=0.2)
    errors: list[BaseException] = []
    after: list[str] = []
    next_ran = anyio.Event()

    @bot.on_c2c_message
    async def stuck(ctx: Context) -> None:
        if ctx.text == "hang":
            await anyio.sleep_forever()
        after.append(ctx.text)
        next_ran.set()

    @bot.on_error
    async def report(error: BaseException) -> None:
        errors.append(error)

    async with bot.running():
        await bot.dispatch(c2c("hang", msg_id="c1"))
        await bot.dispatch(c2c("next", msg_id="c2"))  # same user: waits behind the stuck one, then runs
        with anyio.fail_after(5):
            await next_ran.wait()
    assert after == ["next"]
    assert len(errors) == 1 and isinstance(errors[0], HandlerTimeoutError)
    assert "C2C_MESSAGE_CREATE" in str(errors[0]) and "stuck" in str(errors[0]) and "0.2 s" in str(errors[0])


def test_bad_delivery_settings_are_one_line_errors() -> None:
    from framework.app import BotError

    with pytest.raises(BotError, match="concurrency must be at least 1"):
        Bot(concurrency=0)
    with pytest.raises(BotError, match="handler_timeout"):
        Bot(handler_timeout=-1)


def test_concurrency_and_handler_timeout_come_from_toml_env_and_the_command_line(tmp_path: Path) -> None:
    import argparse

    from framework.cli.commands import load

    bot_file = tmp_path / "a_bot.py"
    bot_file.write_text("from framework import Bot\nbot = Bot(concurrency=5, handler_timeout=7)\n", encoding="utf-8")
    toml = tmp_path / "qqbot.toml"
    toml.write_text("[bot]\nconcurrency = 12\nhandler_timeout = 30\n", encoding="utf-8")
    assert load_settings(toml, environ={}).bot.concurrency == 12
    assert load_settings(toml, environ={"QQBOT_HANDLER_TIMEOUT": "0"}).bot.handler_timeout == 0.0

    def loaded(**options: object) -> Bot:
        args = argparse.Namespace(config=str(toml), bot=f"{bot_file}:bot", **options)
        return load(args)[1]

    bot = loaded()
    assert (bot.concurrency, bot.handler_timeout) == (12, 30.0)  # the file wins over Bot(...)
    bot = loaded(concurrency=3, handler_timeout=0.0)  # the command line wins over the file
    assert (bot.concurrency, bot.handler_timeout) == (3, None)  # 0: no limit
