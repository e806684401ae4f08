"""The interactive console of ``qqbot run`` on the embedded emulator: type as a user, see the bot's replies.

Lines starting with ``:`` are console commands (``:help`` lists them); anything else is sent to the bot
in the current scene as the current user. The console is built on the emulator test client, so what
you see here is what a test sees.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import anyio

from framework.app import Bot

if TYPE_CHECKING:
    from framework.testing import Chat

__all__ = ["ConsoleState", "run_console"]

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


async def run_console(bot: Bot, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run ``bot`` on a fresh embedded emulator (over loopback) and chat with it until EOF or ``:quit``."""
    from framework.testing import connect

    inp = stdin or sys.stdin
    out = stdout or sys.stdout

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    state = ConsoleState()
    async with connect(bot, transport="loopback", timeout=30.0, check_errors=False) as chat:
        url = chat.emulator.url
        say(f"qqbot console: bot {bot.name!r} is running on the embedded emulator ({url})")
        say("type a message, or :help for console commands")
        while True:
            out.write(state.prompt())
            out.flush()
            line = await anyio.to_thread.run_sync(inp.readline, abandon_on_cancel=True)
            if not line:
                say("")
                return 0
            line = line.strip()
            if not line:
                continue
            if line.startswith(":") and not line.startswith(":click"):
                try:
                    reply = apply_command(state, line)
                except ValueError as exc:
                    say(f"! {exc}")
                    continue
                if reply is None:
                    return 0
                say(reply)
                continue
            try:
                await _send(chat, state, line)
                replies = await chat.replies()
            except Exception as exc:
                say(f"! {type(exc).__name__}: {exc}")
                continue
            for text in replies:
                say(f"{bot.name}> {text}")
            for failure in await chat.errors():
                say(f"! handler error: {failure}")
            if not replies:
                say("(no reply)")


async def _send(chat: Chat, state: ConsoleState, line: str) -> None:
    if line.startswith(":click"):
        data = line[len(":click") :].strip()
        if not data:
            raise ValueError(":click needs the button DATA")
        if state.scene == "group":
            await chat.group(state.target).user(state.user).click(data)
        elif state.scene == "c2c":
            await chat.c2c(state.target).click(data)
        elif state.scene == "channel":
            await chat.channel(state.target).user(state.user).click(data)
        else:
            raise ValueError("buttons are not available in guild DMs")
        return
    if state.scene == "group":
        user = chat.group(state.target).user(state.user)
        await (user.at(line) if state.mention else user.say(line))
    elif state.scene == "c2c":
        await chat.c2c(state.target).say(line)
    elif state.scene == "channel":
        cuser = chat.channel(state.target).user(state.user)
        await (cuser.at(line) if state.mention else cuser.say(line))
    else:
        await chat.dm(state.target).say(line)
