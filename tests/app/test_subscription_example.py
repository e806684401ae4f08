"""examples/subscription_bot.py through the emulator: the subscription conversation, the daily job, refusals."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
import zoneinfo
from pathlib import Path
from types import ModuleType

import pytest

from framework.app import Bot
from framework.testing import Chat, EmulatorConfig, ManualClock, connect

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscription_bot.py"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 12, 3, 20, 0, tzinfo=SHANGHAI).timestamp()


def load_example() -> tuple[ModuleType, Bot, ManualClock]:
    """A fresh copy of the example module (its bot keeps state in memory), on a clock the test moves."""
    spec = importlib.util.spec_from_file_location("subscription_bot_under_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    bot: Bot = module.bot
    clock = ManualClock(START)
    bot.clock = clock
    return module, bot, clock


def pushing() -> EmulatorConfig:
    return EmulatorConfig(allow_active_messages=True)


async def subscribe(chat: Chat, user: str, city: str, answer: str = "yes") -> None:
    c2c = chat.c2c(user)
    await c2c.say("/subscribe")
    await chat.prompted()
    await c2c.say(city)
    await chat.prompted()
    await c2c.say(answer)


async def test_subscribe_then_a_morning_message_then_unsubscribe() -> None:
    module, bot, _clock = load_example()
    async with connect(bot, config=pushing()) as chat:
        await subscribe(chat, "u1", "Paris")
        sent = await chat.sent()
        assert [m.content for m in sent] == [
            "Which city?",
            "Every morning at 08:00, the weather for Paris. OK? (yes/no)",
            "Subscribed: Paris. /unsubscribe stops it.",
        ]
        assert len({m.body["msg_id"] for m in sent}) == 3  # each answer is replied to with its own msg_id
        await chat.advance(24 * 3600)  # 20:00 to 20:00 the next day: one 08:00 on the way
        (morning,) = await chat.sent()
        assert morning.content == f"Good morning! Paris: {module.forecast('Paris')} today."
        assert morning.target_id == "u1" and "msg_id" not in morning.body
        await chat.c2c("u1").say("/unsubscribe")
        assert [m.content for m in await chat.sent()] == ["Unsubscribed from Paris."]
        await chat.advance(24 * 3600)
        assert await chat.sent() == []


async def test_two_users_subscribe_at_the_same_time() -> None:
    module, bot, _clock = load_example()
    async with connect(bot, config=pushing()) as chat:
        one, two = chat.c2c("u1"), chat.c2c("u2")
        await one.say("/subscribe")
        await chat.prompted()
        await two.say("/subscribe")
        await chat.prompted()
        await two.say("Tokyo")
        await chat.prompted()
        await one.say("Paris")
        await chat.prompted()
        await one.say("yes")
        await two.say("yes")
        await chat.settle()
        await one.say("/mycity")
        await two.say("/mycity")
        await one.say("/mycity")  # within 10 s: the cooldown answers
        replies = await chat.replies()
        assert replies[-3:] == ["Paris", "Tokyo", "/mycity is cooling down: try again in 10 s."]
        await chat.advance(24 * 3600)
        mornings = {m.target_id: m.content for m in await chat.sent()}
    assert mornings == {
        "u1": f"Good morning! Paris: {module.forecast('Paris')} today.",
        "u2": f"Good morning! Tokyo: {module.forecast('Tokyo')} today.",
    }


async def test_saying_no_changes_nothing() -> None:
    _, bot, _ = load_example()
    async with connect(bot, config=pushing()) as chat:
        await subscribe(chat, "u1", "Paris", answer="no")
        assert (await chat.replies())[-1] == "Nothing changed."
        await chat.c2c("u1").say("/mycity")
        assert await chat.replies() == ["You are not subscribed: /subscribe."]


async def test_a_user_who_turned_pushes_off_is_skipped_and_counted() -> None:
    module, bot, _ = load_example()
    async with connect(bot, config=pushing()) as chat:
        await subscribe(chat, "u1", "Paris")
        await subscribe(chat, "u2", "Oslo")
        await chat.settle()
        chat.control.c2c_msg_switch("u1", receive=False)
        await chat.sent()
        await chat.advance(24 * 3600)
        mornings = await chat.sent()
        assert [m.target_id for m in mornings] == ["u2"]  # u1 refused, u2 still served
        assert await chat.errors() == []
    async with bot.running(), bot.stored("subscriptions", module.Subscriptions) as subs:
        assert subs.refused == 1


async def test_a_bot_without_active_messages_sends_nothing_and_keeps_running() -> None:
    _module, bot, _ = load_example()
    async with connect(bot) as chat:  # the 2025+ platform: no active messages
        await subscribe(chat, "u1", "Paris")
        await chat.settle()
        await chat.sent()
        await chat.advance(24 * 3600)
        assert await chat.sent() == []
        assert await chat.errors() == []
        await chat.c2c("u1").say("/mycity")
        assert (await chat.replies())[-1] == "Paris"


def test_qqbot_check_lists_the_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.cli import main

    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("QQBOT_")]:
        monkeypatch.delenv(key)
    assert main(["check", f"{EXAMPLE}:bot"]) == 0
    out = capsys.readouterr().out
    assert "jobs:       1" in out
    assert "cron '0 8 * * *' (Asia/Shanghai)" in out and ".morning" in out
