"""Waiting for the next message (``ctx.prompt``, ``bot.wait_for``) through the emulator's real gateway and REST.

The delivery path runs one chat's events one at a time; these tests show that a handler waiting for the next
message of its own chat gets it (no deadlock), that answers go to the right user, that an answer triggers no
command or catch-all handler, and that the follow-up reply quotes the answer's ``msg_id``.
"""

from __future__ import annotations

import anyio
import pytest

from framework.app import Bot, BotError, Context
from framework.app.conversations import WaitTimeoutError
from framework.errors import QQBotError
from framework.testing import connect

pytestmark = pytest.mark.anyio


def weather_bot(*, prompt_timeout: float = 5.0, handler_timeout: float | None = 60.0) -> tuple[Bot, list[str]]:
    """``/weather`` asks for a city; a catch-all handler records what reaches it."""
    bot = Bot("weather", handler_timeout=handler_timeout)
    seen: list[str] = []

    @bot.command("weather")
    async def weather(ctx: Context) -> None:
        answer = await ctx.prompt("Which city?", timeout=prompt_timeout)
        await answer.reply(f"{ctx.user_id}: sunny in {answer.text}")

    @bot.on_any_message
    async def anything(ctx: Context) -> None:
        seen.append(ctx.text)

    return bot, seen


async def test_a_group_prompt_is_answered_by_the_next_group_message_no_deadlock() -> None:
    bot, seen = weather_bot()
    async with connect(bot) as chat:
        alice = chat.group("g1").user("alice")
        asked = await alice.at("/weather")
        await chat.prompted()
        answer = await alice.at("Paris")  # same group: the lane the asking handler holds
        sent = await chat.sent()
    assert [m.content for m in sent] == ["Which city?", "alice: sunny in Paris"]
    assert sent[0].body["msg_id"] == asked.d["id"]
    assert sent[1].body["msg_id"] == answer.d["id"]  # the follow-up is a passive reply to the answer
    assert seen == []  # the answer ran no catch-all handler


async def test_answers_go_to_the_user_who_was_asked() -> None:
    bot, seen = weather_bot()
    async with connect(bot) as chat:
        g1 = chat.group("g1")
        await g1.user("alice").at("/weather")
        await chat.prompted()
        await g1.user("bob").at("Tokyo")  # not alice: handled normally, after alice's conversation
        await g1.user("alice").at("Paris")
        assert await chat.replies() == ["Which city?", "alice: sunny in Paris"]
        assert seen == ["Tokyo"]


async def test_two_users_in_their_own_chats_talk_at_the_same_time() -> None:
    bot, seen = weather_bot()
    async with connect(bot) as chat:
        await chat.c2c("u1").say("/weather")
        await chat.prompted()
        await chat.c2c("u2").say("/weather")
        await chat.prompted()
        await chat.c2c("u2").say("Tokyo")
        await chat.c2c("u1").say("Paris")
        sent = await chat.sent()
    answers = {m.target_id: m.content for m in sent if m.content != "Which city?"}
    assert answers == {"u1": "u1: sunny in Paris", "u2": "u2: sunny in Tokyo"}
    assert seen == []


async def test_an_answer_is_not_a_command() -> None:
    bot, _ = weather_bot()
    async with connect(bot) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/weather")
        await chat.prompted()
        await alice.at("/weather")  # answers the question, does not start a second conversation
        assert await chat.replies() == ["Which city?", "alice: sunny in weather"]


async def test_a_channel_answer_and_its_message_create_twin_run_no_handler() -> None:
    bot, seen = weather_bot()
    created: list[str] = []

    @bot.on_message  # MESSAGE_CREATE: the same guild message arrives twice (with GUILD_MESSAGES)
    async def every_message(ctx: Context) -> None:
        created.append(ctx.text)

    async with connect(bot) as chat:
        bob = chat.channel("c1").user("bob")
        await bob.at("/weather")
        await chat.prompted()
        await bob.at("Paris")
        assert await chat.replies() == ["Which city?", "bob: sunny in Paris"]
    assert seen == []
    assert all("Paris" not in text for text in created)
    assert any("weather" in text for text in created)  # the twin of the command itself did run


