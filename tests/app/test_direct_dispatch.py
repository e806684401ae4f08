"""Routes of plain handlers (event / InboundEvent / bot parameters, no rule, no limit, no middleware) run
without a Context; everything else takes the general path. Both behave the same to the handlers."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import msgspec
import pytest

from framework.app import Bot, Context
from framework.app.rules import in_groups
from framework.models import C2CMessage, InboundEvent, RawEvent, Resumed
from framework.testing.recording import RecordingApi, c2c, event

pytestmark = pytest.mark.anyio


def replying_bot() -> tuple[Bot, RecordingApi, list[C2CMessage]]:
    """A bot bound to a recording API, and the list its handler keeps the messages it handled in."""
    bot = Bot(help=False)
    api = RecordingApi()
    bot.bind(api)
    return bot, api, []


def direct_types(bot: Bot) -> set[str]:
    return {route["event"] for route in bot.routes() if route["direct"]}


async def test_plain_handlers_get_the_event_the_inbound_event_and_the_bot() -> None:
    bot = Bot(help=False)
    seen: list[Any] = []

    @bot.on_c2c_message
    async def first(message: C2CMessage) -> None:
        seen.append(message.content)

    @bot.on_c2c_message
    async def second(inbound: InboundEvent, b: Bot, message: C2CMessage) -> None:
        seen.append((inbound.id, b is bot, message.id))

    assert "C2C_MESSAGE_CREATE" in direct_types(bot)
    inbound = c2c("hello", msg_id="m1")
    await bot.process(inbound)
    assert seen == ["hello", (inbound.id, True, "m1")]


async def test_a_failing_plain_handler_is_reported_with_a_context_and_the_next_one_runs() -> None:
    bot = Bot(help=False)
    bot.bind(RecordingApi())
    reported: list[tuple[str, str | None, str]] = []
    ran: list[str] = []

    @bot.on_c2c_message
    async def broken(message: C2CMessage) -> None:
        raise ValueError(message.content)

    @bot.on_c2c_message
    async def healthy(message: C2CMessage) -> None:
        ran.append(message.content)

    @bot.on_error
    async def report(error: BaseException, ctx: Context | None) -> None:
        assert ctx is not None and isinstance(ctx.event, C2CMessage)
        reported.append((str(error), ctx.inbound.id, ctx.text))

    assert "C2C_MESSAGE_CREATE" in direct_types(bot)
    inbound = c2c("boom", msg_id="m2")
    await bot.process(inbound)
    assert reported == [("boom", inbound.id, "boom")] and ran == ["boom"]


async def test_a_lone_failing_plain_handler_is_reported_with_its_name_and_a_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The commonest route, one handler taking the event alone, is called without the loop: same report."""
    bot = Bot(help=False)
    bot.bind(RecordingApi())
    reported: list[tuple[str, str | None]] = []

    @bot.on_c2c_message
    async def alone(message: C2CMessage) -> None:
        raise ValueError(message.content)

    @bot.on_error
    async def report(error: BaseException, ctx: Context | None) -> None:
        assert ctx is not None and isinstance(ctx.event, C2CMessage)
        reported.append((str(error), ctx.inbound.id))

    assert "C2C_MESSAGE_CREATE" in direct_types(bot)
    inbound = c2c("lone", msg_id="m3")
    with caplog.at_level(logging.ERROR, logger="framework.app"):
        await bot.process(inbound)
    assert reported == [("lone", inbound.id)]
    failed = [r.getMessage() for r in caplog.records if r.name == "framework.app"]
    assert len(failed) == 1 and "alone" in failed[0] and "C2C_MESSAGE_CREATE" in failed[0]


async def test_an_undecodable_payload_is_reported_without_a_context() -> None:
    bot = Bot(help=False)
    errors: list[tuple[str, object]] = []

    @bot.on_c2c_message
    async def never(message: C2CMessage) -> None:
        raise AssertionError("not reached")

    @bot.on_error
    async def report(error: BaseException, ctx: Context | None) -> None:
        errors.append((type(error).__name__, ctx))

    await bot.process(event("C2C_MESSAGE_CREATE", {"id": 5}))  # id must be a string
    assert errors == [("ValidationError", None)]


async def test_routes_needing_a_context_take_the_general_path() -> None:
    bot = Bot(help=False)
    texts: list[str] = []

    @bot.on_c2c_message
    async def plain(message: C2CMessage) -> None:
        texts.append("plain " + message.content)

    @bot.on_c2c_message
    async def with_ctx(ctx: Context) -> None:
        texts.append("ctx " + ctx.text)

    @bot.on_group_at_message(rule=in_groups("G1"))
    async def ruled(message: Any) -> None:
        pass

    @bot.on("GROUP_MSG_RECEIVE", concurrency=1)
    async def limited(event: Any) -> None:
        pass

    @bot.on("INTERACTION_CREATE")
    async def interaction(event: Any) -> None:
        pass

    assert direct_types(bot) == set()
    await bot.process(c2c("hi"))
    assert texts == ["plain hi", "ctx hi"]


