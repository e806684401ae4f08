"""Processes of the fleet tests: the emulator and ``qqbot run`` bot processes, with their output in files."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _redis import RedisServer, free_port, redis_binary  # noqa: F401 - re-exported for the fleet tests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BOT = f"{HERE / 'fleet_bot.py'}:bot"
APP_ID = "102000001"
APP_SECRET = "emulator-secret"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def wait_until(check: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class _Process:
    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None and needle not in self.output():
                raise AssertionError(f"{self} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")
            return needle in self.output()

        try:
            wait_until(seen, timeout, f"{needle!r} from {self}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- output of {self}:\n{self.output()[-3000:]}") from None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def interrupt(self, timeout: float = 30.0) -> int:
        """SIGINT, then wait for the exit code."""
        self.popen.send_signal(signal.SIGINT)
        return self.popen.wait(timeout)

    def __repr__(self) -> str:
        return f"{self.name}(pid {self.popen.pid})"


class EmulatorProcess(_Process):
    """``emulator_proc.py SHARDS MAX_CONCURRENCY``: the emulator in its own process, read over HTTP."""

    def __init__(self, tmp: Path, shards: int, max_concurrency: int) -> None:
        argv = [sys.executable, str(HERE / "emulator_proc.py"), str(shards), str(max_concurrency)]
        super().__init__("emulator", argv, tmp / "emulator.log", clean_env())
        self.wait_for("URL ", timeout=30)
        self.url = self.output().split("URL ", 1)[1].split()[0]
        self.shards = shards

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def _post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def gateway(self) -> dict[str, Any]:
        return dict(self._get("/_emulator/gateway/sessions"))

    def live(self) -> dict[int, dict[str, Any]]:
        """Shard -> its live authenticated connection."""
        out: dict[int, dict[str, Any]] = {}
        for c in self.gateway()["connections"]:
            if c["kind"] and c["closed_at"] is None:
                assert c["shard"][0] not in out, f"shard {c['shard'][0]} has two live sessions: {out} {c}"
                out[c["shard"][0]] = c
        return out

    def guild_message(self, shard: int, serial: int) -> str:
        """Emit a guild @message routed to ``shard``; its message id."""
        guild_id = str((shard + self.shards * (serial + 1)) << 22)
        message_id = f"fleet-{shard}-{serial}"
        d = {
            "id": message_id,
            "channel_id": "9001",
            "guild_id": guild_id,
            "content": "<@!6158788878435714165> hello",
            "author": {"id": "77", "username": "u", "bot": False},
            "timestamp": "2026-01-01T00:00:00+08:00",
        }
        self._post("/_emulator/act/emit", {"type": "AT_MESSAGE_CREATE", "d": d, "guild_id": guild_id})
        return message_id


class FleetProcess(_Process):
    """``qqbot run fleet_bot.py:bot --sessions URL`` against the emulator, INFO logs in a file."""

    def __init__(self, tmp: Path, name: str, emulator: EmulatorProcess, sessions: str, *extra: str) -> None:
        env = clean_env(
            QQBOT_APP_ID=APP_ID,
            QQBOT_APP_SECRET=APP_SECRET,
            QQBOT_API_BASE=emulator.url,
            QQBOT_TOKEN_URL=f"{emulator.url}/app/getAppAccessToken",
        )
        argv = [sys.executable, "-m", "framework", "run", BOT, "--sessions", sessions, "--log-level", "INFO", *extra]
        super().__init__(name, argv, tmp / f"{name}.log", env)

    def handled(self) -> set[str]:
        return {line.split()[1] for line in self.output().splitlines() if line.startswith("HANDLED ")}


def shards_json(sessions: str) -> list[dict[str, Any]]:
    """``qqbot shards --sessions URL --app-id APP --json``, run as a process."""
    argv = [sys.executable, "-m", "framework", "shards", "--sessions", sessions, "--app-id", APP_ID, "--json"]
    done = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def fleet_rows(sessions: str) -> list[dict[str, Any]]:
    """What ``qqbot shards --json`` prints, from the command's own function run in this process: the tests poll
    it, and an interpreter started per poll (≈0.7 s of CPU each) starved the fleet it watched on two cores."""
    from framework.cli.fleet import shards

    out = io.StringIO()
    args = argparse.Namespace(sessions=sessions, app_id=APP_ID, config=None, json=True)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code = shards(args, out=out)
    assert code == 0, err.getvalue()
    return list(json.loads(out.getvalue()))


def owners(sessions: str) -> dict[str, list[int]]:
    """Process id -> shards it holds a lease for, as ``qqbot shards --json`` reports them (:func:`fleet_rows`)."""
    out: dict[str, list[int]] = {}
    for row in fleet_rows(sessions):
        if row["owner"]:
            out.setdefault(row["owner"], []).append(row["shard"])
    return out


def overlaps(connections: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """``(shard, connection, connection)`` for every two authenticated connections of one shard that were open at
    the same time (emulator clock): two live sessions for one shard."""
    by_shard: dict[int, list[tuple[float, float, int]]] = {}
    for c in connections:
        if c["kind"] and c["shard"]:
            end = c["closed_at"] if c["closed_at"] is not None else float("inf")
            by_shard.setdefault(c["shard"][0], []).append((c["opened_at"], end, c["number"]))
    found = []
    for shard, spans in by_shard.items():
        for i, (start_a, end_a, a) in enumerate(spans):
            for start_b, end_b, b in spans[i + 1 :]:
                if start_a < end_b and start_b < end_a:
                    found.append((shard, a, b))
    return found


class Proxy:
    """A TCP proxy on a free port to ``127.0.0.1:target``, in threads. :meth:`cut` stops forwarding in both
    directions while keeping the connections open (a partition: the client sees silence, not a reset);
    :meth:`heal` forwards again."""

    def __init__(self, target: int) -> None:
        import socket
        import threading

        self.target = target
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        while not self._closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            while self._cut.is_set() and not self._closed.is_set():  # hold the bytes: silence, no reset
                time.sleep(0.05)
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.close()

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        """Forward again, on fresh connections: the held ones are dropped (a client timed them out anyway)."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets = []
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self.heal()