async def test_the_prompt_times_out_with_a_clear_error() -> None:
    bot, _ = weather_bot(prompt_timeout=0.2)
    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("/weather")
        (failure,) = await chat.errors()
        assert await chat.replies() == ["Which city?"]
    assert isinstance(failure.error, WaitTimeoutError)
    assert isinstance(failure.error, QQBotError) and isinstance(failure.error, TimeoutError)
    assert "alice did not write in group g1 within 0.2 s" in str(failure.error)
    assert len(bot.waiters) == 0


async def test_after_a_timeout_the_next_message_is_handled_normally() -> None:
    bot, seen = weather_bot(prompt_timeout=0.2)
    async with connect(bot, check_errors=False) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/weather")
        await chat.settle()  # the prompt timed out
        await alice.at("Paris")
        await chat.settle()
    assert seen == ["Paris"]


async def test_a_prompt_may_wait_longer_than_the_handler_timeout() -> None:
    bot, _ = weather_bot(prompt_timeout=10, handler_timeout=0.5)  # the wait does not count against it
    async with connect(bot) as chat:
        alice = chat.group("g1").user("alice")
        await alice.at("/weather")
        await chat.prompted()
        await anyio.sleep(1.0)  # twice the handler timeout
        await alice.at("Paris")
        assert await chat.replies() == ["Which city?", "alice: sunny in Paris"]
        assert await chat.errors() == []


async def test_two_members_of_one_group_converse_at_the_same_time() -> None:
    bot, seen = weather_bot()
    async with connect(bot) as chat:
        g1 = chat.group("g1")
        await g1.user("alice").at("/weather")
        await chat.prompted()
        await g1.user("bob").at("/weather")  # runs while alice's handler waits: the group is not held
        await chat.prompted()  # bob was asked too, before alice answered
        await g1.user("bob").at("Tokyo")
        await g1.user("alice").at("Paris")
        replies = await chat.replies()
    assert replies[:2] == ["Which city?", "Which city?"]
    assert sorted(replies[2:]) == ["alice: sunny in Paris", "bob: sunny in Tokyo"]
    assert seen == []


async def test_wait_for_another_chat() -> None:
    """``bot.wait_for`` with a check: a command in one group waits for a word in another group."""
    bot = Bot("relay")

    @bot.command("relay")
    async def relay(ctx: Context) -> None:
        await ctx.reply("waiting for g2")
        got = await bot.wait_for(
            "GROUP_AT_MESSAGE_CREATE", check=lambda c: c.group_openid == "g2" and c.text.startswith("say "), timeout=5
        )
        await got.reply("relayed")
        await ctx.reply(f"g2 said: {got.text[4:]}")

    @bot.on_group_at_message
    async def other(ctx: Context) -> None:
        if not ctx.command:
            await ctx.reply(f"plain: {ctx.text}")

    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("/relay")
        await chat.prompted()
        await chat.group("g2").user("bob").at("hello")  # fails the check: handled normally
        await chat.group("g2").user("bob").at("say hi")
        sent = await chat.sent()
    assert sorted((m.target_id, m.content) for m in sent) == [
        ("g1", "g2 said: hi"),
        ("g1", "waiting for g2"),
        ("g2", "plain: hello"),
        ("g2", "relayed"),
    ]


async def test_wait_for_refuses_events_the_bot_never_receives() -> None:
    bot = Bot("narrow", scenes=["c2c"])

    @bot.command("wait")
    async def wait(ctx: Context) -> None:
        await bot.wait_for("GUILD_MEMBER_ADD", timeout=1)

    async with connect(bot) as chat:
        await chat.c2c("u1").say("/wait")
        (failure,) = await chat.errors()
    assert isinstance(failure.error, BotError)
    assert "does not ask for the intents GUILD_MEMBERS" in str(failure.error)


async def test_prompt_and_wait_for_need_a_running_bot() -> None:
    bot = Bot("idle")
    with pytest.raises(BotError, match="needs a running bot"):
        await bot.wait_for("C2C_MESSAGE_CREATE", timeout=1)
