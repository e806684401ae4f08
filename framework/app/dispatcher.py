"""The per-event path: a dict lookup by type, one decode, the middleware chain, then the handlers.

Built once when the bot starts. An event type with no handler costs one dict miss and is never
decoded. A failing handler is reported (``on_error`` and the plugins' error hook) and the remaining
handlers still run; nothing propagates into the transport that called :meth:`Dispatcher.dispatch`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from framework.app.context import Context
from framework.app.middleware import Middleware, compose
from framework.models import InboundEvent

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["Dispatcher", "Route", "Runnable"]

log = logging.getLogger("framework.app.dispatch")


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


ErrorReporter = Callable[[BaseException, Context | None, str | None], Awaitable[None]]


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
        # Without middleware the chain is just the handlers: call them directly (no closure, no state entry).
        self._chain = compose(middleware, self._run_handlers) if middleware else None

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._routes)

    async def dispatch(self, event: InboundEvent) -> None:
        """Run every handler registered for ``event.type``; never raises for handler failures."""
        route = self._routes.get(event.type) or self._catch_all
        if route is None:
            return
        ctx: Context | None = None
        try:
            decoded = event.decode()
            ctx = Context(self._bot, event, decoded)  # reply target and text computed on first use
            if self._chain is None:
                await self._run_route(route, ctx)
            else:
                ctx.state["route"] = route
                await self._chain(ctx)
        except Exception as exc:
            await self._report(exc, ctx, None)
        finally:
            if ctx is not None and event.type == "INTERACTION_CREATE" and self._bot.api_or_none is not None:
                try:
                    await ctx.ack(0)
                except Exception as exc:
                    await self._report(exc, ctx, "interaction acknowledgement")

    async def _run_handlers(self, ctx: Context) -> None:
        await self._run_route(ctx.state["route"], ctx)

    async def _run_route(self, route: Route, ctx: Context) -> None:
        bot = self._bot
        for handler in route.handlers:
            try:
                await handler.run(bot, ctx)
            except Exception as exc:
                await self._report(exc, ctx, handler.name)
