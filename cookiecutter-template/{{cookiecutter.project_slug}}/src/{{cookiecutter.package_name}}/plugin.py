"""A local plugin, registered through the ``qqbot.plugins`` entry point in pyproject.toml.

An installed plugin loads when a bot enables it by name (``bot.py`` does, in its ``config``); the
framework then calls its hook implementations. This one adds the ``/about`` command.
"""

from framework import Bot, Context
from framework.plugins import hookimpl

from {{ cookiecutter.package_name }} import SCENES

ABOUT = "{{ cookiecutter.bot_name }} runs on qqbot-framework."


@hookimpl
def qqbot_register(bot: Bot) -> None:
    """Add this plugin's commands to ``bot``."""

    @bot.command("about", scenes=SCENES)
    async def about(ctx: Context) -> None:
        """Say what this bot is."""
        await ctx.reply(ABOUT)
