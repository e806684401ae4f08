"""Rules (guards) that decide whether a handler runs, composable with ``&``, ``|`` and ``~``.

A rule is checked against the :class:`~framework.app.context.Context` of an event::

    @bot.on_group_at_message(rule=in_groups("G1") & startswith("hi"))
    async def greet(ctx: Context) -> None: ...
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from framework.app.scenes import Scene

if TYPE_CHECKING:
    from framework.app.context import Context

__all__ = [
    "Rule",
    "admins_only",
    "from_users",
    "in_channels",
    "in_groups",
    "in_guilds",
    "in_scenes",
    "keywords",
    "regex",
    "rule",
    "startswith",
]

Predicate = Callable[["Context"], "bool | Awaitable[bool]"]

#: Guild default role ids treated as administrators: 2 guild admin, 4 owner, 5 channel admin
#: (the platform's default role ids; not in protocol.md, an assumption of this framework).
GUILD_ADMIN_ROLES = frozenset({"2", "4", "5"})


class Rule:
    """A named predicate over a context; ``a & b``, ``a | b`` and ``~a`` build new rules."""

    __slots__ = ("_check", "name")

    def __init__(self, check: Predicate, name: str | None = None) -> None:
        self._check = check
        self.name = name or getattr(check, "__name__", "rule")

    async def __call__(self, ctx: Context) -> bool:
        result = self._check(ctx)
        if inspect.isawaitable(result):
            return bool(await result)
        return bool(result)

    def __and__(self, other: Rule) -> Rule:
        async def both(ctx: Context) -> bool:
            return await self(ctx) and await other(ctx)

        return Rule(both, f"({self.name} & {other.name})")

    def __or__(self, other: Rule) -> Rule:
        async def either(ctx: Context) -> bool:
            return await self(ctx) or await other(ctx)

        return Rule(either, f"({self.name} | {other.name})")

    def __invert__(self) -> Rule:
        async def negated(ctx: Context) -> bool:
            return not await self(ctx)

        return Rule(negated, f"~{self.name}")

    def __repr__(self) -> str:
        return f"Rule({self.name})"


def rule(check: Predicate) -> Rule:
    """Turn a function ``(ctx) -> bool`` (sync or async) into a composable :class:`Rule`."""
    return Rule(check)


def in_groups(*group_openids: str) -> Rule:
    """Events from these QQ groups."""
    wanted = frozenset(group_openids)
    return Rule(lambda ctx: ctx.group_openid in wanted, f"in_groups{tuple(sorted(wanted))}")


def in_guilds(*guild_ids: str) -> Rule:
    """Events from these guilds."""
    wanted = frozenset(guild_ids)
    return Rule(lambda ctx: ctx.guild_id in wanted, f"in_guilds{tuple(sorted(wanted))}")


def in_channels(*channel_ids: str) -> Rule:
    """Events from these guild channels."""
    wanted = frozenset(channel_ids)
    return Rule(lambda ctx: ctx.channel_id in wanted, f"in_channels{tuple(sorted(wanted))}")


def from_users(*user_ids: str) -> Rule:
    """Events sent by these users (guild user ids or openids)."""
    wanted = frozenset(user_ids)
    return Rule(lambda ctx: ctx.user_id in wanted, f"from_users{tuple(sorted(wanted))}")


def in_scenes(*scenes: Scene | str) -> Rule:
    """Events whose replies go to one of these scenes."""
    wanted = frozenset(Scene(s) for s in scenes)
    return Rule(lambda ctx: ctx.scene in wanted, f"in_scenes{tuple(sorted(s.value for s in wanted))}")


def _is_admin(ctx: Context) -> bool:
    author = getattr(ctx.event, "author", None)
    if author is not None and author.member_role in ("admin", "owner"):
        return True
    member = getattr(ctx.event, "member", None)
    return member is not None and not GUILD_ADMIN_ROLES.isdisjoint(member.roles)


def admins_only() -> Rule:
    """Senders who administer the place: group ``member_role`` admin/owner, guild roles 2, 4 or 5.

    Group roles come from ``author.member_role`` (live docs); a payload without it never passes.
    """
    return Rule(_is_admin, "admins_only")


def startswith(*prefixes: str) -> Rule:
    """Messages whose normalized text (``ctx.text``) starts with one of ``prefixes``."""
    return Rule(lambda ctx: ctx.text.startswith(prefixes), f"startswith{prefixes}")


def keywords(*words: str) -> Rule:
    """Messages whose text contains one of ``words``."""
    return Rule(lambda ctx: any(w in ctx.text for w in words), f"keywords{words}")


def regex(pattern: str | re.Pattern[str], flags: int = 0) -> Rule:
    """Messages whose text matches ``pattern`` (``re.search``); the match is stored in ``ctx.state["match"]``."""
    compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def check(ctx: Context) -> bool:
        match = compiled.search(ctx.text)
        if match is None:
            return False
        ctx.state["match"] = match
        return True

    return Rule(check, f"regex({compiled.pattern!r})")
