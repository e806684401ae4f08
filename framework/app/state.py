"""State that outlives an event: per user, per chat and per conversation, with a TTL (docs/conversations.md).

``async with ctx.stored("user", Profile, ttl=3600) as profile:`` loads the value (a msgspec Struct with
defaults, or a ``dict``), yields it and saves it when the block ends without an exception. Values are
stored as JSON (msgspec) under a key made of the scope and the ids of the event:

- ``"user"``: the sender (``ctx.user_id``), whatever the chat. QQ gives a person a different openid in each
  group and in C2C, so "user" means the id the platform shows in that place;
- ``"chat"``: the group, C2C chat, channel or DM session (the chat the event came from);
- ``"conversation"``: the sender within that chat.

Storage is pluggable (:class:`StateStore`): :class:`MemoryStore` (the default; the bot's clock decides expiry)
or :class:`RedisStore` (coredis, the ``redis`` extra), chosen with ``bot.config["state"]["redis"]``, for a
fleet or an event bus whose workers may each handle a later message of the conversation.

(``ctx.state`` is something else, and older: the scratch dict middleware and handlers of *one* event share.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio
import msgspec
from anyio.abc import TaskStatus

from framework.app.errors import BotError

if TYPE_CHECKING:
    from framework.app.bot import Bot
    from framework.app.context import Context

__all__ = ["MemoryStore", "RedisStore", "Scope", "StateStore", "state_key"]

Scope = Literal["user", "chat", "conversation"]
_T = TypeVar("_T")


class StateStore(Protocol):
    """Where state values live: bytes under string keys, with an optional time to live in seconds."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value``; it expires ``ttl`` seconds from now (None: never)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the value."""
        ...


class MemoryStore:
    """State in this process's memory; expiry read from ``clock`` (the bot's clock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, float | None]] = {}

    def __len__(self) -> int:
        return len(self._values)

    async def get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._clock() >= expires:
            del self._values[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if len(self._values) >= 10_000:  # drop expired entries now and then, not on every write
            now = self._clock()
            self._values = {k: v for k, v in self._values.items() if v[1] is None or v[1] > now}
        self._values[key] = (value, None if ttl is None else self._clock() + ttl)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._values)})"


class RedisStore:
    """State in Redis under ``<prefix>:<key>`` (``SET ... PX`` for the TTL); shared by every process of a fleet
    or event bus. Open it with ``async with`` (the bot does, while it runs)."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RedisStore]:
        """Connect for the duration of the block."""
        import coredis

        client: coredis.Redis[bytes] = coredis.Redis.from_url(self.url, connect_timeout=5.0, stream_timeout=5.0)
        async with client:
            self._client = client
            try:
                yield self
            finally:
                self._client = None

    def _require(self) -> Any:
        if self._client is None:
            raise BotError("the Redis state store is not open: state is available while the bot runs")
        return self._client

    async def get(self, key: str) -> bytes | None:
        value = await self._require().get(f"{self.prefix}:{key}")
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        px = None if ttl is None else max(1, int(ttl * 1000))
        await self._require().set(f"{self.prefix}:{key}", value, px=px)

    async def delete(self, key: str) -> None:
        await self._require().delete([f"{self.prefix}:{key}"])

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r}, open={self._client is not None})"


async def serve_redis_store(bot: Bot, url: str, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Keep a :class:`RedisStore` open as ``bot.state_store`` until cancelled (started by ``Bot.running``)."""
    store = RedisStore(url, prefix=f"qqbot:{{{bot.name}}}:state")
    previous = bot.state_store
    async with store.open():
        bot.state_store = store
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            bot.state_store = previous


def redis_url(bot: Bot) -> str | None:
    """``bot.config["state"]["redis"]``, if set."""
    section = bot.config.get("state") or {}
    url = section.get("redis") if isinstance(section, dict) else None
    return str(url) if url else None


def state_key(ctx: Context, scope: str) -> str:
    """``user:<id>``, ``chat:<scene>:<target>`` or ``conversation:<scene>:<target>:<user>`` for ``ctx``'s event;
    :class:`BotError` when the event has no such thing (no sender, no chat)."""
    if scope not in ("user", "chat", "conversation"):
        raise BotError(f"state scope must be 'user', 'chat' or 'conversation', not {scope!r}")
    user = ctx.user_id
    target = ctx.target
    if scope in ("user", "conversation") and not user:
        raise BotError(f"{ctx.type} events have no sender: {scope!r} state needs one; use 'chat'")
    if scope == "user":
        return f"user:{user}"
    if target is None:
        raise BotError(f"{ctx.type} events happen in no chat: {scope!r} state needs one; use 'user'")
    chat = f"{target.scene.value}:{target.target}"
    return f"chat:{chat}" if scope == "chat" else f"conversation:{chat}:{user}"


@asynccontextmanager
async def stored(bot: Bot, key: str, model: type[_T], ttl: float | None) -> AsyncIterator[_T]:
    """Load ``key`` as ``model`` (a new ``model()`` when absent), yield it, save it if the block succeeds."""
    if ttl is not None and ttl <= 0:
        raise BotError(f"state ttl must be a positive number of seconds (or None), got {ttl}")
    store = bot.state_store
    raw = await store.get(key)
    value: _T
    if raw is None:
        try:
            value = model()
        except TypeError:
            raise BotError(
                f"state {key!r}: {model.__name__}() needs arguments; give every field of the Struct a default"
            ) from None
    else:
        try:
            value = msgspec.json.decode(raw, type=model)
        except msgspec.ValidationError as exc:  # the model changed since it was stored: start again
            raise BotError(
                f"state {key!r} no longer fits {model.__name__} ({exc}); forget it (ctx.forget) or migrate it"
            ) from None
    yield value
    await store.set(key, msgspec.json.encode(value), ttl)
