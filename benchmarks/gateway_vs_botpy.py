"""Gateway throughput side by side: this framework, qq-botpy 1.2.1 and the bare parse+decode limit.

Workload: N ``GROUP_AT_MESSAGE_CREATE`` dispatches of ≈450 bytes on a single shard, handled by a no-op
handler. The emulator runs in its own process and serves the real protocol on ``127.0.0.1:0``
(token, ``/gateway/bot``, Hello/Identify/READY, heartbeats). For a round it pre-encodes the N dispatch
frames *as WebSocket wire bytes* for the one live session and writes them to the socket in 1 MiB
chunks, so it is not the bottleneck: its own send rate into a null reader is measured and printed.

Cases (each repeated ``-r`` times; best and median reported):

1. ``framework``: ``Bot`` with a no-op ``@bot.on_group_at_message`` run by ``BotRunner`` — gateway →
   dispatch → bot → handler, what a user gets;
2. ``botpy``: ``botpy.Client`` with a no-op ``on_group_at_message_create`` (base URLs pointed at the
   emulator as in protocol.md §12.1);
3. ``bare``: the same wire bytes parsed by ``framework.protocol.wsframes.FrameReader`` in 64 KiB chunks
   and decoded (envelope, then ``d`` into its typed Struct) in a tight loop, no I/O, no dispatch.

The figure is events/s from the first to the last event handled ((N-1) / elapsed). Run on demand::

    python3 benchmarks/gateway_vs_botpy.py                  # N=100,000, 5 rounds each
    python3 benchmarks/gateway_vs_botpy.py -n 50000 -r 3 --only framework --backend trio
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from _common import (
    CHUNK,
    Counter,
    EmulatorOptions,
    EmulatorProcess,
    emulator_send_rate,
    point_botpy_at,
    runner_edge,
    wire_frames,
)

from framework.models import decode_envelope, decode_event
from framework.protocol.wsframes import FrameReader


def push_round(emu: EmulatorProcess, n: int, sessions: int = 1) -> None:
    """Wait until ``sessions`` sessions are live, then have the emulator send them N events (split evenly).

    The push's answer (wall and CPU seconds of the emulator's send) is left to be read by the caller.
    """
    deadline = time.monotonic() + 60
    while emu.ask("sessions")["sessions"] < sessions:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {emu.ask('sessions')['sessions']} of {sessions} sessions came up in 60 s")
        time.sleep(0.02)
    emu.ask(f"prepare {n}")
    emu.command("push")


# -- 1. this framework ----------------------------------------------------------------------------


async def run_framework(
    emu: EmulatorProcess, n: int, rounds: int, concurrency: int, shards: int = 1, warmup: int = 0
) -> tuple[list[float], list[dict[str, float]]]:
    """Events/s of each round, and the emulator's report of each push (its wall and CPU seconds).

    A first round of ``warmup`` events, if any, is not measured.
    """
    from framework.app import Bot
    from framework.models.events import GroupMessage
    from framework.runner import BotRunner

    counter = Counter()
    done = anyio.Event()
    bot = Bot("bench", help=False)

    @bot.on_group_at_message
    async def noop(message: GroupMessage) -> None:
        if counter.hit():
            done.set()

    rates: list[float] = []
    reports: list[dict[str, float]] = []
    runner = BotRunner(bot, **runner_edge(emu.url), concurrency=concurrency)
    async with runner:
        with anyio.fail_after(30):
            await runner.wait_ready()
        for k, size in enumerate([warmup] * bool(warmup) + [n] * rounds):
            counter.reset(size)
            done = anyio.Event()
            await anyio.to_thread.run_sync(push_round, emu, size, shards)
            with anyio.fail_after(120):
                await done.wait()
            report = await anyio.to_thread.run_sync(emu.read)
            if k >= bool(warmup):
                rates.append(counter.rate())
                reports.append(report | {"client_cpu_us": counter.cpu_us()})
    return rates, reports


# -- 2. qq-botpy 1.2.1 ----------------------------------------------------------------------------


def run_botpy(
    emu: EmulatorProcess, n: int, rounds: int, shards: int = 1, warmup: int = 0
) -> tuple[list[float], list[dict[str, float]]]:
    """As :func:`run_framework`, for qq-botpy (which opens every shard ``/gateway/bot`` recommends)."""
    import botpy  # type: ignore[import-untyped]

    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET

    point_botpy_at(emu.url)

    counter = Counter()
    rates: list[float] = []
    reports: list[dict[str, float]] = []

    async def main() -> None:
        ready = asyncio.Event()
        done = asyncio.Event()

        class NoopBot(botpy.Client):  # type: ignore[misc]
            async def on_ready(self) -> None:
                ready.set()

            async def on_group_at_message_create(self, message: Any) -> None:
                if counter.hit():
                    done.set()

        client = NoopBot(intents=botpy.Intents(public_messages=True), bot_log=None, ext_handlers=False)
        before = asyncio.all_tasks()
        task = asyncio.ensure_future(client.start(DEFAULT_APP_ID, DEFAULT_APP_SECRET))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            for k, size in enumerate([warmup] * bool(warmup) + [n] * rounds):
                counter.reset(size)
                done.clear()
                await asyncio.to_thread(push_round, emu, size, shards)
                await asyncio.wait_for(done.wait(), 300)
                report = await asyncio.to_thread(emu.read)
                if k >= bool(warmup):
                    rates.append(counter.rate())
                    reports.append(report | {"client_cpu_us": counter.cpu_us()})
        finally:
            task.cancel()
            await client.close()
            leftovers = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
            for t in leftovers:
                t.cancel()
            await asyncio.gather(*leftovers, task, return_exceptions=True)

    asyncio.run(main())
    return rates, reports


# -- 3. the bare limit ----------------------------------------------------------------------------


def run_bare(n: int, rounds: int, cpu_us: list[float] | None = None) -> list[float]:
    """Events/s of each round; the CPU µs per event of each round are appended to ``cpu_us`` if given."""
    blob, _ = wire_frames(n, 1, "bare")
    chunks = [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]
    rates = []
    for _ in range(rounds):
        reader = FrameReader(max_size=4 * 2**20)
        count = 0
        start, cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            reader.feed(chunk)
            while (message := reader.next_event()) is not None:
                envelope = decode_envelope(message)  # type: ignore[arg-type]
                decode_event(envelope.t or "", envelope.d)
                count += 1
        elapsed = time.perf_counter() - start
        assert count == n, count
        rates.append(n / elapsed)
        if cpu_us is not None:
            cpu_us.append((time.process_time() - cpu) / n * 1e6)
    return rates


# -- report ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100_000, help="events per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="for the framework")
    parser.add_argument("--concurrency", type=int, default=16, help="BotRunner(concurrency=...): handler workers")
    parser.add_argument("--only", choices=["framework", "botpy", "bare"], action="append")
    args = parser.parse_args()
    cases = args.only or ["bare", "framework", "botpy"]
    results: dict[str, list[float]] = {}
    emu_cpu: dict[str, list[float]] = {}
    client_cpu: dict[str, list[float]] = {}  # the client's CPU µs per event, per round (less load-sensitive)
    reports: list[dict[str, float]]
    emu = EmulatorProcess(EmulatorOptions())
    try:
        send_rate, send_cpu = emulator_send_rate(emu, args.n)
        print(f"emulator send rate into a null reader: {send_rate:,.0f} frames/s ({send_cpu:.2f} µs CPU/frame)")
        if "bare" in cases:
            client_cpu["bare"] = []
            results["bare"] = run_bare(args.n, args.rounds, client_cpu["bare"])
        if "framework" in cases:
            results["framework"], reports = anyio.run(
                run_framework, emu, args.n, args.rounds, args.concurrency, backend=args.backend
            )
            emu_cpu["framework"] = [r["cpu"] / args.n * 1e6 for r in reports]
            client_cpu["framework"] = [r["client_cpu_us"] for r in reports]
        if "botpy" in cases:
            results["botpy"], reports = run_botpy(emu, args.n, args.rounds)
            emu_cpu["botpy"] = [r["cpu"] / args.n * 1e6 for r in reports]
            client_cpu["botpy"] = [r["client_cpu_us"] for r in reports]
    finally:
        emu.close()
    print(f"\n{args.n:,} events/round, {args.rounds} rounds, framework on {args.backend}")
    print(f"{'case':<10} {'best ev/s':>12} {'median ev/s':>12} {'µs/event':>9} {'CPU µs/ev':>10}  rounds")
    for case, rates in results.items():
        best, median = max(rates), statistics.median(rates)
        cpu = statistics.median(client_cpu[case]) if client_cpu.get(case) else float("nan")
        print(
            f"{case:<10} {best:>12,.0f} {median:>12,.0f} {1e6 / median:>9.2f} {cpu:>10.2f}  "
            + " ".join(f"{r / 1000:.0f}k" for r in rates)
        )
    for case, per_frame in emu_cpu.items():
        print(f"emulator CPU while serving {case}: {statistics.median(per_frame):.2f} µs/frame")
    ours = results.get("framework")
    for other in ("botpy", "bare"):
        if ours and other in results:
            theirs = results[other]
            best = max(ours) / max(theirs)
            median = statistics.median(ours) / statistics.median(theirs)
            line = f"framework / {other}: best {best:.2f}×, median {median:.2f}×"
            if client_cpu.get("framework") and client_cpu.get(other):
                by_cpu = statistics.median(client_cpu[other]) / statistics.median(client_cpu["framework"])
                line += f"; by CPU per event (median) {by_cpu:.2f}×"
            print(line)


if __name__ == "__main__":
    main()
