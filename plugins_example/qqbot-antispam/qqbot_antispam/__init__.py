"""Per-user rate limiting of incoming messages, as middleware.

A user who sends more than ``max_messages`` messages within ``per_seconds`` seconds is ignored until
the window has room again; the first dropped message gets ``warning`` as a reply (empty: silent).
Time comes from the bot's injected clock, so tests drive it without sleeping.

Configuration (``[plugins.antispam]``)::

    max_messages = 5
    per_seconds = 10.0
    warning = "Slow down, please."
"""

from __future__ import annotations

from collections import deque

import msgspec

from framework.app import Bot, CallNext, Context, Router
from framework.plugins import hookimpl

__all__ = ["AntiSpamConfig", "RateLimiter", "config_model", "qqbot_register"]

#: The events that count as a user talking to the bot.
MESSAGE_EVENTS = frozenset(
    {
        "AT_MESSAGE_CREATE",
        "MESSAGE_CREATE",
        "DIRECT_MESSAGE_CREATE",
        "GROUP_AT_MESSAGE_CREATE",
        "GROUP_MESSAGE_CREATE",
        "C2C_MESSAGE_CREATE",
    }
)


class AntiSpamConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's config section."""

    max_messages: int = 5
    per_seconds: float = 10.0
    warning: str = "Slow down, please."


#: Tells the plugin manager how to validate ``[plugins.antispam]``.
config_model = AntiSpamConfig


class RateLimiter:
    """A sliding window of message times per user."""

    def __init__(self, max_messages: int, per_seconds: float) -> None:
        if max_messages < 1 or per_seconds <= 0:
            raise ValueError("max_messages must be >= 1 and per_seconds > 0")
        self.max_messages = max_messages
        self.per_seconds = per_seconds
        self._seen: dict[str, deque[float]] = {}
        self._warned: set[str] = set()

    def allow(self, user: str, now: float) -> bool:
        """Record a message from ``user`` at ``now``; return whether it is within the limit."""
        times = self._seen.setdefault(user, deque())
        while times and now - times[0] >= self.per_seconds:
            times.popleft()
        if len(times) >= self.max_messages:
            return False
        times.append(now)
        self._warned.discard(user)
        if not times:  # pragma: no cover - appended just above
            del self._seen[user]
        return True

    def first_refusal(self, user: str) -> bool:
        """True once per burst: whether to warn ``user``."""
        if user in self._warned:
            return False
        self._warned.add(user)
        return True


@hookimpl
def qqbot_register(bot: Bot, router: Router) -> None:
    """Install the rate-limiting middleware (on the plugin's router: it wraps every event of the bot),
    configured from the bot's ``[plugins.antispam]``."""
    config = bot.provided.get(AntiSpamConfig) or AntiSpamConfig()
    limiter = RateLimiter(config.max_messages, config.per_seconds)

    @router.middleware
    async def antispam(ctx: Context, call_next: CallNext) -> None:
        user = ctx.user_id
        if ctx.type not in MESSAGE_EVENTS or not user:
            await call_next()
            return
        if limiter.allow(user, bot.clock.monotonic()):
            await call_next()
            return
        ctx.state["antispam_dropped"] = True
        if config.warning and ctx.target is not None and limiter.first_refusal(user):
            await ctx.reply(config.warning)
