"""Helpers for running ``qqbot`` as a real subprocess: environment, free ports, readiness lines."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = f"{ROOT / 'examples' / 'hello_bot.py'}:bot"
QQBOT = [sys.executable, "-m", "framework"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any ``QQBOT_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion and capture its output."""
    return subprocess.run(
        list(argv), cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


class Proc:
    """A long-running subprocess whose stdout and stderr are read as they come."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            list(argv), cwd=cwd, env=env or clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.out = b""
        self.err = b""
        self._sel = selectors.DefaultSelector()
        assert self.popen.stdout is not None and self.popen.stderr is not None
        os.set_blocking(self.popen.stdout.fileno(), False)
        os.set_blocking(self.popen.stderr.fileno(), False)
        self._sel.register(self.popen.stdout, selectors.EVENT_READ, "out")
        self._sel.register(self.popen.stderr, selectors.EVENT_READ, "err")

    @property
    def text(self) -> str:
        """Everything read so far, stdout then stderr."""
        return (self.out + self.err).decode(errors="replace")

    def _pump(self, timeout: float) -> bool:
        got = False
        for key, _ in self._sel.select(timeout):
            data = key.fileobj.read()  # type: ignore[union-attr]
            if data:
                got = True
                if key.data == "out":
                    self.out += data
                else:
                    self.err += data
        return got

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        """Read until ``needle`` shows in stdout or stderr (fail with the output so far)."""
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.out + self.err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; output so far:\n{self.text}")
            if not self._pump(min(left, 0.2)) and self.popen.poll() is not None:
                self._pump(0)
                if needle.encode() in self.out + self.err:
                    return
                raise AssertionError(f"exited {self.popen.returncode} before {needle!r}; output:\n{self.text}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code, reading the rest of the output."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"did not exit after {signal.Signals(sig).name}; output:\n{self.text}")
            self._pump(0.1)
        while self._pump(0):
            pass
        return int(self.popen.returncode)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to end on its own."""
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"did not exit; output:\n{self.text}")
            self._pump(0.1)
        while self._pump(0):
            pass
        return int(self.popen.returncode)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self._sel.close()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
