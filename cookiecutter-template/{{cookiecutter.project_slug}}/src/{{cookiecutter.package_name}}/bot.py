"""The bot object and its handlers.

Run it with ``qqbot run {{ cookiecutter.package_name }}.bot:bot`` (see the README).
"""

import re

from framework import Bot, Context
{%- set models = [] %}
{%- if cookiecutter.scene_c2c %}{% set _ = models.append("C2CMessage") %}{% endif %}
{%- if cookiecutter.scene_dm %}{% set _ = models.append("DirectMessage") %}{% endif %}
{%- if cookiecutter.scene_group %}{% set _ = models.append("GroupMessage") %}{% endif %}
{%- if cookiecutter.scene_guild %}{% set _ = models.append("Message") %}{% endif %}
from framework.models import {{ models | join(", ") }}

from {{ cookiecutter.package_name }} import SCENES
{% if cookiecutter.include_plugin %}
bot = Bot(
    "{{ cookiecutter.bot_name }}",
    # installed plugins load only when enabled: this one is src/{{ cookiecutter.package_name }}/plugin.py,
    # found through the "qqbot.plugins" entry point in pyproject.toml
    config={"plugins": {"enabled": ["{{ cookiecutter.package_name }}"]}},
)
{%- else %}
bot = Bot("{{ cookiecutter.bot_name }}")
{%- endif %}

_MENTION = re.compile(r"<@!?[^>]*>")


def plain_text(content: str) -> str:
    """The message text without @-mention markup and surrounding spaces."""
    return _MENTION.sub("", content).strip()


def echo_text(content: str) -> str | None:
    """What the echo handlers answer, or ``None`` for commands and empty messages."""
    text = plain_text(content)
    if not text or text.startswith("/"):
        return None
    return f"echo: {text}"


@bot.command("ping", scenes=SCENES)
async def ping(ctx: Context) -> None:
    """Answer pong."""
    await ctx.reply("pong")
{%- if cookiecutter.scene_guild %}


@bot.on_at_message
async def guild_echo(event: Message, ctx: Context) -> None:
    """Echo text said to the bot with an @-mention in a guild channel."""
    answer = echo_text(event.content)
    if answer is not None:
        await ctx.reply(answer)
{%- endif %}
{%- if cookiecutter.scene_dm %}


@bot.on_direct_message
async def dm_echo(event: DirectMessage, ctx: Context) -> None:
    """Echo text sent to the bot in a guild direct message."""
    answer = echo_text(event.content)
    if answer is not None:
        await ctx.reply(answer)
{%- endif %}
{%- if cookiecutter.scene_group %}


@bot.on_group_at_message
async def group_echo(event: GroupMessage, ctx: Context) -> None:
    """Echo text said to the bot with an @-mention in a QQ group."""
    answer = echo_text(event.content)
    if answer is not None:
        await ctx.reply(answer)
{%- endif %}
{%- if cookiecutter.scene_c2c %}


@bot.on_c2c_message
async def c2c_echo(event: C2CMessage, ctx: Context) -> None:
    """Echo text sent to the bot in a QQ single chat."""
    answer = echo_text(event.content)
    if answer is not None:
        await ctx.reply(answer)
{%- endif %}
