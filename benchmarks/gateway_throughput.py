"""Gateway throughput: events/s from the emulator, over loopback, through a shard and the dispatcher.

The emulator runs in its own process (so it is not what is measured); it pre-encodes N
``GROUP_AT_MESSAGE_CREATE`` dispatch frames (≈450 bytes each) for the session, then on command queues
them all at once on the connection (its writer sends them in batches of 256).
This process runs a ``LocalSessionManager`` with the real transport
(``framework.runtime.gateway.websocket``) and a no-op sink (optionally decoding each event into its Struct, as a
typed handler would). The figure is N divided by the time from the push command to the N-th event in
the sink. Run on demand (never a timed unit test)::

    python3 benchmarks/gateway_throughput.py                 # 100,000 events, best of 3, asyncio
    python3 benchmarks/gateway_throughput.py -n 50000 -r 5 --backend trio --decode
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import anyio
import msgspec

from framework.models.api import GatewayBot, SessionStartLimit
from framework.models.envelope import InboundEvent
from framework.models.intents import Intents
from framework.runtime.gateway.sessions import LocalSessionManager
from framework.runtime.gateway.websocket import connect

EVENT = "GROUP_AT_MESSAGE_CREATE"

PAYLOAD: dict[str, Any] = {
    "id": "ROBOT1.0_veoihTBvdGzSGtrIXqbzdu1jbWyBZqfhW8CSZc1hEFqAs5kcUb9Hy8q1rgn1tBzu3bOIU4nnNIUjRFAcxEP4dA!!",
    "content": " benchmark message with a little text in it",
    "timestamp": "2026-11-27T12:00:00+08:00",
    "author": {"id": "E4F4AEA33253A2797FB897C50B81D7ED", "member_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
    "group_id": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "message_scene": {"source": "default"},
}


def serve_emulator() -> None:
    """Child process: serve the emulator, print its URL, then obey commands on stdin.

    ``prepare N`` encodes N dispatch frames for the (single) session, numbered after its current seq;
    ``push`` queues them on the session's connection in one go (the emulator's writer sends them in
    batches); ``quit`` ends. Pre-encoding keeps the emulator's own JSON work out of the measurement.
    """
    from framework.emulator import Emulator, EmulatorConfig
    from framework.emulator.config import DEFAULT_APP_ID
    from framework.models.envelope import encode_envelope

    async def main() -> None:
        config = EmulatorConfig()
        config.grant(DEFAULT_APP_ID, int(Intents.GROUP_AND_C2C_EVENT))  # an approved bot: group events are privileged
        emulator = Emulator(config)
        emulator.gateway.settings.client_rate_limit = None
        raw = msgspec.Raw(msgspec.json.encode(PAYLOAD))
        frames: list[bytes] = []
        rounds = 0
        async with emulator.serve() as url:
            print(json.dumps({"url": url}), flush=True)
            stdin = anyio.wrap_file(sys.stdin)
            async for line in stdin:
                cmd, _, arg = line.strip().partition(" ")
                session = next(iter(emulator.gateway.sessions.values()), None)
                if cmd == "prepare" and session is not None:
                    rounds += 1
                    first = session.seq + 1
                    frames = [
                        encode_envelope(0, raw, s=first + i, t=EVENT, id=f"{EVENT}:bench{rounds}-{i}")
                        for i in range(int(arg))
                    ]
                    session.seq += len(frames)
                    print(json.dumps({"prepared": len(frames)}), flush=True)
                elif cmd == "push" and session is not None and session.connection is not None:
                    for frame in frames:
                        session.connection.enqueue(frame)
                elif cmd == "quit":
                    return

    anyio.run(main)


async def measure(
    url: str, child: subprocess.Popen[str], n: int, rounds: int, decode: bool
) -> list[tuple[float, float]]:
    from _common import token_manager  # the emulator's default app, on this tree's TokenManager signature

    received = 0
    target = 0
    done = anyio.Event()

    async def sink(event: InboundEvent) -> None:
        nonlocal received
        if event.type != EVENT:
            return
        if decode:
            event.decode()
        received += 1
        if received >= target:
            done.set()

    tokens = token_manager(url)
    ws_url = url.replace("http://", "ws://", 1) + "/websocket"
    gateway = GatewayBot(url=ws_url, shards=1, session_start_limit=SessionStartLimit(1000, 1000, 86_400_000, 1))
    manager = LocalSessionManager(
        connect, tokens.get_token, gateway, sink, Intents.GROUP_AND_C2C_EVENT, buffer=4096, dedupe_window=10_000
    )
    rates: list[tuple[float, float]] = []
    assert child.stdin is not None and child.stdout is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(manager.run)
        while not manager.shards or manager.status()[0].state != "ready":  # noqa: ASYNC110
            await anyio.sleep(0.01)
        for _ in range(rounds):
            received, target, done = 0, n, anyio.Event()
            child.stdin.write(f"prepare {n}\n")
            child.stdin.flush()
            await anyio.to_thread.run_sync(child.stdout.readline)
            start, cpu = time.perf_counter(), time.process_time()
            child.stdin.write("push\n")
            child.stdin.flush()
            await done.wait()
            elapsed = time.perf_counter() - start
            rates.append((n / elapsed, (time.process_time() - cpu) / n * 1e6))
        await manager.stop()
        await tokens.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100_000, help="events per round")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--decode", action="store_true", help="decode each event into its Struct in the sink")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_emulator()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = json.loads(child.stdout.readline())["url"]
        rates = anyio.run(measure, url, child, args.n, args.rounds, args.decode, backend=args.backend)
    finally:
        if child.stdin is not None:
            child.stdin.write("quit\n")
            child.stdin.close()
        child.wait(timeout=10)
    label = "decode" if args.decode else "no decode"
    print(f"gateway throughput ({args.backend}, {label}, {args.n} events/round):")
    for i, (rate, cpu_us) in enumerate(rates, 1):
        print(f"  round {i}: {rate:,.0f} events/s ({cpu_us:.1f} µs client CPU per event)")
    print(f"  best: {max(r for r, _ in rates):,.0f} events/s")


if __name__ == "__main__":
    main()
