"""Soak: a bot under a steady event stream and a fault every few seconds, for minutes; RSS, open file
descriptors and event loss sampled throughout. Run on demand (never a test)::

    python benchmarks/soak.py                # 10 minutes, 4 shards, 100 events/s, a fault every 3 s
    python benchmarks/soak.py --quick        # about a minute
    python benchmarks/soak.py --minutes 30 --shards 8 --rate 200 --fault-every 2

Three processes, talking over loopback sockets only:

- the emulator, ``python -m framework.emulator`` (what ``qqbot emulator`` serves) on a free port;
- the bot (this script with ``--role bot``): a :class:`~framework.app.Bot` run by a
  :class:`~framework.runner.BotRunner` over the real WebSocket transport and HTTP; its handler records
  each guild @message and answers every 10th one (so REST faults hit real replies). Each second it
  reports its own RSS (``/proc/self/status``), open descriptors (``/proc/self/fd``), the gateway counters
  and the replies; it prints the contents it handled, which the driver counts;
- the driver (this script): seeds one guild per shard, sends ``--rate`` guild @messages a second spread
  over the shards through the control API, and every ``--fault-every`` seconds injects the next fault
  on a random shard through the fault API: op 7 (then 4009), a dropped TCP connection, close 4009,
  malformed frames, a bad Hello before a drop, REST 500s, REST 429s, and op 9 (the session ends: the
  stream pauses until every message sent so far was handled, since events of an abandoned session are
  lost by design).

At the end the stream stops, every message sent must be handled exactly once (``lost`` and
``duplicated`` are counted), the bot stops on SIGTERM and must exit 0. The verdict compares RSS and
descriptors at the end with the sample half-way through (at least 15 s in): the bounded structures
(dedupe window, reply ledger) fill during the first minutes, a leak keeps growing after that.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import httpx
from anyio.streams.buffered import BufferedByteReceiveStream

from framework.emulator.config import DEFAULT_APP_ID as APP_ID
from framework.emulator.config import DEFAULT_APP_SECRET as APP_SECRET

REPLY_EVERY = 10
HEARTBEAT_MS = 5000


def guild_for(shard: int, shard_count: int) -> str:
    """A guild id routed to ``shard`` ((id >> 22) % count)."""
    return str((shard + 7 * shard_count) << 22)


def proc_figures() -> tuple[int, int]:
    """(RSS in KiB, open descriptors) of this process, from /proc/self."""
    rss = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return rss, len(os.listdir("/proc/self/fd"))


# -- the bot process ---------------------------------------------------------------------------------


async def bot_main(args: argparse.Namespace) -> int:
    import logging

    from framework.app import Bot
    from framework.models import Message
    from framework.runner import BotRunner
    from framework.runtime.credentials import Credentials
    from framework.runtime.platform import Platform

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    bot = Bot("soak", help=False)
    handled: list[str] = []
    replies = Counter[str]()

    @bot.on_at_message
    async def record(message: Message) -> None:
        content = (message.content or "").split()[-1]
        handled.append(content)
        if int(content[1:]) % REPLY_EVERY == 0:
            try:
                await message.reply(f"ack {content}")
            except Exception as exc:  # REST faults: counted, the handler carries on
                replies[f"failed {type(exc).__name__}"] += 1
            else:
                replies["ok"] += 1

    runner = BotRunner(bot, credentials=Credentials(APP_ID, APP_SECRET), platform=Platform.at(args.url))

    def status() -> dict[str, Any]:
        rss, fds = proc_figures()
        manager = runner.manager
        shards = manager.shards if manager is not None else []
        return {
            "rss_kb": rss,
            "fds": fds,
            "ready": all(s.state == "ready" for s in manager.status()) if manager is not None else False,
            "reconnects": sum(s.reconnects for s in manager.status()) if manager is not None else 0,
            "malformed": sum(s.machine.malformed_frames for s in shards),
            "replies": dict(replies),
        }

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async def report() -> None:
        while True:
            await anyio.sleep(0.2)
            if handled:
                batch = handled[:]
                del handled[: len(batch)]
                emit("handled " + " ".join(batch))
            emit("status " + json.dumps(status()))

    snapshots: list[Any] = []

    async def trace_memory() -> None:
        # --trace-memory: where the memory kept between a minute in and the end was allocated
        import tracemalloc

        tracemalloc.start(8)
        await anyio.sleep(60)
        snapshots.append(tracemalloc.take_snapshot())

    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with runner, anyio.create_task_group() as tg:
            with anyio.fail_after(60):
                await runner.wait_ready()
            emit("ready")
            tg.start_soon(report)
            if args.trace_memory:
                tg.start_soon(trace_memory)
            async for _ in signals:
                break
            tg.cancel_scope.cancel()
    if snapshots:
        import tracemalloc

        diff = tracemalloc.take_snapshot().compare_to(snapshots[0], "traceback")
        for stat in diff[:12]:
            print(f"MEMORY {stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks", file=sys.stderr)
            for line in stat.traceback.format()[-8:]:
                print("MEMORY   " + line, file=sys.stderr)
    if handled:
        emit("handled " + " ".join(handled))
    emit("final " + json.dumps(status()))
    return 0


# -- the driver --------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    sent: int
    handled: int
    rss_kb: int
    fds: int
    reconnects: int
    malformed: int
    replies_ok: int
    replies_failed: int
    faults: int
    emulator_rss_kb: int


@dataclass
class Soak:
    args: argparse.Namespace
    base: str
    http: httpx.AsyncClient
    bot_pid: int
    emulator_pid: int
    rng: random.Random
    sent: list[str] = field(default_factory=list)
    handled: Counter[str] = field(default_factory=Counter)
    status: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    send_errors: int = 0
    stream_open: anyio.Event = field(default_factory=anyio.Event)
    started: float = field(default_factory=time.monotonic)
    ready: anyio.Event = field(default_factory=anyio.Event)
    bot_gone: bool = False

    # bot output

    async def read_bot(self, stdout: anyio.abc.ByteReceiveStream) -> None:
        lines = BufferedByteReceiveStream(stdout)
        while True:
            try:
                line = (await lines.receive_until(b"\n", 1 << 24)).decode()
            except (anyio.EndOfStream, anyio.IncompleteRead):
                self.bot_gone = True
                self.ready.set()
                return
            kind, _, rest = line.partition(" ")
            if kind == "handled":
                self.handled.update(rest.split())
            elif kind == "status":
                self.status = json.loads(rest)
            elif kind == "final":
                self.final = json.loads(rest)
            elif kind == "ready":
                self.ready.set()

    def pending(self) -> int:
        return sum(1 for c in self.sent if not self.handled[c])

    async def wait_handled(self, limit: float) -> bool:
        with anyio.move_on_after(limit):
            while self.pending():  # noqa: ASYNC110 - polling counters fed by the bot's output
                await anyio.sleep(0.05)
            return True
        return False

    # stream

    async def produce(self, until: float) -> None:
        shards = self.args.shards
        interval = 1.0 / self.args.rate
        next_at = time.monotonic()
        n = 0
        while time.monotonic() < until:
            if not self.stream_open.is_set():
                await self.stream_open.wait()
                next_at = time.monotonic()
            content = f"s{n}"
            try:
                response = await self.http.post(
                    "/_emulator/act/channel_message",
                    json={"channel_id": f"soak-{n % shards}", "content": content, "mention_bot": True},
                )
                response.raise_for_status()
            except httpx.HTTPError:
                self.send_errors += 1
            else:
                self.sent.append(content)
            n += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)

    # faults

    async def gateway_fault(self, name: str, body: dict[str, Any]) -> None:
        (await self.http.post(f"/_emulator/gateway/faults/{name}", json=body)).raise_for_status()

    async def inject(self, kind: str) -> None:
        shard = self.rng.randrange(self.args.shards)
        if kind == "op7":
            await self.gateway_fault("reconnect", {"shard": shard})
        elif kind == "drop":
            await self.gateway_fault("drop", {"shard": shard})
        elif kind == "close4009":
            await self.gateway_fault("close", {"shard": shard, "code": 4009, "reason": "soak"})
        elif kind == "malformed":
            for frame in MALFORMED:
                await self.gateway_fault("raw", {"shard": shard, "frame": frame})
        elif kind == "bad_hello":
            await self.gateway_fault("hello", {"frame": '{"op": 10, "d": {"heartbeat_interval": 0}}'})
            await self.gateway_fault("drop", {"shard": shard})
        elif kind == "rest500":
            (await self.http.post("/_emulator/rest/faults/fail", json={"status": 500, "count": 3})).raise_for_status()
        elif kind == "rest429":
            (await self.http.post("/_emulator/rest/faults/rate_limit", json={"count": 2})).raise_for_status()
        elif kind == "op9":
            # the session ends: pause the stream until everything sent was handled, then invalidate it
            self.stream_open = anyio.Event()
            try:
                await self.wait_handled(30)
                before = self.status.get("reconnects", 0)
                await self.gateway_fault("invalid_session", {"shard": shard, "resumable": False})
                with anyio.move_on_after(30):
                    while not (self.status.get("reconnects", 0) > before and self.status.get("ready")):  # noqa: ASYNC110
                        await anyio.sleep(0.05)
            finally:
                self.stream_open.set()
        self.faults[kind] += 1

    async def fault_loop(self, until: float) -> None:
        kinds = list(FAULTS)
        while True:
            self.rng.shuffle(kinds)
            for kind in kinds:
                await anyio.sleep(self.args.fault_every)
                if time.monotonic() >= until:
                    return
                await self.inject(kind)

    # sampling

    def sample(self) -> Sample:
        replies = self.status.get("replies", {})
        return Sample(
            t=time.monotonic() - self.started,
            sent=len(self.sent),
            handled=sum(self.handled.values()),
            rss_kb=self.status.get("rss_kb", 0),
            fds=self.status.get("fds", 0),
            reconnects=self.status.get("reconnects", 0),
            malformed=self.status.get("malformed", 0),
            replies_ok=replies.get("ok", 0),
            replies_failed=sum(v for k, v in replies.items() if k != "ok"),
            faults=sum(self.faults.values()),
            emulator_rss_kb=rss_of(self.emulator_pid),
        )

    async def sample_loop(self, until: float) -> None:
        print(HEADER, flush=True)
        while time.monotonic() < until:
            await anyio.sleep(min(self.args.sample_every, max(0.0, until - time.monotonic())))
            row = self.sample()
            self.samples.append(row)
            print(format_row(row), flush=True)


MALFORMED = [
    "{not json",
    '{"op": 99, "d": {}}',
    "[1, 2, 3]",
    '{"op": 0, "d": {}, "id": "soak-no-t"}',
    '{"op": 0, "t": "AT_MESSAGE_CREATE", "s": "7", "id": "soak-bad-s", "d": {}}',
    "[" * 10_000 + "]" * 10_000,
]
FAULTS = ["op7", "drop", "close4009", "malformed", "bad_hello", "rest500", "rest429", "op9"]
HEADER = (
    f"{'t (s)':>7} {'sent':>8} {'handled':>8} {'bot RSS MiB':>11} {'fds':>5} {'reconn':>6} {'malformed':>9} "
    f"{'replies ok/failed':>17} {'faults':>6} {'emu RSS MiB':>11}"
)


def format_row(s: Sample) -> str:
    return (
        f"{s.t:7.0f} {s.sent:8d} {s.handled:8d} {s.rss_kb / 1024:11.1f} {s.fds:5d} {s.reconnects:6d} "
        f"{s.malformed:9d} {f'{s.replies_ok}/{s.replies_failed}':>17} {s.faults:6d} {s.emulator_rss_kb / 1024:11.1f}"
    )


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def driver_main(args: argparse.Namespace) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    emulator_cmd = [
        sys.executable,
        "-m",
        "framework.emulator",
        "--port",
        "0",
        "--shards",
        str(args.shards),
        "--heartbeat-interval",
        str(HEARTBEAT_MS),
        "--grant-intents",
        "all",
    ]
    emulator = await anyio.open_process(emulator_cmd, env=env, stderr=subprocess.DEVNULL)
    assert emulator.stdout is not None
    lines = BufferedByteReceiveStream(emulator.stdout)
    with anyio.fail_after(30):
        first = (await lines.receive_until(b"\n", 10_000)).decode()
    match = re.search(r"http://[\d.]+:\d+", first)
    if match is None:
        emulator.kill()
        raise SystemExit(f"soak: the emulator did not announce its URL: {first!r}")
    base = match.group(0)
    stderr_path = args.bot_stderr
    bot_exit: int | None = None
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
        for shard in range(args.shards):
            guild = guild_for(shard, args.shards)
            (
                await http.post("/_emulator/world/guilds", json={"guild_id": guild, "name": f"soak {shard}"})
            ).raise_for_status()
            (
                await http.post("/_emulator/world/channels", json={"guild_id": guild, "channel_id": f"soak-{shard}"})
            ).raise_for_status()
        with open(stderr_path, "wb") as bot_stderr:  # noqa: ASYNC230 - opened once, handed to the bot process
            bot = await anyio.open_process(
                [sys.executable, __file__, "--role", "bot", "--url", base]
                + (["--trace-memory"] if args.trace_memory else []),
                env=env,
                stderr=bot_stderr,
            )
            assert bot.stdout is not None
            soak = Soak(args, base, http, bot.pid, emulator.pid, random.Random(args.seed))
            soak.stream_open.set()
            print(
                f"soak: {args.minutes:g} min, {args.shards} shards, {args.rate:g} events/s, a fault every "
                f"{args.fault_every:g} s; emulator {base} (pid {emulator.pid}), bot pid {bot.pid}",
                flush=True,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(soak.read_bot, bot.stdout)
                with anyio.fail_after(90):
                    await soak.ready.wait()
                if soak.bot_gone:
                    raise SystemExit(f"soak: the bot exited before it was ready; see {stderr_path}")
                soak.started = time.monotonic()
                until = soak.started + args.minutes * 60
                async with anyio.create_task_group() as work:
                    work.start_soon(soak.produce, until)
                    work.start_soon(soak.fault_loop, until)
                    work.start_soon(soak.sample_loop, until)
                await http.delete("/_emulator/rest/faults")
                drained = await soak.wait_handled(60)
                await anyio.sleep(1.0)  # late duplicates, if any, show up now
                soak.samples.append(soak.sample())
                print(format_row(soak.samples[-1]) + "  (after the drain)", flush=True)
                bot.send_signal(signal.SIGTERM)
                with anyio.move_on_after(30):
                    bot_exit = await bot.wait()
                if bot_exit is None:
                    bot.kill()
                    bot_exit = await bot.wait()
                tg.cancel_scope.cancel()
    emulator.send_signal(signal.SIGINT)
    with anyio.move_on_after(10):
        await emulator.wait()
    if emulator.returncode is None:
        emulator.kill()
    await emulator.aclose()
    return verdict(soak, drained, bot_exit, stderr_path)


def verdict(soak: Soak, drained: bool, bot_exit: int | None, stderr_path: str) -> int:
    samples = soak.samples
    # Bounded structures (dedupe window, reply ledger: 10,000 entries each) fill during the first minutes;
    # a leak keeps growing after that, so the verdict compares the end with the middle of the run.
    half = max(15.0, soak.args.minutes * 30)
    baseline = next((s for s in samples if s.t >= half), samples[0])
    last = samples[-1]
    peak_rss = max(s.rss_kb for s in samples)
    lost = soak.pending()
    duplicated = sum(n - 1 for n in soak.handled.values() if n > 1)
    unexpected = len(set(soak.handled) - set(soak.sent))
    with open(stderr_path, errors="replace") as f:
        stderr = f.read()
    tracebacks = stderr.count("Traceback (most recent call last)")
    errors = sum(1 for line in stderr.splitlines() if line.startswith(("ERROR", "CRITICAL")))
    warnings = sum(1 for line in stderr.splitlines() if line.startswith("WARNING"))
    rss_growth = (last.rss_kb - baseline.rss_kb) / 1024
    fd_growth = last.fds - baseline.fds
    print()
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(soak.faults.items()))
    print(f"faults injected: {sum(soak.faults.values())} ({kinds})")
    print(
        f"events sent {len(soak.sent)}, handled {sum(soak.handled.values())}, lost {lost}, duplicated {duplicated}, "
        f"unexpected {unexpected}; control API send errors {soak.send_errors}"
    )
    replies = soak.final.get("replies", soak.status.get("replies"))
    print(f"replies ok {last.replies_ok}, failed {last.replies_failed} ({replies})")
    print(f"gateway reconnects {last.reconnects}, malformed frames counted {last.malformed}")
    print(
        f"bot RSS: {samples[0].rss_kb / 1024:.1f} MiB at {samples[0].t:.0f} s, {baseline.rss_kb / 1024:.1f} MiB at "
        f"{baseline.t:.0f} s (half-way), "
        f"{last.rss_kb / 1024:.1f} MiB at the end ({rss_growth:+.1f} MiB), peak {peak_rss / 1024:.1f} MiB"
    )
    print(f"bot open fds: {baseline.fds} at {baseline.t:.0f} s, {last.fds} at the end ({fd_growth:+d})")
    print(
        f"bot stderr: {warnings} WARNING, {errors} ERROR lines, {tracebacks} tracebacks ({stderr_path}); "
        f"exit code on SIGTERM {bot_exit}"
    )
    checks = {
        "no event lost": lost == 0 and drained,
        "no event duplicated": duplicated == 0 and unexpected == 0,
        f"RSS growth < {soak.args.max_rss_growth:g} MiB": rss_growth < soak.args.max_rss_growth,
        "fd growth <= 2": fd_growth <= 2,
        "no traceback": tracebacks == 0,
        "clean exit": bot_exit == 0,
    }
    ok = all(checks.values())
    print(
        "verdict: "
        + ("PASS" if ok else "FAIL")
        + " ("
        + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
        + ")"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the stream and faults run (default 10)")
    parser.add_argument("--quick", action="store_true", help="about a minute (--minutes 1)")
    parser.add_argument("--shards", type=int, default=4, help="shards of the bot (default 4)")
    parser.add_argument("--rate", type=float, default=100.0, help="events sent per second (default 100)")
    parser.add_argument("--fault-every", type=float, default=3.0, help="seconds between faults (default 3)")
    parser.add_argument(
        "--sample-every", type=float, default=None, help="seconds between samples (default 30; --quick 5)"
    )
    parser.add_argument("--seed", type=int, default=19, help="fault order and shard choice (default 19)")
    parser.add_argument(
        "--max-rss-growth", type=float, default=5.0, help="MiB of RSS growth allowed over the second half (default 5)"
    )
    parser.add_argument("--bot-stderr", default="/tmp/qqbot-soak-bot.log", help="where the bot's log goes")
    parser.add_argument(
        "--trace-memory", action="store_true", help="the bot traces allocations and logs what it kept after 1 min"
    )
    parser.add_argument("--role", choices=["driver", "bot"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes = 1.0
    if args.sample_every is None:
        args.sample_every = 5.0 if args.minutes <= 2 else 30.0
    if args.role == "bot":
        return anyio.run(bot_main, args)
    return anyio.run(driver_main, args)


if __name__ == "__main__":
    sys.exit(main())
