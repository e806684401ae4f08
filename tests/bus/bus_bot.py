"""The bot of the bus tests: answers every group @message with ``echo <text>``.

Prints ``START <message id> <pid>`` when a handler starts and ``HANDLED <message id> <pid>`` after its reply, so
a test can kill a worker while its handlers run. A message whose text starts with ``slow`` waits a second first.
"""

import os

import anyio

from framework import Bot, Context
from framework.models.events import GroupMessage

bot = Bot("bus", scenes=["group"])


@bot.on_group_at_message
async def echo(ctx: Context[GroupMessage]) -> None:
    message = ctx.event
    print(f"START {message.id} {os.getpid()}", flush=True)
    text = message.content.strip()
    if text.startswith("slow"):
        await anyio.sleep(1.0)
    await ctx.reply(f"echo {text}")
    print(f"HANDLED {message.id} {os.getpid()}", flush=True)
