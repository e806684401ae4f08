"""The per-event path: a dict lookup by type, one decode, the middleware chain, then the handlers.

Built once when the bot starts. An event type with no handler costs one dict miss and is never
decoded. A failing handler is reported (``on_error`` and the plugins' error hook) and the remaining
handlers still run; nothing propagates into the transport that called :meth:`Dispatcher.dispatch`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from framework.app.context import Context
from framework.app.conversations import Claimed
from framework.app.handlers import Handler
from framework.app.injection import direct_argument
from framework.app.middleware import Middleware, compose
from framework.models import EVENT_TABLE, InboundEvent
from framework.models.envelope import event_decoder
from framework.models.replying import REPLY_BINDING, Replyable, bind_reply, unbind_reply

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["Dispatcher", "Route", "Runnable"]

log = logging.getLogger("framework.app.dispatch")

# read once per event on the direct path: module globals, not attribute lookups
_info_enabled = log.isEnabledFor
_INFO = logging.INFO
# ``Logger.isEnabledFor`` is a Python call per event; its answers are cached in the logger's ``_cache`` dict (emptied,
# not replaced, whenever a level changes anywhere), so a dict lookup answers, falling back to the call on a miss.
# ``Logger.info`` checks again, so a stale True (a logger disabled by ``logging.config``) costs a line, never logs one.
_info_cached = getattr(log, "_cache", {}).get
_get_cell = REPLY_BINDING.get
_set_cell = REPLY_BINDING.set
_reset_cell = REPLY_BINDING.reset


class Runnable(Protocol):
    """Anything the dispatcher can run for an event: a handler, the command router, READY bookkeeping."""

    @property
    def name(self) -> str: ...

    async def run(self, bot: Bot, ctx: Context) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """The handlers of one event type, in registration order."""

    event_type: str
    handlers: tuple[Runnable, ...]


#: A handler the dispatcher may call without a Context: ``(function, argument codes, handler)``, the codes
#: from :func:`~framework.app.injection.direct_argument` (0: the decoded event, 1: the InboundEvent, 2: the bot);
#: ``None`` for the commonest signature, the decoded event alone.
_Func = Callable[..., Awaitable[object]]
_Direct = tuple[_Func, tuple[int, ...] | None, Handler]

ErrorReporter = Callable[[BaseException, Context | None, str | None], Awaitable[None]]

UNDECODABLE = "payload decoding"
"""The ``handler`` the error hooks get for an event whose payload could not be decoded (no handler ran);
the dispatcher has already logged it with the event's type, id and shard."""


