"""The test client: run a :class:`~framework.app.Bot` against the emulator and talk to it as users do.

::

    async with connect(bot) as chat:
        await chat.group("g1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]

:func:`connect` starts an emulator (or uses the one given), runs the bot with
:class:`~framework.runner.BotRunner` over the real gateway protocol — in process (httpx transport and
an in-memory WebSocket) or over loopback sockets — and yields a :class:`Chat`. The emulator keeps
every platform rule on (token checks, passive-reply windows, ``msg_seq`` dedupe, reply caps), so a bot
that breaks them fails here as it would in production: the failed call raises in the handler, the bot
reports it (its ``on_error`` functions run), and the test sees it in :meth:`Chat.errors`. Errors the
test never looked at fail the ``async with`` block on exit (``check_errors=False`` turns that off).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from framework.app import Bot, Context
from framework.clock import Clock
from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.control import Control
from framework.emulator.world import EmittedEvent, SentMessage, World
from framework.errors import QQBotError
from framework.models import EVENT_TABLE, Intents
from framework.plugins import hookimpl
from framework.runner import BotRunner, EventTracker, sole_exception
from framework.runtime.credentials import Credentials
from framework.runtime.gateway import websocket
from framework.testing.chat import C2CChat, ChannelChat, DirectChat, GroupChat
from framework.testing.clocks import ManualClock
from framework.testing.edge import emulator_credentials, emulator_platform

__all__ = [
    "BotErrorsNotChecked",
    "Chat",
    "HandlerFailure",
    "PendingEventsError",
    "Transport",
    "connect",
    "inprocess_runner",
]

log = logging.getLogger("framework.testing")

Transport = Literal["inprocess", "loopback"]


@dataclass(frozen=True, slots=True)
class HandlerFailure:
    """An exception the bot reported while handling an event (a handler, a command, middleware, an ack)."""

    error: BaseException
    event_type: str | None
    """The event being handled (None if it could not be decoded)."""
    event_id: str | None
    handler: str | None
    """The failing handler's name, when known."""

    def __str__(self) -> str:
        where = f"{self.handler} on " if self.handler else ""
        return f"{where}{self.event_type or 'an undecodable event'}: {type(self.error).__name__}: {self.error}"


class PendingEventsError(QQBotError, TimeoutError):
    """The bot did not finish handling some events in time (the message names them)."""


class BotErrorsNotChecked(QQBotError, AssertionError):
    """The bot reported errors that the test never read with :meth:`Chat.errors`."""


class _FailureRecorder:
    """A plugin that records the bot's handler failures (added for the duration of ``connect``)."""

    def __init__(self) -> None:
        self.failures: list[HandlerFailure] = []

    @hookimpl
    def qqbot_handler_error(self, error: BaseException, ctx: Context | None, handler: str | None) -> None:
        self.failures.append(HandlerFailure(error, ctx.type if ctx else None, ctx.inbound.id if ctx else None, handler))


