"""Command guards: cooldowns, permissions and the ``on_command_error`` hook (docs/bot.md, *Guards*).

::

    @bot.command("daily", cooldown=Cooldown(1, 3600, per="user"), permission=admins_only() | allowed("mods"))
    async def daily(ctx: Context) -> None: ...

A command whose ``permission`` rule fails raises :class:`MissingPermission`; one used more than ``rate`` times
within ``per_seconds`` (per user, per chat or for everyone) raises :class:`CommandOnCooldown`; bad arguments
raise :class:`~framework.app.errors.CommandArgumentError`. These are the user's mistakes, not the bot's: they go
to the ``@bot.on_command_error`` functions when there are any, else the user gets a short default reply. They
are not reported as handler errors.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Literal

from framework.app.errors import BotError
from framework.app.rules import Rule

if TYPE_CHECKING:
    from framework.app.context import Context

__all__ = ["CommandError", "CommandOnCooldown", "Cooldown", "MissingPermission", "allowed", "default_reply"]

CooldownKey = Literal["user", "chat", "global"]


class CommandError(BotError):
    """A command refused to run for the user's reason (base of :class:`MissingPermission`, :class:`CommandOnCooldown`).

    ``command`` is the command's name."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


class MissingPermission(CommandError):
    """The sender may not use the command (its ``permission`` rule failed)."""


class CommandOnCooldown(CommandError):
    """The command was used too often; ``retry_after`` seconds until it may run again for this sender/chat."""

    def __init__(self, message: str, command: str, retry_after: float) -> None:
        super().__init__(message, command)
        self.retry_after = retry_after


class Cooldown:
    """At most ``rate`` uses within ``per_seconds``, counted per ``per``: ``"user"`` (the sender), ``"chat"`` (the
    group, C2C chat, channel, DM) or ``"global"``. Counted in this process, on the bot's clock."""

    __slots__ = ("_uses", "per", "per_seconds", "rate")

    def __init__(self, rate: int, per_seconds: float, *, per: CooldownKey = "user") -> None:
        if rate < 1 or per_seconds <= 0:
            raise BotError(f"Cooldown({rate}, {per_seconds}): rate must be >= 1 and per_seconds > 0")
        if per not in ("user", "chat", "global"):
            raise BotError(f"Cooldown(per={per!r}): expected 'user', 'chat' or 'global'")
        self.rate = rate
        self.per_seconds = per_seconds
        self.per = per
        self._uses: dict[Hashable, deque[float]] = {}

    def _key(self, ctx: Context) -> Hashable:
        if self.per == "user":
            return ctx.user_id
        if self.per == "chat":
            target = ctx.target
            return (target.scene, target.target) if target is not None else ctx.user_id
        return None

    def hit(self, ctx: Context, now: float) -> float | None:
        """Count one use now; return None when allowed, else the seconds until the next use is allowed (then
        nothing is counted)."""
        key = self._key(ctx)
        uses = self._uses.get(key)
        if uses is None:
            uses = self._uses[key] = deque()
        while uses and uses[0] <= now - self.per_seconds:
            uses.popleft()
        if len(uses) >= self.rate:
            return uses[0] + self.per_seconds - now
        uses.append(now)
        if len(self._uses) > 10_000:  # forget keys whose window has passed
            self._uses = {k: v for k, v in self._uses.items() if v and v[-1] > now - self.per_seconds}
        return None

    def __repr__(self) -> str:
        return f"Cooldown({self.rate}, {self.per_seconds:g}, per={self.per!r})"


def allowed(list_name: str) -> Rule:
    """Senders listed in the bot's config: ``bot.config["permissions"][list_name]`` (user ids / openids), read at
    each check, so a reloaded config applies at once. A missing list allows nobody."""

    def check(ctx: Context) -> bool:
        section = ctx.bot.config.get("permissions") or {}
        listed = section.get(list_name) if isinstance(section, dict) else None
        return isinstance(listed, list | tuple | set | frozenset) and ctx.user_id in {str(u) for u in listed}

    return Rule(check, f"allowed({list_name!r})")


def default_reply(error: BaseException, usage: str) -> str:
    """The reply a user gets for a command error when no ``on_command_error`` function is registered."""
    if isinstance(error, CommandOnCooldown):
        return f"/{error.command} is cooling down: try again in {max(1, math.ceil(error.retry_after))} s."
    if isinstance(error, MissingPermission):
        return f"You may not use /{error.command}."
    return f"{error}\nUsage: {usage}"
