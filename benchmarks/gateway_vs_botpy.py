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
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import msgspec

from framework.models import Intents, decode_envelope, decode_event
from framework.models.envelope import encode_envelope
from framework.protocol.wsframes import FrameReader, encode_frame

EVENT = "GROUP_AT_MESSAGE_CREATE"
CHUNK = 65536
WRITE_CHUNK = 1 << 20

PAYLOAD: dict[str, Any] = {
    "id": "ROBOT1.0_veoihTBvdGzSGtrIXqbzdu1jbWyBZqfhW8CSZc1hEFqAs5kcUb9Hy8q1rgn1tBzu3bOIU4nnNIUjRFAcxEP4dA!!",
    "content": " benchmark message with a little text in it",
    "timestamp": "2026-11-27T12:00:00+08:00",
    "author": {"id": "E4F4AEA33253A2797FB897C50B81D7ED", "member_openid": "E4F4AEA33253A2797FB897C50B81D7ED"},
    "group_id": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
    "message_scene": {"source": "default"},
}


def wire_frames(n: int, first_seq: int, tag: str) -> tuple[bytes, int]:
    """N dispatch frames as one buffer of unmasked server→client WebSocket text frames; and one frame's size."""
    raw = msgspec.Raw(msgspec.json.encode(PAYLOAD))
    frames = [
        encode_frame(0x1, encode_envelope(0, raw, s=first_seq + i, t=EVENT, id=f"{EVENT}:{tag}-{i}"), mask=False)
        for i in range(n)
    ]
    return b"".join(frames), len(frames[0])


# -- the emulator process -------------------------------------------------------------------------


def serve_emulator() -> None:
    """Child process: serve the emulator, print its URL, then obey one-line commands on stdin.

    ``prepare N``: encode N frames for the live session (numbered after its seq); ``push``: write them
    to its socket, then print the send's wall and CPU time; ``sendrate N PORT``: write N frames to a
    null reader on ``127.0.0.1:PORT`` and print the rate; ``quit``.
    """
    from framework.emulator import Emulator
    from framework.emulator.config import DEFAULT_APP_ID

    async def write_blob(send: Any, blob: bytes) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        view = memoryview(blob)
        for i in range(0, len(blob), WRITE_CHUNK):
            await send(view[i : i + WRITE_CHUNK])
        return time.perf_counter() - start, time.process_time() - cpu

    async def main() -> None:
        emulator = Emulator()
        emulator.gateway.settings.client_rate_limit = None
        emulator.config.grant(DEFAULT_APP_ID, int(Intents.GROUP_AND_C2C_EVENT))  # an approved bot (both SDKs)
        blob, count, rounds = b"", 0, 0
        async with emulator.serve() as url:
            print(json.dumps({"url": url}), flush=True)
            stdin = anyio.wrap_file(sys.stdin)
            async for line in stdin:
                cmd, *args = line.split()
                live = [s for s in emulator.gateway.sessions.values() if s.connection is not None]
                session = live[-1] if live else None
                if cmd == "prepare":
                    assert session is not None, "no live session"
                    rounds += 1
                    count = int(args[0])
                    blob, size = wire_frames(count, session.seq + 1, f"r{rounds}")
                    session.seq += count
                    print(json.dumps({"prepared": count, "frame_bytes": size}), flush=True)
                elif cmd == "push":
                    assert session is not None and session.connection is not None, "no live session"
                    ws: Any = session.connection.ws  # the emulator's socket WebSocket: write raw wire bytes
                    ws = getattr(ws, "_ws", ws)  # under the gateway's frame-recording wrapper
                    async with ws._send_lock:
                        wall, cpu = await write_blob(ws._stream.send, blob)
                    print(json.dumps({"wall": wall, "cpu": cpu, "n": count}), flush=True)
                elif cmd == "sendrate":
                    n, port = int(args[0]), int(args[1])
                    data, _ = wire_frames(n, 1, "rate")
                    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                        wall, cpu = await write_blob(stream.send, data)
                    print(json.dumps({"wall": wall, "cpu": cpu, "n": n}), flush=True)
                elif cmd == "quit":
                    return

    anyio.run(main)


class Emulator:
    """The parent's handle on the emulator child process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url: str = self.read()["url"]

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.command("quit")
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Counter:
    """Counts handled events; records the first and the N-th handling time."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.first = 0.0
        self.last = 0.0

    def hit(self) -> bool:
        """Count one event; True when the target is reached."""
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
        if self.count == self.target:
            self.last = time.perf_counter()
            return True
        return False

    def rate(self) -> float:
        return (self.target - 1) / (self.last - self.first)


