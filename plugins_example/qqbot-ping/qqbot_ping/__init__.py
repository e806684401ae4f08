"""``/ping`` answers ``pong``; ``/echo <text>`` repeats the text. Works in every scene."""

from __future__ import annotations

from framework.app import Bot, Context
from framework.plugins import hookimpl

__all__ = ["qqbot_register"]


@hookimpl
def qqbot_register(bot: Bot) -> None:
    """Add the two commands."""

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        """Check that the bot is alive."""
        await ctx.reply("pong")

    @bot.command("echo")
    async def echo(ctx: Context, *, text: str) -> None:
        """Repeat the text: /echo <text>."""
        await ctx.reply(text)
