"""Event fields in JSON log lines: every record logged while an event is handled names that event.

:class:`EventLogFields` is a plugin: once the transport runs, it observes the bot's delivery path and sets
:data:`framework.logs.log_fields` to ``event_id``, ``event_type`` and ``shard_id`` for the duration of each
event's handlers (a context variable: concurrent events each see their own). ``qqbot run --log-format json``
and ``qqbot worker --log-format json`` register it (a worker through ``qqbot_bus_started``);
:class:`~framework.observability.tracing.TracingPlugin` sets the same fields plus ``trace_id`` and ``span_id``
itself, so the two are not needed together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.logs import log_fields
from framework.plugins import hookimpl

if TYPE_CHECKING:
    from framework.app import Bot
    from framework.models import InboundEvent

__all__ = ["EventLogFields", "event_fields"]


def event_fields(event: InboundEvent) -> dict[str, Any]:
    """The log fields naming ``event``: its envelope id, type and shard (absent values left out)."""
    fields: dict[str, Any] = {"event_type": event.type}
    if event.id:
        fields["event_id"] = event.id
    if event.shard_id is not None:
        fields["shard_id"] = event.shard_id
    return fields


class EventLogFields:
    """Plugin: JSON log lines written while an event is handled carry its id, type and shard."""

    def __init__(self) -> None:
        self._attached: object | None = None

    @hookimpl
    def qqbot_gateway_started(self, bot: Bot) -> None:
        self._attach(bot)

    @hookimpl
    def qqbot_webhook_started(self, bot: Bot) -> None:
        self._attach(bot)

    @hookimpl
    def qqbot_bus_started(self, bot: Bot) -> None:
        self._attach(bot)  # a worker's delivery path (a gateway has none: it runs no handler)

    def _attach(self, bot: Bot) -> None:
        delivery = bot.delivery
        if delivery is not None and self._attached is not delivery:
            delivery.add_observer(self)
            self._attached = delivery

    # -- DeliveryObserver (runs in the worker task that awaits the handlers) ----------------------

    def started(self, event: InboundEvent) -> None:
        if log_fields.get() is None:  # the tracing plugin's observer may have set them, with the trace ids
            log_fields.set(event)  # the formatter reads id, type and shard when a record is written

    def finished(self, event: InboundEvent) -> None:
        log_fields.set(None)
