"""Replies pick the endpoint from the scene, fill msg_id/event_id and number msg_seq per source message."""

from __future__ import annotations

import pytest

from framework.app import Bot, Context, NoReplyTargetError, NotBoundError, Upload
from framework.models import Embed
from framework.models.api import Keyboard, MsgType
from framework.testing.recording import RecordingApi, at_message, c2c, direct_message, event, group_at


def make_bot() -> tuple[Bot, RecordingApi]:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    return bot, api


@pytest.mark.anyio
async def test_each_scene_goes_to_its_endpoint_with_msg_id() -> None:
    bot, api = make_bot()

    @bot.on_at_message
    @bot.on_direct_message
    @bot.on_group_at_message
    @bot.on_c2c_message
    async def echo(ctx: Context) -> None:
        await ctx.reply(f"echo {ctx.text}")

    await bot.dispatch(at_message("<@!99> one", msg_id="g1", channel="CH1"))
    await bot.dispatch(direct_message("two", msg_id="d1", guild="DMG1"))
    await bot.dispatch(group_at(" three", msg_id="m1", group="G1"))
    await bot.dispatch(c2c("four", msg_id="c1", user="U1"))

    got = [(c.method, c.target, c.message.content, c.message.msg_id) for c in api.sends if c.message]
    assert got == [
        ("post_channel_message", "CH1", "echo one", "g1"),
        ("post_dms_message", "DMG1", "echo two", "d1"),
        ("post_group_message", "G1", "echo three", "m1"),
        ("post_c2c_message", "U1", "echo four", "c1"),
    ]
    group, user = api.sends[2].message, api.sends[3].message
    assert group is not None and user is not None
    assert (group.msg_type, group.msg_seq, user.msg_type, user.msg_seq) == (MsgType.TEXT, 1, MsgType.TEXT, 1)


@pytest.mark.anyio
async def test_msg_seq_counts_per_source_message_even_across_redelivery() -> None:
    bot, api = make_bot()

    @bot.on_group_at_message
    async def chatty(ctx: Context) -> None:
        await ctx.reply("a")
        await ctx.reply("b")

    await bot.dispatch(group_at("x", msg_id="m1"))
    await bot.dispatch(group_at("y", msg_id="m2"))
    await bot.dispatch(group_at("x", msg_id="m1"))  # the platform may push the same message twice
    seqs = [(c.message.msg_id, c.message.msg_seq) for c in api.sends if c.message]
    assert seqs == [("m1", 1), ("m1", 2), ("m2", 1), ("m2", 2), ("m1", 3), ("m1", 4)]
    assert len(set(seqs)) == len(seqs)  # never the same (msg_id, msg_seq): no 40054005


@pytest.mark.anyio
async def test_event_replies_use_the_envelope_id_as_event_id() -> None:
    bot, api = make_bot()

    @bot.on_friend_add
    @bot.on_group_add_robot
    @bot.on_reaction_add
    async def hello(ctx: Context) -> None:
        await ctx.reply("welcome")

    await bot.dispatch(event("FRIEND_ADD", {"openid": "U7", "timestamp": 1}, id="FRIEND_ADD:abc"))
    await bot.dispatch(
        event("GROUP_ADD_ROBOT", {"group_openid": "G7", "op_member_openid": "U7"}, id="GROUP_ADD_ROBOT:x")
    )
    await bot.dispatch(
        event("MESSAGE_REACTION_ADD", {"channel_id": "CH7", "guild_id": "g"}, id="MESSAGE_REACTION_ADD:r")
    )
    got = [
        (c.method, c.target, c.message.event_id, c.message.msg_id, c.message.msg_seq) for c in api.sends if c.message
    ]
    assert got == [
        ("post_c2c_message", "U7", "FRIEND_ADD:abc", None, 1),
        ("post_group_message", "G7", "GROUP_ADD_ROBOT:x", None, 1),
        ("post_channel_message", "CH7", "MESSAGE_REACTION_ADD:r", None, None),
    ]


@pytest.mark.anyio
async def test_interactions_reply_in_their_scene_and_are_acknowledged_once() -> None:
    bot, api = make_bot()

    @bot.on_interaction
    async def clicked(ctx: Context) -> None:
        await ctx.reply("clicked")

    payload = {"id": "I-1", "chat_type": 1, "group_openid": "G1", "group_member_openid": "U1", "type": 11}
    await bot.dispatch(event("INTERACTION_CREATE", payload, id="INTERACTION_CREATE:1"))
    await bot.dispatch(event("INTERACTION_CREATE", payload, id="INTERACTION_CREATE:1"))  # redelivered
    acks = [c for c in api.calls if c.method == "put_interaction"]
    assert [(a.target, a.extra["code"]) for a in acks] == [("I-1", 0)]
    sends = [(c.target, c.message.event_id, c.message.msg_seq) for c in api.sends if c.message]
    assert sends == [("G1", "INTERACTION_CREATE:1", 1), ("G1", "INTERACTION_CREATE:1", 2)]


