"""``qqbot run --reload``: restart the bot whenever its source changes, keeping the emulator's world.

The parent process owns what must survive a reload: the embedded emulator (served on loopback, so its
messages, users, groups and id counters persist) and the console. The bot runs in a child process, a
plain ``qqbot run BOT`` that reaches the emulator as it would reach the platform: through the
``QQBOT_APP_ID``/``QQBOT_APP_SECRET``/``QQBOT_API_BASE``/``QQBOT_TOKEN_URL`` variables. When a watched
file changes (``*.py``, ``*.toml``, ``.env*`` under the bot's directory and the working directory) the
child is stopped (SIGTERM, SIGKILL after ``STOP_TIMEOUT`` seconds) and started again. ``qqbot run``
loads the bot once before it gets here (a broken bot fails as usual); after that only children import
it, and a child that fails is reported and restarted after the next change.

The bot's intents may change with its code, so the emulator the parent serves grants every intent.
With credentials configured (and no ``--emulator``) there is no emulator: only the child is restarted.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from framework.cli.console import EmulatorSession, Kind, Session, _terminal, run_console_session
from framework.runtime.gateway.signals import wait_for_signal

if TYPE_CHECKING:
    from framework.emulator import Emulator

__all__ = ["STOP_TIMEOUT", "Supervisor", "child_argv", "run_reload", "watched_paths"]

log = logging.getLogger("framework.cli.reload")

STOP_TIMEOUT = 5.0
"""Seconds a stopping bot gets to close its sessions before it is killed."""

_READY = re.compile(r"bot '([^']+)' is ready")
_WATCHED_SUFFIXES = (".py", ".toml")


def watched_paths(bot_ref: str, cwd: Path | None = None) -> list[Path]:
    """The directories to watch for ``bot_ref``: the bot file's directory (``file.py:attr``) and the
    working directory (modules named ``package.module:attr`` are imported from there)."""
    here = (cwd or Path.cwd()).resolve()
    paths = [here]
    target = bot_ref.partition(":")[0]
    if target.endswith(".py") or "/" in target or "\\" in target:
        parent = Path(target).resolve().parent
        if parent.is_dir() and not parent.is_relative_to(here):
            paths.insert(0, parent)
    return paths


def _watch_filter() -> Callable[[Any, str], bool]:
    from watchfiles import DefaultFilter

    base = DefaultFilter()  # skips .git, __pycache__, .venv, editor swap files, ...

    def accept(change: Any, path: str) -> bool:
        name = os.path.basename(path)
        return base(change, path) and (name.endswith(_WATCHED_SUFFIXES) or name.startswith(".env"))

    return accept


def child_argv(args: argparse.Namespace, *, console: bool, platform: bool = False) -> list[str]:
    """The ``qqbot run`` command line of the child: the same bot and options, without reloading.

    ``platform``: the child connects to the platform itself (credentials, no ``--emulator``), so the
    transport options go along; otherwise it reaches the parent's emulator over the gateway.
    """
    argv = [sys.executable, "-m", "framework", "run", args.bot]
    level = args.log_level or (None if not console else "WARNING")
    options: list[tuple[str, Any]] = [
        ("--config", args.config),
        ("--profile", getattr(args, "profile", None)),
        ("--log-level", level),
        ("--log-format", args.log_format),
        ("--shard-count", args.shard_count),
        ("--shard-ids", args.shard_ids),
        ("--metrics-port", getattr(args, "metrics_port", None)),  # each child serves them (the parent has no bot)
    ]
    if platform:
        options += [
            ("--transport", getattr(args, "transport", None)),
            ("--host", getattr(args, "host", None)),
            ("--port", getattr(args, "port", None)),
        ]
    for flag, value in options:
        if value is not None:
            argv += [flag, str(value)]
    return argv


class Supervisor:
    """Runs the bot's child process, restarts it on source changes, and reports what happens."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        paths: Sequence[Path],
        show: Callable[[str, Kind], None],
        *,
        console: bool,
    ) -> None:
        self.argv = list(argv)
        self.env = env
        self.paths = list(paths)
        self.show = show
        self.console = console
        self.bot_name = "bot"
        self.ready = anyio.Event()
        """Set when the first child said it is ready."""
        self.on_name: Callable[[str], None] | None = None
        self._changed: int | None = None

    async def run(self) -> None:
        """Start the bot, and restart it after every batch of changes (until cancelled)."""
        from watchfiles import awatch

        changes: anyio.abc.ObjectSendStream[int]
        changes, received = anyio.create_memory_object_stream[int](16)

        async def watch() -> None:
            async with changes:
                async for batch in awatch(*self.paths, watch_filter=_watch_filter(), debounce=300, step=50):
                    await changes.send(len(batch))

        async with anyio.create_task_group() as tg, received:
            tg.start_soon(watch)
            while True:
                async with self._child():
                    count = await received.receive()
                    while True:  # one restart for changes saved together
                        try:
                            count += received.receive_nowait()
                        except anyio.WouldBlock:
                            break
                self._changed = count
                if not self.console:
                    self.show(f"{count} file(s) changed: restarting the bot", "info")

    @asynccontextmanager
    async def _child(self) -> AsyncIterator[None]:
        process = await anyio.open_process(
            self.argv,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,  # Ctrl-C on the terminal is the parent's to handle, not the bot's
        )
        stopping = False

        async def report_exit() -> None:
            code = await process.wait()
            if not stopping:
                self.show(f"! the bot exited with code {code}; save a change to restart it", "error")

        async with anyio.create_task_group() as tg:
            tg.start_soon(self._pump, process.stdout, "info")
            tg.start_soon(self._pump, process.stderr, "log")
            tg.start_soon(report_exit)
            try:
                yield
            finally:
                stopping = True
                with anyio.CancelScope(shield=True):
                    await _stop(process)
                tg.cancel_scope.cancel()

    async def _pump(self, stream: anyio.abc.ByteReceiveStream | None, kind: Kind) -> None:
        if stream is None:
            return
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                self._line(raw.decode(errors="replace").rstrip("\r"), kind)
        if buffer:
            self._line(buffer.decode(errors="replace"), kind)

    def _line(self, line: str, kind: Kind) -> None:
        ready = _READY.search(line)
        if ready:
            self.bot_name = ready.group(1)
            if self.on_name is not None:
                self.on_name(self.bot_name)
            if self._changed is not None:
                self.show(f"reloaded ({self._changed} file{'s' if self._changed != 1 else ''} changed)", "info")
                self._changed = None
            self.ready.set()
            if self.console:  # the console has its own banner
                return
        self.show(line, kind)


