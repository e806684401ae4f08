"""This project's bot for the differential test: answers "pong" to "/ping" in every scene.

Run it as a user does: ``qqbot run tests/peers/framework_pong.py:bot`` with ``QQBOT_APP_ID``,
``QQBOT_APP_SECRET``, ``QQBOT_API_BASE`` and ``QQBOT_TOKEN_URL`` pointing at an emulator.
"""

from __future__ import annotations

from framework import Bot, Context

bot = Bot("peers-pong")


@bot.command("ping")
async def ping(ctx: Context) -> None:
    """Answer pong."""
    await ctx.reply("pong")
