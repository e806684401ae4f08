"""Pieces shared by the benchmarks: the workload, the emulator in its own process, qq-botpy's URL knobs.

- :func:`wire_frames`: N ``GROUP_AT_MESSAGE_CREATE`` dispatches (``d`` is 437 bytes of JSON, ≈530 bytes per
  frame on the wire; each message its own id, from 64 groups in turn) as unmasked server→client
  WebSocket text frames;
- :class:`EmulatorProcess`: the emulator served on ``127.0.0.1:0`` by a child process (this file run as a
  script) that obeys one-line commands on stdin and answers one JSON line per command, so the
  emulator never shares a core's time slice with the client being measured;
- :class:`Counter`: first and N-th handling time of a no-op handler;
- :func:`point_botpy_at`: qq-botpy 1.2.1's three base-URL knobs (protocol.md §12.1);
- :func:`rss_bytes`: this process's resident set size.

Commands of the emulator process (each answers one JSON line):

``prepare N``
    encode N frames for the live sessions (split evenly, each numbered after its session's seq);
``push``
    write every live session's prepared frames to its socket in 1 MiB chunks, all sessions at once;
    answers the wall and CPU seconds of the whole send;
``paced RATE SECONDS``
    open loop on the first live session: send ``RATE × SECONDS`` frames on schedule (every frame due by
    now is written in one go, never waiting for the client), recording when each was written
    (``time.monotonic()``, comparable across processes on Linux);
``pacedraw RATE SECONDS PORT``
    the same schedule into a plain TCP connection to ``127.0.0.1:PORT`` (seq from 1): the floor of the
    machine, for a reader with no framework runtime;
``sendrate N PORT``
    write N frames into a null reader on ``127.0.0.1:PORT`` (the emulator's own ceiling);
``sessions``
    how many sessions have a live connection, and their shard ids;
``quit``
    stop.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

EVENT = "GROUP_AT_MESSAGE_CREATE"
CHUNK = 65536
"""What one socket read returns under load: the bare limit feeds the parser in chunks of this size."""
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
GROUP = PAYLOAD["group_openid"]
"""The group the REST benchmark sends to (the emulator child adds it to its world)."""
GROUPS = [GROUP, *(f"{0xC9F778FE6ADF9D1D1DBE395BF744A33A + k:032X}" for k in range(1, 64))]
"""The events come from 64 groups in turn, as a bot in many groups sees them (per-chat order applies)."""


def frame_list(n: int, first_seq: int, tag: str) -> list[bytes]:
    """N dispatch frames as unmasked server→client WebSocket text frames (seq ``first_seq`` onwards)."""
    import msgspec

    from framework.models.envelope import encode_envelope
    from framework.protocol.wsframes import encode_frame

    encode = msgspec.json.encode
    base = PAYLOAD["id"]
    frames = []
    for i in range(n):
        # every message its own id (the platform's; dedupe keys on it) of the same length, groups in turn
        unique = f"{tag}-{i:09d}"
        group = GROUPS[i % len(GROUPS)]
        d = PAYLOAD | {"id": base[: len(base) - len(unique)] + unique, "group_id": group, "group_openid": group}
        envelope = encode_envelope(0, msgspec.Raw(encode(d)), s=first_seq + i, t=EVENT, id=f"{EVENT}:{tag}-{i}")
        frames.append(encode_frame(0x1, envelope, mask=False))
    return frames


def wire_frames(n: int, first_seq: int, tag: str) -> tuple[bytes, int]:
    """N dispatch frames as one buffer of unmasked server→client WebSocket text frames; and one frame's size."""
    frames = frame_list(n, first_seq, tag)
    return b"".join(frames), len(frames[0])


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``), else the peak from ``getrusage``."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


# -- the emulator process -------------------------------------------------------------------------


@dataclass
class EmulatorOptions:
    """How the emulator child is configured."""

    shards: int = 1
    """Shards ``/gateway/bot`` recommends."""
    max_concurrency: int = 1
    identify_window: float = 0.0
    """Seconds (emulator clock) per ``max_concurrency`` identifies; 0 = no pacing (throughput runs)."""
    clock_factor: float = 1.0
    """Run the emulator on ``ScaledClock(factor)`` (the client uses the same factor)."""
    allow_active_messages: bool = False