class Dispatcher:
    """Routes :class:`InboundEvent` objects to handlers."""

    def __init__(
        self,
        bot: Bot,
        routes: Mapping[str, Route],
        middleware: Sequence[Middleware],
        report: ErrorReporter,
        *,
        catch_all: Route | None = None,
    ) -> None:
        self._bot = bot
        self._routes = dict(routes)
        self._catch_all = catch_all
        self._report = report
        self.undecodable: dict[str, int] = {}
        """Events whose payload could not be decoded, per event type (the first of each type is a WARNING)."""
        # Without middleware the chain is just the handlers: call them directly (no closure, no state entry).
        self._chain = compose(middleware, self._run_handlers) if middleware else None
        # Routes whose handlers need no Context at all are run without building one (see _direct_route).
        # event type -> (decoder, replyable, handlers, the one handler's function when it is alone and takes only the
        # decoded event: the commonest route, called without the loop)
        self._direct: dict[str, tuple[Callable[[Any], Any], bool, tuple[_Direct, ...], _Func | None]] = {}
        if not middleware:
            for event_type, route in self._routes.items():
                direct = _direct_route(route)
                if direct is not None:
                    spec = EVENT_TABLE.get(event_type)
                    replyable = event_type != "RESUMED" and spec is not None and issubclass(spec.model, Replyable)
                    single = direct[0][0] if len(direct) == 1 and direct[0][1] is None else None
                    self._direct[event_type] = (event_decoder(event_type), replyable, direct, single)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._routes)

    @property
    def direct_types(self) -> frozenset[str]:
        """Event types whose handlers run without a Context (plain handlers, no middleware: see ``_direct_route``)."""
        return frozenset(self._direct)

    def route(self, event_type: str) -> Route | None:
        """What runs for ``event_type`` (``None``: nothing, the event is not even decoded)."""
        return self._routes.get(event_type) or self._catch_all

    def handler_names(self, event_type: str) -> str:
        """The handlers that run for ``event_type``, comma-separated (for reports)."""
        route = self._routes.get(event_type) or self._catch_all
        return ", ".join(h.name for h in route.handlers) if route is not None else ""

    async def dispatch(self, event: InboundEvent, decoded: Any = None) -> None:
        """Run every handler registered for ``event.type``; never raises for handler failures.

        With INFO enabled on ``framework.app.dispatch``, logs one line per handled event (see :func:`event_line`).
        """
        if type(decoded) is Claimed:  # waited for: to the waiter, not to the handlers (see Bot.classify_event)
            await self._bot.waiters.deliver(event, decoded, lambda: self.dispatch(event, decoded.decoded))
            return
        direct = self._direct.get(event.type)
        if direct is not None:  # plain handlers only: no Context unless one fails (inlined: this runs per event)
            decode, replyable, handlers, single = direct
            try:
                if decoded is None:  # else the delivery path's classifier decoded it
                    decoded = decode(event.data)
            except Exception as exc:
                await self._undecodable(event, exc)
                return
            info = _info_cached(_INFO)
            started = time.perf_counter() if (_info_enabled(_INFO) if info is None else info) else 0.0
            bot = self._bot
            # ``await message.reply(...)`` in a handler (a Context is made only when it replies): the binding, a plain
            # tuple read by ``Replyable.reply``, goes into this task's cell (see REPLY_BINDING): two list stores per
            # event; a task's first event gives it a cell (kept), a cell in use (nested, shared) a cell of its own
            cell = token = None
            if replyable:
                binding = (decoded, _reply, bot, event, decoded)
                cell = _get_cell()
                if cell is None:
                    cell = [binding]
                    _set_cell(cell)
                elif cell[0] is None:
                    cell[0] = binding
                else:
                    cell = None
                    token = _set_cell([binding])
            try:
                if single is not None:
                    try:
                        await single(decoded)
                    except Exception as exc:
                        await self._report(exc, Context(bot, event, decoded), handlers[0][2].name)
                else:
                    for func, codes, handler in handlers:
                        try:
                            if codes is None:
                                await func(decoded)
                            else:
                                await func(*[decoded if c == 0 else event if c == 1 else bot for c in codes])
                        except Exception as exc:
                            await self._report(exc, Context(bot, event, decoded), handler.name)
            finally:
                if cell is not None:
                    cell[0] = None
                elif token is not None:
                    _reset_cell(token)
            if started:
                names = ", ".join(h.name for _, _, h in handlers)
                log.info("%s", event_line(Context(bot, event, decoded), names, time.perf_counter() - started))
            return
        route = self._routes.get(event.type) or self._catch_all
        if route is None:
            return
        ctx: Context | None = None
        token = None
        started = time.perf_counter() if log.isEnabledFor(logging.INFO) else 0.0
        try:
            if decoded is None:
                decoded = event.decode()
            ctx = Context(self._bot, event, decoded)  # reply target and text computed on first use
            if isinstance(decoded, Replyable):  # ``await message.reply(...)`` in middleware and handlers
                token = bind_reply(decoded, ctx.reply)
            if self._chain is None:
                await self._run_route(route, ctx)
            else:
                ctx.state["route"] = route
                await self._chain(ctx)
        except Exception as exc:
            await (self._report(exc, ctx, None) if ctx is not None else self._undecodable(event, exc))
        finally:
            if ctx is not None and event.type in _NEEDS_CONTEXT and self._bot.api_or_none is not None:
                try:
                    await ctx.ack(0)
                except Exception as exc:
                    await self._report(exc, ctx, "interaction acknowledgement")
            if token is not None:
                unbind_reply(token)
            if started and ctx is not None:
                ran = _ran(route, ctx)
                if ran:  # not for framework bookkeeping alone (READY)
                    log.info("%s", event_line(ctx, ran, time.perf_counter() - started))

    async def _undecodable(self, event: InboundEvent, error: Exception) -> None:
        seen = self.undecodable.get(event.type, 0)
        self.undecodable[event.type] = seen + 1
        log.log(
            logging.DEBUG if seen else logging.WARNING,
            "could not decode a %s event (id %s, shard %s, seq %s), its handlers did not run: %s%s",
            event.type,
            event.id,
            event.shard_id,
            event.seq,
            str(error)[:200] or type(error).__name__,
            "" if seen else "; further ones of this type are logged at DEBUG",
        )
        await self._report(error, None, UNDECODABLE)

    async def _run_handlers(self, ctx: Context) -> None:
        await self._run_route(ctx.state["route"], ctx)

    async def _run_route(self, route: Route, ctx: Context) -> None:
        bot = self._bot
        for handler in route.handlers:
            try:
                await handler.run(bot, ctx)
            except Exception as exc:
                await self._report(exc, ctx, handler.name)
            if ctx.consumed:  # a command matched: it answered this message
                return


