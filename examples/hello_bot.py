"""A small bot that answers in every scene: run it with ``qqbot run examples/hello_bot.py:bot``.

With no credentials configured it runs on the embedded emulator with a console; with QQBOT_APP_ID and
QQBOT_APP_SECRET set it connects to the QQ platform. It says nothing about scenes, so it asks for guild
@messages (every bot has them) and, optionally, groups/C2C and DMs: a bot not yet approved for those
still connects (``qqbot check examples/hello_bot.py:bot`` lists the intents).
"""

from __future__ import annotations

import random

from framework import Bot, Context

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


@bot.on_any_message
async def echo(ctx: Context) -> None:
    """Echo messages that no command answered (a matched command consumes its message)."""
    if ctx.text:
        await ctx.reply(f"you said: {ctx.text}")