def serve_emulator(options: EmulatorOptions) -> None:
    """Child process: serve the emulator, print its URL, then obey the commands of the module docstring."""
    import anyio

    from framework.clock import ScaledClock, SystemClock
    from framework.emulator import Emulator, EmulatorConfig, GatewaySettings
    from framework.emulator.config import DEFAULT_APP_ID, SessionStartLimitConfig
    from framework.models import Intents

    async def write_blob(send: Any, blob: bytes) -> None:
        view = memoryview(blob)
        for i in range(0, len(blob), WRITE_CHUNK):
            await send(view[i : i + WRITE_CHUNK])

    def raw_send(session: Any) -> tuple[Any, Any]:
        """The socket WebSocket's lock and its stream's ``send``: write prepared wire bytes directly."""
        ws: Any = session.connection.ws
        ws = getattr(ws, "_ws", ws)  # under the gateway's frame-recording wrapper
        return ws._send_lock, ws._stream.send

    async def main() -> None:
        config = EmulatorConfig(
            shards=options.shards,
            session_start_limit=SessionStartLimitConfig(max_concurrency=options.max_concurrency),
            allow_active_messages=options.allow_active_messages,
        )
        config.grant(DEFAULT_APP_ID, int(Intents.GROUP_AND_C2C_EVENT))  # an approved bot (both SDKs)
        settings = GatewaySettings(client_rate_limit=None, identify_window=options.identify_window)
        clock = ScaledClock(options.clock_factor) if options.clock_factor != 1.0 else SystemClock()
        emulator = Emulator(config, clock=clock, gateway_settings=settings)
        emulator.world.add_group(GROUP)
        prepared: list[tuple[Any, bytes]] = []
        rounds = 0
        async with emulator.serve() as url:
            print(json.dumps({"url": url}), flush=True)
            stdin = anyio.wrap_file(sys.stdin)
            async for line in stdin:
                cmd, *args = line.split()
                live = [s for s in emulator.gateway.sessions.values() if s.connection is not None]
                live.sort(key=lambda s: s.shard_id)
                if cmd == "prepare":
                    assert live, "no live session"
                    rounds += 1
                    count = int(args[0])
                    prepared = []
                    for k, session in enumerate(live):
                        share = count // len(live) + (1 if k < count % len(live) else 0)
                        blob, _ = wire_frames(share, session.seq + 1, f"r{rounds}s{k}")
                        session.seq += share
                        prepared.append((session, blob))
                    answer: dict[str, Any] = {"prepared": count, "sessions": len(live)}
                elif cmd == "push":
                    start, cpu = time.perf_counter(), time.process_time()

                    async def push(session: Any, blob: bytes) -> None:
                        lock, send = raw_send(session)
                        async with lock:
                            await write_blob(send, blob)

                    async with anyio.create_task_group() as tg:
                        for session, blob in prepared:
                            tg.start_soon(push, session, blob)
                    answer = {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}
                elif cmd == "paced":
                    answer = await paced(live[0], float(args[0]), float(args[1]))
                elif cmd == "pacedraw":
                    answer = await paced_raw(float(args[0]), float(args[1]), int(args[2]))
                elif cmd == "sendrate":
                    n, port = int(args[0]), int(args[1])
                    data, _ = wire_frames(n, 1, "rate")
                    start, cpu = time.perf_counter(), time.process_time()
                    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                        await write_blob(stream.send, data)
                    answer = {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu, "n": n}
                elif cmd == "sessions":
                    answer = {
                        "sessions": len(live),
                        "shards": sorted({s.shard_id for s in live}),
                        # which connection serves each shard: a takeover shows as a new number
                        "connections": {
                            str(s.shard_id): s.connection.record.number for s in live if s.connection is not None
                        },
                    }
                elif cmd == "quit":
                    return
                else:
                    answer = {"error": f"unknown command {cmd!r}"}
                print(json.dumps(answer), flush=True)

    async def paced(session: Any, rate: float, seconds: float) -> dict[str, Any]:
        total = max(1, round(rate * seconds))
        first = session.seq + 1
        frames = frame_list(total, first, f"paced{first}")
        session.seq += total
        lock, send = raw_send(session)

        async def locked_send(data: bytes) -> None:
            async with lock:
                await send(data)

        return {"first_seq": first} | await send_on_schedule(locked_send, frames, rate)

    async def paced_raw(rate: float, seconds: float, port: int) -> dict[str, Any]:
        frames = frame_list(max(1, round(rate * seconds)), 1, "raw")
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            return {"first_seq": 1} | await send_on_schedule(stream.send, frames, rate)

    async def send_on_schedule(send: Any, frames: list[bytes], rate: float) -> dict[str, Any]:
        """Open loop: write every frame due by now in one go, then sleep until the next is due."""
        total = len(frames)
        sent = [0.0] * total
        lag = [0.0] * total
        cpu = time.process_time()
        t0 = time.monotonic() + 0.05
        done = 0
        while done < total:
            now = time.monotonic()
            due = min(total, int((now - t0) * rate) + 1) if now >= t0 else 0
            if due > done:
                await send(b"".join(frames[done:due]))
                for i in range(done, due):
                    sent[i] = now
                    lag[i] = now - (t0 + i / rate)
                done = due
            if done < total:
                await anyio.sleep(max(0.0, t0 + done / rate - time.monotonic()))
        wall = time.monotonic() - t0
        lag.sort()
        return {
            "sent": sent,
            "lag_p50": percentile(lag, 50),
            "lag_p99": percentile(lag, 99),
            "lag_max": lag[-1],
            "wall": wall,
            "cpu": time.process_time() - cpu,
        }

    anyio.run(main)


