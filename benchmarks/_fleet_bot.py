"""The bot the fleet benchmark runs in each ``qqbot run --sessions redis://…`` process: a no-op group handler."""

from framework import Bot
from framework.models.events import GroupMessage

bot = Bot("bench-fleet", help=False)


@bot.on_group_at_message
async def noop(message: GroupMessage) -> None:
    pass
