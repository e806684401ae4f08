"""``/ping`` answers ``pong``; ``/echo <text>`` repeats the text. Works in every scene."""

from __future__ import annotations

from framework.app import Context, Router
from framework.plugins import hookimpl

__all__ = ["qqbot_register"]


@hookimpl
def qqbot_register(router: Router) -> None:
    """Add the two commands to the plugin's router."""

    @router.command("ping")
    async def ping(ctx: Context) -> None:
        """Check that the bot is alive."""
        await ctx.reply("pong")

    @router.command("echo")
    async def echo(ctx: Context, *, text: str) -> None:
        """Repeat the text: /echo <text>."""
        await ctx.reply(text)
