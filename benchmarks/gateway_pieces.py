"""Per-event cost of each piece of the gateway → bot hot path, measured one piece at a time (no I/O).

Uses the frames of ``gateway_vs_botpy.py`` (``GROUP_AT_MESSAGE_CREATE``, ≈530 bytes on the wire) and prints
µs per event for: frame parse, ``GatewayMachine.feed`` (envelope decode + ``InboundEvent``),
``EventDispatcher.offer`` (dedupe + queue), and ``bot.process`` with a no-op typed handler (decode of ``d``
+ handler call), as CPU time. What the end-to-end figure adds on top is socket reads, the reader/worker loops and the
event loop. Run: ``python3 benchmarks/gateway_pieces.py [-n 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import CHUNK, wire_frames

from framework.app import Bot
from framework.delivery import EventDispatcher
from framework.models.envelope import InboundEvent
from framework.models.events import GroupMessage
from framework.protocol.gateway import GatewayConfig, GatewayMachine, ShardState
from framework.protocol.wsframes import FrameReader


def best_of(runs: int, n: int, fn: Callable[[], object]) -> float:
    """Best CPU µs per event over ``runs`` calls of ``fn`` (each handles ``n`` events): process time, which other
    jobs on a shared machine disturb less than wall time."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("-r", "--runs", type=int, default=5)
    args = parser.parse_args()
    n, runs = args.n, args.runs
    blob, _ = wire_frames(n, 1, "pieces")
    chunks = [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]

    messages: list[str] = []

    def parse() -> None:
        messages.clear()
        reader = FrameReader(max_size=4 * 2**20)
        for chunk in chunks:
            reader.feed(chunk)
            while (message := reader.next_event()) is not None:
                messages.append(message)  # type: ignore[arg-type]

    results = {"frame parse (FrameReader, 64 KiB chunks)": best_of(runs, n, parse)}

    events: list[InboundEvent | None] = []

    def feed() -> None:
        machine = GatewayMachine(0, 1, 0, config=GatewayConfig(), rng=random.Random(0))
        machine.state = ShardState.READY  # as after READY
        events.clear()
        events.extend(machine.feed(m) for m in messages)

    results["GatewayMachine.feed (envelope decode + InboundEvent)"] = best_of(runs, n, feed)
    real = [e for e in events if e is not None]
    assert len(real) == n

    async def noop(event: InboundEvent) -> None:
        pass

    def offer() -> None:
        dispatcher = EventDispatcher(noop, buffer=n + 1)
        for event in real:
            dispatcher.offer(event)

    results["EventDispatcher.offer (dedupe window + queue)"] = best_of(runs, n, offer)

    bot = Bot("pieces", help=False)

    @bot.on_group_at_message
    async def handler(message: GroupMessage) -> None:
        pass

    bot.prepare()

    async def process_all() -> None:
        process = bot.process
        for event in real:
            await process(event)

    results["bot.process (decode d + no-op typed handler)"] = best_of(runs, n, lambda: asyncio.run(process_all()))
    for name, us in results.items():
        print(f"{name:<58} {us:6.3f} µs")
    print(f"{'sum':<58} {sum(results.values()):6.3f} µs")


if __name__ == "__main__":
    main()
