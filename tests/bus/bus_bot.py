"""The bot of the bus tests: answers every group @message with ``echo <text>``.

Prints ``START <message id> <pid>`` when a handler starts and ``HANDLED <message id> <pid> sent|replayed`` after its
reply (``replayed``: the platform had it already from an earlier delivery of the event, 40054005), so a test can
kill a worker while its handlers run. A message whose text starts with ``slow`` waits a second before replying;
one that starts with ``linger`` waits three seconds after it (replied, not yet finished, so not acknowledged).
"""

import os

import anyio

from framework import Bot, Context
from framework.models.events import GroupMessage
from framework.models.results import Delivered

bot = Bot("bus", scenes=["group"])


@bot.on_group_at_message
async def echo(ctx: Context[GroupMessage]) -> None:
    message = ctx.event
    print(f"START {message.id} {os.getpid()}", flush=True)
    text = message.content.strip()
    if text.startswith("slow"):
        await anyio.sleep(1.0)
    result = await ctx.reply(f"echo {text}")
    replayed = isinstance(result, Delivered) and result.code == 40054005
    print(f"HANDLED {message.id} {os.getpid()} {'replayed' if replayed else 'sent'}", flush=True)
    if text.startswith("linger"):
        print(f"LINGER {message.id} {os.getpid()}", flush=True)
        await anyio.sleep(3.0)