_PREVIEW = 24


def preview(text: str, limit: int = _PREVIEW) -> str:
    """``text`` on one line, cut to ``limit`` characters (``…`` marks the cut), quoted."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def event_line(ctx: Context, handlers: str, elapsed: float) -> str:
    """``group g1 · alice 'ping' → /ping (3.1 ms)``: scene, place, user, a short preview, handlers, time."""
    target = ctx.target
    parts = [f"{target.scene.value} {target.target}" if target is not None else ctx.type]
    user = ctx.user_id
    if user:
        parts.append(f"· {user}")
    content = getattr(ctx.event, "content", None)
    if isinstance(content, str) and content:
        parts.append(preview(ctx.text or content))
    parts.append(f"→ {handlers or 'no handler'} ({elapsed * 1000:.1f} ms)")
    return " ".join(parts)


def _ran(route: Route, ctx: Context) -> str:
    """The command that matched, else the route's handlers (not the router's or READY's bookkeeping)."""
    if ctx.command:
        return f"/{ctx.command}"
    return ", ".join(h.name for h in route.handlers if type(h) is Handler)


async def _reply(
    bot: Bot, inbound: InboundEvent, decoded: object, content: str | None = None, /, **options: Any
) -> Any:
    """``await message.reply(...)`` on the direct path: ``Context.reply`` (msg_seq comes from the bot's ledger, so
    a Context per reply numbers replies as one Context would)."""
    return await Context(bot, inbound, decoded).reply(content, **options)


#: Events acknowledged through the Context once their handlers ran (the event table's ``acknowledged`` column).
_NEEDS_CONTEXT = frozenset(spec.type for spec in EVENT_TABLE.values() if spec.acknowledged)


def _direct_route(route: Route) -> tuple[_Direct, ...] | None:
    """The route's handlers as direct calls, or None unless every one is a plain :class:`Handler`: no rule,
    no concurrency limit, positional parameters filled from the event, the InboundEvent or the bot only."""
    if route.event_type in _NEEDS_CONTEXT or not route.handlers:
        return None
    direct: list[_Direct] = []
    for handler in route.handlers:
        if type(handler) is not Handler or handler.rule is not None or handler.concurrency is not None:
            return None
        codes: list[int] = []
        for param in handler.params:
            code = direct_argument(param)
            if code is None:
                return None
            codes.append(code)
        direct.append((handler.func, None if codes == [0] else tuple(codes), handler))
    return tuple(direct)