class Chat:
    """A connected bot and the emulated platform around it (yielded by :func:`connect`).

    Speak with :meth:`group`, :meth:`c2c`, :meth:`channel` and :meth:`dm`; read what the bot did with
    :meth:`replies`, :meth:`sent` and :meth:`errors`, which first wait (up to ``timeout`` seconds)
    until every event emitted so far that reaches the bot has been fully handled.
    """

    def __init__(self, bot: Bot, emulator: Emulator, runner: BotRunner, intents: Intents, timeout: float) -> None:
        self.bot = bot
        self.emulator = emulator
        self.runner = runner
        self.timeout = timeout
        self._asked = intents
        self._tracker: EventTracker = runner.tracker
        self._recorder = _FailureRecorder()
        self._emitted: list[EmittedEvent] = []
        start = len(emulator.world.sent_by_id)
        self._replies_cursor = start
        self._sent_cursor = start
        self._errors_cursor = 0
        self._prompts_cursor = bot.waiters.registered

    @property
    def intents(self) -> Intents:
        """The intents the bot identified with (events outside them never reach it): what it asked for,
        less the optional intents the platform refused."""
        manager = self.runner.manager
        dropped = manager.dropped_intents if manager is not None else 0
        return Intents(int(self._asked) & ~dropped)

    # -- the platform ---------------------------------------------------------------------------

    @property
    def world(self) -> World:
        """The emulator's world (seed guilds, channels, members, groups explicitly here)."""
        return self.emulator.world

    @property
    def control(self) -> Control:
        """The emulator's control API (other user actions, faults, the API-call log)."""
        return self.emulator.control

    # -- speaking -------------------------------------------------------------------------------

    def group(self, group_openid: str) -> GroupChat:
        """The group ``group_openid`` (created with the bot in it if new)."""
        return GroupChat(self.emulator, group_openid)

    def c2c(self, openid: str) -> C2CChat:
        """The one-to-one chat with user ``openid``."""
        return C2CChat(self.emulator, openid)

    def channel(self, channel_id: str, *, guild_id: str | None = None) -> ChannelChat:
        """The guild channel ``channel_id`` (created in ``guild_id``, default the first guild, if new)."""
        return ChannelChat(self.emulator, channel_id, guild_id)

    def dm(self, user_id: str, *, guild_id: str | None = None, username: str | None = None) -> DirectChat:
        """A guild DM from ``user_id`` (a member of ``guild_id``, default the first guild)."""
        return DirectChat(self.emulator, user_id, guild_id, username)

    # -- reading --------------------------------------------------------------------------------

    def delivered(self, event: EmittedEvent) -> bool:
        """Whether the gateway sends ``event`` to this bot: its intent is one the bot identified with."""
        spec = EVENT_TABLE.get(event.type)
        need = int(spec.intent) if spec is not None else 0
        return need == 0 or bool(int(self.intents) & need)

    def pending(self) -> list[EmittedEvent]:
        """Events emitted since :func:`connect` that reach the bot and are not fully handled yet."""
        self._emitted = [e for e in self._emitted if self._tracker.state(e.id) != "handled" and self.delivered(e)]
        return list(self._emitted)

    async def settle(self) -> None:
        """Wait until the bot has fully handled every event emitted so far (including events its own
        handlers caused); raise :class:`PendingEventsError` naming the rest after ``timeout`` seconds."""
        with anyio.move_on_after(self.timeout):
            while self.pending():
                await self._tracker.changed()
            return
        pending = self.pending()
        if not pending:
            return
        described = "; ".join(f"{e.type} {e.id} ({self._describe_state(e)})" for e in pending)
        raise PendingEventsError(
            f"the bot did not finish handling {len(pending)} event(s) within {self.timeout:g} s: {described}"
        )

    def _describe_state(self, event: EmittedEvent) -> str:
        if self._tracker.state(event.id) == "running":
            return "its handlers are still running"
        return "not received by the bot yet"

    async def replies(self) -> list[str]:
        """The texts the bot sent (any scene, in order) since the last call, once it is idle.

        Messages without text (markdown, ark, media) appear as ``""``; :meth:`sent` has the full records.
        """
        await self.settle()
        new = list(self.world.sent_by_id.values())[self._replies_cursor :]
        self._replies_cursor += len(new)
        return [m.content or "" for m in new]

    async def sent(self) -> list[SentMessage]:
        """The messages the bot sent since the last call, once it is idle: ``scene`` (guild, dm, group,
        c2c), ``target_id``, the request ``body`` (``msg_id``, ``msg_seq``, …) and the platform's ``result``."""
        await self.settle()
        new = list(self.world.sent_by_id.values())[self._sent_cursor :]
        self._sent_cursor += len(new)
        return new

    async def errors(self) -> list[HandlerFailure]:
        """The failures the bot reported since the last call, once it is idle (marks them as checked)."""
        await self.settle()
        new = self._recorder.failures[self._errors_cursor :]
        self._errors_cursor += len(new)
        return new

    async def prompted(self) -> None:
        """Wait until the bot waits for a message (``ctx.prompt``, ``bot.wait_for``) once more than at the
        previous call (or at :func:`connect`): send the answer after this, not before the question was asked.
        Raises :class:`PendingEventsError` after ``timeout`` seconds."""
        waiters = self.bot.waiters
        with anyio.move_on_after(self.timeout):
            while waiters.registered <= self._prompts_cursor:
                await waiters.changed()
            self._prompts_cursor += 1
            return
        raise PendingEventsError(
            f"the bot did not wait for a message (ctx.prompt / bot.wait_for) within {self.timeout:g} s; "
            f"pending events: {', '.join(e.type for e in self.pending()) or 'none'}"
        )

    async def advance(self, seconds: float) -> None:
        """Move the bot's :class:`~framework.testing.clocks.ManualClock` (``Bot(clock=ManualClock())``) forward by
        ``seconds``, stopping at each deadline on the way until the scheduled jobs due then have finished (their
        messages are then in :meth:`sent`). Raises :class:`PendingEventsError` if jobs are still running after
        ``timeout`` seconds."""
        clock = self.bot.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(
                f"chat.advance() moves a ManualClock; the bot's clock is {clock!r}: build the bot with "
                "Bot(clock=ManualClock()) (from framework.testing)"
            )
        await self._jobs_idle(clock.time())  # the jobs have gone to sleep since connect
        target = clock.time() + seconds
        while (deadline := clock.next_deadline()) is not None and deadline <= target:
            clock.set(deadline)
            await self._jobs_idle(deadline)
        clock.set(target)
        await self._jobs_idle(target)

    async def _jobs_idle(self, now: float) -> None:
        scheduler = self.bot.scheduler
        with anyio.move_on_after(self.timeout):
            while not scheduler.idle(now):
                await scheduler.changed()
            return
        raise PendingEventsError(f"the bot's scheduled jobs were still running after {self.timeout:g} s")

    def unchecked_errors(self) -> list[HandlerFailure]:
        """Failures not returned by :meth:`errors` yet."""
        return self._recorder.failures[self._errors_cursor :]

    def _on_emitted(self, event: EmittedEvent) -> None:
        self._emitted.append(event)

    def __repr__(self) -> str:
        return f"Chat(bot={self.bot.name!r}, pending={len(self._emitted)}, emulator={self.emulator!r})"


