"""The interactive console of ``qqbot run`` on the embedded emulator: type as a user, see the bot's replies.

Lines starting with ``:`` are console commands (``:help`` lists them); anything else is sent to the bot
in the current scene as the current user. The console is built on the emulator test client, so what
you see here is what a test sees.

On a terminal the prompt is prompt_toolkit's: line editing, in-memory history (up/down arrows), the
bot's replies in colour, and log lines printed above the prompt instead of through it. Piped input is
read line by line (no editing, no colour), so scripted use works. Ctrl-C, Ctrl-D, ``:quit``, SIGINT and
SIGTERM all stop the console and the bot cleanly with exit code 0.
"""

from __future__ import annotations

import codecs
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

import anyio

from framework.app import Bot
from framework.runtime.gateway.signals import wait_for_signal

if TYPE_CHECKING:
    from framework.emulator import Emulator
    from framework.testing import Chat

__all__ = ["ConsoleState", "EmulatorSession", "Session", "run_console", "run_console_session"]

Kind = Literal["info", "reply", "error", "log"]

HELP = """\
console commands (anything else is sent to the bot):
  :group [GROUP]      group chat (messages @mention the bot)     default g1
  :c2c [USER]         one-to-one chat with USER
  :channel [CHANNEL]  guild text channel (messages @mention the bot)
  :dm [USER]          guild direct message
  :user NAME          speak as NAME from now on
  :plain              in groups and channels, stop @mentioning the bot (:at to mention again)
  :click DATA         click a button carrying DATA
  :where              show the current scene and user
  :help               this text
  :quit               stop (Ctrl-D and Ctrl-C too)"""


@dataclass
class ConsoleState:
    """Where the next line goes."""

    scene: str = "group"
    target: str = "g1"
    user: str = "alice"
    mention: bool = True

    def prompt(self) -> str:
        at = "" if self.mention or self.scene in {"c2c", "dm"} else " (no @)"
        if self.scene in {"c2c", "dm"}:
            return f"[{self.scene} {self.target}]{at} > "
        return f"[{self.scene} {self.target} · {self.user}]{at} > "


_DEFAULT_TARGET = {"group": "g1", "c2c": "alice", "channel": "c1", "dm": "alice"}


def apply_command(state: ConsoleState, line: str) -> str | None:
    """Apply a ``:command``; return text to print, or None to quit. Raises ValueError on bad input."""
    name, _, arg = line[1:].strip().partition(" ")
    arg = arg.strip()
    if name in {"quit", "exit", "q"}:
        return None
    if name == "help":
        return HELP
    if name in _DEFAULT_TARGET:
        state.scene = name
        state.target = arg or _DEFAULT_TARGET[name]
        if name in {"c2c", "dm"}:
            state.user = state.target
        return f"now in {name} {state.target}"
    if name == "user":
        if not arg:
            raise ValueError(":user needs a NAME")
        state.user = arg
        if state.scene in {"c2c", "dm"}:
            state.target = arg
        return f"speaking as {arg}"
    if name == "plain":
        state.mention = False
        return "messages no longer @mention the bot"
    if name == "at":
        state.mention = True
        return "messages @mention the bot"
    if name == "where":
        return state.prompt().rstrip("> ").strip()
    raise ValueError(f"unknown console command :{name} (try :help)")


class Session(Protocol):
    """What the console talks to: a bot running on an emulator."""

    name: str
    """The bot's name (prefix of its replies)."""
    emulator: Emulator

    async def send(self, state: ConsoleState, line: str) -> None:
        """Deliver ``line`` (or a ``:click``) to the bot as the current user in the current scene."""
        ...

    async def collect(self) -> tuple[list[str], list[str]] | None:
        """Wait for the bot to answer; return (replies, handler errors), or None if replies are
        printed as they arrive (see ``on_reply``)."""
        ...


