"""A failing handler is reported and the bot keeps serving; lifecycle hooks run in order."""

from __future__ import annotations

import pytest

from framework.app import Bot, BotError, CallNext, Context, HandlerSignatureError
from framework.models import InboundEvent
from framework.testing.recording import RecordingApi, c2c, event


@pytest.mark.anyio
async def test_a_failing_handler_is_reported_and_others_keep_running() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    reported: list[tuple[str, str]] = []

    @bot.on_c2c_message
    async def broken(ctx: Context) -> None:
        raise ValueError(f"cannot handle {ctx.text}")

    @bot.on_c2c_message
    async def healthy(ctx: Context) -> None:
        await ctx.reply("still here")

    @bot.on_error
    async def report(error: BaseException, ctx: Context | None) -> None:
        assert ctx is not None
        reported.append((type(error).__name__, str(error)))

    await bot.dispatch(c2c("one", msg_id="a"))
    await bot.dispatch(c2c("two", msg_id="b"))
    assert reported == [("ValueError", "cannot handle one"), ("ValueError", "cannot handle two")]
    assert api.texts() == ["still here", "still here"]


@pytest.mark.anyio
async def test_errors_in_middleware_decoding_and_error_handlers_never_escape() -> None:
    bot = Bot()
    errors: list[str] = []

    @bot.middleware
    async def faulty(ctx: Context, call_next: CallNext) -> None:
        if ctx.text == "mw":
            raise RuntimeError("middleware broke")
        await call_next()

    @bot.on_c2c_message
    async def fine(ctx: Context) -> None:
        errors.append("handled " + ctx.text)

    @bot.on_error
    async def first(error: BaseException) -> None:
        errors.append(type(error).__name__)

    @bot.on_error
    async def also_broken(error: BaseException) -> None:
        raise RuntimeError("the error handler itself fails")

    await bot.dispatch(c2c("mw"))
    await bot.dispatch(InboundEvent(type="C2C_MESSAGE_CREATE", data=b'{"content": 5}'))  # type: ignore[arg-type]
    await bot.dispatch(c2c("ok"))
    assert errors == ["RuntimeError", "ValidationError", "handled ok"]


def test_error_handler_signatures_are_checked() -> None:
    bot = Bot()

    async def none() -> None: ...

    with pytest.raises(HandlerSignatureError):
        bot.on_error(none)
    with pytest.raises(BotError):
        bot.command("two words")


@pytest.mark.anyio
async def test_running_calls_startup_and_shutdown_and_drains_queued_events() -> None:
    bot = Bot(concurrency=2, queue_size=4)
    api = RecordingApi()
    trace: list[str] = []

    @bot.on_startup
    async def start(me: Bot) -> None:
        trace.append(f"startup {me.name}")

    @bot.on_shutdown
    async def stop() -> None:
        trace.append("shutdown")

    @bot.on_c2c_message
    async def handle(ctx: Context) -> None:
        trace.append(ctx.text)

    async with bot.running(api) as running:
        assert running is bot and bot.api is api
        for i in range(6):
            await bot.dispatch(c2c(str(i), msg_id=str(i)))
    assert trace[0] == "startup qqbot" and trace[-1] == "shutdown"
    assert sorted(trace[1:-1]) == [str(i) for i in range(6)]
    # after stopping, dispatch processes inline again
    await bot.dispatch(c2c("late"))
    assert trace[-1] == "late"


@pytest.mark.anyio
async def test_a_failing_startup_function_is_reported_not_raised() -> None:
    bot = Bot()
    errors: list[str] = []

    @bot.on_startup
    async def broken() -> None:
        raise OSError("no database")

    @bot.on_error
    async def record(error: BaseException, ctx: Context | None) -> None:
        errors.append(f"{error} ctx={ctx}")

    async with bot.running():
        pass
    assert errors == ["no database ctx=None"]


@pytest.mark.anyio
async def test_describe_summarises_the_bot() -> None:
    bot = Bot("demo")

    @bot.on_group_at_message
    async def h() -> None: ...

    @bot.command("roll", aliases=["r"])
    async def roll(ctx: Context, sides: int = 6) -> None: ...

    info = bot.describe()
    assert info["name"] == "demo"
    assert set(info["intents"]) == {"PUBLIC_GUILD_MESSAGES", "DIRECT_MESSAGE", "GROUP_AND_C2C_EVENT"}
    assert info["commands"][0]["usage"] == "/roll [sides: int = 6]"
    assert info["handlers"][0]["event"] == "GROUP_AT_MESSAGE_CREATE"
    await bot.dispatch(event("READY", {"user": {"id": "1"}}))
    assert bot.bot_id == "1"
