"""Per-event facts are columns of the one event table; the app's views of them are derived from it."""

from __future__ import annotations

import pytest

import framework.app.scenes as app_scenes
from framework.app import Bot, Context
from framework.app.context import GUILD_ESCAPED_EVENTS
from framework.models import EVENT_TABLE
from framework.models.scenes import ReplyTarget, Scene
from framework.testing.recording import RecordingApi, at_message, c2c, event, group_at


def test_scene_and_reply_target_live_in_models_and_stay_importable_from_the_app() -> None:
    assert app_scenes.Scene is Scene and app_scenes.ReplyTarget is ReplyTarget
    import framework.app

    assert framework.app.Scene is Scene and framework.app.ReplyTarget is ReplyTarget


def test_each_scene_has_exactly_one_user_message_event() -> None:
    by_scene = {s: [t for t, spec in EVENT_TABLE.items() if spec.scene is s] for s in Scene}
    assert by_scene == {
        Scene.CHANNEL: ["AT_MESSAGE_CREATE"],
        Scene.DM: ["DIRECT_MESSAGE_CREATE"],
        Scene.GROUP: ["GROUP_AT_MESSAGE_CREATE"],
        Scene.C2C: ["C2C_MESSAGE_CREATE"],
    }
    assert dict(app_scenes.MESSAGE_EVENTS_BY_SCENE) == {s: ts[0] for s, ts in by_scene.items()}
    # a scene's user-message event is answerable in that scene
    for event_type in app_scenes.MESSAGE_EVENTS_BY_SCENE.values():
        assert EVENT_TABLE[event_type].reply_target is not None, event_type


def test_the_escaped_and_acknowledged_columns() -> None:
    assert sorted(GUILD_ESCAPED_EVENTS) == ["AT_MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE", "MESSAGE_CREATE"]
    assert [t for t, spec in EVENT_TABLE.items() if spec.acknowledged] == ["INTERACTION_CREATE"]


@pytest.mark.anyio
async def test_replies_and_text_follow_the_reply_target_and_escaped_columns() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    targets: list[ReplyTarget | None] = []
    texts: list[str] = []

    async def remember(ctx: Context) -> None:
        targets.append(ctx.target)
        texts.append(ctx.text)

    for decorator in ("on_group_at_message", "on_c2c_message", "on_at_message", "on_friend_add", "on_guild_create"):
        getattr(bot, decorator)(remember)
    await bot.dispatch(group_at("&lt;hi&gt;", msg_id="m1", group="G1"))
    await bot.dispatch(c2c("hi", msg_id="c1", user="U1"))
    await bot.dispatch(at_message("&lt;hi&gt;", msg_id="a1", channel="C1"))
    await bot.dispatch(event("FRIEND_ADD", {"openid": "U2", "timestamp": 1}, id="e1"))
    await bot.dispatch(event("GUILD_CREATE", {"id": "G9", "name": "g"}))
    assert targets == [
        ReplyTarget(Scene.GROUP, "G1", msg_id="m1"),
        ReplyTarget(Scene.C2C, "U1", msg_id="c1"),
        ReplyTarget(Scene.CHANNEL, "C1", msg_id="a1"),
        ReplyTarget(Scene.C2C, "U2", event_id="e1"),
        None,
    ]
    assert texts[:3] == ["&lt;hi&gt;", "hi", "<hi>"]  # only guild content is unescaped (the escaped column)
