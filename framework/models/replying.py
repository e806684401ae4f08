"""``await event.reply(...)``: answer an event from inside the handler that received it.

The models stay plain data: the app layer binds, for the duration of a handler call, the event
object to the function that replies to it (``Context.reply``), in a per-task cell that a context
variable holds (tasks the handler starts share it while the handler runs). Outside a handler (also
in such a task after the handler returned), or for another event than the one being handled,
``reply`` raises a clear error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.models.results import ReplyResult  # results imports the event models, which import this

__all__ = ["REPLY_BINDING", "ReplyFunc", "Replyable", "bind_reply", "unbind_reply"]

#: What the app layer binds: ``async def reply(content=None, **options)``.
ReplyFunc = Callable[..., Awaitable["ReplyResult"]]

#: A binding: ``(event, func, *args)``; ``event.reply(content, **options)`` calls ``func(*args, content, **options)``.
Binding = tuple[Any, ...]

_cell: ContextVar[list[Binding | None] | None] = ContextVar("qqbot_event_reply", default=None)

REPLY_BINDING = _cell
"""Where the binding lives: a one-item list (a *cell*) per task, holding the binding of the event the task is
handling, or None between events. The dispatcher's per-event path fills and empties the task's cell (two list
stores instead of a context-variable set and reset per event, which cost ≈5 % of a no-op event's CPU); a task
with no cell yet, or whose cell is in use (a nested ``bot.process``, or a task started by a handler that shares
its cell), gets a cell of its own for the call. Elsewhere use :func:`bind_reply`."""


class Replyable:
    """Mixin of the event models that can be answered (messages, interactions, passive-reply events)."""

    __slots__ = ()

    async def reply(self, content: str | None = None, /, **options: Any) -> ReplyResult:
        """Reply in the event's scene, exactly like ``ctx.reply(content, **options)``.

        Works inside the handler (or middleware) that received this event; the reply picks the
        endpoint and fills ``msg_id``/``event_id`` and ``msg_seq``.
        """
        cell = _cell.get()
        current = cell[0] if cell is not None else None
        if current is None or current[0] is not self:
            raise RuntimeError(
                f"{type(self).__name__}.reply() works only while a handler is processing this event; "
                "elsewhere, keep the Context (ctx.reply) or send with the API client"
            )
        func: ReplyFunc = current[1]
        return await func(*current[2:], content, **options)


def bind_reply(event: object, reply: ReplyFunc) -> Token[list[Binding | None] | None]:
    """Make ``event.reply`` call ``reply`` until :func:`unbind_reply` (used by the dispatcher)."""
    return _cell.set([(event, reply)])


def unbind_reply(token: Token[list[Binding | None] | None]) -> None:
    """Undo :func:`bind_reply`: empty the cell it made (tasks started meanwhile share it: they reply no more, as
    on the dispatcher's per-event path) and restore the one before."""
    cell = _cell.get()
    if cell is not None:
        cell[0] = None
    _cell.reset(token)
