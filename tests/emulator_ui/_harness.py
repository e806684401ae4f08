"""What the browser tests share: a real Chromium, a bot served on the emulator over loopback sockets,
``qqbot`` subprocesses, and the artifacts folder for screenshots.

The bot and its emulator run in a blocking portal (their own event loop in a thread, asyncio or trio),
so that Playwright's synchronous API drives the browser from the test's thread.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from anyio.from_thread import start_blocking_portal
from playwright.sync_api import Browser, Page, Playwright

from framework import Bot
from framework.emulator import EmulatorConfig
from framework.testing import Chat, connect

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
"""Screenshots of every run (ignored by git)."""
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
VIEWPORT = {"width": 1400, "height": 900}


def launch_chromium(pw: Playwright) -> Browser:
    """Headless Chromium: the system's (Debian's ``chromium``) when installed, else Playwright's own."""
    for path in SYSTEM_CHROMIUM:
        if Path(path).is_file():
            return pw.chromium.launch(executable_path=path)
    try:
        return pw.chromium.launch()
    except Exception as exc:
        raise RuntimeError(
            "no Chromium for the browser tests: install it with `apt-get install -y chromium` or "
            "`python -m playwright install chromium` (scripts/test.sh does this)"
        ) from exc


@contextmanager
def served(bot: Bot, backend: str = "asyncio", config: EmulatorConfig | None = None) -> Iterator[Chat]:
    """Run ``bot`` against an emulator served on a loopback port, in a thread; yield its :class:`Chat`."""
    with start_blocking_portal(backend) as portal:
        manager = portal.wrap_async_context_manager(connect(bot, transport="loopback", timeout=10.0, config=config))
        with manager as chat:
            yield chat


def open_page(browser: Browser, base_url: str, *, height: int = VIEWPORT["height"]) -> Page:
    """The emulator's web page, loaded (its first state fetched and the live feed connected)."""
    page = browser.new_page(viewport={"width": VIEWPORT["width"], "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/_emulator/ui")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.wait_for_selector("#live.on", timeout=15_000)
    assert not errors, errors
    return page


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under :data:`ARTIFACTS`."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# -- qqbot subprocesses ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``QQBOT_*`` (so ``qqbot run`` finds no credentials), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Qqbot:
    """``python -m framework ARGS`` as a subprocess whose output is read as it comes."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "framework", *args],
            cwd=cwd,
            env=env or clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.popen.stdout is not None
        os.set_blocking(self.popen.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.popen.stdout, selectors.EVENT_READ)
        self.output = ""

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Read output until ``pattern`` (a regex) matches; fail with the output so far."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.output)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output:\n{self.output}")
            if not self._sel.select(min(left, 0.2)):
                if self.popen.poll() is not None:
                    raise AssertionError(f"exited {self.popen.returncode} before {pattern!r}; output:\n{self.output}")
                continue
            assert self.popen.stdout is not None
            self.output += (self.popen.stdout.read() or b"").decode(errors="replace")
        return found

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT, then the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"did not stop on SIGINT; output:\n{self.output}") from None

    def __enter__(self) -> Qqbot:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._sel.close()
        assert self.popen.stdout is not None
        self.popen.stdout.close()


def scaffold(tmp_path: Path) -> Path:
    """``qqbot new`` a project (no plugin) under ``tmp_path``; its folder."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "framework",
            "new",
            "--no-input",
            "-o",
            str(tmp_path),
            "bot_name=Scaffold Bot",
            "include_plugin=no",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "scaffold-bot"
    assert (project / "src" / "scaffold_bot" / "bot.py").is_file()
    return project


def which_chromium() -> str | None:
    """The system Chromium used, if any (for messages)."""
    return next((p for p in SYSTEM_CHROMIUM if Path(p).is_file()), None) or shutil.which("chromium")