def emulator_send_rate(emu: Emulator, n: int) -> tuple[float, float]:
    """Frames/s the emulator writes into a null reader on loopback, and its CPU µs per frame."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(1 << 20):
                pass

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    emu.command(f"sendrate {n} {port}")
    report = emu.read()
    thread.join(10)
    listener.close()
    return n / report["wall"], report["cpu"] / n * 1e6


def push_round(emu: Emulator, n: int) -> None:
    emu.command(f"prepare {n}")
    emu.read()
    emu.command("push")


# -- 1. this framework ----------------------------------------------------------------------------


async def run_framework(emu: Emulator, n: int, rounds: int, concurrency: int) -> tuple[list[float], list[float]]:
    from framework.app import Bot
    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
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
    emu_cpu: list[float] = []
    runner = BotRunner(
        bot,
        app_id=DEFAULT_APP_ID,
        app_secret=DEFAULT_APP_SECRET,
        api_base=emu.url,
        token_url=f"{emu.url}/app/getAppAccessToken",
        concurrency=concurrency,
    )
    async with runner:
        with anyio.fail_after(30):
            await runner.wait_ready()
        for _ in range(rounds):
            counter.reset(n)
            done = anyio.Event()
            await anyio.to_thread.run_sync(push_round, emu, n)
            with anyio.fail_after(120):
                await done.wait()
            report = await anyio.to_thread.run_sync(emu.read)
            rates.append(counter.rate())
            emu_cpu.append(report["cpu"] / n * 1e6)
    return rates, emu_cpu


# -- 2. qq-botpy 1.2.1 ----------------------------------------------------------------------------


def run_botpy(emu: Emulator, n: int, rounds: int) -> tuple[list[float], list[float]]:
    import aiohttp
    import botpy  # type: ignore[import-untyped]
    from botpy import http as botpy_http
    from botpy import robot as botpy_robot

    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET

    url = emu.url
    host = url.removeprefix("http://")
    botpy_http.Route.SCHEME = "http"
    botpy_http.Route.DOMAIN = host
    botpy_http.Route.SANDBOX_DOMAIN = host

    async def update_access_token(self: Any) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/app/getAppAccessToken", json={"appId": self.app_id, "clientSecret": self.secret}
            ) as resp,
        ):
            data = await resp.json(content_type=None)
        self.access_token = data["access_token"]
        self.expires_in = int(data["expires_in"]) + int(time.time())

    botpy_robot.Token.update_access_token = update_access_token

    counter = Counter()
    rates: list[float] = []
    emu_cpu: list[float] = []

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
            for _ in range(rounds):
                counter.reset(n)
                done.clear()
                await asyncio.to_thread(push_round, emu, n)
                await asyncio.wait_for(done.wait(), 300)
                report = await asyncio.to_thread(emu.read)
                rates.append(counter.rate())
                emu_cpu.append(report["cpu"] / n * 1e6)
        finally:
            task.cancel()
            await client.close()
            leftovers = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
            for t in leftovers:
                t.cancel()
            await asyncio.gather(*leftovers, task, return_exceptions=True)

    asyncio.run(main())
    return rates, emu_cpu


# -- 3. the bare limit ----------------------------------------------------------------------------


def run_bare(n: int, rounds: int) -> list[float]:
    blob, _ = wire_frames(n, 1, "bare")
    chunks = [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]
    rates = []
    for _ in range(rounds):
        reader = FrameReader(max_size=4 * 2**20)
        count = 0
        start = time.perf_counter()
        for chunk in chunks:
            reader.feed(chunk)
            while (message := reader.next_event()) is not None:
                envelope = decode_envelope(message)  # type: ignore[arg-type]
                decode_event(envelope.t or "", envelope.d)
                count += 1
        elapsed = time.perf_counter() - start
        assert count == n, count
        rates.append(n / elapsed)
    return rates


# -- report ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=100_000, help="events per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="for the framework")
    parser.add_argument("--concurrency", type=int, default=16, help="BotRunner(concurrency=...): handler workers")
    parser.add_argument("--only", choices=["framework", "botpy", "bare"], action="append")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_emulator()
        return
    cases = args.only or ["bare", "framework", "botpy"]
    results: dict[str, list[float]] = {}
    emu_cpu: dict[str, list[float]] = {}
    emu = Emulator()
    try:
        send_rate, send_cpu = emulator_send_rate(emu, args.n)
        print(f"emulator send rate into a null reader: {send_rate:,.0f} frames/s ({send_cpu:.2f} µs CPU/frame)")
        if "bare" in cases:
            results["bare"] = run_bare(args.n, args.rounds)
        if "framework" in cases:
            results["framework"], emu_cpu["framework"] = anyio.run(
                run_framework, emu, args.n, args.rounds, args.concurrency, backend=args.backend
            )
        if "botpy" in cases:
            results["botpy"], emu_cpu["botpy"] = run_botpy(emu, args.n, args.rounds)
    finally:
        emu.close()
    print(f"\n{args.n:,} events/round, {args.rounds} rounds, framework on {args.backend}")
    print(f"{'case':<10} {'best ev/s':>12} {'median ev/s':>12} {'µs/event':>9}  rounds")
    for case, rates in results.items():
        best, median = max(rates), statistics.median(rates)
        print(
            f"{case:<10} {best:>12,.0f} {median:>12,.0f} {1e6 / median:>9.2f}  "
            + " ".join(f"{r / 1000:.0f}k" for r in rates)
        )
    for case, cpu in emu_cpu.items():
        print(f"emulator CPU while serving {case}: {statistics.median(cpu):.2f} µs/frame")
    ours = results.get("framework")
    for other in ("botpy", "bare"):
        if ours and other in results:
            theirs = results[other]
            best = max(ours) / max(theirs)
            median = statistics.median(ours) / statistics.median(theirs)
            print(f"framework / {other}: best {best:.2f}×, median {median:.2f}×")


if __name__ == "__main__":
    main()
