"""The bot the event-bus benchmark runs in ``qqbot worker`` (and ``qqbot gateway``, which runs no handler).

Its handler writes ``<envelope id> <time.monotonic()>`` to the file named by ``BENCH_STAMPS`` when it starts
(one line, one write: about a microsecond or two of the handler's cost), so the benchmark can time events
from frame written to handler start across three processes.
"""

import os
import time

from framework import Bot
from framework.models import InboundEvent
from framework.models.events import GroupMessage

bot = Bot("bench-bus", help=False)
_out = open(os.environ.get("BENCH_STAMPS", os.devnull), "a", buffering=1)  # noqa: SIM115 - lives with the process


@bot.on_group_at_message
async def stamp(message: GroupMessage, event: InboundEvent) -> None:
    _out.write(f"{event.id} {time.monotonic()}\n")