class _ChatSession:
    """The bot running in this process under the test client: replies are known exactly."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.name = chat.bot.name
        self.emulator = chat.emulator

    async def send(self, state: ConsoleState, line: str) -> None:
        await _send(self.emulator, state, line)

    async def collect(self) -> tuple[list[str], list[str]] | None:
        replies = await self.chat.replies()
        return replies, [str(f) for f in await self.chat.errors()]


class EmulatorSession:
    """A bot in another process (``qqbot run --reload``): the console sees only the emulator, so the
    bot's messages are printed as they arrive; after a line it waits briefly for the first answers."""

    def __init__(self, name: str, emulator: Emulator, *, wait: float = 3.0, quiet: float = 0.3) -> None:
        self.name = name
        self.emulator = emulator
        self.wait = wait
        self.quiet = quiet
        self._seen = len(emulator.world.sent_by_id)

    async def send(self, state: ConsoleState, line: str) -> None:
        await _send(self.emulator, state, line)

    async def collect(self) -> None:
        # give the bot ``wait`` seconds to start answering, then until it is ``quiet``
        before = len(self.emulator.world.sent_by_id)
        with anyio.move_on_after(self.wait):
            while len(self.emulator.world.sent_by_id) == before:  # noqa: ASYNC110 - the bot is another process
                await anyio.sleep(0.02)
        count = -1
        while count != len(self.emulator.world.sent_by_id):
            count = len(self.emulator.world.sent_by_id)
            await anyio.sleep(self.quiet)
        return None

    async def watch(self, show: Callable[[str, Kind], None]) -> None:
        """Print every message the bot sends, as it arrives (runs until cancelled)."""
        while True:
            messages = list(self.emulator.world.sent_by_id.values())
            for msg in messages[self._seen :]:
                show(f"{self.name}> {msg.content or '(a message without text)'}", "reply")
            self._seen = len(messages)
            await anyio.sleep(0.05)


# -- terminal input and output ------------------------------------------------------------------


class _Terminal(Protocol):
    async def read(self, prompt: str) -> str | None:
        """The next line (without the newline), or None at end of input or on Ctrl-C."""
        ...

    def show(self, text: str, kind: Kind = "info") -> None: ...


class _PlainTerminal:
    """Piped (or in-memory) input and output: plain lines, no escape codes.

    Reading waits for the file descriptor to be readable instead of parking a thread in ``readline``,
    so cancellation (Ctrl-C, SIGTERM) takes effect at once.
    """

    def __init__(self, inp: TextIO, out: TextIO) -> None:
        self.inp = inp
        self.out = out
        self._buffer = ""
        self._eof = False
        self._decoder = codecs.getincrementaldecoder(getattr(inp, "encoding", None) or "utf-8")(errors="replace")
        try:
            self._fd: int | None = inp.fileno()
            # only pipes, sockets and terminals can be polled; regular files and devices such as
            # /dev/null never block: read those directly
            mode = os.fstat(self._fd).st_mode
            pollable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(self._fd))
            if not pollable:
                self._fd = None
        except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
            self._fd = None

    async def read(self, prompt: str) -> str | None:
        self.out.write(prompt)
        self.out.flush()
        if self._fd is None:
            await anyio.lowlevel.checkpoint()
            line = self.inp.readline()
            return line.rstrip("\r\n") if line else None
        while "\n" not in self._buffer and not self._eof:
            await anyio.wait_readable(self._fd)
            chunk = os.read(self._fd, 65536)
            if chunk:
                self._buffer += self._decoder.decode(chunk)
            else:
                self._eof = True
                self._buffer += self._decoder.decode(b"", final=True)
        if not self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition("\n")
        return line.rstrip("\r")

    def show(self, text: str, kind: Kind = "info") -> None:
        self.out.write(text + "\n")
        self.out.flush()


_STYLE = {"info": "", "reply": "ansigreen", "error": "ansired", "log": "ansibrightblack"}


class _PromptTerminal:
    """A terminal: prompt_toolkit's line editor with history; replies and errors in colour."""

    def __init__(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import InMemoryHistory

        self.session: PromptSession[str] = PromptSession(history=InMemoryHistory())

    async def read(self, prompt: str) -> str | None:
        from prompt_toolkit.formatted_text import FormattedText

        try:
            # SIGINT is the console's own business (see run_console_session); in the editor Ctrl-C is a key
            return await self.session.prompt_async(FormattedText([("ansicyan", prompt)]), handle_sigint=False)
        except (EOFError, KeyboardInterrupt):  # Ctrl-D, Ctrl-C
            return None

    def show(self, text: str, kind: Kind = "info") -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        print_formatted_text(FormattedText([(_STYLE[kind], text)]))


@contextmanager
def _terminal(inp: TextIO | None, out: TextIO | None) -> Iterator[_Terminal]:
    """prompt_toolkit on a real terminal (stdin and stdout both TTYs), plain lines otherwise."""
    stdin, stdout = inp or sys.stdin, out or sys.stdout
    if inp is not None or out is not None or not (stdin.isatty() and stdout.isatty()):
        yield _PlainTerminal(stdin, stdout)
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    with patch_stdout(raw=True):
        # log handlers hold the stream they were made with: point ours at the patched stderr so
        # log lines are printed above the prompt rather than through it
        moved: list[tuple[logging.StreamHandler[Any], Any]] = []
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.__stderr__, sys.__stdout__):
                moved.append((handler, handler.setStream(sys.stderr)))
        try:
            yield _PromptTerminal()
        finally:
            for handler, old in moved:
                handler.setStream(old)


