"""The bot of the fleet tests: notes every guild @message it handles (``HANDLED <id> <pid>`` on stdout)."""

import os

from framework import Bot
from framework.models.events import Message

bot = Bot("fleet")


@bot.on_at_message
async def note(message: Message) -> None:
    print(f"HANDLED {message.id} {os.getpid()}", flush=True)