def grant_needed(bot: Bot, emulator: Emulator, app_id: str) -> None:
    """Let ``app_id`` use every intent ``bot`` asks for, unless ``emulator``'s config lists the app in
    ``allowed_intents`` (a test that sets a mask keeps it). The local sandbox plays an approved bot."""
    if app_id not in emulator.config.allowed_intents:
        emulator.config.grant(app_id, int(bot.intents))


def inprocess_runner(bot: Bot, emulator: Emulator, *, app_id: str | None = None, **options: Any) -> BotRunner:
    """A :class:`BotRunner` for ``bot`` wired to ``emulator``'s in-process transports (no sockets).

    ``app_id`` picks one of the emulator's apps (default: the first); ``options`` go to ``BotRunner``.
    The emulator must be running (``async with emulator:``) when the runner starts. The app is granted
    the intents the bot asks for (see :func:`grant_needed`).
    """
    credentials = emulator_credentials(emulator, app_id)
    grant_needed(bot, emulator, credentials.app_id)
    return BotRunner(
        bot,
        credentials=credentials,
        platform=emulator_platform(emulator, "inprocess"),
        connector=emulator.connect_websocket,
        **options,
    )


@asynccontextmanager
async def connect(
    bot: Bot,
    *,
    emulator: Emulator | None = None,
    transport: Transport = "inprocess",
    config: EmulatorConfig | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait bound for the Chat, not for this call
    check_errors: bool = True,
    app_id: str | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Chat]:
    """Run ``bot`` against an emulator and yield a :class:`Chat`; stop the bot cleanly on exit.

    ``emulator``: use this one (seeded, configured, possibly already serving) instead of a fresh
    ``Emulator(config)``. ``transport``: ``"inprocess"`` (no sockets; milliseconds) or ``"loopback"``
    (the emulator served on ``127.0.0.1:0``, the real WebSocket transport and HTTP). ``timeout``:
    seconds to become READY and for each wait of :meth:`Chat.settle`. ``check_errors``: on exit, raise
    :class:`BotErrorsNotChecked` if the bot reported failures the test never read with :meth:`Chat.errors`.
    ``app_id``: which of the emulator's apps the bot logs in as (default: the first). ``clock``: the
    bot's clock (token refresh, heartbeats, reconnect backoff), shared with the fresh emulator; e.g. a
    ``ScaledClock`` makes reconnects fast (the ``timeout`` waits stay in real seconds). The app is granted
    the intents the bot asks for unless the emulator's config lists it in ``allowed_intents``
    (:func:`grant_needed`): a plain ``Emulator()`` grants only what a new bot has.
    """
    if emulator is not None and config is not None:
        raise ValueError("pass either emulator= or config=, not both")
    emu = emulator if emulator is not None else Emulator(config, clock=clock)
    credentials = emulator_credentials(emu, app_id)
    grant_needed(bot, emu, credentials.app_id)
    intents = bot.intents
    chat: Chat | None = None
    body_error: BaseException | None = None
    try:
        async with _started(bot, emu, transport, credentials, intents, clock, timeout=timeout) as chat:
            try:
                yield chat
            except BaseException as exc:
                body_error = exc
                raise
    except BaseExceptionGroup as group:  # task groups wrap whatever crosses them; show the real error
        single = sole_exception(group)
        if single is None:
            raise
        if single is body_error:
            raise body_error from None  # the block's own exception, as it was raised
        raise single from None
    if check_errors and chat.unchecked_errors():
        failures = chat.unchecked_errors()
        listing = "\n".join(f"  - {f}" for f in failures)
        raise BotErrorsNotChecked(
            f"the bot reported {len(failures)} error(s) the test did not check with chat.errors():\n{listing}"
        ) from failures[0].error