@pytest.mark.anyio
async def test_a_handler_may_acknowledge_an_interaction_with_its_own_code() -> None:
    bot, api = make_bot()

    @bot.on_interaction
    async def refuse(ctx: Context) -> None:
        assert await ctx.ack(4) is True
        assert await ctx.ack(0) is False

    await bot.dispatch(event("INTERACTION_CREATE", {"id": "I-2", "chat_type": 2, "user_openid": "U1"}))
    assert [(c.target, c.extra["code"]) for c in api.calls if c.method == "put_interaction"] == [("I-2", 4)]


@pytest.mark.anyio
async def test_interaction_is_acknowledged_even_when_the_handler_fails() -> None:
    bot, api = make_bot()

    @bot.on_interaction
    async def broken() -> None:
        raise RuntimeError("boom")

    await bot.dispatch(event("INTERACTION_CREATE", {"id": "I-3", "chat_type": 0, "channel_id": "CH"}))
    assert [c.target for c in api.calls if c.method == "put_interaction"] == ["I-3"]


@pytest.mark.anyio
async def test_media_is_uploaded_then_sent_in_groups_and_c2c() -> None:
    bot, api = make_bot()

    @bot.on_group_at_message
    async def picture(ctx: Context) -> None:
        await ctx.reply(image="https://example.com/cat.png")

    @bot.on_c2c_message
    async def voice(ctx: Context) -> None:
        await ctx.reply("listen", file=Upload(file_type=3, data=b"silk"))

    await bot.dispatch(group_at("pic", msg_id="m9", group="G9"))
    await bot.dispatch(c2c("voice", msg_id="c9", user="U9"))
    methods = [c.method for c in api.calls]
    assert methods == ["upload_group_file", "post_group_message", "upload_c2c_file", "post_c2c_message"]
    assert api.calls[0].extra == {"file_type": 1, "url": "https://example.com/cat.png"}
    assert api.calls[2].extra == {"file_type": 3, "data": b"silk"}
    group_msg, c2c_msg = api.calls[1].message, api.calls[3].message
    assert group_msg is not None and c2c_msg is not None
    assert (group_msg.msg_type, group_msg.content, group_msg.media.file_info if group_msg.media else None) == (
        MsgType.MEDIA,
        " ",
        "FILEINFO-group",
    )
    assert (c2c_msg.content, c2c_msg.msg_id, c2c_msg.msg_seq) == ("listen", "c9", 1)


@pytest.mark.anyio
async def test_markdown_keyboard_embed_and_guild_images() -> None:
    bot, api = make_bot()

    @bot.on_c2c_message
    async def md(ctx: Context) -> None:
        await ctx.reply(markdown="**hi**", keyboard=Keyboard(id="kb1"))

    @bot.on_at_message
    async def guild(ctx: Context) -> None:
        await ctx.reply(embed=Embed(title="t"), image="https://example.com/x.png")

    await bot.dispatch(c2c("x"))
    await bot.dispatch(at_message("y"))
    md_msg, guild_msg = api.sends[0].message, api.sends[1].message
    assert md_msg is not None and guild_msg is not None
    assert md_msg.msg_type == MsgType.MARKDOWN and md_msg.markdown is not None
    assert md_msg.markdown.content == "**hi**" and md_msg.keyboard == Keyboard(id="kb1")
    assert guild_msg.embed == Embed(title="t") and guild_msg.image == "https://example.com/x.png"
    assert guild_msg.msg_type is None  # guild sends have no msg_type


@pytest.mark.anyio
async def test_reply_errors_are_clear() -> None:
    bot = Bot()
    errors: list[BaseException] = []

    @bot.on_c2c_message
    async def unbound(ctx: Context) -> None:
        await ctx.reply("x")

    @bot.on_guild_member_add
    async def nowhere(ctx: Context) -> None:
        await ctx.reply("x")

    @bot.on_error
    async def record(error: BaseException) -> None:
        errors.append(error)

    await bot.dispatch(c2c("x"))
    await bot.dispatch(event("GUILD_MEMBER_ADD", {"guild_id": "g"}))
    assert isinstance(errors[0], NotBoundError)
    assert isinstance(errors[1], NoReplyTargetError) and "GUILD_MEMBER_ADD" in str(errors[1])
