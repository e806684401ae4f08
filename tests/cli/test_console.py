"""The console of ``qqbot run`` (no credentials: embedded emulator + console), driven as a person would:
the real ``qqbot`` command in a subprocess on a pseudo-terminal, or with piped input."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = f"{ROOT / 'examples' / 'hello_bot.py'}:bot"
PROMPT = "[group g1 · alice] > ".encode()
LEFT, RIGHT, UP, BACKSPACE = b"\x1b[D", b"\x1b[C", b"\x1b[A", b"\x7f"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}


class Screen:
    """A process on a pseudo-terminal; answers cursor-position requests as a real terminal does."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        import pty

        self.master, slave = pty.openpty()

        def controlling_terminal() -> None:  # as a shell does: Ctrl-C in cooked mode sends SIGINT
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=_env(),
            cwd=cwd,
            close_fds=True,
            preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.seen = b""

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # the process closed the terminal
            return False
        if not chunk:
            return False
        self.seen += chunk
        for _ in range(chunk.count(b"\x1b[6n")):
            os.write(self.master, b"\x1b[1;1R")
        return True

    def read_until(self, needle: bytes, *, after: int = 0, timeout: float = 30.0) -> int:
        """Wait until ``needle`` shows up at or after offset ``after``; return the offset just past it."""
        deadline = time.monotonic() + timeout
        while (at := self.seen.find(needle, after)) < 0:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {needle!r}; screen so far:\n{self.seen.decode(errors='replace')}"
            if not self._pump(min(left, 0.2)) and self.seen.find(needle, after) < 0:
                raise AssertionError(f"the process ended before {needle!r}:\n{self.seen.decode(errors='replace')}")
        return at + len(needle)

    def type(self, *keys: bytes) -> None:
        for key in keys:  # one write per key, as a person types
            os.write(self.master, key)
            time.sleep(0.05)

    def exit_code_within(self, seconds: float) -> int:
        start = time.monotonic()
        while self.proc.poll() is None:
            assert time.monotonic() - start < seconds, (
                f"still running {seconds} s later; screen:\n{self.seen.decode(errors='replace')}"
            )
            self._pump(0.05)
        while self._pump(0.05) and time.monotonic() - start < seconds + 2:
            pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Screen]:
    screen = Screen([sys.executable, "-m", "framework", "run", EXAMPLE], tmp_path)
    try:
        screen.read_until(PROMPT)
        yield screen
    finally:
        screen.close()


def test_ctrl_c_at_the_prompt_exits_at_once(console: Screen) -> None:
    console.type(b"/ping\r")
    console.read_until(b"hello> pong")
    console.type(b"\x03")
    assert console.exit_code_within(2.0) == 0
    assert b"Traceback" not in console.seen


def test_sigint_and_sigterm_close_the_console_cleanly(tmp_path: Path) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        screen = Screen([sys.executable, "-m", "framework", "run", EXAMPLE], tmp_path)
        try:
            screen.read_until(PROMPT)
            screen.proc.send_signal(signum)
            assert screen.exit_code_within(3.0) == 0, signum
            assert b"Traceback" not in screen.seen
        finally:
            screen.close()


def test_line_editing_reaches_the_bot_edited(console: Screen) -> None:
    # "/pnig": two steps left, delete the "n", one step right, insert "n" -> "/ping"
    console.type(b"/pnig", LEFT, LEFT, BACKSPACE, RIGHT, b"n", b"\r")
    at = console.read_until(b"hello> pong")
    assert b"you said" not in console.seen and b"(no reply)" not in console.seen
    # the reply is coloured (green), unlike the console's own lines
    assert b"\x1b[0;32mhello> pong" in console.seen
    console.type(b"\x03")
    assert console.exit_code_within(2.0) == 0
    assert at


def test_up_arrow_recalls_the_previous_line(console: Screen) -> None:
    console.type(b"/roll 1\r")
    at = console.read_until(b"a die needs at least 2 sides")
    console.type(UP, b"\r")
    console.read_until(b"a die needs at least 2 sides", after=at)
    console.type(b"\x04")  # Ctrl-D on an empty line
    assert console.exit_code_within(2.0) == 0


def test_piped_input_still_works_without_escape_codes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "framework", "run", EXAMPLE],
        input="/ping\n:c2c bob\n/roll 1\n",
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello> pong" in proc.stdout
    assert "[c2c bob] > " in proc.stdout
    assert "a die needs at least 2 sides" in proc.stdout
    assert "\x1b[" not in proc.stdout


def test_sigint_while_waiting_for_piped_input_exits_at_once(tmp_path: Path) -> None:
    """Piped stdin that stays open (another program feeding the console): a signal still stops it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "framework", "run", EXAMPLE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"/ping\n")
        proc.stdin.flush()
        out = b""
        deadline = time.monotonic() + 30
        while b"hello> pong" not in out:
            assert time.monotonic() < deadline, out
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                out += os.read(proc.stdout.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=3)
        err = proc.stderr.read() if proc.stderr else b""
        assert code == 0, err
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("source", ["devnull", "file"])
def test_stdin_from_dev_null_or_a_file(tmp_path: Path, source: str) -> None:
    """`qqbot run BOT < /dev/null` (as under nohup or a service manager) ends cleanly at end of input, and so
    does input read from a regular file; neither can be polled, so the console reads them directly."""
    path = Path(os.devnull) if source == "devnull" else tmp_path / "input.txt"
    if source == "file":
        path.write_text("/ping\n", encoding="utf-8")
    with path.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "framework", "run", EXAMPLE],
            stdin=stdin,
            env=_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ("hello> pong" in proc.stdout) == (source == "file")
