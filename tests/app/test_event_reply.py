"""``await event.reply(...)`` inside a handler, through the emulator test client."""

from __future__ import annotations

import pytest

from framework import Bot
from framework.models import C2CMessage, GroupMessage, Interaction, Message
from framework.testing import connect


@pytest.mark.anyio
async def test_event_reply_picks_the_scene_and_counts_msg_seq() -> None:
    bot = Bot("replying")
    kept: list[Message] = []

    @bot.on_group_at_message
    async def group(event: GroupMessage) -> None:
        await event.reply("one")
        await event.reply("two")

    @bot.on_c2c_message
    async def c2c(event: C2CMessage) -> None:
        await event.reply(f"c2c: {event.content}")

    @bot.on_at_message
    async def guild(event: Message) -> None:
        kept.append(event)
        await event.reply("guild")

    @bot.on_interaction
    async def clicked(event: Interaction) -> None:
        await event.reply(f"clicked {event.data.resolved.button_data}")

    async with connect(bot) as chat:
        emitted = await chat.group("g1").user("alice").at("hi")
        assert await chat.replies() == ["one", "two"]
        bodies = [m.body for m in await chat.sent()]
        assert [b["msg_id"] for b in bodies] == [emitted.d["id"]] * 2
        assert [b["msg_seq"] for b in bodies] == [1, 2]

        await chat.c2c("u1").say("x")
        assert await chat.replies() == ["c2c: x"]

        await chat.channel("c1").user("bob").at("hello")
        assert await chat.replies() == ["guild"]

        click = await chat.group("g1").user("alice").click("data-1")
        assert await chat.replies() == ["clicked data-1"]
        assert (await chat.sent())[-1].body["event_id"] == click.id

        # outside its handler the event cannot reply: a clear error, not a silent no-op
        with pytest.raises(RuntimeError, match="only while a handler is processing this event"):
            await kept[0].reply("late")
