"""Where a test speaks to the bot: a group, a C2C chat, a guild channel or a guild DM, as a given user.

Handles are cheap views over the emulator's control API; they create what they name on first use
(a group, a channel in a default guild, a member) so tests need no seeding. Every action emits the
event through the emulator (gateway or webhook, exactly as the platform would) and returns it.
"""

from __future__ import annotations

import anyio.lowlevel

from framework.emulator import Emulator
from framework.emulator.world import EmittedEvent

__all__ = ["C2CChat", "ChannelChat", "ChannelUser", "DirectChat", "GroupChat", "GroupUser"]


class GroupChat:
    """A QQ group (``group_openid``), created on first use with the bot in it."""

    def __init__(self, emulator: Emulator, group_openid: str) -> None:
        self.emulator = emulator
        self.group_openid = group_openid
        if group_openid not in emulator.world.groups:
            emulator.world.add_group(group_openid)

    def user(self, member_openid: str, *, role: str = "member") -> GroupUser:
        """A member of the group (``member_openid``; ``role`` is member, admin or owner)."""
        return GroupUser(self, member_openid, role)

    def __repr__(self) -> str:
        return f"GroupChat({self.group_openid!r})"


class GroupUser:
    """A member speaking in a group."""

    def __init__(self, group: GroupChat, member_openid: str, role: str) -> None:
        self.group = group
        self.member_openid = member_openid
        self.role = role

    async def at(self, content: str) -> EmittedEvent:
        """@-mention the bot: GROUP_AT_MESSAGE_CREATE (the content gets the platform's leading space)."""
        return await self._message(content, at_bot=True)

    async def say(self, content: str) -> EmittedEvent:
        """Say something without mentioning the bot: GROUP_MESSAGE_CREATE."""
        return await self._message(content, at_bot=False)

    async def click(self, button_data: str, *, button_id: str = "1", message_id: str = "") -> EmittedEvent:
        """Click a callback button in the group: INTERACTION_CREATE (the bot acks it)."""
        await anyio.lowlevel.checkpoint()
        return self.group.emulator.control.button_click(
            "group",
            self.group.group_openid,
            button_id=button_id,
            button_data=button_data,
            user_id=self.member_openid,
            message_id=message_id,
        )

    async def _message(self, content: str, *, at_bot: bool) -> EmittedEvent:
        await anyio.lowlevel.checkpoint()
        return self.group.emulator.control.group_at_message(
            content,
            group_openid=self.group.group_openid,
            member_openid=self.member_openid,
            role=self.role,
            at_bot=at_bot,
        )

    def __repr__(self) -> str:
        return f"GroupUser({self.group.group_openid!r}, {self.member_openid!r})"


class C2CChat:
    """A one-to-one QQ chat with the user ``openid`` (who is added as the bot's friend on first use)."""

    def __init__(self, emulator: Emulator, openid: str) -> None:
        self.emulator = emulator
        self.openid = openid
        if openid not in emulator.world.c2c_users:
            emulator.world.add_c2c_user(openid)

    async def say(self, content: str) -> EmittedEvent:
        """Write to the bot: C2C_MESSAGE_CREATE."""
        await anyio.lowlevel.checkpoint()
        return self.emulator.control.c2c_message(content, openid=self.openid)

    async def click(self, button_data: str, *, button_id: str = "1", message_id: str = "") -> EmittedEvent:
        """Click a callback button in the chat: INTERACTION_CREATE."""
        await anyio.lowlevel.checkpoint()
        return self.emulator.control.button_click(
            "c2c", self.openid, button_id=button_id, button_data=button_data, message_id=message_id
        )

    def __repr__(self) -> str:
        return f"C2CChat({self.openid!r})"


def _default_guild(emulator: Emulator, guild_id: str | None) -> str:
    world = emulator.world
    if guild_id is None:
        return next(iter(world.guilds), None) or world.add_guild().id
    if guild_id not in world.guilds:
        world.add_guild(guild_id)
    return guild_id


class ChannelChat:
    """A guild text channel, created on first use in ``guild_id`` (default: the first guild, created if none)."""

    def __init__(self, emulator: Emulator, channel_id: str, guild_id: str | None = None) -> None:
        self.emulator = emulator
        self.channel_id = channel_id
        channel = emulator.world.channels.get(channel_id)
        if channel is None:
            channel = emulator.world.add_channel(_default_guild(emulator, guild_id), channel_id)
        elif guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id!r} belongs to guild {channel.guild_id!r}, not {guild_id!r}")
        self.guild_id = channel.guild_id

    def user(self, user_id: str, *, username: str | None = None) -> ChannelUser:
        """A guild member (added to the guild on first message; ``username`` defaults to the id)."""
        return ChannelUser(self, user_id, username or user_id)

    def __repr__(self) -> str:
        return f"ChannelChat({self.channel_id!r}, guild={self.guild_id!r})"


class ChannelUser:
    """A guild member speaking in a channel."""

    def __init__(self, channel: ChannelChat, user_id: str, username: str) -> None:
        self.channel = channel
        self.user_id = user_id
        self.username = username

    async def at(self, content: str) -> EmittedEvent:
        """@-mention the bot: AT_MESSAGE_CREATE (and MESSAGE_CREATE, delivered only with GUILD_MESSAGES)."""
        return (await self._post(content, mention_bot=True))[0]

    async def say(self, content: str) -> EmittedEvent:
        """Post without a mention: MESSAGE_CREATE (delivered only with the GUILD_MESSAGES intent)."""
        return (await self._post(content, mention_bot=False))[0]

    async def click(self, button_data: str, *, button_id: str = "1", message_id: str = "") -> EmittedEvent:
        """Click a callback button in the channel: INTERACTION_CREATE."""
        await anyio.lowlevel.checkpoint()
        return self.channel.emulator.control.button_click(
            "guild",
            self.channel.channel_id,
            button_id=button_id,
            button_data=button_data,
            user_id=self.user_id,
            message_id=message_id,
        )

    async def _post(self, content: str, *, mention_bot: bool) -> list[EmittedEvent]:
        await anyio.lowlevel.checkpoint()
        return self.channel.emulator.control.channel_message(
            self.channel.channel_id,
            content,
            author_id=self.user_id,
            username=self.username,
            mention_bot=mention_bot,
        )

    def __repr__(self) -> str:
        return f"ChannelUser({self.channel.channel_id!r}, {self.user_id!r})"


class DirectChat:
    """A guild direct message from ``user_id`` (a member of ``guild_id``, default the first guild)."""

    def __init__(self, emulator: Emulator, user_id: str, guild_id: str | None = None, username: str | None = None):
        self.emulator = emulator
        self.user_id = user_id
        self.username = username or user_id
        self.source_guild_id = _default_guild(emulator, guild_id)

    async def say(self, content: str) -> EmittedEvent:
        """Write to the bot: DIRECT_MESSAGE_CREATE (the DM session is opened on first use)."""
        await anyio.lowlevel.checkpoint()
        return self.emulator.control.dm(
            self.user_id, content, source_guild_id=self.source_guild_id, username=self.username
        )

    def __repr__(self) -> str:
        return f"DirectChat({self.user_id!r}, guild={self.source_guild_id!r})"
