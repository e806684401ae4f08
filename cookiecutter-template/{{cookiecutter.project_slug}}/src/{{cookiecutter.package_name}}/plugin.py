"""A local plugin, registered through the ``qqbot.plugins`` entry point in pyproject.toml.

An installed plugin loads when a bot enables it by name (``bot.py`` does, in its ``config``); the
framework then calls its hook implementations. This one adds the ``/about`` command to the router the
framework gives the plugin (included in the bot while the plugin is enabled).
"""

from framework import Context, Router
from framework.plugins import hookimpl

from {{ cookiecutter.package_name }} import SCENES

ABOUT = "{{ cookiecutter.bot_name }} runs on qqbot-framework."


@hookimpl
def qqbot_register(router: Router) -> None:
    """Add this plugin's commands to its ``router``."""

    @router.command("about", scenes=SCENES)
    async def about(ctx: Context) -> None:
        """Say what this bot is."""
        await ctx.reply(ABOUT)
