"""Waiting for the next message: :meth:`Context.prompt <framework.app.context.Context.prompt>` and
:meth:`Bot.wait_for <framework.app.bot.Bot.wait_for>` (docs/conversations.md).

The delivery path runs one chat's events one at a time (a lane per group, C2C user, channel). A handler
that waits for the next message *of its own chat* holds that lane, so the answer would queue behind the
very handler waiting for it. Waited-for events are therefore taken *before* the lanes:
:meth:`Bot.classify_event <framework.app.bot.Bot.classify_event>`, which the delivery path calls for
every event before it looks at lanes, asks :meth:`Waiters.claim`; a matching event gets no lane and a
:class:`Claimed` marker instead of its decoded model. :meth:`Bot.process <framework.app.bot.Bot.process>`
(the sink, reached only if the event was not a duplicate) hands it to the waiter with
:meth:`Waiters.deliver` and runs no handler: an answer never triggers commands or catch-all handlers.
If the waiter has gone in between (timed out), the event's handlers run as usual.

Only events that arrive after the waiter was registered answer it: :meth:`Context.prompt` registers
before it sends the question, and a message that was already queued behind the asking handler is
handled normally once that handler returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from framework.app.context import Context
from framework.app.errors import BotError, WaitTimeoutError
from framework.delivery import waiting
from framework.models import EVENT_TABLE, InboundEvent
from framework.models.envelope import event_decoder

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["MESSAGE_EVENTS", "Claimed", "WaitTimeoutError", "Waiter", "Waiters"]

log = logging.getLogger("framework.app.conversations")

#: User-message event types (the event table's message models): what a prompt's answer can be.
MESSAGE_EVENTS = frozenset(spec.type for spec in EVENT_TABLE.values() if spec.dedupe_by_message_id)

#: Guild channel messages reach a bot with GUILD_MESSAGES twice, as these two types with one message id.
TWINNED_EVENTS = frozenset({"AT_MESSAGE_CREATE", "MESSAGE_CREATE"})

Check = Callable[[Context], bool]


class Waiter:
    """One pending ``wait_for``/``prompt``: the event types it accepts, its check and, once answered, the answer."""

    __slots__ = ("answer", "check", "done", "types")

    def __init__(self, types: frozenset[str], check: Check | None) -> None:
        self.types = types
        self.check = check
        self.done = anyio.Event()
        self.answer: Context | None = None

    def __repr__(self) -> str:
        return f"Waiter(types={sorted(self.types)}, answered={self.answer is not None})"


class Claimed:
    """What the classifier hands the sink for a claimed event: the waiter, the decoded model, and whether the
    event is only the twin of an answer (a guild message arrives as AT_MESSAGE_CREATE and MESSAGE_CREATE)."""

    __slots__ = ("decoded", "twin", "waiter")

    def __init__(self, waiter: Waiter | None, decoded: Any, *, twin: bool = False) -> None:
        self.waiter = waiter
        self.decoded = decoded
        self.twin = twin


class Waiters:
    """The bot's pending waiters, matched against incoming events by the classifier."""

    def __init__(self, bot: Bot, *, remember: int = 256) -> None:
        self._bot = bot
        self._pending: list[Waiter] = []
        self._types: dict[str, int] = {}  # event type -> pending waiters accepting it
        self._answered: dict[str, None] = {}  # guild message ids that answered a waiter (their twin may follow)
        self._remember = remember
        self._changed = anyio.Event()
        self.registered = 0
        """Waiters registered so far (the test client's ``chat.prompted()`` counts them)."""
        self.active = False
        """Whether the classifier must look: waiters are pending or an answer's twin may still come."""

    def __len__(self) -> int:
        return len(self._pending)

    def wants(self, event_type: str) -> bool:
        """Whether a pending waiter accepts ``event_type`` (the classifier decodes such events even when no
        handler listens to them)."""
        return event_type in self._types

    async def changed(self) -> None:
        """Return at the next registration or removal of a waiter."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def add(self, waiter: Waiter) -> None:
        self._pending.append(waiter)
        self.registered += 1
        for t in waiter.types:
            self._types[t] = self._types.get(t, 0) + 1
        self.active = True
        self._notify()

    def remove(self, waiter: Waiter) -> None:
        if waiter not in self._pending:
            return
        self._pending.remove(waiter)
        for t in waiter.types:
            left = self._types[t] - 1
            if left:
                self._types[t] = left
            else:
                del self._types[t]
        self.active = bool(self._pending or self._answered)
        self._notify()

    def claim(self, event: InboundEvent, decoded: Any) -> Claimed | None:
        """The classifier's question: does a pending waiter take ``event``? (No checkpoint, no I/O.)"""
        if event.type in TWINNED_EVENTS and self._answered:
            message_id = getattr(decoded, "id", None)
            if message_id and message_id in self._answered:
                return Claimed(None, decoded, twin=True)
        if event.type not in self._types:
            return None
        ctx: Context | None = None
        for waiter in self._pending:
            if event.type not in waiter.types or waiter.answer is not None:
                continue
            if ctx is None:
                ctx = Context(self._bot, event, decoded)
            check = waiter.check
            try:
                if check is not None and not check(ctx):
                    continue
            except Exception:
                log.exception("the check of %r failed on a %s event; treated as no match", waiter, event.type)
                continue
            return Claimed(waiter, decoded)
        return None

    def claim_undecoded(self, event: InboundEvent) -> Claimed | None:
        """:meth:`claim` for an event type no handler listens to (decoded here only when a waiter wants it)."""
        if event.type not in self._types:
            return None
        try:
            decoded = event_decoder(event.type)(event.data)
        except Exception:
            return None
        return self.claim(event, decoded)

    async def deliver(self, event: InboundEvent, claimed: Claimed, run_handlers: Callable[[], Any]) -> None:
        """The sink's part: give the event to its waiter (no handler runs), or run the handlers when the waiter
        has gone since the event was classified."""
        waiter = claimed.waiter
        if claimed.twin:
            return
        if waiter is not None and waiter.answer is None and waiter in self._pending:
            waiter.answer = Context(self._bot, event, claimed.decoded)
            message_id = getattr(claimed.decoded, "id", None)
            if event.type in TWINNED_EVENTS and message_id:
                self._answered[message_id] = None
                if len(self._answered) > self._remember:
                    del self._answered[next(iter(self._answered))]
                self.active = True
            self.remove(waiter)
            waiter.done.set()
            return
        await run_handlers()

    def register(self, types: Iterable[str], check: Check | None) -> Waiter:
        """Register a waiter now (before sending a question), to be awaited with :meth:`wait_registered`."""
        waiter = Waiter(frozenset(types), check)
        self.add(waiter)
        return waiter

    async def wait_registered(self, waiter: Waiter, seconds: float | None, what: str) -> Context:
        """Wait for ``waiter``'s answer; :class:`WaitTimeoutError` naming ``what`` after ``seconds``."""
        try:
            # while waiting the handler holds no lane (its chat goes on: other members, other commands) and
            # its handler deadline is paused (framework.delivery.waiting)
            with waiting(), anyio.move_on_after(seconds):
                await waiter.done.wait()
        finally:
            self.remove(waiter)
        if waiter.answer is None:
            raise WaitTimeoutError(f"no answer: {what} within {seconds:g} s; ask again, or give a longer timeout=")
        return waiter.answer


def check_timeout(bot: Bot, timeout: float | None, call: str) -> None:
    """Refuse a timeout that is not a positive number of seconds (``None``: wait as long as it takes). The
    handler deadline does not count the wait (see :func:`framework.delivery.waiting`)."""
    if timeout is not None and timeout <= 0:
        raise BotError(f"{call}: timeout must be a positive number of seconds, got {timeout}")
