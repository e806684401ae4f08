"""The bot the browser tests talk to: the example bot's commands plus a keyboard and its callback."""

from __future__ import annotations

from framework import Bot, Context
from framework.models.api import Keyboard
from framework.models.common import Ark, ArkKv, Embed, EmbedField

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


@bot.command("show")
async def show(ctx: Context, url: str) -> None:
    """Send the image at URL (uploaded as media in groups and C2C)."""
    await ctx.reply(image=url)


@bot.command("ark")
async def ark(ctx: Context) -> None:
    """An ark card (template 24: a link card)."""
    kv = [
        ArkKv(key="#DESC#", value="QQ platform emulator"),
        ArkKv(key="#PROMPT#", value="a card from the bot"),
        ArkKv(key="#TITLE#", value="Release notes"),
        ArkKv(key="#METADESC#", value="What changed this week"),
    ]
    await ctx.reply(ark=Ark(template_id=24, kv=kv))


@bot.command("embed")
async def embed(ctx: Context) -> None:
    """An embed (guild channels)."""
    fields = [EmbedField(name="first line"), EmbedField(name="second line")]
    await ctx.reply(embed=Embed(title="Embed title", prompt="embed prompt", fields=fields))
