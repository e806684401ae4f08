"""CPU cost per event of the delivery path alone: dispatcher intake → dedupe/lanes → ``bot.process`` → a no-op
typed handler, in one process with no sockets (what ``gateway_vs_botpy.py`` measures end to end, minus the
socket, frame parsing and the emulator). Measured as process CPU time, so a busy machine disturbs it less
than a wall-clock figure.

It runs against whichever ``framework`` is importable, so the same script compares two checkouts::

    python benchmarks/delivery_path.py                        # this checkout
    PYTHONPATH=/path/to/old/checkout python benchmarks/delivery_path.py

The old tree (before the one delivery path) is driven the way its ``BotRunner`` drove it: its
``runtime.dispatch.EventDispatcher(bot.process, workers=16)``; the new tree through ``bot.delivery``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from typing import Any

import anyio
import msgspec

from framework.app import Bot
from framework.models import InboundEvent
from framework.models.events import GroupMessage


def events(n: int, groups: int) -> list[InboundEvent]:
    out = []
    for i in range(n):
        d = {
            "id": f"ROBOT1.0_{i:020d}",
            "content": " /ping hello there",
            "timestamp": "2026-12-03T08:00:00+08:00",
            "author": {"id": "E4F4AEA33253A2797FB897C50B81D7ED", "member_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
            "group_id": f"G{i % groups:031d}",
            "group_openid": f"G{i % groups:031d}",
            "message_scene": {"source": "default", "ext": ["msg_idx=REFIDX_abc"]},
            "message_type": 0,
        }
        raw = msgspec.Raw(msgspec.json.encode(d))
        out.append(InboundEvent(type="GROUP_AT_MESSAGE_CREATE", data=raw, id=f"GROUP_AT_MESSAGE_CREATE:{i}", seq=i))
    return out


async def run_once(n: int, groups: int, concurrency: int) -> float:
    bot = Bot("bench", help=False)
    handled = 0
    done = anyio.Event()

    @bot.on_group_at_message
    async def noop(message: GroupMessage) -> None:
        nonlocal handled
        handled += 1
        if handled == n:
            done.set()

    batch = events(n, groups)
    async with anyio.create_task_group() as tg:
        try:
            from framework.delivery import EventDispatcher  # noqa: F401 - the new tree

            new = True
        except ImportError:
            new = False
        if new:
            bot.concurrency = concurrency
            async with bot.running():
                delivery: Any = bot.delivery
                start = time.process_time()
                for event in batch:
                    if not delivery.offer(event):
                        await delivery.put(event)
                await done.wait()
                elapsed = time.process_time() - start
        else:
            # the pre-delivery tree's dispatcher, by name: this branch only runs against an old checkout
            old_module: Any = importlib.import_module("framework.runtime.dispatch")
            old = old_module.EventDispatcher(bot.process, buffer=1024, workers=concurrency)
            async with bot.running():
                await tg.start(old.run)
                start = time.process_time()
                for event in batch:
                    if not old.offer(event):
                        await old.put(event)
                await done.wait()
                elapsed = time.process_time() - start
                old.close()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100_000, help="events per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--groups", type=int, default=50, help="distinct chats the events come from")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    import framework

    figures = [
        anyio.run(run_once, args.n, args.groups, args.concurrency, backend=args.backend) for _ in range(args.rounds)
    ]
    print(
        f"{framework.__file__}: {args.n} events from {args.groups} groups, concurrency {args.concurrency}, "
        f"{args.backend}: best {min(figures):.2f} µs CPU/event, median {sorted(figures)[len(figures) // 2]:.2f}"
    )


if __name__ == "__main__":
    main()