async def test_middleware_disables_the_direct_path() -> None:
    bot = Bot(help=False)
    order: list[str] = []

    @bot.middleware
    async def outer(ctx: Context, call_next: Any) -> None:
        order.append("before")
        await call_next()

    @bot.on_c2c_message
    async def plain(message: C2CMessage) -> None:
        order.append(message.content)

    assert direct_types(bot) == set()
    await bot.process(c2c("x"))
    assert order == ["before", "x"]


async def test_unknown_and_resumed_events_decode_as_on_the_general_path() -> None:
    bot = Bot(help=False)
    got: list[Any] = []

    @bot.on("SOMETHING_NEW")
    async def new(event: Any) -> None:
        got.append(event)

    @bot.on("RESUMED")
    async def resumed(event: Any) -> None:
        got.append(event)

    assert {"SOMETHING_NEW", "RESUMED"} <= direct_types(bot)
    await bot.process(event("SOMETHING_NEW", {"a": 1}))
    await bot.process(InboundEvent(type="RESUMED", data=msgspec.Raw(b'""')))
    assert got == [RawEvent("SOMETHING_NEW", msgspec.Raw(b'{"a":1}')), Resumed()]


async def test_event_reply_works_on_the_direct_path_and_only_inside_the_handler() -> None:
    bot, api, kept = replying_bot()

    @bot.on_c2c_message
    async def answer(message: C2CMessage) -> None:
        kept.append(message)
        await message.reply("one")
        await message.reply("two")

    assert "C2C_MESSAGE_CREATE" in direct_types(bot)
    await bot.process(c2c("hi", msg_id="m9", user="U7"))
    sent = [(c.method, c.target, c.message) for c in api.calls]
    assert [(m, t, b.content, b.msg_id, b.msg_seq) for m, t, b in sent if b is not None] == [
        ("post_c2c_message", "U7", "one", "m9", 1),
        ("post_c2c_message", "U7", "two", "m9", 2),
    ]
    with pytest.raises(RuntimeError, match="only while a handler"):
        await kept[0].reply("late")


async def test_event_reply_binding_survives_nested_dispatch_and_a_task_started_by_the_handler() -> None:
    """The reply binding lives in a per-task cell (framework.models.replying.REPLY_BINDING): a ``bot.process`` nested
    in a handler, and a task the handler starts (which shares the cell), each reply to their own event, and the
    outer handler's binding is intact afterwards; once the handler has returned, its message no longer replies."""
    bot, api, kept = replying_bot()

    @bot.on_c2c_message
    async def answer(message: C2CMessage) -> None:
        kept.append(message)
        if message.content == "outer":
            await bot.process(c2c("nested", msg_id="m2", user="U2"))  # same task: the cell is in use
            await message.reply("outer-1")

            async def child() -> None:  # a task of its own that shares the handler's cell while it runs
                await message.reply("outer-from-task")
                await bot.process(c2c("from-task", msg_id="m3", user="U3"))
                await message.reply("outer-2")

            async with anyio.create_task_group() as tg:
                tg.start_soon(child)
            await message.reply("outer-3")
        else:
            await message.reply(f"re: {message.content}")

    await bot.process(c2c("outer", msg_id="m1", user="U1"))
    sent = [(c.target, c.message.content, c.message.msg_id) for c in api.calls if c.message is not None]
    assert sent == [
        ("U2", "re: nested", "m2"),
        ("U1", "outer-1", "m1"),
        ("U1", "outer-from-task", "m1"),
        ("U3", "re: from-task", "m3"),
        ("U1", "outer-2", "m1"),
        ("U1", "outer-3", "m1"),
    ]
    for message in kept:
        with pytest.raises(RuntimeError, match="only while a handler"):
            await message.reply("late")
    await bot.process(c2c("again", msg_id="m4", user="U4"))  # this task's cell was emptied: the next event binds anew
    assert [c.message.content for c in api.calls if c.message is not None][-1] == "re: again"


@pytest.mark.parametrize("path", ["direct", "general"])
async def test_a_task_started_by_the_handler_replies_while_it_runs_not_after(path: str) -> None:
    """Both paths bind the reply the same way: a task the handler started can reply through ``message.reply()``
    while the handler runs; once the handler has returned, the same call raises the usual error."""
    bot, api, kept = replying_bot()
    handler_done = anyio.Event()
    outcome: list[str] = []
    if path == "general":

        @bot.middleware
        async def passthrough(ctx: Context, call_next: Any) -> None:
            await call_next()

    async with anyio.create_task_group() as tg:

        async def later(message: C2CMessage) -> None:
            await message.reply("during")
            await handler_done.wait()
            try:
                await message.reply("after")
            except RuntimeError as exc:
                outcome.append(str(exc))

        @bot.on_c2c_message
        async def answer(message: C2CMessage) -> None:
            kept.append(message)
            tg.start_soon(later, message)
            await anyio.sleep(0.05)  # the task replies while this handler still runs

        assert ("C2C_MESSAGE_CREATE" in direct_types(bot)) is (path == "direct")
        await bot.process(c2c("hi", msg_id="m1", user="U1"))
        handler_done.set()
    assert [c.message.content for c in api.calls if c.message is not None] == ["during"]
    assert len(outcome) == 1 and "works only while a handler is processing this event" in outcome[0]
