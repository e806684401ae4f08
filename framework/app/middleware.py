"""Async middleware around dispatch: ``async def mw(ctx, call_next)``.

Middleware runs, in registration order, around the handlers of every event that has handlers. Not
calling ``call_next()`` drops the event (an anti-spam filter does this); code after it runs once
the handlers finished. The chain is composed once, when the bot starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.app.context import Context

__all__ = ["CallNext", "Endpoint", "Middleware", "compose"]

CallNext = Callable[[], Awaitable[None]]
Middleware = Callable[["Context", CallNext], Awaitable[None]]
Endpoint = Callable[["Context"], Awaitable[None]]


def compose(middleware: Sequence[Middleware], endpoint: Endpoint) -> Endpoint:
    """Wrap ``endpoint`` so that ``middleware[0]`` runs outermost."""
    call = endpoint
    for mw in reversed(middleware):
        call = _layer(mw, call)
    return call


def _layer(mw: Middleware, inner: Endpoint) -> Endpoint:
    async def run(ctx: Context) -> None:
        async def call_next() -> None:
            await inner(ctx)

        await mw(ctx, call_next)

    return run
