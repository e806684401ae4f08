"""The bot of the event-bus benchmark (``benchmarks/bus_path.py``), run by ``qqbot worker``, ``qqbot gateway`` (which
runs no handler) and ``qqbot run`` (the in-process figure beside the bus).

Its handler answers every group @message with one send to the platform: ``POST /v2/groups/<GROUP>/messages`` with
the content ``<envelope id> <pid>``, so the emulator's log of REST calls says, per event, when the reply request
arrived (its monotonic clock) and which process sent it. The send is active (no ``msg_id``: the benchmark's frames
are synthetic, the emulator knows none of their messages; the benchmark's emulator allows active sends), always to
the one group the emulator's world holds. After the send returned it appends ``<envelope id> <time.time() at
handler start>`` to ``$BENCH_STAMPS.<pid>`` (one file per process), which the benchmark reads to know when every
event was answered and when its handler started. While the file ``$BENCH_STAMPS.noreply`` exists it sends nothing
(the bus's own ceiling, without the REST call).
"""

import os
import time

from framework import Bot, OpenAPI
from framework.models import InboundEvent
from framework.models.api import MessageToCreate
from framework.models.events import GroupMessage

GROUP = "C9F778FE6ADF9D1D1DBE395BF744A33A"
"""The group every answer goes to (``_common.GROUP``, the one the benchmark's emulator holds)."""

bot = Bot("bench-bus", help=False)
_pid = os.getpid()
_stamps = os.environ.get("BENCH_STAMPS")
_out = open(f"{_stamps}.{_pid}" if _stamps else os.devnull, "a", buffering=1)  # noqa: SIM115 - lives with the process
_noreply = f"{_stamps}.noreply"


@bot.on_group_at_message
async def answer(message: GroupMessage, event: InboundEvent, api: OpenAPI) -> None:
    started = time.time()
    if not os.path.exists(_noreply):  # noqa: ASYNC240 - a stat of a local file, about a microsecond
        await api.post_group_message(GROUP, MessageToCreate(content=f"{event.id} {_pid}"))
    _out.write(f"{event.id} {started}\n")