@asynccontextmanager
async def _started(
    bot: Bot,
    emu: Emulator,
    transport: Transport,
    credentials: Credentials,
    intents: Intents,
    clock: Clock | None,
    *,
    timeout: float,  # noqa: ASYNC109
) -> AsyncIterator[Chat]:
    """Start the platform and the bot; yield a ready :class:`Chat` (the body of :func:`connect`)."""
    async with AsyncExitStack() as stack:
        if transport == "inprocess":
            if not emu.running:
                await stack.enter_async_context(emu)
            runner = inprocess_runner(bot, emu, app_id=credentials.app_id, clock=clock)
        elif transport == "loopback":
            if emu.url is None:
                await stack.enter_async_context(emu.serve("127.0.0.1", 0))
            runner = BotRunner(
                bot,
                credentials=credentials,
                platform=emulator_platform(emu, "loopback"),  # no proxy from the environment
                connector=websocket.connect,
                clock=clock,
            )
        else:
            raise ValueError(f"transport must be 'inprocess' or 'loopback', not {transport!r}")
        chat = Chat(bot, emu, runner, intents, timeout)
        recorder = chat._recorder
        bot.plugins.add(recorder)
        stack.callback(bot.plugins.pm.unregister, recorder)
        await stack.enter_async_context(runner)
        try:
            with anyio.fail_after(timeout):
                await runner.wait_ready()
                await runner.tracker.wait_idle()  # READY handled: the bot knows its own id (for @mentions)
        except TimeoutError:
            shards = "; ".join(
                f"shard {s.shard_id}: {s.state}, last close {s.last_close_code} {s.last_reason or ''}".rstrip()
                for s in runner.status().shards
            )
            raise TimeoutError(f"the bot's gateway sessions were not READY within {timeout:g} s ({shards})") from None
        emu.world.add_listener(chat._on_emitted)
        stack.callback(emu.world.remove_listener, chat._on_emitted)
        yield chat
