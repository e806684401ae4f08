"""Routes message text to commands, and the built-in ``/help``."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING

from framework.app.commands import Argument, Command
from framework.app.context import Context
from framework.app.injection import ParamSource, describe

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["CommandRouter", "help_command"]


class CommandRouter:
    """Runs the command named by the first word of ``ctx.text`` (name or alias, case-insensitive)."""

    name = "framework.app.commands"

    def __init__(self, commands: Sequence[Command]) -> None:
        self._by_word: dict[str, Command] = {}
        for cmd in commands:
            for word in (cmd.name, *cmd.aliases):
                self._by_word.setdefault(word, cmd)

    async def run(self, bot: Bot, ctx: Context) -> None:
        parts = ctx.text.split(None, 1)
        cmd = self._by_word.get(parts[0].lower()) if parts else None
        if cmd is None or ctx.scene not in cmd.scenes:
            return
        ctx.command = cmd.name
        ctx.args = parts[1].strip() if len(parts) > 1 else ""
        matched = True
        try:
            matched = await cmd.invoke(bot, ctx)
        except Exception as exc:
            await bot._report(exc, ctx, describe(cmd.func))
        if not matched:
            ctx.command = None
            ctx.args = ""
        elif cmd.block:
            ctx.consumed = True


def help_command(bot: Bot) -> Command:
    """The built-in ``/help [command]``: the list of commands, or one command's usage and docstring."""

    async def help(ctx: Context, *, command: str = "") -> None:
        """List the commands, or explain one: /help <command>."""
        visible = [c for c in bot.commands if not c.hidden and ctx.scene in c.scenes]
        word = command.strip().lstrip("/").lower()
        if word:
            for c in visible:
                if word == c.name or word in c.aliases:
                    text = f"Usage: {c.usage}"
                    if c.aliases:
                        text += "\nAliases: " + ", ".join(f"/{a}" for a in c.aliases)
                    if c.help:
                        text += "\n" + c.help
                    await ctx.reply(text)
                    return
            await ctx.reply(f"Unknown command /{word}. Try /help.")
            return
        lines = ["Commands:"] + [f"/{c.name} — {c.summary}" if c.summary else f"/{c.name}" for c in visible]
        lines.append("/help <command> — details")
        await ctx.reply("\n".join(lines))

    params = (ParamSource("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, lambda b, c: c),)
    return Command(
        name="help",
        func=help,
        params=params,
        arguments=(Argument("command", str, "", greedy=True),),
        hidden=True,
        layout=tuple(inspect.signature(help).parameters.values()),
    )
