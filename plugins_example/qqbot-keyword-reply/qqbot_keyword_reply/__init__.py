"""Automatic replies to keywords, configured from TOML.

Configuration (``[plugins.keyword_reply]``)::

    [[plugins.keyword_reply.rules]]
    keyword = "hello"
    reply = "Hello to you too!"

    [[plugins.keyword_reply.rules]]
    keyword = "^price of (\\\\w+)$"
    match = "regex"            # "contains" (default), "exact" or "regex"
    reply = "No idea what {1} costs."   # regex groups: {0} is the whole match

Rules are tried in order; the first that matches answers. Messages that are commands (start with
``/``) are left to the commands. ``scenes`` limits where it listens (default: all four).
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from framework.app import Bot, Context, Router, Scene
from framework.plugins import hookimpl

__all__ = ["KeywordConfig", "KeywordRule", "config_model", "qqbot_register"]


class KeywordRule(msgspec.Struct, forbid_unknown_fields=True):
    """One keyword and its reply."""

    keyword: str
    reply: str
    match: Literal["contains", "exact", "regex"] = "contains"
    ignore_case: bool = True


class KeywordConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's config section."""

    rules: list[KeywordRule] = msgspec.field(default_factory=list)
    scenes: list[Literal["channel", "dm", "group", "c2c"]] = msgspec.field(
        default_factory=lambda: ["channel", "dm", "group", "c2c"]
    )


config_model = KeywordConfig

_DECORATORS = {
    Scene.CHANNEL: "on_at_message",
    Scene.DM: "on_direct_message",
    Scene.GROUP: "on_group_at_message",
    Scene.C2C: "on_c2c_message",
}


class _Compiled:
    def __init__(self, rule: KeywordRule) -> None:
        flags = re.IGNORECASE if rule.ignore_case else 0
        if rule.match == "regex":
            pattern = rule.keyword
        elif rule.match == "exact":
            pattern = "^" + re.escape(rule.keyword) + "$"
        else:
            pattern = re.escape(rule.keyword)
        self.pattern = re.compile(pattern, flags)
        self.reply = rule.reply
        self.templated = rule.match == "regex"

    def answer(self, text: str) -> str | None:
        found = self.pattern.search(text)
        if found is None:
            return None
        if self.templated:
            return self.reply.format(found.group(0), *found.groups())
        return self.reply


@hookimpl
def qqbot_register(bot: Bot, router: Router) -> None:
    """Register one message handler per configured scene on the plugin's router."""
    config = bot.provided.get(KeywordConfig) or KeywordConfig()
    compiled = [_Compiled(rule) for rule in config.rules]
    if not compiled:
        return

    async def keyword_reply(ctx: Context) -> None:
        text = ctx.text.strip()
        raw = getattr(ctx.event, "content", "")
        if not text or raw.lstrip().startswith("/") or ctx.command is not None:
            return
        for rule in compiled:
            answer = rule.answer(text)
            if answer is not None:
                await ctx.reply(answer)
                return

    for scene in config.scenes:
        getattr(router, _DECORATORS[Scene(scene)])(keyword_reply)
