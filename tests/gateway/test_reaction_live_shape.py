"""Live MESSAGE_REACTION_ADD/REMOVE frames carry ``"target": {"type": "ReactionTargetType_MSG"}`` (a string,
protocol.md §0) where the docs say int: both decode, and a live-shaped reaction reaches its handler."""

from __future__ import annotations

import msgspec
import pytest

from framework import Bot
from framework.models.envelope import decode_event
from framework.models.events import ReactionEvent
from framework.testing import connect

pytestmark = pytest.mark.anyio

#: A live-shaped reaction payload (string target type), as the platform sends it.
LIVE = {
    "user_id": "3001",
    "channel_id": "2001",
    "guild_id": "1001",
    "emoji": {"id": "4", "type": 1},
    "target": {"id": "08e092eeb983afef9e0110f1d5b4011a0b3930313531333230373438", "type": "ReactionTargetType_MSG"},
}


@pytest.mark.parametrize("target_type", ["ReactionTargetType_MSG", 0, 3])
def test_reaction_target_type_decodes_as_string_or_int(target_type: object) -> None:
    d = {**LIVE, "target": {"id": "m1", "type": target_type}}
    event = decode_event("MESSAGE_REACTION_ADD", msgspec.json.encode(d))
    assert isinstance(event, ReactionEvent)
    assert event.target.type == target_type and event.target.id == "m1"


async def test_live_shaped_reaction_reaches_the_reaction_handlers() -> None:
    bot = Bot("reactions")
    added: list[ReactionEvent] = []
    removed: list[ReactionEvent] = []

    @bot.on_reaction_add
    async def on_add(event: ReactionEvent) -> None:
        added.append(event)

    @bot.on_reaction_remove
    async def on_remove(event: ReactionEvent) -> None:
        removed.append(event)

    async with connect(bot) as chat:
        chat.world.add_guild("1001")
        chat.world.add_channel("1001", "2001")
        chat.world.emit("MESSAGE_REACTION_ADD", LIVE, "1001", scene="guild", target_id="2001")
        chat.control.reaction("2001", "m2", user_id="3002")  # the emulator emits the live (string) form
        chat.control.reaction("2001", "m2", user_id="3002", remove=True)
        await chat.settle()
        assert await chat.errors() == []
    assert [(e.user_id, e.target.id, e.target.type) for e in added] == [
        ("3001", LIVE["target"]["id"], "ReactionTargetType_MSG"),  # type: ignore[index]
        ("3002", "m2", "ReactionTargetType_MSG"),
    ]
    assert [(e.user_id, e.target.type) for e in removed] == [("3002", "ReactionTargetType_MSG")]
