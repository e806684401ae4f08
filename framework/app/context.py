"""The per-event context handlers receive: the event, the bot, the API client and scene-aware replies."""

from __future__ import annotations

import builtins
import logging
import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from framework.app.api import ApiClient
from framework.app.errors import BotError, NoReplyTargetError, NotBoundError
from framework.app.scenes import ReplyTarget, Scene, reply_target
from framework.errors import QQBotError
from framework.models import EVENT_TABLE, Ark, Embed, InboundEvent
from framework.models.api import Keyboard, Markdown, Media, MediaInfo, MessageToCreate, MsgType
from framework.models.errorcodes import MESSAGE_DEDUPLICATED
from framework.models.results import Delivered, ReplyResult

if TYPE_CHECKING:
    from framework.app.bot import Bot
    from framework.app.state import Scope

__all__ = ["GUILD_ESCAPED_EVENTS", "Context", "FileType", "Upload", "normalize_text", "unescape_guild"]


class FileType:
    """``file_type`` values of a rich-media upload (protocol.md §5.2)."""

    IMAGE = 1
    VIDEO = 2
    VOICE = 3
    FILE = 4


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to upload before sending (groups and C2C): a URL the platform fetches, or raw bytes."""

    file_type: int = FileType.IMAGE
    url: str | None = None
    data: bytes | None = None


_MENTION = re.compile(r"^\s*<@!?([^>\s]+)>")


def normalize_text(content: str, bot_id: str | None = None) -> str:
    """Strip leading spaces, a leading mention of the bot (``<@!id>``/``<@id>``) and a leading ``/``.

    When ``bot_id`` is unknown (before READY) any leading mention is treated as the bot's.
    """
    text = content
    match = _MENTION.match(text)
    if match is not None and (bot_id is None or match.group(1) == bot_id):
        text = text[match.end() :]
    text = text.lstrip()
    if text.startswith("/"):
        text = text[1:]
    return text


#: Events whose ``content`` the platform escapes (``&`` ``<`` ``>``; guild messages): the event table's ``escaped``
#: column.
GUILD_ESCAPED_EVENTS = frozenset(spec.type for spec in EVENT_TABLE.values() if spec.escaped)


def unescape_guild(text: str) -> str:
    """Undo the escaping of pushed guild content (``&amp;`` ``&lt;`` ``&gt;``)."""
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_LAZY: Any = object()

log = logging.getLogger("framework.app.reply")


def _summary(message: MessageToCreate) -> str:
    """A short preview of a sent message for the INFO log: its text cut short, or what kind it is."""
    kinds = [k for k in ("markdown", "keyboard", "ark", "embed", "media", "image") if getattr(message, k) is not None]
    text = (message.content or "").strip()
    shown = " ".join(text.split())
    if len(shown) > 40:
        shown = shown[:39] + "…"
    head = repr(shown) if shown else ""
    return " ".join([head, *(f"[{k}]" for k in kinds)]).strip() or "''"


_S = TypeVar("_S")

EventT = TypeVar("EventT", covariant=True, default=Any)
"""The event model a :class:`Context` carries (``Context[GroupMessage]``); plain ``Context`` is ``Context[Any]``."""


class Context(Generic[EventT]):
    """What a handler gets with ``ctx: Context``: the decoded event, its envelope, the bot and replies.

    Generic in the event model: annotate ``ctx: Context[GroupMessage]`` and ``ctx.event`` is a
    ``GroupMessage`` to the type checker (the generated ``on_<event>`` decorators check that it matches the
    event); plain ``Context`` works as before, with ``ctx.event`` typed ``Any``.

    ``ctx.reply(...)`` picks the endpoint from the scene the event came from (guild channel, guild DM,
    group, C2C), sets ``msg_id`` for user messages or ``event_id`` for other events, and numbers
    ``msg_seq`` per source message so that several replies are never de-duplicated by the platform.
    """

    __slots__ = ("_acked", "_state", "_target", "_text", "args", "bot", "command", "consumed", "event", "inbound")

    def __init__(self, bot: Bot, inbound: InboundEvent, event: Any, target: Any = _LAZY) -> None:
        self.bot = bot
        self.inbound = inbound
        self.event: EventT = event
        """The decoded payload (the event table's Struct, or a ``RawEvent``)."""
        self._target = target  # computed on first use unless given
        self._text: str | None = None
        self.command: str | None = None
        """The command name when a command is running."""
        self.args: str = ""
        """The raw argument text after the command name."""
        self.consumed = False
        """Set when a command matched (``block=True``, the default): the remaining handlers do not run."""
        self._state: dict[str, Any] | None = None
        self._acked = False

    @property
    def target(self) -> ReplyTarget | None:
        """Where replies go, or ``None`` if the event cannot be answered."""
        t = self._target
        if t is _LAZY:
            t = self._target = reply_target(self.inbound, self.event)
        result: ReplyTarget | None = t
        return result

    @property
    def text(self) -> str:
        """The message text with the @bot prefix, leading spaces and a leading ``/`` removed (guild
        messages also unescaped: ``&lt;`` -> ``<``)."""
        text = self._text
        if text is None:
            content = getattr(self.event, "content", None)
            text = normalize_text(content, self.bot.bot_id) if isinstance(content, str) else ""
            text = self._text = unescape_guild(text) if self.inbound.type in GUILD_ESCAPED_EVENTS else text
        return text

    @text.setter
    def text(self, value: str) -> None:
        self._text = value

    @property
    def state(self) -> dict[str, Any]:
        """Scratch space shared by middleware and handlers of one event."""
        st = self._state
        if st is None:
            st = self._state = {}
        return st

    @property
    def type(self) -> str:
        """The event type (envelope ``t``)."""
        return self.inbound.type

    @property
    def api(self) -> ApiClient:
        """The bound API client."""
        return self.bot.api

    @property
    def scene(self) -> Scene | None:
        """The scene replies go to."""
        return self.target.scene if self.target is not None else None

    @property
    def user_id(self) -> str:
        """The sender's id (guild user id, member/user openid), or ``""``."""
        author = getattr(self.event, "author", None)
        if author is not None:
            return str(author.member_openid or author.user_openid or author.id)
        for name in ("user_openid", "group_member_openid", "openid", "user_id", "op_member_openid"):
            value = getattr(self.event, name, "")
            if value:
                return str(value)
        return ""

    @property
    def group_openid(self) -> str:
        """The group this event happened in, or ``""``."""
        return str(getattr(self.event, "group_openid", "") or "")

    @property
    def guild_id(self) -> str:
        """The guild this event happened in, or ``""``."""
        return str(getattr(self.event, "guild_id", "") or "")

    @property
    def channel_id(self) -> str:
        """The guild channel this event happened in, or ``""``."""
        return str(getattr(self.event, "channel_id", "") or "")

    async def reply(
        self,
        content: str | None = None,
        *,
        markdown: str | Markdown | None = None,
        keyboard: Keyboard | None = None,
        ark: Ark | None = None,
        embed: Embed | None = None,
        image: str | None = None,
        media: Media | MediaInfo | None = None,
        file: Upload | None = None,
    ) -> ReplyResult:
        """Answer in the event's scene and return the API's answer (:data:`~framework.models.results.ReplyResult`:
        the sent ``Message`` in guilds, a ``SendResult`` in groups and C2C, ``PendingAudit`` or ``Delivered``).
        In an event-bus worker, a reply that an earlier delivery of this event already sent is not sent again: the
        platform's 40054005 for it returns ``Delivered(code=40054005)`` (docs/event-bus.md).

        ``image`` is a URL: sent as ``image`` in guilds, uploaded then sent as media in groups and
        C2C. ``file`` uploads (groups and C2C) before sending; ``media`` sends an earlier upload.
        A ``keyboard`` needs ``markdown`` (the platform attaches buttons to markdown messages only);
        without it :class:`BotError` is raised before anything is sent.
        """
        if keyboard is not None and markdown is None:
            raise BotError(
                "a keyboard travels only on a markdown message: pass markdown=... with keyboard=... "
                "(ctx.reply(markdown=text, keyboard=kb))"
            )
        target = self._require_target()
        api = self.api
        if isinstance(markdown, str):
            markdown = Markdown(content=markdown)
        replayed = False
        if target.scene in (Scene.CHANNEL, Scene.DM):
            if media is not None or file is not None:
                raise BotError("rich-media uploads exist only in groups and C2C; use image=<url> in guilds")
            message = MessageToCreate(
                content=content,
                markdown=markdown,
                keyboard=keyboard,
                ark=ark,
                embed=embed,
                image=image,
                msg_id=target.msg_id,
                event_id=None if target.msg_id else target.event_id,
            )
            send = api.post_channel_message if target.scene is Scene.CHANNEL else api.post_dms_message
        else:
            message, replayed = await self._chat_message(
                target, content, markdown, keyboard, ark, embed, image, media, file
            )
            send = api.post_group_message if target.scene is Scene.GROUP else api.post_c2c_message
        try:
            result = await send(target.target, message)
        except QQBotError as exc:
            # the same reply of an earlier delivery of this event (a worker gone before acknowledging it) landed
            if not replayed or getattr(exc, "code", None) != MESSAGE_DEDUPLICATED:
                raise
            log.info(
                "reply → %s %s: msg_seq %s was sent by an earlier delivery of this event; not sent again",
                target.scene.value,
                target.target,
                message.msg_seq,
            )
            return Delivered(
                status=getattr(exc, "status", 400),
                code=MESSAGE_DEDUPLICATED,
                trace_id=getattr(exc, "trace_id", ""),
                reason="sent by an earlier delivery of this event (40054005 on its msg_id + msg_seq)",
            )
        if log.isEnabledFor(logging.INFO):
            log.info("reply → %s %s: %s", target.scene.value, target.target, _summary(message))
        return result

    async def _chat_message(
        self,
        target: ReplyTarget,
        content: str | None,
        markdown: Markdown | None,
        keyboard: Keyboard | None,
        ark: Ark | None,
        embed: Embed | None,
        image: str | None,
        media: Media | MediaInfo | None,
        file: Upload | None,
    ) -> tuple[MessageToCreate, bool]:
        """The body of a group or C2C reply: uploads first, ``msg_type`` from what is sent, ``msg_seq`` counted
        (:meth:`~framework.app.ledger.ReplyLedger.reply_seq`); and whether an earlier delivery of this event took
        that ``msg_seq`` for this reply."""
        ledger = self.bot.ledger
        if target.msg_id and ledger.windows:  # checked before anything is uploaded or sent
            ledger.check_window(target.scene.value, getattr(self.event, "timestamp", None), self.bot.clock.time())
        if image is not None and file is None and media is None:
            file = Upload(FileType.IMAGE, url=image)
        if file is not None:
            media = await self.upload(file)
        if isinstance(media, MediaInfo):
            media = Media(file_info=media.file_info)
        if media is not None:
            msg_type = MsgType.MEDIA
            content = content if content else " "  # the platform wants a space with media (protocol.md §5.1)
        elif markdown is not None:
            msg_type = MsgType.MARKDOWN
        elif ark is not None:
            msg_type = MsgType.ARK
        elif embed is not None:
            msg_type = MsgType.EMBED
        else:
            msg_type = MsgType.TEXT
        seq = (await ledger.reply_seq(target.source_id, self.inbound)) if target.source_id else None
        message = MessageToCreate(
            content=content,
            msg_type=msg_type,
            markdown=markdown,
            keyboard=keyboard,
            ark=ark,
            embed=embed,
            media=media,
            msg_id=target.msg_id,
            event_id=None if target.msg_id else target.event_id,
            msg_seq=seq.value if seq is not None else None,
        )
        return message, seq is not None and seq.replayed

    async def prompt(
        self,
        question: str | None = None,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109
        **reply_options: Any,
    ) -> Context:
        """Ask ``question`` (a reply to this message; ``reply_options`` as for :meth:`reply`) and return the
        :class:`Context` of the same user's next message in the same chat (group, C2C, channel, DM).

        That message runs no command or handler; answer it with the returned context's ``reply`` (a passive
        reply quoting *its* ``msg_id``). Raises :class:`~framework.app.conversations.WaitTimeoutError` after
        ``timeout`` seconds (``None``: no limit). While waiting, the handler lets its chat go on and its
        ``handler_timeout`` is paused. Messages that arrived before the question was asked do not answer it.
        See docs/conversations.md.
        """
        from framework.app.conversations import MESSAGE_EVENTS, check_timeout

        bot = self.bot
        check_timeout(bot, timeout, "ctx.prompt")
        target = self.target
        user = self.user_id
        if target is None or not user or self.inbound.type not in MESSAGE_EVENTS:
            raise BotError(
                f"ctx.prompt works in the handlers of user messages, not of {self.inbound.type}; use bot.wait_for "
                "for other events"
            )
        if bot.delivery is None:
            raise BotError("ctx.prompt needs a running bot (bot.running(), qqbot run or framework.testing.connect)")
        scene, place = target.scene, target.target
        asking = getattr(self.event, "id", None)  # its twin (guild MESSAGE_CREATE of an @message) is no answer

        def same_user_same_chat(ctx: Context) -> bool:
            answer = ctx.target
            return (
                answer is not None
                and answer.scene is scene
                and answer.target == place
                and ctx.user_id == user
                and getattr(ctx.event, "id", None) != asking
            )

        waiter = bot.waiters.register(MESSAGE_EVENTS, same_user_same_chat)  # before asking: a quick answer counts
        try:
            if question is not None or reply_options:
                await self.reply(question, **reply_options)
        except BaseException:
            bot.waiters.remove(waiter)
            raise
        return await bot.waiters.wait_registered(waiter, timeout, f"{user} did not write in {scene.value} {place}")

    @overload
    def stored(
        self, scope: Scope, model: None = None, *, ttl: float | None = None
    ) -> AbstractAsyncContextManager[dict[str, Any]]: ...
    @overload
    def stored(
        self, scope: Scope, model: builtins.type[_S], *, ttl: float | None = None
    ) -> AbstractAsyncContextManager[_S]: ...
    def stored(self, scope: Scope, model: Any = None, *, ttl: float | None = None) -> AbstractAsyncContextManager[Any]:
        """``async with ctx.stored("user", Profile, ttl=3600) as profile:``: state kept across events for this
        event's sender (``"user"``), chat (``"chat"``) or sender in this chat (``"conversation"``); ``model`` is a
        msgspec Struct whose fields all have defaults, or ``dict`` (the default). Loaded at the start (a new one
        when absent or expired), saved when the block ends without an exception; ``ttl`` seconds of life from
        that save (None: no expiry). See docs/conversations.md."""
        from framework.app.state import state_key, stored

        return stored(self.bot, state_key(self, scope), dict if model is None else model, ttl)

    async def forget(self, scope: Scope) -> None:
        """Delete the ``scope`` state of this event (see :meth:`stored`)."""
        from framework.app.state import state_key

        await self.bot.state_store.delete(state_key(self, scope))

    async def upload(self, file: Upload) -> MediaInfo:
        """Upload a file to this event's group or C2C chat; the answer's ``file_info`` can be sent as media."""
        target = self._require_target()
        if target.scene is Scene.GROUP:
            return await self.api.upload_group_file(
                target.target, file_type=file.file_type, url=file.url, file_data=file.data
            )
        if target.scene is Scene.C2C:
            return await self.api.upload_c2c_file(
                target.target, file_type=file.file_type, url=file.url, file_data=file.data
            )
        raise BotError("rich-media uploads exist only in groups and C2C")

    async def ack(self, code: int = 0) -> bool:
        """Acknowledge an interaction (``PUT /interactions/{id}``) once; later calls do nothing.

        The bot acknowledges with code 0 after the handlers ran when nobody did; call this to answer
        earlier or with another code (1 failed, 2 too frequent, 3 duplicate, 4 no permission, 5 admin only).
        Returns whether a request was sent.
        """
        if self.inbound.type != "INTERACTION_CREATE" or self._acked:
            return False
        self._acked = True
        interaction_id = str(getattr(self.event, "id", "") or "")
        if not interaction_id or not self.bot.ledger.first_ack(interaction_id):
            return False
        await self.api.put_interaction(interaction_id, code=code)
        return True

    def _require_target(self) -> ReplyTarget:
        if self.target is None:
            raise NoReplyTargetError(f"{self.inbound.type} events cannot be answered with ctx.reply()")
        if self.bot.api_or_none is None:
            raise NotBoundError("the bot has no API client; call bot.bind(api) first")
        return self.target

    def __repr__(self) -> str:
        return f"Context(type={self.inbound.type!r}, scene={self.scene!r})"