# -- the console --------------------------------------------------------------------------------


async def run_console(bot: Bot, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run ``bot`` on a fresh embedded emulator (over loopback) and chat with it until EOF, ``:quit``,
    Ctrl-C or SIGTERM (exit code 0 in every case)."""
    from framework.testing import connect

    with _terminal(stdin, stdout) as term:

        @asynccontextmanager
        async def started() -> AsyncIterator[Session]:
            async with connect(bot, transport="loopback", timeout=30.0, check_errors=False) as chat:
                yield _ChatSession(chat)

        return await run_console_session(started, term)


async def run_console_session(
    start: Callable[[], Any],
    term: _Terminal,
    *,
    banner: str | None = None,
    background: Callable[[Session, Callable[[str, Kind], None]], Coroutine[Any, Any, None]] | None = None,
) -> int:
    """The console loop over the session ``start()`` opens (an async context manager), until EOF,
    ``:quit``, Ctrl-C, SIGINT or SIGTERM; closes the session cleanly and returns 0.

    ``background(session, show)``, if given, runs beside the loop (e.g. printing replies as they arrive).
    """
    loop_scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            await wait_for_signal(announce=False)
            # in the loop: leave it and close the session normally; while starting: give up
            (loop_scope if started else tg.cancel_scope).cancel()

        started = False
        tg.start_soon(on_signal)
        async with start() as session:
            url = session.emulator.url
            where = f"{url}; web page: {url}/_emulator/ui"
            term.show(banner or f"qqbot console: bot {session.name!r} is running on the embedded emulator ({where})")
            term.show("type a message, or :help for console commands (Ctrl-D or Ctrl-C to quit)")
            if background is not None:
                tg.start_soon(background, session, term.show)
            started = True
            with loop_scope:
                await _loop(session, term)
        tg.cancel_scope.cancel()
    return 0


async def _loop(session: Session, term: _Terminal) -> None:
    state = ConsoleState()
    while True:
        line = await term.read(state.prompt())
        if line is None:
            term.show("")
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith(":") and not line.startswith(":click"):
            try:
                reply = apply_command(state, line)
            except ValueError as exc:
                term.show(f"! {exc}", "error")
                continue
            if reply is None:
                return
            term.show(reply)
            continue
        try:
            await session.send(state, line)
            collected = await session.collect()
        except Exception as exc:
            term.show(f"! {type(exc).__name__}: {exc}", "error")
            continue
        if collected is None:
            continue
        replies, errors = collected
        for text in replies:
            term.show(f"{session.name}> {text}", "reply")
        for failure in errors:
            term.show(f"! handler error: {failure}", "error")
        if not replies:
            term.show("(no reply)")


async def _send(emulator: Emulator, state: ConsoleState, line: str) -> None:
    from framework.testing.chat import C2CChat, ChannelChat, DirectChat, GroupChat

    if line.startswith(":click"):
        data = line[len(":click") :].strip()
        if not data:
            raise ValueError(":click needs the button DATA")
        if state.scene == "group":
            await GroupChat(emulator, state.target).user(state.user).click(data)
        elif state.scene == "c2c":
            await C2CChat(emulator, state.target).click(data)
        elif state.scene == "channel":
            await ChannelChat(emulator, state.target).user(state.user).click(data)
        else:
            raise ValueError("buttons are not available in guild DMs")
        return
    if state.scene == "group":
        user = GroupChat(emulator, state.target).user(state.user)
        await (user.at(line) if state.mention else user.say(line))
    elif state.scene == "c2c":
        await C2CChat(emulator, state.target).say(line)
    elif state.scene == "channel":
        cuser = ChannelChat(emulator, state.target).user(state.user)
        await (cuser.at(line) if state.mention else cuser.say(line))
    else:
        await DirectChat(emulator, state.target).say(line)
