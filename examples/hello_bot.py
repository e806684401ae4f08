"""A small bot that answers in every scene: run it with ``qqbot run examples/hello_bot.py:bot``.

With no credentials configured it runs on the embedded emulator with a console; with QQBOT_APP_ID and
QQBOT_APP_SECRET set it connects to the QQ platform.
"""

from __future__ import annotations

import random

from framework import Bot, Context
from framework.models import GroupMessage

bot = Bot("hello")


@bot.command("ping")
async def ping(ctx: Context) -> None:
    """Answer pong."""
    await ctx.reply("pong")


@bot.command("roll", aliases=["dice"])
async def roll(ctx: Context, sides: int = 6) -> None:
    """Roll a die with SIDES sides."""
    if sides < 2:
        await ctx.reply("a die needs at least 2 sides")
        return
    await ctx.reply(f"🎲 {random.randint(1, sides)} (1-{sides})")


@bot.on_group_at_message
async def echo(event: GroupMessage, ctx: Context) -> None:
    """Echo group messages that are not commands."""
    text = event.content.strip()
    if text and not text.startswith("/"):
        await ctx.reply(f"you said: {text}")