class EmulatorProcess:
    """The parent's handle on the emulator child process (use as a context manager)."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(asdict(self.options))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url: str = self.read()["url"]
        self._cpu0 = self.cpu_seconds()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended; its error is printed above")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"emulator: {result['error']}")
        return result

    def ask(self, line: str) -> dict[str, Any]:
        self.command(line)
        return self.read()

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the emulator process used so far (Linux ``/proc``; 0 elsewhere)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return 0.0

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.command("quit")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def emulator_send_rate(emu: EmulatorProcess, n: int) -> tuple[float, float]:
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
    report = emu.ask(f"sendrate {n} {port}")
    thread.join(10)
    listener.close()
    return n / report["wall"], report["cpu"] / n * 1e6


# -- measuring helpers ------------------------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of an ascending list (nearest rank)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


class Counter:
    """Counts handled events; records the first and the N-th handling time, wall clock and this process's CPU.

    CPU time per event is the steadier figure on a shared machine: other jobs lengthen the wall time of
    a round, much less the CPU the client spends on it.
    """

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.first = self.last = 0.0
        self.cpu_first = self.cpu_last = 0.0

    def hit(self) -> bool:
        """Count one event; True when the target is reached."""
        self.count += 1
        if self.count == 1:
            self.first, self.cpu_first = time.perf_counter(), time.process_time()
        if self.count == self.target:
            self.last, self.cpu_last = time.perf_counter(), time.process_time()
            return True
        return False

    def rate(self) -> float:
        """Events per second of wall time from the first to the last event."""
        return (self.target - 1) / (self.last - self.first)

    def cpu_us(self) -> float:
        """This process's CPU µs per event from the first to the last event."""
        return (self.cpu_last - self.cpu_first) / (self.target - 1) * 1e6


def runner_edge(url: str) -> dict[str, Any]:
    """``BotRunner`` keyword arguments for the emulator's default app at ``url`` (credentials and endpoints)."""
    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
    from framework.runtime.credentials import Credentials

    try:
        from framework.runtime.platform import Platform
    except ImportError:  # a tree from before the Platform value
        token_url = f"{url}/app/getAppAccessToken"
        return {"app_id": DEFAULT_APP_ID, "app_secret": DEFAULT_APP_SECRET, "api_base": url, "token_url": token_url}
    return {"credentials": Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), "platform": Platform.at(url)}


def token_manager(url: str) -> Any:
    """A ``TokenManager`` for the emulator's default app at ``url``."""
    from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
    from framework.runtime.credentials import Credentials, TokenManager

    credentials = Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
    try:
        from framework.runtime.platform import Platform
    except ImportError:  # a tree from before the Platform value
        return TokenManager(credentials, token_url=f"{url}/app/getAppAccessToken")
    return TokenManager(credentials, platform=Platform.at(url))


def point_botpy_at(url: str) -> None:
    """Point qq-botpy 1.2.1 at ``url``: REST scheme and host, and the token URL (a literal in botpy)."""
    import aiohttp
    from botpy import http as botpy_http  # type: ignore[import-untyped]
    from botpy import robot as botpy_robot

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


if __name__ == "__main__":
    serve_emulator(EmulatorOptions(**json.loads(sys.argv[1])))
