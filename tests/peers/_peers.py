"""Subprocess plumbing for the peer-SDK tests: ``qqbot emulator`` and peer bots, each in its own process.

Every process writes its output to a log file (no pipe to fill up), readiness is a line in that log,
every wait has a deadline, and every process is terminated (then killed) when its ``with`` block ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP_ID = "102000001"
SECRET = "peers-secret-0123"
GRANT = "GUILDS,GUILD_MEMBERS,PUBLIC_GUILD_MESSAGES,GROUP_AND_C2C_EVENT"
"""What the peer bots identify with: a new bot's intents plus the approved group/C2C one."""
GUILD_ID = "1001"
CHANNEL_ID = "2001"

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qqbot() -> list[str]:
    """The ``qqbot`` console script of this interpreter's environment (as a user runs it)."""
    script = Path(sys.executable).with_name("qqbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "framework"]


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: no QQBOT_* settings and no variables nonebot would read as its config."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, *, log: Proc | None = None) -> T:
    """Poll ``probe`` until it returns something other than None/False; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if log is not None and log.popen.poll() is not None:
            raise AssertionError(
                f"{log.name} exited with {log.popen.returncode} while waiting for {what}:\n{log.text()}"
            )
        if time.monotonic() > deadline:
            tail = f"\n--- {log.name} log ---\n{log.text()[-4000:]}" if log is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{tail}")
        time.sleep(0.05)


class Proc:
    """One child process whose stdout and stderr go to ``log_path``."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in the log (waits for it)."""
        rx = re.compile(pattern)
        return wait_for(f"{pattern!r} in the log", lambda: rx.search(self.text()), timeout, log=self)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


@contextmanager
def spawn(name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> Iterator[Proc]:
    """Start ``argv`` in ``log_dir`` and always end it with the block."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_dir)
    proc = Proc(name, popen, log_path)
    try:
        yield proc
    finally:
        proc.stop()


class Emulator:
    """``qqbot emulator`` in a subprocess, and an HTTP client for its control API."""

    def __init__(self, proc: Proc, url: str) -> None:
        self.proc = proc
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.post(path, json=body or {})
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def seed_guild(self) -> None:
        self.post("/_emulator/world/guilds", {"guild_id": GUILD_ID, "name": "peers"})
        self.post("/_emulator/world/channels", {"guild_id": GUILD_ID, "channel_id": CHANNEL_ID, "name": "general"})

    def identified(self, app_id: str = APP_ID) -> dict[str, Any] | None:
        """The gateway snapshot once ``app_id`` has a live identified connection."""
        snap: dict[str, Any] = self.get("/_emulator/gateway/sessions")
        ok = any(c["app_id"] == app_id and c["kind"] == "identify" for c in snap["connections"])
        return snap if ok else None

    def wait_reply(
        self, scene: str, target: str, msg_id: str, timeout: float = 15.0, *, log: Proc | None = None
    ) -> Any:
        """The bot's message in ``scene``/``target`` that answers ``msg_id``."""

        def probe() -> Any:
            return next(
                (m for m in self.get(f"/_emulator/sent/{scene}/{target}") if m["body"].get("msg_id") == msg_id), None
            )

        return wait_for(f"a reply to {msg_id} in {scene} {target}", probe, timeout, log=log)


@contextmanager
def emulator(log_dir: Path, *args: str, name: str = "emulator") -> Iterator[Emulator]:
    """``qqbot emulator --port 0 ARGS`` until its readiness line names its URL."""
    argv = [*qqbot(), "emulator", "--port", "0", *args]
    with spawn(name, argv, log_dir, clean_env()) as proc, ExitStack() as stack:
        url = proc.wait_line(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
        emu = Emulator(proc, url)
        stack.callback(emu.http.close)
        yield emu


def peer_script(name: str) -> list[str]:
    return [sys.executable, str(HERE / name)]


def ping_every_scene(emu: Emulator, *, peer: Proc) -> None:
    """Inject a group @message, a C2C message and a guild @message "/ping"; each gets "pong" in the emulator."""
    group = emu.post("/_emulator/act/group_at_message", {"content": "/ping", "group_openid": "G-PEERS"})
    c2c = emu.post("/_emulator/act/c2c_message", {"content": "/ping", "openid": "U-PEERS"})
    guild = emu.post(
        "/_emulator/act/channel_message", {"channel_id": CHANNEL_ID, "content": "/ping", "mention_bot": True}
    )
    at = guild["events"][0]
    assert at["type"] == "AT_MESSAGE_CREATE"
    for scene, target, event in (
        ("group", "G-PEERS", group),
        ("c2c", "U-PEERS", c2c),
        ("guild", CHANNEL_ID, at),
    ):
        reply = emu.wait_reply(scene, target, event["d"]["id"], log=peer)
        assert reply["body"]["content"] == "pong", reply
        assert reply["result"].get("id"), reply  # the emulator accepted it
