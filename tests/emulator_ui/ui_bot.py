"""The bot the browser tests talk to: the example bot's commands plus a keyboard and its callback."""

from __future__ import annotations

from framework import Bot, Context
from framework.models.api import Keyboard

bot = Bot("ui-test")

MENU = Keyboard(
    content={
        "rows": [
            {
                "buttons": [
                    {
                        "id": "1",
                        "render_data": {"label": "Red", "visited_label": "Red ✓", "style": 1},
                        "action": {"type": 1, "data": "colour:red", "permission": {"type": 2}},
                    },
                    {
                        "id": "2",
                        "render_data": {"label": "Ping again", "visited_label": "Ping again", "style": 0},
                        "action": {"type": 2, "data": "/ping", "enter": True, "permission": {"type": 2}},
                    },
                ]
            }
        ]
    }
)


@bot.command("ping")
async def ping(ctx: Context) -> None:
    """Answer pong."""
    await ctx.reply("pong")


@bot.command("menu")
async def menu(ctx: Context) -> None:
    """A markdown message with buttons."""
    await ctx.reply(markdown="## Pick a colour\n**bold** and *soft*", keyboard=MENU)


@bot.on_interaction
async def clicked(ctx: Context) -> None:
    """Say which button was clicked (and the bot acks the interaction after this handler)."""
    data = ctx.event.data.resolved.button_data
    await ctx.reply(f"you picked {data}")