async def _stop(process: anyio.abc.Process) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` seconds."""
    if process.returncode is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        return
    with anyio.move_on_after(STOP_TIMEOUT):
        await process.wait()
        return
    log.warning("the bot did not stop within %g s of SIGTERM: killing it", STOP_TIMEOUT)
    process.kill()
    await process.wait()


def dev_emulator() -> Emulator:
    """The emulator served by the reloading parent; it grants every intent (the bot's may change on reload)."""
    from framework.emulator import Emulator, EmulatorConfig
    from framework.models.intents import ALL_INTENTS

    config = EmulatorConfig()
    config.allowed_intents = dict.fromkeys(config.apps, int(ALL_INTENTS))
    return Emulator(config)


def _emulator_env(emu: Emulator, url: str) -> dict[str, str]:
    from framework.runtime.platform import Platform
    from framework.testing.edge import emulator_credentials

    credentials, platform = emulator_credentials(emu), Platform.at(url)
    env = {k: v for k, v in os.environ.items() if k != "QQBOT_SANDBOX"}
    env.update(
        QQBOT_APP_ID=credentials.app_id,
        QQBOT_APP_SECRET=credentials.app_secret,
        QQBOT_API_BASE=platform.api_base,
        QQBOT_TOKEN_URL=platform.token_url,
        QQBOT_TRANSPORT="websocket",
    )
    return env


async def _until_signal(scope: anyio.CancelScope) -> None:
    await wait_for_signal(announce=False)
    scope.cancel()


async def run_reload(args: argparse.Namespace, *, use_emulator: bool, console: bool) -> int:
    """``qqbot run --reload``: supervise the bot's child process (see the module docstring); returns the
    exit code (0 after Ctrl-C, SIGINT, SIGTERM or ``:quit``)."""
    paths = watched_paths(args.bot)
    if use_emulator and getattr(args, "transport", None) == "webhook":
        log.warning("with --reload the bot reaches the embedded emulator over the gateway; --transport ignored")
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # we say what changed ourselves
    argv = child_argv(args, console=console, platform=not use_emulator)

    def plain(text: str, kind: Kind) -> None:
        print(text, file=sys.stderr if kind in ("log", "error") else sys.stdout, flush=True)

    async def without_console() -> int:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_until_signal, tg.cancel_scope)
            if not use_emulator:
                plain(f"watching {', '.join(map(str, paths))} for changes", "info")
                await Supervisor(argv, dict(os.environ), paths, plain, console=False).run()
                return 0
            emu = dev_emulator()
            async with emu.serve("127.0.0.1", args.emulator_port) as url:
                pages = f"web page: {url}/_emulator/ui; control API: {url}/_emulator/"
                plain(f"emulator serving on {url} ({pages})", "info")
                plain(f"watching {', '.join(map(str, paths))} for changes", "info")
                await Supervisor(argv, _emulator_env(emu, url), paths, plain, console=False).run()
        return 0

    async def with_console() -> int:
        emu = dev_emulator()
        with _terminal(None, None) as term:

            @asynccontextmanager
            async def start() -> AsyncIterator[Session]:
                async with emu.serve("127.0.0.1", args.emulator_port) as url, anyio.create_task_group() as tg:
                    supervisor = Supervisor(argv, _emulator_env(emu, url), paths, term.show, console=True)
                    tg.start_soon(supervisor.run)
                    with anyio.move_on_after(60):
                        await supervisor.ready.wait()
                    session = EmulatorSession(supervisor.bot_name, emu)

                    def rename(name: str) -> None:
                        session.name = name

                    supervisor.on_name = rename
                    yield session
                    tg.cancel_scope.cancel()

            async def replies(session: Session, show: Callable[[str, Kind], None]) -> None:
                assert isinstance(session, EmulatorSession)
                await session.watch(show)

            dirs = ", ".join(map(str, paths))
            return await run_console_session(
                start,
                term,
                banner=f"qqbot console: the bot reloads when files under {dirs} change (emulator: {emu.url})",
                background=replies,
            )

    return await (with_console() if console else without_console())
